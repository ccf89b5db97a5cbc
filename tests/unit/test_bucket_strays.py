"""Stray detection and the sweep with fakes: report everything, delete only empty pattern-matched strays."""

from __future__ import annotations

import pytest

from domain.buckets import (
    BucketRecord,
    BucketState,
    StrayRecord,
    StraySource,
    matching_pattern,
    sweep,
)
from tests.unit.test_bucket_fakes import ACCOUNT, FakeBucket, FakeRegistry, FakeStore, key

pytestmark = pytest.mark.unit

ZAPPA = (r"^zappa-[a-z0-9]{9}$",)


def _registered(registry: FakeRegistry, bucket: str, stage: str = "prod") -> None:
    record = BucketRecord(
        key=key(stage=stage), bucket=bucket, state=BucketState.READY, claim_id="c", claimed_at=1.0, ready_at=2.0
    )
    registry.items[record.key] = record


@pytest.fixture
def account() -> tuple[FakeRegistry, FakeStore]:
    registry, store = FakeRegistry(), FakeStore()
    for name, objects in [
        ("zappa-aaaaaaaa1", 0),  # empty stray
        ("zappa-bbbbbbbb2", 3),  # stray with objects
        ("zappa-ccccccccc", 0),  # registered (adopted once): never a stray
        ("api-prod-12345678", 5),  # registered, generated name
        ("acme-artifacts", 0),  # someone's bucket, no pattern
        ("named-by-deploy", 0),  # recorded stray from a deploy, no pattern
    ]:
        store.buckets[name] = FakeBucket(owner=ACCOUNT, region="us-east-1", objects=objects)
    _registered(registry, "zappa-ccccccccc", stage="legacy")
    _registered(registry, "api-prod-12345678")
    registry.stray_items["named-by-deploy"] = StrayRecord(
        bucket="named-by-deploy", source=StraySource.DEPLOYMENT, reason="named by a deploy of api/prod", seen_at=1.0
    )
    return registry, store


def test_matching_pattern_honours_anchors() -> None:
    assert matching_pattern("zappa-abc123xyz", ZAPPA) == ZAPPA[0]
    assert matching_pattern("my-zappa-abc123xyz", ZAPPA) is None
    assert matching_pattern("zappa-abc123xyz0", ZAPPA) is None


def test_a_dry_run_reports_strays_and_quota_and_deletes_nothing(account: tuple[FakeRegistry, FakeStore]) -> None:
    registry, store = account
    report = sweep(registry, store, patterns=ZAPPA, quota=10, delete=False)
    summary = report.summary()
    assert (summary["bucket_count"], summary["quota"], summary["quota_used_pct"]) == (6, 10, 60.0)
    assert summary["near_quota"] is False
    by_name = {f.bucket: f for f in report.strays}
    assert set(by_name) == {"zappa-aaaaaaaa1", "zappa-bbbbbbbb2", "named-by-deploy"}
    assert by_name["zappa-aaaaaaaa1"].action == "would delete"
    assert by_name["named-by-deploy"].action == "kept: not pattern-matched"
    assert len(store.buckets) == 6
    assert store.calls["delete_if_empty"] == 0


def test_deleting_removes_only_empty_pattern_matched_unregistered_buckets(
    account: tuple[FakeRegistry, FakeStore],
) -> None:
    registry, store = account
    registry.stray_items["zappa-aaaaaaaa1"] = StrayRecord(
        bucket="zappa-aaaaaaaa1", source=StraySource.CLOUDTRAIL, reason="r", seen_at=1.0
    )
    report = sweep(registry, store, patterns=ZAPPA, quota=10, delete=True)
    assert report.deleted == ["zappa-aaaaaaaa1"]
    assert set(store.buckets) == {
        "zappa-bbbbbbbb2",
        "zappa-ccccccccc",
        "api-prod-12345678",
        "acme-artifacts",
        "named-by-deploy",
    }
    actions = {f.bucket: f.action for f in report.strays}
    assert actions["zappa-bbbbbbbb2"] == "kept: not empty"
    assert "zappa-aaaaaaaa1" not in registry.stray_items  # its stray record went with it


def test_a_bucket_registered_during_the_sweep_is_spared(account: tuple[FakeRegistry, FakeStore]) -> None:
    registry, store = account
    original = registry.records
    calls = {"n": 0}

    def registered_meanwhile() -> list[BucketRecord]:
        calls["n"] += 1
        if calls["n"] == 2:
            _registered(registry, "zappa-aaaaaaaa1", stage="late")
        return original()

    registry.records = registered_meanwhile  # type: ignore[method-assign]
    report = sweep(registry, store, patterns=ZAPPA, quota=10, delete=True)
    assert "zappa-aaaaaaaa1" in store.buckets
    assert {f.bucket: f.action for f in report.strays}["zappa-aaaaaaaa1"] == "kept: registered meanwhile"


def test_near_quota_and_missing_registered_buckets_are_reported(account: tuple[FakeRegistry, FakeStore]) -> None:
    registry, store = account
    del store.buckets["api-prod-12345678"]
    report = sweep(registry, store, patterns=ZAPPA, quota=6, delete=False)
    assert report.summary()["near_quota"] is True
    assert report.missing_registered == ["api-prod-12345678"]


def test_the_dry_run_says_what_delete_would_do(account: tuple[FakeRegistry, FakeStore]) -> None:
    registry, store = account
    dry = {f.bucket: f.action for f in sweep(registry, store, patterns=ZAPPA, quota=10, delete=False).strays}
    assert store.calls["delete_if_empty"] == 0
    real = {f.bucket: f.action for f in sweep(registry, store, patterns=ZAPPA, quota=10, delete=True).strays}
    assert dry["zappa-bbbbbbbb2"] == real["zappa-bbbbbbbb2"] == "kept: not empty"
    assert (dry["zappa-aaaaaaaa1"], real["zappa-aaaaaaaa1"]) == ("would delete", "deleted")


def test_the_counts_are_those_after_the_sweep(account: tuple[FakeRegistry, FakeStore]) -> None:
    registry, store = account
    summary = sweep(registry, store, patterns=ZAPPA, quota=10, delete=True).summary()
    # One empty stray deleted: 5 buckets and 2 strays remain (the list still shows the deleted one)
    assert (summary["bucket_count"], summary["stray_count"], summary["quota_used_pct"]) == (5, 2, 50.0)
    assert len(summary["strays"]) == 3  # type: ignore[arg-type]
    assert len(store.buckets) == summary["bucket_count"]


def test_an_unregistered_bucket_wearing_thermostats_tag_is_reported_and_kept(
    account: tuple[FakeRegistry, FakeStore],
) -> None:
    registry, store = account
    store.buckets["api-dev-87654321"] = FakeBucket(
        owner=ACCOUNT,
        region="us-east-1",
        tags={"thermostat:managed-by": "thermostat", "thermostat:project": "api", "thermostat:stage": "dev"},
    )
    store.buckets["team-bucket"] = FakeBucket(owner=ACCOUNT, region="us-east-1", tags={"team": "data"})
    report = sweep(registry, store, patterns=ZAPPA, quota=10, delete=True)
    by_name = {f.bucket: f for f in report.strays}
    assert "created by thermostat for api/dev" in by_name["api-dev-87654321"].reason
    assert not by_name["api-dev-87654321"].deletable
    assert "api-dev-87654321" in store.buckets
    assert "team-bucket" not in by_name
    # Tags are read only for buckets nothing else explains (not registered, recorded or pattern-matched)
    assert store.calls["tags"] == 3  # acme-artifacts, api-dev-87654321, team-bucket
