"""A local stand-in for the WhatConverts API v1, for tests, demos and benchmarks.

:class:`FakeWhatConverts` is an aiohttp.web server on loopback that answers like
the documented REST API: Basic auth with profile and master keys, every lead
filter, pagination envelopes, creates and edits, recordings, accounts, profiles,
users, roles and tracking, the daily request limit, switchable faults
(:class:`Faults`), and switches for what the documentation leaves open
(:class:`Realism`). Its data is generated deterministically from a seed
(:class:`Dataset`) and scales to millions of leads.

Example::

    from whatconverts_async.testing import FakeWhatConverts

    async def test_my_sync_job():
        async with FakeWhatConverts(leads=2_000, seed=7) as fake:
            fake.faults.fail_next(1, 503)
            await my_sync_job(base_url=fake.url, token=fake.token, secret=fake.secret)
            assert fake.request_count == 2

Run it standalone with ``python -m whatconverts_async.testing --port 8080``; with
pytest, use the ``whatconverts_fake`` fixture from the bundled plugin.
"""

from .data import LEAD_TYPES, QUOTABLE_VALUES, Dataset, LeadFilter, format_timestamp, generate
from .faults import FaultAction, Faults, ScanInsertion
from .realism import Realism
from .records import recording_bytes
from .server import ApiKey, FakeWhatConverts, RecordedRequest, SimulatorConfig

__all__ = [
    "LEAD_TYPES",
    "QUOTABLE_VALUES",
    "ApiKey",
    "Dataset",
    "FakeWhatConverts",
    "FaultAction",
    "Faults",
    "LeadFilter",
    "Realism",
    "RecordedRequest",
    "ScanInsertion",
    "SimulatorConfig",
    "format_timestamp",
    "generate",
    "recording_bytes",
]
