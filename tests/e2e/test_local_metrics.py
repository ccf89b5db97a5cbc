"""The local stack publishes what Lambda publishes: traffic through the local runner, read back from CloudWatch.

Metric names, statistics and dimensions as AWS documents them (AWS Lambda Developer Guide,
"Working with Lambda function metrics" / "Types of metrics", awsdocs/aws-lambda-developer-guide
doc_source/monitoring-metrics.md): ``Invocations``, ``Errors``, ``Throttles`` (Sum),
``Duration`` (Average / Max), ``ConcurrentExecutions`` (Max), under ``FunctionName``,
``FunctionName`` + ``Resource`` and ``FunctionName`` + ``Resource`` + ``ExecutedVersion``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from domain.errors import InvalidInput
from emulator.lambda_runner import FunctionSpec
from emulator.stack import LocalStack
from infra import aws
from infra.concurrency_history import SOURCE, SOURCE_FUNCTION_WIDE, CloudWatchConcurrency
from tests.cloudwatch import statistic

pytestmark = pytest.mark.e2e

ROOT = str(Path(__file__).resolve().parents[2])


def eventually(predicate: Callable[[], bool], attempts: int = 300, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` a bounded number of times (a liveness bound, not a speed assertion)."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


@pytest.fixture
def stack(aws_env: None, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(
        state_file=tmp_path / "local.json", run_schedules=False, demo_targets=False, metrics_interval_s=0.2
    ) as running:
        yield running


def _statistic(cloudwatch: Any, metric: str, stat: str, dimensions: dict[str, str], now: float) -> list[float]:
    return statistic(cloudwatch, metric, stat, dimensions, now - 7200, now + 3600, period=3600)


def _invoke(lam: Any, payload: dict[str, Any], qualifier: str | None = "live") -> dict[str, Any]:
    arguments: dict[str, Any] = {"FunctionName": "gate", "Payload": json.dumps(payload).encode()}
    if qualifier is not None:
        arguments["Qualifier"] = qualifier
    answer = lam.invoke(**arguments)
    return {"error": answer.get("FunctionError"), "body": json.loads(answer["Payload"].read())}


def test_traffic_through_the_runner_is_in_cloudwatch_as_lambda_puts_it(stack: LocalStack, tmp_path: Path) -> None:
    # Given a function with reserved concurrency 3 and an alias `live` on version 1, in the local stack
    assert stack.runner is not None
    stack.runner.add_function(
        FunctionSpec(
            name="gate", handler="tests.functions.gate.handler", code_paths=[ROOT], timeout_s=30, reserved_concurrency=3
        )
    )
    version = stack.runner.publish_version("gate")
    stack.runner.create_alias("gate", "live", version)
    lam = aws.client("lambda", max_pool_connections=8)
    gate = tmp_path / "open"

    # When three invocations of gate:live are in flight together, a fourth is throttled,
    with ThreadPoolExecutor(3) as executor:
        held = [executor.submit(_invoke, lam, {"gate": str(gate)}) for _ in range(3)]
        assert eventually(
            lambda: sum(env["state"] == "busy" for env in stack.runner.environments("gate")) == 3  # type: ignore[union-attr]
        )
        once = aws.client("lambda", max_attempts=0)  # each retry of a throttle is a throttle too: ask once
        with pytest.raises(once.exceptions.TooManyRequestsException):
            once.invoke(FunctionName="gate", Qualifier="live", Payload=b"{}")
        gate.touch()
        answers = [future.result(timeout=60) for future in held]
    assert [a["body"]["opened"] for a in answers] == [True, True, True]
    # and then one invocation of the alias fails and one unqualified invocation succeeds
    assert _invoke(lam, {})["error"] == "Unhandled"  # no "gate" key: a KeyError in the handler
    assert _invoke(lam, {"gate": str(gate)}, qualifier=None)["error"] is None
    now = time.time()
    cloudwatch = aws.client("cloudwatch")
    fn = {"FunctionName": "gate"}
    live = {**fn, "Resource": "gate:live"}
    executed = {**live, "ExecutedVersion": version}

    # Then, once the flusher has put them, CloudWatch has Lambda's figures per dimension set
    assert eventually(lambda: sum(_statistic(cloudwatch, "Invocations", "Sum", fn, now)) == 5)
    assert sum(_statistic(cloudwatch, "Invocations", "Sum", live, now)) == 4
    assert sum(_statistic(cloudwatch, "Invocations", "Sum", executed, now)) == 4
    assert sum(_statistic(cloudwatch, "Errors", "Sum", live, now)) == 1
    assert sum(_statistic(cloudwatch, "Throttles", "Sum", live, now)) == 1
    assert sum(_statistic(cloudwatch, "Throttles", "Sum", fn, now)) == 1
    assert sum(_statistic(cloudwatch, "Duration", "SampleCount", fn, now)) == 5
    assert max(_statistic(cloudwatch, "Duration", "Maximum", live, now)) > 0
    assert max(_statistic(cloudwatch, "ConcurrentExecutions", "Maximum", live, now)) == 3
    # And the concurrency adapter reads the alias' peak of 3 from its own series
    history = CloudWatchConcurrency(cloudwatch)
    samples = history.peaks("gate", "live", int(now * 1000) - 7_200_000, int(now * 1000) + 3_600_000)
    assert max(s.peak for s in samples) == 3
    assert {s.source for s in samples} == {SOURCE}
    # And for an alias never invoked, the function-wide series (every invocation of gate) stands in
    wide = history.peaks("gate", "canary", int(now * 1000) - 7_200_000, int(now * 1000) + 3_600_000)
    assert max(s.peak for s in wide) == 3
    assert {s.source for s in wide} == {SOURCE_FUNCTION_WIDE}
    assert stack.metrics is not None
    assert stack.metrics.errors == []


def test_a_bad_flush_interval_is_refused_before_anything_starts(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a flush interval that is not a number of seconds
    monkeypatch.setenv("THERMOSTAT_LOCAL_METRICS_INTERVAL", "soon")
    # When a stack is built, Then it says which variable and what to give, and nothing started
    with pytest.raises(InvalidInput, match=r"THERMOSTAT_LOCAL_METRICS_INTERVAL='soon' is not a number of seconds > 0"):
        LocalStack(state_file=tmp_path / "local.json")
    assert not (tmp_path / "local.json").exists()
