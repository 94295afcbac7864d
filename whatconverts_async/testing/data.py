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

import copy
import heapq
import itertools
import math
import random
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Final

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

UTC: Final = timezone.utc
_M64: Final = 0xFFFFFFFFFFFFFFFF

#: Wire value of the ``lead_type`` filter → display string in lead dicts, in the
#: order the API lists them.
LEAD_TYPES: Final[dict[str, str]] = {
    "phone_call": "Phone Call",
    "web_form": "Web Form",
    "chat": "Chat",
    "text_message": "Text Message",
    "email": "Email",
    "appointment": "Appointment",
    "event": "Event",
    "transaction": "Transaction",
    "other": "Other",
}
_TYPE_CODES: Final = list(LEAD_TYPES)
_TYPE_DISPLAY: Final = list(LEAD_TYPES.values())
_DISPLAY_TO_CODE: Final = {v: i for i, v in enumerate(_TYPE_DISPLAY)}

#: Wire value of ``quotable`` (filter and edit) → display string in lead dicts.
QUOTABLE_VALUES: Final[dict[str, str]] = {
    "not_set": "Not Set",
    "yes": "Yes",
    "no": "No",
    "pending": "Pending",
}
_QUOTABLE_DISPLAY: Final = list(QUOTABLE_VALUES.values())

# Out of 256: roughly the mix of a services business with call tracking.
_TYPE_WEIGHTS: Final = (110, 70, 20, 14, 12, 8, 8, 10, 4)
_TYPE_TABLE: Final = bytes(
    itertools.chain.from_iterable([code] * w for code, w in enumerate(_TYPE_WEIGHTS))
)

_SPAM: Final = 1
_DUPLICATE: Final = 2
_REPEAT: Final = 4
_HAS_QUOTE: Final = 32
_HAS_SALES: Final = 64
_QUOTABLE_SHIFT: Final = 3


def _mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def format_timestamp(ts: int) -> str:
    """Format epoch seconds the way the API does: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _epoch(value: datetime | date) -> int:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware, got {value!r}")
    return math.floor(value.timestamp())


# --- vocabularies -------------------------------------------------------------------

_FIRST: Final = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Ahmed", "Mei", "Zoë", "José", "Olivia", "Liam", "Noah", "Emma", "Ava",
)  # fmt: skip
_LAST: Final = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "O'Brien",
    "Nguyen", "Kowalski", "Müller", "Bergeron", "Clark", "Lewis", "Walker", "Young",
)  # fmt: skip
_COMPANIES: Final = (
    "", "", "", "Acme Corp", "Blue Ridge Plumbing, LLC", "Smith & Sons", 'The "Best" Roofers',
    "Queen City Dental", "Northwind Traders", "Globex", "Initech", "Umbrella Health, Inc.",
)  # fmt: skip
_DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example.com")
_AREAS: Final = (
    "704", "980", "803", "919", "212", "646", "415", "312", "305", "702", "206", "512", "617",
    "303", "404", "214", "602", "615", "503", "813",
)  # fmt: skip
_CITIES: Final = (
    ("Charlotte", "NC", "282"), ("Raleigh", "NC", "276"), ("Rock Hill", "SC", "297"),
    ("New York", "NY", "100"), ("San Francisco", "CA", "941"), ("Chicago", "IL", "606"),
    ("Miami", "FL", "331"), ("Las Vegas", "NV", "891"), ("Seattle", "WA", "981"),
    ("Austin", "TX", "787"), ("Boston", "MA", "021"), ("Denver", "CO", "802"),
    ("Atlanta", "GA", "303"), ("Dallas", "TX", "752"), ("Phoenix", "AZ", "850"),
    ("Nashville", "TN", "372"), ("Portland", "OR", "972"), ("Tampa", "FL", "336"),
)  # fmt: skip
# (source, medium, campaign, content, keyword, click-id field or "")
_Attribution = tuple[str | None, str | None, str | None, str | None, str | None, str]
_ATTRIBUTION: Final[tuple[_Attribution, ...]] = (
    ("google", "organic", None, None, None, ""),
    ("google", "organic", None, None, None, ""),
    ("google", "cpc", "Brand", "ad 1", "dentist near me", "gclid"),
    ("google", "cpc", "Services - Exact", "ad 2", "emergency plumber", "gclid"),
    ("google", "cpc", "Remarketing", "banner 300x250", "", "gclid"),
    ("(direct)", "(none)", None, None, None, ""),
    ("(direct)", "(none)", None, None, None, ""),
    ("bing", "cpc", "Brand", "ad 1", "teeth whitening", "msclkid"),
    ("bing", "organic", None, None, None, ""),
    ("facebook", "paid_social", "Spring Promo, 2024", "video", None, "facebook_click_id"),
    ("facebook.com", "referral", None, None, None, ""),
    ("yelp.com", "referral", None, None, None, ""),
    ("newsletter", "email", "Monthly \"Tips\"", "header link", None, ""),
    ("Google My Business", "organic", "GMB", None, None, ""),
    ("Offline", "Offline", None, None, None, ""),
)  # fmt: skip
_PAGES: Final = ("/", "/contact", "/services", "/pricing", "/about-us", "/blog/5-tips", "/book")
_OS: Final = (
    ("Windows 11", "Chrome 136", "Desktop", ""),
    ("Windows 10", "Edge 125", "Desktop", ""),
    ("macOS 10.15 Catalina", "Chrome 136", "Desktop", "Apple Mac"),
    ("macOS 14 Sonoma", "Safari 17", "Desktop", "Apple Mac"),
    ("iOS 17", "Safari 17", "Smartphone", "Apple iPhone"),
    ("Android 14", "Chrome 135", "Smartphone", "Samsung Galaxy S23"),
    ("Android 13", "Samsung Internet 24", "Smartphone", "Samsung Galaxy A54"),
    ("iPadOS 17", "Safari 17", "Tablet", "Apple iPad"),
    ("Linux", "Firefox 126", "Desktop", ""),
)
_PHONE_NAMES: Final = ("All Traffic", "Google Ads", "Website", "Yelp", "Direct Mail", "GMB")
_ANSWER: Final = ("Answered", "Answered", "Answered", "Answered", "Missed", "Voicemail")
_LINE_TYPES: Final = ("Landline", "Mobile", "Mobile", "VoIP")
_FORM_NAMES: Final = ("Contact Us", "Request a Quote", "Newsletter Signup", "Book Appointment")
_TOPICS: Final = ("pricing", "scheduling", "emergency", "insurance", "warranty", "directions")
_SENTIMENTS: Final = ("Positive", "Neutral", "Negative")
_MESSAGES: Final = (
    "Hi, do you have availability this week?",
    "What are your prices for a standard cleaning, and do you take insurance?",
    'I need a quote for the "premium" package, ASAP.',
    "Please call me back after 5pm.\nThanks!",
    "Is the Main St. location open on Saturdays?",
    "",
)
_TRANSCRIPT_LINES: Final = (
    "Agent: Thank you for calling, this is {agent}, how can I help you?",
    "Caller: Hi, yes, I'd like to get a quote for {topic}.",
    "Agent: Sure, can I get your name, please?",
    "Caller: It's {name}, that's {first} with a \"{initial}\".",
    "Agent: Great, and what's the best number to reach you, {first}?",
    "Caller: You can use this one, {phone}.",
    "Agent: Perfect, someone will call you back today, okay?",
    "Caller: Thanks, bye.",
)
_EVENT_CATEGORIES: Final = (
    ("Video", "Play", "Homepage hero"),
    ("Download", "Click", "Brochure PDF"),
)
_EMAIL_SUBJECTS: Final = ("Question about your services", "Quote request", "Re: appointment")


@dataclass(frozen=True)
class LeadFilter:
    """Lead-list filters, already validated and in internal form.

    Dates are epoch seconds and inclusive on both ends; ``None`` means "no filter".
    ``profile_ids`` restricts to a set of profiles (a profile key sees one).
    """

    start_ts: int | None = None
    end_ts: int | None = None
    profile_ids: frozenset[int] | None = None
    lead_type: int | None = None
    repeat: bool | None = None
    quotable: int | None = None
    has_quote: bool | None = None
    has_sales: bool | None = None
    spam_only: bool = False
    spam_hidden: bool = False
    duplicate_only: bool = False
    text: tuple[tuple[str, str], ...] = ()

    def needs_columns(self) -> bool:
        """Whether any filter beyond the date range needs a per-lead check."""
        return (
            self.lead_type is not None
            or self.repeat is not None
            or self.quotable is not None
            or self.has_quote is not None
            or self.has_sales is not None
            or self.spam_only
            or self.spam_hidden
            or self.duplicate_only
        )


class _Selection:
    """Lead ids matching a query, ascending by (date_created, lead_id)."""

    __slots__ = ("_ids", "_lo", "_n")

    def __init__(self, ids: Sequence[int], lo: int = 0, n: int | None = None) -> None:
        self._ids = ids
        self._lo = lo
        self._n = len(ids) - lo if n is None else n

    def __len__(self) -> int:
        return self._n

    def page(self, offset: int, count: int, descending: bool) -> list[int]:
        if offset >= self._n or count <= 0:
            return []
        count = min(count, self._n - offset)
        if descending:
            top = self._lo + self._n - offset
            out = list(self._ids[top - count : top])
            out.reverse()
            return out
        first = self._lo + offset
        return list(self._ids[first : first + count])

    def all(self) -> list[int]:
        return list(self._ids[self._lo : self._lo + self._n])


@dataclass
class _Profile:
    profile_id: int
    profile_name: str
    account_id: int
    date_created: int


@dataclass
class _Account:
    account_id: int
    account_name: str
    date_created: int
    profile_ids: list[int] = field(default_factory=list)


class Dataset:
    """Accounts, profiles, users, roles, tracking and leads of one simulated master account.

    Build one with :meth:`generate` (or the module-level :func:`generate`). All
    ``*_ts`` values are epoch seconds; public methods take aware datetimes.

    Lead queries (:meth:`iter_leads`, :meth:`count_leads`, :meth:`lead_ids`) treat
    ``start`` and ``end`` as inclusive, like the API's ``start_date``/``end_date``.
    """

    def __init__(self, *, seed: int, cache_size: int = 10_000) -> None:
        self.seed = seed
        self._salt = _mix(seed & _M64)
        self._gen_ids: array[int] = array("q")
        self._gen_ts: array[int] = array("q")
        self._gen_type = bytearray()
        self._gen_prof: array[int] = array("H")
        self._gen_flags = bytearray()
        self._profile_order: list[int] = []  # column value → profile_id
        self._custom: dict[int, dict[str, Any]] = {}
        self._custom_keys: list[tuple[int, int]] = []  # sorted (ts, lead_id)
        self._overlay: dict[int, dict[str, Any]] = {}
        self._max_id = 0
        self._version = 0
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        # About 3 KB per rendered lead: the default keeps four full pages.
        self.cache_size = cache_size
        self._select_cache: OrderedDict[LeadFilter, _Selection] = OrderedDict()
        self._select_version = 0
        self._accounts: dict[int, _Account] = {}
        self._profiles: dict[int, _Profile] = {}
        #: User dicts as the API returns them, by ``user_id``.
        self.users: dict[int, dict[str, Any]] = {}
        #: Role dicts as the API returns them, by ``role_id``.
        self.roles: dict[int, dict[str, Any]] = {}
        #: Tracking-number dicts as the API returns them, in id order.
        self.numbers: list[dict[str, Any]] = []
        #: Tracking-form dicts as the API returns them, in id order.
        self.forms: list[dict[str, Any]] = []
        self._next_id = itertools.count(1)

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
        LRU of rendered leads (about 3 KB each).
        """
        if leads < 0:
            raise ValueError(f"leads must be >= 0, got {leads}")
        if accounts < 1 or profiles_per_account < 1:
            raise ValueError("accounts and profiles_per_account must be >= 1")
        start_ts, end_ts = _epoch(start), _epoch(end)
        if end_ts <= start_ts:
            raise ValueError("end must be after start")
        ds = cls(seed=seed, cache_size=cache_size)
        ds._make_directory(accounts, profiles_per_account, start_ts)
        ds._make_leads(leads, start_ts, end_ts)
        return ds

    def _make_directory(self, n_accounts: int, per_account: int, start_ts: int) -> None:
        rng = random.Random(self._salt ^ 0xACC0)
        names = [
            "Acme Dental", "Blue Ridge Plumbing", "Queen City Roofing", "Northwind Law",
            "Sunrise Pediatrics", "Metro Auto Glass", "Harbor Realty", "Summit HVAC",
        ]  # fmt: skip
        profile_names = ["Main site", "Landing pages", "Google Ads", "Second location"]
        account_id = 70_000 + rng.randrange(1_000)
        profile_id = 80_000 + rng.randrange(1_000)
        created = start_ts - 400 * 86_400
        for a in range(n_accounts):
            account_id += rng.randrange(1, 50)
            base = names[a % len(names)]
            name = base if a < len(names) else f"{base} {a // len(names) + 1}"
            acct = _Account(account_id, name, created + a * 3_600)
            self._accounts[account_id] = acct
            for p in range(per_account):
                profile_id += rng.randrange(1, 50)
                pname = profile_names[p % len(profile_names)]
                if p >= len(profile_names):
                    pname = f"{pname} {p // len(profile_names) + 1}"
                self._profiles[profile_id] = _Profile(
                    profile_id, pname, account_id, acct.date_created + p * 60
                )
                acct.profile_ids.append(profile_id)
                self._profile_order.append(profile_id)
        self._make_roles_users(rng, created)
        self._make_tracking(rng, created)

    def _make_roles_users(self, rng: random.Random, created: int) -> None:
        role_specs = [
            ("master_account_role", "Administrator"),
            ("master_account_role", "Manager"),
            ("master_account_role", "Read Only"),
            ("account_role", "Account Admin"),
            ("account_role", "Account User"),
        ]
        role_id = 500 + rng.randrange(100)
        for role_type, role_name in role_specs:
            role_id += 1
            self.roles[role_id] = {
                "role_id": role_id,
                "role_type": role_type,
                "role_name": role_name,
            }
        master_roles = [r for r in self.roles.values() if r["role_type"] == "master_account_role"]
        user_id = 30_000 + rng.randrange(1_000)
        for i in range(3 + len(self._accounts)):
            user_id += rng.randrange(1, 20)
            first = _FIRST[(i * 7 + 3) % len(_FIRST)]
            last = _LAST[(i * 5 + 1) % len(_LAST)]
            email = f"{first.lower()}.{last.lower().replace(' ', '')}@agency.example.com"
            user: dict[str, Any] = {"user_id": user_id}
            if i < 3:
                role = master_roles[i % len(master_roles)]
                user.update(
                    user_type="master_account_user",
                    email=email,
                    pending_activation=i == 2,
                    role_name=role["role_name"],
                    role_id=role["role_id"],
                )
            else:
                user.update(
                    user_type="account_user",
                    email=email,
                    pending_activation=False,
                )
            user["date_created"] = format_timestamp(created + i * 86_400)
            self.users[user_id] = user

    def _make_tracking(self, rng: random.Random, created: int) -> None:
        number_id = 600_000 + rng.randrange(10_000)
        form_id = 900_000 + rng.randrange(10_000)
        for pid in self._profile_order:
            prof = self._profiles[pid]
            for k in range(3):
                number_id += rng.randrange(1, 30)
                area = _AREAS[(pid + k) % len(_AREAS)]
                self.numbers.append(
                    {
                        "account_id": prof.account_id,
                        "profile_id": pid,
                        "profile": prof.profile_name,
                        "phone_number_id": number_id,
                        "phone_name": _PHONE_NAMES[k],
                        "tracking_number": f"+1{area}555{(number_id % 9_000) + 1_000:04d}",
                        "tracking_number_iso_country": "US",
                        "destination_number": f"+1{area}555{(pid % 9_000) + 1_000:04d}",
                        "destination_number_iso_country": "US",
                        "swap_number": f"+1{area}555{(pid % 8_000) + 2_000:04d}" if k else "",
                        "call_flow": "Forward to destination",
                        "trigger": ("All Traffic", "Source", "Landing Page")[k],
                        "source": ("", "google", "(direct)")[k],
                        "medium": ("", "cpc", "(none)")[k],
                        "last_used": format_timestamp(created + rng.randrange(10**8)),
                        "call_recording": k != 2,
                        "voice": True,
                        "messaging": k == 0,
                        "pending_activation": False,
                    }
                )
            for k, fname in enumerate(_FORM_NAMES[:2]):
                form_id += rng.randrange(1, 30)
                self.forms.append(
                    {
                        "form_id": form_id,
                        "form_name": fname,
                        "attribute_type": ("id", "class")[k],
                        "attribute_type_value": ("contact-form", "quote-form")[k],
                        "submit_attribute_type": "type",
                        "submit_attribute_type_value": "submit",
                        "profile": prof.profile_name,
                        "profile_id": pid,
                        "account_id": prof.account_id,
                    }
                )

    def _make_leads(self, n: int, start_ts: int, end_ts: int) -> None:
        rng = random.Random(self._salt ^ 0x1EAD5)
        ts_col = array("q", _spread_timestamps(n, start_ts, end_ts, rng))
        salt = self._salt
        nprof = len(self._profile_order)
        types = bytearray(n)
        flags = bytearray(n)
        profs = array("H", bytes(2 * n))
        ids = array("q", bytes(8 * n))
        type_table = _TYPE_TABLE
        next_id = 100_000_000 + (salt % 1_000_000)
        for i in range(n):
            h = _mix(salt ^ i)
            types[i] = type_table[h & 255]
            if nprof > 1:
                profs[i] = ((h >> 8) & 0xFFFF) % nprof
            f = 0
            if (h >> 16) & 255 < 5:
                f |= _SPAM
            if (h >> 24) & 255 < 8:
                f |= _DUPLICATE
            if (h >> 32) & 255 < 64:
                f |= _REPEAT
            q = (h >> 40) & 255
            f |= (0 if q < 150 else 1 if q < 200 else 2 if q < 225 else 3) << _QUOTABLE_SHIFT
            if (h >> 48) & 255 < 40:
                f |= _HAS_QUOTE
            # Every transaction has a sales value; other leads rarely do.
            if (h >> 56) & 255 < 25 or types[i] == 7:
                f |= _HAS_SALES
            flags[i] = f
            next_id += 1 + ((h >> 60) % 3)
            ids[i] = next_id
        self._gen_ids, self._gen_ts = ids, ts_col
        self._gen_type, self._gen_flags, self._gen_prof = types, flags, profs
        self._max_id = next_id

    # --- directory -------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh id for a created account/profile/user (never reused)."""
        return 10_000_000 + next(self._next_id)

    def account(self, account_id: int) -> dict[str, Any]:
        """The wire dict of one account, with its profiles; ``KeyError`` if unknown."""
        acct = self._accounts[account_id]
        return {
            "account_id": acct.account_id,
            "account_name": acct.account_name,
            "date_created": format_timestamp(acct.date_created),
            "profiles": [self.profile(pid) for pid in acct.profile_ids],
        }

    def account_created_ts(self, account_id: int) -> int:
        """Creation time of an account in epoch seconds."""
        return self._accounts[account_id].date_created

    def profile_created_ts(self, profile_id: int) -> int:
        """Creation time of a profile in epoch seconds."""
        return self._profiles[profile_id].date_created

    @property
    def accounts(self) -> list[dict[str, Any]]:
        """All accounts as wire dicts, in id order."""
        return [self.account(a) for a in sorted(self._accounts)]

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """All profiles as wire dicts (plus ``account_id``), in id order."""
        return [
            {**self.profile(pid), "account_id": self._profiles[pid].account_id}
            for pid in sorted(self._profiles)
        ]

    def account_ids(self) -> list[int]:
        """Ids of all accounts, ascending."""
        return sorted(self._accounts)

    def profile_ids(self, account_id: int | None = None) -> list[int]:
        """Ids of all profiles (of one account if given), ascending."""
        if account_id is None:
            return sorted(self._profiles)
        return sorted(self._accounts[account_id].profile_ids)

    def profile(self, profile_id: int) -> dict[str, Any]:
        """The wire dict of one profile; ``KeyError`` if unknown."""
        prof = self._profiles[profile_id]
        return {
            "profile_id": prof.profile_id,
            "profile_name": prof.profile_name,
            "date_created": format_timestamp(prof.date_created),
        }

    def profile_account(self, profile_id: int) -> int:
        """The account id that owns a profile."""
        return self._profiles[profile_id].account_id

    def create_account(self, account_name: str, *, now: int, create_profile: bool) -> int:
        """Add an account (and optionally a first profile); return its id."""
        account_id = self.new_id()
        self._accounts[account_id] = _Account(account_id, account_name, now)
        if create_profile:
            self.create_profile(account_id, account_name, now=now)
        return account_id

    def rename_account(self, account_id: int, account_name: str) -> None:
        """Change an account's name; ``KeyError`` if unknown."""
        self._accounts[account_id].account_name = account_name
        self._version += 1

    def delete_account(self, account_id: int) -> None:
        """Remove an account and its profiles (their leads stay readable by id)."""
        acct = self._accounts.pop(account_id)
        for pid in acct.profile_ids:
            del self._profiles[pid]
        self._version += 1

    def create_profile(self, account_id: int, profile_name: str, *, now: int) -> int:
        """Add a profile to an account; return its id."""
        acct = self._accounts[account_id]
        profile_id = self.new_id()
        self._profiles[profile_id] = _Profile(profile_id, profile_name, account_id, now)
        acct.profile_ids.append(profile_id)
        self._profile_order.append(profile_id)
        return profile_id

    def rename_profile(self, profile_id: int, profile_name: str) -> None:
        """Change a profile's name; ``KeyError`` if unknown."""
        self._profiles[profile_id].profile_name = profile_name
        self._cache.clear()
        self._version += 1

    def delete_profile(self, profile_id: int) -> None:
        """Remove a profile from its account."""
        prof = self._profiles.pop(profile_id)
        self._accounts[prof.account_id].profile_ids.remove(profile_id)
        self._version += 1

    def has_profile(self, profile_id: int) -> bool:
        """Whether a profile exists."""
        return profile_id in self._profiles

    def has_account(self, account_id: int) -> bool:
        """Whether an account exists."""
        return account_id in self._accounts

    # --- leads: reading ----------------------------------------------------------------

    @property
    def version(self) -> int:
        """Bumped on every change to leads; selections are cached per version."""
        return self._version

    @property
    def max_lead_id(self) -> int:
        """The highest lead id in the dataset."""
        return self._max_id

    def __len__(self) -> int:
        return len(self._gen_ids) + len(self._custom)

    def _row(self, lead_id: int) -> int:
        ids = self._gen_ids
        i = bisect_left(ids, lead_id)
        if i < len(ids) and ids[i] == lead_id:
            return i
        return -1

    def has_lead(self, lead_id: int) -> bool:
        """Whether a lead with this id exists."""
        return lead_id in self._custom or self._row(lead_id) >= 0

    def lead_profile_id(self, lead_id: int) -> int:
        """The profile of a lead; ``KeyError`` if unknown."""
        if lead_id in self._custom:
            return int(self._custom[lead_id]["profile_id"])
        row = self._row(lead_id)
        if row < 0:
            raise KeyError(lead_id)
        return self._profile_order[self._gen_prof[row]]

    def lead_type_code(self, lead_id: int) -> str:
        """Snake-case type of a lead (``"phone_call"``...); ``KeyError`` if unknown."""
        return _TYPE_CODES[_DISPLAY_TO_CODE.get(self.wire_lead(lead_id)["lead_type"], 8)]

    def wire_lead(self, lead_id: int) -> dict[str, Any]:
        """The lead's wire dict, shared with the cache: callers must not mutate it."""
        cached = self._cache.get(lead_id)
        if cached is not None:
            self._cache.move_to_end(lead_id)
            return cached
        custom = self._custom.get(lead_id)
        if custom is not None:
            return custom
        row = self._row(lead_id)
        if row < 0:
            raise KeyError(lead_id)
        lead = self._render(row)
        over = self._overlay.get(lead_id)
        if over is not None:
            lead.update(over)
        self._cache[lead_id] = lead
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return lead

    def lead(self, lead_id: int) -> dict[str, Any]:
        """A copy of the wire dict of one lead; ``KeyError`` if unknown."""
        return copy.deepcopy(self.wire_lead(lead_id))

    def select(self, flt: LeadFilter) -> _Selection:
        """Lead ids matching ``flt``, ascending by (date_created, lead_id); cached."""
        if self._select_version != self._version:
            self._select_cache.clear()
            self._select_version = self._version
        hit = self._select_cache.get(flt)
        if hit is not None:
            self._select_cache.move_to_end(flt)
            return hit
        sel = self._select(flt)
        self._select_cache[flt] = sel
        while len(self._select_cache) > 16:
            self._select_cache.popitem(last=False)
        return sel

    def _select(self, flt: LeadFilter) -> _Selection:
        ts = self._gen_ts
        lo = 0 if flt.start_ts is None else bisect_left(ts, flt.start_ts)
        hi = len(ts) if flt.end_ts is None else bisect_right(ts, flt.end_ts)
        lo = min(lo, hi)
        ck = self._custom_keys
        clo = 0 if flt.start_ts is None else bisect_left(ck, (flt.start_ts, -1))
        chi = len(ck) if flt.end_ts is None else bisect_right(ck, (flt.end_ts, 1 << 62))
        every_profile = flt.profile_ids is None or flt.profile_ids.issuperset(self._profile_order)
        simple = every_profile and not flt.needs_columns() and not flt.text
        if simple and clo >= chi:
            return _Selection(self._gen_ids, lo, hi - lo)
        gen = self._gen_ids
        if simple:
            rows: Iterable[int] = range(lo, hi)
        else:
            rows = self._filter_rows(lo, hi, flt)
        if clo >= chi:
            return _Selection(array("q", [gen[r] for r in rows]))
        extra = [(t, lid) for t, lid in ck[clo:chi] if _dict_matches(self.wire_lead(lid), flt)]
        merged = _merge_sorted(((ts[r], gen[r]) for r in rows), extra)
        out = array("q", (lid for _, lid in merged))
        return _Selection(out)

    def _filter_rows(self, lo: int, hi: int, flt: LeadFilter) -> list[int]:
        rows: Iterable[int] = range(lo, hi)
        if flt.profile_ids is not None:
            allowed = {i for i, p in enumerate(self._profile_order) if p in flt.profile_ids}
            prof = self._gen_prof
            rows = [r for r in rows if prof[r] in allowed]
        if flt.lead_type is not None:
            types, want = self._gen_type, flt.lead_type
            rows = [r for r in rows if types[r] == want]
        mask, value = _flag_mask(flt)
        fl = self._gen_flags
        if mask:
            rows = [r for r in rows if fl[r] & mask == value]
        if flt.quotable is not None:
            q = flt.quotable
            rows = [r for r in rows if (fl[r] >> _QUOTABLE_SHIFT) & 3 == q]
        rows = list(rows)
        if flt.text:
            rows = [r for r in rows if self._text_matches(r, flt.text)]
        if self._overlay:
            # Edited leads may no longer match their columns, so judge them by their dicts.
            gen, overlay = self._gen_ids, self._overlay
            kept = [r for r in rows if gen[r] not in overlay]
            recheck = [
                r for r in self._overlay_rows(lo, hi) if _dict_matches(self.wire_lead(gen[r]), flt)
            ]
            rows = sorted({*kept, *recheck}) if recheck else kept
        return rows

    def _overlay_rows(self, lo: int, hi: int) -> list[int]:
        out = []
        for lid in self._overlay:
            r = self._row(lid)
            if lo <= r < hi:
                out.append(r)
        return out

    def _text_matches(self, row: int, text: tuple[tuple[str, str], ...]) -> bool:
        lid = self._gen_ids[row]
        if lid in self._cache:
            lead = self._cache[lid]
            return all(lead.get(k) == v for k, v in text)
        light = self._light(row)
        return all(light.get(k) == v for k, v in text)

    def iter_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        order: str = "asc",
        profile_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield lead dicts (copies) with ``start <= date_created <= end``."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        flt = self._date_filter(start, end, profile_id)
        sel = self.select(flt)
        for lid in sel.page(0, len(sel), order == "desc"):
            yield self.lead(lid)

    def count_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> int:
        """Number of leads with ``start <= date_created <= end`` (inclusive)."""
        return len(self.select(self._date_filter(start, end, profile_id)))

    def lead_ids(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> list[int]:
        """Ids of leads with ``start <= date_created <= end``, ascending by date."""
        return self.select(self._date_filter(start, end, profile_id)).all()

    def _date_filter(
        self, start: datetime | None, end: datetime | None, profile_id: int | None
    ) -> LeadFilter:
        return LeadFilter(
            start_ts=None if start is None else _epoch(start),
            end_ts=None if end is None else _epoch(end),
            profile_ids=None if profile_id is None else frozenset({profile_id}),
        )

    # --- leads: writing ----------------------------------------------------------------

    def insert_lead(self, date_created: datetime, **fields: Any) -> dict[str, Any]:
        """Insert a lead dated ``date_created`` with a new, highest lead id.

        ``fields`` override the generated values (``lead_type`` may be a display
        string or a snake value; ``profile_id`` defaults to the first profile).
        Returns a copy of the new lead's wire dict.
        """
        ts = _epoch(date_created)
        lead_type = str(fields.pop("lead_type", "web_form"))
        profile_id = int(fields.pop("profile_id", self._profile_order[0]))
        lead = self.add_lead(
            ts=ts, lead_type=lead_type, profile_id=profile_id, fields=fields, generated=True
        )
        return copy.deepcopy(lead)

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
        code = LEAD_TYPES.get(lead_type)
        type_idx = _TYPE_CODES.index(lead_type) if code else _DISPLAY_TO_CODE.get(lead_type)
        if type_idx is None:
            raise ValueError(f"unknown lead_type {lead_type!r}")
        if profile_id not in self._profiles:
            raise KeyError(profile_id)
        self._max_id += 1 + (_mix(self._salt ^ self._max_id) % 3)
        lead_id = self._max_id
        prof = self._profiles[profile_id]
        if generated:
            h = _mix(self._salt ^ lead_id ^ 0x5EED)
            flags = h & (_SPAM | _DUPLICATE | _REPEAT | _HAS_QUOTE) if h & 0xF00 == 0 else 0
            lead = self._render_parts(lead_id, ts, type_idx, profile_id, flags)
        else:
            lead = _blank_lead(lead_id, ts, type_idx, self._salt)
            lead.update(
                account_id=prof.account_id,
                account=self._accounts[prof.account_id].account_name,
                profile_id=profile_id,
                profile=prof.profile_name,
            )
        lead.update(fields)
        self._custom[lead_id] = lead
        i = bisect_right(self._custom_keys, (ts, lead_id))
        self._custom_keys.insert(i, (ts, lead_id))
        self._version += 1
        return lead

    def patch_lead(self, lead_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Add or override wire fields of a lead (even unknown ones); return a copy.

        Changing ``date_created`` or ``lead_id`` this way changes only what is
        served, not where the lead sorts.
        """
        if lead_id in self._custom:
            self._custom[lead_id].update(copy.deepcopy(dict(fields)))
        else:
            if self._row(lead_id) < 0:
                raise KeyError(lead_id)
            self._overlay.setdefault(lead_id, {}).update(copy.deepcopy(dict(fields)))
            self._cache.pop(lead_id, None)
        self._version += 1
        return self.lead(lead_id)

    # --- rendering ---------------------------------------------------------------------

    def _render(self, row: int) -> dict[str, Any]:
        return self._render_parts(
            self._gen_ids[row],
            self._gen_ts[row],
            self._gen_type[row],
            self._profile_order[self._gen_prof[row]],
            self._gen_flags[row],
        )

    def _light(self, row: int) -> dict[str, Any]:
        """The text fields the list filters compare, without rendering the whole lead."""
        lid = self._gen_ids[row]
        t = self._gen_type[row]
        pid = self._profile_order[self._gen_prof[row]]
        h1 = _mix(self._salt ^ lid)
        h2 = _mix(h1)
        nulls = h1 & 7 < 3
        contact = _contact(h1, t, nulls)
        src = _ATTRIBUTION[(h2 >> 8) % len(_ATTRIBUTION)]
        return {
            "phone_number": contact[3],
            "email_address": contact[2],
            "lead_source": src[0],
            "lead_medium": src[1],
            "lead_campaign": src[2],
            "lead_content": src[3],
            "lead_keyword": src[4],
            "user_id": _visitor(pid, h1, h2),
        }

    def _render_parts(self, lid: int, ts: int, t: int, pid: int, flags: int) -> dict[str, Any]:
        salt = self._salt
        h1 = _mix(salt ^ lid)
        h2 = _mix(h1)
        h3 = _mix(h2)
        prof = self._profiles.get(pid)
        if prof is not None:
            profile_name = prof.profile_name
            account_id = prof.account_id
            acct = self._accounts.get(account_id)
            account_name = acct.account_name if acct else ""
        else:
            profile_name, account_id, account_name = "", 0, ""
        # About 3 in 8 leads use null for empty text, the rest "": both occur live.
        nulls = h1 & 7 < 3
        empty = None if nulls else ""
        name, company, email, phone, first = _contact(h1, t, nulls)
        city, state, zip3 = _CITIES[(h1 >> 8) % len(_CITIES)]
        src = _ATTRIBUTION[(h2 >> 8) % len(_ATTRIBUTION)]
        os_, browser, device, make = _OS[(h2 >> 16) % len(_OS)]
        site = f"https://www.{('acme', 'blueridge', 'queencity')[pid % 3]}.example.com"
        page = _PAGES[(h2 >> 24) % len(_PAGES)]
        landing = _PAGES[(h2 >> 28) % len(_PAGES)]
        quotable = (flags >> _QUOTABLE_SHIFT) & 3
        quote = float((h3 & 0x3FF) * 5 + 50) if flags & _HAS_QUOTE else None
        if quote is not None and h3 & 0x400:
            quote = int(quote)
        sales = round((h3 >> 12 & 0xFFFF) / 7.0 + 20, 2) if flags & _HAS_SALES else None
        updated = ts + ((h3 >> 32) & 0xFFFF) % 600 + 5
        if quotable or quote is not None or sales is not None:
            updated += ((h3 >> 40) & 0xFFF) * 60
        score = ((h3 >> 48) & 0xF) * 10 if (h3 >> 52) & 1 else 0
        keywords = ""
        analysis: Any = []
        if (h3 >> 53) & 3 == 0:
            topic = _TOPICS[(h3 >> 55) % len(_TOPICS)]
            keywords = f"quote,{topic}" if h3 & 1 else topic
            analysis = {
                "Keyword Detection": keywords,
                "Lead Summary": f"The contact asked about {topic}, and wants a call back.",
                "Intent Detection": "Wants pricing" if h3 & 2 else "Wants an appointment",
                "Sentiment Detection": _SENTIMENTS[(h3 >> 58) % 3],
                "Topic Detection": topic,
            }
        lead: dict[str, Any] = {
            "account_id": account_id,
            "account": account_name,
            "profile_id": pid,
            "profile": profile_name,
            "lead_id": lid,
            "user_id": _visitor(pid, h1, h2),
            "lead_type": _TYPE_DISPLAY[t],
            "lead_status": "Repeat" if flags & _REPEAT else "Unique",
            "lead_score": score,
            "lead_state": "In Progress" if (h1 >> 40) & 63 == 0 else "Completed",
            "date_created": format_timestamp(ts),
            "last_updated": format_timestamp(updated),
            "quotable": _QUOTABLE_DISPLAY[quotable],
            "quote_value": quote,
            "sales_value": sales,
            "spotted_keywords": keywords,
            "lead_analysis": analysis,
            "lead_source": src[0],
            "lead_medium": src[1],
            "lead_campaign": src[2],
            "lead_content": src[3],
            "lead_keyword": src[4],
            "lead_url": site + page,
            "landing_url": f"{site}{landing}?utm_source={src[0] or ''}",
            "operating_system": os_,
            "browser": browser,
            "device_type": device,
            "device_make": make or empty,
            "ip_address": f"198.51.100.{(h1 >> 16) & 255}",
            "spam": bool(flags & _SPAM),
            "duplicate": bool(flags & _DUPLICATE),
            "notes": "Called back, left a message, will try again." if h3 & 4 else empty,
            "contact_name": name,
            "contact_company_name": company,
            "contact_email_address": email,
            "contact_phone_number": phone,
            "email_address": email,
            "phone_number": phone,
            "city": city,
            "state": state,
            "zip": f"{zip3}{(h1 >> 24) % 100:02d}",
            "country": "US",
            "additional_fields": [],
        }
        if src[5]:
            lead[src[5]] = f"{src[5][:2].upper()}-{h2 >> 20:013x}"
        if t == 0:  # Phone Call
            secs = (h3 >> 20) % 900 + 3
            answer = _ANSWER[(h2 >> 36) % len(_ANSWER)]
            rec = f"{h2 & 0xFFFFFFFFFFFF:012x}"
            base = "https://app.whatconverts.com/recording/"
            area = _AREAS[(h1 >> 44) % len(_AREAS)]
            lead.update(
                call_status=lead["lead_state"],
                phone_name=_PHONE_NAMES[(h2 >> 40) % len(_PHONE_NAMES)],
                call_duration=f"{secs} seconds",
                call_duration_seconds=secs,
                tracking_number=f"+1{area}555{(h1 >> 48) % 9000 + 1000:04d}",
                destination_number=f"+1{area}555{pid % 9000 + 1000:04d}",
                caller_number=phone,
                caller_name=name.upper() if (h1 >> 52) & 1 else "WIRELESS CALLER",
                caller_city=city,
                caller_state=state,
                caller_zip=lead["zip"],
                caller_country="US",
                answer_status=answer,
                line_type=_LINE_TYPES[(h2 >> 44) % len(_LINE_TYPES)],
                recording=f"{base}{rec}/download",
                play_recording=f"{base}{rec}/play",
                voicemail=f"{base}{rec}v/download" if answer == "Voicemail" else empty,
                play_voicemail=f"{base}{rec}v/play" if answer == "Voicemail" else empty,
                call_transcription=_transcript(h3, name, first, phone or "")
                if answer == "Answered"
                else empty,
                voicemail_transcription=(
                    f"Hi, this is {first}, please call me back at {phone}, thanks."
                    if answer == "Voicemail"
                    else empty
                ),
            )
        elif t == 1:  # Web Form
            form = _FORM_NAMES[(h2 >> 36) % len(_FORM_NAMES)]
            lead["form_name"] = form
            if (h2 >> 40) & 7:
                fields: dict[str, Any] = {
                    "Name:": name,
                    "Email": email,
                    "Message": _MESSAGES[(h3 >> 20) % len(_MESSAGES)],
                    "How did you hear about us?": 'A friend, "Bob", told me',
                }
                if (h2 >> 44) & 1:
                    fields["Budget"] = "$1,000 - $5,000"
                lead["additional_fields"] = fields
                lead["mapped_fields"] = {"Contact Name": name, "Email": email}
        elif t in (2, 3, 4):  # Chat, Text Message, Email
            lead["message"] = _MESSAGES[(h3 >> 20) % len(_MESSAGES)] or empty
            if t == 3:
                lead["tracking_number"] = f"+1{_AREAS[pid % len(_AREAS)]}5550100"
                lead["caller_number"] = phone
            elif t == 4:
                lead["sender_name"] = name
                lead["subject"] = _EMAIL_SUBJECTS[(h3 >> 24) % len(_EMAIL_SUBJECTS)]
            if t == 2 and (h2 >> 40) & 1:
                lead["additional_fields"] = {"Chat Agent": "Dana", "Rating": "5"}
        elif t == 6:  # Event
            cat, act, lab = _EVENT_CATEGORIES[(h3 >> 20) & 1]
            lead.update(category=cat, action=act, label=lab)
        elif t == 7:  # Transaction: the names of the official transaction webhook
            lead.update(
                transaction_id=f"{lid % 10**8:08d}",
                transaction_tax=round(((h3 >> 20) & 0xFFF) / 100, 2),
                transaction_shipping=round(((h3 >> 32) & 0x7FF) / 100, 2),
                field_mappings={"Contact Person": name, **({"Email": email} if email else {})},
            )
        return lead


# --- module helpers ---------------------------------------------------------------------


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


def _spread_timestamps(n: int, start: int, end: int, rng: random.Random) -> list[int]:
    """``n`` sorted timestamps in [start, end), denser in some weeks than others."""
    if n == 0:
        return []
    week = 7 * 86_400
    buckets = max(1, math.ceil((end - start) / week))
    phase = rng.random() * 2 * math.pi
    weights = []
    for b in range(buckets):
        seasonal = 1.0 + 0.5 * math.sin(2 * math.pi * b / 52.0 + phase)
        growth = 0.5 + b / buckets
        spike = 3.0 if rng.random() < 0.08 else 1.0
        weights.append(seasonal * growth * spike)
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(e) for e in exact]
    short = n - sum(counts)
    by_remainder = sorted(range(buckets), key=lambda b: exact[b] - counts[b], reverse=True)
    for b in by_remainder[:short]:
        counts[b] += 1
    out: list[int] = []
    randrange = rng.randrange
    for b, c in enumerate(counts):
        if not c:
            continue
        lo = start + b * week
        span = min(week, end - lo)
        out.extend(sorted([lo + randrange(span) for _ in range(c)]))
    return out


def _contact(h1: int, t: int, nulls: bool) -> tuple[str, str | None, str | None, str | None, str]:
    """(name, company, email, phone, first name) of a lead's contact."""
    c = (h1 >> 12) % 200_000
    first = _FIRST[c % len(_FIRST)]
    last = _LAST[(c // len(_FIRST)) % len(_LAST)]
    name = f"{first} {last}"
    company = _COMPANIES[(c >> 3) % len(_COMPANIES)]
    local = f"{first}.{last}".lower().replace("'", "")
    email = f"{local}{c % 97}@{_DOMAINS[c % len(_DOMAINS)]}"
    phone = f"+1{_AREAS[c % len(_AREAS)]}555{(c // len(_AREAS)) % 10_000:04d}"
    # Calls and texts always know the number; forms and emails usually know the address.
    has_phone = t in (0, 3) or (h1 >> 36) & 3 != 0
    has_email = t in (1, 4) or (h1 >> 38) & 3 == 0
    empty = None if nulls else ""
    return (
        name if t != 0 or (h1 >> 39) & 1 else "",
        company or empty,
        email if has_email else empty,
        phone if has_phone else empty,
        first,
    )


def _visitor(pid: int, h1: int, h2: int) -> str:
    u = f"{h1 ^ h2:016x}{h2:016x}"
    return f"{pid}-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"


def _transcript(h3: int, name: str, first: str, phone: str) -> str:
    n = 4 + (h3 >> 60) % 5
    words = {
        "agent": "Dana",
        "topic": _TOPICS[(h3 >> 16) % len(_TOPICS)],
        "name": name,
        "first": first,
        "initial": first[:1],
        "phone": phone,
    }
    return "\n".join(line.format(**words) for line in _TRANSCRIPT_LINES[:n])


def _blank_lead(lead_id: int, ts: int, t: int, salt: int) -> dict[str, Any]:
    """A lead as the API would hold it right after a create with no optional fields."""
    h = _mix(salt ^ lead_id)
    stamp = format_timestamp(ts)
    lead: dict[str, Any] = {
        "account_id": 0,
        "account": "",
        "profile_id": 0,
        "profile": "",
        "lead_id": lead_id,
        "user_id": "",
        "lead_type": _TYPE_DISPLAY[t],
        "lead_status": "Unique",
        "lead_score": 0,
        "lead_state": "Completed",
        "date_created": stamp,
        "last_updated": stamp,
        "quotable": "Not Set",
        "quote_value": None,
        "sales_value": None,
        "spotted_keywords": "",
        "lead_analysis": [],
        "lead_source": None,
        "lead_medium": None,
        "lead_campaign": None,
        "lead_content": None,
        "lead_keyword": None,
        "lead_url": "",
        "landing_url": "",
        "operating_system": "",
        "browser": "",
        "device_type": "",
        "device_make": "",
        "ip_address": "",
        "spam": False,
        "duplicate": False,
        "notes": "",
        "contact_name": "",
        "contact_company_name": "",
        "contact_email_address": "",
        "contact_phone_number": "",
        "email_address": "",
        "phone_number": "",
        "city": "",
        "state": "",
        "zip": "",
        "country": "",
        "additional_fields": [],
    }
    if t == 0:
        rec = f"{h & 0xFFFFFFFFFFFF:012x}"
        base = "https://app.whatconverts.com/recording/"
        lead.update(
            call_status="Completed",
            phone_name="",
            call_duration="0 seconds",
            call_duration_seconds=0,
            tracking_number="",
            destination_number="",
            caller_number="",
            caller_name="",
            caller_city="",
            caller_state="",
            caller_zip="",
            caller_country="",
            answer_status="Answered",
            line_type="",
            recording=f"{base}{rec}/download",
            play_recording=f"{base}{rec}/play",
            voicemail="",
            play_voicemail="",
            call_transcription="",
            voicemail_transcription="",
        )
    elif t == 1:
        lead["form_name"] = ""
    elif t in (2, 3, 4):
        lead["message"] = ""
    return lead


def _flag_mask(flt: LeadFilter) -> tuple[int, int]:
    mask = value = 0
    if flt.spam_only:
        mask |= _SPAM
        value |= _SPAM
    elif flt.spam_hidden:
        mask |= _SPAM
    if flt.duplicate_only:
        mask |= _DUPLICATE
        value |= _DUPLICATE
    if flt.repeat is not None:
        mask |= _REPEAT
        value |= _REPEAT if flt.repeat else 0
    if flt.has_quote is not None:
        mask |= _HAS_QUOTE
        value |= _HAS_QUOTE if flt.has_quote else 0
    if flt.has_sales is not None:
        mask |= _HAS_SALES
        value |= _HAS_SALES if flt.has_sales else 0
    return mask, value


def _dict_matches(lead: Mapping[str, Any], flt: LeadFilter) -> bool:
    """The reference semantics of every lead filter, applied to a wire dict."""
    ts = _parse_wire_ts(lead.get("date_created"))
    if flt.start_ts is not None and (ts is None or ts < flt.start_ts):
        return False
    if flt.end_ts is not None and (ts is None or ts > flt.end_ts):
        return False
    if flt.profile_ids is not None and lead.get("profile_id") not in flt.profile_ids:
        return False
    if flt.lead_type is not None and lead.get("lead_type") != _TYPE_DISPLAY[flt.lead_type]:
        return False
    if flt.repeat is not None and (lead.get("lead_status") == "Repeat") != flt.repeat:
        return False
    if flt.quotable is not None and lead.get("quotable") != _QUOTABLE_DISPLAY[flt.quotable]:
        return False
    if flt.has_quote is not None and (lead.get("quote_value") is not None) != flt.has_quote:
        return False
    if flt.has_sales is not None and (lead.get("sales_value") is not None) != flt.has_sales:
        return False
    if flt.spam_only and lead.get("spam") is not True:
        return False
    if flt.spam_hidden and not flt.spam_only and lead.get("spam") is True:
        return False
    if flt.duplicate_only and lead.get("duplicate") is not True:
        return False
    return all(lead.get(k) == v for k, v in flt.text)


def _parse_wire_ts(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return math.floor(dt.timestamp())


def _merge_sorted(
    a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    return heapq.merge(a, b)


# --- inbound Endpoints (CSV/JSON rows → lead fields) --------------------------------------

#: Endpoint column → lead field, as the simulator's inbound Endpoints read them. ``Profile ID``,
#: ``Date``, ``Lead ID``, ``Lead Type`` and ``[additional_field]Name`` columns are handled apart.
ENDPOINT_COLUMNS: Final[dict[str, str]] = {
    "Email Address": "email_address",
    "Phone Number": "phone_number",
    "Source": "lead_source",
    "Medium": "lead_medium",
    "Campaign": "lead_campaign",
    "Content": "lead_content",
    "Keyword": "lead_keyword",
    "Quote Value": "quote_value",
    "Sales Value": "sales_value",
    "Spotted Keywords": "spotted_keywords",
    "Lead Score": "lead_score",
    "Quotable": "quotable",
    "IP": "ip_address",
    "GCLID": "gclid",
    "MSCLKID": "msclkid",
    "FBCLID": "facebook_click_id",
    "FBPID": "facebook_browser_id",
    "Lead Page": "lead_url",
    "Landing Page": "landing_url",
    "Operating System": "operating_system",
    "Browser": "browser",
    "Device Type": "device_type",
    "Device Make": "device_make",
    "Number Name": "phone_name",
    "Tracking Number": "tracking_number",
    "Destination Number": "destination_number",
    "Caller Name": "caller_name",
    "Caller City": "caller_city",
    "Caller Zip": "caller_zip",
    "Caller State": "caller_state",
    "Caller Country": "caller_country",
    "Duration (Seconds)": "call_duration_seconds",
    "Answer Status": "answer_status",
    "Line Type": "line_type",
    "Call Transcription": "call_transcription",
    "Voicemail Transcription": "voicemail_transcription",
    "Message": "message",
    "Form Name": "form_name",
    "Category": "category",
    "Action": "action",
    "Label": "label",
    "Order ID": "transaction_id",
    "Tax": "transaction_tax",
    "Shipping": "transaction_shipping",
    "Sender Name": "sender_name",
    "Subject": "subject",
}
ENDPOINT_ADDITIONAL_PREFIX: Final = "[additional_field]"
_ENDPOINT_SPECIAL: Final = ("Profile ID", "Date", "Lead ID", "Lead Type")
_ENDPOINT_MONEY: Final = frozenset(
    {"quote_value", "sales_value", "transaction_tax", "transaction_shipping"}
)
_ENDPOINT_INTS: Final = frozenset({"lead_score", "call_duration_seconds"})


@dataclass
class EndpointRow:
    """One parsed Endpoint row: where it goes and the lead fields it sets."""

    profile_id: int
    date_created: int
    lead_id: int | None
    lead_type: str | None
    fields: dict[str, Any]


def check_endpoint_columns(columns: Sequence[str]) -> None:
    """Raise ``ValueError`` for a header an Endpoint would refuse (missing, unknown, repeated)."""
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ValueError(f"Duplicate column: {column}.")
        seen.add(column)
        known = column in ENDPOINT_COLUMNS or column in _ENDPOINT_SPECIAL
        custom = column.startswith(ENDPOINT_ADDITIONAL_PREFIX) and column != (
            ENDPOINT_ADDITIONAL_PREFIX
        )
        if not known and not custom:
            raise ValueError(f"Unknown column: {column}.")
    for required in ("Profile ID", "Date"):
        if required not in seen:
            raise ValueError(f"Missing required column: {required}.")


def _cell_text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{column} must be text or a number.")
    text = value if isinstance(value, str) else repr(value)
    return None if text == "" else text


def _cell_int(text: str, column: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{column} must be an integer.") from None
    if value < minimum:
        raise ValueError(f"{column} must be >= {minimum}.")
    return value


def _cell_money(text: str, column: str) -> int | float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{column} must be a non-negative number.")
    return int(value) if value.is_integer() and "." not in text else value


def _cell_date(text: str) -> int:
    for layout in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00"):
        try:
            moment = datetime.strptime(text.strip(), layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return math.floor(moment.timestamp())
    raise ValueError("Date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).")


def parse_endpoint_row(row: Mapping[str, Any]) -> EndpointRow:
    """Read one Endpoint row (CSV cells or JSON values) into lead fields.

    Empty cells and ``null`` are "not given". Raises ``ValueError`` with a short message.

    >>> r = parse_endpoint_row({"Profile ID": "80022", "Date": "2026-03-10",
    ...                         "Sales Value": "1200", "[additional_field]Plan": "Pro"})
    >>> r.profile_id, r.fields["sales_value"], r.fields["additional_fields"]
    (80022, 1200, {'Plan': 'Pro'})
    """
    cells = {column: _cell_text(value, column) for column, value in row.items()}
    check_endpoint_columns(list(cells))
    profile = cells.get("Profile ID")
    if profile is None:
        raise ValueError("Profile ID is required.")
    stamp = cells.get("Date")
    if stamp is None:
        raise ValueError("Date is required.")
    lead_id_text = cells.get("Lead ID")
    type_text = cells.get("Lead Type")
    lead_type: str | None = None
    if type_text is not None:
        wanted = type_text.strip()
        if wanted in LEAD_TYPES:
            lead_type = wanted
        elif wanted in _DISPLAY_TO_CODE:
            lead_type = _TYPE_CODES[_DISPLAY_TO_CODE[wanted]]
        else:
            raise ValueError(f"Invalid Lead Type: {type_text}.")
    fields: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for column, text in cells.items():
        if text is None or column in _ENDPOINT_SPECIAL:
            continue
        if column.startswith(ENDPOINT_ADDITIONAL_PREFIX):
            extra[column[len(ENDPOINT_ADDITIONAL_PREFIX) :]] = text
            continue
        name = ENDPOINT_COLUMNS[column]
        if name in _ENDPOINT_MONEY:
            fields[name] = _cell_money(text, column)
        elif name in _ENDPOINT_INTS:
            fields[name] = _cell_int(text, column, 0)
        elif name == "quotable":
            key = text.strip().lower().replace(" ", "_")
            if key not in QUOTABLE_VALUES:
                raise ValueError(f"Invalid Quotable: {text}.")
            fields[name] = QUOTABLE_VALUES[key]
        else:
            fields[name] = text
    if "email_address" in fields:
        fields["contact_email_address"] = fields["email_address"]
    if "phone_number" in fields:
        fields["contact_phone_number"] = fields["phone_number"]
    if "call_duration_seconds" in fields:
        fields["call_duration"] = f"{fields['call_duration_seconds']} seconds"
    if extra:
        fields["additional_fields"] = extra
    return EndpointRow(
        profile_id=_cell_int(profile, "Profile ID", 1),
        date_created=_cell_date(stamp),
        lead_id=None if lead_id_text is None else _cell_int(lead_id_text, "Lead ID", 1),
        lead_type=lead_type,
        fields=fields,
    )
