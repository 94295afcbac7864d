"""Release checks on built distributions: run by .ci/run after ``python -m build``.

Usage: ``python .ci/check_dist.py DIST_DIR``. Checks that

- the wheel holds only the package and its metadata: no tests, benchmarks, results data,
  caches or compiled files, and that ``py.typed`` and the simulator are there;
- the sdist holds no benchmark results, caches, virtualenvs or build output;
- the wheel installs into a fresh virtual environment (without the source tree on the
  path) and ``whatconverts --version`` prints this version.

Exits non-zero naming every problem found.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "whatconverts_async"
BANNED_PARTS = {"tests", "benchmarks", "__pycache__", ".venv", ".nox", ".mypy_cache", "dist"}
BANNED_SUFFIXES = (".pyc", ".pyo", ".db", ".sqlite", ".duckdb", ".jsonl", ".checkpoint")


def version() -> str:
    text = (Path(__file__).resolve().parents[1] / PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    assert match, "no __version__ in the package"
    return match.group(1)


def wheel_problems(wheel: Path) -> list[str]:
    names = zipfile.ZipFile(wheel).namelist()
    problems = []
    for name in names:
        top = name.split("/", 1)[0]
        if top != PACKAGE and not top.endswith(".dist-info"):
            problems.append(f"wheel: unexpected top-level entry {name}")
        parts = set(name.split("/"))
        if parts & BANNED_PARTS or name.endswith(BANNED_SUFFIXES):
            problems.append(f"wheel: must not contain {name}")
        if name.startswith(f"{PACKAGE}/") and name.endswith(".json"):
            problems.append(f"wheel: data file {name} (results or samples do not ship)")
    for needed in (f"{PACKAGE}/py.typed", f"{PACKAGE}/testing/server.py", f"{PACKAGE}/dlt.py"):
        if needed not in names:
            problems.append(f"wheel: {needed} is missing")
    return problems


def sdist_problems(sdist: Path) -> list[str]:
    problems = []
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for name in names:
        if name.startswith("tests/samples/"):
            continue  # recorded inputs the sdist's tests read (an old export among them)
        parts = set(name.split("/"))
        if parts & (BANNED_PARTS - {"tests", "benchmarks"}) or name.endswith(BANNED_SUFFIXES):
            problems.append(f"sdist: must not contain {name}")
        if name.startswith("benchmarks/") and name.endswith(".json"):
            problems.append(f"sdist: benchmark results {name}")
    if "pyproject.toml" not in names:
        problems.append("sdist: pyproject.toml is missing")
    return problems


def install_problems(wheel: Path, expected: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        bindir = venv / ("Scripts" if sys.platform == "win32" else "bin")
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)],
            check=True,
            cwd=tmp,  # not the source tree: the installed wheel must stand on its own
        )
        shown = subprocess.run(
            [str(bindir / "whatconverts"), "--version"],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
    if shown.returncode != 0:
        return [f"installed wheel: whatconverts --version failed: {shown.stderr.strip()}"]
    if shown.stdout.strip() != f"whatconverts {expected}":
        return [f"installed wheel: --version printed {shown.stdout.strip()!r}"]
    return []


def main() -> int:
    dist = Path(sys.argv[1])
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
        return 1
    expected = version()
    problems = wheel_problems(wheels[0]) + sdist_problems(sdists[0])
    if expected not in wheels[0].name:
        problems.append(f"wheel {wheels[0].name} is not version {expected}")
    if not problems:
        problems = install_problems(wheels[0], expected)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"dist ok: {wheels[0].name}, {sdists[0].name}; installs and runs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
