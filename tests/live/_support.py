"""Helpers shared by the loopback tests."""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any

from whatconverts_async import RetryPolicy, WhatConverts
from whatconverts_async.testing import FakeWhatConverts

# Short waits so retry tests take milliseconds, not the production half-second base.
FAST_RETRIES = RetryPolicy(base_wait=0.01, max_wait=0.05)


def client_for(fake: FakeWhatConverts, **kwargs: Any) -> WhatConverts:
    """A client for ``fake`` with its key type, URL and fast retries."""
    kwargs.setdefault("retry_policy", FAST_RETRIES)
    return WhatConverts(
        fake.token, fake.secret, key_type=fake.key_type, base_url=fake.url, **kwargs
    )


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__``/``__context__``, once each."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__]
    return seen


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``whatconverts ARGS`` in a subprocess; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatconverts_async",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def rendered_with_locals(exc: BaseException, *, skip_file: str) -> str:
    """The error as a tracker ships it: every exception of the chain with its traceback and
    frame locals, its str, repr, attributes and headers. Frames of ``skip_file`` (the test
    module, whose locals hold the credentials on purpose) are left out."""
    parts = []
    for item in chain(exc):
        shown = traceback.TracebackException(
            type(item), item, item.__traceback__, capture_locals=True
        )
        shown.stack = traceback.StackSummary.from_list(
            [frame for frame in shown.stack if frame.filename != skip_file]
        )
        parts.append("".join(shown.format()))
        parts += [str(item), repr(item), repr(vars(item))]
        headers = getattr(item, "headers", None)
        if headers:
            parts.append(repr(list(headers.items())))
    return "\n".join(parts)
