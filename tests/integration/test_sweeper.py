"""handlers.sweeper against moto: reports strays and quota as EMF and a summary; deletes only when enabled."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from domain.buckets import BucketKey, BucketRecord, BucketState, StrayRecord, StraySource
from handlers import sweeper, wiring
from infra.accounts import forget_account
from infra.bucket_registry import DynamoBucketRegistry
from infra.settings import get_settings

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


class Context:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thermostat-sweeper"
    aws_request_id = "sweep-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


SCHEDULED = {
    "version": "0",
    "id": "sched-1",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "region": "us-east-1",
    "detail": {},
}


def emf(output: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"CloudWatchMetrics"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


@pytest.fixture
def account(moto_aws: None, table: str) -> Iterator[DynamoBucketRegistry]:
    """An account with strays (empty and not), registered buckets, and someone's own bucket."""
    wiring.reset()
    forget_account()
    s3 = boto3.client("s3")
    for name in ["zappa-emptyaaa1", "zappa-fullbbbb2", "zappa-registerd", "shop-prod-a1b2c3d4", "acme-artifacts"]:
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket="zappa-fullbbbb2", Key="handler.tar.gz", Body=b"x")
    registry = DynamoBucketRegistry(table, "us-east-1")
    for stage, bucket in [("prod", "shop-prod-a1b2c3d4"), ("legacy", "zappa-registerd")]:
        key = BucketKey(account=ACCOUNT, region="us-east-1", project="shop", stage=stage)
        claim = BucketRecord(key=key, bucket=bucket, state=BucketState.CLAIMED, claim_id="c", claimed_at=time.time())
        registry.claim(claim)
        registry.mark_ready(claim, time.time())
    registry.record_stray(
        StrayRecord(bucket="acme-artifacts", source=StraySource.DEPLOYMENT, reason="named by a deploy", seen_at=1.0)
    )
    yield registry
    wiring.reset()


def buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def test_the_default_sweep_reports_and_deletes_nothing(
    account: DynamoBucketRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    before = buckets()
    summary = sweeper.lambda_handler(SCHEDULED, Context())
    assert buckets() == before
    assert summary["delete_enabled"] is False
    assert summary["deleted"] == []
    assert (summary["bucket_count"], summary["quota"], summary["registered"]) == (5, 10_000, 2)
    actions = {s["bucket"]: s["action"] for s in summary["strays"]}
    # The dry run says what --delete would do: the full stray would be kept
    assert actions == {
        "zappa-emptyaaa1": "would delete",
        "zappa-fullbbbb2": "kept: not empty",
        "acme-artifacts": "kept: not pattern-matched",
    }
    metrics = emf(capsys.readouterr().out)
    assert metrics["BucketCount"] == 5
    assert metrics["BucketQuota"] == 10_000
    assert metrics["StrayBuckets"] == 3
    assert metrics["StrayBucketsDeleted"] == 0


def test_with_deletion_enabled_only_the_empty_unregistered_stray_goes(
    account: DynamoBucketRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THERMOSTAT_SWEEP_DELETE", "true")
    monkeypatch.setenv("THERMOSTAT_BUCKET_QUOTA", "5")
    get_settings.cache_clear()
    summary = sweeper.lambda_handler(SCHEDULED, Context())
    assert summary["deleted"] == ["zappa-emptyaaa1"]
    assert buckets() == ["acme-artifacts", "shop-prod-a1b2c3d4", "zappa-fullbbbb2", "zappa-registerd"]
    actions = {s["bucket"]: s["action"] for s in summary["strays"]}
    assert actions["zappa-fullbbbb2"] == "kept: not empty"
    # The counts are those after the sweep: 4 buckets of 5 (80 %), 2 strays left
    assert (summary["bucket_count"], summary["stray_count"]) == (4, 2)
    assert summary["near_quota"] is True
    metrics = emf(capsys.readouterr().out)
    assert (metrics["StrayBucketsDeleted"], metrics["BucketCount"], metrics["StrayBuckets"]) == (1, 4, 2)
    # The registry is untouched
    assert {r.bucket for r in account.records()} == {"shop-prod-a1b2c3d4", "zappa-registerd"}


def test_a_bad_quota_setting_names_the_variable(account: DynamoBucketRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.settings import SettingsError

    monkeypatch.setenv("THERMOSTAT_BUCKET_QUOTA", "lots")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="THERMOSTAT_BUCKET_QUOTA"):
        sweeper.lambda_handler(SCHEDULED, Context())
    assert len(buckets()) == 5


def test_the_summary_is_logged_as_one_structured_record(
    account: DynamoBucketRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="thermostat"):
        sweeper.lambda_handler(SCHEDULED, Context())
    (record,) = [r for r in caplog.records if r.getMessage() == "bucket sweep"]
    fields: dict[str, Any] = record.__dict__
    assert fields["stray_count"] == 3
    assert fields["bucket_count"] == 5
    assert Counter(s["action"] for s in fields["strays"])["would delete"] == 1


def test_the_dry_run_counts_a_stray_kept_by_its_old_versions_as_not_empty(account: DynamoBucketRegistry) -> None:
    # Given a versioned stray whose only object was deleted: ListObjectsV2 shows nothing, but its
    # versions and delete marker make S3 refuse DeleteBucket
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="zappa-versionsc")
    s3.put_bucket_versioning(Bucket="zappa-versionsc", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="zappa-versionsc", Key="handler.tar.gz", Body=b"x")
    s3.delete_object(Bucket="zappa-versionsc", Key="handler.tar.gz")
    assert s3.list_objects_v2(Bucket="zappa-versionsc")["KeyCount"] == 0
    # When the dry run reports it, and then --delete runs
    dry = {s["bucket"]: s["action"] for s in sweeper.lambda_handler(SCHEDULED, Context())["strays"]}
    from domain.buckets import sweep

    store = wiring.bucket_store(ACCOUNT, "us-east-1")
    real = {f.bucket: f.action for f in sweep(account, store, patterns=("^zappa-",), quota=10, delete=True).strays}
    # Then the dry run said what the delete did
    assert dry["zappa-versionsc"] == real["zappa-versionsc"] == "kept: not empty"
    assert dry["zappa-emptyaaa1"] == "would delete"
    assert real["zappa-emptyaaa1"] == "deleted"


def test_a_bucket_thermostat_made_that_the_registry_forgot_is_reported_and_kept(
    account: DynamoBucketRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bucket wearing thermostat's tag whose record is gone (forgotten, or a claim lost long ago)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="shop-dev-q9w8e7r6")
    tags = {"thermostat:managed-by": "thermostat", "thermostat:project": "shop", "thermostat:stage": "dev"}
    s3.put_bucket_tagging(
        Bucket="shop-dev-q9w8e7r6", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )
    # And an untagged bucket of someone's own, which is none of thermostat's business
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.put_bucket_tagging(Bucket="someone-elses-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    # When the sweeper runs with deletion enabled
    monkeypatch.setenv("THERMOSTAT_SWEEP_DELETE", "true")
    get_settings.cache_clear()
    summary = sweeper.lambda_handler(SCHEDULED, Context())
    # Then the orphan is reported, with the key it was made for, and kept
    (orphan,) = [s for s in summary["strays"] if s["bucket"] == "shop-dev-q9w8e7r6"]
    assert orphan["action"] == "kept: not pattern-matched"
    assert "created by thermostat for shop/dev" in orphan["reason"]
    assert "shop-dev-q9w8e7r6" in buckets()
    assert "someone-elses-bucket" not in {s["bucket"] for s in summary["strays"]}
