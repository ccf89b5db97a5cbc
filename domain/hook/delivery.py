"""Delivery: the verdict goes to CodeDeploy exactly once, however often the event is delivered.

The idempotency store (:mod:`domain.idempotency`) holds one key per
``LifecycleEventHookExecutionId``: the first delivery claims it for its own deadline, records
the verdict before reporting it (a takeover reports that same verdict), and completes the key
once CodeDeploy has it; a report that could not be delivered releases the key, so that Lambda's
retry reports at once. Trouble with the store never blocks the report: CodeDeploy itself refuses
a second one.

Every call here is bounded by the deadline: the report gets all the time left but
:data:`FINISH_S`, the ledger's calls at most :data:`LEDGER_CALL_S` each, and the write before the
report at most :data:`LEDGER_SHARE` of the time left, so that the report keeps the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict

from domain.deadline import Deadline
from domain.errors import ThermostatError, Unavailable
from domain.hook.target import HookStatus
from domain.hook.verdict import Verdict, failed
from domain.idempotency import Claim, ClaimState, IdempotencyStore

#: When there is no deadline, how long a claim on a hook execution lasts (Lambda's maximum timeout).
DEFAULT_LEASE_S: Final = 900.0
#: A recorded reason is cut to this length: the record must stay far below DynamoDB's item limit.
MAX_REASON_CHARS: Final = 4_000
#: Kept back after the last network call, for the handler's own logs, metrics and return.
FINISH_S: Final = 0.1
#: The most one ledger call (claim, record, complete, release) may take: idempotency is best effort.
LEDGER_CALL_S: Final = 1.0
#: The share of the time left that a ledger call made before something more important may take.
LEDGER_SHARE: Final = 0.2


def ledger_timeout(deadline: Deadline, *, share: float = 1.0) -> float | None:
    """How long one ledger call may take before ``deadline``: None when unbounded, 0 when no time is left."""
    left = deadline.timeout_s()
    return None if left is None else min(LEDGER_CALL_S, left * share)


class ReportOutcome(StrEnum):
    """How the status report ended."""

    REPORTED = "reported"
    ALREADY_COMPLETED = "already_completed"  # CodeDeploy had it already: done


class StatusReporter(Protocol):
    """Port: ``PutLifecycleEventHookExecutionStatus``, retried on throttling within the deadline."""

    def report(self, deployment_id: str, execution_id: str, status: HookStatus, deadline: Deadline) -> ReportOutcome:
        """Report once, every attempt ending before ``deadline``; raise a ThermostatError when it could not."""
        ...


class Delivery(StrEnum):
    """What happened to the verdict of one hook event."""

    REPORTED = "reported"
    ALREADY_COMPLETED = "already_completed"
    DUPLICATE = "duplicate"  # nothing done: another delivery owns this execution
    UNREPORTABLE = "unreportable"  # the event names no deployment/execution: nobody to tell
    REPORT_FAILED = "report_failed"  # the report could not be delivered (the handler raises for a retry)


class Incident(NamedTuple):
    """An error the hook survived, for the caller to log with its traceback."""

    what: str
    error: BaseException


class HookExecution(BaseModel):
    """The outcome of serving one hook event."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    deployment_id: str | None
    execution_id: str | None
    verdict: Verdict | None
    delivery: Delivery
    error: str | None = None
    warnings: tuple[str, ...] = ()
    #: For a duplicate: the verdict the owning delivery recorded, if it has one yet.
    previous_status: HookStatus | None = None
    incidents: tuple[Incident, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The handler's return value: the verdict's fields plus where it went."""
        document: dict[str, Any] = (
            self.verdict.as_dict()
            if self.verdict is not None
            else {
                "status": self.previous_status.value if self.previous_status else "InProgress",
                "reason": self.error or "",
                "version": None,
                "invocations": [],
                "environments": 0,
            }
        )
        document.update(
            deployment_id=self.deployment_id,
            execution_id=self.execution_id,
            delivery=self.delivery.value,
        )
        if self.error is not None and self.verdict is not None:
            document["delivery_error"] = self.error
        return document


def verdict_outcome(verdict: Verdict) -> dict[str, Any]:
    """What the store keeps of a verdict before it is reported."""
    return {"status": verdict.status.value, "reason": verdict.reason[:MAX_REASON_CHARS]}


def recorded_status(outcome: Mapping[str, Any] | None) -> HookStatus | None:
    """The status an earlier delivery recorded (None when it recorded none)."""
    status = (outcome or {}).get("status")
    return HookStatus(status) if status in tuple(HookStatus) else None


def claim_execution(
    ledger: IdempotencyStore | None,
    deployment_id: str,
    execution_id: str,
    deadline: Deadline,
    *,
    reserve_s: float = 0.0,
) -> tuple[Claim, tuple[str, ...], tuple[Incident, ...]]:
    """Claim the execution until the deadline; an unusable store means carrying on without one.

    The claim itself is one call of at most a fifth of the time before ``deadline`` minus ``reserve_s``.
    """
    if ledger is None:
        return Claim(state=ClaimState.CLAIMED), (), ()
    lease = deadline.remaining_s()
    timeout_s = ledger_timeout(deadline.earlier_by(reserve_s), share=LEDGER_SHARE)
    try:
        claim = ledger.claim(
            execution_id, DEFAULT_LEASE_S if math.isinf(lease) else lease, subject=deployment_id, timeout_s=timeout_s
        )
    except Exception as exc:  # noqa: BLE001 - idempotency is best effort; the report is not
        warning = f"ledger unavailable, continuing without idempotency: {exc}"
        return Claim(state=ClaimState.CLAIMED), (warning,), (Incident("hook ledger claim failed", exc),)
    return claim, (), ()


def taken_over_verdict(claim: Claim) -> Verdict:
    """What a takeover reports: the verdict the earlier delivery recorded, or Failed."""
    status = recorded_status(claim.outcome)
    if status is not None:
        reason = (claim.outcome or {}).get("reason") or "verdict recorded by an earlier delivery"
        return Verdict(status=status, reason=str(reason))
    return failed("an earlier delivery of this hook execution ended without a verdict (crashed or killed)")


def _attempt(what: str, action: Callable[[], object]) -> Incident | None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the report matters more than the record
        return Incident(what, exc)
    return None


def deliver(
    verdict: Verdict,
    deployment_id: str,
    execution_id: str,
    *,
    reporter: StatusReporter,
    ledger: IdempotencyStore | None,
    deadline: Deadline,
) -> HookExecution:
    """Record the verdict, report it, then complete the execution (or release it when the report failed).

    Everything ends :data:`FINISH_S` before ``deadline``: the record takes at most a fifth of the
    time left, the report the rest; completing (or releasing) takes what the report left.
    """
    incidents: list[Incident | None] = []
    last_call = deadline.earlier_by(FINISH_S)
    if ledger is not None:
        outcome = verdict_outcome(verdict)
        record_s = ledger_timeout(last_call, share=LEDGER_SHARE)
        incidents.append(
            _attempt(
                "could not record the verdict in the ledger",
                lambda: ledger.record(execution_id, outcome, timeout_s=record_s),
            )
        )
    try:
        reported = reporter.report(deployment_id, execution_id, verdict.status, last_call)
    except Exception as exc:  # noqa: BLE001 - turned into REPORT_FAILED; the handler raises for a retry
        if ledger is not None:
            incidents.append(
                _attempt(
                    "could not release the ledger claim",
                    lambda: ledger.release(execution_id, timeout_s=ledger_timeout(last_call)),
                )
            )
        error = exc if isinstance(exc, ThermostatError) else Unavailable(str(exc))
        return _execution(
            deployment_id,
            execution_id,
            verdict,
            Delivery.REPORT_FAILED,
            incidents,
            error=f"could not report {verdict.status.value} to CodeDeploy: {error}",
        )
    if ledger is not None:
        incidents.append(
            _attempt(
                "could not mark the execution reported in the ledger",
                lambda: ledger.complete(execution_id, timeout_s=ledger_timeout(last_call)),
            )
        )
    delivery = Delivery.REPORTED if reported is ReportOutcome.REPORTED else Delivery.ALREADY_COMPLETED
    return _execution(deployment_id, execution_id, verdict, delivery, incidents)


def _execution(
    deployment_id: str,
    execution_id: str,
    verdict: Verdict,
    delivery: Delivery,
    incidents: list[Incident | None],
    error: str | None = None,
) -> HookExecution:
    happened = tuple(incident for incident in incidents if incident is not None)
    return HookExecution(
        deployment_id=deployment_id,
        execution_id=execution_id,
        verdict=verdict,
        delivery=delivery,
        error=error,
        warnings=tuple(f"{incident.what}: {incident.error}" for incident in happened),
        incidents=happened,
    )
