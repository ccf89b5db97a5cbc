"""The pre-traffic hook: warm-up plan, verdict rules, deadline, and the exactly-once report.

CodeDeploy invokes the hook asynchronously with ``{DeploymentId, LifecycleEventHookExecutionId}``
and then waits up to an hour for ``PutLifecycleEventHookExecutionStatus``. The rules here make
sure it never waits in vain:

* :func:`run_warmup` sends N invocations of the version under test, each after its own uniform
  random delay (so that they land on distinct environments without a thundering herd), and judges
  every answer: no ``FunctionError``, within its timeout, the probe (or the user's expectations)
  passed. It gives up on stragglers before the Lambda's own deadline.
* :func:`serve_hook_execution` turns one hook event into exactly one report, whatever happens in
  between (a malformed event, a missing version, an exception, a bug), and refuses a duplicate
  delivery through the ledger (no second warm-up, no second report).

Randomness, the clock, sleeping, invoking, reporting and the ledger are all passed in.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from random import Random
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import InvalidInput, ThermostatError, Unavailable
from domain.expectations import Expectation, check_all
from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult, Outcome
from thermostat_runtime import build_request, names, parse_reply

DEFAULT_CONCURRENCY: Final = 5
DEFAULT_JITTER: Final = (0.25, 0.4)
#: Extra hold after the last planned start, so that all N invocations overlap. Small on purpose:
#: it is the only time the hook spends beyond max delay + latency, and on a new version every
#: probe is a cold start whose init already extends the overlap; it only covers network skew.
DEFAULT_HOLD_MARGIN_MS: Final = 25
#: Below this much time an invocation is not worth starting.
MIN_INVOKE_S: Final = 0.05
#: How often the waiting thread re-reads the deadline while invocations run.
POLL_S: Final = 0.25
#: When there is no deadline, how long a claim on a hook execution lasts (Lambda's maximum timeout).
DEFAULT_LEASE_S: Final = 900.0

_DEPLOYMENT_ID = re.compile(r"d-[A-Z0-9]{9}")
_MAX_ID_LENGTH = 1024


class LifecycleEvent(StrEnum):
    """The CodeDeploy lifecycle event a hook execution belongs to."""

    BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
    AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"


class HookStatus(StrEnum):
    """The two verdicts the hook reports."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


# --------------------------------------------------------------------------- the event


class HookEvent(BaseModel):
    """A CodeDeploy lifecycle hook event, validated."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    execution_id: str


def hook_ids(event: Any) -> tuple[str, str] | None:
    """The (DeploymentId, LifecycleEventHookExecutionId) pair if both are usable strings.

    Without both there is nobody to report to; with both, any other problem with the event is
    reported as Failed rather than left for CodeDeploy to time out.
    """
    if not isinstance(event, dict):
        return None
    deployment_id = event.get("DeploymentId")
    execution_id = event.get("LifecycleEventHookExecutionId")
    if not isinstance(deployment_id, str) or not isinstance(execution_id, str):
        return None
    deployment_id, execution_id = deployment_id.strip(), execution_id.strip()
    if not deployment_id or not execution_id:
        return None
    if len(deployment_id) > _MAX_ID_LENGTH or len(execution_id) > _MAX_ID_LENGTH:
        return None
    return deployment_id, execution_id


def parse_hook_event(event: Any) -> HookEvent:
    """Validate a lifecycle hook event; InvalidInput names what is wrong."""
    ids = hook_ids(event)
    if ids is None:
        shown = sorted(map(str, event))[:10] if isinstance(event, dict) else type(event).__name__
        raise InvalidInput(
            "malformed hook event: expected {DeploymentId, LifecycleEventHookExecutionId} as non-empty "
            f"strings, got {shown}"
        )
    deployment_id, execution_id = ids
    if not _DEPLOYMENT_ID.fullmatch(deployment_id):
        raise InvalidInput(
            f"malformed hook event: DeploymentId {deployment_id!r} is not a CodeDeploy deployment id (d-XXXXXXXXX)"
        )
    return HookEvent(deployment_id=deployment_id, execution_id=execution_id)


# --------------------------------------------------------------------------- the target and the plan


class Target(BaseModel):
    """The function version under test; always invoked by version, never ``$LATEST`` or an alias."""

    model_config = ConfigDict(frozen=True)

    function: str = Field(min_length=1)
    version: str = Field(pattern=rf"^(?:{names.PUBLISHED_VERSION.pattern})$")

    def __str__(self) -> str:
        return f"{self.function}:{self.version}"


def make_target(function: str | None, version: str | int | None) -> Target:
    """Validate a function (name or ARN) and a published version number.

    An ARN may carry the version as its qualifier; an alias or ``$LATEST`` is refused, because
    the hook must test exactly the version CodeDeploy is about to shift traffic to.
    """
    if function is None or not str(function).strip():
        raise InvalidInput("missing target function: name the function under test (THERMOSTAT_HOOK_TARGET)")
    text = str(function).strip()
    ref = names.parse_function_ref(text)
    if ref is None:
        raise InvalidInput(f"{text!r} is not a Lambda function name or ARN")
    qualifier = ref.qualifier
    unqualified = ref.unqualified
    given = None if version is None else str(version).strip()
    if not given:
        given = qualifier
    if not given:
        raise InvalidInput(
            f"missing version for {unqualified}: the hook invokes a published version "
            "(THERMOSTAT_HOOK_VERSION, e.g. SAM's !Ref Fn.Version, or the AppSpec's TargetVersion)"
        )
    if qualifier is not None and qualifier != given:
        raise InvalidInput(f"{text!r} is qualified with {qualifier!r} but the version to test is {given!r}")
    if not names.is_published_version(given):
        raise InvalidInput(
            f"version {given!r} of {unqualified} is not a published version number: the hook never invokes "
            "$LATEST or an alias; pass the number PublishVersion returned (SAM: !Ref Fn.Version)"
        )
    return Target(function=unqualified, version=given)


def function_name(reference: str) -> str:
    """The bare function name in a name, partial ARN or ARN (qualifier dropped)."""
    ref = names.parse_function_ref(reference.strip())
    return ref.name if ref is not None else reference.strip()


class AppSpecTarget(BaseModel):
    """What a Lambda deployment's AppSpec names: the function, alias, versions and hooks."""

    model_config = ConfigDict(frozen=True)

    function: str
    alias: str | None = None
    current_version: str | None = None
    target_version: str | None = None
    #: lifecycle event name -> hook function name, e.g. {"BeforeAllowTraffic": "my-hook"}
    hooks: dict[str, str] = Field(default_factory=dict)

    def lifecycle_of(self, hook_function: str | None) -> LifecycleEvent | None:
        """The lifecycle event whose hook is ``hook_function`` (None when it is not listed)."""
        if not hook_function:
            return None
        wanted = function_name(hook_function)
        for event in LifecycleEvent:
            listed = self.hooks.get(event.value)
            if listed is not None and function_name(listed) == wanted:
                return event
        return None


class DeploymentReader(Protocol):
    """Port: read the AppSpec of a CodeDeploy deployment."""

    def read_target(self, deployment_id: str) -> AppSpecTarget:
        """The deployment's Lambda target; InvalidInput/NotFound/Unavailable when it cannot."""
        ...


def resolve_target(
    deployment_id: str,
    *,
    function: str | None,
    version: str | None,
    lifecycle: LifecycleEvent | None,
    reader: DeploymentReader,
    own_function: str | None,
) -> tuple[Target, LifecycleEvent, tuple[str, ...]]:
    """Decide what to test and for which lifecycle event; returns (target, lifecycle, warnings).

    The configured function and version win (SAM's ``!Ref Fn.Version`` pattern); what is missing
    comes from the deployment's AppSpec: the function, the ``TargetVersion`` (only when the
    AppSpec names the same function), and — unless configured — the lifecycle event, found by
    looking up this hook function's own name in the AppSpec's ``Hooks``.
    """
    warnings: list[str] = []
    spec: AppSpecTarget | None = None
    if function is None or version is None:
        spec = reader.read_target(deployment_id)
    elif lifecycle is None:
        try:
            spec = reader.read_target(deployment_id)
        except ThermostatError as exc:
            # The target is fully configured: not knowing the lifecycle event is no reason to fail.
            warnings.append(f"could not read the AppSpec for the lifecycle event, assuming BeforeAllowTraffic: {exc}")
    chosen_function = function if function is not None else (spec.function if spec else None)
    chosen_version = version
    if chosen_version is None and spec is not None and chosen_function is not None:
        if function_name(spec.function) == function_name(chosen_function):
            chosen_version = spec.target_version
        else:
            warnings.append(
                f"the AppSpec deploys {spec.function}, not {chosen_function}: its TargetVersion does not apply"
            )
    target = make_target(chosen_function, chosen_version)
    detected = spec.lifecycle_of(own_function) if spec is not None and lifecycle is None else None
    if lifecycle is None and detected is None and spec is not None:
        warnings.append(
            f"this function ({own_function}) is not among the AppSpec hooks {spec.hooks}; assuming BeforeAllowTraffic"
        )
    return target, lifecycle or detected or LifecycleEvent.BEFORE_ALLOW_TRAFFIC, tuple(warnings)


def parse_jitter(text: str) -> tuple[float, float]:
    """Parse ``MIN,MAX`` seconds (same rules as ``THERMOSTAT_HOOK_JITTER``)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidInput(f"jitter {text!r}: expected two numbers in seconds, 'MIN,MAX', e.g. '0.25,0.4'") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low or high > 60:
        raise InvalidInput(f"jitter {text!r}: need 0 <= MIN <= MAX <= 60 seconds")
    return low, high


class HookConfig(BaseModel):
    """Everything one warm-up needs. ``payload=None`` means the protocol's ``probe`` action."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    target: Target
    lifecycle: LifecycleEvent = LifecycleEvent.BEFORE_ALLOW_TRAFFIC
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=100)
    jitter: tuple[float, float] = DEFAULT_JITTER
    payload: bytes | None = None
    expectations: tuple[Expectation, ...] = ()
    hold_margin_ms: int = Field(default=DEFAULT_HOLD_MARGIN_MS, ge=0, le=10_000)
    invoke_timeout_s: float | None = Field(default=None, gt=0)
    correlation_id: str | None = None

    @property
    def probing(self) -> bool:
        """True when each invocation is the protocol's ``probe`` (the default)."""
        return self.payload is None or self.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC

    @property
    def effective_jitter(self) -> tuple[float, float]:
        """After traffic moved there is nothing to spread out: no jitter then."""
        if self.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
            return (0.0, 0.0)
        return self.jitter


def plan_delays(config: HookConfig, rng: Random) -> tuple[float, ...]:
    """Each invocation's start delay, drawn uniformly from the jitter range."""
    low, high = config.effective_jitter
    return tuple(rng.uniform(low, high) for _ in range(config.concurrency))


def hold_ms_for(config: HookConfig, delays: Sequence[float], position: int) -> int:
    """How long invocation ``position`` (0-based) should hold its environment.

    Each one holds until the last has started, plus a margin: they all overlap, so each lands on
    an environment of its own, and they all finish together (wall time ≈ max delay + latency).
    """
    if config.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
        return 0
    # round() first: 0.4 - 0.25 is 0.15000000000000002, which must not become 151 ms.
    return math.ceil(round((max(delays) - delays[position]) * 1000.0, 6)) + config.hold_margin_ms


def request_payload(config: HookConfig, delays: Sequence[float], position: int) -> bytes:
    """The bytes sent by invocation ``position`` (0-based): the probe request or the user payload."""
    if not config.probing:
        assert config.payload is not None
        return config.payload
    request = build_request(
        "probe",
        correlation_id=config.correlation_id,
        index=position + 1,
        of=config.concurrency,
        hold_ms=hold_ms_for(config, delays, position),
    )
    return json.dumps(request, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- judging


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


def failed(reason: str, target: Target | None = None) -> Verdict:
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


# --------------------------------------------------------------------------- the deadline


class Deadline(Protocol):
    """How much time is left before the runtime stops this invocation."""

    def remaining_s(self) -> float:
        """Seconds left (``math.inf`` when unbounded)."""
        ...


class NoDeadline:
    """An unbounded deadline (the CLI)."""

    def remaining_s(self) -> float:
        """Always infinite."""
        return math.inf


class ClockDeadline:
    """A deadline at ``expires_at`` on ``clock`` (seconds)."""

    def __init__(self, clock: Callable[[], float], expires_at: float) -> None:
        self._clock = clock
        self._expires_at = expires_at

    @classmethod
    def after(cls, clock: Callable[[], float], seconds: float) -> ClockDeadline:
        """A deadline ``seconds`` from now."""
        return cls(clock, clock() + seconds)

    def remaining_s(self) -> float:
        """Seconds until ``expires_at``."""
        return self._expires_at - self._clock()


def reserve_for(remaining_s: float) -> float:
    """Time kept back for reporting: a quarter of what is left, between 0.5 s and 5 s."""
    if math.isinf(remaining_s):
        return 0.0
    return min(5.0, max(0.5, remaining_s * 0.25))


# --------------------------------------------------------------------------- the warm-up


def _invoke_one(
    config: HookConfig,
    invoker: FunctionInvoker,
    delays: Sequence[float],
    position: int,
    *,
    clock: Callable[[], float],
    sleeper: Callable[[float], object],
    deadline: Deadline,
    reserve_s: float,
) -> InvocationReport:
    delay = delays[position]
    sleeper(delay)
    left = deadline.remaining_s() - reserve_s
    if left <= MIN_INVOKE_S:
        result = InvocationResult(outcome=Outcome.NOT_ATTEMPTED, error="too little time left before the deadline")
        return judge(config, position, delay, result, 0.0)
    timeout = left if config.invoke_timeout_s is None else min(config.invoke_timeout_s, left)
    request = InvocationRequest(
        function=config.target.function,
        qualifier=config.target.version,
        payload=request_payload(config, delays, position),
        read_timeout_s=None if math.isinf(timeout) else timeout,
    )
    began = clock()
    try:
        result = invoker.invoke(request)
    except Exception as exc:  # noqa: BLE001 - the port promises not to raise; a verdict beats a crash
        result = InvocationResult(outcome=Outcome.FAILED, error=f"invoke raised {type(exc).__name__}: {exc}")
    return judge(config, position, delay, result, (clock() - began) * 1000.0, timeout)


def run_warmup(
    config: HookConfig,
    invoker: FunctionInvoker,
    *,
    rng: Random,
    clock: Callable[[], float],
    sleeper: Callable[[float], object],
    deadline: Deadline | None = None,
    reserve_s: float = 0.0,
) -> Verdict:
    """Invoke the target ``config.concurrency`` times in parallel, each after its own jitter.

    Returns before ``deadline`` minus ``reserve_s`` even if some invocations are still running:
    those count as failed ("still running"), so there is always time left to report.
    """
    deadline = deadline or NoDeadline()
    delays = plan_delays(config, rng)
    needed = max(delays) + MIN_INVOKE_S
    left = deadline.remaining_s() - reserve_s
    if left <= needed:
        reason = (
            f"deadline: only {max(left, 0.0):.2f}s left after keeping {reserve_s:.2f}s to report, the warm-up "
            f"needs more than {needed:.2f}s; raise the hook function's timeout"
        )
        return Verdict(
            status=HookStatus.FAILED,
            reason=reason,
            function=config.target.function,
            version=config.target.version,
        )
    slots: list[InvocationReport | None] = [None] * config.concurrency
    finished = threading.Condition()

    def work(position: int) -> None:
        report: InvocationReport | None = None
        try:
            report = _invoke_one(
                config,
                invoker,
                delays,
                position,
                clock=clock,
                sleeper=sleeper,
                deadline=deadline,
                reserve_s=reserve_s,
            )
        except Exception as exc:  # noqa: BLE001 - a bug in one worker must still yield a verdict
            report = InvocationReport(
                index=position + 1,
                delay_ms=round(delays[position] * 1000.0, 3),
                ok=False,
                error=f"hook error: {type(exc).__name__}: {exc}",
            )
        finally:
            with finished:
                slots[position] = report
                finished.notify_all()

    # Daemon threads: a straggler that outlives the deadline must not keep a CLI process alive.
    for position in range(config.concurrency):
        threading.Thread(target=work, args=(position,), name=f"hook-invoke-{position + 1}", daemon=True).start()
    with finished:
        while any(slot is None for slot in slots):
            left = deadline.remaining_s() - reserve_s
            if left <= 0:
                break
            finished.wait(timeout=min(left, POLL_S))
        snapshot = list(slots)
    reports = [
        slot
        if slot is not None
        else InvocationReport(
            index=position + 1,
            delay_ms=round(delays[position] * 1000.0, 3),
            ok=False,
            error="still running at the deadline: stopped waiting so that the verdict is reported in time",
        )
        for position, slot in enumerate(snapshot)
    ]
    return decide(config, reports)


# --------------------------------------------------------------------------- exactly-once reporting


class ClaimState(StrEnum):
    """What the ledger said about a hook execution."""

    CLAIMED = "claimed"  # first delivery: warm up and report
    DUPLICATE = "duplicate"  # another delivery handles (or handled) it: do nothing
    TAKEOVER = "takeover"  # an earlier delivery died without reporting: report for it


class Claim(BaseModel):
    """The ledger's answer; for a takeover, the verdict the earlier delivery recorded (if any)."""

    model_config = ConfigDict(frozen=True)

    state: ClaimState
    status: HookStatus | None = None
    reason: str | None = None


class HookLedger(Protocol):
    """Port: idempotency per ``LifecycleEventHookExecutionId``."""

    def claim(self, execution_id: str, deployment_id: str, lease_s: float) -> Claim:
        """Claim the execution for ``lease_s`` seconds (conditional write)."""
        ...

    def record_verdict(self, execution_id: str, status: HookStatus, reason: str) -> None:
        """Remember the verdict before reporting it (a takeover reports the same one)."""
        ...

    def release(self, execution_id: str) -> None:
        """Reporting failed: let the next delivery take over at once."""
        ...

    def mark_reported(self, execution_id: str) -> None:
        """CodeDeploy has the verdict: every later delivery is a duplicate."""
        ...


class ReportOutcome(StrEnum):
    """How the status report ended."""

    REPORTED = "reported"
    ALREADY_COMPLETED = "already_completed"  # CodeDeploy had it already: done


class StatusReporter(Protocol):
    """Port: ``PutLifecycleEventHookExecutionStatus``, retried on throttling within the deadline."""

    def report(self, deployment_id: str, execution_id: str, status: HookStatus, deadline: Deadline) -> ReportOutcome:
        """Report once; raise a ThermostatError when it could not be delivered."""
        ...


class Delivery(StrEnum):
    """What happened to the verdict of one hook event."""

    REPORTED = "reported"
    ALREADY_COMPLETED = "already_completed"
    DUPLICATE = "duplicate"  # nothing done: another delivery owns this execution
    UNREPORTABLE = "unreportable"  # the event names no deployment/execution: nobody to tell
    REPORT_FAILED = "report_failed"  # the report could not be delivered (the handler raises for a retry)


class HookExecution(BaseModel):
    """The outcome of serving one hook event."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str | None
    execution_id: str | None
    verdict: Verdict | None
    delivery: Delivery
    error: str | None = None
    warnings: tuple[str, ...] = ()
    #: For a duplicate: the verdict the owning delivery recorded, if it has one yet.
    previous_status: HookStatus | None = None

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


def serve_hook_execution(
    event: Any,
    *,
    prepare: Callable[[HookEvent], HookConfig],
    warmup: Callable[[HookConfig], Verdict],
    reporter: StatusReporter,
    ledger: HookLedger | None,
    deadline: Deadline,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> HookExecution:
    """Serve one lifecycle hook event: claim it, decide, and report the verdict exactly once.

    Every path that can report does: an invalid event, a configuration error, a missing version,
    an exception from anywhere (reported as Failed, logged through ``on_error``). Ledger trouble
    does not block the report: CodeDeploy itself refuses a second one.
    """
    ids = hook_ids(event)
    if ids is None:
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
    deployment_id, execution_id = ids
    warnings: list[str] = []
    claim = Claim(state=ClaimState.CLAIMED)
    if ledger is not None:
        lease = deadline.remaining_s()
        try:
            claim = ledger.claim(execution_id, deployment_id, DEFAULT_LEASE_S if math.isinf(lease) else lease)
        except Exception as exc:  # noqa: BLE001 - idempotency is best effort; the report is not
            warnings.append(f"ledger unavailable, continuing without idempotency: {exc}")
            if on_error is not None:
                on_error("hook ledger claim failed", exc)
    if claim.state is ClaimState.DUPLICATE:
        return HookExecution(
            deployment_id=deployment_id,
            execution_id=execution_id,
            verdict=None,
            delivery=Delivery.DUPLICATE,
            previous_status=claim.status,
            error=f"duplicate delivery of hook execution {execution_id}: already handled, nothing done",
        )

    def decide_verdict() -> Verdict:
        if claim.state is ClaimState.TAKEOVER:
            if claim.status is not None:
                return Verdict(status=claim.status, reason=claim.reason or "verdict recorded by an earlier delivery")
            return failed("an earlier delivery of this hook execution ended without a verdict (crashed or killed)")
        parsed = parse_hook_event(event)
        return warmup(prepare(parsed))

    try:
        verdict = decide_verdict()
    except ThermostatError as exc:
        verdict = failed(str(exc))
    except Exception as exc:  # noqa: BLE001 - its own bugs become a Failed report, never a stalled deployment
        if on_error is not None:
            on_error("hook failed unexpectedly", exc)
        verdict = failed(f"the hook failed unexpectedly ({type(exc).__name__}: {exc}); reported Failed to be safe")
    except BaseException:
        _deliver(failed("the hook was interrupted"), deployment_id, execution_id, reporter, ledger, deadline, [])
        raise
    return _deliver(verdict, deployment_id, execution_id, reporter, ledger, deadline, warnings, on_error)


def _deliver(
    verdict: Verdict,
    deployment_id: str,
    execution_id: str,
    reporter: StatusReporter,
    ledger: HookLedger | None,
    deadline: Deadline,
    warnings: list[str],
    on_error: Callable[[str, BaseException], None] | None = None,
) -> HookExecution:
    def note(what: str, exc: BaseException) -> None:
        warnings.append(f"{what}: {exc}")
        if on_error is not None:
            on_error(what, exc)

    if ledger is not None:
        try:
            ledger.record_verdict(execution_id, verdict.status, verdict.reason)
        except Exception as exc:  # noqa: BLE001 - the report matters more than the record
            note("could not record the verdict in the ledger", exc)
    try:
        outcome = reporter.report(deployment_id, execution_id, verdict.status, deadline)
    except Exception as exc:  # noqa: BLE001 - turned into REPORT_FAILED; the handler raises for a retry
        if ledger is not None:
            try:
                ledger.release(execution_id)
            except Exception as release_exc:  # noqa: BLE001
                note("could not release the ledger claim", release_exc)
        error = exc if isinstance(exc, ThermostatError) else Unavailable(str(exc))
        return HookExecution(
            deployment_id=deployment_id,
            execution_id=execution_id,
            verdict=verdict,
            delivery=Delivery.REPORT_FAILED,
            error=f"could not report {verdict.status.value} to CodeDeploy: {error}",
            warnings=tuple(warnings),
        )
    if ledger is not None:
        try:
            ledger.mark_reported(execution_id)
        except Exception as exc:  # noqa: BLE001
            note("could not mark the execution reported in the ledger", exc)
    return HookExecution(
        deployment_id=deployment_id,
        execution_id=execution_id,
        verdict=verdict,
        delivery=Delivery.REPORTED if outcome is ReportOutcome.REPORTED else Delivery.ALREADY_COMPLETED,
        warnings=tuple(warnings),
    )
