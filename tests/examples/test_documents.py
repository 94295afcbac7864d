"""Every Python block in README.md and docs/ runs against the simulator, and type-checks.

A block is one of two kinds:

* a **program** (it calls ``asyncio.run`` or ``web.run_app``, or is marked ``program``): it
  runs as its own process with the usual environment (``WHATCONVERTS_API_TOKEN``,
  ``WHATCONVERTS_API_SECRET``, ``WHATCONVERTS_BASE_URL``) pointing at a simulator;
* a **fragment** (the rest): it runs in this process with top-level ``await``, where the
  names the README leaves to the reader exist: ``wc`` (a master-key client on the
  simulator), ``token``/``secret``, ``lead_id``, ``database``, ``already_seen``, ``save``...

An HTML comment right above a block tunes it: ``<!-- readme-test: KEY=VALUE; ... -->`` with
``until=TEXT`` (a server: it passes once it prints TEXT, then it is stopped),
``then=EXPR`` (awaited after the block, e.g. a coroutine function the block defines),
``check=NAME`` (a function below drives what the block built; ``pytest`` runs a block of
tests with pytest) or ``needs=MODULE``.

The README's example ids (``70011``, ``80022``, ``178849242``...) are replaced by ids the
simulator has; a fixed port by a free one. Nothing else in a block is changed.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from whatconverts_async import Lead, WhatConverts
from whatconverts_async.testing import FakeWhatConverts

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 120.0  # seconds for one block; each takes a few

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
_DIRECTIVE = re.compile(r"<!--\s*readme-test:(.*?)-->\s*\n\s*$", re.S)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the block's first code line
    code: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def program(self) -> bool:
        return "program" in self.options or bool(
            re.search(r"^(asyncio\.run|web\.run_app)\(", self.code, re.M)
        )

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start(1)) + 1
        options: dict[str, str] = {}
        directive = _DIRECTIVE.search(text[max(0, match.start() - 400) : match.start()])
        if directive:
            for item in directive.group(1).split(";"):
                key, _, value = item.strip().partition("=")
                if key:
                    options[key.strip()] = value.strip()
        found.append(Block(path, line, match.group(1), options))
    return found


BLOCKS = [block for path in DOCUMENTS for block in _blocks(path)]


def test_the_readme_and_docs_have_python_blocks() -> None:
    assert len([b for b in BLOCKS if b.path == README]) >= 15, [str(b) for b in BLOCKS]
    assert len(BLOCKS) >= 30, [str(b) for b in BLOCKS]


# --- the simulator and the README's ids -------------------------------------------------


@dataclass
class World:
    fake: FakeWhatConverts
    ids: dict[str, str]
    tmp: Path
    env: dict[str, str]
    calls: list[int]  # ids of phone calls (they have recordings)

    def source(self, block: Block) -> str:
        code = block.code
        for old, new in self.ids.items():
            if old.isdigit():  # a bare number, not inside another
                code = re.sub(rf"(?<![\w.]){old}(?!\w)", new, code)
            else:
                code = code.replace(old, new)
        return re.sub(r"\bport=8080\b", f"port={_free_port()}", code)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    async with FakeWhatConverts(leads=3_000, seed=17, key_type="master", accounts=2) as fake:
        async with WhatConverts(
            fake.token, fake.secret, key_type="master", base_url=fake.url
        ) as wc:
            account = (await wc.accounts.list()).items[0]
            profile = (await wc.profiles.list(account.account_id)).items[0]
            user = (await wc.users.list()).items[0]
            role = (await wc.roles.list()).items[0]
        calls = [i for i in fake.data.lead_ids() if fake.data.lead_type_code(i) == "phone_call"]
        ids = {
            "178849242": str(fake.data.lead_ids()[-1]),
            "70011": str(account.account_id),
            "80022": str(profile.profile_id),
            "users.get(12)": f"users.get({user.user_id})",
            "roles.get(501)": f"roles.get({role.role_id})",
            "redis://localhost:6379/0": os.environ.get("WHATCONVERTS_TEST_REDIS_URL", ""),
        }
        env = {
            "WHATCONVERTS_API_TOKEN": fake.token,
            "WHATCONVERTS_API_SECRET": fake.secret,
            "WHATCONVERTS_BASE_URL": fake.url,
            "WHATCONVERTS_KEY_TYPE": "master",
            "WHATCONVERTS_WEBHOOK_SECRET": "readme-webhook-secret",
            "WEBHOOK_SECRET": "readme-webhook-secret",
            "WHATCONVERTS_MIRROR_DB": str(tmp_path / "mirror.db"),
            "WHATCONVERTS_ENDPOINT_URL": fake.endpoint_url(profile.profile_id),
            # dlt's own way to configure a source (its secrets and config providers).
            "SOURCES__WHATCONVERTS__API_TOKEN": fake.token,
            "SOURCES__WHATCONVERTS__API_SECRET": fake.secret,
            "SOURCES__WHATCONVERTS__BASE_URL": fake.url,
            "SOURCES__WHATCONVERTS__KEY_TYPE": "master",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "DLT_DATA_DIR": str(tmp_path / "dlt-data"),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield World(fake, ids, tmp_path, env, calls)


# --- fragments --------------------------------------------------------------------------


class _Database:
    """What ``database.insert_many(page.items)`` stands for in the README."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def insert_many(self, rows: list[Any]) -> None:
        self.rows.extend(rows)


async def _run_fragment(block: Block, world: World) -> dict[str, Any]:
    seen: set[str] = set()
    saved: list[Lead] = []

    async def already_seen(key: str) -> bool:
        found = key in seen
        seen.add(key)
        return found

    async def save(lead: Lead) -> None:
        saved.append(lead)

    async def on_lead(event: Any) -> None:
        saved.append(event.lead)

    read: list[Lead] = []

    def done(lead: Lead) -> bool:
        read.append(lead)
        return len(read) == 10

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.5, stop.set)

    lead_id = world.calls[0]
    async with WhatConverts(
        world.fake.token, world.fake.secret, key_type="master", base_url=world.fake.url
    ) as wc:
        namespace: dict[str, Any] = {
            "__name__": "readme_block",
            "asyncio": asyncio,
            "os": os,
            "WhatConverts": WhatConverts,
            "wc": wc,
            "token": world.fake.token,
            "secret": world.fake.secret,
            "api_token": world.fake.token,
            "api_secret": world.fake.secret,
            "lead_id": lead_id,
            "database": _Database(),
            "already_seen": already_seen,
            "save": save,
            "save_lead": save,
            "saved": saved,
            "on_lead": on_lead,
            "done": done,
            "read": read,
            "stop": stop,
            "body_bytes": json.dumps(world.fake.webhooks.payload_for(lead_id, "new")).encode(),
        }
        exec("from datetime import date\nfrom decimal import Decimal", namespace)
        source = "\n" * (block.line - 1) + world.source(block)
        code = compile(source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if asyncio.iscoroutine(result):
            await asyncio.wait_for(result, TIMEOUT)
        if "then" in block.options:
            await asyncio.wait_for(eval(block.options["then"], namespace), TIMEOUT)
        return namespace


# --- programs ---------------------------------------------------------------------------


async def _run_program(block: Block, world: World) -> str:
    script = world.tmp / f"block_{block.path.stem}_{block.line}.py"
    script.write_text(_PROGRAM_PRELUDE + world.source(block), encoding="utf-8")
    env = {**os.environ, **world.env, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=world.tmp,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    until = block.options.get("until")
    try:
        if until is None:
            output, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
            assert proc.returncode == 0, output.decode(errors="replace")
            return output.decode()
        stdout = proc.stdout

        async def read_until() -> bytes:
            seen = b""
            while until.encode() not in seen:
                chunk = await stdout.read(4096)
                assert chunk, f"{block} ended before printing {until!r}:\n" + seen.decode()
                seen += chunk
            return seen

        return (await asyncio.wait_for(read_until(), TIMEOUT)).decode()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# Names a program block leaves to its reader, defined before its first line.
_PROGRAM_PRELUDE = """\
from __future__ import annotations

from typing import Any


async def already_seen(key: str) -> bool:
    return False


async def save(lead: Any) -> None:
    print("saved", lead.lead_id)


"""


# --- checks of what a block built -------------------------------------------------------


async def _check_fastapi(namespace: dict[str, Any], world: World) -> None:
    """POST one webhook to the block's ASGI ``app``, as an ASGI server would."""
    app = namespace["app"]
    lead_id = world.calls[0]
    body = json.dumps(world.fake.webhooks.payload_for(lead_id, "new")).encode()
    secret = world.env["WHATCONVERTS_WEBHOOK_SECRET"]

    async def call(query: str) -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                await asyncio.sleep(3600)
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/hooks/whatconverts",
            "raw_path": b"/hooks/whatconverts",
            "query_string": query.encode(),
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, content

    assert (await call("secret=wrong"))[0] == 401
    assert await call(f"secret={secret}") == (200, b'{"ok":true}')
    assert [lead.lead_id for lead in namespace["saved"]] == [lead_id]
    await call(f"secret={secret}")  # a redelivery
    assert len(namespace["saved"]) == 1


async def _check_pagination(namespace: dict[str, Any], world: World) -> None:
    """The loop stopped at the tenth lead, as the block's ``done`` asked."""
    assert len(namespace["read"]) == 10


CHECKS: dict[str, Callable[[dict[str, Any], World], Awaitable[None]]] = {
    "fastapi": _check_fastapi,
    "pagination": _check_pagination,
}


async def _run_with_pytest(block: Block, world: World) -> None:
    """A block of tests: pytest runs it (with this package's plugin) and it must pass."""
    test_file = world.tmp / f"test_block_{block.path.stem}_{block.line}.py"
    test_file.write_text(world.source(block), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        str(test_file),
        cwd=world.tmp,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, output.decode(errors="replace")
    assert b"passed" in output, output.decode(errors="replace")


# --- the tests --------------------------------------------------------------------------


def _params() -> Iterator[Any]:
    for block in BLOCKS:
        yield pytest.param(block, id=f"{block.path.stem}-line{block.line}")


@pytest.mark.parametrize("block", list(_params()))
async def test_document_block_runs(block: Block, world: World) -> None:
    needs = block.options.get("needs")
    if needs == "redis" and not os.environ.get("WHATCONVERTS_TEST_REDIS_URL"):
        pytest.skip("WHATCONVERTS_TEST_REDIS_URL is not set (a Redis server is needed)")
    elif needs and needs != "redis" and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} is not installed")
    if block.options.get("check") == "pytest":
        await _run_with_pytest(block, world)
        return
    if block.program:
        output = await _run_program(block, world)
        if "expect" in block.options:
            assert block.options["expect"] in output, output
        return
    namespace = await _run_fragment(block, world)
    if "check" in block.options:
        await CHECKS[block.options["check"]](namespace, world)


@pytest.mark.parametrize("path", [README, ROOT / "docs" / "errors.md"], ids=lambda p: p.name)
def test_the_error_trees_name_every_exception(path: Path) -> None:
    """The drawn exception trees list every class of ``errors.py`` under its real parent."""
    import whatconverts_async.errors as errors

    found_tree = re.search(r"^```\n(WhatConvertsError.*?)^```", path.read_text(), re.M | re.S)
    assert found_tree, f"no exception tree in {path.name}"
    tree = found_tree.group(1)
    depth_of: dict[str, int] = {}
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in tree.splitlines():
        found = re.search(r"(\w+(?:Error|Exception))", line)
        if not found:
            continue
        name = found.group(1)
        depth = found.start() // 4
        del stack[depth:]
        if stack:
            parents[name] = stack[-1]
        stack.append(name)
        depth_of[name] = depth
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.WhatConvertsError)
    }
    assert set(depth_of) == set(classes), set(classes) ^ set(depth_of)
    for name, parent in parents.items():
        assert classes[parent] in classes[name].__bases__, (name, parent)


def test_every_directive_is_known() -> None:
    known = {"program", "until", "then", "check", "needs", "expect"}
    for block in BLOCKS:
        assert set(block.options) <= known, (str(block), block.options)
        assert block.options.get("check", "fastapi") in {*CHECKS, "pytest"}, str(block)


# --- types ------------------------------------------------------------------------------

_TYPED_PRELUDE = """\
from __future__ import annotations

import asyncio
import os
from datetime import date
from decimal import Decimal
from typing import Any

from whatconverts_async import Lead, WhatConverts

token = secret = api_token = api_secret = "x"
lead_id = 1
body_bytes = b"{}"


class _Database:
    def insert_many(self, rows: list[Lead]) -> None: ...


database = _Database()


async def already_seen(key: str) -> bool:
    return False


async def save(lead: Lead) -> None:
    pass


save_lead = save
stop = asyncio.Event()


def done(lead: Lead) -> bool:
    return True
"""
# Left out when the block defines the name itself.
_TYPED_OPTIONAL = {
    "on_lead": "\n\nasync def on_lead(event: object) -> None:\n    pass\n",
}


def test_document_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """Each block, as a user would paste it, passes ``mypy --strict``.

    Blocks of tests (``check=pytest``) are left out: test functions are commonly untyped.
    """
    pytest.importorskip("mypy")
    for block in BLOCKS:
        if block.options.get("needs") and importlib.util.find_spec(block.options["needs"]) is None:
            continue
        if block.options.get("check") == "pytest":
            continue
        if block.program or ("async def" in block.code and "await" not in _top_level(block)):
            body = block.code
        else:  # a fragment: its statements in a coroutine with a client
            body = "async def _block(wc: WhatConverts) -> None:\n" + textwrap.indent(
                block.code, "    "
            )
        prelude = _TYPED_PRELUDE + "".join(
            text for name, text in _TYPED_OPTIONAL.items() if f"def {name}(" not in block.code
        )
        (tmp_path / f"block_{block.path.stem}_{block.line}.py").write_text(
            prelude + "\n\n" + body, encoding="utf-8"
        )
    # In a child process, not mypy.api.run: mypy raises the recursion limit (and tunes the
    # collector) for the rest of the session, which changes what other tests see.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    stdout, stderr, status = result.stdout, result.stderr, result.returncode
    assert status == 0, stdout + stderr


def _top_level(block: Block) -> str:
    """The block's lines outside function bodies (where a top-level await would be)."""
    return "\n".join(line for line in block.code.splitlines() if not line.startswith((" ", "\t")))
