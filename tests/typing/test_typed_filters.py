"""Typed filters: :class:`~whatconverts_async.vocab.LeadFilters` matches the filter table,
and ``mypy --strict`` accepts right filters and rejects misspelt ones."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from whatconverts_async.resources.leads import _CREATE_TEXT, LeadCreateFields
from whatconverts_async.vocab import LEAD_FILTERS, LeadFilters, LeadStatus, LeadType, Quotable

CASES = Path(__file__).parent / "cases"

KIND_TYPES = {"text": {str}, "bool": {bool}, "id": {int}}
CHOICE_ENUMS = {"lead_type": LeadType, "lead_status": LeadStatus, "quotable": Quotable}


def test_the_typed_dict_has_exactly_the_table_filters() -> None:
    assert set(LeadFilters.__annotations__) == set(LEAD_FILTERS)
    assert LeadFilters.__required_keys__ == frozenset()


def test_the_create_fields_typed_dict_has_exactly_the_create_text_fields() -> None:
    assert set(LeadCreateFields.__annotations__) == set(_CREATE_TEXT)
    assert LeadCreateFields.__required_keys__ == frozenset()


def test_each_filter_is_typed_as_its_kind() -> None:
    hints = typing.get_type_hints(LeadFilters)
    for name, spec in LEAD_FILTERS.items():
        members = set(typing.get_args(hints[name])) - {type(None)}
        if spec.kind == "choice":
            enum = CHOICE_ENUMS.get(name)
            if enum is not None:
                assert members == {enum, str}, name
            else:
                (literal,) = members
                assert set(typing.get_args(literal)) == set(spec.allowed), name
        else:
            assert members == KIND_TYPES[spec.kind], name


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    pytest.importorskip("mypy")
    cache = tmp_path_factory.mktemp("mypy-cache")
    # In a child process, not mypy.api.run: mypy raises the recursion limit (and tunes
    # the garbage collector) of the process it runs in, which would change what later
    # tests of this session see (the JSON depth limit tests among them).
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version",
            "3.10",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            str(CASES / "filters_ok.py"),
            str(CASES / "filters_typo.py"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.stdout + done.stderr, done.returncode


def test_right_filters_pass_mypy_strict(mypy_report: tuple[str, int]) -> None:
    out, _ = mypy_report
    assert "filters_ok.py" not in out, out


def test_misspelt_or_mistyped_filters_fail_mypy_strict(mypy_report: tuple[str, int]) -> None:
    out, status = mypy_report
    assert status == 1, out
    source = (CASES / "filters_typo.py").read_text().splitlines()
    expected = {n for n, line in enumerate(source, 1) if line.endswith("# error")}
    reported = {int(m) for m in re.findall(r"filters_typo\.py:(\d+): error", out)}
    assert expected and reported == expected, out
