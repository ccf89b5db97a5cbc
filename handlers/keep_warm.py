"""The keep-warm Lambda: ``handlers.keep_warm.lambda_handler``, one round per schedule tick.

Event: the schedule's constant input ``{"group": "default"}`` (optionally ``"target": FUNCTION``
to warm one function's targets only). It loads the group's targets from the table, pings each
with N overlapping ``warm`` requests, and returns (and logs) the round's report::

    {"group": "default", "targets": [{"function", "qualifier", "sent", "environments", "cold",
                                      "errors", "throttled", "skipped", ...}], ...}

EMF metrics, one document per pinged target (dimensions ``service``, ``group``, ``function``,
``qualifier``): ``WarmPings``, ``WarmEnvironments`` (only when the target speaks the protocol),
``WarmColdHits``, ``WarmErrors``, ``WarmThrottles``.

Environment: ``THERMOSTAT_TABLE``, ``THERMOSTAT_MAX_IN_FLIGHT`` (the global cap on pings in
flight, also the size of the HTTP connection pool and of the worker pool),
``THERMOSTAT_PAYLOAD_BUCKETS`` (where ``payloadS3`` may be read from).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from domain.errors import InvalidInput, NotFound, Unavailable
from domain.keep_warm import RoundPolicy, RoundReport, TargetReport, keep_warm
from domain.targets import DEFAULT_GROUP, validate_group
from infra.observability import MetricUnit, entrypoint, get_logger
from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from domain.invocation import FunctionInvoker
    from domain.keep_warm import LambdaConfig
    from domain.targets import TargetStore
    from infra.lambda_invoker import BotoFunctionInvoker

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


# -- adapters, built once per container ------------------------------------------------------


@cache
def _executor(size: int) -> ThreadPoolExecutor:
    # One worker per ping in flight, so that a target's pings really overlap.
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="keep-warm")


@cache
def _invoker(pool_size: int) -> BotoFunctionInvoker:
    from infra.lambda_invoker import BotoFunctionInvoker

    return BotoFunctionInvoker(pool_size=pool_size)


@cache
def _lambda_client(pool_size: int) -> Any:
    from infra import aws

    return aws.client("lambda", max_pool_connections=pool_size)


def _config(pool_size: int) -> LambdaConfig:
    from infra.lambda_config import BotoLambdaConfig

    # A new one per round: its answers are cached for this round only. The look-ups share the
    # invoker's signed keep-alive path (cheap), falling back to the boto3 client.
    return BotoLambdaConfig(_lambda_client(pool_size), invoker=_invoker(pool_size))


@cache
def _store(table: str, region: str) -> TargetStore:
    from infra.target_store import DynamoTargetStore

    return DynamoTargetStore(table, region)


def default_store(settings: Settings) -> TargetStore:
    """The DynamoDB target store named by ``THERMOSTAT_TABLE``."""
    return _store(settings.require_table(), settings.region)


def clear_caches() -> None:
    """Forget the adapters built for this container (tests; a changed endpoint or cap)."""
    for size in list(_built_sizes):
        _invoker(size).close()
        _executor(size).shutdown(wait=True)
    _built_sizes.clear()
    for cached in (_executor, _invoker, _lambda_client, _store):
        cached.cache_clear()


_built_sizes: set[int] = set()


def _payload_loader(allowed_buckets: frozenset[str]) -> Callable[[str], bytes]:
    def load(uri: str) -> bytes:
        from thermostat_runtime import refs
        from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES

        try:
            return refs.read_reference(uri, allowed_buckets=allowed_buckets, max_bytes=SYNC_INVOKE_LIMIT_BYTES)
        except refs.PayloadRefNotFound as exc:
            raise NotFound(str(exc)) from exc
        except refs.PayloadRefUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        except refs.PayloadRefError as exc:
            raise InvalidInput(str(exc)) from exc

    return load


def run_keep_warm(
    group: str,
    *,
    function: str | None = None,
    time_budget_s: float | None = None,
    settings: Settings | None = None,
    store: TargetStore | None = None,
    invoker: FunctionInvoker | None = None,
    config: LambdaConfig | None = None,
    clock: Callable[[], float] = time.monotonic,
    round_id: str | None = None,
) -> RoundReport:
    """One round for ``group`` with the production adapters (any of them can be replaced).

    ``time_budget_s``: seconds from now by which every reply must be in (None: no limit).
    """
    settings = settings or get_settings()
    cap = settings.max_in_flight
    _built_sizes.add(cap)
    allowed = frozenset(settings.payload_buckets)
    deadline = None if time_budget_s is None else clock() + time_budget_s
    return keep_warm(
        validate_group(group),
        store or default_store(settings),
        function=function,
        invoker=invoker or _invoker(cap),
        config=config or _config(cap),
        load_payload=_payload_loader(allowed),
        executor=_executor(cap),
        clock=clock,
        round_id=round_id or uuid.uuid4().hex[:12],
        deadline=deadline,
        policy=RoundPolicy(max_in_flight=cap, allowed_buckets=allowed),
    )


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
    return values


def publish_report_metrics(report: RoundReport) -> None:
    """One EMF document per pinged target (dimensions ``group``, ``function``, ``qualifier``).

    No per-group totals on purpose: ``SELECT SUM(WarmErrors) FROM Thermostat`` (the template's
    alarms) would count every ping twice.
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics

    settings = get_settings()
    for target in report.targets:
        if target.skipped in ("disabled", "provisioned"):
            continue
        values = _metric_values(target)
        metrics = EphemeralMetrics(namespace=settings.metrics_namespace, service=settings.service_name)
        metrics.add_dimension(name="group", value=report.group)
        metrics.add_dimension(name="function", value=target.function)
        metrics.add_dimension(name="qualifier", value=target.qualifier)
        for name, value in values.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.flush_metrics()


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


def _time_budget(context: Any) -> float | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    remaining_s = float(getter()) / 1000.0
    return remaining_s - min(REPORT_MARGIN_S, max(0.2, remaining_s * 0.1))


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """EventBridge schedule → one keep-warm round → its report."""
    request = parse_event(event)
    report = run_keep_warm(request.group, function=request.target, time_budget_s=_time_budget(context))
    log_report(report)
    publish_report_metrics(report)
    return report.to_dict()
