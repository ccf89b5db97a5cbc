"""Concurrency rebuilt from platform REPORT records (domain/keep_warm/platform_concurrency.py).

The lines follow AWS's documented text ``REPORT`` layout ("Log and monitor Python Lambda
functions", https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html, example log output:
``REPORT RequestId: … Duration: 15.74 ms Billed Duration: 16 ms Memory Size: 128 MB Max Memory
Used: 56 MB Init Duration: 130.49 ms``), with request ids and durations of the test's own; the log
event's timestamp is the request's end, as Lambda writes the line when the request finishes.
"""

from __future__ import annotations

import pytest

from domain.keep_warm.platform_concurrency import (
    cold_real_requests,
    peak_concurrency,
    request_intervals,
    with_quiet_periods,
)
from domain.keep_warm.sizing import choose_concurrency
from domain.platform_report import PlatformRecord, parse_platform_message

pytestmark = pytest.mark.unit

HOUR = 3_600_000
T0 = 1_796_140_800_000  # an hour boundary


def report(request: str, end_ms: int, duration_ms: float, *, cold: bool = False, version: str = "3") -> PlatformRecord:
    line = (
        f"REPORT RequestId: {request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {int(duration_ms) + 1} ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 56 MB" + ("\tInit Duration: 130.49 ms" if cold else "")
    )
    record = parse_platform_message(line, "orders", stream=f"2026/12/01/[{version}]abc", timestamp_ms=end_ms)
    assert record is not None
    return record


def test_overlapping_requests_make_the_peak_and_back_to_back_ones_do_not() -> None:
    # Given three requests in flight together (ending at +1.0 s, +1.2 s, +1.5 s, each ~1 s long)
    # and two back to back afterwards (one ends exactly when the next starts)
    records = [
        report("a", T0 + 1_000, 900.0),
        report("b", T0 + 1_200, 1_000.0),
        report("c", T0 + 1_500, 1_000.0),
        report("d", T0 + 5_000, 1_000.0),
        report("e", T0 + 6_000, 1_000.0),
    ]
    intervals = request_intervals(records, "orders", "live", {})
    # When the peaks are swept per hour
    [sample] = peak_concurrency(intervals, T0, T0 + HOUR)
    # Then the hour's peak is 3, not 5 (d and e never overlap)
    assert (sample.start_ms, sample.peak, sample.period_s, sample.source) == (T0, 3, 3600, "platform-records")


def test_a_request_across_an_hour_boundary_counts_in_both_hours() -> None:
    records = [report("a", T0 + HOUR + 2_000, 5_000.0), report("b", T0 + HOUR + 2_500, 1_000.0)]
    samples = peak_concurrency(request_intervals(records, "orders", "live", {}), T0, T0 + 2 * HOUR)
    assert [(s.start_ms, s.peak) for s in samples] == [(T0, 1), (T0 + HOUR, 2)]


def test_keep_warm_pings_are_not_traffic() -> None:
    # Given five overlapping requests, three of them keep-warm's pings (thermostat's own lines say so)
    records = [report(f"r{i}", T0 + 1_000 + i, 500.0) for i in range(5)]
    kinds = {"r0": "warm_ping", "r1": "warm_ping", "r2": "warm_ping", "r3": "warm"}
    [sample] = peak_concurrency(request_intervals(records, "orders", "live", kinds), T0, T0 + HOUR)
    # Then only the two real requests count
    assert sample.peak == 2


def test_only_pings_is_no_traffic() -> None:
    records = [report("p", T0 + 1_000, 100.0)]
    assert peak_concurrency(request_intervals(records, "orders", "live", {"p": "warm_ping"}), T0, T0 + HOUR) == []


def test_a_version_qualifier_counts_its_version_only_and_an_alias_every_version() -> None:
    records = [report("a", T0 + 1_000, 900.0, version="3"), report("b", T0 + 1_100, 900.0, version="4")]
    assert peak_concurrency(request_intervals(records, "orders", "3", {}), T0, T0 + HOUR)[0].peak == 1
    assert peak_concurrency(request_intervals(records, "orders", "live", {}), T0, T0 + HOUR)[0].peak == 2
    assert request_intervals(records, "payments", "live", {}) == []


def test_periods_outside_the_window_are_left_out() -> None:
    records = [report("a", T0 - HOUR + 1_000, 500.0), report("b", T0 + 1_000, 500.0)]
    samples = peak_concurrency(request_intervals(records, "orders", "live", {}), T0, T0 + HOUR)
    assert [s.start_ms for s in samples] == [T0]


def test_a_bad_period_is_refused() -> None:
    with pytest.raises(ValueError, match="not positive"):
        peak_concurrency([], T0, T0 + HOUR, period_s=0)


def test_cold_real_requests_leave_pings_out_and_prefer_thermostat_s_own_kind() -> None:
    # Given a cold real request, a ping that found a cold environment, a restore thermostat saw,
    # and a warm request outside the window
    records = [
        report("cold", T0 + 1_000, 100.0, cold=True),
        report("ping", T0 + 2_000, 100.0, cold=True),
        report("restored", T0 + 3_000, 100.0),
        report("late", T0 + HOUR + 10, 100.0, cold=True),
    ]
    kinds = {"ping": "warm_ping", "restored": "restore"}
    # Then two real requests started cold in the window
    assert cold_real_requests(records, "orders", "live", kinds, T0, T0 + HOUR) == 2


def test_an_hour_of_pings_only_is_known_quiet_not_missing_and_sizes_to_min() -> None:
    # Given an hour in which only keep-warm's pings ran (5 overlapping), and an hour with one real request
    pings = [report(f"p{i}", T0 + 1_000 + i, 500.0) for i in range(5)]
    real = [report("r", T0 + HOUR + 1_000, 100.0)]
    kinds = {f"p{i}": "warm_ping" for i in range(5)}
    records = [*pings, *real]
    busy = peak_concurrency(request_intervals(records, "orders", "live", kinds), T0, T0 + 2 * HOUR)
    # When the quiet periods are added
    samples = with_quiet_periods(busy, records, "orders", "live", T0, T0 + 2 * HOUR)
    # Then the pings' hour is a zero peak (no traffic, which is data), the other its real peak
    assert [(s.start_ms, s.peak) for s in samples] == [(T0, 0), (T0 + HOUR, 1)]
    # And a window holding only the pings' hour sizes to min: a fallback to CloudWatch (which counts
    # the pings) is never asked, since the answer is not empty
    quiet = with_quiet_periods([], pings, "orders", "live", T0, T0 + HOUR)
    assert [s.peak for s in quiet] == [0]
    decision = choose_concurrency(quiet, T0 + HOUR - 1, minimum=1, maximum=10)
    assert decision.n == 1
    assert "no traffic" in decision.reason
    # And a window with no record at all is no data: []
    assert with_quiet_periods([], [], "orders", "live", T0, T0 + HOUR) == []
