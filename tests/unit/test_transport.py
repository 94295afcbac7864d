"""The transport's tables and decoders, without a network: which failure or answer
becomes which error (``FAILURES``, ``STATUSES``), and how bodies are decoded."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict, CIMultiDictProxy

from whatconverts_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    WhatConvertsError,
)
from whatconverts_async._transport import (
    FAILURES,
    STATUSES,
    Answer,
    decode_lenient,
    decode_object,
    error_for_failure,
    error_for_status,
    loads,
    parse_retry_after,
)

URL = "https://app.whatconverts.com/api/v1/leads"
AUTH = "Basic dG9rZW46c3VwZXItc2VjcmV0"


def _request_info() -> aiohttp.RequestInfo:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": AUTH}))
    return aiohttp.RequestInfo(yarl.URL(URL), "GET", headers, yarl.URL(URL))


def _connector_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("app.whatconverts.com", 443, True, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


def _certificate_error(reason: str) -> aiohttp.ClientConnectorCertificateError:
    import ssl

    key = ConnectionKey("app.whatconverts.com", 443, True, True, None, None, None)
    cert = ssl.SSLCertVerificationError(1, reason)
    cert.verify_message = reason
    return aiohttp.ClientConnectorCertificateError(key, cert)


def _undecodable_payload() -> aiohttp.ClientPayloadError:
    # As aiohttp reports a body whose gzip it cannot decode: the decoding error as cause.
    error = aiohttp.ClientPayloadError("Can not decode content-encoding: gzip")
    error.__cause__ = ContentEncodingError("Can not decode content-encoding: gzip")
    return error


def _everything(exc: BaseException) -> str:
    return f"{exc} {exc!r} {vars(exc)} {exc.__cause__!r} {exc.__context__!r}"


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls", "sent", "words"),
    [
        (aiohttp.ConnectionTimeoutError(), APITimeoutError, False, "timed out connecting after 7"),
        (aiohttp.SocketTimeoutError(), APITimeoutError, True, "no complete answer within 7"),
        (asyncio.TimeoutError(), APITimeoutError, True, "no complete answer within 7"),
        (_connector_error(), APIConnectionError, False, "could not connect"),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True, "connection failed"),
        (aiohttp.ClientPayloadError("cut"), APIConnectionError, True, "ClientPayloadError"),
        (aiohttp.ClientOSError(104, "reset"), APIConnectionError, True, "ClientOSError"),
    ],
)
def test_failures_without_an_answer(
    exc: BaseException, cls: type[APIConnectionError], sent: bool, words: str
) -> None:
    error = error_for_failure(exc, method="POST", url=URL, timeout=7)
    assert type(error) is cls
    assert error.request_sent is sent  # only False is proof that a create may be repeated
    assert words in str(error) and URL in str(error) and error.method == "POST"


def test_an_unreadable_http_answer_is_malformed_and_hides_the_request() -> None:
    exc = aiohttp.ClientResponseError(
        _request_info(), (), status=400, message="Invalid status line\nb'SSH-2.0-OpenSSH'"
    )
    error = error_for_failure(exc, method="GET", url=URL, timeout=30)
    assert isinstance(error, MalformedResponseError)
    assert "unreadable HTTP answer (ClientResponseError: Invalid status line)" in str(error)
    assert error.status == 0
    assert AUTH not in _everything(error) and "SSH" not in str(error)  # first line only


def test_the_failure_table_is_ordered_subclasses_first() -> None:
    """A row placed after a row for one of its base classes could never match."""
    for (early, *_), (late, *_) in itertools.combinations(FAILURES, 2):
        assert not issubclass(late, early), f"{late.__name__} is shadowed by {early.__name__}"


def test_every_failure_row_is_reachable_and_every_client_error_is_covered() -> None:
    for caught, raised, _template, sent in FAILURES:
        samples: dict[type[BaseException], BaseException] = {
            aiohttp.ConnectionTimeoutError: aiohttp.ConnectionTimeoutError(),
            asyncio.TimeoutError: asyncio.TimeoutError(),
            aiohttp.ClientConnectorCertificateError: _certificate_error("self-signed"),
            aiohttp.ClientConnectorError: _connector_error(),
            ContentEncodingError: _undecodable_payload(),
            aiohttp.ClientResponseError: aiohttp.ClientResponseError(_request_info(), ()),
            aiohttp.ClientError: aiohttp.ClientError(),
        }
        error = error_for_failure(samples[caught], method="GET", url=URL, timeout=1)
        assert type(error) is raised
        if isinstance(error, APIConnectionError):
            assert error.request_sent is sent


@pytest.mark.parametrize(
    "reason",
    ["self-signed certificate", "Hostname mismatch, certificate is not valid for 'x'"],
)
def test_a_certificate_that_fails_verification_is_its_own_error(reason: str) -> None:
    error = error_for_failure(_certificate_error(reason), method="GET", url=URL, timeout=1)
    assert type(error) is CertificateError and isinstance(error, APIConnectionError)
    assert error.request_sent is False  # the request never left: its unit is given back
    assert f"TLS certificate verification failed: {reason}" in str(error)


def test_a_body_that_cannot_be_decompressed_is_unreadable_not_a_dropped_connection() -> None:
    error = error_for_failure(_undecodable_payload(), method="GET", url=URL, timeout=1)
    assert type(error) is MalformedResponseError
    assert "body could not be decoded (ContentEncodingError" in str(error)
    # A payload cut short (no decoding error behind it) is still a connection failure.
    cut = error_for_failure(aiohttp.ClientPayloadError("cut"), method="GET", url=URL, timeout=1)
    assert type(cut) is APIConnectionError


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: no wait asked
        ("inf", float("inf")),
        ("Infinity", float("inf")),
        ("1e400", float("inf")),
        ("9" * 500, float("inf")),
        ("Fri, 31 Dec 99999 23:59:59 GMT", float("inf")),  # beyond what a date can hold
        ("nan", None),
        ("later", None),
        ("", None),
    ],
)
def test_retry_after_values(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_is_kept_on_every_status() -> None:
    unavailable = error_for_status(503, b"", method="GET", url=URL, retry_after="3")
    assert isinstance(unavailable, ServerError) and unavailable.retry_after == 3.0
    assert "retry after 3 s" in str(unavailable)
    huge = error_for_status(429, b"", method="GET", url=URL, retry_after="1e400")
    assert isinstance(huge, RateLimitError) and huge.retry_after == float("inf")
    assert "retry after inf s" in str(huge)


def test_anything_else_is_a_bug_not_a_network_event() -> None:
    with pytest.raises(TypeError, match="ValueError"):
        error_for_failure(ValueError("x"), method="GET", url=URL, timeout=1)


# --- statuses -------------------------------------------------------------------------------


def _expected(status: int) -> type[APIError]:
    if status in STATUSES:
        return STATUSES[status]
    return ServerError if status >= 500 else APIError


@pytest.mark.parametrize("status", range(400, 600))
def test_every_error_status_has_one_class(status: int) -> None:
    error = error_for_status(status, b"<html>x</html>", method="GET", url=URL)
    assert type(error) is _expected(status)
    assert error.status == status and error.error_message is None and error.body == "<html>x</html>"


def test_the_named_statuses() -> None:
    assert dict(STATUSES) == {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        429: RateLimitError,
    }


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (200, "Invalid lead ID.", NotFoundError),
        (400, "Invalid profile ID.", NotFoundError),
        (404, "Invalid account id", NotFoundError),
        (401, "Invalid API ID or secret.", AuthenticationError),  # not a missing record
        (400, "Invalid lead_type.", BadRequestError),
        (200, "Something odd", BadRequestError),
        (500, "Invalid lead ID.", ServerError),
    ],
)
def test_error_messages(status: int, message: str, cls: type[APIError]) -> None:
    body = f'{{"error_message": "{message}"}}'.encode()
    error = error_for_status(status, body, method="GET", url=URL)
    assert type(error) is cls and error.error_message == message and error.body is None


def test_retry_after_only_on_429() -> None:
    limited = error_for_status(429, b"", method="GET", url=URL, retry_after="2.5")
    assert isinstance(limited, RateLimitError) and limited.retry_after == 2.5
    assert "retry after 2.5 s" in str(limited)
    unreadable = error_for_status(429, b"", method="GET", url=URL, retry_after="later")
    assert isinstance(unreadable, RateLimitError) and unreadable.retry_after is None


# --- decoding -------------------------------------------------------------------------------


def _answer(body: bytes, content_type: str = "application/json", status: int = 200) -> Answer:
    return Answer(status, body, content_type, "GET", URL)


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"", "application/json", "empty body"),
        (b"  \n", "application/json", "empty body"),
        (b"<html>login</html>", "text/html", "not JSON (content type text/html)"),
        (b'{"leads": [', "", "not JSON (content type missing)"),
        (b"[1, 2]", "application/json", "JSON is not an object"),
        (b"null", "application/json", "JSON is not an object"),
    ],
)
def test_api_answers_that_are_not_an_object(body: bytes, content_type: str, words: str) -> None:
    with pytest.raises(MalformedResponseError, match=re.escape(words)) as info:
        decode_object(_answer(body, content_type))
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_api_objects_and_errors_inside_a_200() -> None:
    assert decode_object(_answer(b'{"leads": [], "total_leads": 0}', "text/plain")) == {
        "leads": [],
        "total_leads": 0,
    }
    with pytest.raises(NotFoundError, match="Invalid lead ID"):
        decode_object(_answer(b'{"error_message": "Invalid lead ID."}'))


def test_lenient_answers_keep_what_they_can() -> None:
    assert decode_lenient(_answer(b'{"rows": 2}')) == {"rows": 2}
    assert decode_lenient(_answer(b"[1]", "text/plain")) == [1]  # looks like JSON
    assert decode_lenient(_answer(b"OK, 2 rows", "text/plain")) == "OK, 2 rows"
    assert decode_lenient(_answer(b"{broken", "application/json")) == "{broken"
    assert decode_lenient(_answer(b"\xff ok", "text/plain")) == "\ufffd ok"
    with pytest.raises(BadRequestError, match="bad rows"):
        decode_lenient(_answer(b'{"error_message": "bad rows"}'))


@pytest.mark.parametrize("body", [b'{"a": 1}', b"[]", b'"x"', b"1.5"])
def test_loads_reads_json(body: bytes) -> None:
    import json

    expected: Any = json.loads(body)
    assert loads(body) == expected


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"NaN-ish"])
def test_loads_refuses_what_is_not_json_with_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads(body)


def test_every_error_is_a_whatconverts_error() -> None:
    for cls in (*STATUSES.values(), *(row[1] for row in FAILURES)):
        assert issubclass(cls, WhatConvertsError)
