"""SDK conventions users of other first-rate SDKs expect: credentials from the environment,
a silent logger unless asked, ``to_json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from whatconverts_async import InvalidParameterError, Lead, WhatConverts
from whatconverts_async.testing import FakeWhatConverts


async def test_no_arguments_reads_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeWhatConverts(leads=20, seed=3) as fake:
        monkeypatch.setenv("WHATCONVERTS_API_TOKEN", fake.token)
        monkeypatch.setenv("WHATCONVERTS_API_SECRET", fake.secret)
        async with WhatConverts(base_url=fake.url) as wc:
            lead_id = next(iter(fake.data.lead_ids()))
            lead = await wc.leads.get(lead_id)
        assert lead.lead_id == lead_id
        assert fake.secret not in repr(wc)


def test_missing_environment_credentials_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHATCONVERTS_API_TOKEN", "token-from-env")
    monkeypatch.delenv("WHATCONVERTS_API_SECRET", raising=False)
    with pytest.raises(InvalidParameterError, match="WHATCONVERTS_API_SECRET") as caught:
        WhatConverts()
    assert caught.value.parameter == "api_secret"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "WHATCONVERTS_LOG"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=True,
    )


WARN = textwrap.dedent(
    """
    import logging
    import whatconverts_async
    logging.getLogger("whatconverts_async").warning("retrying after a 503")
    """
)


def test_the_library_adds_no_output_unless_asked() -> None:
    assert "retrying" not in _run(WARN).stderr


def test_whatconverts_log_turns_on_a_stderr_handler() -> None:
    out = _run(
        WARN + 'logging.getLogger("whatconverts_async").debug("one request")\n',
        WHATCONVERTS_LOG="debug",
    )
    assert "retrying after a 503" in out.stderr and "one request" in out.stderr


def test_to_json_is_the_wire_record() -> None:
    body = {"lead_id": 9, "contact_name": "Zoë", "quote_value": 12.5, "unknown": [1]}
    lead = Lead.from_dict(body)
    assert json.loads(lead.to_json()) == body
    assert "Zoë" in lead.to_json()
