"""What Lambda publishes to CloudWatch, published by the local runner: ``AWS/Lambda`` per minute.

Lambda sends its invocation, performance and concurrency metrics to CloudWatch in 1-minute
intervals (AWS Lambda Developer Guide, "Working with Lambda function metrics" / "Types of
metrics"). The local runner does the same, so that whatever reads those metrics in AWS (the
auto-sizing of keep-warm, ``thermostat advise``) reads them from the local stack's moto too:

================================  =================================================================
metric                            what is put, per 60 s period
================================  =================================================================
``Invocations`` (Count)           invocations that ran (errors included, throttles not), at the
                                  minute they started
``Errors`` (Count)                the invocations among those that ended in a function error
                                  (``FunctionError``: an exception, a timeout, a crash, a failed init)
``Throttles`` (Count)             invocation requests refused with 429 (reserved / account concurrency)
``Duration`` (Milliseconds)       a statistic set (SampleCount, Sum, Minimum, Maximum) of the
                                  invocations' run time
``ConcurrentExecutions`` (Count)  the most invocations in flight at once during the minute (its
                                  ``Maximum`` is the peak; in flight from admission, a cold start's
                                  init included, to the end; one still running is counted in every
                                  minute it spans)
================================  =================================================================

Each is put under the dimension sets Lambda uses: none (the whole region), ``FunctionName``,
``FunctionName`` + ``Resource`` (``name:qualifier``, for an invocation that named a version or an
alias) and, for an alias, ``FunctionName`` + ``Resource`` + ``ExecutedVersion`` (the version the
alias routed it to). An unqualified invocation has only the first two, as in Lambda.

The minute's figures are aggregated here and put by a background flusher every
``interval_s`` (60 s by default, as Lambda; tests and ``THERMOSTAT_LOCAL_METRICS_INTERVAL`` make it
shorter). A flush puts what was gathered since the last one and forgets it: CloudWatch (and moto)
sum the ``Sum`` / ``SampleCount`` and take the extreme ``Minimum`` / ``Maximum`` of the datapoints
put for one period, so a minute put in several parts reads as that minute. Stopping flushes once
more. A failed put is recorded in ``errors``, its datums are put again by the next flush (at most
:data:`MAX_UNSENT` wait), and it never stops the runner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra import aws

NAMESPACE = "AWS/Lambda"
PERIOD_S = 60
DEFAULT_INTERVAL_S = 60.0
#: PutMetricData takes at most 1,000 datums per call; fewer keeps each request well under 1 MB.
MAX_DATUMS_PER_PUT = 500
#: The most datums kept for a later put when puts fail (the oldest go first beyond it).
MAX_UNSENT = 20 * MAX_DATUMS_PER_PUT
#: The most minutes one invocation spans: Lambda's longest timeout (900 s) and the minute it started in.
MAX_GAP_MINUTES = 16
#: ``(("FunctionName", "orders"), ("Resource", "orders:live"))``: one metric's dimensions, in order.
Dimensions = tuple[tuple[str, str], ...]


def dimension_sets(function: str, qualifier: str | None, executed_version: str | None) -> list[Dimensions]:
    """The dimension sets one invocation counts in (see the module docstring)."""
    sets: list[Dimensions] = [(), (("FunctionName", function),)]
    if qualifier:
        resource = (("FunctionName", function), ("Resource", f"{function}:{qualifier}"))
        sets.append(resource)
        if executed_version and qualifier != executed_version and not _is_version(qualifier):
            sets.append((*resource, ("ExecutedVersion", executed_version)))
    return sets


def _is_version(qualifier: str) -> bool:
    return qualifier == "$LATEST" or qualifier.isdigit()


@dataclass
class _Minute:
    """One minute's figures under one dimension set."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    durations: int = 0
    duration_sum: float = 0.0
    duration_min: float = 0.0
    duration_max: float = 0.0
    concurrency: int = 0


@dataclass(frozen=True)
class InFlight:
    """A running invocation, as :meth:`LambdaMetrics.begin` returned it (give it back to ``end``)."""

    sets: tuple[Dimensions, ...]
    minute: int


class LambdaMetrics:
    """Per-minute Lambda metrics of the local runner, and the thread that puts them into CloudWatch.

    ``client`` is a CloudWatch client (default: ``infra.aws.client("cloudwatch")``, which honours
    ``AWS_ENDPOINT_URL[_CLOUDWATCH]``); ``clock`` is wall-clock seconds (the minute a figure
    belongs to). The recording methods are thread-safe and cheap: a lock and a few dict updates.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
        namespace: str = NAMESPACE,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"the metrics flush interval must be > 0 seconds, got {interval_s!r}")
        self._client = aws.LazyClient(client, lambda: aws.client("cloudwatch"))
        self.interval_s = interval_s
        self.namespace = namespace
        self._clock = clock
        self._lock = threading.Lock()
        self._minutes: dict[tuple[int, Dimensions], _Minute] = {}
        self._in_flight: dict[Dimensions, int] = {}
        #: The minute of the last event (epoch seconds).
        self._current = self._minute_of(clock())
        self._put_lock = threading.Lock()
        #: Datums a failed put left behind (a throttle, moto gone for a moment): the next flush retries them.
        self._unsent: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Why puts failed (the runner goes on; the reason is kept for whoever looks).
        self.errors: list[str] = []
        #: Datums put so far (a count, for tests and the status view).
        self.put_count = 0

    # -- recording (called by the runner) -------------------------------------------------------

    def _minute_of(self, now: float) -> int:
        return int(now // PERIOD_S) * PERIOD_S

    def _roll(self) -> int:
        """The current minute, once every minute since the last event starts with what was in flight then.

        Nothing changes between two events, so what was in flight after the last one is what was
        in flight when each later minute began: its concurrency is at least that. (Called holding
        the lock; at most :data:`MAX_GAP_MINUTES` are filled: nothing runs longer than Lambda's timeout.)
        """
        minute = self._minute_of(self._clock())
        if minute > self._current:
            if self._in_flight:
                first = max(self._current + PERIOD_S, minute - MAX_GAP_MINUTES * PERIOD_S)
                for later in range(first, minute + PERIOD_S, PERIOD_S):
                    for dimensions, running in self._in_flight.items():
                        figures = self._at(later, dimensions)
                        figures.concurrency = max(figures.concurrency, running)
            self._current = minute
        return max(minute, self._current)

    def _at(self, minute: int, dimensions: Dimensions) -> _Minute:
        key = (minute, dimensions)
        figures = self._minutes.get(key)
        if figures is None:
            figures = self._minutes[key] = _Minute()
        return figures

    def begin(self, function: str, qualifier: str | None, executed_version: str | None) -> InFlight:
        """An invocation started running: it is in flight until :meth:`end`."""
        sets = tuple(dimension_sets(function, qualifier, executed_version))
        with self._lock:
            minute = self._roll()
            for dimensions in sets:
                running = self._in_flight.get(dimensions, 0) + 1
                self._in_flight[dimensions] = running
                figures = self._at(minute, dimensions)
                figures.concurrency = max(figures.concurrency, running)
        return InFlight(sets, minute)

    def end(self, running: InFlight, *, duration_ms: float | None, error: bool) -> None:
        """The invocation ``running`` ended (``duration_ms`` None: it never ran its handler)."""
        with self._lock:
            self._roll()
            for dimensions in running.sets:
                self._in_flight[dimensions] = max(0, self._in_flight.get(dimensions, 0) - 1)
                if not self._in_flight[dimensions]:
                    del self._in_flight[dimensions]
                # Lambda stamps an invocation's metrics with the time it was invoked.
                figures = self._at(running.minute, dimensions)
                figures.invocations += 1
                figures.errors += int(error)
                if duration_ms is not None:
                    if figures.durations == 0:
                        figures.duration_min = figures.duration_max = duration_ms
                    else:
                        figures.duration_min = min(figures.duration_min, duration_ms)
                        figures.duration_max = max(figures.duration_max, duration_ms)
                    figures.durations += 1
                    figures.duration_sum += duration_ms

    def throttled(self, function: str, qualifier: str | None) -> None:
        """An invocation request of ``function`` was refused for concurrency (429)."""
        with self._lock:
            minute = self._roll()
            for dimensions in dimension_sets(function, qualifier, None):
                self._at(minute, dimensions).throttles += 1

    # -- publishing ------------------------------------------------------------------------------

    def drain(self) -> list[dict[str, Any]]:
        """The ``MetricData`` gathered since the last drain (and forget it)."""
        with self._lock:
            self._roll()  # what is still running counts in this minute too
            minutes, self._minutes = self._minutes, {}
        datums: list[dict[str, Any]] = []
        for (minute, dimensions), figures in sorted(minutes.items()):
            stamp = datetime.fromtimestamp(minute, UTC)
            common = {"Dimensions": [{"Name": name, "Value": value} for name, value in dimensions], "Timestamp": stamp}
            if figures.invocations:
                datums.append({**common, "MetricName": "Invocations", "Value": figures.invocations, "Unit": "Count"})
                datums.append({**common, "MetricName": "Errors", "Value": figures.errors, "Unit": "Count"})
            if figures.durations:
                datums.append(
                    {
                        **common,
                        "MetricName": "Duration",
                        "Unit": "Milliseconds",
                        "StatisticValues": {
                            "SampleCount": figures.durations,
                            "Sum": round(figures.duration_sum, 3),
                            "Minimum": round(figures.duration_min, 3),
                            "Maximum": round(figures.duration_max, 3),
                        },
                    }
                )
            if figures.throttles:
                datums.append({**common, "MetricName": "Throttles", "Value": figures.throttles, "Unit": "Count"})
            if figures.concurrency:
                datums.append(
                    {**common, "MetricName": "ConcurrentExecutions", "Value": figures.concurrency, "Unit": "Count"}
                )
        return datums

    def flush(self) -> int:
        """Put what was gathered since the last flush now; the number of datums put."""
        with self._put_lock:  # the flusher and stop() never interleave their puts
            datums = self._unsent + self.drain()
            self._unsent = []
            put = 0
            for first in range(0, len(datums), MAX_DATUMS_PER_PUT):
                batch = datums[first : first + MAX_DATUMS_PER_PUT]
                try:
                    self._client.get().put_metric_data(Namespace=self.namespace, MetricData=batch)
                except Exception as exc:  # noqa: BLE001 - metrics must never take the runner down; keep why
                    self.errors.append(f"PutMetricData ({len(batch)} datums): {type(exc).__name__}: {exc}")
                    self._unsent.extend(batch)  # put again by the next flush
                    continue
                put += len(batch)
            if len(self._unsent) > MAX_UNSENT:
                dropped = len(self._unsent) - MAX_UNSENT
                self._unsent = self._unsent[dropped:]
                self.errors.append(f"dropped the {dropped} oldest unsent datums (more than {MAX_UNSENT} waiting)")
            self.put_count += put
            return put

    def start(self) -> LambdaMetrics:
        """Start the flusher thread (idempotent): a flush every ``interval_s`` until :meth:`stop`."""
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="lambda-metrics", daemon=True)
                self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the flusher thread runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.flush()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the flusher and put what is left (idempotent)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=timeout_s)
        self.flush()
