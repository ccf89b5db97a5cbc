"""``ThreadDispatcher``: keep-warm's :class:`~domain.keep_warm.Dispatcher` port on a thread pool.

A batch's pings must overlap to reach distinct environments, so each one gets a worker of its
own: the executor needs at least ``max_in_flight`` workers. The cap is global across targets:
a batch waits, whole, until the pings already in flight leave room for all of it, and is not
launched at all when the deadline no longer leaves time for its hold.

Connect, then fire. Threads and connections made inside a burst spread its sends (in a fresh
process, N = 200 took 355-371 ms to leave, longer than the pings' hold, so environments were
reused and the round topped up). So :meth:`ThreadDispatcher.prepare`, before the first ping,
opens (over TLS, handshakes) the connections the round needs, together, dropping the ones the
service closed since the last round. Then a batch leaves at once: from one thread, every request
written back to back and the replies read on one selector, when the invoker sends batches
(:class:`Batching`: ``BotoFunctionInvoker`` on its fast transport); otherwise one worker per ping,
started ahead by the preparation, each waiting at a barrier, signed and with its connection in
hand, until all leave together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from typing import Any, Protocol, TypeVar, runtime_checkable

from domain.deadline import Clock, Deadline
from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult, Outcome
from domain.keep_warm import Flight, PingBatch, RoundPolicy, RoundReport
from domain.keep_warm import run_round as plan_and_count
from domain.targets import Target, TargetProblem

T = TypeVar("T")

#: A barrier never holds a batch longer than this (a ping whose connection takes longer goes late).
BARRIER_TIMEOUT_S = 5.0
#: The first launch waits at most this for the preparation (connect timeouts bound it anyway).
PREPARE_WAIT_S = 10.0


@runtime_checkable
class Preconnecting(Protocol):
    """An invoker that can open its connections ahead of a burst (``BotoFunctionInvoker``)."""

    def idle_connections(self) -> int:
        """Drop the connections the service closed; how many open ones are left."""
        ...

    def open_connections(self, count: int) -> int:
        """Open up to ``count`` more at once; how many were opened."""
        ...


@runtime_checkable
class Batching(Protocol):
    """An invoker that can send a whole batch at once from one thread (``BotoFunctionInvoker``)."""

    def sends_batches(self) -> bool:
        """True when :meth:`invoke_many` does (else it needs a thread per request)."""
        ...

    def invoke_many(
        self, requests: list[InvocationRequest], *, before_send: Callable[[], object] | None = None
    ) -> list[InvocationResult]:
        """Every request at once; each one's result, in order; never raises; ``before_send`` once, first."""
        ...


class ThreadDispatcher:
    """Launches batches of pings on ``executor`` under a cap of ``max_in_flight``, and waits for them.

    ``burst``: prepare the round (threads, connections) and release each batch at a barrier (the
    default); False sends each ping as soon as its worker gets to it (the behaviour before, kept
    for the benchmark's comparison and for executors smaller than the cap).
    """

    def __init__(
        self, invoker: FunctionInvoker, executor: Executor, max_in_flight: int, clock: Clock, *, burst: bool = True
    ) -> None:
        self._invoker = invoker
        self._executor = executor
        self._max_in_flight = max_in_flight
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._futures: list[Future[None]] = []
        workers = getattr(executor, "_max_workers", None)  # ThreadPoolExecutor's size; unknown elsewhere
        # A barrier needs every ping of a batch on a worker of its own at once.
        self._barrier = burst and isinstance(workers, int) and workers >= max_in_flight
        self._burst = burst
        self._gated = bool(getattr(invoker, "supports_before_send", False))
        self._batching: bool | None = None  # asked once, at the first need
        self._preparing: threading.Event | None = None
        #: connections opened by the preparation (0 until it is done)
        self.opened = 0

    def prepare(self, pings: int, deadline: Deadline) -> None:
        """Start getting ready for ``pings`` concurrent pings (at most the cap), in the background.

        Starts a worker per ping (only when the invoker cannot send a batch from one thread),
        then drops the connections the service closed since the last round and opens the missing
        ones all at once (non-blocking, one selector). It runs while the
        round looks its targets up; :meth:`launch` waits for it (bounded by the connect timeout,
        never past ``deadline``). Never raises.
        """
        want = min(pings, self._max_in_flight)
        left = deadline.remaining_or_none()
        if not self._burst or want <= 0 or self._preparing is not None or (left is not None and left <= 0):
            return
        ready = threading.Event()
        self._preparing = ready

        def run() -> None:
            try:
                self.opened = self._get_ready(want)
            finally:
                ready.set()

        threading.Thread(target=run, name="keep-warm-prepare", daemon=True).start()

    def _sends_batches(self) -> bool:
        if self._batching is None:
            invoker = self._invoker
            try:
                self._batching = self._burst and isinstance(invoker, Batching) and invoker.sends_batches()
            except Exception:  # noqa: BLE001 - then a thread per ping, which reports what is wrong
                self._batching = False
        return self._batching

    def _get_ready(self, want: int) -> int:
        if not self._sends_batches():
            self._start_workers(want)
        invoker = self._invoker
        if not isinstance(invoker, Preconnecting):
            return 0
        missing = want - invoker.idle_connections()
        return invoker.open_connections(missing) if missing > 0 else 0

    def _start_workers(self, want: int) -> None:
        go = threading.Event()
        # Every task waits until all are submitted: the executor then starts a worker for each
        # (an idle worker would otherwise take the next task, and the burst would start the rest).
        try:
            for _ in range(want):
                self._executor.submit(go.wait, BARRIER_TIMEOUT_S)
        except RuntimeError:
            pass  # the executor was shut down meanwhile
        finally:
            go.set()

    def _wait_ready(self, deadline: Deadline) -> None:
        ready = self._preparing
        if ready is None or ready.is_set():
            return
        left = deadline.remaining_or_none()
        ready.wait(PREPARE_WAIT_S if left is None else max(0.0, min(PREPARE_WAIT_S, left)))

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
        at_once = batch.size > 1 and self._sends_batches()
        if not at_once:
            self._wait_ready(deadline)  # at once, the batch waits for it once signed
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
        requests = [
            InvocationRequest(
                function=batch.function, qualifier=batch.qualifier, payload=payload, read_timeout_s=read_timeout
            )
            for payload in batch.payloads
        ]
        if at_once:
            self._futures.append(self._executor.submit(self._send_batch, flight, requests, deadline))
            return flight
        barrier = threading.Barrier(batch.size) if self._barrier and batch.size > 1 else None
        for index, request in enumerate(requests):
            self._futures.append(self._executor.submit(self._ping, flight, index, request, barrier))
        return flight

    def _send_batch(self, flight: Flight, requests: list[InvocationRequest], deadline: Deadline) -> None:
        invoker = self._invoker
        assert isinstance(invoker, Batching)
        try:
            results = invoker.invoke_many(requests, before_send=lambda: self._wait_ready(deadline))
        except Exception as exc:  # noqa: BLE001 - an adapter bug fails this batch, not the round
            failed = InvocationResult(outcome=Outcome.FAILED, error=f"invoker raised {type(exc).__name__}: {exc}")
            results = [failed] * len(requests)
        if len(results) != len(requests):
            lost = InvocationResult(outcome=Outcome.FAILED, error="the invoker lost results of the batch")
            results = [*results[: len(requests)], *[lost] * (len(requests) - len(results))]
        flight.results[:] = results
        with self._cond:
            self._in_flight -= len(requests)
            flight.finished = self._clock()
            self._cond.notify_all()

    def _ping(
        self, flight: Flight, index: int, request: InvocationRequest, barrier: threading.Barrier | None = None
    ) -> None:
        gate = None if barrier is None else _Gate(barrier)
        try:
            if gate is not None and self._gated:
                result = self._invoker.invoke(request, before_send=gate)  # type: ignore[call-arg]
            else:
                if gate is not None:
                    gate()
                result = self._invoker.invoke(request)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not sink the other pings
            result = InvocationResult(outcome=Outcome.FAILED, error=f"invoker raised {type(exc).__name__}: {exc}")
        finally:
            if gate is not None:
                gate()  # a ping that failed before its barrier must not hold the others
        flight.results[index] = result
        with self._cond:
            self._in_flight -= 1
            flight.finished = self._clock()
            self._cond.notify_all()

    def wait(self) -> None:
        """Block until every launched ping has answered (each is bounded by its read timeout)."""
        futures, self._futures = self._futures, []
        wait_futures(futures)


class _Gate:
    """One ping's passage through its batch's barrier: once, bounded, never raising."""

    __slots__ = ("_barrier", "_passed")

    def __init__(self, barrier: threading.Barrier) -> None:
        self._barrier = barrier
        self._passed = False

    def __call__(self) -> None:
        if self._passed:
            return
        self._passed = True
        try:
            self._barrier.wait(BARRIER_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # one ping came too late: the rest go now rather than not at all


def run_round(
    group: str,
    targets: Sequence[Target | TargetProblem],
    *,
    invoker: FunctionInvoker,
    executor: Executor,
    clock: Clock,
    policy: RoundPolicy | None = None,
    burst: bool = True,
    **options: Any,
) -> RoundReport:
    """:func:`domain.keep_warm.run_round` with its pings on ``executor``'s threads.

    The dispatcher's cap is the policy's ``max_in_flight``, so the plan and the fan-out agree;
    ``burst``: see :class:`ThreadDispatcher`; ``options`` are the round's other arguments
    (``config``, ``load_payload``, ``round_id``, ``deadline``).
    """
    policy = policy or RoundPolicy()
    dispatcher = ThreadDispatcher(invoker, executor, policy.max_in_flight, clock, burst=burst)
    return plan_and_count(group, targets, dispatcher=dispatcher, clock=clock, policy=policy, **options)
