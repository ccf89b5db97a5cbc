"""The CodeDeploy lifecycle hook: ``handlers.pre_traffic.lambda_handler``.

Event: ``{"DeploymentId": "d-…", "LifecycleEventHookExecutionId": "…"}`` (CodeDeploy, async).
It warms the new version, judges it, and reports ``Succeeded``/``Failed`` exactly once — see
:mod:`domain.hook` for the rules. This module only reads the configuration, builds the adapters
once per container, and logs and measures the outcome.

The same handler serves ``AfterAllowTraffic`` (the probe only, no jitter): the lifecycle event
is ``THERMOSTAT_HOOK_LIFECYCLE`` when set, otherwise found by looking this function's name up in
the deployment's AppSpec ``Hooks``.

Environment, besides ``infra.settings`` (``THERMOSTAT_HOOK_TARGET``, ``THERMOSTAT_HOOK_VERSION``,
``THERMOSTAT_HOOK_CONCURRENCY``, ``THERMOSTAT_HOOK_JITTER``, ``THERMOSTAT_PAYLOAD_BUCKETS``,
``THERMOSTAT_TABLE``):

* ``THERMOSTAT_HOOK_PAYLOAD``: a JSON event sent instead of the probe;
* ``THERMOSTAT_HOOK_PAYLOAD_S3``: ``s3://bucket/key`` of that event (bucket allow-listed by
  ``THERMOSTAT_PAYLOAD_BUCKETS``), optionally checked against ``THERMOSTAT_HOOK_PAYLOAD_SHA256``;
* ``THERMOSTAT_HOOK_EXPECT``: expectations on every response (``statusCode == 200; body.ok == true``,
  syntax in :mod:`domain.expectations`);
* ``THERMOSTAT_HOOK_LIFECYCLE``: ``BeforeAllowTraffic``, ``AfterAllowTraffic`` or ``auto`` (default);
* ``THERMOSTAT_HOOK_TIMEOUT``: seconds to wait for each invocation (default: the time left);
* ``THERMOSTAT_HOOK_HOLD_MARGIN_MS``: how long the probes overlap after the last one starts (25).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import InvalidInput, NotFound, Unavailable
from domain.expectations import Expectation, parse_expectations
from domain.hook import (
    DEFAULT_HOLD_MARGIN_MS,
    ClockDeadline,
    Deadline,
    Delivery,
    DeploymentReader,
    HookConfig,
    HookEvent,
    HookExecution,
    HookLedger,
    LifecycleEvent,
    NoDeadline,
    StatusReporter,
    Verdict,
    reserve_for,
    resolve_target,
    run_warmup,
    serve_hook_execution,
)
from domain.invocation import FunctionInvoker
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics
from infra.settings import Settings, get_settings

AUTO = "auto"


# --------------------------------------------------------------------------- options


class HookOptionsError(InvalidInput):
    """A ``THERMOSTAT_HOOK_*`` variable of the hook's own is malformed."""


class HookOptions(BaseModel):
    """The hook's own environment variables (the shared ones live in ``infra.settings``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", arbitrary_types_allowed=True)

    payload: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD")] = None
    payload_s3: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD_S3")] = None
    payload_sha256: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD_SHA256")] = None
    expectations: Annotated[tuple[Expectation, ...], Field(alias="THERMOSTAT_HOOK_EXPECT")] = ()
    lifecycle: Annotated[LifecycleEvent | None, Field(alias="THERMOSTAT_HOOK_LIFECYCLE")] = None
    timeout_s: Annotated[float | None, Field(alias="THERMOSTAT_HOOK_TIMEOUT", gt=0, le=900)] = None
    hold_margin_ms: Annotated[int, Field(alias="THERMOSTAT_HOOK_HOLD_MARGIN_MS", ge=0, le=10_000)] = (
        DEFAULT_HOLD_MARGIN_MS
    )

    @field_validator("payload")
    @classmethod
    def _check_json(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not JSON ({exc}); the payload is sent as the invocation's event") from exc
        return value

    @field_validator("payload_s3")
    @classmethod
    def _check_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("expected s3://bucket/key")
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _parse_expectations(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_expectations(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("lifecycle", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", AUTO):
            return None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> HookOptions:
        if self.payload is not None and self.payload_s3 is not None:
            raise ValueError(
                "THERMOSTAT_HOOK_PAYLOAD and THERMOSTAT_HOOK_PAYLOAD_S3 are both set: choose one payload source"
            )
        return self

    def payload_bytes(self, allowed_buckets: tuple[str, ...], s3_client: Any = None) -> bytes | None:
        """The user payload (inline or read from the allow-listed S3 object), or None for the probe."""
        if self.payload is not None:
            return self.payload.encode()
        if self.payload_s3 is None:
            return None
        return read_payload_s3(self.payload_s3, allowed_buckets, sha256=self.payload_sha256, s3_client=s3_client)


def read_payload_s3(
    uri: str, allowed_buckets: tuple[str, ...], *, sha256: str | None = None, s3_client: Any = None
) -> bytes:
    """Read a ``payloadS3`` event: allow-listed bucket, at most Lambda's synchronous limit, JSON."""
    from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES
    from thermostat_runtime.refs import (
        PayloadRefError,
        PayloadRefNotFound,
        PayloadRefUnavailable,
        read_reference,
    )

    if not allowed_buckets:
        raise InvalidInput(
            f"payload {uri} refused: THERMOSTAT_PAYLOAD_BUCKETS is empty; list the buckets payloads may come from"
        )
    try:
        data = read_reference(
            uri, allowed_buckets=allowed_buckets, max_bytes=SYNC_INVOKE_LIMIT_BYTES, sha256=sha256, s3_client=s3_client
        )
    except PayloadRefUnavailable as exc:  # S3 or the network failed: retrying may help
        raise Unavailable(f"hook payload: {exc}") from exc
    except PayloadRefNotFound as exc:
        raise NotFound(f"hook payload: {exc}") from exc
    except PayloadRefError as exc:  # the reference itself is wrong: the user must fix it
        raise InvalidInput(f"hook payload: {exc}") from exc
    try:
        json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"hook payload {uri} is not JSON: {exc}") from exc
    return data


def load_hook_options(environ: Mapping[str, str] | None = None) -> HookOptions:
    """Read the hook's own variables; errors name the variable, as ``infra.settings`` does."""
    env = os.environ if environ is None else environ
    names = {info.alias for info in HookOptions.model_fields.values() if info.alias}
    raw = {name: env[name] for name in names if env.get(name)}
    try:
        return HookOptions.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error.get("loc"):
                problems.append(message)
                continue
            loc = str(error["loc"][0])
            info = HookOptions.model_fields.get(loc)
            name = info.alias if info is not None and info.alias else loc
            given = raw.get(name)
            suffix = f" (got {given!r})" if given is not None and len(given) <= 200 else ""
            problems.append(f"{name}: {message}{suffix}")
        raise HookOptionsError("invalid environment: " + "; ".join(problems)) from exc


# --------------------------------------------------------------------------- composition


def _own_function(context: Any) -> str | None:
    return getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


def context_deadline(context: Any, clock: Callable[[], float]) -> Deadline:
    """A deadline from the Lambda context's remaining time (none when there is no context)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return NoDeadline()
    try:
        remaining_ms = float(getter())
    except (TypeError, ValueError):
        return NoDeadline()
    return ClockDeadline.after(clock, remaining_ms / 1000.0)


def default_invoker(concurrency: int) -> FunctionInvoker:
    """The Lambda adapter, its connection pool sized to the fan-out (built once per size).

    It retries only transient failures (connection errors, 5xx), never a timeout (the first
    call may still be running) nor a throttle (which the verdict must show).
    """
    return _boto_invoker(max(10, concurrency))


@cache
def _boto_invoker(pool: int) -> FunctionInvoker:
    from infra.lambda_invoker import BotoFunctionInvoker

    return BotoFunctionInvoker(pool_size=pool)


def default_ledger(settings: Settings) -> HookLedger | None:
    """The DynamoDB ledger, or None when ``THERMOSTAT_TABLE`` is not set."""
    if not settings.table:
        return None
    return _dynamo_ledger(settings.table, settings.region)


@cache
def _dynamo_ledger(table: str, region: str) -> HookLedger:
    from infra.hook_ledger import DynamoHookLedger

    return DynamoHookLedger(table, region)


@cache
def _reporter() -> StatusReporter:
    from infra.codedeploy import CodeDeployReporter

    return CodeDeployReporter()


@cache
def _reader() -> DeploymentReader:
    from infra.codedeploy import CodeDeployAppSpecReader

    return CodeDeployAppSpecReader()


@cache
def _options() -> HookOptions:
    return load_hook_options()


@dataclass
class HookDependencies:
    """Everything the handler talks to; tests replace any of it."""

    reporter: Callable[[], StatusReporter] = _reporter
    reader: Callable[[], DeploymentReader] = _reader
    invoker: Callable[[int], FunctionInvoker] = default_invoker
    ledger: Callable[[Settings], HookLedger | None] = default_ledger
    settings: Callable[[], Settings] = get_settings
    options: Callable[[], HookOptions] = _options
    s3_client: Callable[[], Any] = lambda: None  # None: refs.py builds its default client
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    sleeper: Callable[[float], object] = time.sleep


@cache
def default_dependencies() -> HookDependencies:
    """The production wiring, built once per container."""
    return HookDependencies()


# --------------------------------------------------------------------------- the handler


def handle(event: Any, context: Any, deps: HookDependencies | None = None) -> dict[str, Any]:
    """Serve one lifecycle hook event; returns the verdict document (see the module docstring)."""
    deps = deps or default_dependencies()
    logger = get_logger()
    deadline = context_deadline(context, deps.clock)
    reserve_s = reserve_for(deadline.remaining_s())
    notes: list[str] = []

    def on_error(what: str, exc: BaseException) -> None:
        logger.error(what, exc_info=exc)

    ledger: HookLedger | None = None
    try:
        ledger = deps.ledger(deps.settings())
        if ledger is None:
            notes.append("THERMOSTAT_TABLE is not set: duplicate deliveries are not detected")
    except Exception as exc:  # noqa: BLE001 - prepare() meets the same error and reports it as Failed
        notes.append(f"no ledger: {exc}")

    def prepare(hook_event: HookEvent) -> HookConfig:
        settings = deps.settings()
        options = deps.options()
        target, lifecycle, warnings = resolve_target(
            hook_event.deployment_id,
            function=settings.hook_target,
            version=settings.hook_version,
            lifecycle=options.lifecycle,
            reader=deps.reader(),
            own_function=_own_function(context),
        )
        notes.extend(warnings)
        payload = None
        if lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
            if options.payload is not None or options.payload_s3 is not None:
                notes.append("AfterAllowTraffic runs the probe only: the configured payload is not sent")
        else:
            payload = options.payload_bytes(settings.payload_buckets, deps.s3_client())
        return HookConfig(
            target=target,
            lifecycle=lifecycle,
            concurrency=settings.hook_concurrency,
            jitter=settings.hook_jitter,
            payload=payload,
            expectations=options.expectations,
            hold_margin_ms=options.hold_margin_ms,
            invoke_timeout_s=options.timeout_s,
            correlation_id=hook_event.execution_id,
        )

    def warmup(config: HookConfig) -> Verdict:
        return run_warmup(
            config,
            deps.invoker(config.concurrency),
            rng=deps.rng,
            clock=deps.clock,
            sleeper=deps.sleeper,
            deadline=deadline,
            reserve_s=reserve_s,
        )

    execution = serve_hook_execution(
        event,
        prepare=prepare,
        warmup=warmup,
        reporter=deps.reporter(),
        ledger=ledger,
        deadline=deadline,
        on_error=on_error,
    )
    document = execution.as_dict()
    warnings = [*notes, *execution.warnings]
    if warnings:
        document["warnings"] = warnings
    _log_and_measure(execution, document)
    if execution.delivery is Delivery.REPORT_FAILED:
        # Raising makes Lambda retry this async event; the ledger lets the retry report at once.
        raise Unavailable(execution.error or "could not report the verdict to CodeDeploy")
    return document


def _log_and_measure(execution: HookExecution, document: dict[str, Any]) -> None:
    logger = get_logger()
    if execution.delivery is Delivery.UNREPORTABLE:
        logger.error(
            "hook event without DeploymentId/LifecycleEventHookExecutionId: nothing reported", extra={"hook": document}
        )
    elif execution.delivery is Delivery.DUPLICATE:
        logger.warning("duplicate hook delivery ignored", extra={"hook": document})
    elif execution.delivery is Delivery.REPORT_FAILED:
        logger.error("hook verdict could not be reported", extra={"hook": document})
    else:
        logger.info("hook verdict", extra={"hook": document})
    verdict = execution.verdict
    if verdict is None or execution.delivery is Delivery.DUPLICATE:
        return
    publish_verdict_metrics(verdict)


def publish_verdict_metrics(verdict: Verdict) -> None:
    """EMF: ``HookVerdict`` (dimension ``status``) and ``HookWarmEnvironments``."""
    from aws_lambda_powertools.metrics import single_metric

    metrics = get_metrics()
    with single_metric(name="HookVerdict", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="status", value=verdict.status.value)
        # Searchable fields (not dimensions): `thermostat report` shows verdicts per function with the reason.
        metric.add_metadata(key="function", value=verdict.function or "unknown")
        metric.add_metadata(key="version", value=verdict.version or "unknown")
        metric.add_metadata(key="reason", value=verdict.reason[:1000])
    metrics.add_metric(name="HookWarmEnvironments", unit=MetricUnit.Count, value=verdict.environments)


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """CodeDeploy lifecycle hook entry point (``BeforeAllowTraffic`` / ``AfterAllowTraffic``)."""
    return handle(event, context)
