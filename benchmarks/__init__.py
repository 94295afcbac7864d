"""Benchmarks of whatconverts-async against its loopback API simulator.

Run them with ``python -m benchmarks`` (or ``nox -s bench``); ``--quick`` proves they still
work in seconds. Each figure is measured against a baseline in the same run; see
``benchmarks/README.md`` for what every figure means and the last numbers measured.

This package must not import the library at import time: the client-side workers
(:mod:`benchmarks._worker`) decide first whether ``orjson`` may be used.
"""

from __future__ import annotations

__all__: list[str] = []
