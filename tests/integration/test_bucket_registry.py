"""DynamoBucketRegistry against moto: the conditional semantics the policy relies on."""

from __future__ import annotations

import pytest

from domain.buckets import BucketKey, BucketRecord, BucketState, StrayRecord, StraySource
from domain.errors import Unavailable
from infra.bucket_registry import BucketModel, DynamoBucketRegistry, bucket_pk
from infra.idempotency import EVENT_RECEIPTS, DynamoIdempotencyStore

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


def _key(stage: str = "prod") -> BucketKey:
    return BucketKey(account=ACCOUNT, region="us-east-1", project="api", stage=stage)


def _claim(stage: str = "prod", bucket: str = "api-prod-abcdefgh", claim_id: str = "c1") -> BucketRecord:
    return BucketRecord(key=_key(stage), bucket=bucket, state=BucketState.CLAIMED, claim_id=claim_id, claimed_at=100.5)


@pytest.fixture
def registry(moto_aws: None, table: str) -> DynamoBucketRegistry:
    return DynamoBucketRegistry(table, "us-east-1")


def test_claim_writes_once_and_hands_the_existing_record_to_the_second_claimant(
    registry: DynamoBucketRegistry,
) -> None:
    first = _claim()
    assert registry.claim(first) is None
    # When another claimant tries the same key
    existing = registry.claim(_claim(bucket="api-prod-zzzzzzzz", claim_id="c2"))
    # Then it gets the first record (from the failed put itself) and the table still holds the first
    assert existing == first
    assert registry.get(_key()) == first
    item = BucketModel.get(bucket_pk(_key()), "BUCKET")
    assert item.pk == "BUCKET#123456789012#us-east-1#api#prod"


def test_replace_mark_ready_and_release_are_conditional_on_the_claim_id(registry: DynamoBucketRegistry) -> None:
    registry.claim(_claim())
    assert not registry.replace("not-mine", _claim(claim_id="c3"))
    assert not registry.mark_ready(_claim(claim_id="not-mine"), 200.0)
    registry.release(_claim(claim_id="not-mine"))
    assert registry.get(_key()) == _claim()
    # The holder can do all three
    assert registry.mark_ready(_claim(), 200.0)
    ready = registry.get(_key())
    assert ready is not None
    assert ready.state is BucketState.READY
    assert ready.ready_at == 200.0
    assert registry.replace("c1", _claim(claim_id="c4"))
    registry.release(_claim(claim_id="c4"))
    assert registry.get(_key()) is None


def test_mark_ready_refuses_a_claim_whose_bucket_was_renamed(registry: DynamoBucketRegistry) -> None:
    registry.claim(_claim())
    assert not registry.mark_ready(_claim(bucket="another-name-1"), 200.0)


def test_records_lists_every_key_and_nothing_else(registry: DynamoBucketRegistry, table: str) -> None:
    registry.claim(_claim("prod"))
    registry.claim(_claim("dev", bucket="api-dev-abcdefgh"))
    registry.record_stray(StrayRecord(bucket="zappa-abc123xyz", source=StraySource.CLOUDTRAIL, reason="r", seen_at=1))
    DynamoIdempotencyStore(table, "us-east-1", namespace=EVENT_RECEIPTS).claim("evt", 60)
    assert [r.bucket for r in registry.records()] == ["api-dev-abcdefgh", "api-prod-abcdefgh"]


def test_strays_are_upserted_by_name_and_forgotten(registry: DynamoBucketRegistry) -> None:
    registry.record_stray(StrayRecord(bucket="zappa-abc123xyz", source=StraySource.CLOUDTRAIL, reason="a", seen_at=1))
    registry.record_stray(
        StrayRecord(bucket="zappa-abc123xyz", source=StraySource.DEPLOYMENT, reason="b", seen_at=2, region="eu-west-1")
    )
    (stray,) = registry.strays()
    assert (stray.reason, stray.source, stray.region) == ("b", StraySource.DEPLOYMENT, "eu-west-1")
    registry.forget_stray("zappa-abc123xyz")
    assert registry.strays() == []


def test_forget_drops_the_record(registry: DynamoBucketRegistry) -> None:
    registry.claim(_claim())
    assert registry.forget(_key()) == _claim()
    assert registry.get(_key()) is None
    assert registry.forget(_key()) is None


def test_a_missing_table_is_unavailable_with_a_hint(moto_aws: None) -> None:
    registry = DynamoBucketRegistry("no-such-table", "us-east-1")
    with pytest.raises(Unavailable) as caught:
        registry.claim(_claim())
    assert "ResourceNotFoundException" in str(caught.value)
    assert "thermostat table create" in str(caught.value)
    with pytest.raises(Unavailable, match="DynamoDB read for api/prod in us-east-1 failed"):
        registry.get(_key())


def test_a_claim_whose_create_was_sent_keeps_that_mark_and_old_records_read_without_it(
    registry: DynamoBucketRegistry,
) -> None:
    # Given a claim written before the mark existed (no attribute), then marked as sent
    registry.claim(_claim())
    assert registry.get(_key()) == _claim()
    sent = _claim().model_copy(update={"claimed_at": 0.0, "create_sent": True})
    assert registry.replace("c1", sent)
    # Then the mark survives the round trip, and a later record for another bucket drops it
    assert registry.get(_key()) == sent
    assert registry.replace("c1", _claim(bucket="api-prod-zzzzzzzz"))
    again = registry.get(_key())
    assert again is not None
    assert again.create_sent is False
