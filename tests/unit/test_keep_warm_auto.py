"""Auto targets in a keep-warm round: sized through the history port, capped, cached, never fatal.

The fleet is test_keep_warm's in-memory one; the history is a fake of the port (a dict of
samples), so every figure below is the sizing policy's, on given series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.errors import Unavailable
from domain.keep_warm import RoundPolicy, RoundReport
from domain.keep_warm.auto import AutoSizer, FirstWithData
from domain.keep_warm.sizing import HOUR_MS, WEEK_MS, ConcurrencySample
from domain.targets import Target, make_target
from infra.fanout import run_round
from tests.unit.test_keep_warm import FakeClock, FakeFleet, FakeFunction, FakePayloads

pytestmark = pytest.mark.unit

NOW = 1_796_140_800_000 + 14 * HOUR_MS + 20 * 60_000
HOUR = NOW - NOW % HOUR_MS


class WallClock:
    def __init__(self, now_ms: int = NOW) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now


class FakeHistory:
    """The ConcurrencyHistory port over given weekly peaks at this hour (or a failure)."""

    def __init__(self, peaks: dict[str, list[int]] | None = None, source: str = "cloudwatch") -> None:
        self.series = peaks or {}
        self.source = source
        self.reads: Counter[str] = Counter()
        self.failure: Exception | None = None

    def peaks(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int = 3600
    ) -> list[ConcurrencySample]:
        self.reads[function] += 1
        if self.failure is not None:
            raise self.failure
        return [
            ConcurrencySample(start_ms=HOUR - week * WEEK_MS, period_s=period_s, peak=peak, source=self.source)
            for week, peak in enumerate(self.series.get(function, []), start=1)
            if start_ms <= HOUR - week * WEEK_MS < end_ms
        ]


class FakeFeedback:
    def __init__(self, cold: int = 0) -> None:
        self.cold = cold
        self.reads = 0

    def cold_requests(self, function: str, qualifier: str, start_ms: int, end_ms: int) -> int:
        self.reads += 1
        return self.cold


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=32)
    yield pool
    pool.shutdown(wait=True)


def play(fleet: FakeFleet, targets: list[Target], executor: ThreadPoolExecutor, sizer: AutoSizer | None) -> RoundReport:
    return run_round(
        "default",
        targets,
        invoker=fleet,
        config=fleet,
        load_payload=FakePayloads(),
        executor=executor,
        clock=FakeClock(),
        round_id="round-1",
        policy=RoundPolicy(max_in_flight=16),
        sizer=sizer,
    )


def auto(function: str, **fields: object) -> Target:
    return make_target(function=function, qualifier="live", concurrency="auto", **fields)


def test_an_auto_target_warms_the_high_quantile_of_its_weekly_peaks(executor) -> None:
    # Given weekly peaks 3, 6, 4, 2 at this hour and bounds 1..10
    history = FakeHistory({"api": [3, 6, 4, 2]})
    fleet = FakeFleet(FakeFunction("api"))
    # When a round runs
    report = play(fleet, [auto("api")], executor, AutoSizer(history, WallClock()))
    [row] = report.targets
    # Then it pings 6 environments (p90 of four weeks is their highest) and says why
    assert (row.concurrency, row.planned, row.environments) == (6, 6, 6)
    assert row.auto is not None
    assert row.auto.n == 6
    assert row.auto.weekly_peaks == [3, 6, 4, 2]
    assert row.auto.reason == "p90 of 4 weekly peaks at this hour = 6 (cloudwatch)"
    assert row.auto.at_ms == NOW
    assert row.auto.fallback is False


def test_the_reserved_concurrency_headroom_caps_n(executor) -> None:
    # Given a burst of 40 last week, max 50, but a reserved concurrency of 10 (headroom 1)
    history = FakeHistory({"api": [40]})
    fleet = FakeFleet(FakeFunction("api", reserved=10))
    report = play(fleet, [auto("api", auto_max=50)], executor, AutoSizer(history, WallClock()))
    [row] = report.targets
    # Then N is 9: real traffic keeps its share
    assert row.auto is not None
    assert row.auto.n == 9
    assert row.auto.adjustments == ["cap 9"]
    assert row.planned == 9


def test_the_in_flight_cap_caps_n(executor) -> None:
    history = FakeHistory({"api": [40]})
    fleet = FakeFleet(FakeFunction("api"))
    report = play(fleet, [auto("api", auto_max=100)], executor, AutoSizer(history, WallClock()))
    assert report.targets[0].auto is not None
    assert report.targets[0].auto.n == 16  # RoundPolicy(max_in_flight=16)


def test_history_is_read_once_per_hour_per_target_not_once_per_round(executor) -> None:
    # Given 30 auto targets and a sizer caching for an hour
    names = [f"fn{i}" for i in range(30)]
    history = FakeHistory({name: [2] for name in names})
    clock = WallClock()
    sizer = AutoSizer(history, clock)
    fleet = FakeFleet(*(FakeFunction(name) for name in names))
    targets = [auto(name) for name in names]
    # When twelve rounds run five minutes apart
    for _ in range(12):
        play(fleet, targets, executor, sizer)
        clock.now += 5 * 60_000
    # Then each target's history was read once (one call per window: 4 past weeks and this one);
    # the next hour reads again
    assert set(history.reads.values()) == {5}
    assert sizer.reads == 30
    play(fleet, targets, executor, sizer)
    assert set(history.reads.values()) == {10}


def test_the_cache_is_bounded(executor) -> None:
    history = FakeHistory({"a": [1], "b": [1], "c": [1]})
    sizer = AutoSizer(history, WallClock(), max_entries=2)
    for name in ("a", "b", "c", "a"):
        sizer.inputs(auto(name))
    # "a" was pushed out by "c" (least recently used), so it was read again (5 windows a read)
    assert history.reads == Counter({"a": 10, "b": 5, "c": 5})


def test_a_failed_history_read_keeps_the_previous_n_and_never_fails_the_round(executor) -> None:
    # Given the history source down, a target whose last round chose 4, and a healthy fixed target
    history = FakeHistory()
    history.failure = Unavailable("cannot read CloudWatch: ThrottlingException")
    fleet = FakeFleet(FakeFunction("api"), FakeFunction("web"))
    targets = [auto("api", auto_n=4, auto_at_ms=NOW - 300_000), make_target(function="web", qualifier="live")]
    report = play(fleet, targets, executor, AutoSizer(history, WallClock()))
    api, web = report.targets
    # Then api is warmed at 4, the report says it fell back and why, and web is warmed as usual
    assert api.auto is not None
    assert (api.auto.n, api.auto.fallback, api.planned, api.environments) == (4, True, 4, 4)
    assert "history unavailable" in api.auto.reason
    assert "kept the previous N 4" in api.auto.reason
    assert any("auto sizing fell back" in warning for warning in api.warnings)
    assert (web.planned, web.environments) == (1, 1)


def test_a_target_in_another_account_is_not_sized_from_this_accounts_history(executor) -> None:
    # Given a history that knows a same-named function here, and the auto target in another account
    history = FakeHistory({"api": [9, 9, 9, 9]})
    fleet = FakeFleet(FakeFunction("api"))
    target = auto("api", account="111111111111", auto_n=3, auto_at_ms=NOW - 300_000)
    report = play(fleet, [target], executor, AutoSizer(history, WallClock()))
    [row] = report.targets
    # Then the history is never asked, the target keeps its last N, and the report says why
    assert history.reads == Counter()
    assert row.auto is not None
    assert (row.auto.n, row.auto.fallback) == (3, True)
    assert "only the control plane's own account and region are" in row.auto.reason


def test_a_failed_read_without_a_previous_n_uses_min() -> None:
    history = FakeHistory()
    history.failure = RuntimeError("adapter bug")
    sizer = AutoSizer(history, WallClock())
    from domain.keep_warm.auto import decide

    target = auto("api", auto_min=2)
    with pytest.raises(Unavailable):
        sizer.inputs(target)
    decision, fallback = decide(target, Unavailable("down"), NOW, cap=None)
    assert (decision.n, fallback) == (2, True)
    assert decision.reason == "history unavailable (down): min 2"


def test_without_a_sizer_an_auto_target_warms_at_min_and_says_so(executor) -> None:
    fleet = FakeFleet(FakeFunction("api"))
    report = play(fleet, [auto("api", auto_min=2)], executor, None)
    [row] = report.targets
    assert row.auto is not None
    assert (row.auto.n, row.planned) == (2, 2)
    assert row.auto.reason == "no concurrency history source: min 2"


def test_cold_real_requests_step_n_up_once_per_read_and_keep_it(executor) -> None:
    # Given history saying 2, a previous N of 3 decided before the read, and cold real requests
    history = FakeHistory({"api": [2]})
    feedback = FakeFeedback(cold=5)
    clock = WallClock()
    sizer = AutoSizer(history, clock, feedback=feedback)
    fleet = FakeFleet(FakeFunction("api"))
    first = play(fleet, [auto("api", auto_n=3, auto_at_ms=NOW - 300_000)], executor, sizer)
    assert first.targets[0].auto is not None
    # Then N steps up to 4
    assert first.targets[0].auto.n == 4
    assert "stepped up: 5 real requests went cold while warmed at 3" in first.targets[0].auto.reason
    # And the next round of the same read (decided after it) keeps 4 instead of stepping again
    clock.now += 300_000
    second = play(fleet, [auto("api", auto_n=4, auto_at_ms=NOW)], executor, sizer)
    assert second.targets[0].auto is not None
    assert second.targets[0].auto.n == 4
    assert feedback.reads == 1


def test_a_read_asks_only_for_the_windows_the_sizing_looks_at() -> None:
    # Given a sizer at Tuesday 14:20 over 4 weeks
    sizer = AutoSizer(FakeHistory(), WallClock())
    # Then it asks for 14:00-16:00 on the last four Tuesdays (oldest first), then 13:00 to now
    assert sizer.windows(NOW) == [
        (HOUR - 4 * WEEK_MS, HOUR - 4 * WEEK_MS + 2 * HOUR_MS),
        (HOUR - 3 * WEEK_MS, HOUR - 3 * WEEK_MS + 2 * HOUR_MS),
        (HOUR - 2 * WEEK_MS, HOUR - 2 * WEEK_MS + 2 * HOUR_MS),
        (HOUR - WEEK_MS, HOUR - WEEK_MS + 2 * HOUR_MS),
        (HOUR - HOUR_MS, NOW + 1),
    ]


def test_no_feedback_read_for_a_target_never_sized_before() -> None:
    feedback = FakeFeedback(cold=5)
    sizer = AutoSizer(FakeHistory({"api": [2]}), WallClock(), feedback=feedback)
    inputs = sizer.inputs(auto("api"))
    assert inputs.cold_while_warmed is None
    assert feedback.reads == 0


def test_no_traffic_sends_n_to_min(executor) -> None:
    fleet = FakeFleet(FakeFunction("api"))
    report = play(fleet, [auto("api", auto_min=1, auto_n=7)], executor, AutoSizer(FakeHistory(), WallClock()))
    assert report.targets[0].auto is not None
    assert report.targets[0].auto.n == 1
    assert report.targets[0].auto.reason.startswith("no traffic at this hour of the week in the last 4 weeks")


def test_the_composite_asks_cloudwatch_first_and_the_platform_records_when_it_has_nothing() -> None:
    cloudwatch = FakeHistory({"api": [5]}, source="cloudwatch")
    platform = FakeHistory({"api": [3], "web": [2]}, source="platform-records")
    both = FirstWithData(cloudwatch, platform)
    assert [s.source for s in both.peaks("api", "live", HOUR - 5 * WEEK_MS, NOW)] == ["cloudwatch"]
    assert [s.source for s in both.peaks("web", "live", HOUR - 5 * WEEK_MS, NOW)] == ["platform-records"]
    assert platform.reads == Counter({"web": 1})
    # And a CloudWatch failure falls back too; both failing names both
    cloudwatch.failure = Unavailable("GetMetricData refused")
    assert both.peaks("api", "live", HOUR - 5 * WEEK_MS, NOW)[0].source == "platform-records"
    platform.failure = Unavailable("FilterLogEvents refused")
    with pytest.raises(Unavailable, match="GetMetricData refused; and the fallback: FilterLogEvents refused"):
        both.peaks("api", "live", HOUR - 5 * WEEK_MS, NOW)
