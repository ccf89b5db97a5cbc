"""``ThreadDispatcher``: keep-warm's :class:`~domain.keep_warm.Dispatcher` port on a thread pool.

A batch's pings must overlap to reach distinct environments, so each one gets a worker of its
own: the executor needs at least ``max_in_flight`` workers. The cap is global across targets:
a batch waits, whole, until the pings already in flight leave room for all of it, and is not
launched at all when the deadline no longer leaves time for its hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

from domain.deadline import Clock, Deadline
from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult, Outcome
from domain.keep_warm import Flight, PingBatch, RoundPolicy, RoundReport
from domain.keep_warm import run_round as plan_and_count
from domain.targets import Target, TargetProblem

T = TypeVar("T")


class ThreadDispatcher:
    """Launches batches of pings on ``executor`` under a cap of ``max_in_flight``, and waits for them."""

    def __init__(self, invoker: FunctionInvoker, executor: Executor, max_in_flight: int, clock: Clock) -> None:
        self._invoker = invoker
        self._executor = executor
        self._max_in_flight = max_in_flight
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._futures: list[Future[None]] = []

    def gather(self, calls: Sequence[Callable[[], T]], deadline: Deadline) -> list[T | None]:
        """Run ``calls`` on the executor: each one's result, or None for one still running at ``deadline``."""
        futures = [self._executor.submit(call) for call in calls]
        left = deadline.remaining_or_none()
        wait_futures(futures, timeout=None if left is None else max(0.0, left))
        return [future.result() if future.done() else None for future in futures]

    def launch(self, batch: PingBatch, deadline: Deadline) -> Flight | None:
        """Launch every ping of ``batch`` at once, waiting for room; None when the deadline says no."""
        if batch.size > self._max_in_flight:
            raise ValueError(f"a batch of {batch.size} can never fit under max_in_flight={self._max_in_flight}")
        need = batch.min_time_s
        with self._cond:
            while self._in_flight + batch.size > self._max_in_flight:
                left = deadline.remaining_or_none()
                if left is not None and left < need:
                    break
                # A finished ping notifies; the timeout only bounds the wait by the deadline.
                self._cond.wait(None if left is None else max(0.001, left - need))
            left = deadline.remaining_or_none()
            if left is not None and left < need:
                return None
            self._in_flight += batch.size
        read_timeout = batch.read_timeout_s if left is None else min(batch.read_timeout_s, left)
        flight = Flight(results=[None] * batch.size, started=self._clock())
        for index, payload in enumerate(batch.payloads):
            request = InvocationRequest(
                function=batch.function, qualifier=batch.qualifier, payload=payload, read_timeout_s=read_timeout
            )
            self._futures.append(self._executor.submit(self._ping, flight, index, request))
        return flight

    def _ping(self, flight: Flight, index: int, request: InvocationRequest) -> None:
        try:
            result = self._invoker.invoke(request)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not sink the other pings
            result = InvocationResult(outcome=Outcome.FAILED, error=f"invoker raised {type(exc).__name__}: {exc}")
        flight.results[index] = result
        with self._cond:
            self._in_flight -= 1
            flight.finished = self._clock()
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until every launched ping has answered (each is bounded by its read timeout)."""
        futures, self._futures = self._futures, []
        wait_futures(futures)


def run_round(
    group: str,
    targets: Sequence[Target | TargetProblem],
    *,
    invoker: FunctionInvoker,
    executor: Executor,
    clock: Clock,
    policy: RoundPolicy | None = None,
    **options: Any,
) -> RoundReport:
    """:func:`domain.keep_warm.run_round` with its pings on ``executor``'s threads.

    The dispatcher's cap is the policy's ``max_in_flight``, so the plan and the fan-out agree;
    ``options`` are the round's other arguments (``config``, ``load_payload``, ``round_id``, ``deadline``).
    """
    policy = policy or RoundPolicy()
    dispatcher = ThreadDispatcher(invoker, executor, policy.max_in_flight, clock)
    return plan_and_count(group, targets, dispatcher=dispatcher, clock=clock, policy=policy, **options)
