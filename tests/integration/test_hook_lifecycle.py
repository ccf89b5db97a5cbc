"""A whole Lambda deployment, locally: CodeDeploy's lifecycle shim, the hook running as a Lambda.

The local CodeDeploy invokes the hook function (``handlers.pre_traffic.lambda_handler`` in a
runner worker process) asynchronously, waits for its report, and shifts the alias only on
Succeeded. The hook reads the AppSpec, warms the target in the same runner, keeps its ledger in
DynamoDB (moto server) and reports back over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.codedeploy import LocalCodeDeploy
from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CODE = (str(ROOT), str(ROOT / "serverless" / "layer" / "python"))


@pytest.fixture
def world(moto_server: str, table: str) -> Iterator[tuple[LambdaRunner, LocalCodeDeploy, Any]]:
    """A runner with orders v1/v2 (alias live -> 1), the pre- and post-traffic hooks, and CodeDeploy."""
    with LambdaRunner(idle_timeout_s=120, region="us-east-1") as runner:
        lam = boto3.client("lambda", endpoint_url=runner.url, region_name="us-east-1")
        codedeploy = LocalCodeDeploy(lambda_client=lam, hook_timeout_s=60).start()
        runner.add_function(FunctionSpec(name="orders", handler="tests.functions.echo.handler", code_paths=CODE))
        runner.publish_version("orders")
        runner.update_function("orders", environment={"RELEASE": "2"})
        runner.publish_version("orders")
        runner.create_alias("orders", "live", "1")
        hook_env = {
            "THERMOSTAT_TABLE": table,
            "THERMOSTAT_HOOK_JITTER": "0.05,0.1",
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ENDPOINT_URL_LAMBDA": runner.url,
            "AWS_ENDPOINT_URL_CODEDEPLOY": codedeploy.url,
            "POWERTOOLS_SERVICE_NAME": "thermostat-hook",
        }
        for name in ("pre-traffic", "post-traffic"):
            runner.add_function(
                FunctionSpec(
                    name=name,
                    handler="handlers.pre_traffic.lambda_handler",
                    code_paths=CODE,
                    environment=hook_env,
                    timeout_s=30,
                )
            )
        try:
            yield runner, codedeploy, lam
        finally:
            codedeploy.stop()
            lam.close()


def orders_invocations(runner: LambdaRunner) -> dict[str, int]:
    counts: dict[str, int] = {}
    for environment in runner.environments("orders"):
        counts[environment["version"]] = counts.get(environment["version"], 0) + environment["invocations"]
    return counts


def test_a_healthy_version_is_warmed_then_gets_the_traffic(world: tuple[LambdaRunner, LocalCodeDeploy, Any]) -> None:
    runner, codedeploy, lam = world
    # When CodeDeploy deploys orders 1 -> 2 with both hooks
    deployment_id = codedeploy.create_deployment(
        "orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "pre-traffic", "AfterAllowTraffic": "post-traffic"}
    )
    deployment = codedeploy.wait(deployment_id, timeout_s=90)
    # Then the deployment succeeded and the alias moved to version 2
    assert deployment.status == "Succeeded", deployment.error
    assert lam.get_alias(FunctionName="orders", Name="live")["FunctionVersion"] == "2"
    # And each hook reported exactly once, Succeeded
    for event in ("BeforeAllowTraffic", "AfterAllowTraffic"):
        calls = codedeploy.reports(deployment.execution_id(event))
        assert [(c.status, c.answer) for c in calls] == [("Succeeded", "ok")], event
    # And only version 2 was invoked: five warm-up probes, then five post-traffic probes
    assert orders_invocations(runner) == {"2": 10}
    # And a duplicate delivery of the pre-traffic event does nothing
    event = {
        "DeploymentId": deployment_id,
        "LifecycleEventHookExecutionId": deployment.execution_id("BeforeAllowTraffic"),
    }
    answer = json.loads(lam.invoke(FunctionName="pre-traffic", Payload=json.dumps(event).encode())["Payload"].read())
    assert answer["delivery"] == "duplicate"
    assert len(codedeploy.reports(deployment.execution_id("BeforeAllowTraffic"))) == 1
    assert orders_invocations(runner) == {"2": 10}


def test_a_version_that_fails_its_warm_up_never_gets_the_traffic(
    world: tuple[LambdaRunner, LocalCodeDeploy, Any],
) -> None:
    runner, codedeploy, lam = world
    # Given a target that can run only two environments at once
    runner.set_reserved_concurrency("orders", 2)
    # When CodeDeploy deploys orders 1 -> 2
    deployment_id = codedeploy.create_deployment(
        "orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "pre-traffic", "AfterAllowTraffic": "post-traffic"}
    )
    deployment = codedeploy.wait(deployment_id, timeout_s=90)
    # Then the hook reported Failed once, the alias stayed on 1, and the post-traffic hook never ran
    assert deployment.status == "Failed"
    assert "BeforeAllowTraffic hook pre-traffic reported Failed" in (deployment.error or "")
    calls = codedeploy.reports(deployment.execution_id("BeforeAllowTraffic"))
    assert [(c.status, c.answer) for c in calls] == [("Failed", "ok")]
    assert lam.get_alias(FunctionName="orders", Name="live")["FunctionVersion"] == "1"
    assert codedeploy.execution_status(deployment.execution_id("AfterAllowTraffic")) == "Pending"


def test_a_hook_that_never_reports_fails_the_deployment_in_bounded_time(
    world: tuple[LambdaRunner, LocalCodeDeploy, Any],
) -> None:
    runner, codedeploy, lam = world
    # Given a "hook" that is not a hook at all: it answers, but never reports
    runner.add_function(FunctionSpec(name="mute", handler="tests.functions.echo.handler", code_paths=CODE))
    codedeploy.hook_timeout_s = 1.0
    deployment_id = codedeploy.create_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "mute"})
    deployment = codedeploy.wait(deployment_id, timeout_s=30)
    assert deployment.status == "Failed"
    assert "did not report within" in (deployment.error or "")
    assert lam.get_alias(FunctionName="orders", Name="live")["FunctionVersion"] == "1"
