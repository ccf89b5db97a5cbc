"""Concurrency rebuilt from Lambda's platform records, where the ``ConcurrentExecutions`` metric is missing.

Each ``REPORT`` record is one finished request: its log event's timestamp is the request's end,
its ``Duration`` how long it ran, so ``[end - duration, end)`` is when it was in flight. A sweep
over those intervals gives the most requests in flight at once in each period (an interval that
crosses a period boundary counts in both periods).

Keep-warm's own pings are not traffic: a request whose thermostat line (the runtime module's
per-invocation record, joined by request id) says ``warm_ping`` is left out. A function that does
not wear the runtime module cannot tell its pings apart: they count (see the README).

Pure: records and request ids in, :class:`~domain.keep_warm.sizing.ConcurrencySample` values out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from domain.keep_warm.sizing import ConcurrencySample

if TYPE_CHECKING:
    from domain.platform_report import PlatformRecord

SOURCE = "platform-records"
_COLD = frozenset({"cold", "restore"})


def matches(record: PlatformRecord, function: str, qualifier: str) -> bool:
    """Whether ``record`` is of ``function:qualifier``: a version names its version; an alias may
    point at any version over the window, so every version counts."""
    if record.function != function.rsplit(":function:", 1)[-1]:
        return False
    return not qualifier.isdigit() or record.version == qualifier


def request_intervals(
    records: Iterable[PlatformRecord], function: str, qualifier: str, kinds: Mapping[str, str]
) -> list[tuple[int, int]]:
    """``[start_ms, end_ms)`` of every real request of ``function:qualifier`` (pings left out)."""
    intervals: list[tuple[int, int]] = []
    for record in records:
        if record.kind != "report" or record.duration_ms is None or not matches(record, function, qualifier):
            continue
        if kinds.get(record.request_id or "") == "warm_ping":
            continue
        end = record.timestamp_ms
        intervals.append((end - max(1, math.ceil(record.duration_ms)), end))
    return intervals


def peak_concurrency(
    intervals: Iterable[tuple[int, int]], start_ms: int, end_ms: int, period_s: int = 3600
) -> list[ConcurrencySample]:
    """Per-period peaks of ``intervals`` over ``[start_ms, end_ms)``, periods aligned to the epoch.

    Periods with no request in flight are left out (``[]``: no traffic).
    """
    if period_s <= 0:
        raise ValueError(f"period {period_s} s is not positive")
    period = period_s * 1000
    # Ends before starts at the same instant: back-to-back requests are not concurrent.
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peaks: dict[int, int] = {}
    level = 0
    held_since = 0
    for instant, delta in events:
        if level > 0 and instant > held_since:
            # ``level`` requests were in flight over [held_since, instant): every period it touches saw them.
            first = held_since - held_since % period
            last = (instant - 1) - (instant - 1) % period
            for boundary in range(first, last + 1, period):
                peaks[boundary] = max(peaks.get(boundary, 0), level)
        level += delta
        held_since = instant
    first_period = start_ms - start_ms % period
    return [
        ConcurrencySample(start_ms=boundary, period_s=period_s, peak=peak, source=SOURCE)
        for boundary, peak in sorted(peaks.items())
        if first_period <= boundary < end_ms and peak > 0
    ]


def with_quiet_periods(
    samples: list[ConcurrencySample],
    records: Iterable[PlatformRecord],
    function: str,
    qualifier: str,
    start_ms: int,
    end_ms: int,
    period_s: int = 3600,
) -> list[ConcurrencySample]:
    """``samples`` plus a zero peak for every period in which only pings ran.

    A period whose records are all keep-warm's pings is known to have had no traffic, which is
    not the same as no data: a caller falling back to another source on ``[]`` (CloudWatch's
    ``ConcurrentExecutions``, which counts the pings) would otherwise read the pings as traffic
    and keep N up forever.
    """
    period = period_s * 1000
    first_period = start_ms - start_ms % period
    busy = {sample.start_ms for sample in samples}
    quiet = {
        record.timestamp_ms - record.timestamp_ms % period
        for record in records
        if record.kind == "report" and matches(record, function, qualifier)
    }
    zeros = [
        ConcurrencySample(start_ms=boundary, period_s=period_s, peak=0, source=SOURCE)
        for boundary in quiet - busy
        if first_period <= boundary < end_ms
    ]
    return sorted([*samples, *zeros], key=lambda sample: sample.start_ms)


def cold_real_requests(
    records: Iterable[PlatformRecord],
    function: str,
    qualifier: str,
    kinds: Mapping[str, str],
    start_ms: int,
    end_ms: int,
) -> int:
    """Real requests of ``function:qualifier`` that ended in ``[start_ms, end_ms)`` after a cold start
    (or a SnapStart restore): thermostat's own start kind where it wrote one, else the platform's."""
    cold = 0
    for record in records:
        if record.kind != "report" or not matches(record, function, qualifier):
            continue
        if not start_ms <= record.timestamp_ms < end_ms:
            continue
        kind = kinds.get(record.request_id or "")
        if kind == "warm_ping":
            continue
        if kind is not None:
            cold += kind in _COLD
        else:
            cold += record.init_ms is not None or record.restore_ms is not None
    return cold
