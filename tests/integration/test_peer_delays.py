"""A peer's warmer, pointed at a function that wears ``@warmable``, keeps its environment count.

OpenNext's warmer (opennextjs/opennextjs-aws, ``packages/open-next/src/adapters/warmer-function.ts`` @
09d023cdff4d0f012b64c3e5e2985b9975b2e96d) invokes the server ``concurrency`` times at once with
``{type: "warmer", warmerId, index, concurrency, delay}`` and counts the distinct ``serverId``s; the
server holds each invocation for ``delay`` so that they cannot share an environment. Here the
server is the local Lambda runner's ``echo`` function (real worker processes, one per environment),
invoked through boto3 exactly as the warmer's SDK invokes it. The warmer sends 75 ms; this test asks
for 1000 ms (the runtime's default cap), so that a loaded machine's spread between the concurrent
sends cannot exceed the hold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])
CONCURRENCY = 5
DELAY_MS = 1_000


@pytest.fixture
def runner(aws_env: None) -> Iterator[LambdaRunner]:
    runner = LambdaRunner(idle_timeout_s=60.0).start()
    try:
        runner.add_function(FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[ROOT]))
        yield runner
    finally:
        runner.stop()


def lambda_client(runner: LambdaRunner) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=runner.url,
        region_name="us-east-1",
        config=Config(
            retries={"mode": "standard", "max_attempts": 1}, read_timeout=30, max_pool_connections=CONCURRENCY
        ),
    )


def test_opennexts_warmer_gets_as_many_servers_as_it_asked_for(runner: LambdaRunner) -> None:
    # Given a function that already has one warm, idle environment
    lam = lambda_client(runner)
    lam.invoke(FunctionName="echo", Payload=json.dumps({"hello": "world"}))
    assert len(runner.environments("echo")) == 1

    # When OpenNext's warmer sends its concurrent warmer events, each asking for a delay
    barrier = threading.Barrier(CONCURRENCY)

    def invoke(index: int) -> dict[str, Any]:
        event = {"type": "warmer", "warmerId": "warmer-1a2b3c", "index": index, "concurrency": CONCURRENCY}
        event["delay"] = DELAY_MS
        barrier.wait(timeout=30)
        response = lam.invoke(FunctionName="echo", InvocationType="RequestResponse", Payload=json.dumps(event))
        assert response["StatusCode"] == 200
        return dict(json.loads(response["Payload"].read()))

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as executor:
        replies = list(executor.map(invoke, range(CONCURRENCY)))

    # Then every invocation held its environment for the delay, and the warmer counts as many
    # distinct serverIds as it sent — the idle environment was used once, never twice
    assert [reply["type"] for reply in replies] == ["warmer"] * CONCURRENCY
    assert [reply["thermostat"]["held_ms"] for reply in replies] == [DELAY_MS] * CONCURRENCY
    assert len({reply["serverId"] for reply in replies}) == CONCURRENCY
    environments = runner.environments("echo")
    assert len(environments) == CONCURRENCY
    assert sorted(environment["invocations"] for environment in environments) == [1, 1, 1, 1, 2]
