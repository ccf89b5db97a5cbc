"""The CodeDeploy lifecycle hook: ``handlers.pre_traffic.lambda_handler``.

Event: ``{"DeploymentId": "d-…", "LifecycleEventHookExecutionId": "…"}`` (CodeDeploy, async).
It warms the new version, judges it, and reports ``Succeeded``/``Failed`` exactly once — see
:mod:`domain.hook` for the rules. This module only takes its settings and adapters from
:mod:`handlers.wiring`, calls :func:`domain.hook.serve_hook_execution`, and logs and measures
the outcome.

The same handler serves ``AfterAllowTraffic`` (the probe only, no jitter): the lifecycle event
is ``THERMOSTAT_HOOK_LIFECYCLE`` when set, otherwise found by looking this function's name up in
the deployment's AppSpec ``Hooks``.

Environment (all of it in ``infra.settings``): ``THERMOSTAT_HOOK_TARGET``, ``THERMOSTAT_HOOK_VERSION``,
``THERMOSTAT_HOOK_CONCURRENCY``, ``THERMOSTAT_HOOK_JITTER``, ``THERMOSTAT_PAYLOAD_BUCKETS``,
``THERMOSTAT_TABLE``, and:

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

import time
from typing import Any

from domain.deadline import Deadline
from domain.errors import ThermostatError, Unavailable
from domain.hook import (
    Delivery,
    HookDependencies,
    HookExecution,
    Verdict,
    reserve_for,
    serve_hook_execution,
)
from domain.idempotency import IdempotencyStore
from handlers import wiring
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics
from infra.settings import Settings, load_settings


def _own_function(context: Any, settings: Settings | ThermostatError) -> str | None:
    from_context = getattr(context, "function_name", None)
    return from_context or (settings.function_name if not isinstance(settings, ThermostatError) else None)


def _settings() -> Settings | ThermostatError:
    # A malformed variable is reported to CodeDeploy as Failed (naming it), not left to time out.
    try:
        return wiring.settings()
    except ThermostatError as exc:
        return exc


def _ledger() -> tuple[IdempotencyStore | None, tuple[str, ...]]:
    try:
        ledger = wiring.hook_ledger()
    except Exception as exc:  # noqa: BLE001 - the use case meets the same error and reports it as Failed
        return None, (f"no ledger: {exc}",)
    return ledger, ledger_notes(ledger)


def ledger_notes(ledger: IdempotencyStore | None) -> tuple[str, ...]:
    """What the answer says about idempotency when there is no store."""
    return () if ledger is not None else ("THERMOSTAT_TABLE is not set: duplicate deliveries are not detected",)


def dependencies() -> tuple[HookDependencies, tuple[str, ...]]:
    """The production adapters (built once per container by :mod:`handlers.wiring`), and notes about them."""
    ledger, notes = _ledger()
    deps = HookDependencies(
        reporter=wiring.codedeploy_reporter(),
        reader=wiring.appspec_reader(),
        invokers=wiring.hook_invoker,
        payloads=wiring.payload_reader(),
        ledger=ledger,
        rng=wiring.hook_rng(),
        clock=time.monotonic,
        sleeper=time.sleep,
    )
    return deps, notes


# --------------------------------------------------------------------------- the handler


def handle(event: Any, context: Any, deps: HookDependencies | None = None) -> dict[str, Any]:
    """Serve one lifecycle hook event; returns the verdict document (see the module docstring)."""
    deps, notes = dependencies() if deps is None else (deps, ledger_notes(deps.ledger))
    deadline = Deadline.from_context(context, deps.clock)
    settings = _settings()
    execution = serve_hook_execution(
        event,
        settings=settings,
        own_function=_own_function(context, settings),
        deps=deps,
        deadline=deadline,
        reserve_s=reserve_for(deadline.remaining_s()),
    )
    logger = get_logger()
    for incident in execution.incidents:
        logger.error(incident.what, exc_info=incident.error)
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


def verdict_metric_documents(verdict: Verdict) -> list[dict[str, Any]]:
    """The EMF documents of :func:`publish_verdict_metrics`, as values (what ``thermostat hook run`` records)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    settings = load_settings(only=("service_name", "metrics_namespace"))
    first = EphemeralMetrics(namespace=settings.metrics_namespace)
    first.add_dimension(name="status", value=verdict.status.value)
    first.add_metadata(key="function", value=verdict.function or "unknown")
    first.add_metadata(key="version", value=verdict.version or "unknown")
    first.add_metadata(key="reason", value=verdict.reason[:1000])
    first.add_metric(name="HookVerdict", unit=MetricUnit.Count, value=1)
    second = EphemeralMetrics(namespace=settings.metrics_namespace, service=settings.service_name)
    second.add_metric(name="HookWarmEnvironments", unit=MetricUnit.Count, value=verdict.environments)
    return [dict(first.serialize_metric_set()), dict(second.serialize_metric_set())]


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """CodeDeploy lifecycle hook entry point (``BeforeAllowTraffic`` / ``AfterAllowTraffic``)."""
    return handle(event, context)
