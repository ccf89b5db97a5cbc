"""Keep-warm rounds: plan the pings, fan them out under a global cap, count environments, report.

One round, for one group of targets:

1. **Resolve** each enabled target, concurrently: its function's facts (timeout, reserved and
   provisioned concurrency) and its payload (a ``payloadS3`` object is read once per round).
2. **Plan**: skip a target whose provisioned concurrency already covers it; never send more than
   the reserved concurrency minus a headroom (shared by every qualifier of one function); never
   more than the global in-flight cap, so that one target's pings can all overlap. A function
   whose look-up was refused (``AccessDenied``: its reserved concurrency is unknown, and may be
   small) gets at most ``cautious_pings`` pings in the round, shared by its qualifiers and never
   topped up, and a counted warning.
3. **Fan out**: each target's pings are launched together, once the dispatcher is ready for
   as many pings as can be in flight at once (its threads started, its connections open, in the
   background from the round's start, while the targets are looked up: a burst that opens them
   as it goes spreads its sends beyond the hold); (they must overlap to reach distinct
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

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.deadline import Clock, Deadline
from domain.errors import AccessDenied, InvalidInput, NotFound, ThermostatError, Throttled, Unavailable
from domain.keep_warm.auto import AutoInputs, AutoSizer, decide
from domain.keep_warm.peers import peer_fan_out
from domain.keep_warm.ports import Dispatcher, Flight, FunctionFacts, LambdaConfig, PayloadLoader, PingBatch
from domain.keep_warm.reports import AutoReport, RoundReport, Skip, Tally, TargetReport, count, finish
from domain.targets import Target, TargetProblem, TargetStore, check_payload_bucket, target_key
from thermostat_runtime import DEFAULT_HOLD_MS_MAX, build_request
from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES


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
    #: Pings per function (all its qualifiers together) when a look-up was refused: one keeps one
    #: environment warm and takes at most one unit of a reserved concurrency nobody could read.
    cautious_pings: int = Field(default=1, ge=1)

    def headroom(self, reserved: int) -> int:
        """How much of ``reserved`` keep-warm leaves untouched."""
        return max(self.headroom_min, math.ceil(reserved * self.headroom_fraction))


# -- resolving and planning ------------------------------------------------------------------


@dataclass
class _Resolved:
    target: Target
    report: TargetReport
    facts: FunctionFacts | None = None
    payload: bytes | None = None
    planned: int = 0
    #: A look-up was refused: the facts may lack a real limit.
    cautious: bool = False
    #: An auto target's history read (None: none, or it did not finish in time).
    history: AutoInputs | ThermostatError | None = None

    @property
    def want(self) -> int:
        """What the target asks for this round: its fixed N, or the N its sizing chose."""
        if self.report.auto is not None:
            return self.report.auto.n
        return self.target.planned_concurrency


@dataclass
class _Batch:
    """One target's overlapping pings (first round or top-up), and their flight once launched."""

    report: TargetReport
    pings: PingBatch
    flight: Flight | None = None


def _new_report(target: Target | TargetProblem, concurrency: int) -> TargetReport:
    return TargetReport(
        function=target.function,
        qualifier=target.qualifier,
        group=target.group,
        concurrency=concurrency,
        account=target.account,
        region=target.region,
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


_Looked = FunctionFacts | bytes | AutoInputs | ThermostatError


def _take_facts(item: _Resolved, outcome: _Looked, policy: RoundPolicy) -> None:
    """Record a look-up's answer (facts, or why there are none) on ``item`` and its report."""
    report = item.report
    if isinstance(outcome, AccessDenied):
        # Refused is not "no limit": the reserved concurrency may be small, so ping cautiously.
        item.cautious = True
        report.refused_lookups.append("lambda:GetFunctionConfiguration")
        report.warnings.append(f"{outcome}; pinged cautiously (at most {policy.cautious_pings})")
    elif isinstance(outcome, Throttled):
        # Throttled is not "no limit" either: nothing is known, so ping cautiously.
        item.cautious = True
        report.deferred_lookups.append("throttled")
        report.warnings.append(f"{outcome}; pinged cautiously (at most {policy.cautious_pings})")
    elif isinstance(outcome, ThermostatError):
        # Without the facts the round still pings, with the default timeout and no caps.
        report.warnings.append(f"could not read the function's configuration: {outcome}")
    elif isinstance(outcome, FunctionFacts):
        item.facts = outcome
        report.provisioned, report.reserved = outcome.provisioned, outcome.reserved
        report.warnings.extend(outcome.notes)
        if outcome.deferred or outcome.throttled:
            # Unknown limits (no look-up token in time, or AWS throttled a read): the unsafe
            # direction would be "no reserved, no provisioned concurrency".
            item.cautious = True
            report.deferred_lookups.extend(outcome.deferred or outcome.throttled)
            report.warnings.append(
                f"facts unknown ({', '.join(outcome.deferred or outcome.throttled)}); "
                f"pinged cautiously (at most {policy.cautious_pings})"
            )
        if outcome.refused:
            item.cautious = True
            report.refused_lookups.extend(outcome.refused)
            report.warnings.append(
                f"refused: {', '.join(outcome.refused)}; pinged cautiously (at most {policy.cautious_pings})"
            )


def _history(sizer: AutoSizer, target: Target) -> AutoInputs | ThermostatError:
    try:
        return sizer.inputs(target)
    except ThermostatError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a failed history read falls back, it never fails the round
        return Unavailable(f"{type(exc).__name__}: {exc}")


def _resolve(
    targets: Sequence[Target],
    reports: dict[str, TargetReport],
    config: LambdaConfig,
    load_payload: PayloadLoader,
    dispatcher: Dispatcher,
    deadline: Deadline,
    policy: RoundPolicy,
    sizer: AutoSizer | None = None,
) -> list[_Resolved]:
    """Look up facts and payloads concurrently; a failure marks its target, never the round."""
    resolved: list[_Resolved] = []
    calls: list[Callable[[], _Looked]] = []
    # Where each look-up's answer will be: ("payload", uri) is read once for all its targets.
    slots: dict[tuple[str, str], int] = {}
    for target in targets:
        item = _Resolved(target, reports[target.key])
        if target.payload_s3 is not None:
            try:
                check_payload_bucket(target.payload_s3, policy.allowed_buckets)
            except InvalidInput as exc:
                # A refused bucket is the target's own mistake: said first, and nothing is looked up.
                item.report.skipped, item.report.error = Skip.INVALID, str(exc)
                continue
            if ("payload", target.payload_s3) not in slots:
                slots["payload", target.payload_s3] = len(calls)
                calls.append(functools.partial(_load, load_payload, target.payload_s3))
        resolved.append(item)
        slots["facts", target.key] = len(calls)
        calls.append(functools.partial(_describe, config, target))
        if target.auto and sizer is not None and (target.account or target.region):
            # Its logs and metrics are in that account or region, which this history does not read
            # (a same-named function here would be the wrong one): it keeps its last N, and says so.
            item.history = Unavailable(
                f"the history of a target in {target.account or 'this account'}/{target.region or 'this region'} "
                "is not read (only the control plane's own account and region are)"
            )
        elif target.auto and sizer is not None:
            slots["history", target.key] = len(calls)
            calls.append(functools.partial(_history, sizer, target))
    answers = dispatcher.gather(calls, deadline)
    for item in resolved:
        target, report = item.target, item.report
        if ("history", target.key) in slots:
            history = answers[slots["history", target.key]]
            item.history = history if isinstance(history, AutoInputs | ThermostatError) else None
        outcome = answers[slots["facts", target.key]]
        if outcome is None:
            report.error = "configuration look-up did not finish before the deadline"
            report.not_attempted = target.planned_concurrency
            continue
        if isinstance(outcome, NotFound):
            report.skipped, report.error = Skip.INVALID, str(outcome)
            continue
        _take_facts(item, outcome, policy)
        if target.payload_s3 is not None:
            loaded = answers[slots["payload", target.payload_s3]]
            if loaded is None:
                loaded = Unavailable("payloadS3 read did not finish before the deadline")
            if not isinstance(loaded, bytes):
                report.skipped, report.error = Skip.INVALID, str(loaded)
                continue
            item.payload = loaded
        else:
            item.payload = target.payload_bytes()
    return [item for item in resolved if item.report.skipped is None and not item.report.not_attempted]


def _size(items: Iterable[_Resolved], policy: RoundPolicy, sizer: AutoSizer | None) -> None:
    """Choose N for every auto target: its history, under the reserved-concurrency headroom and the in-flight cap."""
    for item in items:
        target, facts = item.target, item.facts
        if not target.auto:
            continue
        cap = policy.max_in_flight
        if facts is not None and facts.reserved is not None:
            cap = min(cap, max(0, facts.reserved - policy.headroom(facts.reserved)))
        now_ms = sizer.now_ms() if sizer is not None else 0
        decision, fallback = decide(target, item.history, now_ms, cap=cap)
        item.report.auto = AutoReport(
            n=decision.n,
            reason=decision.reason,
            source=decision.source,
            weekly_peaks=list(decision.weekly_peaks),
            observed=decision.observed,
            adjustments=list(decision.adjustments),
            fallback=fallback,
            at_ms=now_ms if sizer is not None else None,
        )
        item.report.concurrency = decision.n
        if fallback and sizer is not None:
            item.report.warnings.append(f"auto sizing fell back: {decision.reason}")


def _plan(items: Iterable[_Resolved], policy: RoundPolicy) -> list[_Resolved]:
    """Apply the provisioned skip, the reserved-concurrency budget and the in-flight cap."""
    budgets: dict[str, int] = {}
    cautious: dict[str, int] = {}
    planned: list[_Resolved] = []
    for item in items:
        target, report, facts = item.target, item.report, item.facts
        want = item.want
        if want <= 0:
            report.skipped = Skip.NO_HEADROOM
            report.error = f"auto sizing chose 0 environments: {report.auto.reason if report.auto else 'no room'}"
            continue
        if item.cautious:
            left = cautious.setdefault(target.function_name, policy.cautious_pings)
            if left <= 0:
                report.skipped = Skip.NO_HEADROOM
                if report.refused_lookups:
                    why, advice = f"was refused ({', '.join(report.refused_lookups)})", "grant the look-up permissions"
                else:
                    why = f"was deferred ({', '.join(report.deferred_lookups)})"
                    advice = "the facts are read in a later round, within the look-up rate"
                report.error = (
                    f"a look-up {why} and the cautious cap of "
                    f"{policy.cautious_pings} ping(s) for {target.function_name} went to another qualifier: {advice}"
                )
                continue
            if left < want:
                want, report.capped_by = left, "refused_lookup" if report.refused_lookups else "deferred_lookup"
            cautious[target.function_name] = left - want
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
    correlation = f"{round_id}:{target.key}{':top-up' if top_up else ''}"
    peer = peer_fan_out(item.payload, size, correlation) if item.payload is not None else None
    if peer is not None:
        payloads, hold_ms = peer  # the peer's own fan-out, and the delay its receivers hold
    elif item.payload is not None:
        payloads = [item.payload] * size
        hold_ms = 0  # a custom payload holds nothing: no need to keep time for it
        item.report.holds = False
    else:
        payloads = [
            json.dumps(
                build_request("warm", correlation_id=correlation, index=index, of=size, hold_ms=hold_ms),
                separators=(",", ":"),
            ).encode()
            for index in range(size)
        ]
    pings = PingBatch(
        function=target.function,
        qualifier=target.qualifier,
        payloads=tuple(payloads),
        read_timeout_s=timeout_s + policy.read_timeout_slack_s,
        min_time_s=hold_ms / 1000.0 + policy.launch_margin_s,
    )
    return _Batch(item.report, pings)


def _top_up_hold(hold_ms: int) -> int:
    return min(DEFAULT_HOLD_MS_MAX, max(hold_ms * 2, 100))


def _launch(dispatcher: Dispatcher, batch: _Batch, deadline: Deadline) -> int:
    """Launch ``batch``; how many pings were sent (0 when the deadline said no)."""
    batch.flight = dispatcher.launch(batch.pings, deadline)
    return batch.pings.size if batch.flight is not None else 0


# -- the round -------------------------------------------------------------------------------


def run_round(
    group: str,
    targets: Sequence[Target | TargetProblem],
    *,
    config: LambdaConfig,
    load_payload: PayloadLoader,
    dispatcher: Dispatcher,
    clock: Clock,
    round_id: str,
    deadline: Deadline | None = None,
    policy: RoundPolicy | None = None,
    sizer: AutoSizer | None = None,
) -> RoundReport:
    """Run one keep-warm round over ``targets`` and report every one of them.

    ``sizer``: where auto targets' concurrency history is read (None: an auto target keeps its
    previous N, else its min, and the report says so).

    ``deadline``: by when every reply must be in (None: no limit); ``dispatcher`` must allow
    ``policy.max_in_flight`` pings in flight, so that a target's pings can overlap.
    Never raises for a single target's failure: that target's report says what went wrong.
    """
    policy = policy or RoundPolicy()
    deadline = deadline if deadline is not None else Deadline.never(clock)
    started = clock()
    reports: dict[str, TargetReport] = {}
    live: list[Target] = []
    ordered: list[TargetReport] = []
    for target in targets:
        key = target_key(target.group, target.function, target.qualifier, target.account, target.region)
        if key in reports:
            continue
        if isinstance(target, TargetProblem):
            report = _new_report(target, 0)
            report.skipped, report.error = Skip.INVALID, target.error
        else:
            report = _new_report(target, target.planned_concurrency)
            if not target.enabled:
                report.skipped = Skip.DISABLED
            else:
                live.append(target)
        reports[key] = report
        ordered.append(report)

    if live:
        # At most what the targets ask for: the look-ups may only lower it.
        asked = sum(target.bounds[1] if target.auto else target.planned_concurrency for target in live)
        dispatcher.prepare(min(policy.max_in_flight, asked), deadline)
    resolved = _resolve(live, reports, config, load_payload, dispatcher, deadline, policy, sizer)
    _size(resolved, policy, sizer)
    planned = _plan(resolved, policy)
    first = [(item, _batch(item, round_id, item.target.hold_ms, policy)) for item in planned]
    sent = sum(_launch(dispatcher, batch, deadline) for _, batch in first)
    dispatcher.wait()

    tallies: dict[str, Tally] = {}
    top_ups: list[tuple[_Resolved, _Batch]] = []
    for item, batch in first:
        tally = tallies.setdefault(item.target.key, Tally())
        count(batch.report, batch.pings.size, batch.flight, tally)
        report = item.report
        short = bool(tally.environments) and len(tally.environments) < item.planned
        if (
            policy.top_up
            and short
            and not report.throttled
            and not report.not_attempted
            and not tally.not_found
            and item.payload is None
            and not item.cautious  # the cautious cap is on the round's pings, not per batch
        ):
            top_ups.append((item, _batch(item, round_id, _top_up_hold(item.target.hold_ms), policy, top_up=True)))
    for _, batch in top_ups:
        launched = _launch(dispatcher, batch, deadline)
        sent += launched
        batch.report.top_up = launched
    dispatcher.wait()
    for item, batch in top_ups:
        # A top-up that the deadline stopped is not a failure of the target: it is simply not sent.
        if batch.flight is not None:
            count(batch.report, batch.pings.size, batch.flight, tallies[item.target.key])
    for item, _ in first:
        finish(item.report, tallies[item.target.key])
        item.report.sent = item.planned - item.report.not_attempted + item.report.top_up

    return RoundReport(
        group=group,
        targets=ordered,
        sent=sent,
        lookups_refused=sum(1 for report in ordered if report.refused_lookups),
        lookups_deferred=sum(1 for report in ordered if report.deferred_lookups),
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
