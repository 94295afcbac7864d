"""Sending leads into WhatConverts through an Endpoint (offline conversions, CRM sales, ...).

An Endpoint is set up per profile in the WhatConverts app (Tracking → Integrations →
Automations → Endpoints). WhatConverts generates an **Endpoint URL**, which is the only
credential: anyone holding it can add leads. :class:`EndpointClient` POSTs batches of
:class:`OfflineLead` rows to it as CSV (the documented template) or JSON.

Example::

    from datetime import date
    from decimal import Decimal
    from whatconverts_async.endpoints import EndpointClient, OfflineLead

    async with EndpointClient(os.environ["WHATCONVERTS_ENDPOINT_URL"]) as ep:
        result = await ep.send([
            OfflineLead(profile_id=80022, date=date(2026, 3, 10), email_address="a@example.com",
                        sales_value=Decimal("1200"), additional_fields={"Plan": "Pro"}),
        ])
        print(result.status, result.rows)

What is documented and what is assumed:

* CSV columns (``Profile ID`` and ``Date`` mandatory, the optional columns, custom fields as
  ``[additional_field]Name``) are documented. ``Lead Type`` is not in the documented list; it
  is sent only when you set :attr:`OfflineLead.lead_type` (the Endpoint's rules otherwise
  apply their default lead type).
* The JSON template is not public: this module sends an array of objects keyed by the same
  column names as the CSV header. Check it against the template your Endpoint offers for
  download before relying on ``format="json"``.
* The method (POST with the file as the raw body), the response and batch limits are not
  documented either; any 2xx answer counts as accepted.

Endpoints are not API requests: no daily budget is spent and no API key is used. Failures
are retried with the client's :class:`~whatconverts_async.retry.RetryPolicy`, but a POST
that may have reached WhatConverts is never repeated (rows would be added twice): only a
connection that could not be opened, a 429, and a 503 (the server refused to handle the
request) are retried; a dropped connection after sending, a timeout while waiting for the
answer, and 500/502/504 raise at once.

The Endpoint URL is never logged or shown in full: ``repr()``, errors and log lines show only
``scheme://host/…``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, cast

import attrs
import yarl

from ._session import ClientSession, ConnectionConfig, SessionOwner, option_changes
from ._transport import Answer, Transport, decode_lenient
from ._validators import one_of
from .client import _derived_options
from .errors import InvalidParameterError
from .models import LeadType, Quotable
from .params import check_additional_fields, check_money, require_secure_transport
from .retry import RetryPolicy

__all__ = [
    "ADDITIONAL_FIELD_PREFIX",
    "COLUMNS",
    "EndpointClient",
    "EndpointConfig",
    "EndpointResult",
    "OfflineLead",
    "encode_csv",
    "encode_json",
    "mask_endpoint_url",
]

ADDITIONAL_FIELD_PREFIX = "[additional_field]"
"""Header prefix of a custom field column: ``[additional_field]Plan``."""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("profile_id", "Profile ID"),
    ("date", "Date"),
    ("lead_id", "Lead ID"),
    ("lead_type", "Lead Type"),
    ("email_address", "Email Address"),
    ("phone_number", "Phone Number"),
    ("lead_source", "Source"),
    ("lead_medium", "Medium"),
    ("lead_campaign", "Campaign"),
    ("lead_content", "Content"),
    ("lead_keyword", "Keyword"),
    ("quote_value", "Quote Value"),
    ("sales_value", "Sales Value"),
    ("spotted_keywords", "Spotted Keywords"),
    ("lead_score", "Lead Score"),
    ("quotable", "Quotable"),
    ("ip_address", "IP"),
    ("gclid", "GCLID"),
    ("msclkid", "MSCLKID"),
    ("facebook_click_id", "FBCLID"),
    ("facebook_browser_id", "FBPID"),
    ("lead_url", "Lead Page"),
    ("landing_url", "Landing Page"),
    ("operating_system", "Operating System"),
    ("browser", "Browser"),
    ("device_type", "Device Type"),
    ("device_make", "Device Make"),
    ("phone_name", "Number Name"),
    ("tracking_number", "Tracking Number"),
    ("destination_number", "Destination Number"),
    ("caller_name", "Caller Name"),
    ("caller_city", "Caller City"),
    ("caller_zip", "Caller Zip"),
    ("caller_state", "Caller State"),
    ("caller_country", "Caller Country"),
    ("call_duration_seconds", "Duration (Seconds)"),
    ("answer_status", "Answer Status"),
    ("line_type", "Line Type"),
    ("call_transcription", "Call Transcription"),
    ("voicemail_transcription", "Voicemail Transcription"),
    ("message", "Message"),
    ("form_name", "Form Name"),
    ("category", "Category"),
    ("action", "Action"),
    ("label", "Label"),
    ("order_id", "Order ID"),
    ("tax", "Tax"),
    ("shipping", "Shipping"),
    ("sender_name", "Sender Name"),
    ("subject", "Subject"),
)
"""``(OfflineLead attribute, CSV column)`` in header order (the documented template's order)."""

_MONEY = frozenset({"quote_value", "sales_value", "tax", "shipping"})
_INTS = {"lead_id": 1, "lead_score": 0, "call_duration_seconds": 0}  # name → minimum
_SPECIAL = frozenset({"profile_id", "date", "lead_type", "quotable", "additional_fields"})
_MAX_RESPONSE = 1024 * 1024

Format = Literal["csv", "json"]
_CONTENT_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


# The three converters below only give ``OfflineLead.__init__`` the types it accepts (for
# type checkers); every value is checked, and its field named, in ``__attrs_post_init__``.
def _money_input(value: Decimal | int | str | None) -> Decimal | None:
    return cast("Decimal | None", value)


def _lead_type_input(value: LeadType | str | None) -> LeadType | None:
    return cast("LeadType | None", value)


def _quotable_input(value: Quotable | str | None) -> Quotable | None:
    return cast("Quotable | None", value)


@attrs.frozen(kw_only=True)
class OfflineLead:
    """One row for an Endpoint: a lead (or a sale, a quote...) that happened outside the site.

    Only ``profile_id`` and ``date`` are required. Attribute names are the API's lead field
    names; the CSV column of each is in :data:`COLUMNS` (``lead_source`` → ``Source``,
    ``lead_url`` → ``Lead Page``, ``call_duration_seconds`` → ``Duration (Seconds)``, ...).

    Checked when the row is built (:class:`~whatconverts_async.errors.InvalidParameterError`
    naming the field): ``profile_id`` a positive int; ``date`` a ``date`` (sent as
    ``YYYY-MM-DD``) or an **aware** ``datetime`` (converted to UTC, sent as
    ``YYYY-MM-DDTHH:MM:SSZ``; a naive one is refused rather than guessed); money
    (``quote_value``, ``sales_value``, ``tax``, ``shipping``) finite and non-negative, given as
    ``Decimal`` (an int or numeric string is converted; floats are refused as inexact);
    ``lead_id``, ``lead_score``, ``call_duration_seconds`` ints; ``quotable`` and ``lead_type``
    enum members or their snake/display strings; text fields ``str``; ``additional_fields`` a
    mapping of names to text (numbers are converted to text).

    >>> row = OfflineLead(profile_id=80022, date=_dt.date(2026, 3, 10), sales_value=1200,
    ...                   quotable="yes", additional_fields={"Plan": "Pro"})
    >>> row.sales_value, row.quotable
    (Decimal('1200'), <Quotable.YES: 'Yes'>)
    >>> row.to_row()
    {'Profile ID': 80022, 'Date': '2026-03-10', 'Sales Value': Decimal('1200'), \
'Quotable': 'Yes', '[additional_field]Plan': 'Pro'}
    >>> OfflineLead(profile_id=80022, date=_dt.datetime(2026, 3, 10, 9, 30))
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidParameterError: date must be a date or an aware datetime \
(a naive datetime is ambiguous; add tzinfo), got datetime.datetime(2026, 3, 10, 9, 30)
    """

    profile_id: int
    date: _dt.date
    lead_id: int | None = None
    lead_type: LeadType | None = attrs.field(default=None, converter=_lead_type_input)
    email_address: str | None = None
    phone_number: str | None = None
    lead_source: str | None = None
    lead_medium: str | None = None
    lead_campaign: str | None = None
    lead_content: str | None = None
    lead_keyword: str | None = None
    quote_value: Decimal | None = attrs.field(default=None, converter=_money_input)
    sales_value: Decimal | None = attrs.field(default=None, converter=_money_input)
    spotted_keywords: str | None = None
    lead_score: int | None = None
    quotable: Quotable | None = attrs.field(default=None, converter=_quotable_input)
    ip_address: str | None = None
    gclid: str | None = None
    msclkid: str | None = None
    facebook_click_id: str | None = None
    facebook_browser_id: str | None = None
    lead_url: str | None = None
    landing_url: str | None = None
    operating_system: str | None = None
    browser: str | None = None
    device_type: str | None = None
    device_make: str | None = None
    phone_name: str | None = None
    tracking_number: str | None = None
    destination_number: str | None = None
    caller_name: str | None = None
    caller_city: str | None = None
    caller_zip: str | None = None
    caller_state: str | None = None
    caller_country: str | None = None
    call_duration_seconds: int | None = None
    answer_status: str | None = None
    line_type: str | None = None
    call_transcription: str | None = None
    voicemail_transcription: str | None = None
    message: str | None = None
    form_name: str | None = None
    category: str | None = None
    action: str | None = None
    label: str | None = None
    order_id: str | None = None
    tax: Decimal | None = attrs.field(default=None, converter=_money_input)
    shipping: Decimal | None = attrs.field(default=None, converter=_money_input)
    sender_name: str | None = None
    subject: str | None = None
    additional_fields: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        # Check and normalise every field here, so each error names its field.
        set_ = object.__setattr__
        set_(self, "profile_id", _check_int(self.profile_id, "profile_id", 1, required=True))
        set_(self, "date", _check_date(self.date))
        if self.lead_type is not None:
            set_(self, "lead_type", _check_enum(LeadType, self.lead_type, "lead_type"))
        if self.quotable is not None:
            set_(self, "quotable", _check_enum(Quotable, self.quotable, "quotable"))
        for name, minimum in _INTS.items():
            set_(self, name, _check_int(getattr(self, name), name, minimum))
        for name in _MONEY:
            if getattr(self, name) is not None:
                set_(self, name, check_money(getattr(self, name), name))
        for name, _column in COLUMNS:
            if name in _SPECIAL or name in _MONEY or name in _INTS:
                continue
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(
                    name, f"must be a string or None, got {type(value).__name__}"
                )
        set_(
            self,
            "additional_fields",
            check_additional_fields(self.additional_fields, name_each=True),
        )

    def to_row(self) -> dict[str, Any]:
        """The columns this row fills, in header order: ``{"Profile ID": 80022, ...}``.

        Values are ``int``, ``Decimal`` or ``str`` (``Date`` already formatted, enums as
        their display strings); unset fields are left out.
        """
        row: dict[str, Any] = {}
        for name, column in COLUMNS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "date":
                value = _format_date(value)
            elif isinstance(value, (LeadType, Quotable)):
                value = value.value
            row[column] = value
        for key, text in self.additional_fields.items():
            row[ADDITIONAL_FIELD_PREFIX + key] = text
        return row


# --- checks -----------------------------------------------------------------------------


def _check_int(value: Any, name: str, minimum: int, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise InvalidParameterError(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(name, f"must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidParameterError(name, f"must be >= {minimum}, got {value}")
    return value


def _check_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidParameterError(
                "date",
                "must be a date or an aware datetime (a naive datetime is ambiguous; "
                f"add tzinfo), got {value!r}",
            )
        return value.astimezone(_dt.timezone.utc)
    if isinstance(value, _dt.date):
        return value
    if value is None:
        raise InvalidParameterError("date", "is required")
    raise InvalidParameterError(
        "date", f"must be a date or an aware datetime, got {type(value).__name__}"
    )


def _check_enum(enum_cls: Any, value: Any, name: str) -> Any:
    try:
        return enum_cls.from_filter(value)
    except ValueError as exc:
        raise InvalidParameterError(name, str(exc).split(" ", 1)[1]) from None


def _format_date(value: _dt.date) -> str:
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _plain_number(value: int | Decimal) -> str:
    """``1200``, ``1200.50``: never an exponent."""
    return str(value) if isinstance(value, int) else format(value, "f")


# --- encoding -----------------------------------------------------------------------------


def _checked_batch(leads: Iterable[OfflineLead] | OfflineLead) -> list[OfflineLead]:
    if isinstance(leads, OfflineLead):
        return [leads]
    if isinstance(leads, (str, bytes, Mapping)) or not isinstance(leads, Iterable):
        raise InvalidParameterError("leads", "must be an iterable of OfflineLead")
    batch = list(leads)
    if not batch:
        raise InvalidParameterError("leads", "must not be empty")
    for index, lead in enumerate(batch):
        if not isinstance(lead, OfflineLead):
            raise InvalidParameterError(
                f"leads[{index}]", f"must be an OfflineLead, got {type(lead).__name__}"
            )
    return batch


def _header(rows: list[dict[str, Any]]) -> list[str]:
    used = {column for row in rows for column in row}
    header = [column for _name, column in COLUMNS if column in used]
    seen: dict[str, None] = {}
    for row in rows:
        for column in row:
            if column.startswith(ADDITIONAL_FIELD_PREFIX):
                seen.setdefault(column)
    return header + list(seen)


def _cell(value: Any) -> str:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return _plain_number(value)
    return str(value)


def encode_csv(leads: Iterable[OfflineLead] | OfflineLead) -> bytes:
    """The CSV file (UTF-8, CRLF line ends) an Endpoint takes for ``leads``.

    The header has ``Profile ID`` and ``Date`` and only the other columns some row fills,
    in :data:`COLUMNS` order, then the custom fields in order of first use. Values with commas,
    quotes or newlines are quoted as RFC 4180 says.

    >>> encode_csv([OfflineLead(profile_id=1, date=_dt.date(2026, 3, 10),
    ...                         sales_value=Decimal("1200.50"), message='say "hi", now')])
    b'Profile ID,Date,Sales Value,Message\\r\\n1,2026-03-10,1200.50,"say ""hi"", now"\\r\\n'
    """
    rows = [lead.to_row() for lead in _checked_batch(leads)]
    header = _header(rows)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row[c]) for c in header])
    return out.getvalue().encode("utf-8")


def _json_value(value: Any) -> str:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return _plain_number(value)  # exact digits, as a JSON number
    return json.dumps(value, ensure_ascii=False)


def encode_json(leads: Iterable[OfflineLead] | OfflineLead) -> bytes:
    """The JSON body for ``leads``: an array of objects keyed by the CSV column names.

    Numbers (ids, money, durations) are JSON numbers written with their exact digits; an
    unset field is left out of its object. The key names are an assumption (the Endpoint JSON
    template is not public); compare them with the template your Endpoint offers.

    >>> encode_json([OfflineLead(profile_id=1, date=_dt.date(2026, 3, 10),
    ...                          quote_value=Decimal("99.90"), additional_fields={"Plan": "Pro"})])
    b'[{"Profile ID":1,"Date":"2026-03-10","Quote Value":99.90,"[additional_field]Plan":"Pro"}]'
    """
    parts = []
    for lead in _checked_batch(leads):
        items = (
            f"{json.dumps(k, ensure_ascii=False)}:{_json_value(v)}"
            for k, v in lead.to_row().items()
        )
        parts.append("{" + ",".join(items) + "}")
    return ("[" + ",".join(parts) + "]").encode("utf-8")


# --- sending ------------------------------------------------------------------------------


def mask_endpoint_url(url: str | yarl.URL) -> str:
    """The Endpoint URL as it may be shown: scheme, host and port only.

    >>> mask_endpoint_url("https://app.whatconverts.com/endpoint/abc123?key=s3cret")
    'https://app.whatconverts.com/…'
    """
    parsed = yarl.URL(url) if isinstance(url, str) else url
    if not parsed.absolute or not parsed.host:
        return "<endpoint url>"
    return f"{parsed.origin()}/…"


@attrs.frozen(kw_only=True)
class EndpointResult:
    """What an Endpoint answered to one :meth:`EndpointClient.send`.

    ``status`` the HTTP status (2xx), ``rows`` the rows sent, ``attempts`` the attempts made
    (retries included), ``response`` the decoded JSON answer, or its text when it was not
    JSON (the Endpoint's answer is not documented; do not depend on its shape).

    >>> EndpointResult(status=200, rows=2, attempts=1, response={"rows": 2})
    EndpointResult(status=200, rows=2, attempts=1, response={'rows': 2})
    """

    status: int
    rows: int
    attempts: int
    response: Any = None


class _HiddenURL:
    """An Endpoint URL on its way in, printed as a mask (frame locals are rendered by
    tracebacks with locals; the URL is the credential)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<endpoint URL hidden>"


def _parse_endpoint_url(value: Any) -> tuple[yarl.URL | None, str | None]:
    """``(url, None)`` or ``(None, problem)``; never raises (its frame holds the URL)."""
    if isinstance(value, _HiddenURL):
        value = value.value
    if isinstance(value, yarl.URL):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None, "must be a non-empty string"
    try:
        url = yarl.URL(value.strip())
    except (ValueError, TypeError):
        return None, "is not a valid URL"
    if url.scheme not in ("https", "http") or not url.host:
        return None, f"must be an http(s) URL, got {mask_endpoint_url(url)}"
    return url, None


def _endpoint_url(value: Any) -> yarl.URL:
    url, problem = _parse_endpoint_url(value)
    # Nothing that can raise runs while a local of this frame holds the URL; yarl's own
    # error (which quotes it) is not kept either, not even as __context__.
    del value
    if url is None:
        raise InvalidParameterError("endpoint_url", problem or "is not a valid URL")
    return url


@attrs.frozen(kw_only=True, repr=False)
class EndpointConfig(ConnectionConfig):
    """The settings of an :class:`EndpointClient`, checked when built (each bad value
    raises :class:`~whatconverts_async.errors.InvalidParameterError` naming it). The URL
    is a secret: it is left out of the repr.
    """

    endpoint_url: yarl.URL = attrs.field(converter=_endpoint_url, repr=False)
    format: Format = attrs.field(default="csv", validator=one_of(*_CONTENT_TYPES))

    def __repr__(self) -> str:
        # Not attrs' repr: that one fails on a half-built config, which is what a traceback
        # rendered with locals shows when a setting was refused. The URL stays out.
        shown = [
            f"{field.name}={getattr(self, field.name, '<unset>')!r}"
            for field in attrs.fields(type(self))
            if field.repr
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __attrs_post_init__(self) -> None:
        require_secure_transport(
            # Scheme and host are all the check needs: no frame gets the whole URL.
            yarl.URL.build(scheme=self.endpoint_url.scheme, host=self.endpoint_url.host or ""),
            "endpoint_url",
            allow_insecure=self.allow_insecure,
            secret="the URL, which is the credential,",
        )


class EndpointClient(SessionOwner):
    """Sends :class:`OfflineLead` batches to one WhatConverts Endpoint URL.

    Args:
        endpoint_url: the URL WhatConverts generated for the Endpoint (a secret).
        format: ``"csv"`` (default; the documented template) or ``"json"``: must match the
            format chosen when the Endpoint was set up.
        timeout: seconds for one attempt (default 30).
        max_retries: retries of failures that are safe to repeat (default 5); see the module
            docstring for which those are.
        session: an ``aiohttp.ClientSession`` you own; it is never closed here.
        retry_policy: backoff settings (``max_retries`` overrides its count).
        allow_insecure: allow plain ``http://`` to a host that is not loopback.
        trust_env: let the session created here use proxy settings (``HTTP_PROXY``,
            ``HTTPS_PROXY``, ``NO_PROXY``) and ``~/.netrc`` from the environment (default
            False: the environment is ignored). Has no effect on a ``session`` you pass.

    ``repr()`` and every error or log line show only ``scheme://host/…`` of the URL.

    Example::

        async with EndpointClient(url, format="json", max_retries=3) as ep:
            await ep.send(rows)
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        format: Format = "csv",
        timeout: float = 30.0,
        max_retries: int = 5,
        session: ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
        allow_insecure: bool = False,
        trust_env: bool = False,
    ) -> None:
        hidden = _HiddenURL(endpoint_url)
        # Out of this frame's locals, which a traceback rendered with locals would show.
        del endpoint_url
        config = EndpointConfig(
            endpoint_url=hidden,
            format=format,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            retry_policy=retry_policy,
            allow_insecure=allow_insecure,
            trust_env=trust_env,
        )
        self._configure(config)
        self._init_session(config.session, headers={}, trust_env=config.trust_env)

    def _configure(self, config: EndpointConfig) -> None:
        self._config = config
        self._url = config.endpoint_url
        self.shown_url = mask_endpoint_url(self._url)
        self.format: Format = config.format
        self.timeout = float(config.timeout)
        self.retry_policy = config.retries
        self._transport = Transport(
            timeout=self.timeout,
            max_body=_MAX_RESPONSE,
            truncate=True,
            mask=mask_endpoint_url,
            setting="endpoint_url",
        )

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> EndpointClient:
        """A client for the same Endpoint with other per-call settings, on this one's session.

        Only what is passed differs (None keeps this client's value):

        * ``timeout``: seconds for one attempt (finite, > 0);
        * ``max_retries``: retries of the failures that are safe to repeat (>= 0);
        * ``retry_policy``: a :class:`~whatconverts_async.retry.RetryPolicy`; its own
          ``max_retries`` is used unless ``max_retries`` is passed too.

        The URL, format and HTTP session are this client's. Bad values raise
        :class:`~whatconverts_async.errors.InvalidParameterError` naming the argument,
        before anything is sent. Closing the new client (or leaving ``async with`` on
        it) never closes the shared session: this client (or the one it was derived
        from) owns it; once that one is closed, the new one raises ``RuntimeError`` on
        use. Costs nothing: no request, no new connection.

        Example::

            quick = ep.with_options(timeout=5, max_retries=0)
            await quick.send(rows)   # one attempt of at most 5 s
        """
        config = attrs.evolve(self._config, **option_changes(timeout, max_retries, retry_policy))
        derived = object.__new__(type(self))
        derived._configure(config)
        # The session's owner, not a derived client: closing a derived client must not
        # cut off the clients derived from it.
        owner = self._parent if isinstance(self._parent, EndpointClient) else self
        derived._share_session(owner)
        return derived

    def __repr__(self) -> str:
        # getattr: a half-built client (its settings refused) is shown by tracebacks too.
        shown = getattr(self, "shown_url", None)
        return (
            f"EndpointClient(url={shown!r}, format={getattr(self, 'format', None)!r}"
            f"{_derived_options(self, '_config')})"
        )

    # -- sending ---------------------------------------------------------------------------

    def encode(self, leads: Iterable[OfflineLead] | OfflineLead) -> tuple[bytes, str]:
        """The body and content type :meth:`send` would POST for ``leads`` (nothing is sent)."""
        body = encode_csv(leads) if self.format == "csv" else encode_json(leads)
        return body, _CONTENT_TYPES[self.format]

    async def send(self, leads: Iterable[OfflineLead] | OfflineLead) -> EndpointResult:
        """POST ``leads`` (one batch, one request) to the Endpoint.

        Raises :class:`~whatconverts_async.errors.InvalidParameterError` before sending for an
        empty batch or an item that is not an :class:`OfflineLead`; the API client's errors
        otherwise (``APIConnectionError`` with ``request_sent``, ``APITimeoutError``,
        ``RateLimitError``, ``ServerError``, ``NotFoundError`` for an unknown Endpoint, ...).
        """
        batch = _checked_batch(leads)
        body, content_type = self.encode(batch)
        headers = {"Content-Type": content_type, "Accept": "application/json, */*;q=0.5"}
        attempts = 0

        async def attempt() -> Answer | None:
            nonlocal attempts
            attempts += 1
            return await self._transport.send(
                self._get_session(), "POST", self._url, attempt=attempts, body=body, headers=headers
            )

        # 503 ("Service Unavailable") is a refusal before any handling, like a 429, so
        # it is the one 5xx after which rows can be sent again without duplicates.
        retrying = self.retry_policy.retrying(
            idempotent=False,
            describe=lambda: f"POST {self.shown_url}",
            refused_statuses=frozenset({503}),
        )
        answer: Answer = await retrying(attempt)  # never None: no sink
        return EndpointResult(
            status=answer.status,
            rows=len(batch),
            attempts=attempts,
            response=decode_lenient(answer),
        )
