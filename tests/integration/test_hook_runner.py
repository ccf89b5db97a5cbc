"""The hook handler in-process with its real adapters, over HTTP, against real local services.

Targets run in the local Lambda runner (worker processes = environments), CodeDeploy is the local
fake, the ledger is DynamoDB in the moto server, payloads come from S3 in the moto server.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from domain.hook import HookDependencies
from emulator.codedeploy import LocalCodeDeploy
from emulator.codedeploy_model import Deployment
from emulator.lambda_runner import FunctionSpec, LambdaRunner
from handlers import wiring
from handlers.pre_traffic import handle
from infra import observability
from infra.codedeploy import CodeDeployAppSpecReader, CodeDeployReporter
from infra.idempotency import HOOK_EXECUTIONS, DynamoIdempotencyStore
from infra.lambda_invoker import BotoFunctionInvoker
from infra.s3_payloads import S3PayloadReader
from tests.unit.test_hook_support import FakeContext

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])
FAST_JITTER = "0.02,0.05"


@pytest.fixture(scope="module")
def runner() -> Iterator[LambdaRunner]:
    with LambdaRunner(idle_timeout_s=120, region="us-east-1") as lam:
        echo = "tests.functions.echo.handler"
        lam.add_function(FunctionSpec(name="orders", handler=echo, code_paths=[ROOT], timeout_s=10))
        lam.publish_version("orders")
        lam.update_function("orders", environment={"RELEASE": "2"})
        lam.publish_version("orders")
        lam.create_alias("orders", "live", "1")
        specs = [
            FunctionSpec(name="broken", handler="tests.functions.raises.handler", code_paths=[ROOT], timeout_s=10),
            FunctionSpec(name="sleepy", handler="tests.functions.slow.handler", code_paths=[ROOT], timeout_s=10),
            FunctionSpec(name="narrow", handler=echo, code_paths=[ROOT], timeout_s=10, reserved_concurrency=2),
        ]
        for spec in specs:
            lam.add_function(spec)
            lam.publish_version(spec.name)
        yield lam


@pytest.fixture
def stack(
    moto_server: str, table: str, runner: LambdaRunner, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalCodeDeploy, str]]:
    # A service name of our own: Powertools keeps the first stream handler of a logger name, and
    # other tests read the default "thermostat" logger through their own captured stdout.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "thermostat-hook-integration")
    observability.get_logger.cache_clear()
    observability.get_metrics.cache_clear()
    with LocalCodeDeploy() as codedeploy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", codedeploy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", runner.url)
        yield codedeploy, table
    observability.get_metrics().clear_metrics()
    observability.get_logger.cache_clear()
    observability.get_metrics.cache_clear()


def run_hook(table: str, deployment: Deployment, env: dict[str, str] | None = None) -> dict[str, Any]:
    environ = {"THERMOSTAT_TABLE": table, "THERMOSTAT_HOOK_JITTER": FAST_JITTER, **(env or {})}
    invokers: list[BotoFunctionInvoker] = []

    def invoker(concurrency: int) -> BotoFunctionInvoker:
        invokers.append(BotoFunctionInvoker(pool_size=concurrency))
        return invokers[-1]

    deps = HookDependencies(
        reporter=CodeDeployReporter(),
        reader=CodeDeployAppSpecReader(),
        invokers=invoker,
        payloads=S3PayloadReader(),
        ledger=DynamoIdempotencyStore(table, "us-east-1", namespace=HOOK_EXECUTIONS),
        rng=random.Random(),
        clock=time.monotonic,
        sleeper=time.sleep,
    )
    event = {
        "DeploymentId": deployment.deployment_id,
        "LifecycleEventHookExecutionId": deployment.execution_id("BeforeAllowTraffic"),
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in environ.items():
                patch.setenv(name, value)
            wiring.reset()  # the settings are read again, with these variables
            return handle(event, FakeContext(remaining_ms=60_000, function_name="hook"), deps)
    finally:
        wiring.reset()
        observability.publish_metrics()
        for each in invokers:
            each.close()


def deploy(codedeploy: LocalCodeDeploy, function: str, target: str = "1") -> Deployment:
    return codedeploy.add_deployment(function, "live", "1", target, hooks={"BeforeAllowTraffic": "hook"})


def versions_used(runner: LambdaRunner, function: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for environment in runner.environments(function):
        counts[environment["version"]] = counts.get(environment["version"], 0) + environment["invocations"]
    return counts


def test_happy_path_from_the_appspec_five_environments_one_report(
    stack: tuple[LocalCodeDeploy, str], runner: LambdaRunner
) -> None:
    # Given a deployment of orders 1 -> 2, and a hook configured with nothing but its table
    codedeploy, table = stack
    deployment = deploy(codedeploy, "orders", "2")
    before = versions_used(runner, "orders")
    # When the hook runs with the default jitter
    result = run_hook(table, deployment, {"THERMOSTAT_HOOK_JITTER": "0.25,0.4"})
    # Then it reported Succeeded exactly once
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    assert result["status"] == "Succeeded", result["reason"]
    assert [(c.status, c.answer) for c in codedeploy.reports(execution_id)] == [("Succeeded", "ok")]
    # And five invocations, each after 250-400 ms, answered from five distinct environments of version 2
    assert len(result["invocations"]) == 5
    assert all(250 <= i["delay_ms"] <= 400 for i in result["invocations"])
    assert len({i["environment_id"] for i in result["invocations"]}) == 5
    assert result["environments"] == 5
    after = versions_used(runner, "orders")
    assert after.get("2", 0) - before.get("2", 0) == 5
    assert after.get("1", 0) == before.get("1", 0)
    assert "$LATEST" not in after
    # And a second delivery of the same event does nothing at all
    again = run_hook(table, deployment)
    assert again["delivery"] == "duplicate"
    assert versions_used(runner, "orders") == after
    assert len(codedeploy.reports(execution_id)) == 1


@pytest.mark.parametrize(
    ("function", "env", "fragment"),
    [
        ("broken", {}, "FunctionError"),
        ("narrow", {"THERMOSTAT_HOOK_JITTER": "0,0"}, "throttled (429"),
        ("sleepy", {"THERMOSTAT_HOOK_TIMEOUT": "0.5"}, "timed out"),
        ("orders", {"THERMOSTAT_HOOK_TARGET": "orders", "THERMOSTAT_HOOK_VERSION": "9"}, "not found"),
    ],
    ids=["function-error", "throttled", "timeout", "unknown-version"],
)
def test_faults_over_http_report_failed_once(
    stack: tuple[LocalCodeDeploy, str], function: str, env: dict[str, str], fragment: str
) -> None:
    codedeploy, table = stack
    deployment = deploy(codedeploy, function)
    result = run_hook(table, deployment, env)
    assert result["status"] == "Failed"
    assert fragment in result["reason"]
    reports = codedeploy.reports(deployment.execution_id("BeforeAllowTraffic"))
    assert [(c.status, c.answer) for c in reports] == [("Failed", "ok")]


def test_status_call_throttled_then_succeeding(stack: tuple[LocalCodeDeploy, str]) -> None:
    codedeploy, table = stack
    deployment = deploy(codedeploy, "orders", "2")
    codedeploy.throttle(2)
    result = run_hook(table, deployment)
    assert result["delivery"] == "reported"
    answers = [c.answer for c in codedeploy.reports(deployment.execution_id("BeforeAllowTraffic"))]
    assert answers == ["ThrottlingException", "ThrottlingException", "ok"]


def test_user_payload_and_expectations(stack: tuple[LocalCodeDeploy, str]) -> None:
    codedeploy, table = stack
    env = {
        "THERMOSTAT_HOOK_PAYLOAD": '{"hello": "world"}',
        "THERMOSTAT_HOOK_EXPECT": 'event.hello == "world"; function_version == "2"',
    }
    passed = run_hook(table, deploy(codedeploy, "orders", "2"), env)
    assert passed["status"] == "Succeeded", passed["reason"]
    failed = run_hook(table, deploy(codedeploy, "orders", "2"), {**env, "THERMOSTAT_HOOK_EXPECT": "event.hello == 1"})
    assert failed["status"] == "Failed"
    assert 'expected event.hello == 1, got "world"' in failed["reason"]


def test_payload_from_an_allow_listed_bucket(stack: tuple[LocalCodeDeploy, str]) -> None:
    # Given the hook's payload stored in S3
    codedeploy, table = stack
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="hook-payloads")
    s3.put_object(Bucket="hook-payloads", Key="orders.json", Body=b'{"hello": "from s3"}')
    env = {
        "THERMOSTAT_HOOK_PAYLOAD_S3": "s3://hook-payloads/orders.json",
        "THERMOSTAT_HOOK_EXPECT": 'event.hello == "from s3"',
    }
    # When the bucket is allow-listed, Then the payload is sent and checked
    allowed = run_hook(table, deploy(codedeploy, "orders", "2"), {**env, "THERMOSTAT_PAYLOAD_BUCKETS": "hook-payloads"})
    assert allowed["status"] == "Succeeded", allowed["reason"]
    # And when it is not, the hook reports Failed without invoking, saying why
    refused = run_hook(table, deploy(codedeploy, "orders", "2"), {**env, "THERMOSTAT_PAYLOAD_BUCKETS": "other"})
    assert refused["status"] == "Failed"
    assert "hook-payloads" in refused["reason"]
    assert refused["invocations"] == []
