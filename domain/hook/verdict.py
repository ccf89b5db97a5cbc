"""Judging: each invocation's answer becomes a report, and the reports one verdict.

An invocation passes when it raised no ``FunctionError``, answered in time from the version
under test, and passed the probe (or the user's expectations). The verdict is Succeeded only if
every invocation passed; its reason names each failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.expectations import check_all
from domain.hook.plan import HookConfig
from domain.hook.target import HookStatus, VersionUnderTest
from domain.invocation import InvocationResult, Outcome
from thermostat_runtime import parse_reply


class InvocationReport(BaseModel):
    """How one warm-up invocation went (``index`` counts from 1)."""

    model_config = ConfigDict(frozen=True)

    index: int
    delay_ms: float
    duration_ms: float | None = None
    environment_id: str | None = None
    start_kind: str | None = None
    ok: bool
    error: str | None = None


class Verdict(BaseModel):
    """The hook's decision, with the evidence."""

    model_config = ConfigDict(frozen=True)

    status: HookStatus
    reason: str
    function: str | None = None
    version: str | None = None
    invocations: tuple[InvocationReport, ...] = ()
    environments: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape returned by the handler and printed by the CLI."""
        return self.model_dump(mode="json")


def failed(reason: str, target: VersionUnderTest | None = None) -> Verdict:
    """A Failed verdict reached before (or instead of) any invocation."""
    return Verdict(
        status=HookStatus.FAILED,
        reason=reason,
        function=target.function if target else None,
        version=target.version if target else None,
    )


def _outcome_problem(result: InvocationResult, timeout_s: float | None) -> str:
    detail = result.error or ""
    if result.outcome is Outcome.FUNCTION_ERROR:
        payload = result.payload if isinstance(result.payload, dict) else {}
        message = payload.get("errorMessage") or detail or "the function raised"
        kind = payload.get("errorType")
        return f"FunctionError: {kind}: {message}" if kind else f"FunctionError: {message}"
    if result.outcome is Outcome.THROTTLED:
        return f"throttled (429 TooManyRequestsException){': ' + detail if detail else ''}"
    if result.outcome is Outcome.TIMEOUT:
        limit = f" within {timeout_s:.1f}s" if timeout_s is not None else ""
        return f"timed out: no answer{limit}{' (' + detail + ')' if detail else ''}"
    if result.outcome is Outcome.NOT_FOUND:
        return f"not found: {detail or 'unknown function or version'}"
    if result.outcome is Outcome.NOT_ATTEMPTED:
        return f"not attempted: {detail or 'skipped'}"
    return f"invoke failed: {detail or result.outcome.value}"


def _problem(config: HookConfig, result: InvocationResult, timeout_s: float | None) -> str | None:
    if result.outcome is not Outcome.OK:
        return _outcome_problem(result, timeout_s)
    executed = result.executed_version
    if executed is not None and executed != config.target.version:
        return f"answered from version {executed}, expected version {config.target.version}"
    if config.probing:
        reply = parse_reply(result.payload)
        if not reply.speaks_protocol:
            return (
                "did not answer the thermostat probe: wrap the target's handler with "
                "@warmable(probe=…) from thermostat_runtime"
            )
        if reply.error is not None:
            return f"the target refused the probe: {reply.error}"
        probe = reply.probe
        if probe is None:
            return "no probe result in the reply (is a probe registered with @warmable(probe=…)?)"
        if probe.get("ok") is not True:
            return f"probe failed: {probe.get('error') or 'ok is not true'}"
    problems = check_all(config.expectations, result.payload)
    if problems:
        return "; ".join(problems)
    return None


def judge(
    config: HookConfig,
    position: int,
    delay_s: float,
    result: InvocationResult,
    duration_ms: float,
    timeout_s: float | None = None,
) -> InvocationReport:
    """Turn one invocation's result into its report (``ok`` only if it passed every rule)."""
    reply = parse_reply(result.payload)
    problem = _problem(config, result, timeout_s)
    return InvocationReport(
        index=position + 1,
        delay_ms=round(delay_s * 1000.0, 3),
        duration_ms=round(duration_ms, 3),
        environment_id=reply.environment_id if reply.speaks_protocol else None,
        start_kind=reply.start_kind if reply.speaks_protocol else None,
        ok=problem is None,
        error=problem,
    )


def decide(config: HookConfig, reports: Sequence[InvocationReport]) -> Verdict:
    """Succeeded only if every invocation passed; otherwise the reason names each failure."""
    environments = len({report.environment_id for report in reports if report.environment_id})
    total = len(reports)
    bad = [report for report in reports if not report.ok]
    what = "probe" if config.probing else f"payload, {len(config.expectations)} expectation(s)"
    if not bad and total:
        status = HookStatus.SUCCEEDED
        reason = (
            f"{total}/{total} invocations of {config.target} passed ({what}); {environments} distinct environment(s)"
        )
    else:
        status = HookStatus.FAILED
        details = "; ".join(f"invocation {report.index}/{total}: {report.error}" for report in bad)
        reason = f"{len(bad)}/{total} invocations of {config.target} failed: {details or 'none was made'}"
    return Verdict(
        status=status,
        reason=reason,
        function=config.target.function,
        version=config.target.version,
        invocations=tuple(reports),
        environments=environments,
    )
