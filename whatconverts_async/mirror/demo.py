"""The ``--demo`` simulator's history, kept in the demo database so that runs agree.

Each ``whatconverts mirror ... --demo`` run starts a fresh simulator. For repeated runs
against the same database to see one consistent account, the demo stores in its own table
(``whatconverts_demo_journal``, apart from the mirror's tables):

* the **anchor**: the UTC midnight of the first demo run. Generated leads are always dated
  in the year before it, so they are the same leads with the same content on every run;
* every **edit** a demo refresh made (new leads and field changes), replayed in order on
  the fresh simulator before the run's own edits. The simulator gives replayed inserts the
  same ids and content, so a lead id is never reused with different content and no earlier
  edit is reverted.

A demo refresh thus shows only the edits of that run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from ..testing import FakeWhatConverts

__all__ = ["DemoJournal"]

UTC = timezone.utc
_meta = sa.MetaData()
journal = sa.Table(
    "whatconverts_demo_journal",
    _meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)


class DemoJournal:
    """The demo's anchor and past edits in ``engine``'s database (see the module doc)."""

    def __init__(self, anchor: datetime, entries: list[tuple[str, dict[str, Any]]]) -> None:
        self.anchor = anchor
        self.entries = entries

    @classmethod
    async def load(cls, engine: AsyncEngine, now: datetime) -> DemoJournal:
        """Read the journal (creating it, anchored at ``now``'s UTC midnight, if new)."""
        async with engine.begin() as conn:
            await conn.run_sync(_meta.create_all)
            rows = (await conn.execute(sa.select(journal).order_by(journal.c.seq))).all()
            entries = [(r.kind, json.loads(r.payload)) for r in rows]
            anchors = [p for k, p in entries if k == "anchor"]
            if anchors:
                anchor = datetime.fromisoformat(anchors[0]["at"])
            else:
                anchor = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                await conn.execute(
                    journal.insert().values(
                        kind="anchor", payload=json.dumps({"at": anchor.isoformat()})
                    )
                )
        return cls(anchor, [(k, p) for k, p in entries if k != "anchor"])

    @property
    def runs(self) -> int:
        """How many demo refreshes made edits so far."""
        return sum(1 for kind, _ in self.entries if kind == "run")

    def replay(self, fake: FakeWhatConverts) -> None:
        """Apply the stored edits, in order, to a fresh simulator."""
        for kind, payload in self.entries:
            if kind == "insert":
                fake.data.insert_lead(datetime.fromisoformat(payload["at"]), **payload["fields"])
            elif kind == "patch":
                fake.data.patch_lead(int(payload["lead_id"]), payload["fields"])

    async def edit(self, engine: AsyncEngine, fake: FakeWhatConverts) -> str:
        """Make this run's edits in the simulator and store them; returns what was done.

        Three older leads (about 2, 10 and 30 days old) get new values that differ from
        every earlier run's, and three new leads arrive (1-3 hours ago)."""
        now = fake.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        n = self.runs + 1
        edits: list[tuple[int, dict[str, Any]]] = [
            (2, {"quotable": "Yes", "quote_value": 450 + 25 * (n - 1)}),
            (10, {"quotable": "Yes", "sales_value": 1250.5 + 100 * (n - 1)}),
            (30, {"quotable": "No", "notes": f"not a fit (demo run {n})"}),
        ]
        new: list[tuple[str, dict[str, Any]]] = []
        for days, fields in edits:
            ids = fake.data.lead_ids(None, now - timedelta(days=days))
            if ids:
                # Generated leads may carry a last_updated ahead of now: never go back from it.
                before = str(fake.data.lead(ids[-1]).get("last_updated") or "")
                patch = {**fields, "last_updated": max(stamp, before)}
                fake.data.patch_lead(ids[-1], patch)
                new.append(("patch", {"lead_id": ids[-1], "fields": patch}))
        latest = max(
            (datetime.fromisoformat(p["at"]) for k, p in self.entries if k == "insert"),
            default=None,
        )
        for hours in (3, 2, 1):
            at = now - timedelta(hours=hours)
            if latest is not None and at <= latest:
                at = latest + timedelta(seconds=1)  # runs close together: still in order
            latest = at
            fields = {"lead_type": "phone_call"}
            fake.data.insert_lead(at, **fields)
            new.append(("insert", {"at": at.isoformat(), "fields": fields}))
        new.append(("run", {"at": now.isoformat()}))
        async with engine.begin() as conn:
            await conn.execute(
                journal.insert(), [{"kind": k, "payload": json.dumps(p)} for k, p in new]
            )
        self.entries.extend(new)
        return (
            f"demo: the simulator edited 3 older leads (2, 10 and 30 days old) and received "
            f"3 new ones (demo run {n})"
        )
