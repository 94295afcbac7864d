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
        from whatconverts_async import _transport, export
        from whatconverts_async.testing import FakeWhatConverts

        assert _transport._loads is json.loads

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
