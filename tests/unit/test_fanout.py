"""``ThreadDispatcher``: batches that overlap, one global cap, the deadline's cut-off (no network, fake time)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.deadline import Deadline
from domain.invocation import InvocationRequest, InvocationResult, Outcome
from domain.keep_warm import PingBatch
from infra.fanout import ThreadDispatcher
from tests.unit.test_keep_warm import FakeClock

pytestmark = pytest.mark.unit


class Recorder:
    """An invoker whose pings hold until their whole batch (same payload) has arrived."""

    def __init__(self, batch_size: int = 1, gate: threading.Event | None = None) -> None:
        self.batch_size = batch_size
        self.gate = gate
        self.requests: list[InvocationRequest] = []
        self.in_flight = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._arrived: dict[bytes, int] = {}

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        with self._cond:
            self.requests.append(request)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._arrived[request.payload] = self._arrived.get(request.payload, 0) + 1
            self._cond.notify_all()
            # Only pings that really overlap meet their whole batch; the timeout only avoids a hang.
            met = self._cond.wait_for(lambda: self._arrived[request.payload] >= self.batch_size, timeout=10)
        if self.gate is not None:
            self.gate.wait(timeout=10)
        with self._cond:
            self.in_flight -= 1
        if not met:
            return InvocationResult(outcome=Outcome.FAILED, error="the batch did not overlap")
        return InvocationResult(outcome=Outcome.OK, status_code=200, payload={"ok": True})


class Raises:
    def invoke(self, request: InvocationRequest) -> InvocationResult:
        raise RuntimeError("adapter bug")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=8)
    yield pool
    pool.shutdown(wait=True)


def batch(name: str, size: int, *, read_timeout_s: float = 5.0, min_time_s: float = 0.0) -> PingBatch:
    return PingBatch(
        function=name,
        qualifier="live",
        payloads=(name.encode(),) * size,
        read_timeout_s=read_timeout_s,
        min_time_s=min_time_s,
    )


def test_a_batchs_pings_overlap_and_every_result_lands_at_its_index(executor) -> None:
    # Given a cap of 4 and pings that only succeed when their whole batch is in flight together
    clock = FakeClock()
    invoker = Recorder(batch_size=4)
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)
    # When a batch of 4 is launched and waited for
    flight = dispatcher.launch(batch("api", 4), Deadline.never(clock))
    dispatcher.wait()
    # Then all 4 overlapped, and the flight says when it left and came back
    assert flight is not None
    assert [r.outcome if r else None for r in flight.results] == [Outcome.OK] * 4
    assert (flight.started, flight.finished) == (clock(), clock())


def test_the_cap_holds_across_batches_and_each_batch_still_overlaps(executor) -> None:
    # Given a cap of 4 and four batches of 3: two never fit at once
    clock = FakeClock()
    invoker = Recorder(batch_size=3)
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)
    flights = [dispatcher.launch(batch(f"fn-{i}", 3), Deadline.never(clock)) for i in range(4)]
    dispatcher.wait()
    # Then every batch was launched whole, overlapped, and the cap was never passed
    assert all(f is not None and all(r is not None and r.ok for r in f.results) for f in flights)
    assert len(invoker.requests) == 12
    assert invoker.peak <= 4


def test_a_batch_larger_than_the_cap_is_refused(executor) -> None:
    clock = FakeClock()
    dispatcher = ThreadDispatcher(Recorder(), executor, 2, clock)
    with pytest.raises(ValueError, match="max_in_flight=2"):
        dispatcher.launch(batch("big", 3), Deadline.never(clock))


def test_a_deadline_too_close_for_the_hold_sends_nothing(executor) -> None:
    clock = FakeClock()
    invoker = Recorder()
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)
    assert dispatcher.launch(batch("a", 2, min_time_s=0.5), Deadline.after(clock, 0.4)) is None
    assert dispatcher.launch(batch("b", 1), Deadline.after(clock, -1.0)) is None
    dispatcher.wait()
    assert invoker.requests == []


def test_waiting_for_room_stops_when_the_deadline_leaves_too_little(executor) -> None:
    # Given the cap full with pings that hold until released
    clock = FakeClock()
    gate = threading.Event()
    invoker = Recorder(gate=gate)
    dispatcher = ThreadDispatcher(invoker, executor, 2, clock)
    assert dispatcher.launch(batch("first", 2), Deadline.never(clock)) is not None
    # When another batch needs more time than the deadline leaves
    refused = dispatcher.launch(batch("second", 1, min_time_s=1.0), Deadline.after(clock, 0.5))
    gate.set()
    dispatcher.wait()
    # Then it is not launched, and only the first batch was sent
    assert refused is None
    assert {r.function for r in invoker.requests} == {"first"}


def test_the_read_timeout_is_cut_to_the_time_left(executor) -> None:
    clock = FakeClock()
    invoker = Recorder()
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)
    dispatcher.launch(batch("slow", 1, read_timeout_s=11.0), Deadline.after(clock, 5.0))
    dispatcher.launch(batch("quick", 1, read_timeout_s=3.0), Deadline.after(clock, 5.0))
    dispatcher.wait()
    assert {r.function: r.read_timeout_s for r in invoker.requests} == {"slow": 5.0, "quick": 3.0}


def test_an_invoker_that_raises_fails_its_pings_not_the_others(executor) -> None:
    clock = FakeClock()
    dispatcher = ThreadDispatcher(Raises(), executor, 4, clock)
    flight = dispatcher.launch(batch("bug", 2), Deadline.never(clock))
    dispatcher.wait()
    assert flight is not None
    assert [r.outcome if r else None for r in flight.results] == [Outcome.FAILED] * 2
    assert all("invoker raised RuntimeError: adapter bug" in (r.error or "") for r in flight.results if r)


def test_gather_answers_in_order_and_leaves_out_what_the_deadline_cut(executor) -> None:
    clock = FakeClock()
    dispatcher = ThreadDispatcher(Recorder(), executor, 4, clock)
    assert dispatcher.gather([lambda: 1, lambda: 2, lambda: 3], Deadline.never(clock)) == [1, 2, 3]
    # A call still running when the deadline has passed has no answer
    release = threading.Event()
    answers = dispatcher.gather([lambda: release.wait(timeout=10)], Deadline.after(clock, -1.0))
    release.set()
    assert answers == [None]


# -- connect, then fire ------------------------------------------------------------------------


class Gated:
    """An invoker that takes ``before_send`` (like ``BotoFunctionInvoker``) and can open connections.

    It records, for each ping, how many pings of its batch had reached the barrier when it was
    sent: released together, every ping sees the whole batch there.
    """

    supports_before_send = True

    def __init__(self, idle: int = 0) -> None:
        self.idle = idle
        self.opened: list[int] = []
        self.reached = 0
        self.seen_at_send: list[int] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def idle_connections(self) -> int:
        return self.idle

    def open_connections(self, count: int) -> int:
        self.opened.append(count)
        return count

    def invoke(self, request: InvocationRequest, *, before_send=None) -> InvocationResult:  # type: ignore[no-untyped-def]
        with self._lock:
            self.reached += 1
            self.threads.add(threading.get_ident())
        if before_send is not None:
            before_send()
        with self._lock:
            self.seen_at_send.append(self.reached)
        return InvocationResult(outcome=Outcome.OK, status_code=200, payload={"ok": True})


def test_prepare_starts_a_worker_per_ping_and_opens_only_the_missing_connections() -> None:
    # Given a cap of 8, an executor of 8 workers none of which has started, and 3 connections open
    clock = FakeClock()
    invoker = Gated(idle=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        dispatcher = ThreadDispatcher(invoker, pool, 8, clock)  # type: ignore[arg-type]
        assert len(pool._threads) == 0

        # When the round prepares for 8 concurrent pings, then launches them
        dispatcher.prepare(8, Deadline.never(clock))
        flight = dispatcher.launch(batch("api", 8), Deadline.never(clock))
        dispatcher.wait()

        # Then the workers were started and the 5 missing connections opened, before any ping
        assert len(pool._threads) == 8
        assert invoker.opened == [5]
        assert dispatcher.opened == 5
    assert flight is not None
    assert all(r is not None and r.outcome is Outcome.OK for r in flight.results)


def test_a_batchs_pings_leave_together_from_the_barrier(executor) -> None:
    # Given a batch of 8 pings, the executor as large as the cap
    clock = FakeClock()
    invoker = Gated()
    dispatcher = ThreadDispatcher(invoker, executor, 8, clock)  # type: ignore[arg-type]

    # When it is launched
    dispatcher.launch(batch("api", 8), Deadline.never(clock))
    dispatcher.wait()

    # Then no ping was sent before every ping of its batch had reached the barrier
    assert invoker.seen_at_send == [8] * 8


def test_without_burst_or_with_too_few_workers_there_is_no_barrier_to_wait_at(executor) -> None:
    clock = FakeClock()
    for dispatcher in (
        ThreadDispatcher(Gated(), executor, 8, clock, burst=False),  # type: ignore[arg-type]
        ThreadDispatcher(Gated(), executor, 16, clock),  # type: ignore[arg-type] - 8 workers < cap 16
    ):
        dispatcher.prepare(8, Deadline.never(clock))
        flight = dispatcher.launch(batch("api", 8), Deadline.never(clock))
        dispatcher.wait()
        assert flight is not None
        assert all(r is not None and r.outcome is Outcome.OK for r in flight.results)
    assert ThreadDispatcher(Gated(), executor, 8, clock, burst=False).opened == 0  # type: ignore[arg-type]


def test_a_ping_that_fails_before_its_barrier_does_not_hold_the_others(executor) -> None:
    # Given an invoker that raises for one ping of the batch before it reaches the barrier
    class OneRaises(Gated):
        def invoke(self, request: InvocationRequest, *, before_send=None) -> InvocationResult:  # type: ignore[no-untyped-def]
            if request.payload == b"bad":
                raise RuntimeError("adapter bug")
            return super().invoke(request, before_send=before_send)

    clock = FakeClock()
    invoker = OneRaises()
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)  # type: ignore[arg-type]
    pings = PingBatch(
        function="api", qualifier="live", payloads=(b"ok",) * 3 + (b"bad",), read_timeout_s=5.0, min_time_s=0.0
    )

    # When the batch is launched
    flight = dispatcher.launch(pings, Deadline.never(clock))
    dispatcher.wait()

    # Then the three others were sent (after the failed one passed the barrier for them) and the bad one failed
    assert flight is not None
    outcomes = [r.outcome if r is not None else None for r in flight.results]
    assert outcomes == [Outcome.OK, Outcome.OK, Outcome.OK, Outcome.FAILED]
    assert sorted(invoker.seen_at_send) == [3, 3, 3]


class Batches(Recorder):
    """An invoker that sends a batch at once (``invoke_many``); ``invoke`` is only for single pings."""

    def __init__(self, batch_size: int = 1, *, batching: bool = True, idle: int = 0) -> None:
        super().__init__(batch_size)
        self.batching = batching
        self.batches: list[list[InvocationRequest]] = []
        self.idle = idle
        self.opened: list[int] = []
        self.pings_in_flight = 0
        self.peak_pings = 0

    def sends_batches(self) -> bool:
        return self.batching

    def idle_connections(self) -> int:
        return self.idle

    def open_connections(self, count: int) -> int:
        self.opened.append(count)
        return count

    def invoke_many(self, requests: list[InvocationRequest], *, before_send=None) -> list[InvocationResult]:  # type: ignore[no-untyped-def]
        if before_send is not None:
            before_send()
        with self._cond:
            self.batches.append(requests)
            self.pings_in_flight += len(requests)
            self.peak_pings = max(self.peak_pings, self.pings_in_flight)
        # Hold the batch a moment so that batches that could overlap would (bounded, no fake time here)
        threading.Event().wait(0.02)
        with self._cond:
            self.pings_in_flight -= len(requests)
        return [
            InvocationResult(outcome=Outcome.OK, status_code=200, payload={"i": r.payload.decode()}) for r in requests
        ]


def numbered(name: str, size: int) -> PingBatch:
    payloads = tuple(f"{name}-{index}".encode() for index in range(size))
    return PingBatch(function=name, qualifier="live", payloads=payloads, read_timeout_s=5.0, min_time_s=0.0)


def test_a_batch_goes_to_the_invoker_whole_and_each_result_lands_at_its_index(executor) -> None:
    # Given an invoker that sends batches from one thread
    clock = FakeClock()
    invoker = Batches()
    dispatcher = ThreadDispatcher(invoker, executor, 8, clock)  # type: ignore[arg-type]
    # When a batch of 5 is launched
    flight = dispatcher.launch(numbered("api", 5), Deadline.never(clock))
    dispatcher.wait()
    # Then it went to invoke_many once, whole, in order, with the batch's read timeout, and no ping alone
    assert [[r.payload for r in batch] for batch in invoker.batches] == [[f"api-{i}".encode() for i in range(5)]]
    assert {r.read_timeout_s for r in invoker.batches[0]} == {5.0}
    assert invoker.requests == []
    assert flight is not None
    assert [r.payload if r else None for r in flight.results] == [{"i": f"api-{i}"} for i in range(5)]
    assert flight.finished == clock()


def test_batches_sent_at_once_still_keep_the_cap(executor) -> None:
    # Given a cap of 4 and four batches of 3: no two fit at once
    clock = FakeClock()
    invoker = Batches()
    dispatcher = ThreadDispatcher(invoker, executor, 4, clock)  # type: ignore[arg-type]
    flights = [dispatcher.launch(numbered(f"fn-{i}", 3), Deadline.never(clock)) for i in range(4)]
    dispatcher.wait()
    assert len(invoker.batches) == 4
    assert all(f is not None and all(r is not None and r.ok for r in f.results) for f in flights)
    assert invoker.peak_pings <= 4


def test_a_batch_whose_invoker_raises_fails_its_pings_and_the_round_goes_on(executor) -> None:
    class Breaks(Batches):
        def invoke_many(self, requests: list[InvocationRequest], *, before_send=None) -> list[InvocationResult]:  # type: ignore[no-untyped-def]
            if requests[0].function == "bad":
                raise RuntimeError("adapter bug")
            return super().invoke_many(requests, before_send=before_send)

    clock = FakeClock()
    dispatcher = ThreadDispatcher(Breaks(), executor, 8, clock)  # type: ignore[arg-type]
    bad = dispatcher.launch(numbered("bad", 3), Deadline.never(clock))
    good = dispatcher.launch(numbered("good", 3), Deadline.never(clock))
    dispatcher.wait()
    assert bad is not None
    assert good is not None
    assert [r.outcome if r else None for r in bad.results] == [Outcome.FAILED] * 3
    assert all(r is not None and "invoker raised RuntimeError: adapter bug" in (r.error or "") for r in bad.results)
    assert [r.outcome if r else None for r in good.results] == [Outcome.OK] * 3
    # and the cap was given back: another batch of 8 still fits
    assert dispatcher.launch(numbered("after", 8), Deadline.never(clock)) is not None
    dispatcher.wait()


def test_prepare_opens_connections_but_starts_no_worker_per_ping_when_the_invoker_sends_batches() -> None:
    clock = FakeClock()
    invoker = Batches(idle=2)
    with ThreadPoolExecutor(max_workers=8) as pool:
        dispatcher = ThreadDispatcher(invoker, pool, 8, clock)  # type: ignore[arg-type]
        dispatcher.prepare(8, Deadline.never(clock))
        flight = dispatcher.launch(numbered("api", 8), Deadline.never(clock))
        dispatcher.wait()
        # One worker ran the whole batch; the 6 missing connections were opened ahead
        assert len(pool._threads) == 1
        assert invoker.opened == [6]
    assert flight is not None
    assert all(r is not None and r.ok for r in flight.results)


def test_without_batches_or_for_a_single_ping_each_ping_is_invoked_on_its_own(executor) -> None:
    clock = FakeClock()
    for invoker, size in ((Batches(batching=False), 3), (Batches(), 1)):
        dispatcher = ThreadDispatcher(invoker, executor, 8, clock)  # type: ignore[arg-type]
        flight = dispatcher.launch(numbered("api", size), Deadline.never(clock))
        dispatcher.wait()
        assert invoker.batches == []
        assert len(invoker.requests) == size
        assert flight is not None
        assert all(r is not None and r.ok for r in flight.results)
    # burst=False is the behaviour before: a thread per ping, whatever the invoker can do
    plain = Batches()
    dispatcher = ThreadDispatcher(plain, executor, 8, clock, burst=False)  # type: ignore[arg-type]
    dispatcher.launch(numbered("api", 3), Deadline.never(clock))
    dispatcher.wait()
    assert plain.batches == []
    assert len(plain.requests) == 3
