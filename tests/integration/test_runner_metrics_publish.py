"""The local runner's ``AWS/Lambda`` flusher against moto: a flush on stop, and puts that CloudWatch throttles.

What is put is read back with GetMetricData (moto as the oracle of CloudWatch's aggregation:
several datapoints put for one minute read as that minute's Sum / Maximum / SampleCount). The
throttle is injected on the network path (:class:`tests.faultproxy.FaultProxy` in front of moto's
server), answering as CloudWatch answers botocore's JSON 1.0 requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.runner_metrics import LambdaMetrics
from infra import aws
from tests.cloudwatch import THROTTLED, proxied_cloudwatch, statistic
from tests.fakes import ManualClock
from tests.faultproxy import Fault, FaultProxy, Rule

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0  # a whole minute


def _read(cloudwatch: Any, metric: str, stat: str, dimensions: dict[str, str]) -> list[float]:
    return statistic(cloudwatch, metric, stat, dimensions, T0 - 600, T0 + 600, period=60)


def test_a_minute_put_in_parts_reads_as_one_minute_and_stop_flushes_the_rest(moto_aws: None) -> None:
    # Given a flusher that would not run for ten minutes
    clock = ManualClock(T0 + 1)
    metrics = LambdaMetrics(interval_s=600, clock=clock).start()
    assert metrics.running
    running = [metrics.begin("orders", "live", "3") for _ in range(2)]
    metrics.end(running[0], duration_ms=100.0, error=False)
    # When part of the minute is flushed by hand, and the rest only by stop()
    assert metrics.flush() > 0
    metrics.end(running[1], duration_ms=300.0, error=True)
    metrics.stop()
    cloudwatch = aws.client("cloudwatch")
    live = {"FunctionName": "orders", "Resource": "orders:live"}

    # Then CloudWatch reads one minute with both invocations
    assert _read(cloudwatch, "Invocations", "Sum", live) == [2.0]
    assert _read(cloudwatch, "Errors", "Sum", live) == [1.0]
    assert _read(cloudwatch, "ConcurrentExecutions", "Maximum", live) == [2.0]
    assert _read(cloudwatch, "Duration", "SampleCount", live) == [2.0]
    assert _read(cloudwatch, "Duration", "Average", live) == [200.0]
    assert _read(cloudwatch, "Duration", "Maximum", live) == [300.0]
    # And the flusher thread is gone, and stopping again puts nothing twice
    assert not metrics.running
    metrics.stop()
    assert _read(cloudwatch, "Invocations", "Sum", live) == [2.0]


@pytest.fixture
def proxied(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with proxied_cloudwatch(moto_server, monkeypatch) as proxy:
        yield proxy


def test_a_throttled_put_is_recorded_and_put_again_by_the_next_flush(proxied: FaultProxy) -> None:
    # Given a minute of figures and PutMetricData throttled once by CloudWatch
    rule = proxied.add(
        Rule(
            fault=Fault.ANSWER,
            target="PutMetricData",
            status=400,
            reply=THROTTLED,
            content_type="application/x-amz-json-1.0",
            times=1,
        )
    )
    metrics = LambdaMetrics(interval_s=600, clock=ManualClock(T0 + 1))
    metrics.end(metrics.begin("orders", None, "$LATEST"), duration_ms=5.0, error=False)

    # When it is flushed: nothing is put, and the reason is kept
    assert metrics.flush() == 0
    assert rule.taken == 1
    assert len(metrics.errors) == 1
    assert "PutMetricData" in metrics.errors[0]
    assert "Throttling" in metrics.errors[0]
    # Then the next flush puts the same figures, once
    assert metrics.flush() > 0
    assert metrics.flush() == 0
    cloudwatch = aws.client("cloudwatch")
    assert _read(cloudwatch, "Invocations", "Sum", {"FunctionName": "orders"}) == [1.0]


def test_a_refused_put_shows_in_the_local_stack_s_recent_errors(aws_env: None, tmp_path: Any) -> None:
    # Given a stack whose metrics client CloudWatch throttles (botocore's Stubber: the client, not our adapter)
    from botocore.stub import Stubber

    from emulator.stack import LocalStack
    from emulator.status import _rows_errors

    client = aws.client("cloudwatch")
    stack = LocalStack(state_file=tmp_path / "local.json")
    stack.metrics = LambdaMetrics(client, clock=ManualClock(T0 + 1))
    stack.metrics.end(stack.metrics.begin("orders", None, "$LATEST"), duration_ms=5.0, error=False)
    with Stubber(client) as stub:
        stub.add_client_error("put_metric_data", "Throttling", "Rate exceeded", 400)
        # When the flusher puts the minute
        assert stack.metrics.flush() == 0
    # Then the live view's recent errors say where and why
    rows = [row for row in _rows_errors(stack) if row["where"] == "AWS/Lambda metrics"]
    assert len(rows) == 1
    assert "Throttling" in rows[0]["error"]


def test_a_cold_start_s_init_counts_as_in_flight_and_a_throttle_does_not(aws_env: None, tmp_path: Any) -> None:
    # Given a runner counting metrics (never put here: drain() reads them) and a function whose init waits
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from emulator.lambda_runner import FunctionSpec, LambdaRunner
    from emulator.runner_model import Throttled

    root = str(Path(__file__).resolve().parents[2])
    gate = tmp_path / "open"
    metrics = LambdaMetrics(interval_s=600)
    with LambdaRunner(metrics=metrics) as runner:
        runner.add_function(
            FunctionSpec(
                name="slowinit",
                handler="tests.functions.gate_init.handler",
                code_paths=[root],
                environment={"GATE_INIT": str(gate)},
                timeout_s=30,
                reserved_concurrency=2,
            )
        )
        with ThreadPoolExecutor(2) as executor:
            # When two cold starts are in their init phase together, and a third request is throttled
            started = [executor.submit(runner.invoke, "slowinit", b"{}") for _ in range(2)]
            for _ in range(400):  # a bounded wait (liveness, not speed) for both environments to be starting
                if sum(env["state"] == "starting" for env in runner.environments("slowinit")) == 2:
                    break
                time.sleep(0.025)
            with pytest.raises(Throttled):
                runner.invoke("slowinit", b"{}")
            during = metrics.drain()
            gate.touch()
            results = [future.result(timeout=60) for future in started]
    assert [r.function_error for r in results] == [None, None]

    # Then during init both were in flight (Lambda counts init), and nothing had been invoked yet
    fn = [{"Name": "FunctionName", "Value": "slowinit"}]
    peaks = [d["Value"] for d in during if d["MetricName"] == "ConcurrentExecutions" and d["Dimensions"] == fn]
    assert max(peaks) == 2  # (two datapoints if a minute began between the two starts)
    assert sum(d["Value"] for d in during if d["MetricName"] == "Throttles" and d["Dimensions"] == fn) == 1
    assert not [d for d in during if d["MetricName"] == "Invocations"]
    # And once they ended, both invocations are counted
    after = metrics.drain()
    assert sum(d["Value"] for d in after if d["MetricName"] == "Invocations" and d["Dimensions"] == fn) == 2
