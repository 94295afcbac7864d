"""Shared pytest configuration for the test-suite."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The simulator's fixture plugin is an entry point of the installed package;
    # register it here too so the suite also runs from a plain checkout.
    from whatconverts_async.testing import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "whatconverts_async.testing.pytest_plugin")
