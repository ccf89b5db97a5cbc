"""The sizing policy of ``concurrency: auto`` (domain/keep_warm/sizing.py), on given peak series."""

from __future__ import annotations

import pytest

from domain.keep_warm.sizing import (
    HOUR_MS,
    WEEK_MS,
    ConcurrencySample,
    choose_concurrency,
    quantile_high,
    weekly_peaks,
)

pytestmark = pytest.mark.unit

#: A Tuesday 14:20 UTC (2026-12-01T14:20:00Z), in the fifth week of the series.
NOW = 1_796_140_800_000 + 14 * HOUR_MS + 20 * 60_000
HOUR = NOW - NOW % HOUR_MS


def at(week: int, hour: int, peak: int, source: str = "cloudwatch") -> ConcurrencySample:
    """A sample ``week`` weeks ago (0: this week), ``hour`` hours after the current hour's start."""
    return ConcurrencySample(start_ms=HOUR - week * WEEK_MS + hour * HOUR_MS, period_s=3600, peak=peak, source=source)


def test_nearest_rank_quantile_rounds_up() -> None:
    # Given ten values, When the 0.9 and 0.5 quantiles are taken, Then nearest rank picks 9th and 5th
    values = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]
    assert quantile_high(values, 0.9) == 9
    assert quantile_high(values, 0.5) == 5
    # And of four weeks a high quantile is their maximum
    assert quantile_high([3, 8, 2, 5], 0.9) == 8


@pytest.mark.parametrize(
    ("values", "q", "message"), [([], 0.9, "no values"), ([1], 0.0, "not in"), ([1], 1.5, "not in")]
)
def test_quantile_refuses_what_has_no_answer(values: list[int], q: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quantile_high(values, q)


def test_one_peak_per_week_over_this_hour_and_the_next() -> None:
    # Given peaks at this hour and the next one in past weeks, and one two hours ahead (outside)
    samples = [at(1, 0, 4), at(1, 1, 6), at(1, 2, 50), at(2, 0, 3), at(3, 1, 7), at(0, -1, 2), at(0, 0, 5)]
    # When the weekly peaks are taken, Then each week gives its highest sample of the two hours
    assert weekly_peaks(samples, NOW) == [5, 6, 3, 7]


def test_missing_weeks_are_left_out_not_counted_as_zero() -> None:
    # Given data for last week only (the others missing: a new function, a metric not kept)
    samples = [at(1, 0, 6)]
    # When sized, Then the one week present decides, and the reason says how many weeks there were
    decision = choose_concurrency(samples, NOW, minimum=1, maximum=20)
    assert decision.n == 6
    assert decision.weekly_peaks == (6,)
    assert "of 1 weekly peaks" in decision.reason


def test_high_quantile_of_weekly_peaks_within_the_bounds() -> None:
    # Given four weeks and this week at this hour
    samples = [at(0, 0, 2), at(1, 0, 4), at(2, 0, 9), at(3, 0, 5), at(4, 0, 3)]
    decision = choose_concurrency(samples, NOW, minimum=1, maximum=20, quantile=0.5)
    # Then the nearest-rank median of [2, 3, 4, 5, 9] is N, with the data named
    assert decision.n == 4
    assert decision.observed == 4
    assert decision.source == "cloudwatch"
    assert decision.adjustments == ()


def test_samples_older_than_the_window_are_ignored() -> None:
    # Given a huge peak five weeks ago (outside a four-week window) and a small one last week
    decision = choose_concurrency([at(5, 0, 90), at(1, 0, 2)], NOW, minimum=1, maximum=100)
    assert decision.n == 2


@pytest.mark.parametrize(
    ("peak", "minimum", "maximum", "expected", "adjustment"),
    [(1, 3, 10, 3, "min 3"), (40, 1, 10, 10, "max 10"), (5, 1, 10, 5, None)],
)
def test_clamps_to_min_and_max(peak: int, minimum: int, maximum: int, expected: int, adjustment: str | None) -> None:
    decision = choose_concurrency([at(1, 0, peak)], NOW, minimum=minimum, maximum=maximum)
    assert decision.n == expected
    assert decision.adjustments == ((adjustment,) if adjustment else ())
    if adjustment:
        assert decision.reason.endswith(adjustment)


def test_the_headroom_cap_wins_over_min_and_max() -> None:
    # Given an observed 8, a max of 10 and only 3 of reserved concurrency left after the headroom
    decision = choose_concurrency([at(1, 0, 8)], NOW, minimum=4, maximum=10, cap=3)
    # Then N is the cap, below min too: real traffic's share is never taken
    assert decision.n == 3
    assert decision.adjustments == ("cap 3",)
    # And a cap of zero or below gives zero
    assert choose_concurrency([at(1, 0, 8)], NOW, minimum=1, maximum=10, cap=-2).n == 0


def test_cold_real_requests_while_warmed_step_n_up_from_the_previous_n() -> None:
    # Given history that says 2, a previous N of 4, and 3 real requests that still went cold
    decision = choose_concurrency([at(1, 0, 2)], NOW, minimum=1, maximum=10, previous=4, cold_while_warmed=3)
    # Then N is one above the previous N, and the reason says why
    assert decision.n == 5
    assert decision.adjustments[0].startswith("stepped up: 3 real requests went cold while warmed at 4")
    # And the step-up is still clamped to max
    capped = choose_concurrency([at(1, 0, 2)], NOW, minimum=1, maximum=4, previous=4, cold_while_warmed=3)
    assert capped.n == 4
    assert capped.adjustments[-1] == "max 4"


def test_no_step_up_without_cold_requests_or_when_history_already_says_more() -> None:
    assert choose_concurrency([at(1, 0, 2)], NOW, minimum=1, maximum=10, previous=4).n == 2
    more = choose_concurrency([at(1, 0, 7)], NOW, minimum=1, maximum=10, previous=4, cold_while_warmed=1)
    assert more.n == 7
    assert more.adjustments == ()


def test_a_floor_keeps_a_stepped_up_n_for_the_rest_of_the_window() -> None:
    decision = choose_concurrency([at(1, 0, 2)], NOW, minimum=1, maximum=10, previous=5, floor=5)
    assert decision.n == 5
    assert "kept 5" in decision.reason


@pytest.mark.parametrize("samples", [[], [at(1, 0, 0), at(2, 0, 0)]])
def test_no_traffic_in_the_window_falls_to_min(samples: list[ConcurrencySample]) -> None:
    decision = choose_concurrency(samples, NOW, minimum=2, maximum=10, previous=6, cold_while_warmed=0)
    assert decision.n == 2
    assert decision.observed is None
    assert decision.reason.startswith("no traffic at this hour of the week in the last 4 weeks")


def test_traffic_at_other_hours_only_gives_min() -> None:
    # Given traffic six hours from now in past weeks, none at this hour
    decision = choose_concurrency([at(1, 6, 30)], NOW, minimum=1, maximum=10)
    assert decision.n == 1
    assert "no traffic at this hour" in decision.reason


@pytest.mark.parametrize(("minimum", "maximum"), [(-1, 5), (6, 5), (0, 0)])
def test_bad_bounds_are_refused(minimum: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="not valid"):
        choose_concurrency([], NOW, minimum=minimum, maximum=maximum)
