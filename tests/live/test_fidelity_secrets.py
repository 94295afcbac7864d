"""Secrets stay out of tracebacks rendered with locals, and out of every exception chain.

Error trackers (sentry), rich and ``pytest -l`` render each frame's local variables with
``repr()``; ``traceback.TracebackException(..., capture_locals=True)`` does the same, so
every error here is rendered that way, chain included, and searched for the API secret,
the Basic auth header and the Endpoint URL's secret part.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from whatconverts_async import (
    APIConnectionError,
    InvalidParameterError,
    MalformedResponseError,
    RetryPolicy,
    ServerError,
    WhatConverts,
    WhatConvertsError,
)
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts, Realism

from ._support import chain, rendered_with_locals

FAST = RetryPolicy(base_wait=0.005, max_wait=0.02)
SECRET = "s3cret-in-locals-7f1d"


def _rendered(exc: BaseException) -> str:
    return rendered_with_locals(exc, skip_file=__file__)


def forbidden(token: str, secret: str) -> list[str]:
    header = base64.b64encode(f"{token}:{secret}".encode()).decode()
    return [secret, header, header[:24]]


def assert_clean(exc: BaseException, token: str, secret: str) -> None:
    text = _rendered(exc)
    assert "Traceback" in text  # the locals were really rendered
    for bad in forbidden(token, secret):
        assert bad not in text, f"{bad!r} leaked"


async def test_request_failures_rendered_with_locals_show_no_credentials() -> None:
    async with FakeWhatConverts(leads=50, seed=2) as fake:
        token, secret = fake.token, fake.secret
        errors: list[BaseException] = []
        async with WhatConverts(
            token, secret, base_url=fake.url, retry_policy=FAST, max_retries=1
        ) as wc:
            fake.faults.fail_next(5, 500)
            with pytest.raises(ServerError) as server_error:
                await wc.leads.list()
            errors.append(server_error.value)
            fake.faults.fail_next(1, 401)
            with pytest.raises(WhatConvertsError) as auth:
                await wc.leads.get(1)
            errors.append(auth.value)
        async with WhatConverts(
            token, secret, base_url="http://127.0.0.1:9/api/v1/", retry_policy=FAST, max_retries=0
        ) as wc:
            with pytest.raises(APIConnectionError) as refused:
                await wc.leads.list()
            errors.append(refused.value)
    for exc in errors:
        # The locals of the request frames are in the rendering (so the check means it).
        assert "headers = <headers ['Authorization'] (values hidden)>" in _rendered(exc)
        assert_clean(exc, token, secret)


async def test_recording_failures_rendered_with_locals_show_no_credentials(
    tmp_path: Any,
) -> None:
    for mode in ("html", "redirect"):
        async with FakeWhatConverts(
            leads=50,
            seed=2,
            realism=Realism(recording=mode),
        ) as fake:
            lead_id = next(
                x["lead_id"] for x in fake.data.iter_leads() if x["lead_type"] == "Phone Call"
            )
            async with WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc:
                with pytest.raises(MalformedResponseError) as info:
                    await wc.recordings.download(lead_id, tmp_path / "a.mp3")
            assert_clean(info.value, fake.token, fake.secret)
            assert "Signature=" not in _rendered(info.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: WhatConverts("tok", SECRET, key_type="nope"),  # type: ignore[arg-type]
        lambda: WhatConverts("", SECRET),
        lambda: WhatConverts(123, SECRET),  # type: ignore[arg-type]
        lambda: WhatConverts("tok", SECRET, base_url="ftp://example.com"),
        lambda: WhatConverts("tok", SECRET, base_url="http://api.example.com/"),
        lambda: WhatConverts("tok", SECRET, max_retries=-1),
        lambda: WhatConverts.from_env(
            {"WHATCONVERTS_API_TOKEN": "tok", "WHATCONVERTS_API_SECRET": SECRET}, timeout=-1
        ),
        lambda: WhatConverts.from_env(
            {
                "WHATCONVERTS_API_TOKEN": "tok",
                "WHATCONVERTS_API_SECRET": SECRET,
                "WHATCONVERTS_KEY_TYPE": "root",
            }
        ),
    ],
)
def test_constructor_errors_rendered_with_locals_show_no_secret(
    build: Callable[[], WhatConverts],
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        build()
    text = _rendered(info.value)
    assert "Traceback" in text and "__init__" in text
    assert SECRET not in text
    assert base64.b64encode(f"tok:{SECRET}".encode()).decode()[:20] not in text


def test_repr_of_a_half_built_client_works() -> None:
    half = WhatConverts.__new__(WhatConverts)
    assert repr(half) == "WhatConverts(key_type=None, base_url=None)"
    # As the constructor's ``self`` in a traceback with locals: rendered, not "repr failed".
    with pytest.raises(InvalidParameterError) as info:
        WhatConverts("tok", SECRET, timeout=-1)
    assert "self = WhatConverts(key_type=None, base_url=None)" in _rendered(info.value)


def test_a_client_built_from_the_environment_works_and_hides_the_secret() -> None:
    wc = WhatConverts.from_env({"WHATCONVERTS_API_TOKEN": "tok", "WHATCONVERTS_API_SECRET": SECRET})
    assert SECRET not in repr(wc) and SECRET not in repr(vars(wc))
    assert wc._credentials.header == "Basic " + base64.b64encode(f"tok:{SECRET}".encode()).decode()


ENDPOINT_SECRET = "ep-s3cret-92ab"


@pytest.mark.parametrize(
    "url",
    [
        f"https://[bad host/endpoint/{ENDPOINT_SECRET}",
        f"ftp://example.com/endpoint/{ENDPOINT_SECRET}",
        f"http://api.example.com/endpoint/{ENDPOINT_SECRET}",
    ],
)
def test_endpoint_url_errors_have_no_chain_holding_the_url(url: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        EndpointClient(url)
    assert chain(info.value) == [info.value]
    assert ENDPOINT_SECRET not in f"{info.value} {info.value!r} {vars(info.value)}"
    assert ENDPOINT_SECRET not in _rendered(info.value)


async def test_endpoint_send_errors_have_no_chain_holding_the_url() -> None:
    async with FakeWhatConverts(leads=5, seed=2) as fake:
        url = fake.endpoint_url()
        secret_part = url.rsplit("/", 1)[-1]
        row = OfflineLead(profile_id=fake.profile_id, date=date(2025, 1, 2))
        fake.faults.fail_next(10, 500, path_prefix="/endpoints/")
        async with EndpointClient(url, retry_policy=FAST, max_retries=1) as ep:
            with pytest.raises(WhatConvertsError) as info:
                await ep.send([row])
        async with EndpointClient(
            url.replace(f":{fake.url.split(':')[2].split('/')[0]}/", ":9/"),
            retry_policy=FAST,
            max_retries=0,
        ) as ep:
            with pytest.raises(APIConnectionError) as refused:
                await ep.send([row])
    for exc in (info.value, refused.value):
        for item in chain(exc):
            assert secret_part not in f"{item} {item!r} {vars(item)}"
        assert chain(exc) == [exc] or all(secret_part not in repr(vars(x)) for x in chain(exc))


@pytest.mark.parametrize("kwargs", [{"timeout": -1}, {"format": "xml"}, {"max_retries": "many"}])
def test_endpoint_settings_errors_render_with_locals_without_the_url(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        EndpointClient(f"https://app.example.com/endpoint/{ENDPOINT_SECRET}", **kwargs)
    text = _rendered(info.value)
    assert "EndpointConfig(" in text and "Traceback" in text
    assert ENDPOINT_SECRET not in text
