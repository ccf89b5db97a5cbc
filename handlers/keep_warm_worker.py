"""The keep-warm worker Lambda, ``handlers.keep_warm_worker.lambda_handler``: one shard per SQS record.

The queue (``THERMOSTAT_SHARD_QUEUE``) is its event source, batch size 1 with partial batch
responses (``ReportBatchItemFailures``): a record whose shard could not run for a transient reason
is returned in ``batchItemFailures`` and delivered again; the DLQ keeps what still fails after
``maxReceiveCount`` (``THERMOSTAT_SHARD_MAX_RECEIVES``). What a shard does is in
:mod:`handlers.keep_warm_shards`; the round itself is :func:`handlers.keep_warm.run_keep_warm`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from domain.errors import ThermostatError
from domain.keep_warm.shards import Shard
from handlers import wiring
from handlers.keep_warm import _deadline, report_metric_documents, run_keep_warm
from handlers.keep_warm_shards import Rounds, _now_ms, finalise, run_shard
from infra.observability import entrypoint, get_logger

if TYPE_CHECKING:
    from domain.keep_warm.shard_reports import ShardReport
    from infra.settings import Settings

ROUNDS = Rounds(run=run_keep_warm, target_documents=report_metric_documents)


def _handle_record(record: dict[str, Any], context: Any, settings: Settings) -> bool:
    """Run one SQS record's shard; False when the message must be retried (a batch item failure)."""
    logger = get_logger()
    try:
        shard = Shard.model_validate_json(record.get("body") or "")
    except ValidationError as exc:
        # Kept, not dropped: retried until the DLQ holds it for a look.
        logger.error("not a keep-warm shard message", extra={"message_id": record.get("messageId"), "error": str(exc)})
        return False
    attempts = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    last = attempts >= settings.shard_max_receives
    try:
        report = run_shard(
            shard,
            ROUNDS,
            attempts=attempts,
            last_attempt=last,
            context=context,
            deadline=_deadline(context, time.monotonic),
        )
        if report is None:
            logger.info("shard already recorded: a duplicate delivery", extra={"shard": shard.id})
            return True
        reported = wiring.shard_ledger().record(report, at_ms=_now_ms())
    except ThermostatError as exc:
        logger.warning("shard not run: retried", extra={"shard": shard.id, "attempts": attempts, "error": str(exc)})
        return False
    logger.info(
        "keep-warm shard",
        extra={"shard": shard.id, "status": report.status.value, "error": report.error, "sent": _sent(report)},
    )
    if reported is not None and reported >= shard.of:
        finalise(shard.group, shard.round_id, ROUNDS)
    return True


def _sent(report: ShardReport) -> int:
    return report.report.sent if report.report is not None else 0


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """SQS batch of shards → run each → ``{"batchItemFailures": [...]}`` for those to retry."""
    settings = wiring.settings()
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        get_logger().error("keep-warm worker expects an SQS event with Records", extra={"event": str(event)[:500]})
        return {"batchItemFailures": []}
    failures = [
        {"itemIdentifier": record.get("messageId")}
        for record in records
        if not _handle_record(record, context, settings)
    ]
    return {"batchItemFailures": failures}
