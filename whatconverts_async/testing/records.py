"""What the simulator's parts share: keys, recorded requests, its configuration, request context.

Split from :mod:`.server` so that the server plumbing and the route handlers
(:mod:`.routes`) can both use them.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Final, Literal, NamedTuple

import attrs
from aiohttp import web

from .realism import Realism

__all__ = [
    "API_ROOT",
    "ENDPOINT_ROOT",
    "STORAGE_ROOT",
    "ApiKey",
    "FakeEndpoint",
    "KeyType",
    "RecordedRequest",
    "SimulatorConfig",
    "recording_bytes",
]

UTC: Final = timezone.utc
API_ROOT: Final = "/api/v1/"
ENDPOINT_ROOT: Final = "/endpoints/"
STORAGE_ROOT: Final = "/storage/recordings/"
KeyType = Literal["profile", "master"]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiKey(NamedTuple):
    """An API key: the token is the Basic-auth user, the secret the password."""

    token: str
    secret: str

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value for this key."""
        raw = f"{self.token}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def _headers_repr(headers: Mapping[str, str]) -> str:
    # A test failure prints the record: the credentials must not be in that output.
    shown = {
        name: ("<redacted>" if name.lower() in _CREDENTIAL_HEADERS else value)
        for name, value in headers.items()
    }
    return repr(shown)


def _token_repr(token: str | None) -> str:
    return "None" if token is None else "'<redacted>'"


@attrs.frozen
class RecordedRequest:
    """One request as the simulator received it (``fake.requests``).

    ``status`` is the status answered, or ``None`` when the connection was dropped
    (or the request is still being handled). The repr leaves out credentials (the
    ``Authorization`` header, the key's token); the fields themselves keep them for
    tests that check what was sent.
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str] = attrs.field(repr=_headers_repr)
    body: bytes
    form: dict[str, str] | None
    content_type: str
    key_token: str | None = attrs.field(repr=_token_repr)
    status: int | None = None
    received_at: float = 0.0

    @property
    def params(self) -> dict[str, str]:
        """Query parameters as a dict (the last value wins)."""
        return dict(self.query)


@attrs.frozen
class SimulatorConfig:
    """Everything that shapes a :class:`FakeWhatConverts`; see its constructor."""

    leads: int = 30_000
    seed: int = 0
    key_type: KeyType = "profile"
    start: datetime = datetime(2017, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    accounts: int = 1
    profiles_per_account: int = 1
    daily_limit: int | None = None
    clock: Callable[[], datetime] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    invalid_id_status: int = 400
    recording_size: int = 64 * 1024
    max_leads_per_page: int = 2_500
    max_page_size: int = 250
    max_range_days: int = 400
    latency: float | tuple[float, float] | None = None
    lead_cache_size: int = 10_000
    realism: Realism = attrs.field(factory=Realism)


@attrs.define
class FakeEndpoint:
    """An inbound Endpoint of the simulator (``fake.endpoints[token]``).

    ``lead_ids`` lists the leads it created or updated, ``rows`` the rows it accepted.
    """

    token: str
    profile_id: int
    format: Literal["csv", "json"] = "csv"
    on_existing: Literal["update", "create", "ignore"] = "update"
    default_lead_type: str = "other"
    rows: int = 0
    lead_ids: list[int] = attrs.field(factory=list)


@attrs.define
class _KeyInfo:
    secret: str
    key_type: KeyType
    profile_id: int | None


class _Ctx:
    __slots__ = ("form", "key", "method", "params", "request")

    def __init__(
        self,
        key: _KeyInfo,
        params: dict[str, str],
        form: dict[str, str],
        method: str,
        request: web.Request,
    ) -> None:
        self.key = key
        self.params = params
        self.form = form
        self.method = method
        self.request = request


_RECORD: Final = web.RequestKey("record", RecordedRequest)
_CTX: Final = web.RequestKey("ctx", _Ctx)


def recording_bytes(seed: int, lead_id: int, size: int) -> bytes:
    """The simulated MP3 of a lead: an ``ID3`` header, then seeded pseudo-random bytes."""
    header = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    rng = random.Random(f"{seed}:recording:{lead_id}")
    return (header + rng.randbytes(max(0, size - len(header))))[: max(size, 0)]
