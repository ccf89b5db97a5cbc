"""Lambda (scheduled): find stray buckets, report the bucket count against the quota, maybe delete.

Nothing is deleted unless ``THERMOSTAT_SWEEP_DELETE=true``, and then only empty, pattern-matched,
unregistered buckets. The summary is logged as one structured line and returned; the counts go
out as EMF metrics (``BucketCount``, ``BucketQuota``, ``StrayBuckets``, ``StrayBucketsDeleted``), each
counted after the sweep (a deleted stray is neither a bucket nor a stray any more).
"""

from __future__ import annotations

from typing import Any

from domain.buckets import sweep
from handlers import wiring
from infra.accounts import current_account
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - the schedule's event is empty
    """One sweep, whatever the (scheduled) event."""
    settings = wiring.settings()
    report = sweep(
        wiring.bucket_registry(),
        wiring.bucket_store(current_account(context), settings.region),
        patterns=settings.stray_patterns,
        quota=settings.bucket_quota,
        delete=settings.sweep_delete,
    )
    metrics = get_metrics()
    metrics.add_metric(name="BucketCount", unit=MetricUnit.Count, value=report.bucket_count)
    metrics.add_metric(name="BucketQuota", unit=MetricUnit.Count, value=report.quota)
    metrics.add_metric(name="StrayBuckets", unit=MetricUnit.Count, value=len(report.remaining_strays))
    metrics.add_metric(name="StrayBucketsDeleted", unit=MetricUnit.Count, value=len(report.deleted))
    summary = report.summary()
    get_logger().info("bucket sweep", extra=summary)
    return summary
