"""Typed, immutable records for what the WhatConverts API returns.

Every model is a frozen, slotted attrs class. Known wire fields are typed attributes;
nothing the API sends is thrown away:

* keys the model does not know land in ``extra`` and are written back by ``to_dict()``;
* ``absent_keys`` remembers which known keys were missing from the wire object, so
  ``to_dict()`` leaves them out instead of inventing ``null``;
* where a wire value cannot be rebuilt exactly from its typed field (``"lead_analysis": []``
  read as ``{}``, a timestamp written with ``+00:00``, a number where a string was documented),
  the original value is kept in ``wire_originals`` and wins in ``to_dict()`` for as long as
  the typed field still holds the value read from it. ``extra`` holds only unknown keys.

So ``Lead.from_dict(d).to_dict() == d`` for every wire lead ``d``, which is what lossless
exports rely on. Two records are equal when they hold the same data and would write the same
wire object.

>>> lead = Lead.from_dict({"lead_id": 7, "lead_type": "Web Form", "lead_analysis": []})
>>> lead.lead_type is LeadType.WEB_FORM, lead.lead_analysis, lead.contact_name
(True, {}, None)
>>> lead.to_dict()
{'lead_id': 7, 'lead_type': 'Web Form', 'lead_analysis': []}
"""

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import attrs

from .vocab import LeadStatus, LeadType, Quotable

__all__ = [
    "Account",
    "Lead",
    "LeadStatus",
    "LeadType",
    "Page",
    "Profile",
    "Quotable",
    "Role",
    "TrackingForm",
    "TrackingNumber",
    "User",
]

_M = TypeVar("_M")
T = TypeVar("T")

_NO_KEYS: frozenset[str] = frozenset()


class _WireRecord:
    """``from_dict``/``to_dict`` shared by every model; the conversion lives in ``convert``."""

    __slots__ = ()

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build the record from one wire object (a ``dict`` from the JSON response)."""
        from whatconverts_async import convert

        return convert.structure(data, cls)

    def __repr__(self) -> str:
        # Records have up to ~90 fields, mostly empty; show only what carries data.
        shown = []
        record: Any = type(self)
        for field in attrs.fields(record):
            value = getattr(self, field.name)
            if field.name in ("absent_keys", "wire_originals") or value is None:
                continue
            if isinstance(value, (dict, list)) and not value:
                continue
            shown.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def to_dict(self) -> dict[str, Any]:
        """The wire object again: known fields, then ``extra``, without ``absent_keys``."""
        from whatconverts_async import convert

        wire: dict[str, Any] = convert.unstructure(self)
        return wire


@attrs.frozen(kw_only=True, repr=False)
class Lead(_WireRecord):
    """One lead (call, form, chat, transaction, ...), as ``GET leads`` and webhooks send it.

    Typing rules:

    * ids are ``int``; ``user_id`` is the visitor id string (``"<profile_id>-<uuid>"``);
    * ``date_created``/``last_updated`` are aware UTC ``datetime``;
    * money (``quote_value``, ``sales_value``, ``tax``, ``shipping``) is ``Decimal`` so sums
      of amounts stay exact (binary floats do not); an integer on the wire comes back as an
      integer from :meth:`to_dict`, a fraction as a float;
    * ``lead_type``/``lead_status``/``quotable`` are enum members when the display string is
      known, else the raw ``str`` (new values from the API never break parsing);
    * ``lead_analysis``/``additional_fields``/``mapped_fields`` are dicts, ``{}`` when the API
      sends ``[]``; values are kept as sent (strings in every payload seen so far);
    * other text is ``str | None``; ``""`` and ``None`` stay distinct, as on the wire;
    * ``customer_journey`` is kept as decoded JSON (its shape is undocumented).

    A lead read from the API writes back exactly what was read (see the module docstring);
    a lead built by hand has no ``absent_keys`` and writes every known field, timestamps as
    ``YYYY-MM-DDTHH:MM:SSZ``.

    >>> lead = Lead.from_dict(
    ...     {"lead_id": 1, "quote_value": 251, "date_created": "2025-06-01T14:00:00Z"}
    ... )
    >>> lead.quote_value, lead.date_created.isoformat()
    (Decimal('251'), '2025-06-01T14:00:00+00:00')
    >>> lead.to_dict()["quote_value"]
    251
    """

    lead_id: int
    account_id: int | None = None
    account: str | None = None
    profile_id: int | None = None
    profile: str | None = None
    user_id: str | None = None
    lead_type: LeadType | str | None = None
    lead_status: LeadStatus | str | None = None
    lead_score: int | None = None
    lead_state: str | None = None
    date_created: datetime | None = None
    last_updated: datetime | None = None
    quotable: Quotable | str | None = None
    quote_value: Decimal | None = None
    sales_value: Decimal | None = None
    spotted_keywords: str | None = None
    lead_analysis: dict[str, Any] = attrs.field(factory=dict)
    lead_source: str | None = None
    lead_medium: str | None = None
    lead_campaign: str | None = None
    lead_content: str | None = None
    lead_keyword: str | None = None
    lead_url: str | None = None
    landing_url: str | None = None
    operating_system: str | None = None
    browser: str | None = None
    device_type: str | None = None
    device_make: str | None = None
    ip_address: str | None = None
    spam: bool | None = None
    duplicate: bool | None = None
    notes: str | None = None
    contact_name: str | None = None
    contact_company_name: str | None = None
    contact_email_address: str | None = None
    contact_phone_number: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    additional_fields: dict[str, Any] = attrs.field(factory=dict)
    mapped_fields: dict[str, Any] = attrs.field(factory=dict)
    customer_journey: Any = None
    # click and integration ids
    gclid: str | None = None
    msclkid: str | None = None
    facebook_click_id: str | None = None
    facebook_browser_id: str | None = None
    google_analytics_client_id: str | None = None
    hubspot_visitor_id: str | None = None
    roistat_visit_id: str | None = None
    salesforce_user_id: str | None = None
    unbounce_page_id: str | None = None
    unbounce_variant_id: str | None = None
    unbounce_visitor_id: str | None = None
    vwo_account_id: str | None = None
    vwo_experiment_id: str | None = None
    vwo_variant_id: str | None = None
    vwo_user_id: str | None = None
    # phone calls
    call_status: str | None = None
    phone_name: str | None = None
    call_duration: str | None = None
    call_duration_seconds: int | None = None
    tracking_number: str | None = None
    destination_number: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    caller_city: str | None = None
    caller_state: str | None = None
    caller_zip: str | None = None
    caller_country: str | None = None
    answer_status: str | None = None
    line_type: str | None = None
    recording: str | None = None
    play_recording: str | None = None
    voicemail: str | None = None
    play_voicemail: str | None = None
    call_transcription: str | None = None
    voicemail_transcription: str | None = None
    # other lead types
    form_name: str | None = None
    message: str | None = None
    order_id: str | None = None
    tax: Decimal | None = None
    shipping: Decimal | None = None
    category: str | None = None
    action: str | None = None
    label: str | None = None
    sender_name: str | None = None
    subject: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    """Wire keys this model does not know, plus originals of values that need them to round-trip."""
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Known keys that were missing from the wire object; :meth:`to_dict` leaves them out."""


@attrs.frozen(kw_only=True, repr=False)
class Profile(_WireRecord):
    """A profile (one tracked site or business) inside an account.

    ``account_id`` is not part of the API's profile object; it is filled only when a response
    carries it.

    >>> Profile.from_dict({"profile_id": 80022, "profile_name": "Main site"}).profile_name
    'Main site'
    """

    profile_id: int
    profile_name: str | None = None
    date_created: datetime | None = None
    account_id: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class Account(_WireRecord):
    """An account under a master (agency) account, with its profiles.

    >>> acct = Account.from_dict({"account_id": 70011, "account_name": "Acme",
    ...                           "profiles": [{"profile_id": 80022, "profile_name": "Main"}]})
    >>> acct.profiles[0].profile_id
    80022
    """

    account_id: int
    account_name: str | None = None
    date_created: datetime | None = None
    profiles: list[Profile] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class User(_WireRecord):
    """A user of the master account (``users`` resource), not a lead's visitor id.

    >>> User.from_dict({"user_id": 5, "email": "a@example.com", "pending_activation": False}).email
    'a@example.com'
    """

    user_id: int
    user_type: str | None = None
    email: str | None = None
    pending_activation: bool | None = None
    role_id: int | None = None
    role_name: str | None = None
    date_created: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class Role(_WireRecord):
    """A permission role (``roles`` resource).

    >>> Role.from_dict({"role_id": 501, "role_type": "master_account_role",
    ...                 "role_name": "Administrator"}).role_name
    'Administrator'
    """

    role_id: int
    role_type: str | None = None
    role_name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class TrackingNumber(_WireRecord):
    """A tracking phone number (``tracking/numbers``).

    Numbers are strings (E.164); a number sent as a JSON number is read as its digits and
    written back as a number.

    >>> number = TrackingNumber.from_dict({"phone_number_id": 3, "tracking_number": 17045550100})
    >>> number.tracking_number, number.to_dict()["tracking_number"]
    ('17045550100', 17045550100)
    """

    phone_number_id: int
    account_id: int | None = None
    profile_id: int | None = None
    profile: str | None = None
    phone_name: str | None = None
    tracking_number: str | None = None
    tracking_number_iso_country: str | None = None
    destination_number: str | None = None
    destination_number_iso_country: str | None = None
    swap_number: str | None = None
    call_flow: str | None = None
    trigger: str | None = None
    source: str | None = None
    medium: str | None = None
    last_used: datetime | None = None
    call_recording: bool | None = None
    voice: bool | None = None
    messaging: bool | None = None
    pending_activation: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True, repr=False)
class TrackingForm(_WireRecord):
    """A tracked web form (``tracking/forms``).

    >>> TrackingForm.from_dict({"form_id": 9, "form_name": "Contact"}).form_name
    'Contact'
    """

    form_id: int
    form_name: str | None = None
    attribute_type: str | None = None
    attribute_type_value: str | None = None
    submit_attribute_type: str | None = None
    submit_attribute_type_value: str | None = None
    profile: str | None = None
    profile_id: int | None = None
    account_id: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    absent_keys: frozenset[str] = attrs.field(default=_NO_KEYS, repr=False)
    wire_originals: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list response: the items plus the envelope's counters.

    ``extra`` keeps envelope keys other than the five documented ones.

    >>> page = Page(items=[1, 2], page_number=1, per_page=2, total_pages=3, total_items=5)
    >>> len(page), list(page), page.has_next
    (2, [1, 2], True)
    """

    items: list[T]
    page_number: int
    per_page: int
    total_pages: int
    total_items: int
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def has_next(self) -> bool:
        """Whether a later page exists (``page_number < total_pages``)."""
        return self.page_number < self.total_pages

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
