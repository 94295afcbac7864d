"""The aiohttp session lifecycle shared by the API client and the Endpoint client."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

__all__ = ["SessionOwner"]

_S = TypeVar("_S", bound="SessionOwner")


class SessionOwner(abc.ABC):
    """Owns an ``aiohttp.ClientSession`` (created lazily inside the running loop), or
    borrows one the user passed in and then never closes it."""

    def _init_session(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session
        self._owns_session = session is None
        self._closed = False

    @abc.abstractmethod
    def _session_options(self) -> dict[str, Any]:
        """Keyword arguments for the ``aiohttp.ClientSession`` this object creates."""

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        if self._session is None:
            # Created here, inside the running loop, never at import or __init__ time.
            session = aiohttp.ClientSession(**self._session_options())
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
        """Close the HTTP session if this object created it. Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

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
