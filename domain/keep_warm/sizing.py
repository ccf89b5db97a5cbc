"""Adaptive keep-warm (``concurrency: auto``): how many environments a round should keep warm.

N comes from the function's observed concurrency: the per-period peaks (CloudWatch's
``ConcurrentExecutions`` maximum, or the concurrency rebuilt from the platform ``REPORT`` records)
in the same hour of the week over the last weeks. One peak per week is taken for that hour (and
the next one, so that a round warms ahead of a ramp), a high quantile of those weekly peaks is N,
then feedback and clamps apply:

- real requests that still went cold while the target was warmed step N up from the previous N;
- no traffic at all in the window sends N to ``minimum``;
- N is clamped to ``[minimum, maximum]`` and never exceeds ``cap`` (the reserved-concurrency
  headroom or the global in-flight cap, whichever the caller knows is smaller).

Pure: the caller reads the history (port :class:`ConcurrencyHistory`) and the feedback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS
DEFAULT_WEEKS = 4
DEFAULT_QUANTILE = 0.9


@dataclass(frozen=True)
class ConcurrencySample:
    """The peak concurrency of one function qualifier in one period."""

    #: Start of the period, UTC epoch milliseconds.
    start_ms: int
    #: Length of the period, seconds.
    period_s: int
    #: The most requests in flight at once during the period.
    peak: int
    #: Where it came from: ``cloudwatch`` or ``platform-records``.
    source: str


class ConcurrencyHistory(Protocol):
    """Port: a function qualifier's observed concurrency over time."""

    def peaks(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int = 3600
    ) -> list[ConcurrencySample]:
        """Per-period peaks over ``[start_ms, end_ms)``; ``[]`` when there is no data (no traffic, or
        no metric); ``Unavailable`` when it cannot be read."""
        ...


class ColdFeedback(Protocol):
    """Port: how many real requests (not keep-warm's pings) started cold in a window (fleet truth)."""

    def cold_requests(self, function: str, qualifier: str, start_ms: int, end_ms: int) -> int:
        """Cold (or restored) real requests of ``function:qualifier`` in ``[start_ms, end_ms)``;
        ``Unavailable`` when it cannot be read."""
        ...


@dataclass(frozen=True)
class SizingDecision:
    """The N a round uses for an auto target, and why (shown in the round report and ``targets list``)."""

    n: int
    reason: str
    #: The weekly peaks the quantile was taken over (newest week first).
    weekly_peaks: tuple[int, ...] = ()
    quantile: float = DEFAULT_QUANTILE
    #: N before feedback and clamps (None: no traffic in the window).
    observed: int | None = None
    source: str | None = None
    #: The clamps and feedback that changed N, in order (``stepped up``, ``min``, ``max``, ``cap``).
    adjustments: tuple[str, ...] = field(default_factory=tuple)


def quantile_high(values: Sequence[int], q: float) -> int:
    """The nearest-rank ``q`` quantile (rounds up: a high quantile of few weeks is their maximum)."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def weekly_peaks(
    samples: Sequence[ConcurrencySample], now_ms: int, *, weeks: int = DEFAULT_WEEKS, ahead_hours: int = 1
) -> list[int]:
    """One peak per past week: the highest sample in this hour of the week and the ``ahead_hours`` after it.

    Week ``k`` (1 = last week) covers ``[now - k weeks, now - k weeks + (1 + ahead_hours) hours)``,
    starting at the top of the hour; samples of the current week count as week 0 (what is
    happening right now). Weeks with no sample are left out (no data is not zero traffic).
    """
    hour_start = now_ms - now_ms % HOUR_MS
    span = (1 + ahead_hours) * HOUR_MS
    peaks: list[int] = []
    for k in range(weeks + 1):
        if k == 0:  # this week: the hour before this one and this one so far
            inside = [s.peak for s in samples if hour_start - HOUR_MS <= s.start_ms <= now_ms]
        else:
            start = hour_start - k * WEEK_MS
            inside = [s.peak for s in samples if start <= s.start_ms < start + span]
        if inside:
            peaks.append(max(inside))
    return peaks


def choose_concurrency(
    samples: Sequence[ConcurrencySample],
    now_ms: int,
    *,
    minimum: int,
    maximum: int,
    cap: int | None = None,
    previous: int | None = None,
    cold_while_warmed: int = 0,
    quantile: float = DEFAULT_QUANTILE,
    weeks: int = DEFAULT_WEEKS,
    step: int = 1,
    floor: int | None = None,
) -> SizingDecision:
    """Size an auto target for the round at ``now_ms`` (see the module docstring).

    ``floor``: an N already stepped up on the same evidence (a later round of the same feedback
    window keeps it instead of stepping again, or falling back); min, max and cap still apply.
    """
    if minimum < 0 or maximum < max(minimum, 1):
        raise ValueError(f"auto bounds [{minimum}, {maximum}] are not valid: need 0 <= min <= max and max >= 1")
    window_start = now_ms - now_ms % HOUR_MS - weeks * WEEK_MS
    in_window = [s for s in samples if window_start <= s.start_ms <= now_ms]
    source = in_window[0].source if in_window else None
    adjustments: list[str] = []
    if not in_window or all(s.peak == 0 for s in in_window):
        n, observed, peaks = minimum, None, []
        reason = f"no traffic at this hour of the week in the last {weeks} weeks: min {minimum}"
    else:
        peaks = weekly_peaks(in_window, now_ms, weeks=weeks)
        observed = quantile_high(peaks, quantile) if peaks else 0
        n = observed
        reason = (
            f"p{round(quantile * 100)} of {len(peaks)} weekly peaks at this hour = {observed} ({source})"
            if peaks
            else f"no traffic at this hour of the week in the last {weeks} weeks"
        )
        if cold_while_warmed > 0 and previous is not None and n <= previous:
            n = previous + step
            adjustments.append(f"stepped up: {cold_while_warmed} real requests went cold while warmed at {previous}")
        elif floor is not None and n < floor:
            n = floor
            adjustments.append(f"kept {floor}: stepped up earlier in this feedback window")
    if n < minimum:
        n = minimum
        adjustments.append(f"min {minimum}")
    if n > maximum:
        n = maximum
        adjustments.append(f"max {maximum}")
    if cap is not None and n > cap:
        n = max(0, cap)
        adjustments.append(f"cap {cap}")
    if adjustments:
        reason = reason + "; " + "; ".join(adjustments)
    return SizingDecision(
        n=n,
        reason=reason,
        weekly_peaks=tuple(peaks),
        quantile=quantile,
        observed=observed,
        source=source,
        adjustments=tuple(adjustments),
    )
