"""A SQL mirror of a WhatConverts lead list: SQLite by default, PostgreSQL for teams.

Needs the ``[mirror]`` extra (SQLAlchemy 2 and aiosqlite), plus ``[postgres]`` (asyncpg)
for PostgreSQL::

    from whatconverts_async import WhatConverts
    from whatconverts_async.mirror import LeadMirror

    async with WhatConverts.from_env() as wc, LeadMirror(wc, "leads.db") as mirror:
        await mirror.backfill(start_date=date(2015, 1, 1))   # resumable at page level
        report = await mirror.refresh()                      # re-read the recent past by plan
        print(report.inserted, report.updated, report.unchanged, report.requests)

See :class:`LeadMirror` for the guarantees, :mod:`.plan` for the refresh plan and
:mod:`.schema` for the tables. This package imports SQLAlchemy only when one of its names
is first used, so the command line works without the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import (
        LeadChange,
        LeadMirror,
        MirrorBusyError,
        MirrorError,
        MirrorStatus,
        ScanState,
        SyncReport,
        transient,
    )
    from .plan import LeadCounts, RefreshPlan, Tier

__all__ = [
    "LeadChange",
    "LeadCounts",
    "LeadMirror",
    "MirrorBusyError",
    "MirrorError",
    "MirrorStatus",
    "RefreshPlan",
    "ScanState",
    "SyncReport",
    "Tier",
    "transient",
]

_HOMES = {"LeadCounts": ".plan", "RefreshPlan": ".plan", "Tier": ".plan"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_HOMES.get(name, ".core"), __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value
