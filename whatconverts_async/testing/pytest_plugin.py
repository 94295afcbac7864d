"""pytest plugin: the ``whatconverts_fake`` fixture.

Installed with the package (entry point ``pytest11``), so any test can ask for a
running simulator::

    async def test_lists_leads(whatconverts_fake):
        fake = whatconverts_fake
        ...  # point the code under test at fake.url, fake.token, fake.secret

The fixture is function-scoped: 1,000 leads, seed 0, a profile key. Change that per
test with the ``whatconverts_fake`` marker, which takes the keyword arguments of
:class:`~whatconverts_async.testing.FakeWhatConverts`::

    @pytest.mark.whatconverts_fake(leads=5_000, key_type="master", daily_limit=10)
    async def test_quota(whatconverts_fake): ...

The fixture is async: it needs pytest-asyncio (or anyio's pytest plugin).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest

from .server import FakeWhatConverts

__all__ = ["pytest_configure", "whatconverts_fake"]

MARKER = "whatconverts_fake"
_DEFAULTS: dict[str, Any] = {"leads": 1_000, "seed": 0}
_F = TypeVar("_F", bound=Callable[..., Any])


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``whatconverts_fake`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): arguments for the FakeWhatConverts of the whatconverts_fake fixture",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options = dict(_DEFAULTS)
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        options.update(marker.kwargs)
    return options


def _fixture_decorator() -> Callable[[_F], _F]:
    # pytest-asyncio needs its own decorator in strict mode; anyio's plugin handles
    # plain pytest fixtures, so fall back to those.
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - depends on the environment
        return cast("Callable[[_F], _F]", pytest.fixture)
    return cast("Callable[[_F], _F]", pytest_asyncio.fixture)


@_fixture_decorator()
async def whatconverts_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeWhatConverts]:
    """A started :class:`FakeWhatConverts` (1,000 leads, seed 0), closed after the test."""
    async with FakeWhatConverts(**_options(request)) as fake:
        yield fake
