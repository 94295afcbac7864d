"""Key-type mistakes: a profile key declared master is named as such when an agency-only
resource refuses it, and ``wc.check_key_type()`` tells the type for one request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from whatconverts_async import (
    APIError,
    AuthenticationError,
    InvalidParameterError,
    KeyType,
    KeyTypeError,
    PermissionDeniedError,
    RetryPolicy,
    WhatConverts,
)
from whatconverts_async.testing import FakeWhatConverts, Realism
from whatconverts_async.testing.records import ApiKey

FAST = RetryPolicy(base_wait=0.001, max_wait=0.01)


@pytest.fixture
async def agency() -> AsyncIterator[FakeWhatConverts]:
    async with FakeWhatConverts(
        leads=30, seed=7, key_type="master", accounts=1, profiles_per_account=1
    ) as fake:
        yield fake


def client(fake: FakeWhatConverts, key: ApiKey, key_type: str) -> WhatConverts:
    return WhatConverts(
        key.token,
        key.secret,
        key_type=key_type,  # type: ignore[arg-type]
        base_url=fake.url,
        retry_policy=FAST,
    )


async def test_a_profile_key_declared_master_is_named_on_an_agency_resource(
    agency: FakeWhatConverts,
) -> None:
    async with client(agency, agency.profile_key, "master") as wc:
        with pytest.raises(KeyTypeError) as caught:
            await wc.accounts.list()
        for call in (wc.users.list(), wc.profiles.list(account_id=1)):
            with pytest.raises(KeyTypeError):
                await call
        assert wc.quota.used == 3 and wc.quota.limit == 10_000
    exc = caught.value
    assert isinstance(exc, PermissionDeniedError) and exc.status == 403
    assert exc.declared == "master" and exc.detected == "profile"
    assert exc.error_message == "Agency Key is required to access this resource."
    text = str(exc)
    assert "profile key" in text and "1,000" in text and "key_type='profile'" in text
    assert agency.profile_key.secret not in text and agency.profile_key.token not in text


async def test_check_key_type_detects_a_profile_key_declared_master(
    agency: FakeWhatConverts,
) -> None:
    async with client(agency, agency.profile_key, "master") as wc:
        before = agency.request_count
        with pytest.raises(KeyTypeError, match="profile key"):
            await wc.check_key_type()
        assert await wc.check_key_type(raise_on_mismatch=False) is KeyType.PROFILE
        assert agency.request_count - before == 2 and wc.quota.used == 2


async def test_check_key_type_agrees_with_a_right_declaration(agency: FakeWhatConverts) -> None:
    async with client(agency, agency.master_key, "master") as wc:
        assert await wc.check_key_type() is KeyType.MASTER
        assert wc.quota.used == 1
    async with client(agency, agency.profile_key, "profile") as wc:
        assert await wc.check_key_type() is KeyType.PROFILE
        assert wc.quota.used == 1


async def test_check_key_type_detects_a_master_key_declared_profile(
    agency: FakeWhatConverts,
) -> None:
    async with client(agency, agency.master_key, "profile") as wc:
        with pytest.raises(KeyTypeError) as caught:
            await wc.check_key_type()
        assert caught.value.detected == "master" and caught.value.declared == "profile"
        assert "10,000" in str(caught.value)
        assert await wc.check_key_type(raise_on_mismatch=False) is KeyType.MASTER
        with pytest.raises(InvalidParameterError) as bad:
            await wc.check_key_type(raise_on_mismatch="no")  # type: ignore[arg-type]
        assert bad.value.parameter == "raise_on_mismatch"
        assert wc.quota.used == 2


async def test_a_403_for_another_reason_is_not_called_a_key_type_mistake(
    agency: FakeWhatConverts,
) -> None:
    async with client(agency, agency.master_key, "master") as wc:
        agency.faults.fail_next(1, 403, body='{"error_message": "IP address not allowed."}')
        with pytest.raises(PermissionDeniedError) as caught:
            await wc.accounts.list()
        assert not isinstance(caught.value, KeyTypeError)
        assert "IP address not allowed." in str(caught.value)
        assert "check_key_type" in str(caught.value)  # a hint, not a verdict
        agency.faults.fail_next(1, 403, body='{"error_message": "IP address not allowed."}')
        with pytest.raises(PermissionDeniedError) as checking:
            await wc.check_key_type()
        assert not isinstance(checking.value, KeyTypeError)
        # Not an agency-only resource: nothing is added.
        agency.faults.fail_next(1, 403, body='{"error_message": "IP address not allowed."}')
        with pytest.raises(PermissionDeniedError) as leads:
            await wc.leads.list(start_date=date(2025, 1, 1), end_date=date(2025, 1, 2))
        assert "key_type" not in str(leads.value)
        assert wc.quota.used == 3


async def test_a_profile_key_declared_profile_gets_the_plain_403(
    agency: FakeWhatConverts,
) -> None:
    async with client(agency, agency.profile_key, "profile") as wc:
        with pytest.raises(PermissionDeniedError) as caught:
            await wc.accounts.list()
        assert not isinstance(caught.value, KeyTypeError)
        assert "key_type" not in str(caught.value)


@pytest.mark.parametrize(
    ("refusal", "error"),
    [("forbidden", PermissionDeniedError), ("unauthorized", AuthenticationError)],
)
async def test_other_refusals_of_a_profile_key_get_a_hint_not_a_verdict(
    refusal: str, error: type[APIError]
) -> None:
    async with (
        FakeWhatConverts(
            leads=10, seed=7, key_type="master", realism=Realism(agency_refusal=refusal)
        ) as fake,
        client(fake, fake.profile_key, "master") as wc,
    ):
        with pytest.raises(error) as caught:
            await wc.accounts.list()
        assert not isinstance(caught.value, KeyTypeError)
        assert "check_key_type" in str(caught.value)
        # Not guessed at by the check either: the refusal is raised as it came.
        with pytest.raises(error):
            await wc.check_key_type()
        assert wc.quota.used == 2
