"""Upload offline sales from a CSV file to a WhatConverts Endpoint.

An Endpoint (Tracking -> Integrations -> Automations -> Endpoints) takes rows at a secret
URL that WhatConverts generates; rows become (or update) leads, so sales closed offline
show up next to the calls and forms that brought them. Uploads spend no API budget.

Input columns (see ``offline_sales.csv``): ``profile_id``, ``date`` (YYYY-MM-DD),
``email_address``, ``phone_number``, ``sales_value``, ``quotable`` (yes/no/pending/not_set)
and ``plan`` (sent as the additional field "Plan"). Every row is checked before anything
is sent: a bad row stops the upload with its line number.

    export WHATCONVERTS_ENDPOINT_URL=https://...   # a secret: never log it
    python examples/endpoint_upload.py offline_sales.csv

Demo against the simulator's Endpoint::

    python examples/endpoint_upload.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts

SAMPLE = Path(__file__).with_name("offline_sales.csv")
BATCH = 500  # rows per POST: small enough that one failed POST is easy to redo by hand


def read_sales(path: Path, profile_id: int | None = None) -> Iterator[OfflineLead]:
    """The CSV's rows as checked ``OfflineLead`` rows (``profile_id`` overrides the file's)."""
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            fields: dict[str, Any] = {
                "profile_id": profile_id or int(row["profile_id"]),
                "date": date.fromisoformat(row["date"]),
                "email_address": row["email_address"] or None,
                "phone_number": row["phone_number"] or None,
                "sales_value": Decimal(row["sales_value"]) if row["sales_value"] else None,
                "quotable": row["quotable"] or None,
                "additional_fields": {"Plan": row["plan"]} if row["plan"] else {},
            }
            try:
                yield OfflineLead(**fields)
            except (InvalidParameterError, ValueError) as exc:
                raise SystemExit(f"{path}:{line}: {exc}") from None


async def upload(endpoint_url: str, rows: list[OfflineLead]) -> int:
    """Send ``rows`` in batches; returns the number of rows the Endpoint took."""
    sent = 0
    async with EndpointClient(endpoint_url) as endpoint:
        for start in range(0, len(rows), BATCH):
            result = await endpoint.send(rows[start : start + BATCH])
            sent += result.rows
            print(f"sent {result.rows} rows (HTTP {result.status}, {result.attempts} attempt(s))")
    return sent


async def demo() -> None:
    async with FakeWhatConverts(leads=50, seed=4) as fake:
        before = len(fake.data)
        rows = list(read_sales(SAMPLE, profile_id=fake.profile_id))
        assert await upload(fake.endpoint_url(), rows) == len(rows)
        assert len(fake.data) == before + len(rows), "the rows did not become leads"
        # The new leads are visible through the API like any other.
        async with WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc:
            found = [
                lead
                async for lead in wc.leads.iterate(
                    start_date=date(2026, 3, 1), end_date=date(2026, 3, 31)
                )
            ]
        emails = {lead.email_address for lead in found}
        assert {"jane.roe@example.com", "sam.lee@example.com"} <= emails, emails
        print(f"{len(rows)} offline sales uploaded and visible through the API")
    print("demo ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="upload the sample to the simulator")
    parser.add_argument("csv", nargs="?", type=Path, default=SAMPLE)
    args = parser.parse_args()
    if args.demo:
        asyncio.run(demo())
        return
    rows = list(read_sales(args.csv))
    asyncio.run(upload(os.environ["WHATCONVERTS_ENDPOINT_URL"], rows))


if __name__ == "__main__":
    main()
