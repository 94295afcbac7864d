"""Deterministic fake data behind the simulator.

A :class:`Dataset` holds the accounts, profiles, users, roles, tracking numbers,
tracking forms and leads that :class:`~whatconverts_async.testing.FakeWhatConverts`
serves. Everything is derived from a seed, so the same arguments always give the
same data, byte for byte.

Leads are not stored as dicts. The generator keeps a few compact columns per lead
(id, creation time, type, profile, a flag byte) and renders the full wire dict of a
lead on demand from ``(seed, lead_id)``; a million leads cost roughly 20 MB, and
rendering is cached in a bounded LRU. Leads created through the API or
:meth:`Dataset.insert_lead` are stored as full dicts, and edits of generated leads
are kept in an overlay, so everything a test changes is visible in later answers.

Example::

    from whatconverts_async.testing import Dataset

    data = Dataset.generate(leads=10_000, seed=1)
    first = data.lead(data.lead_ids()[0])
    assert first["lead_type"] in {"Phone Call", "Web Form", "Chat", ...}
    data.patch_lead(first["lead_id"], {"brand_new_field": 1})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from .directory import Directory
from .endpoint_rows import (
    ENDPOINT_ADDITIONAL_PREFIX,
    ENDPOINT_COLUMNS,
    EndpointRow,
    check_endpoint_columns,
    parse_endpoint_row,
)
from .generator import LeadRenderer, generate_columns
from .store import LeadFilter, LeadStore, _Selection
from .vocabulary import LEAD_TYPES, M64, QUOTABLE_VALUES, UTC, epoch, format_timestamp, mix

__all__ = [
    "ENDPOINT_ADDITIONAL_PREFIX",
    "ENDPOINT_COLUMNS",
    "LEAD_TYPES",
    "QUOTABLE_VALUES",
    "Dataset",
    "EndpointRow",
    "LeadFilter",
    "check_endpoint_columns",
    "format_timestamp",
    "generate",
    "parse_endpoint_row",
]


class Dataset:
    """Accounts, profiles, users, roles, tracking and leads of one simulated master account.

    Build one with :meth:`generate` (or the module-level :func:`generate`). All
    ``*_ts`` values are epoch seconds; public methods take aware datetimes.

    It joins three parts, each with one job: :attr:`directory` (accounts, profiles,
    users, roles, tracking; :class:`~.directory.Directory`), the lead generator
    (:mod:`~.generator`) and :attr:`leads` (the :class:`~.store.LeadStore`). Its
    methods are the simulator's documented surface and delegate to them.

    Lead queries (:meth:`iter_leads`, :meth:`count_leads`, :meth:`lead_ids`) treat
    ``start`` and ``end`` as inclusive, like the API's ``start_date``/``end_date``.
    """

    def __init__(self, directory: Directory, leads: LeadStore, *, seed: int) -> None:
        self.seed = seed
        self.directory = directory
        """Accounts, profiles, users, roles, tracking numbers and forms."""
        self.leads = leads
        """Every lead: generated, created and edited."""
        #: User dicts as the API returns them, by ``user_id``.
        self.users: dict[int, dict[str, Any]] = directory.users
        #: Role dicts as the API returns them, by ``role_id``.
        self.roles: dict[int, dict[str, Any]] = directory.roles
        #: Tracking-number dicts as the API returns them, in id order.
        self.numbers: list[dict[str, Any]] = directory.numbers
        #: Tracking-form dicts as the API returns them, in id order.
        self.forms: list[dict[str, Any]] = directory.forms

    # --- construction --------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        leads: int = 1_000,
        seed: int = 0,
        start: datetime = datetime(2017, 1, 1, tzinfo=UTC),
        end: datetime = datetime(2026, 1, 1, tzinfo=UTC),
        accounts: int = 1,
        profiles_per_account: int = 1,
        cache_size: int = 10_000,
    ) -> Dataset:
        """Generate a dataset; identical arguments give identical data.

        ``leads`` leads are spread over ``[start, end)`` with busier and quieter
        weeks; lead ids increase with ``date_created``. ``cache_size`` bounds the
        LRU of rendered leads (about 3 KB each). Raises ``ValueError`` for a negative
        count, fewer than one account or profile, or ``end`` not after ``start``.
        """
        if leads < 0:
            raise ValueError(f"leads must be >= 0, got {leads}")
        if accounts < 1 or profiles_per_account < 1:
            raise ValueError("accounts and profiles_per_account must be >= 1")
        start_ts, end_ts = epoch(start), epoch(end)
        if end_ts <= start_ts:
            raise ValueError(
                f"end ({format_timestamp(end_ts)}) must be after start "
                f"({format_timestamp(start_ts)}); the default range is 2017-01-01 to "
                "2026-01-01: pass end= with a later start"
            )
        salt = mix(seed & M64)
        directory = Directory(salt)
        directory.generate(accounts, profiles_per_account, start_ts)
        columns = generate_columns(leads, start_ts, end_ts, salt, len(directory.profile_order))
        renderer = LeadRenderer(salt, directory.names, latest=end_ts)
        store = LeadStore(columns, renderer, directory, salt=salt, cache_size=cache_size)
        return cls(directory, store, seed=seed)

    @property
    def cache_size(self) -> int:
        """How many rendered leads are kept (about 3 KB each)."""
        return self.leads.cache_size

    @cache_size.setter
    def cache_size(self, value: int) -> None:
        self.leads.cache_size = value

    # --- directory -------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh id for a created account/profile/user (never reused)."""
        return self.directory.new_id()

    def account(self, account_id: int) -> dict[str, Any]:
        """The wire dict of one account, with its profiles; ``KeyError`` if unknown."""
        return self.directory.account(account_id)

    def account_created_ts(self, account_id: int) -> int:
        """Creation time of an account in epoch seconds."""
        return self.directory.account_created_ts(account_id)

    def profile_created_ts(self, profile_id: int) -> int:
        """Creation time of a profile in epoch seconds."""
        return self.directory.profile_created_ts(profile_id)

    @property
    def accounts(self) -> list[dict[str, Any]]:
        """All accounts as wire dicts, in id order."""
        return self.directory.accounts

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """All profiles as wire dicts (plus ``account_id``), in id order."""
        return self.directory.profiles

    def account_ids(self) -> list[int]:
        """Ids of all accounts, ascending."""
        return self.directory.account_ids()

    def profile_ids(self, account_id: int | None = None) -> list[int]:
        """Ids of all profiles (of one account if given), ascending."""
        return self.directory.profile_ids(account_id)

    def profile(self, profile_id: int) -> dict[str, Any]:
        """The wire dict of one profile; ``KeyError`` if unknown."""
        return self.directory.profile(profile_id)

    def profile_account(self, profile_id: int) -> int:
        """The account id that owns a profile."""
        return self.directory.profile_account(profile_id)

    def create_account(self, account_name: str, *, now: int, create_profile: bool) -> int:
        """Add an account (and optionally a first profile); return its id."""
        return self.directory.create_account(account_name, now=now, create_profile=create_profile)

    def rename_account(self, account_id: int, account_name: str) -> None:
        """Change an account's name; ``KeyError`` if unknown."""
        self.directory.rename_account(account_id, account_name)
        self.leads.changed()

    def delete_account(self, account_id: int) -> None:
        """Remove an account and its profiles (their leads stay readable by id)."""
        self.directory.delete_account(account_id)
        self.leads.changed()

    def create_profile(self, account_id: int, profile_name: str, *, now: int) -> int:
        """Add a profile to an account; return its id."""
        return self.directory.create_profile(account_id, profile_name, now=now)

    def rename_profile(self, profile_id: int, profile_name: str) -> None:
        """Change a profile's name; ``KeyError`` if unknown."""
        self.directory.rename_profile(profile_id, profile_name)
        self.leads.changed(rendered=True)

    def delete_profile(self, profile_id: int) -> None:
        """Remove a profile from its account."""
        self.directory.delete_profile(profile_id)
        self.leads.changed()

    def has_profile(self, profile_id: int) -> bool:
        """Whether a profile exists."""
        return self.directory.has_profile(profile_id)

    def has_account(self, account_id: int) -> bool:
        """Whether an account exists."""
        return self.directory.has_account(account_id)

    # --- leads ---------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Bumped on every change to leads; selections are cached per version."""
        return self.leads.version

    @property
    def max_lead_id(self) -> int:
        """The highest lead id in the dataset."""
        return self.leads.max_lead_id

    def __len__(self) -> int:
        return len(self.leads)

    def has_lead(self, lead_id: int) -> bool:
        """Whether a lead with this id exists."""
        return self.leads.has_lead(lead_id)

    def lead_profile_id(self, lead_id: int) -> int:
        """The profile of a lead; ``KeyError`` if unknown."""
        return self.leads.lead_profile_id(lead_id)

    def lead_type_code(self, lead_id: int) -> str:
        """Snake-case type of a lead (``"phone_call"``...); ``KeyError`` if unknown."""
        return self.leads.lead_type_code(lead_id)

    def wire_lead(self, lead_id: int) -> dict[str, Any]:
        """The lead's wire dict, shared with the cache: callers must not mutate it."""
        return self.leads.wire_lead(lead_id)

    def lead(self, lead_id: int) -> dict[str, Any]:
        """A copy of the wire dict of one lead; ``KeyError`` if unknown."""
        return self.leads.lead(lead_id)

    def select(self, flt: LeadFilter) -> _Selection:
        """Lead ids matching ``flt``, ascending by (date_created, lead_id); cached."""
        return self.leads.select(flt)

    def iter_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        order: str = "asc",
        profile_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield lead dicts (copies) with ``start <= date_created <= end``."""
        return self.leads.iter_leads(start, end, order, profile_id)

    def count_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> int:
        """Number of leads with ``start <= date_created <= end`` (inclusive)."""
        return self.leads.count_leads(start, end, profile_id)

    def lead_ids(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> list[int]:
        """Ids of leads with ``start <= date_created <= end``, ascending by date."""
        return self.leads.lead_ids(start, end, profile_id)

    def insert_lead(self, date_created: datetime, **fields: Any) -> dict[str, Any]:
        """Insert a lead dated ``date_created`` with a new, highest lead id.

        ``fields`` override the generated values (``lead_type`` may be a display
        string or a snake value; ``profile_id`` defaults to the first profile).
        Returns a copy of the new lead's wire dict.
        """
        return self.leads.insert_lead(date_created, **fields)

    def add_lead(
        self,
        *,
        ts: int,
        lead_type: str,
        profile_id: int,
        fields: Mapping[str, Any],
        generated: bool,
    ) -> dict[str, Any]:
        """Store a new lead and return its (shared) wire dict.

        With ``generated`` the lead starts from realistic generated values; without,
        from a blank lead of that type, as a lead created through the API would be.
        """
        return self.leads.add_lead(
            ts=ts, lead_type=lead_type, profile_id=profile_id, fields=fields, generated=generated
        )

    def patch_lead(self, lead_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Add or override wire fields of a lead (even unknown ones); return a copy.

        Changing ``date_created`` or ``lead_id`` this way changes only what is
        served, not where the lead sorts.
        """
        return self.leads.patch_lead(lead_id, fields)


def generate(
    *,
    leads: int = 1_000,
    seed: int = 0,
    start: datetime = datetime(2017, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    accounts: int = 1,
    profiles_per_account: int = 1,
    cache_size: int = 10_000,
) -> Dataset:
    """Generate a :class:`Dataset`; shorthand for :meth:`Dataset.generate`."""
    return Dataset.generate(
        leads=leads,
        seed=seed,
        start=start,
        end=end,
        accounts=accounts,
        profiles_per_account=profiles_per_account,
        cache_size=cache_size,
    )
