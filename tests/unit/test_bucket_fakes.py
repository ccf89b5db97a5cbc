"""In-memory fakes of the bucket-registry ports (shared by the unit tests), and tests of the fakes.

The fakes follow the adapters' contracts, including S3's quirks: us-east-1 answers 200 to a
CreateBucket for a bucket this account already owns, other regions answer BucketAlreadyOwnedByYou.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from domain.buckets import (
    BucketInfo,
    BucketKey,
    BucketNameUnavailable,
    BucketProbe,
    BucketRecord,
    BucketState,
    CreateOutcome,
    DeleteOutcome,
    ProbeStatus,
    StrayRecord,
)
from domain.errors import Unavailable

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


def key(project: str = "api", stage: str = "prod", region: str = "us-east-1", account: str = ACCOUNT) -> BucketKey:
    return BucketKey(account=account, region=region, project=project, stage=stage)


class FakeClock:
    """A clock that only moves when told to, or when someone sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeRegistry:
    """BucketRegistry in memory, with the same conditional semantics as DynamoDB."""

    def __init__(self) -> None:
        self.items: dict[BucketKey, BucketRecord] = {}
        self.stray_items: dict[str, StrayRecord] = {}
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.down: Exception | None = None  # every call raises this (DynamoDB unavailable)
        self.fail_on: dict[str, Exception] = {}
        self.on_get: list[Any] = []  # callbacks run on each get (to change the world while someone waits)

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if self.down is not None:
            raise self.down
        if name in self.fail_on:
            raise self.fail_on[name]

    def claim(self, record: BucketRecord) -> BucketRecord | None:
        with self.lock:
            self._enter("claim")
            existing = self.items.get(record.key)
            if existing is not None:
                return existing
            self.items[record.key] = record
            return None

    def get(self, key: BucketKey) -> BucketRecord | None:
        for callback in list(self.on_get):
            callback(self)
        with self.lock:
            self._enter("get")
            return self.items.get(key)

    def replace(self, expected_claim_id: str, record: BucketRecord) -> bool:
        with self.lock:
            self._enter("replace")
            current = self.items.get(record.key)
            if current is None or current.claim_id != expected_claim_id:
                return False
            self.items[record.key] = record
            return True

    def mark_ready(self, record: BucketRecord, now: float) -> bool:
        with self.lock:
            self._enter("mark_ready")
            current = self.items.get(record.key)
            if current is None or current.claim_id != record.claim_id or current.bucket != record.bucket:
                return False
            self.items[record.key] = current.model_copy(update={"state": BucketState.READY, "ready_at": now})
            return True

    def release(self, record: BucketRecord) -> None:
        with self.lock:
            self._enter("release")
            current = self.items.get(record.key)
            if current is not None and current.claim_id == record.claim_id:
                del self.items[record.key]

    def forget(self, key: BucketKey) -> BucketRecord | None:
        with self.lock:
            self._enter("forget")
            return self.items.pop(key, None)

    def records(self) -> list[BucketRecord]:
        with self.lock:
            self._enter("records")
            return list(self.items.values())

    def record_stray(self, stray: StrayRecord) -> None:
        with self.lock:
            self._enter("record_stray")
            self.stray_items[stray.bucket] = stray

    def strays(self) -> list[StrayRecord]:
        with self.lock:
            self._enter("strays")
            return sorted(self.stray_items.values(), key=lambda s: s.bucket)

    def forget_stray(self, bucket: str) -> None:
        with self.lock:
            self._enter("forget_stray")
            self.stray_items.pop(bucket, None)


@dataclass
class FakeBucket:
    owner: str
    region: str
    objects: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    public_access_block: bool = False
    encrypted: bool = False


class FakeStore:
    """BucketStore in memory: one global namespace of buckets, seen from ``account``."""

    def __init__(self, account: str = ACCOUNT, buckets: dict[str, FakeBucket] | None = None) -> None:
        self.account = account
        self.buckets: dict[str, FakeBucket] = {} if buckets is None else buckets
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.fail_on: dict[str, Exception] = {}
        self.answer_lost: dict[str, Exception] = {}  # the call is applied, then this is raised (reply lost)

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if name in self.fail_on:
            raise self.fail_on[name]

    def probe(self, bucket: str) -> BucketProbe:
        with self.lock:
            self._enter("probe")
            found = self.buckets.get(bucket)
            if found is None:
                return BucketProbe(status=ProbeStatus.MISSING)
            if found.owner != self.account:
                return BucketProbe(status=ProbeStatus.FOREIGN)
            return BucketProbe(status=ProbeStatus.OURS, region=found.region)

    def create(self, bucket: str, region: str) -> CreateOutcome:
        with self.lock:
            self._enter("create")
            found = self.buckets.get(bucket)
            if found is not None:
                if found.owner != self.account:
                    raise BucketNameUnavailable(f"bucket name {bucket} is taken by another AWS account")
                if region == "us-east-1" and found.region == "us-east-1":
                    return CreateOutcome.CREATED  # S3's us-east-1 quirk: 200 for a bucket you own
                return CreateOutcome.ALREADY_OURS
            self.buckets[bucket] = FakeBucket(owner=self.account, region=region)
            if "create" in self.answer_lost:
                raise self.answer_lost["create"]
            return CreateOutcome.CREATED

    def configure(self, bucket: str, tags: Mapping[str, str]) -> None:
        with self.lock:
            self._enter("configure")
            found = self.buckets.get(bucket)
            if found is None or found.owner != self.account:
                raise Unavailable(f"S3 configuring {bucket} failed: 404")
            found.tags = dict(tags)
            found.public_access_block = True
            found.encrypted = True

    def list_buckets(self) -> list[BucketInfo]:
        with self.lock:
            self._enter("list_buckets")
            return [
                BucketInfo(name=name, region=b.region) for name, b in self.buckets.items() if b.owner == self.account
            ]

    def delete_if_empty(self, bucket: str) -> DeleteOutcome:
        with self.lock:
            self._enter("delete_if_empty")
            found = self.buckets.get(bucket)
            if found is None:
                return DeleteOutcome.GONE
            if found.owner != self.account:
                return DeleteOutcome.NOT_OURS
            if found.objects:
                return DeleteOutcome.NOT_EMPTY
            del self.buckets[bucket]
            return DeleteOutcome.DELETED

    def delete_preview(self, bucket: str) -> DeleteOutcome:
        with self.lock:
            self._enter("delete_preview")
            found = self.buckets.get(bucket)
            if found is None:
                return DeleteOutcome.GONE
            if found.owner != self.account:
                return DeleteOutcome.NOT_OURS
            return DeleteOutcome.NOT_EMPTY if found.objects else DeleteOutcome.DELETED

    def tags(self, bucket: str) -> dict[str, str] | None:
        with self.lock:
            self._enter("tags")
            found = self.buckets.get(bucket)
            return None if found is None or found.owner != self.account else dict(found.tags)


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.events.append((detail_type, dict(detail)))


def _claim(k: BucketKey, bucket: str = "api-prod-abcdefgh", claim_id: str = "c1") -> BucketRecord:
    return BucketRecord(key=k, bucket=bucket, state=BucketState.CLAIMED, claim_id=claim_id, claimed_at=1.0)


# -- the fakes keep their contracts ---------------------------------------------------------


def test_fake_registry_claim_returns_the_existing_record_and_keeps_it() -> None:
    # Given a claimed key
    registry = FakeRegistry()
    first = _claim(key())
    assert registry.claim(first) is None
    # When a second claimant tries
    existing = registry.claim(_claim(key(), bucket="other-bucket-name", claim_id="c2"))
    # Then it gets the first record back and the registry still holds the first
    assert existing == first
    assert registry.get(key()) == first


def test_fake_registry_replace_and_ready_need_the_current_claim_id() -> None:
    registry = FakeRegistry()
    registry.claim(_claim(key()))
    assert not registry.replace("stale", _claim(key(), claim_id="c9"))
    assert not registry.mark_ready(_claim(key(), claim_id="stale"), 5.0)
    assert registry.mark_ready(_claim(key()), 5.0)
    record = registry.get(key())
    assert record is not None
    assert record.state is BucketState.READY


def test_fake_store_answers_like_s3_for_a_bucket_we_already_own() -> None:
    store = FakeStore()
    assert store.create("mine-use1", "us-east-1") is CreateOutcome.CREATED
    assert store.create("mine-use1", "us-east-1") is CreateOutcome.CREATED  # the us-east-1 quirk
    assert store.create("mine-euw1", "eu-west-1") is CreateOutcome.CREATED
    assert store.create("mine-euw1", "eu-west-1") is CreateOutcome.ALREADY_OURS
    store.buckets["theirs"] = FakeBucket(owner=OTHER_ACCOUNT, region="us-east-1")
    with pytest.raises(BucketNameUnavailable):
        store.create("theirs", "us-east-1")
    assert store.probe("theirs").status is ProbeStatus.FOREIGN
