"""Shared pieces: the simulator process, client worker subprocesses, and small statistics.

Nothing here imports the library, so a worker can still block ``orjson`` before the
library is imported.
"""

from __future__ import annotations

import json
import os
import selectors
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "ROOT",
    "SimulatorProcess",
    "WorkerError",
    "median",
    "run_measured",
    "run_worker",
]

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]


class WorkerError(RuntimeError):
    """A benchmark subprocess failed or answered something unreadable."""


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def run_measured(args: Sequence[str], *, timeout: float = 900.0) -> tuple[str, float, int]:
    """Run a command to completion; return (stdout, wall seconds, peak RSS in bytes).

    ``os.wait4`` gives the peak of this very child (``RUSAGE_CHILDREN`` would report
    the largest child of the whole run, the simulator included).
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_env(),
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out_chunks)
    sel.register(proc.stderr, selectors.EVENT_READ, err_chunks)
    open_streams = 2
    deadline = started + timeout
    while open_streams:
        if time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            raise WorkerError(f"timed out after {timeout:g} s: {' '.join(args)}")
        for key, _ in sel.select(timeout=1.0):
            chunk = os.read(key.fd, 65536)
            if chunk:
                key.data.append(chunk)
            else:
                sel.unregister(key.fileobj)
                open_streams -= 1
    sel.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        err = b"".join(err_chunks).decode(errors="replace")[-2000:]
        raise WorkerError(f"exit status {proc.returncode}: {' '.join(args)}\n{err}")
    # ru_maxrss is in kilobytes on Linux.
    return b"".join(out_chunks).decode(), wall, int(usage.ru_maxrss) * 1024


def run_worker(spec: Json, *, timeout: float = 900.0) -> Json:
    """Run one client-side task in a fresh interpreter (``benchmarks._worker``)."""
    out, wall, peak = run_measured(
        [sys.executable, "-m", "benchmarks._worker", json.dumps(spec)], timeout=timeout
    )
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise WorkerError(f"no result from worker {spec.get('task')!r}: {out[-500:]!r}")
    result: Json = json.loads(lines[-1])
    result["process_wall_s"] = wall
    result["process_peak_rss_bytes"] = peak
    return result


class SimulatorProcess:
    """The simulator in its own process (the client then has a core of its own).

    Example::

        with SimulatorProcess(leads=250_000, start="2024-01-01", end="2025-01-01") as sim:
            print(sim.url, sim.token)
    """

    def __init__(
        self,
        *,
        leads: int,
        start: str = "2017-01-01",
        end: str = "2026-01-01",
        latency: float = 0.0,
        cache: int = 10_000,
        warm: bool = False,
        ready_timeout: float = 180.0,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "benchmarks._simserver",
            "--leads",
            str(leads),
            "--start",
            start,
            "--end",
            end,
            "--latency",
            repr(latency),
            "--cache",
            str(cache),
        ]
        if warm:
            self.args.append("--warm")
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self.secret = ""
        self.leads = 0

    def __enter__(self) -> SimulatorProcess:
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
            cwd=ROOT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.ready_timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buffer = b""
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                sel.close()
                raise WorkerError(f"the simulator did not start: {' '.join(self.args)}")
            if sel.select(timeout=min(left, 1.0)):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    sel.close()
                    raise WorkerError("the simulator exited before it was ready")
                buffer += chunk
        sel.close()
        info = json.loads(buffer.split(b"\n", 1)[0])
        self.url, self.token, self.secret = info["url"], info["token"], info["secret"]
        self.leads = int(info["leads"])
        # It says it listens; make sure it answers (an unauthenticated request gets a 401).
        while True:
            try:
                with urllib.request.urlopen(self.url + "leads", timeout=5):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise WorkerError("the simulator does not answer") from None
                time.sleep(0.05)

    @property
    def client(self) -> Json:
        """What a worker needs to reach this simulator."""
        return {"url": self.url, "token": self.token, "secret": self.secret}

    def stop(self) -> None:
        """Stop the simulator process (closing its stdin, then SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
