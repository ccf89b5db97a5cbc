"""Lambda (scheduled): find stray buckets, report the bucket count against the quota, maybe delete.

Nothing is deleted unless ``THERMOSTAT_SWEEP_DELETE=true``, and then only empty, pattern-matched,
unregistered buckets. The summary is logged as one structured line and returned; the counts go
out as EMF metrics (``BucketCount``, ``BucketQuota``, ``StrayBuckets``, ``StrayBucketsDeleted``), each
counted after the sweep (a deleted stray is neither a bucket nor a stray any more).

Every account the registry knows of (a registered bucket or a recorded stray there) is swept too,
through its spoke role; the summary then carries ``accounts`` (one summary, or one ``error``, per
account), ``StrayBuckets`` and ``StrayBucketsDeleted`` count every account, and ``BucketCount`` /
``BucketQuota`` stay the own account's (the quota is per account). A spoke role that refuses fails
that account's sweep only.
"""

from __future__ import annotations

from typing import Any

from domain.buckets import AccountRegistry, SweepReport, known_accounts, sweep
from domain.errors import Unavailable
from handlers import wiring
from infra.accounts import current_account
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - the schedule's event is empty
    """One sweep per known account, whatever the (scheduled) event."""
    settings = wiring.settings()
    own = current_account(context)
    registry = wiring.bucket_registry()
    accounts = known_accounts(registry, own)
    reports: dict[str, SweepReport] = {}
    errors: dict[str, str] = {}
    for account in accounts:
        try:
            reports[account] = sweep(
                AccountRegistry(registry, account, own),
                wiring.bucket_store(account, settings.region, own_account=own),
                patterns=settings.stray_patterns,
                quota=settings.bucket_quota,
                delete=settings.sweep_delete,
            )
        except Unavailable as exc:
            if account == own:
                raise  # the own account's sweep failing is the function failing
            errors[account] = str(exc)
            get_logger().error("bucket sweep failed for an account", extra={"account": account, "error": str(exc)})
    mine = reports[own]
    metrics = get_metrics()
    metrics.add_metric(name="BucketCount", unit=MetricUnit.Count, value=mine.bucket_count)
    metrics.add_metric(name="BucketQuota", unit=MetricUnit.Count, value=mine.quota)
    strays = sum(len(report.remaining_strays) for report in reports.values())
    metrics.add_metric(name="StrayBuckets", unit=MetricUnit.Count, value=strays)
    deleted = sum(len(report.deleted) for report in reports.values())
    metrics.add_metric(name="StrayBucketsDeleted", unit=MetricUnit.Count, value=deleted)
    summary = mine.summary()
    if len(accounts) > 1:
        per_account: dict[str, Any] = {account: report.summary() for account, report in reports.items()}
        per_account.update({account: {"error": message} for account, message in errors.items()})
        summary["accounts"] = per_account
    get_logger().info("bucket sweep", extra=summary)
    return summary
