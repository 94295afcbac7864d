"""Developer tasks: ``nox -s tests`` (``tests_all`` on Python 3.10-3.13), ``lint``, ``typecheck``,
``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (unit, wire and loopback tests against the simulator)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=["3.10", "3.11", "3.12", "3.13"])
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python (those installed here)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "whatconverts_async")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks; ``nox -s bench -- --quick`` for a short run."""
    session.install("-e", ".[test,fast]")
    session.run("python", "-m", "benchmarks", *session.posargs)
