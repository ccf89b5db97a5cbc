"""The race and crash proofs, against the threaded moto server over HTTP (as the local stack runs).

CreateBucket calls are counted with a botocore event hook on the very client the store uses.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from domain.buckets import (
    BucketKey,
    BucketNameUnavailable,
    BucketRecord,
    BucketState,
    Resolution,
    ensure_bucket,
    generate_bucket_name,
)
from domain.errors import Unavailable
from infra import aws
from infra.bucket_registry import DynamoBucketRegistry
from infra.s3_buckets import S3BucketStore
from tests.fakes import dead_endpoint

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
THREADS = 32
KEY = BucketKey(account=ACCOUNT, region="us-east-1", project="api", stage="prod")


class CountingS3:
    """An S3 client whose API calls are counted by operation (botocore ``before-call`` hook)."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.client: Any = aws.client("s3", region_name=region, max_pool_connections=THREADS)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.client.meta.events.register("before-call.s3.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1


def _ensure(registry: DynamoBucketRegistry, store: S3BucketStore, **options: Any) -> Resolution:
    options.setdefault("rng", random.SystemRandom())
    return ensure_bucket(KEY, registry, store, time.time, sleep=time.sleep, poll_s=0.05, **options)


def _our_buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def test_32_concurrent_deploys_create_exactly_one_bucket(moto_server: str, table: str) -> None:
    # Given 32 deploys of one key, released at the same instant
    s3 = CountingS3()
    registry = DynamoBucketRegistry(table, "us-east-1")
    store = S3BucketStore(ACCOUNT, client=s3.client)
    start = threading.Barrier(THREADS)

    def deploy(_: int) -> Resolution:
        start.wait(timeout=60)
        return _ensure(registry, store, wait_s=60)

    # When they all ask for the bucket
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = [f.result(timeout=120) for f in [pool.submit(deploy, i) for i in range(THREADS)]]
    # Then exactly one CreateBucket was made, one bucket exists, one record, and all 32 got its name
    assert s3.calls["CreateBucket"] == 1
    names = {answer.bucket for answer in answers}
    assert len(names) == 1
    assert _our_buckets() == sorted(names)
    records = registry.records()
    assert len(records) == 1
    assert records[0].state is BucketState.READY
    assert records[0].bucket in names
    assert sum(1 for answer in answers if answer.created) == 1
    assert sum(1 for answer in answers if answer.reused) == THREADS - 1


def test_a_crashed_claim_is_completed_by_the_next_caller_after_the_lease(moto_server: str, table: str) -> None:
    # Given a claim taken 200 s ago by a deploy that crashed before creating its bucket
    s3 = CountingS3()
    registry = DynamoBucketRegistry(table, "us-east-1")
    store = S3BucketStore(ACCOUNT, client=s3.client)
    crashed = BucketRecord(
        key=KEY, bucket="api-prod-crashed1", state=BucketState.CLAIMED, claim_id="dead", claimed_at=time.time() - 200
    )
    assert registry.claim(crashed) is None
    # When the next deploy comes (lease 120 s)
    answer = _ensure(registry, store, lease_s=120)
    # Then it takes over, creates that bucket once, and marks it ready
    assert answer.bucket == "api-prod-crashed1"
    assert answer.repaired
    assert s3.calls["CreateBucket"] == 1
    record = registry.get(KEY)
    assert record is not None
    assert record.state is BucketState.READY
    assert record.claim_id != "dead"
    assert _our_buckets() == ["api-prod-crashed1"]
    encryption = boto3.client("s3").get_bucket_encryption(Bucket="api-prod-crashed1")
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"]


def test_a_bucket_deleted_out_of_band_is_repaired_never_answered_dead(moto_server: str, table: str) -> None:
    s3 = CountingS3()
    registry = DynamoBucketRegistry(table, "us-east-1")
    store = S3BucketStore(ACCOUNT, client=s3.client)
    first = _ensure(registry, store)
    # Given someone deletes the registered bucket behind the registry's back
    boto3.client("s3").delete_bucket(Bucket=first.bucket)
    assert _our_buckets() == []
    # When the next deploy asks
    answer = _ensure(registry, store)
    # Then the answer is a live bucket, recorded ready
    assert answer.repaired
    assert _our_buckets() == [answer.bucket]
    record = registry.get(KEY)
    assert record is not None
    assert record.bucket == answer.bucket
    assert record.state is BucketState.READY
    assert s3.calls["CreateBucket"] == 2


def test_bucket_already_exists_from_s3_is_a_clear_error_and_writes_no_record(moto_server: str, table: str) -> None:
    # Given another account owns the very name the generator will pick
    doomed = generate_bucket_name("api", "prod", random.Random(5))
    creds = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/o", RoleSessionName="other")[
        "Credentials"
    ]
    boto3.client(
        "s3",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).create_bucket(Bucket=doomed)
    registry = DynamoBucketRegistry(table, "us-east-1")
    store = S3BucketStore(ACCOUNT, client=CountingS3().client)
    # When the first deploy asks
    with pytest.raises(BucketNameUnavailable) as caught:
        _ensure(registry, store, rng=random.Random(5))
    # Then the error names the problem, and no record (nor bucket of ours) was left behind
    assert f"bucket name {doomed} is taken by another AWS account" in str(caught.value)
    assert registry.get(KEY) is None
    assert _our_buckets() == []


def test_dynamodb_unavailable_surfaces_and_nothing_is_half_written(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB's endpoint refuses connections (S3 still works)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dead_endpoint())
    s3 = CountingS3()
    registry = DynamoBucketRegistry("thermostat-down", "us-east-1", client=aws.client("dynamodb", max_attempts=1))
    # When a deploy asks
    with pytest.raises(Unavailable) as caught:
        _ensure(registry, S3BucketStore(ACCOUNT, client=s3.client))
    # Then the error says DynamoDB failed, and S3 was never touched
    assert "DynamoDB claim for api/prod in us-east-1 failed" in str(caught.value)
    assert sum(s3.calls.values()) == 0
    assert _our_buckets() == []
