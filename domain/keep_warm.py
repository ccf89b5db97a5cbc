"""Keep-warm rounds: plan the pings, fan them out under a global cap, count environments, report.

One round, for one group of targets:

1. **Resolve** each enabled target, concurrently: its function's facts (timeout, reserved and
   provisioned concurrency) and its payload (a ``payloadS3`` object is read once per round).
2. **Plan**: skip a target whose provisioned concurrency already covers it; never send more than
   the reserved concurrency minus a headroom (shared by every qualifier of one function); never
   more than the global in-flight cap, so that one target's pings can all overlap.
3. **Fan out**: each target's pings are launched together (they must overlap to reach distinct
   environments), only when the global cap has room for all of them; a batch is not launched
   when the deadline leaves too little time for its hold, and is reported as not attempted.
4. **Top up**, once: a target that answered from fewer distinct environments than planned (and
   was not throttled) gets one more overlapping batch. It re-sends the whole overlap set, because
   Lambda routes a request to an idle environment first: sending only the missing count would
   land on the environments just warmed.
5. **Report**: per target ``sent``, distinct ``environments`` (None when the target does not
   speak the protocol), ``cold``, ``errors``, ``throttled`` (with reasons), ``skipped``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import InvalidInput, NotFound, ThermostatError, Unavailable
from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult, Outcome
from domain.targets import Target, TargetProblem, TargetStore, check_payload_bucket
from thermostat_runtime import COLD_KINDS, DEFAULT_HOLD_MS_MAX, build_request, parse_reply
from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES

Clock = Callable[[], float]
"""Monotonic seconds (``time.monotonic`` in production, a fake in tests)."""


class FunctionFacts(BaseModel):
    """What keep-warm needs to know about a function before pinging it."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float | None = Field(default=None, gt=0)
    reserved: int | None = Field(default=None, ge=0)
    provisioned: int = Field(default=0, ge=0)
    #: What could not be read and was assumed (reported as the target's warnings).
    notes: tuple[str, ...] = ()


class LambdaConfig(Protocol):
    """Port: read a function's timeout and concurrency settings (cached for one round)."""

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        """The facts of ``function:qualifier``; ``NotFound`` when it does not exist,
        ``Unavailable`` when they cannot be read (the round then pings without those limits)."""
        ...


class PayloadLoader(Protocol):
    """Port: read a ``payloadS3`` object (allow-listed bucket, size-capped)."""

    def __call__(self, uri: str) -> bytes:
        """The object's bytes; ``InvalidInput`` when refused, ``NotFound``/``Unavailable`` otherwise."""
        ...


class Skip(StrEnum):
    """Why a target was not pinged at all."""

    DISABLED = "disabled"
    PROVISIONED = "provisioned"  # provisioned concurrency already covers the asked concurrency
    NO_HEADROOM = "no_headroom"  # reserved concurrency leaves no room after the headroom
    INVALID = "invalid"  # the stored target breaks a rule, or its payload/function could not be resolved


class RoundPolicy(BaseModel):
    """The safety limits of a round."""

    model_config = ConfigDict(frozen=True)

    max_in_flight: int = Field(default=64, ge=1, le=1_000)
    #: Share of a function's reserved concurrency left free for real traffic (at least ``headroom_min``).
    headroom_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    headroom_min: int = Field(default=1, ge=0)
    #: The read timeout is the function's timeout plus this, so a slow reply is not cut short.
    read_timeout_slack_s: float = Field(default=1.0, ge=0.0)
    #: Used when the function's timeout could not be read.
    default_timeout_s: float = Field(default=30.0, gt=0.0)
    #: A batch is launched only when at least its hold plus this is left before the deadline.
    launch_margin_s: float = Field(default=0.25, ge=0.0)
    top_up: bool = True
    allowed_buckets: frozenset[str] = frozenset()

    def headroom(self, reserved: int) -> int:
        """How much of ``reserved`` keep-warm leaves untouched."""
        return max(self.headroom_min, math.ceil(reserved * self.headroom_fraction))


class TargetReport(BaseModel):
    """The outcome of one target in one round (the issue's report shape, plus detail fields)."""

    function: str
    qualifier: str
    group: str
    concurrency: int
    planned: int = 0
    sent: int = 0
    environments: int | None = 0
    cold: int = 0
    errors: int = 0
    throttled: int = 0
    skipped: str | None = None
    not_attempted: int = 0
    unknown_environments: int = 0
    timeouts: int = 0
    throttle_reasons: dict[str, int] = Field(default_factory=dict)
    top_up: int = 0
    capped_by: str | None = None
    provisioned: int | None = None
    reserved: int | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def healthy(self) -> bool:
        """True when nothing needs a look: no errors, throttles, unsent pings or shortfall."""
        if self.skipped is not None:
            return self.skipped in (Skip.DISABLED, Skip.PROVISIONED)
        short = self.environments is not None and self.environments < self.planned
        return not (self.errors or self.throttled or self.not_attempted or self.error or short)


class RoundReport(BaseModel):
    """The outcome of a round: ``{"group", "targets": [...]}`` plus totals."""

    group: str
    targets: list[TargetReport]
    sent: int = 0
    duration_ms: float = 0.0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON document the handler returns and logs."""
        return self.model_dump(mode="json")

    @property
    def unhealthy(self) -> list[TargetReport]:
        """Targets with errors, throttles, unsent pings or a resolve failure."""
        return [target for target in self.targets if not target.healthy]


# -- the fan-out -----------------------------------------------------------------------------


@dataclass
class _Batch:
    """The overlapping pings of one target (first round or top-up)."""

    report: TargetReport
    function: str
    qualifier: str
    payloads: list[bytes]
    hold_ms: int
    read_timeout_s: float
    results: list[InvocationResult | None] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None

    @property
    def size(self) -> int:
        return len(self.payloads)

    def min_time_s(self, margin_s: float) -> float:
        return self.hold_ms / 1000.0 + margin_s


_NOT_ATTEMPTED = InvocationResult(outcome=Outcome.NOT_ATTEMPTED, error="deadline too close to launch")
_NO_RESULT = InvocationResult(outcome=Outcome.FAILED, error="no result recorded")


class _Dispatcher:
    """Launches batches under the global in-flight cap and waits for them."""

    def __init__(
        self,
        invoker: FunctionInvoker,
        executor: Executor,
        clock: Clock,
        deadline: float | None,
        policy: RoundPolicy,
    ) -> None:
        self._invoker = invoker
        self._executor = executor
        self._clock = clock
        self._deadline = deadline
        self._policy = policy
        self._cond = threading.Condition()
        self._in_flight = 0
        self._futures: list[Future[None]] = []
        self.sent = 0

    def _time_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def launch(self, batch: _Batch) -> bool:
        """Launch every ping of ``batch`` at once, waiting for room; False when the deadline says no."""
        need = batch.min_time_s(self._policy.launch_margin_s)
        if batch.size > self._policy.max_in_flight:
            raise ValueError(f"a batch of {batch.size} can never fit under max_in_flight={self._policy.max_in_flight}")
        with self._cond:
            while self._in_flight + batch.size > self._policy.max_in_flight:
                left = self._time_left()
                if left is not None and left < need:
                    break
                # A finished ping notifies; the timeout only bounds the wait by the deadline.
                self._cond.wait(None if left is None else max(0.001, left - need))
            left = self._time_left()
            if left is not None and left < need:
                batch.results = [_NOT_ATTEMPTED] * batch.size
                return False
            self._in_flight += batch.size
            self.sent += batch.size
        read_timeout = batch.read_timeout_s if left is None else min(batch.read_timeout_s, left)
        batch.results = [None] * batch.size
        batch.started = self._clock()
        for index, payload in enumerate(batch.payloads):
            request = InvocationRequest(
                function=batch.function, qualifier=batch.qualifier, payload=payload, read_timeout_s=read_timeout
            )
            self._futures.append(self._executor.submit(self._ping, batch, index, request))
        return True

    def _ping(self, batch: _Batch, index: int, request: InvocationRequest) -> None:
        try:
            result = self._invoker.invoke(request)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not sink the other pings
            result = InvocationResult(outcome=Outcome.FAILED, error=f"invoker raised {type(exc).__name__}: {exc}")
        batch.results[index] = result
        with self._cond:
            self._in_flight -= 1
            batch.finished = self._clock()
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until every launched ping has answered (each is bounded by its read timeout)."""
        futures, self._futures = self._futures, []
        wait_futures(futures)


# -- resolving and planning ------------------------------------------------------------------


@dataclass
class _Resolved:
    target: Target
    report: TargetReport
    facts: FunctionFacts | None = None
    payload: bytes | None = None
    planned: int = 0


def _new_report(target: Target | TargetProblem, concurrency: int) -> TargetReport:
    return TargetReport(
        function=target.function, qualifier=target.qualifier, group=target.group, concurrency=concurrency
    )


def _describe(config: LambdaConfig, target: Target) -> FunctionFacts | ThermostatError:
    try:
        return config.describe(target.function, target.qualifier)
    except ThermostatError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - an adapter bug is reported on its target, not raised
        return Unavailable(f"{type(exc).__name__}: {exc}")


def _load(loader: PayloadLoader, uri: str) -> bytes | ThermostatError:
    try:
        data = loader(uri)
    except ThermostatError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - an adapter bug is reported on its target, not raised
        return Unavailable(f"payloadS3 {uri} could not be read: {type(exc).__name__}: {exc}")
    if len(data) > SYNC_INVOKE_LIMIT_BYTES:
        return InvalidInput(
            f"payloadS3 {uri} is {len(data)} bytes, above Lambda's 6 MB synchronous-invoke limit: "
            "send a smaller payload or a reference to the data"
        )
    return data


def _resolve(
    targets: Sequence[Target],
    reports: dict[str, TargetReport],
    config: LambdaConfig,
    load_payload: PayloadLoader,
    executor: Executor,
    policy: RoundPolicy,
    time_left: Callable[[], float | None],
) -> list[_Resolved]:
    """Look up facts and payloads concurrently; a failure marks its target, never the round."""
    resolved: list[_Resolved] = []
    uris: dict[str, Future[bytes | ThermostatError]] = {}
    facts: dict[str, Future[FunctionFacts | ThermostatError]] = {}
    for target in targets:
        item = _Resolved(target, reports[target.key])
        if target.payload_s3 is not None:
            try:
                check_payload_bucket(target.payload_s3, policy.allowed_buckets)
            except InvalidInput as exc:
                # A refused bucket is the target's own mistake: said first, and nothing is looked up.
                item.report.skipped, item.report.error = Skip.INVALID, str(exc)
                continue
            if target.payload_s3 not in uris:
                uris[target.payload_s3] = executor.submit(_load, load_payload, target.payload_s3)
        resolved.append(item)
        facts[target.key] = executor.submit(_describe, config, target)
    pending: list[Future[Any]] = [*uris.values(), *facts.values()]
    left = time_left()
    wait_futures(pending, timeout=None if left is None else max(0.0, left))
    for item in resolved:
        target, report = item.target, item.report
        found = facts[target.key]
        if not found.done():
            report.error = "configuration look-up did not finish before the deadline"
            report.not_attempted = target.concurrency
            continue
        outcome = found.result()
        if isinstance(outcome, NotFound):
            report.skipped, report.error = Skip.INVALID, str(outcome)
            continue
        if isinstance(outcome, ThermostatError):
            # Without the facts the round still pings, with the default timeout and no caps.
            report.warnings.append(f"could not read the function's configuration: {outcome}")
        else:
            item.facts = outcome
            report.provisioned, report.reserved = outcome.provisioned, outcome.reserved
            report.warnings.extend(outcome.notes)
        if target.payload_s3 is not None:
            entry = uris[target.payload_s3]
            loaded: bytes | ThermostatError
            if entry.done():
                loaded = entry.result()
            else:
                loaded = Unavailable("payloadS3 read did not finish before the deadline")
            if isinstance(loaded, ThermostatError):
                report.skipped, report.error = Skip.INVALID, str(loaded)
                continue
            item.payload = loaded
        else:
            item.payload = target.payload_bytes()
    return [item for item in resolved if item.report.skipped is None and not item.report.not_attempted]


def _plan(items: Iterable[_Resolved], policy: RoundPolicy) -> list[_Resolved]:
    """Apply the provisioned skip, the reserved-concurrency budget and the in-flight cap."""
    budgets: dict[str, int] = {}
    planned: list[_Resolved] = []
    for item in items:
        target, report, facts = item.target, item.report, item.facts
        want = target.concurrency
        if facts is not None and facts.provisioned >= want:
            report.skipped = Skip.PROVISIONED
            continue
        if facts is not None and facts.reserved is not None:
            name = target.function_name
            budget = budgets.setdefault(name, max(0, facts.reserved - policy.headroom(facts.reserved)))
            if budget <= 0:
                report.skipped = Skip.NO_HEADROOM
                report.error = (
                    f"reserved concurrency {facts.reserved} leaves no room for pings after a headroom of "
                    f"{policy.headroom(facts.reserved)}: raise the reserved concurrency or remove the target"
                )
                continue
            if budget < want:
                want, report.capped_by = budget, "reserved_concurrency"
            budgets[name] = budget - want
        if want > policy.max_in_flight:
            want, report.capped_by = policy.max_in_flight, "max_in_flight"
        item.planned = report.planned = want
        planned.append(item)
    return planned


def _batch(item: _Resolved, round_id: str, hold_ms: int, policy: RoundPolicy, top_up: bool = False) -> _Batch:
    target = item.target
    timeout_s = item.facts.timeout_s if item.facts is not None and item.facts.timeout_s else policy.default_timeout_s
    size = item.planned
    if item.payload is not None:
        payloads = [item.payload] * size
    else:
        correlation = f"{round_id}:{target.key}{':top-up' if top_up else ''}"
        payloads = [
            json.dumps(
                build_request("warm", correlation_id=correlation, index=index, of=size, hold_ms=hold_ms),
                separators=(",", ":"),
            ).encode()
            for index in range(size)
        ]
    return _Batch(
        report=item.report,
        function=target.function,
        qualifier=target.qualifier,
        payloads=payloads,
        hold_ms=hold_ms if item.payload is None else 0,
        read_timeout_s=timeout_s + policy.read_timeout_slack_s,
    )


# -- counting --------------------------------------------------------------------------------


@dataclass
class _Tally:
    environments: set[str] = field(default_factory=set)
    unknown: int = 0
    ok: int = 0
    not_found: bool = False


def _count(batch: _Batch, tally: _Tally) -> None:
    report = batch.report
    for stored in batch.results:
        # A worker that never stored its result counts as failed.
        result = stored if stored is not None else _NO_RESULT
        outcome = result.outcome
        if outcome is Outcome.NOT_ATTEMPTED:
            report.not_attempted += 1
        elif outcome is Outcome.THROTTLED:
            report.throttled += 1
            reason = result.error or "TooManyRequestsException"
            report.throttle_reasons[reason] = report.throttle_reasons.get(reason, 0) + 1
        elif outcome is Outcome.OK:
            reply = parse_reply(result.payload)
            if not reply.speaks_protocol:
                tally.ok += 1
                tally.unknown += 1
            elif reply.error is not None or not reply.warm or reply.environment_id is None:
                report.errors += 1
                report.error = report.error or f"protocol error from the target: {reply.error or 'not warm'}"
            else:
                tally.ok += 1
                tally.environments.add(reply.environment_id)
                if reply.start_kind in COLD_KINDS:
                    report.cold += 1
        else:
            report.errors += 1
            if outcome is Outcome.TIMEOUT:
                report.timeouts += 1
            if outcome is Outcome.NOT_FOUND:
                tally.not_found = True
            report.error = report.error or f"{outcome.value}: {result.error or 'no detail'}"
    if batch.started is not None:
        end = batch.finished if batch.finished is not None else batch.started
        report.duration_ms = round(report.duration_ms + (end - batch.started) * 1000.0, 3)


def _finish(report: TargetReport, tally: _Tally) -> None:
    if tally.environments:
        report.environments = len(tally.environments)
    elif tally.unknown:
        report.environments = None  # answered, but not in the protocol: unknown, not zero
    else:
        report.environments = 0
    report.unknown_environments = tally.unknown


def _top_up_hold(hold_ms: int) -> int:
    return min(DEFAULT_HOLD_MS_MAX, max(hold_ms * 2, 100))


# -- the round -------------------------------------------------------------------------------


def run_round(
    group: str,
    targets: Sequence[Target | TargetProblem],
    *,
    invoker: FunctionInvoker,
    config: LambdaConfig,
    load_payload: PayloadLoader,
    executor: Executor,
    clock: Clock,
    round_id: str,
    deadline: float | None = None,
    policy: RoundPolicy | None = None,
) -> RoundReport:
    """Run one keep-warm round over ``targets`` and report every one of them.

    ``deadline`` is a ``clock()`` instant by which every reply must be in (None: no limit);
    ``executor`` must have at least ``policy.max_in_flight`` workers for pings to overlap.
    Never raises for a single target's failure: that target's report says what went wrong.
    """
    policy = policy or RoundPolicy()
    started = clock()
    reports: dict[str, TargetReport] = {}
    live: list[Target] = []
    ordered: list[TargetReport] = []
    for target in targets:
        key = f"{target.group}#{target.function}#{target.qualifier}"
        if key in reports:
            continue
        if isinstance(target, TargetProblem):
            report = _new_report(target, 0)
            report.skipped, report.error = Skip.INVALID, target.error
        else:
            report = _new_report(target, target.concurrency)
            if not target.enabled:
                report.skipped = Skip.DISABLED
            else:
                live.append(target)
        reports[key] = report
        ordered.append(report)

    def time_left() -> float | None:
        return None if deadline is None else deadline - clock()

    resolved = _resolve(live, reports, config, load_payload, executor, policy, time_left)
    planned = _plan(resolved, policy)
    dispatcher = _Dispatcher(invoker, executor, clock, deadline, policy)
    first = [(item, _batch(item, round_id, item.target.hold_ms, policy)) for item in planned]
    for _, batch in first:
        dispatcher.launch(batch)
    dispatcher.wait()

    tallies: dict[str, _Tally] = {}
    top_ups: list[tuple[_Resolved, _Batch]] = []
    for item, batch in first:
        tally = tallies.setdefault(item.target.key, _Tally())
        _count(batch, tally)
        report = item.report
        short = bool(tally.environments) and len(tally.environments) < item.planned
        if (
            policy.top_up
            and short
            and not report.throttled
            and not report.not_attempted
            and not tally.not_found
            and item.payload is None
        ):
            top_ups.append((item, _batch(item, round_id, _top_up_hold(item.target.hold_ms), policy, top_up=True)))
    for _, batch in top_ups:
        if dispatcher.launch(batch):
            batch.report.top_up = batch.size
    dispatcher.wait()
    for item, batch in top_ups:
        if batch.report.top_up:
            _count(batch, tallies[item.target.key])
        # A top-up that the deadline stopped is not a failure of the target: it is simply not sent.
    for item, _ in first:
        _finish(item.report, tallies[item.target.key])
        item.report.sent = item.planned - item.report.not_attempted + item.report.top_up

    return RoundReport(
        group=group,
        targets=ordered,
        sent=dispatcher.sent,
        duration_ms=round((clock() - started) * 1000.0, 3),
        max_in_flight=policy.max_in_flight,
    )


def keep_warm(
    group: str,
    store: TargetStore,
    *,
    function: str | None = None,
    **round_options: Any,
) -> RoundReport:
    """Load ``group``'s targets (optionally only those of ``function``) and run one round."""
    targets = store.load(group)
    if function is not None:
        targets = [t for t in targets if function in (t.function, t.function.rsplit(":", 1)[-1])]
        if not targets:
            raise NotFound(f"no keep-warm target for function {function!r} in group {group!r}")
    return run_round(group, targets, **round_options)
