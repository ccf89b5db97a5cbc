"""The hook ledger on DynamoDB (moto): one claim per execution, leases, takeover, reported."""

from __future__ import annotations

import time

import pytest

from domain.errors import Unavailable
from domain.hook import ClaimState, HookStatus
from infra.hook_ledger import SK, DynamoHookLedger, HookExecutionRecord, record_key

pytestmark = pytest.mark.integration

EXECUTION = "exec-42"
DEPLOYMENT = "d-ABCDEFGH1"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(moto_aws: None, table: str, clock: Clock) -> DynamoHookLedger:
    return DynamoHookLedger(table, "us-east-1", clock=clock)


def test_first_delivery_claims_and_later_ones_are_duplicates(ledger: DynamoHookLedger, clock: Clock) -> None:
    # Given a first claim
    assert ledger.claim(EXECUTION, DEPLOYMENT, lease_s=60).state is ClaimState.CLAIMED
    # Then the record has the documented key shape, a lease, and a TTL a week out
    record = ledger.get(EXECUTION)
    assert record is not None
    assert (record.pk, record.sk) == (f"HOOK#{EXECUTION}", "HOOK")
    assert record.deployment_id == DEPLOYMENT
    assert record.lease_until == clock.now + 60
    assert record.ttl is not None
    assert abs(record.ttl.timestamp() - (clock.now + 7 * 24 * 3600)) < 2
    # When the same execution is claimed again within the lease, Then it is a duplicate
    clock.now += 30
    second = ledger.claim(EXECUTION, DEPLOYMENT, lease_s=60)
    assert second.state is ClaimState.DUPLICATE
    assert second.status is None
    # And the record is unchanged
    again = ledger.get(EXECUTION)
    assert again is not None
    assert again.deliveries == 1
    assert again.lease_until == record.lease_until


def test_a_reported_execution_stays_a_duplicate_forever(ledger: DynamoHookLedger, clock: Clock) -> None:
    ledger.claim(EXECUTION, DEPLOYMENT, lease_s=10)
    ledger.record_verdict(EXECUTION, HookStatus.SUCCEEDED, "5/5 passed")
    ledger.mark_reported(EXECUTION)
    clock.now += 3600
    claim = ledger.claim(EXECUTION, DEPLOYMENT, lease_s=10)
    assert claim.state is ClaimState.DUPLICATE
    assert claim.status is HookStatus.SUCCEEDED


def test_an_expired_unreported_claim_is_taken_over_with_its_verdict(ledger: DynamoHookLedger, clock: Clock) -> None:
    # Given a delivery that recorded Failed and died before reporting
    ledger.claim(EXECUTION, DEPLOYMENT, lease_s=10)
    ledger.record_verdict(EXECUTION, HookStatus.FAILED, "invocation 2/5: probe failed")
    # When another arrives after the lease
    clock.now += 11
    claim = ledger.claim(EXECUTION, DEPLOYMENT, lease_s=10)
    # Then it takes over, with the recorded verdict, and holds a new lease
    assert claim.state is ClaimState.TAKEOVER
    assert (claim.status, claim.reason) == (HookStatus.FAILED, "invocation 2/5: probe failed")
    record = ledger.get(EXECUTION)
    assert record is not None
    assert record.deliveries == 2
    assert record.lease_until == clock.now + 10
    # And a third delivery during the new lease is a duplicate
    assert ledger.claim(EXECUTION, DEPLOYMENT, lease_s=10).state is ClaimState.DUPLICATE


def test_release_lets_the_next_delivery_take_over_at_once(ledger: DynamoHookLedger) -> None:
    ledger.claim(EXECUTION, DEPLOYMENT, lease_s=600)
    ledger.record_verdict(EXECUTION, HookStatus.SUCCEEDED, "ok")
    ledger.release(EXECUTION)
    claim = ledger.claim(EXECUTION, DEPLOYMENT, lease_s=600)
    assert claim.state is ClaimState.TAKEOVER
    assert claim.status is HookStatus.SUCCEEDED


def test_long_reasons_are_truncated_not_refused(ledger: DynamoHookLedger) -> None:
    ledger.claim(EXECUTION, DEPLOYMENT, lease_s=60)
    ledger.record_verdict(EXECUTION, HookStatus.FAILED, "x" * 50_000)
    record = ledger.get(EXECUTION)
    assert record is not None
    assert record.reason is not None
    assert len(record.reason) == 4_000


def test_updates_of_an_unknown_execution_fail_without_creating_it(ledger: DynamoHookLedger) -> None:
    with pytest.raises(Unavailable, match="marking reported for ghost"):
        ledger.mark_reported("ghost")
    assert ledger.get("ghost") is None


def test_a_missing_table_is_unavailable_not_a_crash(moto_aws: None) -> None:
    ledger = DynamoHookLedger("thermostat-missing-table", "us-east-1", clock=time.time)
    with pytest.raises(Unavailable, match="claiming exec-42 failed"):
        ledger.claim(EXECUTION, DEPLOYMENT, lease_s=60)


def test_records_are_keyed_per_execution(ledger: DynamoHookLedger) -> None:
    ledger.claim("a", DEPLOYMENT, 60)
    ledger.claim("b", DEPLOYMENT, 60)
    keys = sorted(record.pk for record in HookExecutionRecord.scan() if record.sk == SK)
    assert keys == [record_key("a"), record_key("b")]
