"""``PlatformRecordsConcurrency``: the concurrency-history port (and cold-start feedback) from CloudWatch Logs.

For functions without the ``ConcurrentExecutions`` metric (or where it is not published, as in a
local stack without metrics): the ``REPORT`` records of the function's log group
(:class:`~infra.platform_source.CloudWatchLogsPlatform`) and thermostat's own per-invocation lines
(:class:`~infra.telemetry_source.CloudWatchLogsTelemetry`, to leave keep-warm's pings out) are
read for the window, and :mod:`domain.keep_warm.platform_concurrency` rebuilds the peaks.

Cost: one ``DescribeLogGroups`` and three filtered ``FilterLogEvents`` scans per read (two
platform patterns, one telemetry pattern) over the window asked for; the sizing asks for the five
2-hour windows it looks at, once an hour per target. ``max_events`` bounds one read; a read that hits it says so
(``Unavailable``), since peaks from a cut read would be wrong, not merely partial.

Built by every keep-warm container (the auto sizer's history), read only for auto targets: the
log readers and the platform records' models are imported by the first read, not at cold start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from domain.errors import Unavailable
from domain.keep_warm.platform_concurrency import (
    cold_real_requests,
    peak_concurrency,
    request_intervals,
    with_quiet_periods,
)

if TYPE_CHECKING:
    from domain.keep_warm.sizing import ConcurrencySample
    from domain.platform_report import PlatformRecord

#: Where Lambda's log groups are (``infra.platform_source.DEFAULT_PREFIX``, not imported: see above).
DEFAULT_PREFIX = "/aws/lambda/"


@dataclass(frozen=True)
class _Read:
    function: str
    start_ms: int
    end_ms: int
    records: list[PlatformRecord]
    kinds: dict[str, str]


class PlatformRecordsConcurrency:
    """The :class:`~domain.keep_warm.sizing.ConcurrencyHistory` and
    :class:`~domain.keep_warm.sizing.ColdFeedback` ports over a function's log group."""

    def __init__(
        self,
        client: Any = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        namespace: str = "Thermostat",
        max_events: int = 500_000,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.namespace = namespace
        self.max_events = max_events
        #: Each thread's last read: the feedback window is inside the history's, so it is not read twice
        #: (per thread: a round reads several targets' histories at once).
        self._local = threading.local()

    @cached_property
    def filter_pattern(self) -> str:
        """The ``FilterLogEvents`` pattern of thermostat's own lines in ``namespace``."""
        from infra.telemetry_source import telemetry_filter_pattern

        return telemetry_filter_pattern(self.namespace)

    def _read(self, function: str, start_ms: int, end_ms: int) -> _Read:
        from domain.platform_report import start_kinds
        from infra.platform_source import CloudWatchLogsPlatform
        from infra.telemetry_source import CloudWatchLogsTelemetry

        last: _Read | None = getattr(self._local, "last", None)
        if last is not None and last.function == function and last.start_ms <= start_ms and end_ms <= last.end_ms:
            return last
        platform = CloudWatchLogsPlatform(
            client=self._client, prefix=self.prefix, functions=(function,), max_events=self.max_events
        )
        read = platform.read(since_ms=start_ms, until_ms=end_ms - 1)
        if read.events >= self.max_events:
            raise Unavailable(
                f"{function}'s platform records hit the read bound of {self.max_events} events: "
                "the concurrency rebuilt from them would be wrong"
            )
        telemetry = CloudWatchLogsTelemetry(
            client=platform.client, prefix=self.prefix + function, filter_pattern=self.filter_pattern
        )
        own = [line for line in telemetry.records(since_ms=start_ms) if line.get("FunctionName") in (None, function)]
        fresh = _Read(function, start_ms, end_ms, read.records, start_kinds(own))
        self._local.last = fresh
        return fresh

    def peaks(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int = 3600
    ) -> list[ConcurrencySample]:
        """Per-period peaks of real requests over ``[start_ms, end_ms)``: a zero peak for a period
        with only pings, ``[]`` when the logs hold no request at all (no data)."""
        read = self._read(function, start_ms, end_ms)
        intervals = request_intervals(read.records, function, qualifier, read.kinds)
        samples = peak_concurrency(intervals, start_ms, end_ms, period_s)
        return with_quiet_periods(samples, read.records, function, qualifier, start_ms, end_ms, period_s)

    def cold_requests(self, function: str, qualifier: str, start_ms: int, end_ms: int) -> int:
        """Real requests that started cold in ``[start_ms, end_ms)``."""
        read = self._read(function, start_ms, end_ms)
        return cold_real_requests(read.records, function, qualifier, read.kinds, start_ms, end_ms)
