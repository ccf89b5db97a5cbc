"""Lambda (scheduled): find stray buckets, report the bucket count against the quota, maybe delete.

Nothing is deleted unless ``THERMOSTAT_SWEEP_DELETE=true``, and then only empty, pattern-matched,
unregistered buckets. The summary is logged as one structured line and returned; the counts go
out as EMF metrics (``BucketCount``, ``BucketQuota``, ``StrayBuckets``, ``StrayBucketsDeleted``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from domain.buckets import sweep
from infra.accounts import current_account
from infra.bucket_registry import DynamoBucketRegistry
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics
from infra.s3_buckets import S3BucketStore
from infra.settings import get_settings


@cache
def registry() -> DynamoBucketRegistry:
    """The registry on ``THERMOSTAT_TABLE``."""
    settings = get_settings()
    return DynamoBucketRegistry(settings.require_table(), settings.region)


@cache
def store(account: str) -> S3BucketStore:
    """The account's bucket store (``ListBuckets`` is global; deletes follow S3's region redirects)."""
    return S3BucketStore(account, region=get_settings().region)


def reset() -> None:
    """Forget the cached adapters (tests)."""
    registry.cache_clear()
    store.cache_clear()


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - the schedule's event is empty
    """One sweep, whatever the (scheduled) event."""
    settings = get_settings()
    report = sweep(
        registry(),
        store(current_account(context)),
        patterns=settings.stray_patterns,
        quota=settings.bucket_quota,
        delete=settings.sweep_delete,
    )
    metrics = get_metrics()
    metrics.add_metric(name="BucketCount", unit=MetricUnit.Count, value=report.bucket_count)
    metrics.add_metric(name="BucketQuota", unit=MetricUnit.Count, value=report.quota)
    metrics.add_metric(name="StrayBuckets", unit=MetricUnit.Count, value=len(report.strays))
    metrics.add_metric(name="StrayBucketsDeleted", unit=MetricUnit.Count, value=len(report.deleted))
    summary = report.summary()
    get_logger().info("bucket sweep", extra=summary)
    return summary
