"""Shared pytest configuration for the test-suite."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The simulator's fixture plugin is an entry point of the installed package;
    # register it here too so the suite also runs from a plain checkout.
    from whatconverts_async.testing import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "whatconverts_async.testing.pytest_plugin")

    # Every answer beyond 2 KB takes the sliced decode (with msgspec, in slices of 7 items),
    # so the whole suite checks that it gives what one loads() call gives. With
    # WHATCONVERTS_TEST_SPLITTER=none the suite runs as without msgspec (one call).
    from whatconverts_async import _json

    _json.SLICE_BYTES = 2048
    _json.SLICE_ITEMS = 7
    if os.environ.get("WHATCONVERTS_TEST_SPLITTER") == "none":
        _json._split_object = _json._split_array = None
        _json.msgspec = None  # and lead pages are not read from their bytes
