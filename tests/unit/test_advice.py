"""``domain.advice``: cold-start rate, p95 init, traffic profile, auto schedule, costs and the recommendation.

Records are Lambda's text ``REPORT`` lines in the layout of AWS's "Log and monitor Python Lambda
functions" example (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html), parsed by
the same parser the report uses; the times and durations are this test's.
"""

from __future__ import annotations

import calendar

import pytest

from domain import costs
from domain.advice import (
    AdviceTarget,
    FunctionShape,
    OptionCost,
    advise,
    hour_of_week,
    recommend,
    warm_ping_ids,
)
from domain.platform_report import PlatformRecord, parse_platform_message
from infra.prices import shipped_price_table

pytestmark = pytest.mark.unit

HOUR = 3_600_000
#: Monday 2026-11-02 00:00 UTC.
MONDAY = calendar.timegm((2026, 11, 2, 0, 0, 0)) * 1000
TABLE = shipped_price_table()
X86 = TABLE.prices("us-east-1", "x86_64")
ARM = TABLE.prices("us-east-1", "arm64")
WARMER = costs.WarmerShare(round_ms=1000, targets=1)


def report(request: str, end_ms: int, duration_ms: float, init_ms: float | None = None) -> PlatformRecord:
    line = (
        f"REPORT RequestId: {request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {int(duration_ms) + 1} ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 60 MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    record = parse_platform_message(line, "orders", stream="2026/11/02/[7]abc", timestamp_ms=end_ms)
    assert record is not None
    return record


def weekday_bursts(weeks: int, *, init_ms: float = 800.0) -> list[PlatformRecord]:
    """Every weekday at 09:10, three overlapping 300 ms requests; the first of each day goes cold."""
    records = []
    for week in range(weeks):
        for day in range(5):
            at = MONDAY + week * 168 * HOUR + day * 24 * HOUR + 9 * HOUR + 600_000
            records.extend(
                report(f"w{week}d{day}r{i}", at + 300 + i * 10, 300, init_ms if i == 0 else None) for i in range(3)
            )
    return records


def target(**kw: object) -> AdviceTarget:
    fields: dict[str, object] = {
        "function": "orders",
        "qualifier": "live",
        "shape": FunctionShape(512, "x86_64", "python3.12"),
        "hold_ms": 100,
        "concurrency": 3,
    }
    fields.update(kw)
    return AdviceTarget(**fields)  # type: ignore[arg-type]


def test_hour_of_week_starts_on_monday() -> None:
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + 9 * HOUR + 5) == 9
    assert hour_of_week(MONDAY + 167 * HOUR) == 167
    assert hour_of_week(MONDAY + 168 * HOUR) == 0


def test_weekday_bursts_give_keep_warm_auto_with_hand_computed_costs() -> None:
    # Given two weeks of weekday 09:10 bursts of three, the first cold with an 800 ms init
    records = weekday_bursts(2)
    since, until = MONDAY, MONDAY + 2 * 168 * HOUR
    # When
    advice = advise(target(), records, since_ms=since, until_ms=until, prices=X86, warmer_prices=ARM, warmer=WARMER)
    # Then: the measured figures
    assert advice.requests == 30
    assert advice.cold_starts == 10
    assert advice.cold_rate == pytest.approx(1 / 3)
    assert advice.p95_init_ms == 800.0
    assert advice.peak_concurrency == 3
    assert advice.requests_per_hour[9] == pytest.approx(30 / 14)  # 30 requests over 14 days, all at 09:xx
    assert sum(advice.requests_per_hour) == pytest.approx(30 / 14)
    # the auto schedule warms 3 at 08:00 (ahead of the burst) and 09:00 on weekdays, nothing else
    expected = [0] * 168
    for day in range(5):
        expected[day * 24 + 8] = expected[day * 24 + 9] = 3
    assert advice.auto_schedule == expected
    assert advice.removable == 1.0  # every cold start found no more than 3 in flight
    # the costs, by hand: 10 hours a week x 12 rounds x 3 pings, a week being 730/168 of a month
    pings = 10 * 12 * 3 * 730 / 168
    share = 730 * 3600 / 300 * (ARM.request + 1.0 * 1.0 * ARM.duration_gb_s)
    auto = advice.costs["keep_warm_auto"]
    assert auto is not None
    assert auto.total == pytest.approx(pings * X86.request + pings * 0.1 * 0.5 * X86.duration_gb_s + share)
    fixed = advice.costs["keep_warm_fixed"]
    assert fixed is not None
    fixed_pings = 3 * 730 * 12
    assert fixed.total == pytest.approx(fixed_pings * X86.request + fixed_pings * 0.05 * X86.duration_gb_s + share)
    scheduled = advice.costs["provisioned_scheduled"]
    assert scheduled is not None
    credit = 30 / 2 * 0.3 * 0.5 * 730 / 168 * (X86.duration_gb_s - X86.provisioned_duration_gb_s)
    assert scheduled.total == pytest.approx(30 * 3600 * 0.5 * 730 / 168 * X86.provisioned_gb_s - credit)
    always = advice.costs["provisioned_always_on"]
    assert always is not None
    assert always.total == pytest.approx(3 * 0.5 * 730 * 3600 * X86.provisioned_gb_s - credit)
    snap = advice.costs["snapstart"]
    assert snap is not None  # python3.12: cache all month + one restore per cold start
    restores = 10 / (2 * 168 * 3600) * 730 * 3600
    assert snap.total == pytest.approx(
        0.5 * 730 * 3600 * X86.snapstart_cache_gb_s + restores * 0.5 * X86.snapstart_restore_gb
    )
    # and the recommendation with its reason
    assert advice.recommendation == "keep-warm auto"
    assert advice.reason.startswith(
        f"keep-warm auto: {costs.dollars(auto.total)} / month, removes 100 % of cold starts"
    )
    assert f"provisioned concurrency for the same hours: {costs.dollars(scheduled.total)}" in advice.reason


def test_warm_pings_are_not_real_requests() -> None:
    records = [*weekday_bursts(1), report("ping-1", MONDAY + 3 * HOUR, 100, 900.0)]
    telemetry = [
        {"thermostat": 1, "start_kind": "warm_ping", "request_id": "ping-1", "FunctionName": "orders"},
        {"thermostat": 1, "start_kind": "cold", "request_id": "w0d0r0", "FunctionName": "orders"},
    ]
    pings, layered = warm_ping_ids(telemetry)
    assert pings == {"ping-1"}
    assert layered == {"orders"}
    advice = advise(
        target(),
        records,
        since_ms=MONDAY,
        until_ms=MONDAY + 168 * HOUR,
        prices=X86,
        warmer_prices=ARM,
        warmer=WARMER,
        pings=pings,
    )
    assert advice.requests == 15
    assert advice.pings == 1
    assert advice.cold_starts == 5


def test_other_functions_and_versions_are_left_out() -> None:
    records = weekday_bursts(1)
    other = parse_platform_message(
        "REPORT RequestId: x\tDuration: 5.00 ms\tInit Duration: 900.00 ms", "billing", timestamp_ms=MONDAY + 5
    )
    assert other is not None
    pinned = target(qualifier="8")  # the records are of version 7
    advice = advise(
        pinned,
        [*records, other],
        since_ms=MONDAY,
        until_ms=MONDAY + 168 * HOUR,
        prices=X86,
        warmer_prices=ARM,
        warmer=WARMER,
    )
    assert advice.requests == 0
    assert advice.recommendation == "do nothing"
    assert advice.reason == "no real requests in the window"


def test_rare_cold_starts_mean_do_nothing() -> None:
    # 200 requests an hour apart on Monday-Tuesday... one cold start in 200 is 0.5 %
    records = [report(f"r{i}", MONDAY + i * 600_000 + 50, 50, 900.0 if i == 0 else None) for i in range(200)]
    advice = advise(
        target(), records, since_ms=MONDAY, until_ms=MONDAY + 168 * HOUR, prices=X86, warmer_prices=ARM, warmer=WARMER
    )
    assert advice.cold_rate == pytest.approx(0.005)
    assert advice.recommendation == "do nothing"
    assert advice.reason == "cold starts are rare: 1 of 200 real requests (0.5 %, under 1.0 %)"


def test_cheap_cold_starts_mean_do_nothing() -> None:
    advice = advise(
        target(),
        weekday_bursts(1, init_ms=120.0),
        since_ms=MONDAY,
        until_ms=MONDAY + 168 * HOUR,
        prices=X86,
        warmer_prices=ARM,
        warmer=WARMER,
    )
    assert advice.cold_rate == pytest.approx(1 / 3)
    assert advice.recommendation == "do nothing"
    assert advice.reason == "cold starts are cheap: p95 init 120 ms (under 250 ms)"


def _options(auto: float, scheduled: float, snapstart: float | None) -> dict[str, OptionCost | None]:
    return {
        "keep_warm_auto": OptionCost(total=auto, parts={}),
        "provisioned_scheduled": OptionCost(total=scheduled, parts={}),
        "snapstart": None if snapstart is None else OptionCost(total=snapstart, parts={}),
    }


def test_provisioned_when_it_costs_no_more_than_keep_warm() -> None:
    choice, reason = recommend(
        requests=1000,
        cold_starts=100,
        cold_rate=0.1,
        p95_init_ms=900,
        removable=0.9,
        costs_by_option=_options(12.0, 11.5, None),
    )
    assert choice == "provisioned concurrency (scheduled)"
    assert reason.startswith("provisioned concurrency for the same hours: $11.50 / month")
    assert "keep-warm auto: $12.00 / month, removes 90 % of cold starts" in reason


def test_snapstart_when_keep_warm_would_remove_too_little() -> None:
    choice, reason = recommend(
        requests=1000,
        cold_starts=100,
        cold_rate=0.1,
        p95_init_ms=900,
        removable=0.3,
        costs_by_option=_options(4.1, 31.5, 4.37),
    )
    assert choice == "snapstart"
    assert reason.startswith("SnapStart: $4.37")
    # without SnapStart for the runtime, keep-warm it is
    choice, reason = recommend(
        requests=1000,
        cold_starts=100,
        cold_rate=0.1,
        p95_init_ms=900,
        removable=0.3,
        costs_by_option=_options(4.1, 31.5, None),
    )
    assert choice == "keep-warm auto"
    assert reason == (
        "keep-warm auto: $4.10 / month, removes 30 % of cold starts; provisioned concurrency for the same hours: $31.50"
    )


def test_short_window_is_named() -> None:
    advice = advise(
        target(),
        weekday_bursts(1)[:3],
        since_ms=MONDAY,
        until_ms=MONDAY + 24 * HOUR,
        prices=X86,
        warmer_prices=ARM,
        warmer=WARMER,
    )
    assert any("use --since 1w" in note for note in advice.notes)


def test_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        advise(target(), [], since_ms=MONDAY, until_ms=MONDAY, prices=X86, warmer_prices=ARM, warmer=WARMER)
