"""Which account an event is about, and one account's view of the registry for its sweep (fakes only)."""

from __future__ import annotations

import pytest

from domain.buckets import (
    AccountRegistry,
    BucketRecord,
    BucketState,
    StrayRecord,
    StraySource,
    event_account,
    known_accounts,
    sweep,
)
from domain.errors import InvalidInput
from tests.unit.test_bucket_fakes import ACCOUNT, OTHER_ACCOUNT, FakeBucket, FakeRegistry, FakeStore, key

pytestmark = pytest.mark.unit


def _never() -> str:
    raise AssertionError("the fallback must not be consulted when the event names its account")


def test_the_event_s_account_wins_over_the_function_s() -> None:
    assert event_account(OTHER_ACCOUNT, otherwise=_never) == OTHER_ACCOUNT
    assert event_account(None, recipient=OTHER_ACCOUNT, otherwise=_never) == OTHER_ACCOUNT
    assert event_account(OTHER_ACCOUNT, recipient=OTHER_ACCOUNT, otherwise=_never) == OTHER_ACCOUNT


def test_an_event_without_an_account_is_the_function_s_own() -> None:
    assert event_account(None, otherwise=lambda: ACCOUNT) == ACCOUNT


@pytest.mark.parametrize("bad", ["12345678901", "1234567890123", "abcdefghijkl", "", " 123456789012"])
def test_a_malformed_account_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(InvalidInput, match="account must be a 12-digit AWS account id"):
        event_account(bad, otherwise=_never)


def test_accounts_that_disagree_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"the event's account '123456789012' and its CloudTrail recipientAccountId"):
        event_account(ACCOUNT, recipient=OTHER_ACCOUNT, otherwise=_never)


def _registry() -> FakeRegistry:
    registry = FakeRegistry()
    for account, bucket in [(ACCOUNT, "api-prod-own00001"), (OTHER_ACCOUNT, "api-prod-other001")]:
        record = BucketRecord(
            key=key(account=account), bucket=bucket, state=BucketState.READY, claim_id="c", claimed_at=1, ready_at=2
        )
        registry.items[record.key] = record
    for bucket, account in [("zappa-legacy0001", None), ("zappa-other00001", OTHER_ACCOUNT)]:
        registry.stray_items[bucket] = StrayRecord(
            bucket=bucket, source=StraySource.CLOUDTRAIL, reason="seen", seen_at=1.0, account=account
        )
    return registry


def test_each_account_sees_its_records_and_strays_and_legacy_strays_are_the_own_account_s() -> None:
    registry = _registry()
    own, other = AccountRegistry(registry, ACCOUNT, ACCOUNT), AccountRegistry(registry, OTHER_ACCOUNT, ACCOUNT)
    assert [r.bucket for r in own.records()] == ["api-prod-own00001"]
    assert [r.bucket for r in other.records()] == ["api-prod-other001"]
    assert [s.bucket for s in own.strays()] == ["zappa-legacy0001"]
    assert [s.bucket for s in other.strays()] == ["zappa-other00001"]
    assert known_accounts(registry, ACCOUNT) == [ACCOUNT, OTHER_ACCOUNT]
    assert known_accounts(FakeRegistry(), ACCOUNT) == [ACCOUNT]


def test_one_account_s_sweep_does_not_call_another_s_buckets_missing() -> None:
    # Given the other account's store, holding its registered bucket only
    registry = _registry()
    store = FakeStore(account=OTHER_ACCOUNT)
    store.buckets["api-prod-other001"] = FakeBucket(owner=OTHER_ACCOUNT, region="us-east-1", objects=1)

    # When it is swept through its view of the registry
    report = sweep(AccountRegistry(registry, OTHER_ACCOUNT, ACCOUNT), store, patterns=(), quota=100, delete=False)

    # Then the own account's registered bucket is not "missing" here, and it counts one registered
    assert report.missing_registered == []
    assert report.registered == 1
