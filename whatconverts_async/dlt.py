"""A `dlt <https://dlthub.com>`_ source: load WhatConverts leads into any dlt destination.

Needs the ``[dlt]`` extra (``pip install 'whatconverts-async[dlt]'``). The source is
driven by this library's async client, so a pipeline gets the same 400-day windows,
2,500-lead pages, daily budget, retries and never-skip-never-repeat scans as
:meth:`WhatConverts.leads.iterate <whatconverts_async.resources.leads.Leads.iterate>`.

Example::

    import dlt
    from whatconverts_async.dlt import whatconverts_source

    pipeline = dlt.pipeline("whatconverts", destination="duckdb", dataset_name="wc")
    # api_token / api_secret come from dlt's secrets (secrets.toml or
    # SOURCES__WHATCONVERTS__API_TOKEN / ..._API_SECRET) unless passed in.
    info = pipeline.run(whatconverts_source(start_date="2024-01-01"))

Resources (each yields wire-shaped records, the API's own field names, unknown fields
included, exactly as ``to_dict()`` gives them):

- ``leads``: ``primary_key="lead_id"``, ``write_disposition="merge"``, incremental on
  ``date_created``. Each run reads from the newest ``date_created`` loaded so far minus
  ``lag`` (default 3 days), so leads edited within that many days of the newest lead
  are read again and merged; an edit to an older lead is not seen (use
  :mod:`whatconverts_async.mirror`, whose refresh plan re-reads older periods, or run
  with a fresh pipeline state). The first run starts at ``start_date``.
- ``tracking_numbers`` (``phone_number_id``) and ``tracking_forms`` (``form_id``).
- With a master key only (the API answers 403 to profile keys for these): ``accounts``
  (``account_id``), ``profiles`` (``profile_id``, read per account) and ``users``
  (``user_id``).

Every resource merges on its primary key, so a run that stops early never deletes rows.

**The daily budget.** Every resource of one source shares one budget (``quota``, by
default an in-memory budget of ``daily_limit`` or the key type's 1,000 / 10,000). When it
is spent, or the API answers that the key's daily limit is used up, the resource stops
cleanly: what was read is loaded, a WARNING is logged on the ``whatconverts_async.dlt``
logger, and the next run continues from the newest lead loaded (leads are read oldest
first, so nothing in between is skipped). Pass a
:class:`~whatconverts_async.budget.FileQuota` to carry the count across runs on one
machine.

dlt runs these async resources on an event loop of its own and ``pipeline.run()``
blocks: this source is for data pipelines. An asyncio service that wants a database
copy of its leads should use :mod:`whatconverts_async.mirror` instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

try:
    import dlt
    from dlt.extract.resource import DltResource
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "whatconverts_async.dlt needs dlt: pip install 'whatconverts-async[dlt]'"
    ) from exc

from .budget import LocalQuota, Quota, daily_limit_for
from .client import DEFAULT_BASE_URL, KeyType, WhatConverts
from .errors import InvalidParameterError, QuotaExhaustedError, QuotaStateError
from .params import DateLike

__all__ = ["DEFAULT_LAG", "whatconverts_source"]

logger = logging.getLogger(__name__)

DEFAULT_LAG = timedelta(days=3)
"""How far before the newest loaded ``date_created`` each ``leads`` run starts reading."""

_WIRE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the API's timestamps: UTC, seconds, literal Z


def _initial_value(start_date: object) -> str:
    """``start_date`` as the API's timestamp text (the cursor's type in the records)."""
    if isinstance(start_date, datetime):
        if start_date.tzinfo is None:
            start_date = start_date.replace(tzinfo=timezone.utc)
        return start_date.astimezone(timezone.utc).strftime(_WIRE_FORMAT)
    if isinstance(start_date, date):
        return start_date.strftime("%Y-%m-%dT00:00:00Z")
    if isinstance(start_date, str):
        text = start_date.strip()
        try:
            if len(text) == 10:
                return _initial_value(date.fromisoformat(text))
            return _initial_value(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InvalidParameterError(
        "start_date",
        f"must be a date, a datetime or an ISO 8601 string, got {start_date!r}",
    )


def _cursor_start(value: object) -> datetime:
    """dlt's start value (text as loaded, or a datetime after ``lag``) as aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"unexpected incremental start value {value!r} for date_created")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _lag_seconds(lag: object) -> float:
    if isinstance(lag, timedelta) and lag >= timedelta(0):
        return lag.total_seconds()
    if isinstance(lag, (int, float)) and not isinstance(lag, bool) and lag >= 0:
        return float(lag)
    raise InvalidParameterError("lag", f"must be a timedelta or seconds >= 0, got {lag!r}")


def _budget_spent(resource: str, exc: QuotaExhaustedError) -> None:
    # A spent budget is the normal end of a day's backfill, not a failed load: what was
    # read gets loaded and the next run goes on from the incremental state.
    logger.warning(
        "whatconverts %s: the daily request budget is spent (resets at %s); "
        "this run loads what was read and the next run continues",
        resource,
        exc.resets_at.isoformat(),
    )


@dlt.source(name="whatconverts", max_table_nesting=1)
def whatconverts_source(
    api_token: str = dlt.secrets.value,
    api_secret: str = dlt.secrets.value,
    *,
    start_date: DateLike,
    key_type: str = "profile",
    base_url: str = DEFAULT_BASE_URL,
    lag: timedelta | float = DEFAULT_LAG,
    lead_filters: Mapping[str, Any] | None = None,
    per_page: int | None = None,
    daily_limit: int | None = None,
    quota: Quota | None = None,
    max_retries: int = 5,
    timeout: float = 30.0,
) -> Sequence[DltResource]:
    """The WhatConverts source: ``leads`` and, by key type, the account tree and tracking.

    Args:
        api_token, api_secret: the API key; by default from dlt's secrets
            (``[sources.whatconverts]`` in ``secrets.toml``, or the environment variables
            ``SOURCES__WHATCONVERTS__API_TOKEN`` / ``SOURCES__WHATCONVERTS__API_SECRET``).
        start_date: where the first ``leads`` run starts (a date, an aware or naive-UTC
            datetime, or an ISO 8601 string); later runs continue from the state.
        key_type: ``"profile"`` (default) or ``"master"``. Master keys add ``accounts``,
            ``profiles`` and ``users``.
        base_url: the API root (the simulator's ``fake.url`` in tests).
        lag: how much before the newest loaded ``date_created`` each run re-reads, as a
            ``timedelta`` or seconds (default 3 days); edits within it are merged.
        lead_filters: filters for ``leads.iterate`` (``lead_type``, ``profile_ids``, ...),
            checked before anything is sent.
        per_page: leads per request (default 2,500, the API's maximum).
        daily_limit: the budget of this source's runs (default by key type).
        quota: a shared budget instead (e.g.
            :class:`~whatconverts_async.budget.FileQuota`); overrides ``daily_limit``.
        max_retries, timeout: as for :class:`~whatconverts_async.WhatConverts`.

    Returns:
        The resources; select some with ``source.with_resources("leads")``.

    Raises:
        InvalidParameterError: a bad argument, before anything is sent.
    """
    kind = KeyType(key_type) if key_type in ("profile", "master") else None
    if kind is None:
        raise InvalidParameterError("key_type", f"must be profile or master, got {key_type!r}")
    initial = _initial_value(start_date)
    lag_seconds = _lag_seconds(lag)
    filters = dict(lead_filters or {})
    budget: Quota = quota if quota is not None else LocalQuota(daily_limit_for(kind, daily_limit))

    def client() -> WhatConverts:
        # One client per resource, made inside dlt's event loop (aiohttp sessions are
        # bound to the loop that opens them); the budget object is shared by all.
        return WhatConverts(
            api_token,
            api_secret,
            key_type=kind,
            base_url=base_url,
            quota=budget,
            max_retries=max_retries,
            timeout=timeout,
        )

    # Fail on bad credentials, filters or page sizes here, not in dlt's extract step.
    WhatConverts(api_token, api_secret, key_type=kind, base_url=base_url).leads.plan_scan(
        start_date=initial, per_page=per_page, **filters
    )

    # dlt finds the cursor through this default (its documented idiom), hence B008.
    @dlt.resource(name="leads", primary_key="lead_id", write_disposition="merge")
    async def leads(
        date_created: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            "date_created", initial_value=initial, lag=lag_seconds
        ),
    ) -> AsyncIterator[list[dict[str, Any]]]:
        start = _cursor_start(date_created.start_value)
        try:
            async with client() as wc:
                # Oldest first: if the budget runs out, the cursor marks exactly how far
                # this run got, and the next run starts there.
                async for page in wc.leads.iterate_pages(
                    start_date=start, order="asc", per_page=per_page, **filters
                ):
                    if page.items:
                        yield [lead.to_dict() for lead in page.items]
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("leads", exc)

    @dlt.resource(name="tracking_numbers", primary_key="phone_number_id", write_disposition="merge")
    async def tracking_numbers() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async with client() as wc:
                batch = [n.to_dict() async for n in wc.tracking.iterate_numbers()]
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("tracking_numbers", exc)
            return
        yield batch

    @dlt.resource(name="tracking_forms", primary_key="form_id", write_disposition="merge")
    async def tracking_forms() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async with client() as wc:
                batch = [f.to_dict() async for f in wc.tracking.iterate_forms()]
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("tracking_forms", exc)
            return
        yield batch

    @dlt.resource(name="accounts", primary_key="account_id", write_disposition="merge")
    async def accounts() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async with client() as wc:
                batch = [a.to_dict() async for a in wc.accounts.iterate()]
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("accounts", exc)
            return
        yield batch

    @dlt.resource(name="profiles", primary_key="profile_id", write_disposition="merge")
    async def profiles() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async with client() as wc:
                account_ids = [a.account_id async for a in wc.accounts.iterate()]
                for account_id in account_ids:
                    batch = [p.to_dict() async for p in wc.profiles.iterate(account_id)]
                    if batch:
                        yield batch
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("profiles", exc)

    @dlt.resource(name="users", primary_key="user_id", write_disposition="merge")
    async def users() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async with client() as wc:
                batch = [u.to_dict() async for u in wc.users.iterate()]
        except QuotaStateError:
            raise
        except QuotaExhaustedError as exc:
            _budget_spent("users", exc)
            return
        yield batch

    resources: list[DltResource] = [leads, tracking_numbers, tracking_forms]
    if kind is KeyType.MASTER:
        resources += [accounts, profiles, users]
    return resources
