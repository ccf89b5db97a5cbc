"""The warm-up: N parallel invocations of the version under test, each after its own jitter.

:func:`run_warmup` starts every invocation on its own thread after its planned delay, judges
each answer, and gives up on stragglers before the Lambda's own deadline (minus the time kept
back to report), so that a verdict is always reported in time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from random import Random
from typing import Final

from domain.deadline import Clock, Deadline
from domain.hook.plan import HookConfig, plan_delays, request_payload
from domain.hook.target import HookStatus
from domain.hook.verdict import InvocationReport, Verdict, decide, judge
from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult, Outcome

#: Below this much time an invocation is not worth starting.
MIN_INVOKE_S: Final = 0.05
#: How often the waiting thread re-reads the deadline while invocations run.
POLL_S: Final = 0.25


def reserve_for(remaining_s: float) -> float:
    """Time kept back for reporting: a quarter of what is left, between 0.5 s and 5 s.

    The report's calls are sized from it (:mod:`domain.hook.delivery`): the ledger record takes
    at most a fifth, every report attempt fits in what is left, so the reserve always holds one.
    """
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
    clock: Clock,
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
    clock: Clock,
    sleeper: Callable[[float], object],
    deadline: Deadline | None = None,
    reserve_s: float = 0.0,
) -> Verdict:
    """Invoke the target ``config.concurrency`` times in parallel, each after its own jitter.

    Returns before ``deadline`` minus ``reserve_s`` even if some invocations are still running:
    those count as failed ("still running"), so there is always time left to report.
    """
    deadline = deadline or Deadline.never(clock)
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
