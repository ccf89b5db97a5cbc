"""The hook's one use case: one lifecycle hook event in, exactly one report out.

:func:`serve_hook_execution` reads top to bottom: find who to report to, claim the execution,
decide the verdict (the one an earlier delivery recorded, or a new warm-up of the version under
test), and deliver it. Every path that can report does: an invalid event, a configuration error,
a missing version, an exception from anywhere (reported as Failed, and returned as an incident
for the caller to log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from domain.deadline import Clock, Deadline
from domain.errors import InvalidInput, ThermostatError
from domain.hook.delivery import (
    Delivery,
    HookExecution,
    Incident,
    StatusReporter,
    claim_execution,
    deliver,
    recorded_status,
    taken_over_verdict,
)
from domain.hook.plan import HookSettings, PayloadReader, configured_payload, warmup_config
from domain.hook.target import DeploymentReader, LifecycleEvent, hook_ids, parse_hook_event, resolve_target
from domain.hook.verdict import Verdict, failed
from domain.hook.warmup import run_warmup
from domain.idempotency import Claim, ClaimState, IdempotencyStore
from domain.invocation import FunctionInvoker


@dataclass(frozen=True)
class HookDependencies:
    """Everything the hook talks to (the composition root builds them; tests pass fakes)."""

    reporter: StatusReporter
    reader: DeploymentReader
    #: The invoker for a fan-out of N (its connection pool sized to it); built only for a warm-up.
    invokers: Callable[[int], FunctionInvoker]
    payloads: PayloadReader
    ledger: IdempotencyStore | None
    rng: Random
    clock: Clock
    sleeper: Callable[[float], object]


def serve_hook_execution(
    event: Any,
    *,
    settings: HookSettings | ThermostatError,
    own_function: str | None,
    deps: HookDependencies,
    deadline: Deadline,
    reserve_s: float = 0.0,
) -> HookExecution:
    """Serve one lifecycle hook event: claim it, decide, and report the verdict exactly once.

    ``settings`` is the hook's configuration, or the error that reading it raised (reported as
    Failed once the event itself has been checked). ``reserve_s`` is the time kept back from the
    deadline for reporting: every call before the report (the claim, the AppSpec, the payload,
    the warm-up) ends before ``deadline`` minus ``reserve_s``, and the report ends before the deadline.
    """
    ids = hook_ids(event)
    if ids is None:
        return _unreportable(event)
    deployment_id, execution_id = ids
    claim, claim_warnings, claim_incidents = claim_execution(
        deps.ledger, deployment_id, execution_id, deadline, reserve_s=reserve_s
    )
    if claim.state in (ClaimState.HELD, ClaimState.COMPLETED):
        return HookExecution(
            deployment_id=deployment_id,
            execution_id=execution_id,
            verdict=None,
            delivery=Delivery.DUPLICATE,
            previous_status=recorded_status(claim.outcome),
            error=f"duplicate delivery of hook execution {execution_id}: already handled, nothing done",
        )
    try:
        verdict, notes, incidents = _decide(event, claim, settings, own_function, deps, deadline, reserve_s)
    except BaseException:
        deliver(failed("the hook was interrupted"), deployment_id, execution_id, **_delivery(deps, deadline))
        raise
    delivered = deliver(verdict, deployment_id, execution_id, **_delivery(deps, deadline))
    return delivered.model_copy(
        update={
            "warnings": (*notes, *claim_warnings, *delivered.warnings),
            "incidents": (*claim_incidents, *incidents, *delivered.incidents),
        }
    )


def _unreportable(event: Any) -> HookExecution:
    reason = "malformed hook event"
    try:
        parse_hook_event(event)
    except InvalidInput as exc:
        reason = str(exc)
    return HookExecution(
        deployment_id=None,
        execution_id=None,
        verdict=failed(f"{reason}; cannot report to CodeDeploy without both ids"),
        delivery=Delivery.UNREPORTABLE,
    )


def _delivery(deps: HookDependencies, deadline: Deadline) -> dict[str, Any]:
    return {"reporter": deps.reporter, "ledger": deps.ledger, "deadline": deadline}


def _decide(
    event: Any,
    claim: Claim,
    settings: HookSettings | ThermostatError,
    own_function: str | None,
    deps: HookDependencies,
    deadline: Deadline,
    reserve_s: float,
) -> tuple[Verdict, tuple[str, ...], tuple[Incident, ...]]:
    """The verdict, with the warnings found on the way (kept even when a later step fails)."""
    if claim.state is ClaimState.TAKEOVER:
        return taken_over_verdict(claim), (), ()
    notes: list[str] = []
    before_report = deadline.earlier_by(reserve_s)
    try:
        hook_event = parse_hook_event(event)
        if isinstance(settings, ThermostatError):
            raise settings
        configured = LifecycleEvent(settings.hook_lifecycle) if settings.hook_lifecycle else None
        target, lifecycle, warnings = resolve_target(
            hook_event.deployment_id,
            function=settings.hook_target,
            version=settings.hook_version,
            lifecycle=configured,
            reader=deps.reader,
            own_function=own_function,
            deadline=before_report,
        )
        notes.extend(warnings)
        payload, note = configured_payload(settings, lifecycle, deps.payloads, deadline=before_report)
        notes.extend([note] if note else [])
        config = warmup_config(settings, target, lifecycle, payload, hook_event.execution_id)
        verdict = run_warmup(
            config,
            deps.invokers(config.concurrency),
            rng=deps.rng,
            clock=deps.clock,
            sleeper=deps.sleeper,
            deadline=deadline,
            reserve_s=reserve_s,
        )
    except ThermostatError as exc:
        return failed(str(exc)), tuple(notes), ()
    except Exception as exc:  # noqa: BLE001 - its own bugs become a Failed report, never a stalled deployment
        verdict = failed(f"the hook failed unexpectedly ({type(exc).__name__}: {exc}); reported Failed to be safe")
        return verdict, tuple(notes), (Incident("hook failed unexpectedly", exc),)
    return verdict, tuple(notes), ()
