"""The local runner's per-minute ``AWS/Lambda`` figures, before anything is put (no network).

Dimensions and statistics as AWS documents them: AWS Lambda Developer Guide, "Working with Lambda
function metrics" (awsdocs/aws-lambda-developer-guide, doc_source/monitoring-metrics.md):
``FunctionName`` (all versions and aliases), ``Resource`` (a version or alias: ``name:qualifier``),
``ExecutedVersion`` (an alias and the version it ran), none (the whole region); ``Invocations``,
``Errors``, ``Throttles`` are read with ``Sum``, ``Duration`` with Average/Max, ``ConcurrentExecutions``
with ``Max``; the timestamp of an invocation's metrics is when it was invoked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.runner_metrics import LambdaMetrics, dimension_sets
from tests.fakes import ManualClock

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0  # a whole minute (epoch seconds divisible by 60)
FN = (("FunctionName", "orders"),)
LIVE = (*FN, ("Resource", "orders:live"))
LIVE_V3 = (*LIVE, ("ExecutedVersion", "3"))


def _by(datums: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...], datetime], dict[str, Any]]:
    return {
        (d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"]), d["Timestamp"]): d for d in datums
    }


def _minute(offset_min: int) -> datetime:
    return datetime.fromtimestamp(T0 + 60 * offset_min, UTC)


def test_dimension_sets_are_lambda_s() -> None:
    # An unqualified invocation: the region and the function; a version: + Resource; an alias: + ExecutedVersion
    assert dimension_sets("orders", None, "$LATEST") == [(), FN]
    assert dimension_sets("orders", "3", "3") == [(), FN, (*FN, ("Resource", "orders:3"))]
    assert dimension_sets("orders", "$LATEST", "$LATEST") == [(), FN, (*FN, ("Resource", "orders:$LATEST"))]
    assert dimension_sets("orders", "live", "3") == [(), FN, LIVE, LIVE_V3]


def test_a_minute_of_overlapping_invocations_is_counted_as_lambda_counts_it() -> None:
    # Given three invocations of orders:live in flight together, one of them failing, and one throttled request
    clock = ManualClock(T0 + 5)
    metrics = LambdaMetrics(clock=clock)
    running = [metrics.begin("orders", "live", "3") for _ in range(3)]
    metrics.throttled("orders", "live")
    clock.now = T0 + 20
    metrics.end(running[0], duration_ms=100.0, error=False)
    metrics.end(running[1], duration_ms=300.0, error=True)
    metrics.end(running[2], duration_ms=200.0, error=False)
    # And a later one alone
    later = metrics.begin("orders", "live", "3")
    metrics.end(later, duration_ms=50.0, error=False)

    # When the minute is drained
    datums = _by(metrics.drain())

    # Then per dimension set: 4 invocations, 1 error, 1 throttle, peak 3, a duration statistic set
    for dims in ((), FN, LIVE):
        assert datums[("Invocations", dims, _minute(0))]["Value"] == 4
        assert datums[("Errors", dims, _minute(0))]["Value"] == 1
        assert datums[("Throttles", dims, _minute(0))]["Value"] == 1
        assert datums[("ConcurrentExecutions", dims, _minute(0))]["Value"] == 3
        assert datums[("Duration", dims, _minute(0))]["StatisticValues"] == {
            "SampleCount": 4,
            "Sum": 650.0,
            "Minimum": 50.0,
            "Maximum": 300.0,
        }
    # And the alias' executed version has the invocations, but a throttle never ran a version
    assert datums[("Invocations", LIVE_V3, _minute(0))]["Value"] == 4
    assert ("Throttles", LIVE_V3, _minute(0)) not in datums
    assert datums[("Duration", FN, _minute(0))]["Unit"] == "Milliseconds"
    # And a second drain has nothing new to put
    assert metrics.drain() == []


def test_an_invocation_spanning_minutes_is_concurrency_in_each_and_counted_when_invoked() -> None:
    # Given one invocation started in minute 0 and another one in minute 0 that ends quickly
    clock = ManualClock(T0 + 50)
    metrics = LambdaMetrics(clock=clock)
    long_one = metrics.begin("orders", None, "$LATEST")
    short = metrics.begin("orders", None, "$LATEST")
    metrics.end(short, duration_ms=10.0, error=False)
    # When nothing happens until minute 3, where the long one ends
    clock.now = T0 + 3 * 60 + 1
    metrics.end(long_one, duration_ms=131_000.0, error=False)
    datums = _by(metrics.drain())

    # Then minute 0 peaked at 2, minutes 1-3 at 1 (it was running as each began)
    assert datums[("ConcurrentExecutions", FN, _minute(0))]["Value"] == 2
    assert [datums[("ConcurrentExecutions", FN, _minute(m))]["Value"] for m in (1, 2, 3)] == [1, 1, 1]
    # And both invocations are stamped with the minute they were invoked in
    assert datums[("Invocations", FN, _minute(0))]["Value"] == 2
    assert ("Invocations", FN, _minute(3)) not in datums
    assert datums[("Duration", FN, _minute(0))]["StatisticValues"]["Maximum"] == 131_000.0


def test_what_is_still_running_at_a_drain_is_concurrency_of_that_minute() -> None:
    # Given an invocation started in minute 0 and drained then
    clock = ManualClock(T0 + 1)
    metrics = LambdaMetrics(clock=clock)
    running = metrics.begin("orders", "live", "3")
    assert _by(metrics.drain())[("ConcurrentExecutions", LIVE, _minute(0))]["Value"] == 1
    # When the next drain comes in minute 1 while it still runs
    clock.now = T0 + 61
    datums = _by(metrics.drain())
    # Then minute 1 has it in flight, and no invocation yet (it has not ended)
    assert datums[("ConcurrentExecutions", LIVE, _minute(1))]["Value"] == 1
    assert ("Invocations", LIVE, _minute(1)) not in datums
    # And once it ends, minute 0 (when it was invoked) gets its invocation in a later put
    metrics.end(running, duration_ms=61_000.0, error=False)
    assert _by(metrics.drain())[("Invocations", LIVE, _minute(0))]["Value"] == 1


def test_an_invocation_that_never_ran_its_handler_has_no_duration() -> None:
    # Given a cold start whose init failed (the runner ends it with no duration, as an error)
    metrics = LambdaMetrics(clock=ManualClock(T0))
    metrics.end(metrics.begin("orders", None, "$LATEST"), duration_ms=None, error=True)
    datums = _by(metrics.drain())
    # Then it counts as an invocation and an error, with no Duration datapoint
    assert datums[("Invocations", FN, _minute(0))]["Value"] == 1
    assert datums[("Errors", FN, _minute(0))]["Value"] == 1
    assert not [key for key in datums if key[0] == "Duration"]


def test_a_bad_interval_is_refused_with_what_to_give() -> None:
    with pytest.raises(ValueError, match="flush interval must be > 0 seconds"):
        LambdaMetrics(interval_s=0)
