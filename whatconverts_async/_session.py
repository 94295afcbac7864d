"""What the API client and the Endpoint client share: their connection settings and the
lifecycle of their aiohttp session."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import attrs

from ._validators import instance, whole
from .errors import InvalidParameterError
from .retry import RetryPolicy

__all__ = ["ClientSession", "ConnectionConfig", "SessionOwner"]

ClientSession = aiohttp.ClientSession
"""The session type a user may pass in (named here so that only this module and the
transport depend on aiohttp)."""

USER_AGENT = "whatconverts-async"

_S = TypeVar("_S", bound="SessionOwner")


def option_changes(timeout: Any, max_retries: Any, retry_policy: Any) -> dict[str, Any]:
    """The :class:`ConnectionConfig` fields a ``with_options(...)`` call changes (None: kept).

    A ``RetryPolicy`` brings its own ``max_retries``; an explicit ``max_retries`` wins.
    """
    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = timeout
    if retry_policy is not None:
        changes["retry_policy"] = retry_policy
        if isinstance(retry_policy, RetryPolicy):
            changes["max_retries"] = retry_policy.max_retries
    if max_retries is not None:
        changes["max_retries"] = max_retries
    return changes


def timeout_seconds(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A timeout: a finite number of seconds > 0 (not a bool, NaN or infinity: a request
    that may wait forever holds its slot of the in-flight cap forever)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    # ``not value > 0`` refuses NaN too, which compares false.
    if not is_number or not value > 0:
        raise InvalidParameterError(
            attribute.alias or attribute.name, f"must be a number of seconds > 0, got {value!r}"
        )
    if math.isinf(value):
        raise InvalidParameterError(
            attribute.alias or attribute.name, f"must be a finite number of seconds, got {value!r}"
        )


def boolean(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``True`` or ``False`` (not a truthy stand-in such as ``"no"``)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(
            attribute.alias or attribute.name, f"must be True or False, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class ConnectionConfig:
    """Settings of one connection to WhatConverts, checked when built.

    Every bad value raises :class:`~whatconverts_async.errors.InvalidParameterError`
    naming it. ``timeout`` is in seconds for one attempt (finite, > 0); ``max_retries``
    overrides the count of ``retry_policy``; ``session`` is a user's
    ``aiohttp.ClientSession`` that is then never closed here; ``allow_insecure`` permits
    plain ``http://`` to a host that is not loopback; ``trust_env`` lets the session this
    library creates read proxy settings (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``)
    and ``~/.netrc`` from the environment, as ``aiohttp.ClientSession(trust_env=True)``
    does (default False: the environment is ignored; a session you pass keeps its own
    setting).

    >>> ConnectionConfig(timeout=5, max_retries=2).retries.max_retries
    2
    >>> ConnectionConfig(timeout=0)
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidParameterError: timeout must be a number of seconds > 0, got 0
    """

    timeout: float = attrs.field(default=30.0, validator=timeout_seconds)
    max_retries: int = attrs.field(default=5, validator=whole(0))
    retry_policy: RetryPolicy | None = attrs.field(default=None, validator=instance(RetryPolicy))
    session: aiohttp.ClientSession | None = attrs.field(
        default=None, validator=instance(aiohttp.ClientSession), repr=False
    )
    allow_insecure: bool = False
    trust_env: bool = attrs.field(default=False, validator=boolean)

    @property
    def retries(self) -> RetryPolicy:
        """``retry_policy`` (or the default one) with ``max_retries`` retries."""
        return attrs.evolve(self.retry_policy or RetryPolicy(), max_retries=self.max_retries)


class SessionOwner:
    """Owns an ``aiohttp.ClientSession`` (created lazily inside the running loop), or
    borrows one the user passed in and then never closes it, or shares the session of
    another owner (its *parent*, see :meth:`_share_session`)."""

    _parent: SessionOwner | None = None

    def _init_session(
        self,
        session: aiohttp.ClientSession | None,
        *,
        headers: dict[str, str],
        connection_limit: int | None = None,
        trust_env: bool = False,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._session_headers = {"User-Agent": USER_AGENT, **headers}
        self._connection_limit = connection_limit
        self._trust_env = trust_env
        self._parent = None

    def _share_session(self, parent: SessionOwner) -> None:
        """Use ``parent``'s session (also one it creates later) and never close it: the
        parent owns it. Once the parent is closed, this one refuses to send."""
        self._session = None
        self._owns_session = False
        self._closed = False
        self._parent = parent

    @property
    def _shut(self) -> bool:
        """Closed, or derived from an owner that is closed."""
        return self._closed or (self._parent is not None and self._parent._shut)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        if self._parent is not None:
            if self._parent._shut:
                raise RuntimeError(
                    f"this {type(self).__name__} was derived with with_options() from a "
                    "client that is now closed; it shares that client's session, so it "
                    "cannot send either"
                )
            return self._parent._get_session()
        if self._session is None:
            # Created here, inside the running loop, never at import or __init__ time.
            connector = (
                None
                if self._connection_limit is None
                else aiohttp.TCPConnector(limit=self._connection_limit)
            )
            session = aiohttp.ClientSession(
                connector=connector, headers=self._session_headers, trust_env=self._trust_env
            )
            # aiohttp silently re-sends an idempotent request once when the server closes
            # the connection without answering. That second attempt would bypass the
            # throttle (spending the API's daily quota unaccounted) and could repeat a
            # POST to an Endpoint; our retry policy takes over instead. The switch is
            # private in aiohttp, so it is set only where it exists.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if this object created it (a client derived with
        ``with_options()`` never closes its parent's session). Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (on a derived client: on it or its parent)."""
        return self._shut

    async def __aenter__(self: _S) -> _S:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
