"""Sharded keep-warm rounds: the planner side of the scheduled handler, and what the worker Lambda
(``handlers.keep_warm_worker``: SQS event source, batch size 1, partial batch responses) runs.

When a group's round needs more than one invocation (a target in another account or region, more
than ``THERMOSTAT_SHARD_TARGETS`` targets or ``THERMOSTAT_SHARD_PINGS`` pings, or
``THERMOSTAT_SHARDING=on``), the scheduled handler plans shards (domain.keep_warm.shards), records
the plan in the ledger, sends one message per shard to ``THERMOSTAT_SHARD_QUEUE`` and returns. Each
worker invocation runs its shard with the existing round code and that shard's slice of the
in-flight budget, with clients for the shard's account (through its spoke role) and region, and
records the shard's report once. The worker whose report completes the round writes the round's
report (and its EMF); a round with shards that never reported is finalised by the next scheduled
round of the group once ``THERMOSTAT_SHARD_DEADLINE`` has passed, with those shards listed missing.
Without a queue, the shards run one after the other in the scheduled invocation itself. Whether a
round is sharded at all is asked by :mod:`handlers.keep_warm_sharding`, which the handler imports on
every round; this module only when the answer is yes.

A shard whose account's spoke role is missing or refuses us reports ``failed`` with the reason
(retrying would not help); one that cannot run for a transient reason (STS or DynamoDB
unavailable, throttled) is returned as a batch item failure and retried, and reports ``failed`` at
its last delivery (``THERMOSTAT_SHARD_MAX_RECEIVES``, the DLQ's ``maxReceiveCount``).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.deadline import Clock, Deadline
from domain.errors import AccessDenied, ThermostatError
from domain.keep_warm.reports import RoundReport
from domain.keep_warm.shard_reports import ShardedRoundReport, ShardReport
from domain.keep_warm.shards import RoundPlan, Shard, plan_round
from handlers import wiring
from handlers.keep_warm_sharding import ShardTargets, shard_policy
from infra.observability import MetricUnit, get_logger

if TYPE_CHECKING:
    from domain.targets import Target, TargetProblem, TargetStore


@dataclass(frozen=True)
class Rounds:
    """How a shard's round is run and its targets' EMF built (``handlers.keep_warm``'s, passed in so
    that this module does not import the handler that imports it)."""

    run: Callable[..., RoundReport]
    target_documents: Callable[[RoundReport], list[dict[str, Any]]]


def new_round_id(at_ms: int) -> str:
    """A round id that sorts by time (the ledger's latest round is its last)."""
    return f"{at_ms:013d}-{uuid.uuid4().hex[:8]}"


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- the planner (the scheduled handler) ------------------------------------------------------


def plan_and_send(
    group: str,
    targets: list[Target | TargetProblem],
    rounds: Rounds,
    *,
    context: Any = None,
    deadline: Deadline | None = None,
    publish: bool = True,
) -> dict[str, Any]:
    """Finalise the group's overdue rounds, plan this one, record it, and send (or run) its shards.

    ``publish``: log the round reports and write their EMF on stdout (the CLI records them itself).
    """
    settings = wiring.settings()
    ledger = wiring.shard_ledger()
    now = _now_ms()
    finalised = [report.round_id for report in finalise_overdue(group, now, rounds, publish=publish)]
    own = wiring.own_account(context)
    plan = plan_round(new_round_id(now), group, targets, shard_policy(settings), own=(own, settings.region))
    ledger.open(plan, at_ms=now, finalise_after_ms=now + settings.shard_deadline_s * 1000)
    queue = wiring.shard_queue()
    summary: dict[str, Any] = {
        "round_id": plan.round_id,
        "group": group,
        "shards": len(plan.shards),
        "targets": plan.targets,
        "finalised": finalised,
    }
    if queue is None:
        report = run_inline(plan, rounds, context=context, deadline=deadline, publish=publish)
        return {**summary, "queue": None, "report": report.to_dict() if report is not None else None}
    try:
        sent = queue.send(plan.shards)
    except ThermostatError as exc:
        # The plan is recorded: unsent shards are listed missing when the round is finalised.
        get_logger().error("could not send every shard", extra={"round_id": plan.round_id, "error": str(exc)})
        return {**summary, "queue": queue.queue_url, "error": str(exc)}
    get_logger().info("keep-warm round sharded", extra=summary)
    return {**summary, "queue": queue.queue_url, "sent": sent}


def run_inline(
    plan: RoundPlan, rounds: Rounds, *, context: Any = None, deadline: Deadline | None = None, publish: bool = True
) -> ShardedRoundReport | None:
    """Run every shard here, one after the other (no queue configured), and finalise the round."""
    ledger = wiring.shard_ledger()
    for shard in plan.shards:
        try:
            report = run_shard(shard, rounds, context=context, deadline=deadline, last_attempt=True)
        except ThermostatError as exc:
            report = ShardReport.failure(shard, str(exc))
        if report is not None:
            ledger.record(report, at_ms=_now_ms())
    return finalise(plan.group, plan.round_id, rounds, force=True, publish=publish)


def finalise_overdue(group: str, now_ms: int, rounds: Rounds, *, publish: bool = True) -> list[ShardedRoundReport]:
    """Finalise the group's rounds whose deadline has passed (their unreported shards listed missing)."""
    ledger = wiring.shard_ledger()
    done = []
    for round_id in ledger.unfinished(group):
        report = finalise(group, round_id, rounds, now_ms=now_ms, publish=publish)
        if report is not None:
            done.append(report)
    return done


def finalise(
    group: str,
    round_id: str,
    rounds: Rounds,
    *,
    now_ms: int | None = None,
    force: bool = False,
    publish: bool = True,
) -> ShardedRoundReport | None:
    """Aggregate the round once (see the ledger), then (``publish``) log it and write its EMF."""
    report = wiring.shard_ledger().finalise(group, round_id, now_ms=now_ms or _now_ms(), force=force)
    if report is not None and publish:
        log_round(report)
        publish_round_metrics(report, rounds)
    return report


# -- the worker -------------------------------------------------------------------------------


def run_shard(
    shard: Shard,
    rounds: Rounds,
    *,
    attempts: int = 1,
    last_attempt: bool = False,
    context: Any = None,
    deadline: Deadline | None = None,
    clock: Clock = time.monotonic,
) -> ShardReport | None:
    """Run one shard; its report (``failed`` when it cannot run), or None when it was already recorded.

    Raises a ``ThermostatError`` for a transient failure before the last attempt (the message is retried).
    """
    settings = wiring.settings()
    if wiring.shard_ledger().is_recorded(shard.round_id, shard.index):
        return None  # a duplicate delivery: the shard ran (and was counted) already
    store = wiring.target_store(settings)
    own = wiring.own_account(context)
    account, region = shard.account or own, shard.region or settings.region
    built = None
    try:
        targets = _load_keys(store, shard)
        if (account, region) != (own, settings.region):
            built = wiring.place_lambda(account, region, own, shard.max_in_flight)
    except AccessDenied as exc:
        return ShardReport.failure(shard, str(exc), attempts)
    except ThermostatError as exc:
        if not last_attempt:
            raise
        return ShardReport.failure(shard, f"{exc} (after {attempts} deliveries)", attempts)
    invoker, config = built if built is not None else (None, None)
    try:
        report = rounds.run(
            shard.group,
            deadline=deadline,
            settings=settings.model_copy(update={"max_in_flight": shard.max_in_flight}),
            store=ShardTargets(targets, store),
            invoker=invoker,
            config=config,
            clock=clock,
            round_id=shard.id,
        )
    finally:
        if invoker is not None:
            invoker.close()
    return ShardReport.of_round(shard, report, attempts)


def _load_keys(store: TargetStore, shard: Shard) -> list[Target | TargetProblem]:
    load_keys = getattr(store, "load_keys", None)
    if load_keys is not None:
        found: list[Target | TargetProblem] = load_keys(list(shard.keys))
        return found
    wanted = set(shard.keys)  # a store without batch reads: the group, filtered
    return [target for target in store.load(shard.group) if _key_of(target) in wanted]


def _key_of(target: Target | TargetProblem) -> str:
    from domain.targets import target_key

    return target_key(target.group, target.function, target.qualifier, target.account, target.region)


# -- telling the world -----------------------------------------------------------------------


def round_metric_documents(report: ShardedRoundReport, rounds: Rounds) -> list[dict[str, Any]]:
    """The round's EMF: one document per pinged target (as an unsharded round), then one per place
    (dimensions ``group``, ``account``, ``region``): ``WarmShards``, ``WarmShardsFailed``,
    ``WarmShardsTimedOut``, ``WarmShardsMissing``."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    settings = wiring.settings()
    documents = rounds.target_documents(report.as_round())
    for place in report.places:
        metrics = EphemeralMetrics(namespace=settings.metrics_namespace, service=settings.service_name)
        metrics.add_dimension(name="group", value=report.group)
        metrics.add_dimension(name="account", value=place.account or "own")
        metrics.add_dimension(name="region", value=place.region or settings.region)
        metrics.add_metadata(key="round_id", value=report.round_id)
        for name, value in (
            ("WarmShards", place.shards),
            ("WarmShardsFailed", place.shards_failed),
            ("WarmShardsTimedOut", place.shards_timed_out),
            ("WarmShardsMissing", place.shards_missing),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        documents.append(dict(metrics.serialize_metric_set()))
    return documents


def publish_round_metrics(report: ShardedRoundReport, rounds: Rounds) -> None:
    """The round's EMF documents on stdout."""
    for document in round_metric_documents(report, rounds):
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log_round(report: ShardedRoundReport) -> None:
    """The round's report (shards and places; the target lines are in each shard's log)."""
    get_logger().info("keep-warm sharded round", extra={"report": report.model_dump(mode="json", exclude={"targets"})})
