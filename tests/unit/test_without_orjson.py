"""orjson is optional: without it the client and the export use the standard json module."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_scan_and_export_work_with_the_standard_json_module(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["orjson"] = None  # as if it were not installed
        import asyncio, json
        from datetime import date
        from whatconverts_async import WhatConverts
        from whatconverts_async import _json, export
        from whatconverts_async.testing import FakeWhatConverts

        assert _json.decoder_name == "json"

        async def main():
            async with FakeWhatConverts(leads=300, seed=4) as fake:
                async with WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc:
                    ids = [l.lead_id async for l in wc.leads.iterate(start_date=date(2017, 1, 1))]
                    out = {str(tmp_path / "out.jsonl")!r}
                    await export.export_leads(wc, out, start_date=date(2017, 1, 1))
                rows = [json.loads(line) for line in open(out)]
                expected = sorted(fake.data.lead_ids())
                assert sorted(ids) == sorted(r["lead_id"] for r in rows) == expected
                assert all(r == fake.data.lead(r["lead_id"]) for r in rows)
            print("ok", len(ids))

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 300"


def test_decoder_and_field_cases_work_without_orjson() -> None:
    samples = Path(__file__).parent.parent / "samples" / "field-cases"
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["orjson"] = None  # as if it were not installed
        import asyncio, json
        from pathlib import Path
        from aiohttp import web
        from aiohttp.test_utils import TestServer
        from whatconverts_async import WhatConverts, _json
        from whatconverts_async.errors import InvalidJSONError
        from whatconverts_async.webhooks import parse_webhook

        assert _json.decoder_name == "json"
        samples = Path({str(samples)!r})
        case07 = (samples / "case-07.bin").read_bytes()
        assert _json.loads(case07)["leads"][0]["lead_id"] == 1000
        event = parse_webhook((samples / "case-03.json").read_bytes())
        assert str(event.lead.transaction_tax) == "2.56"
        for bad in (b"[NaN]", b"[" * 5000, b'"\\\\ud800"'):
            try:
                _json.loads(bad)
            except InvalidJSONError:
                pass
            else:
                raise AssertionError(bad)

        async def main():
            async def answer(request):
                return web.Response(body=case07, content_type="application/json")

            app = web.Application()
            app.router.add_get("/api/v1/leads/1000", answer)
            async with TestServer(app, host="127.0.0.1") as server:
                url = str(server.make_url("/api/v1/"))
                async with WhatConverts("t", "s", base_url=url) as wc:
                    lead = await wc.leads.get(1000)
            print("ok", lead.lead_id)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 1000"
