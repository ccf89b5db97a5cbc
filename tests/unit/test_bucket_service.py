"""The registry's use cases with fakes: resolve-and-publish, CloudTrail strays, once-per-event, event models."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from domain.buckets import (
    BUCKET_RESOLVED,
    BucketKey,
    CreateBucketCall,
    DeploymentRequest,
    StraySource,
    announce_resolution,
    describe_validation_error,
    note_created_bucket,
    resolution_id,
    resolve_deployment,
    run_once,
)
from domain.errors import Conflict, InvalidInput, Unavailable
from tests.unit.test_bucket_fakes import (
    ACCOUNT,
    FakeClock,
    FakePublisher,
    FakeRegistry,
    FakeStore,
    key,
)
from tests.unit.test_idempotency import InMemoryIdempotencyStore

pytestmark = pytest.mark.unit

ZAPPA = (r"^zappa-[a-z0-9]{9}$",)


def test_the_announcement_is_the_answer_with_ids_stable_across_deliveries() -> None:
    registry, store, publisher, clock = FakeRegistry(), FakeStore(), FakePublisher(), FakeClock()
    request = DeploymentRequest(project="api", stage="prod")
    resolution = resolve_deployment(
        request, key(), registry=registry, store=store, clock=clock, sleep=clock.sleep, rng=random.Random(1)
    )
    announce_resolution(publisher, resolution.answer(), "evt-1")
    announce_resolution(publisher, resolution.answer(), "evt-1")
    first, again = publisher.events
    assert first == again
    assert first == (
        BUCKET_RESOLVED,
        {
            "project": "api",
            "stage": "prod",
            "region": "us-east-1",
            "bucket": resolution.bucket,
            "reused": False,
            "resolution_id": resolution_id("evt-1"),
            "requested_event_id": "evt-1",
        },
    )
    assert resolution_id("evt-1") != resolution_id("evt-2")


class CompletionFails(InMemoryIdempotencyStore):
    """Receipts whose completion write fails (throttled) while ``failing`` is set."""

    failing = True

    def complete(self, key: str, outcome: Mapping[str, Any] | None = None) -> None:
        if self.failing:
            raise Unavailable("DynamoDB event receipts: completing failed: ThrottlingException")
        super().complete(key, outcome)


def _announcing(clock: FakeClock) -> tuple[CompletionFails, FakePublisher, list[int]]:
    receipts = CompletionFails(clock)
    receipts.failing = False
    return receipts, FakePublisher(), []


def test_a_failed_completion_after_the_announcement_is_not_announced_again() -> None:
    # Given the answer was announced, but completing the receipt failed
    clock = FakeClock()
    receipts, publisher, runs = _announcing(clock)
    receipts.failing = True

    def resolve() -> dict[str, object]:
        runs.append(1)
        return {"bucket": "b1", "reused": False}

    def announce(answer: Mapping[str, Any]) -> None:
        announce_resolution(publisher, answer, "evt-9")

    with pytest.raises(Unavailable):
        run_once("evt-9", receipts, resolve, lease_s=60, announce=announce)
    receipts.failing = False
    # When the event is delivered again after the lease
    clock.advance(61)
    answer, duplicate = run_once("evt-9", receipts, resolve, lease_s=60, announce=announce)
    # Then it is answered from the receipt: resolved once, announced once, and completed now
    assert (answer, duplicate) == ({"bucket": "b1", "reused": False}, True)
    assert runs == [1]
    assert len(publisher.events) == 1
    assert receipts.entries["evt-9"].state == "completed"


def test_a_failed_announcement_is_sent_by_the_next_delivery_without_resolving_again() -> None:
    clock = FakeClock()
    receipts, publisher, runs = _announcing(clock)

    def resolve() -> dict[str, object]:
        runs.append(1)
        return {"bucket": "b1", "reused": False}

    publisher.fail = Unavailable("EventBridge PutEvents failed")
    with pytest.raises(Unavailable):
        run_once("evt-8", receipts, resolve, lease_s=60, announce=lambda a: announce_resolution(publisher, a, "evt-8"))
    publisher.fail = None
    # The failure gave the event back at once (no lease to wait for)
    answer, duplicate = run_once(
        "evt-8", receipts, resolve, lease_s=60, announce=lambda a: announce_resolution(publisher, a, "evt-8")
    )
    assert (answer, duplicate) == ({"bucket": "b1", "reused": False}, False)
    assert runs == [1]
    ((_, detail),) = publisher.events
    assert detail["resolution_id"] == resolution_id("evt-8")


def test_deployment_request_parses_the_contract_detail() -> None:
    request = DeploymentRequest.model_validate(
        {"project": "api", "stage": "prod", "region": "eu-west-1", "bucket": "zappa-abc123xyz", "tool": "zappa"}
    )
    assert (request.project, request.stage, request.region, request.bucket) == (
        "api",
        "prod",
        "eu-west-1",
        "zappa-abc123xyz",
    )


@pytest.mark.parametrize(
    ("detail", "field", "words"),
    [
        ({"stage": "prod"}, "project", "Field required"),
        ({"project": "api", "stage": "my stage"}, "stage", "stage must be 1 to 32 letters"),
        ({"project": "x" * 10_240, "stage": "prod"}, "project", "(10240 characters)"),
        ({"project": "api", "stage": "prod", "region": "Mars"}, "region", "AWS region code"),
        ({"project": "api", "stage": "prod", "bucket": "Bad_Bucket"}, "bucket", "invalid bucket name"),
        ({"project": 7, "stage": "prod"}, "project", "valid string"),
    ],
)
def test_a_malformed_request_names_the_field(detail: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DeploymentRequest.model_validate(detail)
    message = describe_validation_error(caught.value, "malformed event", prefix="detail.")
    assert f"detail.{field}: " in message
    assert words in message
    assert len(message) < 400  # a 10 KB input is not echoed back


def test_bucket_key_of_raises_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match="account: account must be a 12-digit AWS account id"):
        BucketKey.of(account="12", region="us-east-1", project="api", stage="prod")


# -- CloudTrail CreateBucket --------------------------------------------------------------


def _call(name: str = "zappa-abc123xyz", **extra: object) -> CreateBucketCall:
    detail = {"eventName": "CreateBucket", "awsRegion": "us-east-1", "requestParameters": {"bucketName": name}}
    detail.update(extra)
    return CreateBucketCall.model_validate(detail)


def test_a_successful_create_of_a_throwaway_name_is_recorded_as_a_stray() -> None:
    registry = FakeRegistry()
    outcome = note_created_bucket(_call(), account=ACCOUNT, registry=registry, stray_patterns=ZAPPA, clock=FakeClock())
    assert outcome["stray"] is True
    stray = registry.stray_items["zappa-abc123xyz"]
    assert stray.source is StraySource.CLOUDTRAIL
    assert stray.account == ACCOUNT
    assert stray.region == "us-east-1"


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (_call(errorCode="BucketAlreadyExists"), "the call failed (BucketAlreadyExists)"),
        (_call("acme-artifacts"), "matches no stray pattern"),
        (_call("zappa-abc12345"), "matches no stray pattern"),  # 8 characters, not Zappa's 9
        (CreateBucketCall.model_validate({"eventName": "DeleteBucket"}), "not a CreateBucket call"),
    ],
)
def test_other_create_bucket_events_are_ignored(call: CreateBucketCall, why: str) -> None:
    registry = FakeRegistry()
    outcome = note_created_bucket(call, account=ACCOUNT, registry=registry, stray_patterns=ZAPPA, clock=FakeClock())
    assert why in outcome["ignored"]
    assert registry.stray_items == {}


def test_a_create_bucket_record_without_a_bucket_name_is_malformed() -> None:
    with pytest.raises(ValidationError) as caught:
        CreateBucketCall.model_validate({"eventName": "CreateBucket", "requestParameters": {"host": "x"}})
    assert "requestParameters.bucketName" in describe_validation_error(caught.value, "bad")


# -- once per event id ---------------------------------------------------------------------


def test_a_repeated_event_gets_the_first_answer_without_running_again() -> None:
    clock, runs = FakeClock(), []
    receipts = InMemoryIdempotencyStore(clock)

    def action() -> dict[str, object]:
        runs.append(1)
        return {"bucket": f"b{len(runs)}"}

    first = run_once("evt-1", receipts, action, lease_s=60)
    second = run_once("evt-1", receipts, action, lease_s=60)
    assert first == ({"bucket": "b1"}, False)
    assert second == ({"bucket": "b1"}, True)
    assert runs == [1]


def test_a_failed_action_gives_the_event_back_for_its_retry() -> None:
    clock = FakeClock()
    receipts = InMemoryIdempotencyStore(clock)

    def boom() -> dict[str, object]:
        raise Unavailable("S3 down")

    with pytest.raises(Unavailable):
        run_once("evt-2", receipts, boom, lease_s=60)
    assert run_once("evt-2", receipts, lambda: {"ok": True}, lease_s=60) == ({"ok": True}, False)


def test_a_delivery_during_the_first_one_is_a_conflict_until_the_lease_ends() -> None:
    clock = FakeClock()
    receipts = InMemoryIdempotencyStore(clock)
    receipts.claim("evt-3", 60)  # another invocation holds it (and crashes)
    with pytest.raises(Conflict, match="being handled by another invocation"):
        run_once("evt-3", receipts, lambda: {"ok": True}, lease_s=60)
    clock.advance(61)
    assert run_once("evt-3", receipts, lambda: {"ok": True}, lease_s=60) == ({"ok": True}, False)
