"""The package's import structure, read from the source (ast, nothing is imported).

* No import circle among ``whatconverts_async`` modules. Imports inside functions count
  (they only defer a circle); imports under ``if TYPE_CHECKING:`` do not (they never run).
* aiohttp is imported only by the transport, the session owner, the webhook receiver and
  the simulator: everything else reaches the network through the transport.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import whatconverts_async

PACKAGE = Path(whatconverts_async.__file__).parent
ROOT = "whatconverts_async"
AIOHTTP_ALLOWED = {
    f"{ROOT}._transport",
    f"{ROOT}._session",
    f"{ROOT}.webhooks",
}
AIOHTTP_ALLOWED_PACKAGES = (f"{ROOT}.testing",)

# Circles being removed in parallel work: each is named, and the test fails ("XPASS")
# once it is gone, so the entry is deleted with it.
KNOWN_CIRCLES: set[frozenset[str]] = set()  # none left; keep it that way


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (anywhere), skipping TYPE_CHECKING blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The absolute names an import statement reaches (module names, maybe outside)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level:
        is_package = MODULES.get(module, Path()).name == "__init__.py"
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
    # ``from . import leads`` depends on the submodule ``leads``: its package is always
    # initialised before any of its modules, so that is no dependency on ``__init__``.
    yield from submodules
    if len(submodules) < len(node.names):
        yield source


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(tree):
            graph[name].update(t for t in _targets(name, node) if t in MODULES and t != name)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_known_edges() -> None:
    """The checker itself: it must see a plain, a relative and a function-level import,
    and skip a TYPE_CHECKING one (otherwise every other assertion here proves nothing)."""
    graph = _graph()
    assert f"{ROOT}.errors" in graph[f"{ROOT}._transport"]
    assert f"{ROOT}.resources.leads" in graph[f"{ROOT}.client"]
    assert f"{ROOT}.resources.users" in graph[f"{ROOT}.resources"]
    assert f"{ROOT}.models" in graph[f"{ROOT}.convert"]  # ``from whatconverts_async.models``
    sample = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import never\n"
        "def f():\n    import deferred\n"
    )
    names = {alias.name for n in _runtime_imports(sample) for alias in n.names}
    assert names == {"TYPE_CHECKING", "deferred"}
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})
    ]


def test_no_import_circles() -> None:
    unexpected = [c for c in _circles(_graph()) if c not in KNOWN_CIRCLES]
    assert not unexpected, "import circles: " + "; ".join(
        " <-> ".join(sorted(c)) for c in unexpected
    )


def _imports_aiohttp(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "aiohttp" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "aiohttp":
            return True
    return False


def test_aiohttp_only_in_the_transport_the_session_webhooks_and_the_simulator() -> None:
    importers = {name for name, path in MODULES.items() if _imports_aiohttp(path)}
    outside = {
        name
        for name in importers - AIOHTTP_ALLOWED
        if not name.startswith(AIOHTTP_ALLOWED_PACKAGES)
    }
    assert not outside, f"aiohttp imported outside the transport: {sorted(outside)}"
    assert {f"{ROOT}._transport", f"{ROOT}._session"} <= importers
