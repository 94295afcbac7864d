"""The simulator's parts without a network: independence, lead store, directory, generator."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest

import whatconverts_async.testing as testing
from whatconverts_async.testing.data import Dataset, LeadFilter
from whatconverts_async.testing.directory import Directory
from whatconverts_async.testing.generator import LeadRenderer, generate_columns
from whatconverts_async.testing.store import LeadStore, _dict_matches
from whatconverts_async.testing.vocabulary import LEAD_TYPES, QUOTABLE_VALUES

UTC = timezone.utc
PACKAGE = Path(testing.__file__).parent


def test_the_simulator_imports_nothing_from_the_client() -> None:
    # It checks the client independently, so it must not share its code.
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                outside = node.level == 0 and module.startswith("whatconverts_async")
                if outside and not module.startswith("whatconverts_async.testing"):
                    offenders.append(f"{path.name}: from {module}")
                if node.level > 1:
                    offenders.append(f"{path.name}: relative import above the package")
            elif isinstance(node, ast.Import):
                offenders += [
                    f"{path.name}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("whatconverts_async")
                    and not alias.name.startswith("whatconverts_async.testing")
                ]
    assert offenders == []


FILTERS = [
    LeadFilter(),
    LeadFilter(lead_type=0),
    LeadFilter(lead_type=7, has_sales=True),
    LeadFilter(repeat=True, quotable=1),
    LeadFilter(spam_only=True),
    LeadFilter(spam_hidden=True),
    LeadFilter(spam_hidden=True, duplicate_only=True),
    LeadFilter(has_quote=False, repeat=False),
    LeadFilter(text=(("lead_source", "google"),)),
]


@pytest.fixture(scope="module")
def data() -> Dataset:
    ds = Dataset.generate(leads=4_000, seed=9, accounts=2, profiles_per_account=2)
    # Created and edited leads go through other code paths than generated columns.
    pid = ds.profile_ids()[1]
    for day in range(1, 40):
        ds.insert_lead(
            datetime(2020, 1, day % 28 + 1, tzinfo=UTC), profile_id=pid, spam=day % 3 == 0
        )
    for lead_id in ds.lead_ids()[::97]:
        ds.patch_lead(lead_id, {"spam": True, "lead_type": "Chat", "quotable": "Yes"})
    return ds


@pytest.mark.parametrize("flt", FILTERS, ids=repr)
def test_select_agrees_with_the_reference_semantics(data: Dataset, flt: LeadFilter) -> None:
    every = data.lead_ids()
    want = [i for i in every if _dict_matches(data.wire_lead(i), flt)]
    assert data.select(flt).all() == want
    scoped = LeadFilter(**{**flt.__dict__, "profile_ids": frozenset(data.profile_ids()[:1])})
    want = [i for i in every if _dict_matches(data.wire_lead(i), scoped)]
    assert data.select(scoped).all() == want


def test_spam_hidden_and_spam_only_partition_the_leads(data: Dataset) -> None:
    hidden = set(data.select(LeadFilter(spam_hidden=True)).all())
    only = set(data.select(LeadFilter(spam_only=True)).all())
    assert hidden and only and not hidden & only
    assert hidden | only == set(data.lead_ids())


def test_parts_compose_like_the_dataset() -> None:
    start, end = 1_500_000_000, 1_600_000_000
    directory = Directory(salt=123)
    directory.generate(2, 3, start)
    assert len(directory.profile_order) == 6 and len(directory.account_ids()) == 2
    columns = generate_columns(500, start, end, 123, len(directory.profile_order))
    assert list(columns.ts) == sorted(columns.ts) and list(columns.ids) == sorted(columns.ids)
    assert columns.max_id == columns.ids[-1]
    store = LeadStore(columns, LeadRenderer(123, directory.names), directory, salt=123)
    assert len(store) == 500
    lead = store.wire_lead(columns.ids[0])
    assert lead["lead_type"] in LEAD_TYPES.values() and lead["quotable"] in QUOTABLE_VALUES.values()
    name, account_id, account_name = directory.names(lead["profile_id"])
    assert (lead["profile"], lead["account_id"], lead["account"]) == (
        name,
        account_id,
        account_name,
    )
    # A rename reaches rendered leads only after the store is told (the Dataset does this).
    directory.rename_profile(lead["profile_id"], "Renamed")
    store.changed(rendered=True)
    assert store.wire_lead(columns.ids[0])["profile"] == "Renamed"
    assert directory.names(999) == ("", 0, "")


def test_generation_is_deterministic_per_seed() -> None:
    a = Dataset.generate(leads=300, seed=4)
    b = Dataset.generate(leads=300, seed=4)
    c = Dataset.generate(leads=300, seed=5)
    assert [a.wire_lead(i) for i in a.lead_ids()] == [b.wire_lead(i) for i in b.lead_ids()]
    assert a.lead_ids() != c.lead_ids()
