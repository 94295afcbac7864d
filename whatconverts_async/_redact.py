"""Credentials a server may echo back, and the one place they are scrubbed from text.

:data:`REDACTIONS` is filled by the clients when they build their ``Authorization``
header; every error message, excerpt and header value built from server data goes
through :meth:`_Redactions.scrub` (and :func:`quoted`, for a value quoted in a message).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

__all__ = ["REDACTIONS", "quoted"]


class _Redactions:
    """Credential strings that must never appear in an error's text, even when a server or
    proxy echoes them back in its answer. Held here, masked in reprs, and filled by the
    clients when they build their ``Authorization`` header.

    Each value is also matched in the forms a server or proxy is likely to echo it in:
    base64 (standard and URL-safe, padded or not), percent-encoded (``%3D``, ``+`` for a
    space) and in any letter case. A value split by invisible characters (a zero-width
    space) or re-encoded twice is not recognised.
    """

    __slots__ = ("_pattern", "_values", "longest")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.longest = 0
        """The length of the longest form matched (0 when nothing is registered)."""

    def add(self, *values: str) -> None:
        # Very short values would mask ordinary words without protecting anything.
        new = {v for v in values if len(v) >= 8} - self._values
        if not new:
            return
        self._values |= new
        forms = {form for value in self._values for form in _forms(value)}
        # Longest first, so that a form containing another is replaced whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
        self.longest = len(ordered[0])

    def scrub(self, text: str) -> str:
        """``text`` with every registered value, in any of its forms, as ``<redacted>``."""
        if self._pattern is None:
            return text
        return self._pattern.sub("<redacted>", text)

    def __repr__(self) -> str:
        return "<redactions hidden>"


def _forms(value: str) -> set[str]:
    """The ways ``value`` is likely to be echoed: as is, base64 of it, percent-encoded."""
    raw = value.encode("utf-8", "surrogatepass")
    encoded = {
        value,
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }
    forms = set(encoded)
    for form in encoded:
        # A padded base64 form is covered by its unpadded start; these are the forms whose
        # characters themselves change.
        forms |= {
            urllib.parse.quote(form),
            urllib.parse.quote(form, safe=""),
            urllib.parse.quote_plus(form, safe=""),
        }
    return {form for form in forms if len(form) >= 8}


REDACTIONS = _Redactions()
"""Strings scrubbed from every error message built from server data (see
:class:`_Redactions`)."""


def quoted(value: Any, limit: int | None = None) -> str:
    """``repr(value)`` for an error message, scrubbed of :data:`REDACTIONS` and only then
    cut to ``limit`` characters (cutting first could leave a secret's start showing).

    >>> quoted("x" * 100, 10)
    "'xxxxxxxx…"
    >>> REDACTIONS.add("s3cret-value-1")
    >>> quoted("id S3CRET-VALUE-1 and czNjcmV0LXZhbHVlLTE%3D")
    "'id <redacted> and <redacted>%3D'"
    """
    text = REDACTIONS.scrub(repr(value))
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
