"""The keep-warm Lambda: ``handlers.keep_warm.lambda_handler``, one round per schedule tick.

Event: the schedule's constant input ``{"group": "default"}`` (optionally ``"target": FUNCTION``
to warm one function's targets only). It loads the group's targets from the table, pings each
with N overlapping ``warm`` requests, and returns (and logs) the round's report::

    {"group": "default", "targets": [{"function", "qualifier", "sent", "environments", "cold",
                                      "errors", "throttled", "skipped", ...}], ...}

EMF metrics, one document per pinged target (dimensions ``service``, ``group``, ``function``,
``qualifier``): ``WarmPings``, ``WarmEnvironments`` (only when the target speaks the protocol),
``WarmColdHits``, ``WarmErrors``, ``WarmThrottles``, ``WarmAutoN`` (an auto target's N this round, with
its reason as the ``auto_reason`` field), and ``WarmLookupsRefused`` (look-ups the role was
refused, only when there were some: the target was pinged cautiously).

Environment: ``THERMOSTAT_TABLE``, ``THERMOSTAT_MAX_IN_FLIGHT`` (the global cap on pings in
flight, also the size of the HTTP connection pool and of the worker pool),
``THERMOSTAT_PAYLOAD_BUCKETS`` (where ``payloadS3`` may be read from), ``THERMOSTAT_LOOKUP_RATE``,
``_BURST``, ``_TTL``, ``_WAIT`` (the function facts cached in the container and how fast they are read),
``THERMOSTAT_AUTO_TTL`` (how long an auto target's concurrency history is kept in the container).

Configuration changes: the CloudTrail event of a call that changes what a round reads
(``PutProvisionedConcurrencyConfig``, ``DeleteProvisionedConcurrencyConfig``,
``PutFunctionConcurrency``, ``DeleteFunctionConcurrency``, ``UpdateFunctionConfiguration``,
``PublishVersion``; EventBridge's ``AWS API Call via CloudTrail``) makes the container forget that
function's facts, so the next round reads them again: ``{"invalidated": FUNCTION, "entries": N}``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from domain.deadline import Clock, Deadline
from domain.errors import InvalidInput
from domain.keep_warm import RoundPolicy, RoundReport, TargetReport, keep_warm
from domain.targets import DEFAULT_GROUP, validate_group
from handlers import wiring
from infra.observability import MetricUnit, entrypoint, get_logger

if TYPE_CHECKING:
    from domain.invocation import FunctionInvoker
    from domain.keep_warm import LambdaConfig
    from domain.keep_warm.auto import AutoSizer
    from domain.targets import TargetStore
    from infra.settings import Settings

#: Time kept back from the Lambda's remaining time for the report, logs and metrics.
REPORT_MARGIN_S = 2.0
#: A report line larger than this is split: CloudWatch Logs caps an event at 256 KB.
MAX_LOG_LINE_BYTES = 200_000


class KeepWarmEvent(BaseModel):
    """The schedule's constant input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = DEFAULT_GROUP
    target: str | None = None

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        return validate_group(value)


def parse_event(event: Any) -> KeepWarmEvent:
    """The event as a :class:`KeepWarmEvent`, or ``InvalidInput`` saying what the schedule must send."""
    if not isinstance(event, dict):
        raise InvalidInput(f'keep-warm expects the schedule\'s constant input {{"group": "…"}}, got {event!r}')
    try:
        return KeepWarmEvent.model_validate(event)
    except (ValidationError, InvalidInput) as exc:
        raise InvalidInput(
            f'keep-warm expects the schedule\'s constant input {{"group": "…"}} (optionally "target"); '
            f"got keys {sorted(event)}: {exc}"
        ) from exc


#: The calls whose CloudTrail events make the container forget a function's facts (CloudTrail
#: names Lambda's calls with their API version appended, e.g. ``PutFunctionConcurrency20171031``).
CONFIG_CHANGES = (
    "PutProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "PutFunctionConcurrency",
    "DeleteFunctionConcurrency",
    "UpdateFunctionConfiguration",
    "PublishVersion",
)
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


def config_change_of(event: Any) -> str | None:
    """The function a configuration-change event names (None: the event is not one).

    ``InvalidInput`` for a CloudTrail event of one of :data:`CONFIG_CHANGES` that names no function.
    A failed call (``errorCode`` set) changed nothing: None.
    """
    if not isinstance(event, dict) or event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("eventSource") != "lambda.amazonaws.com":
        return None
    name = str(detail.get("eventName") or "")
    if not name.startswith(CONFIG_CHANGES) or detail.get("errorCode"):
        return None
    parameters = detail.get("requestParameters")
    function = parameters.get("functionName") if isinstance(parameters, dict) else None
    if not isinstance(function, str) or not function:
        raise InvalidInput(f"CloudTrail event {name} names no requestParameters.functionName: nothing to forget")
    return function


def forget_facts(function: str) -> dict[str, Any]:
    """Make this container read ``function``'s facts again at its next round."""
    from domain.keep_warm.lookups import function_name_of

    forgotten = wiring.container_facts().invalidate(function)
    get_logger().info("function facts forgotten", extra={"function": function, "entries": forgotten})
    return {"invalidated": function_name_of(function), "entries": forgotten}


def run_keep_warm(
    group: str,
    *,
    function: str | None = None,
    deadline: Deadline | None = None,
    settings: Settings | None = None,
    store: TargetStore | None = None,
    invoker: FunctionInvoker | None = None,
    config: LambdaConfig | None = None,
    clock: Clock = time.monotonic,
    round_id: str | None = None,
    sizer: AutoSizer | None = None,
) -> RoundReport:
    """One round for ``group`` with the production adapters (any of them can be replaced).

    ``deadline``: by when every reply must be in, on ``clock`` (None: no limit).
    """
    settings = settings or wiring.settings()
    cap = settings.max_in_flight
    allowed = frozenset(settings.payload_buckets)
    invoker = invoker or wiring.keep_warm_invoker(cap)
    targets = store or wiring.target_store(settings)
    if config is None:
        # Never wait for look-up tokens beyond half the time the round has.
        wait = settings.lookup_wait_s
        if deadline is not None:
            wait = min(wait, max(0.0, deadline.remaining_s() / 2))
        config = wiring.round_lookups(settings, wait)
    report = keep_warm(
        validate_group(group),
        targets,
        function=function,
        config=config,
        load_payload=wiring.payload_loader(allowed),
        dispatcher=wiring.keep_warm_dispatcher(invoker, cap, clock),
        clock=clock,
        round_id=round_id or uuid.uuid4().hex[:12],
        deadline=deadline,
        policy=RoundPolicy(max_in_flight=cap, allowed_buckets=allowed),
        sizer=sizer or wiring.auto_sizer(settings.auto_ttl_s),
    )
    at_ms = int(time.time() * 1000)
    record_rounds(report, targets, at_ms=at_ms)
    record_sizing(report, targets, at_ms=at_ms)
    return report


def record_sizing(report: RoundReport, store: object, at_ms: int) -> int:
    """Keep every auto target's decision on its record (the next round's previous N; ``targets list``).

    A fallback decision (the history could not be read) is kept too: it says why N did not move.
    A failure is logged, never fatal. Returns how many were kept.
    """
    record = getattr(store, "record_sizing", None)
    if record is None:
        return 0
    kept = 0
    for target in report.targets:
        if target.auto is None:
            continue
        try:
            kept += bool(
                record(
                    target.function,
                    target.qualifier,
                    report.group,
                    target.auto.n,
                    target.auto.reason,
                    target.auto.at_ms or at_ms,
                )
            )
        except Exception as exc:  # noqa: BLE001 - the report matters more than the bookkeeping
            get_logger().warning(
                "could not record the auto sizing",
                extra={"target": f"{target.function}:{target.qualifier}", "error": str(exc)},
            )
    return kept


def record_rounds(report: RoundReport, store: object, at_ms: int) -> int:
    """Note the round's time on every target it pinged (what ``thermostat report`` compares against).

    Only stores that keep round times (the table's) are written; a failure is logged, never fatal:
    the round itself has happened. Returns how many targets were noted.
    """
    record = getattr(store, "record_round", None)
    if record is None:
        return 0
    noted = 0
    for target in report.targets:
        if target.sent <= 0:
            continue
        try:
            place = {"account": target.account, "region": target.region} if target.account or target.region else {}
            noted += bool(record(target.function, target.qualifier, report.group, at_ms, **place))
        except Exception as exc:  # noqa: BLE001 - the report matters more than the bookkeeping
            get_logger().warning(
                "could not record the keep-warm round",
                extra={"target": f"{target.function}:{target.qualifier}", "error": str(exc)},
            )
    return noted


# -- telling the world -----------------------------------------------------------------------


def _metric_values(target: TargetReport) -> dict[str, int]:
    values = {
        "WarmPings": target.sent,
        "WarmColdHits": target.cold,
        "WarmErrors": target.errors,
        "WarmThrottles": target.throttled,
    }
    if target.environments is not None:
        # Unknown (a target outside the protocol) is not zero: no data point at all.
        values["WarmEnvironments"] = target.environments
    if target.refused_lookups:
        values["WarmLookupsRefused"] = len(target.refused_lookups)
    if target.auto is not None:
        values["WarmAutoN"] = target.auto.n
    return values


def report_metric_documents(report: RoundReport) -> list[dict[str, Any]]:
    """The round's EMF documents: one per pinged target (dimensions ``group``, ``function``, ``qualifier``).

    No per-group totals on purpose: ``SELECT SUM(WarmErrors) FROM Thermostat`` (the template's
    alarms) would count every ping twice. ``thermostat warm`` records the same documents.
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics

    settings = wiring.settings()
    documents: list[dict[str, Any]] = []
    for target in report.targets:
        if target.skipped in ("disabled", "provisioned"):
            continue
        values = _metric_values(target)
        metrics = EphemeralMetrics(namespace=settings.metrics_namespace, service=settings.service_name)
        metrics.add_dimension(name="group", value=report.group)
        metrics.add_dimension(name="function", value=target.function)
        metrics.add_dimension(name="qualifier", value=target.qualifier)
        if target.account or target.region:
            # Only outside the own account and region: the own targets keep their metrics' identity.
            metrics.add_dimension(name="account", value=target.account or "own")
            metrics.add_dimension(name="region", value=target.region or settings.region)
        # What the round set out to prove (a field, not a metric): the report shows "2 of 2".
        metrics.add_metadata(key="planned", value=target.planned)
        if target.auto is not None:
            # Why this N (a field, not a metric): the data the sizing used, in words.
            metrics.add_metadata(key="auto_reason", value=target.auto.reason)
        for name, value in values.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        documents.append(dict(metrics.serialize_metric_set()))
    return documents


def publish_report_metrics(report: RoundReport) -> None:
    """The round's EMF documents on stdout (Lambda ships them to the function's log group)."""
    import sys

    for document in report_metric_documents(report):
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log_report(report: RoundReport) -> None:
    """The report as structured log lines (split by targets when it would exceed a log event)."""
    logger = get_logger()
    document = report.to_dict()
    targets = document.pop("targets")
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for target in targets:
        line = len(json.dumps(target, default=str))
        if chunks[-1] and size + line > MAX_LOG_LINE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(target)
        size += line
    for part, chunk in enumerate(chunks, start=1):
        logger.info(
            "keep-warm round",
            extra={"report": {**document, "targets": chunk}, "part": part, "parts": len(chunks)},
        )


def _deadline(context: Any, clock: Clock) -> Deadline:
    """The invocation's deadline, less the time kept back for the report, logs and metrics."""
    deadline = Deadline.from_context(context, clock)
    return deadline.earlier_by(min(REPORT_MARGIN_S, max(0.2, deadline.remaining_s() * 0.1)))


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """EventBridge schedule → one keep-warm round → its report (a configuration change → facts forgotten)."""
    changed = config_change_of(event)
    if changed is not None:
        return forget_facts(changed)
    request = parse_event(event)
    deadline = _deadline(context, time.monotonic)
    settings = wiring.settings()
    store: TargetStore | None = None
    if settings.sharding != "off" and settings.table:
        from handlers import keep_warm_sharding as sharding

        targets = sharding.load_round(validate_group(request.group), request.target, settings)
        if sharding.sharding_applies(targets, settings, context):
            from handlers import keep_warm_shards as sharded  # the plan, ledger and queue: sharded rounds only

            rounds = sharded.Rounds(run=run_keep_warm, target_documents=report_metric_documents)
            return sharded.plan_and_send(request.group, targets, rounds, context=context, deadline=deadline)
        store = sharding.ShardTargets(targets, wiring.target_store(settings))  # loaded once, not twice
    report = run_keep_warm(request.group, function=request.target, deadline=deadline, store=store)
    log_report(report)
    publish_report_metrics(report)
    return report.to_dict()
