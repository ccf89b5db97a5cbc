"""The idempotency store on DynamoDB (moto): claims, leases, takeover, completion, release; one call each.

The same adapter serves the hook (``HOOK`` records, a week) and deployment events (``EVENT``
records, a day); these tests run it in both namespaces.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from domain.errors import Unavailable
from domain.idempotency import Claim, ClaimState
from infra.idempotency import EVENT_RECEIPTS, HOOK_EXECUTIONS, DynamoIdempotencyStore, IdempotencyRecord
from infra.table import bind_table
from tests.fakes import ManualClock

pytestmark = pytest.mark.integration

EXECUTION = "exec-42"
DEPLOYMENT = "d-ABCDEFGH1"


class CallCounter:
    """Counts the DynamoDB operations a client sends (botocore's event hooks, no mocks)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def ledger(moto_aws: None, table: str, clock: ManualClock) -> DynamoIdempotencyStore:
    return DynamoIdempotencyStore(table, "us-east-1", namespace=HOOK_EXECUTIONS, clock=clock)


@pytest.fixture
def receipts(moto_aws: None, table: str, clock: ManualClock) -> DynamoIdempotencyStore:
    return DynamoIdempotencyStore(table, "us-east-1", namespace=EVENT_RECEIPTS, clock=clock)


# -- the hook's executions ------------------------------------------------------------------


def test_first_delivery_claims_and_later_ones_are_held(ledger: DynamoIdempotencyStore, clock: ManualClock) -> None:
    # Given a first claim
    assert ledger.claim(EXECUTION, lease_s=60, subject=DEPLOYMENT).state is ClaimState.CLAIMED
    # Then the record has the documented key shape, a lease, and a TTL a week out
    record = ledger.get(EXECUTION)
    assert record is not None
    assert (record.pk, record.sk) == (f"HOOK#{EXECUTION}", "HOOK")
    assert record.subject == DEPLOYMENT
    assert record.lease_until == clock.now + 60
    assert record.ttl is not None
    assert abs(record.ttl.timestamp() - (clock.now + 7 * 24 * 3600)) < 2
    # When the same execution is claimed again within the lease, Then it is held, with no outcome yet
    clock.now += 30
    second = ledger.claim(EXECUTION, lease_s=60, subject=DEPLOYMENT)
    assert second == Claim(state=ClaimState.HELD, outcome=None)
    # And the record is unchanged
    again = ledger.get(EXECUTION)
    assert again is not None
    assert again.deliveries == 1
    assert again.lease_until == record.lease_until


def test_a_completed_execution_stays_completed_forever(ledger: DynamoIdempotencyStore, clock: ManualClock) -> None:
    ledger.claim(EXECUTION, lease_s=10)
    ledger.record(EXECUTION, {"status": "Succeeded", "reason": "5/5 passed"})
    ledger.complete(EXECUTION)
    clock.now += 3600
    claim = ledger.claim(EXECUTION, lease_s=10)
    assert claim == Claim(state=ClaimState.COMPLETED, outcome={"status": "Succeeded", "reason": "5/5 passed"})


def test_an_expired_uncompleted_claim_is_taken_over_with_its_outcome(
    ledger: DynamoIdempotencyStore, clock: ManualClock
) -> None:
    # Given a delivery that recorded Failed and died before reporting
    ledger.claim(EXECUTION, lease_s=10)
    ledger.record(EXECUTION, {"status": "Failed", "reason": "invocation 2/5: probe failed"})
    # When another arrives after the lease
    clock.now += 11
    claim = ledger.claim(EXECUTION, lease_s=10)
    # Then it takes over, with the recorded outcome, and holds a new lease
    assert claim == Claim(
        state=ClaimState.TAKEOVER, outcome={"status": "Failed", "reason": "invocation 2/5: probe failed"}
    )
    record = ledger.get(EXECUTION)
    assert record is not None
    assert record.deliveries == 2
    assert record.lease_until == clock.now + 10
    # And a third delivery during the new lease is held
    assert ledger.claim(EXECUTION, lease_s=10).state is ClaimState.HELD


def test_release_lets_the_next_delivery_take_over_at_once(ledger: DynamoIdempotencyStore) -> None:
    ledger.claim(EXECUTION, lease_s=600)
    ledger.record(EXECUTION, {"status": "Succeeded", "reason": "ok"})
    ledger.release(EXECUTION)
    claim = ledger.claim(EXECUTION, lease_s=600)
    assert claim.state is ClaimState.TAKEOVER
    assert claim.outcome == {"status": "Succeeded", "reason": "ok"}


def test_updates_of_an_unknown_key_fail_without_creating_it(ledger: DynamoIdempotencyStore) -> None:
    with pytest.raises(Unavailable, match="completing ghost failed"):
        ledger.complete("ghost")
    with pytest.raises(Unavailable, match="recording the outcome of ghost failed"):
        ledger.record("ghost", {"status": "Failed"})
    ledger.release("ghost")  # nothing held, nothing to give back
    assert ledger.get("ghost") is None


def test_a_missing_table_is_unavailable_not_a_crash(moto_aws: None) -> None:
    ledger = DynamoIdempotencyStore("thermostat-missing-table", "us-east-1", namespace=HOOK_EXECUTIONS, clock=time.time)
    with pytest.raises(Unavailable, match="claiming exec-42 failed"):
        ledger.claim(EXECUTION, lease_s=60)


def test_records_are_keyed_per_namespace_and_key(
    ledger: DynamoIdempotencyStore, receipts: DynamoIdempotencyStore, table: str
) -> None:
    ledger.claim("a", 60)
    ledger.claim("b", 60)
    receipts.claim("a", 60)
    bind_table(table, "us-east-1")
    keys = sorted((record.pk, record.sk) for record in IdempotencyRecord.scan())
    assert keys == [("EVENT#a", "EVENT"), ("HOOK#a", "HOOK"), ("HOOK#b", "HOOK")]


# -- one call per claim, whatever it finds --------------------------------------------------


def test_every_claim_is_one_call_and_the_refusal_carries_the_record(
    ledger: DynamoIdempotencyStore, clock: ManualClock
) -> None:
    # Given a counter on the store's client
    counter = CallCounter(ledger.client)
    # When a key is claimed, refused while held, recorded, taken over, completed, then refused as completed
    ledger.claim(EXECUTION, lease_s=10)
    held = ledger.claim(EXECUTION, lease_s=10)
    ledger.record(EXECUTION, {"status": "Failed", "reason": "r"})
    clock.now += 11
    taken = ledger.claim(EXECUTION, lease_s=10)
    ledger.complete(EXECUTION)
    done = ledger.claim(EXECUTION, lease_s=10)
    # Then each claim was a single UpdateItem: the held and completed answers came from ALL_OLD, not a read
    assert counter.calls == ["UpdateItem"] * 6
    assert held.state is ClaimState.HELD
    assert taken == Claim(state=ClaimState.TAKEOVER, outcome={"status": "Failed", "reason": "r"})
    assert done == Claim(state=ClaimState.COMPLETED, outcome={"status": "Failed", "reason": "r"})


# -- deployment events' receipts ------------------------------------------------------------


def test_receipts_take_complete_and_answer_repeats(receipts: DynamoIdempotencyStore, clock: ManualClock) -> None:
    clock.now = 1000.0
    assert receipts.claim("evt-1", 60).state is ClaimState.CLAIMED
    clock.now = 1001.0
    assert receipts.claim("evt-1", 60).state is ClaimState.HELD
    clock.now = 1002.0
    receipts.complete("evt-1", {"bucket": "b", "reused": False})
    clock.now = 1003.0
    repeat = receipts.claim("evt-1", 60)
    assert repeat.state is ClaimState.COMPLETED
    assert repeat.outcome == {"bucket": "b", "reused": False}
    receipts.release("evt-1")  # a completed receipt is never released
    clock.now = 1004.0
    assert receipts.claim("evt-1", 60).state is ClaimState.COMPLETED


def test_an_expired_or_released_receipt_can_be_taken_again(
    receipts: DynamoIdempotencyStore, clock: ManualClock
) -> None:
    clock.now = 1000.0
    assert receipts.claim("evt-2", 60).state is ClaimState.CLAIMED
    clock.now = 1061.0
    assert receipts.claim("evt-2", 60).held  # the holder's lease ran out
    receipts.release("evt-2")
    clock.now = 1062.0
    assert receipts.claim("evt-2", 60).held


def test_a_receipt_lives_a_day_after_completion(receipts: DynamoIdempotencyStore, clock: ManualClock) -> None:
    receipts.claim("evt-3", 60)
    clock.now += 30
    receipts.complete("evt-3", {"ok": True})
    record = receipts.get("evt-3")
    assert record is not None
    assert (record.pk, record.sk) == ("EVENT#evt-3", "EVENT")
    assert record.ttl is not None
    assert abs(record.ttl.timestamp() - (clock.now + 24 * 3600)) < 2


# -- records written before the stores became one ------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (  # a hook execution reported by the old ledger
            {"pk": "HOOK#exec-old", "sk": "HOOK", "state": "reported", "status": "Succeeded", "reason": "ok"},
            Claim(state=ClaimState.COMPLETED, outcome={"status": "Succeeded", "reason": "ok"}),
        ),
        (  # an event answered through the old receipts
            {"pk": "EVENT#exec-old", "sk": "EVENT", "status": "done", "result": json.dumps({"bucket": "b"})},
            Claim(state=ClaimState.COMPLETED, outcome={"bucket": "b"}),
        ),
        (  # an old hook claim whose holder died, its lease over
            {"pk": "HOOK#exec-old", "sk": "HOOK", "state": "decided", "status": "Failed", "reason": "r"},
            Claim(state=ClaimState.TAKEOVER, outcome={"status": "Failed", "reason": "r"}),
        ),
        (  # an old receipt whose holder died, its lease over
            {"pk": "EVENT#exec-old", "sk": "EVENT", "status": "in_progress"},
            Claim(state=ClaimState.TAKEOVER, outcome=None),
        ),
    ],
    ids=["hook-reported", "event-done", "hook-decided-expired", "event-in-progress-expired"],
)
def test_legacy_records_keep_their_meaning(moto_aws: None, table: str, item: dict[str, str], expected: Claim) -> None:
    # Given a record in the shape the separate hook ledger and event receipts wrote, its lease over
    namespace = HOOK_EXECUTIONS if item["pk"].startswith("HOOK#") else EVENT_RECEIPTS
    raw = {name: {"S": value} for name, value in item.items()} | {"lease_until": {"N": "1"}}
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=table, Item=raw)
    store = DynamoIdempotencyStore(table, "us-east-1", namespace=namespace, clock=ManualClock(1_800_000_000.0))
    # When it is claimed, Then it answers as it did
    assert store.claim("exec-old", 60) == expected
