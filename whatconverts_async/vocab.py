"""The API's fixed vocabulary, defined once: enums, the lead-list filters, and limits.

Everything that checks an argument (:mod:`~whatconverts_async.params`), plans a scan
(:mod:`~whatconverts_async.scan`) or builds CLI flags reads these tables, so a filter or a
limit the API adds is added here and nowhere else.

>>> LEAD_FILTERS["lead_status"].allowed
('unique', 'repeat')
>>> [f.name for f in LEAD_FILTERS.values() if f.agency_only]
['account_id', 'profile_id']
"""

from __future__ import annotations

import enum
import re
import sys
from datetime import timedelta
from typing import Any, Literal, TypeVar

import attrs

if sys.version_info >= (3, 11):
    from typing import TypedDict
else:  # pragma: no cover - Python 3.10: Unpack (PEP 692) needs typing_extensions' TypedDict
    from typing_extensions import TypedDict

__all__ = [
    "AGENCY_ONLY_RESOURCES",
    "LEAD_FILTERS",
    "LEAD_STATUSES",
    "LEAD_TYPES",
    "MAX_ID",
    "MAX_LEADS_PER_PAGE",
    "MAX_LIST_PER_PAGE",
    "MAX_WINDOW",
    "ORDERS",
    "PRESENCE",
    "QUOTABLE",
    "FilterSpec",
    "LeadFilters",
    "LeadStatus",
    "LeadType",
    "Quotable",
]

MAX_WINDOW = timedelta(days=400)
"""The widest ``start_date``..``end_date`` span one lead-list request may ask for."""
MAX_LEADS_PER_PAGE = 2500
"""The largest ``leads_per_page``."""
MAX_LIST_PER_PAGE = 250
"""The largest page of every other list (accounts, profiles, users, roles, tracking)."""

MAX_ID = 2**63 - 1
"""Largest id accepted for a lead, account, profile or user: a signed 64-bit integer, the
widest id column a database (or the mirror) can hold. Larger values are refused before the wire
and in webhook bodies."""

ORDERS = ("asc", "desc")

AGENCY_ONLY_RESOURCES = ("accounts", "users", "roles")
"""First path segments of the resources only a master (agency) key may use (profiles
live under ``accounts/``); a profile key is refused there."""

_E = TypeVar("_E", bound="_ApiEnum")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def normalise(value: str) -> str:
    """The snake form of a display or filter value (``"Not Set"`` → ``"not_set"``)."""
    return value.strip().lower().replace(" ", "_").replace("-", "_")


class _ApiEnum(str, enum.Enum):
    """A fixed vocabulary: responses carry the display string, filters the snake form."""

    def __str__(self) -> str:
        # Python 3.11 changed str() of mixed-in enums; keep it the display string everywhere.
        return str(self.value)

    @property
    def filter_value(self) -> str:
        """The lower-case snake form used in request parameters (``"Not Set"`` → ``"not_set"``)."""
        return normalise(self.value)

    @classmethod
    def from_filter(cls: type[_E], value: str | _E) -> _E:
        """Read a member from its snake value, its display string or the member itself.

        Raises ``ValueError`` naming the allowed snake values when ``value`` is none of them.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if member.filter_value == normalise(value):
                    return member
        allowed = ", ".join(member.filter_value for member in cls)
        raise ValueError(f"{_snake(cls.__name__)} must be one of {allowed}, got {value!r}")


class LeadType(_ApiEnum):
    """The kind of a lead.

    Values are the display strings found in responses; :attr:`filter_value` gives the form
    used in filters and creates. Responses may carry a type this list does not know yet: such a
    value is kept as a plain ``str`` on :attr:`Lead.lead_type` rather than rejected.

    >>> LeadType.PHONE_CALL == "Phone Call", LeadType.PHONE_CALL.filter_value
    (True, 'phone_call')
    >>> LeadType.from_filter("web_form") is LeadType.from_filter("Web Form") is LeadType.WEB_FORM
    True
    """

    PHONE_CALL = "Phone Call"
    WEB_FORM = "Web Form"
    CHAT = "Chat"
    TEXT_MESSAGE = "Text Message"
    EMAIL = "Email"
    APPOINTMENT = "Appointment"
    EVENT = "Event"
    TRANSACTION = "Transaction"
    OTHER = "Other"


class LeadStatus(_ApiEnum):
    """Whether a lead is the first from its contact (``Unique``) or a ``Repeat``.

    >>> LeadStatus.from_filter("repeat") == "Repeat"
    True
    """

    UNIQUE = "Unique"
    REPEAT = "Repeat"


class Quotable(_ApiEnum):
    """A lead's qualification state.

    >>> Quotable.NOT_SET == "Not Set", Quotable.from_filter("not_set") is Quotable.NOT_SET
    (True, True)
    """

    YES = "Yes"
    NO = "No"
    PENDING = "Pending"
    NOT_SET = "Not Set"


LEAD_TYPES: tuple[str, ...] = tuple(member.filter_value for member in LeadType)
LEAD_STATUSES: tuple[str, ...] = tuple(member.filter_value for member in LeadStatus)
QUOTABLE: tuple[str, ...] = tuple(member.filter_value for member in Quotable)
PRESENCE = ("has_value", "no_value")

FilterKind = Literal["choice", "text", "bool", "id"]


@attrs.frozen
class FilterSpec:
    """One documented filter of the lead list.

    ``kind`` is ``"choice"`` (one of ``allowed``), ``"text"``, ``"bool"`` or ``"id"`` (a
    positive integer); ``agency_only`` filters need a master (agency) key.
    """

    name: str
    kind: FilterKind = attrs.field(validator=attrs.validators.in_(("choice", "text", "bool", "id")))
    help: str
    allowed: tuple[str, ...] = attrs.field(default=())
    agency_only: bool = False

    @allowed.validator
    def _choices_only_for_choice(self, _: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
        if (self.kind == "choice") != bool(value):
            raise ValueError(f"{self.name}: allowed values are for choice filters, and needed")


def _table(*specs: FilterSpec) -> dict[str, FilterSpec]:
    return {spec.name: spec for spec in specs}


LEAD_FILTERS: dict[str, FilterSpec] = _table(
    FilterSpec("lead_type", "choice", "the kind of lead", LEAD_TYPES),
    FilterSpec("lead_status", "choice", "first lead of a contact or a repeat", LEAD_STATUSES),
    FilterSpec("quotable", "choice", "qualification state", QUOTABLE),
    FilterSpec("quote_value", "choice", "whether a quote value is set", PRESENCE),
    FilterSpec("sales_value", "choice", "whether a sales value is set", PRESENCE),
    FilterSpec("phone_number", "text", "contact phone number, E.164 (+17045551234)"),
    FilterSpec("email_address", "text", "contact email address"),
    FilterSpec("user_id", "text", "visitor id"),
    FilterSpec("lead_source", "text", "exact attribution source"),
    FilterSpec("lead_medium", "text", "exact attribution medium"),
    FilterSpec("lead_campaign", "text", "exact attribution campaign"),
    FilterSpec("lead_content", "text", "exact attribution content"),
    FilterSpec("lead_keyword", "text", "exact attribution keyword"),
    FilterSpec("spam", "bool", "only spam leads"),
    FilterSpec("duplicate", "bool", "only duplicate leads"),
    FilterSpec("customer_journey", "bool", "include the customer journey (Elite plans)"),
    FilterSpec("account_id", "id", "master key only", agency_only=True),
    FilterSpec("profile_id", "id", "master key only", agency_only=True),
)
"""Every filter the lead list documents, by name, in the order of the API reference."""


class LeadFilters(TypedDict, total=False):
    """The keyword filters of the lead list, for type checkers and editors: the methods
    that take them (``wc.leads.list``, ``iterate``, ``iterate_pages``, ``plan_scan``) are
    typed ``**filters: Unpack[LeadFilters]``, so a misspelt filter fails ``mypy`` and
    editors complete the names. Kept equal to :data:`LEAD_FILTERS` by a test.

    Choice filters take the enum or its filter/display string (``"phone_call"``,
    ``"Phone Call"``); text filters a non-empty string; ``spam``/``duplicate`` only
    ``True``; ``account_id``/``profile_id`` (master key) an id. ``None`` means "not
    filtered". Values are checked when the call is made
    (:class:`~whatconverts_async.errors.InvalidParameterError` naming the filter).
    """

    lead_type: LeadType | str | None
    lead_status: LeadStatus | str | None
    quotable: Quotable | str | None
    quote_value: Literal["has_value", "no_value"] | None
    sales_value: Literal["has_value", "no_value"] | None
    phone_number: str | None
    email_address: str | None
    user_id: str | None
    lead_source: str | None
    lead_medium: str | None
    lead_campaign: str | None
    lead_content: str | None
    lead_keyword: str | None
    spam: bool | None
    duplicate: bool | None
    customer_journey: bool | None
    account_id: int | None
    profile_id: int | None
