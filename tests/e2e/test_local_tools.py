"""Issue 15, items 1 to 4, against `thermostat local` as a process: invoke, logs, deploy, put-event --wait.

One serving stack for the module (one per checkout is all the lock allows); every command is a
fresh `thermostat` process, as a user runs it from another terminal. The CodeDeploy calls are made
by a real boto3 client against the stack's CodeDeploy endpoint, so what it answers is what
botocore's own service model parses.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.local_process import CLI, ROOT, clean_env, local_client, publish, run, serving

pytestmark = pytest.mark.e2e

TAIL = (*CLI, "local", "logs", "demo-greeter", "--since", "1s", "--tail")


def thermostat(*arguments: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One `thermostat` command, in a fresh process with no AWS variables of its own."""
    return run(*arguments, stdin=stdin, timeout=timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """A serving `thermostat local` (CodeDeploy's hook timeout as by default); yields its recorded state."""
    with serving(refresh=5) as state:
        yield state


def _alias(stack: dict[str, Any], function: str) -> str:
    lam = local_client(stack, "lambda")
    return str(lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"])


# -- item 1: thermostat local invoke -------------------------------------------------------------------


def test_invoke_prints_the_result_and_the_log_tail(stack: dict[str, Any], tmp_path: Path) -> None:
    # Given an event file
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"name": "Ada"}))
    # When a demo target is invoked through the running stack
    done = thermostat("local", "invoke", "demo-greeter", "-e", str(event), "--json")
    # Then the function's own answer, its version and its log tail come back
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["function_error"] is None
    assert "Ada" in json.dumps(answer["result"])
    assert answer["executed_version"] == "$LATEST"
    assert "START RequestId:" in answer["log_tail"]
    assert "REPORT RequestId:" in answer["log_tail"]
    # And the human form renders thermostat's telemetry line readably
    human = thermostat("local", "invoke", "demo-greeter", "--qualifier", "live", "-e", "-", stdin='{"name": "Bo"}')
    assert human.returncode == 0, human.stderr
    assert "result:" in human.stdout
    assert "[telemetry] start_kind=" in human.stdout


def test_invoke_exits_1_on_a_function_error_and_shows_it(stack: dict[str, Any]) -> None:
    # The deployment-events function refuses an event it does not know (an unhandled error).
    done = thermostat("local", "invoke", "DeploymentEventsFunction", "-e", "-", stdin="{}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "function error (Unhandled): InvalidInput: malformed EventBridge event" in done.stdout
    assert "stackTrace" not in done.stdout  # the trace is in --json, not in the human form
    assert "log tail:" in done.stdout


def test_invoke_refuses_bad_input_with_exit_2(stack: dict[str, Any], tmp_path: Path) -> None:
    missing = thermostat("local", "invoke", "no-such-function")
    assert missing.returncode == 2
    assert "no function 'no-such-function'" in missing.stderr
    assert "demo-greeter" in missing.stderr
    not_json = thermostat("local", "invoke", "demo-greeter", "-e", "-", stdin="not json")
    assert not_json.returncode == 2
    assert "is not JSON" in not_json.stderr
    unreadable = thermostat("local", "invoke", "demo-greeter", "-e", str(tmp_path / "absent.json"))
    assert unreadable.returncode == 2
    assert "cannot read the event" in unreadable.stderr


# -- item 2: thermostat local logs ---------------------------------------------------------------------


def test_logs_show_the_functions_lines_with_telemetry_rendered(stack: dict[str, Any]) -> None:
    # Given an invocation of demo-orders (its log lines go to the stack's CloudWatch Logs)
    invoked = thermostat("local", "invoke", "demo-orders", "--qualifier", "live", "-e", "-", stdin="{}")
    assert invoked.returncode in (0, 1), invoked.stderr
    request_ids = [line.split()[2] for line in invoked.stdout.splitlines() if line.strip().startswith("START")]
    assert request_ids
    # When its logs are read back (the forwarder batches: poll, bounded)
    deadline = time.monotonic() + 30
    while True:
        done = thermostat("local", "logs", "demo-orders", "--since", "10m")
        if request_ids[0] in done.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # Then the lines are there, the telemetry one as key=value, not JSON
    assert done.returncode == 0, done.stderr
    assert request_ids[0] in done.stdout
    telemetry = [line for line in done.stdout.splitlines() if "[telemetry]" in line]
    assert telemetry
    assert "start_kind=" in telemetry[-1]
    assert '"_aws"' not in done.stdout
    # And --raw keeps the JSON the function wrote
    raw = thermostat("local", "logs", "demo-orders", "--since", "10m", "--raw")
    assert '"_aws"' in raw.stdout


def test_logs_tail_follows_new_lines(stack: dict[str, Any]) -> None:
    # Given a tail (bounded: at most 60 polls, one a second)
    follower = subprocess.Popen(
        [*TAIL, "--max-polls", "60"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen: list[str] = []
    try:
        # When the function is invoked while the tail runs
        invoked = thermostat("local", "invoke", "demo-greeter", "-e", "-", stdin='{"name": "tail"}')
        assert invoked.returncode == 0, invoked.stderr
        request_id = next(line.split()[2] for line in invoked.stdout.splitlines() if line.strip().startswith("START"))
        # Then the tail prints that invocation's lines (read until they come, or the tail ends)
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append(line)
            if request_id in line and "REPORT" in line:
                break
    finally:
        follower.kill()
        follower.communicate(timeout=10)  # reaps it and closes the pipe
    assert any(request_id in line and "START" in line for line in seen), seen
    assert any("[telemetry]" in line for line in seen), seen


def test_logs_refuse_bad_input_with_exit_2(stack: dict[str, Any]) -> None:
    unknown = thermostat("local", "logs", "no-such-function")
    assert unknown.returncode == 2
    assert "/aws/lambda/no-such-function does not exist" in unknown.stderr
    bad_since = thermostat("local", "logs", "demo-greeter", "--since", "ten minutes")
    assert bad_since.returncode == 2
    assert "--since" in bad_since.stderr


# -- item 3: deployments in serving mode ------------------------------------------------------------------


def test_deploy_moves_the_alias_when_the_hook_succeeds_and_not_when_it_fails(stack: dict[str, Any]) -> None:
    # Given two new versions of demo-orders: a good one and one whose probe table does not exist
    good = publish(stack, "demo-orders", {"DEMO_TABLE": "thermostat-local", "DEMO_BUILD": "good"})
    broken = publish(stack, "demo-orders", {"DEMO_TABLE": "no-such-table", "DEMO_BUILD": "broken"})
    before = _alias(stack, "demo-orders")

    # When the good one is deployed through the stack's pre-traffic hook
    done = thermostat("local", "deploy", "demo-orders", "--version", good, "--json")

    # Then the hook reported Succeeded through PutLifecycleEventHookExecutionStatus and the alias moved
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "Succeeded"
    assert (report["from"], report["alias_now"]) == (before, good)
    assert report["lifecycle_events"][0]["lifecycle event"] == "BeforeAllowTraffic"
    assert report["lifecycle_events"][0]["status"] == "Succeeded"
    assert _alias(stack, "demo-orders") == good

    # When the broken one is deployed
    failed = thermostat("local", "deploy", "demo-orders", "--version", broken, "--json")

    # Then the verdict is Failed, exit 1, and the alias stayed on the good version
    assert failed.returncode == 1, failed.stdout + failed.stderr
    verdict = json.loads(failed.stdout)
    assert verdict["status"] == "Failed"
    assert "reported Failed" in verdict["error"]
    # And the hook's own reason, from its verdict log line, says why
    assert "probe failed" in verdict["lifecycle_events"][0]["hook_reason"]
    assert report["lifecycle_events"][0]["hook_reason"].startswith("5/5 invocations")
    assert _alias(stack, "demo-orders") == good


def test_boto3_create_deployment_with_an_appspec_runs_the_hooks(stack: dict[str, Any]) -> None:
    # Given a new version and a YAML AppSpec naming the stack's hook, as a user writes one
    version = publish(stack, "demo-greeter", {"DEMO_BUILD": "boto3"})
    current = _alias(stack, "demo-greeter")
    hook = stack["hook_function"]
    appspec = (
        "version: 0.0\nResources:\n  - greeter:\n      Type: AWS::Lambda::Function\n      Properties:\n"
        f"        Name: demo-greeter\n        Alias: live\n        CurrentVersion: '{current}'\n"
        f"        TargetVersion: '{version}'\nHooks:\n  - BeforeAllowTraffic: {hook}\n"
    )
    codedeploy = local_client(stack, "codedeploy")
    # When boto3 creates the deployment and polls it
    deployment_id = codedeploy.create_deployment(
        applicationName="my-app",
        deploymentGroupName="my-group",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec}},
    )["deploymentId"]
    deadline = time.monotonic() + 120
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    while info["status"] not in ("Succeeded", "Failed") and time.monotonic() < deadline:
        time.sleep(0.25)
        info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    # Then botocore parses every answer, the AppSpec comes back as given, and the alias moved
    assert info["status"] == "Succeeded", info.get("errorInformation")
    assert (info["applicationName"], info["deploymentGroupName"]) == ("my-app", "my-group")
    assert info["revision"]["appSpecContent"]["content"] == appspec
    assert info["completeTime"] >= info["createTime"]
    (target_id,) = codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
    target = codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_id)["deploymentTarget"]
    lambda_target = target["lambdaTarget"]
    assert lambda_target["lambdaFunctionInfo"]["targetVersion"] == version
    events = {event["lifecycleEventName"]: event for event in lambda_target["lifecycleEvents"]}
    assert events["BeforeAllowTraffic"]["status"] == "Succeeded"
    assert events["BeforeAllowTraffic"]["endTime"] >= events["BeforeAllowTraffic"]["startTime"]
    assert events["AfterAllowTraffic"]["status"] == "Skipped"
    assert deployment_id in codedeploy.list_deployments(applicationName="my-app")["deployments"]
    assert _alias(stack, "demo-greeter") == version


def test_create_deployment_refuses_what_codedeploy_refuses(stack: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    codedeploy = local_client(stack, "codedeploy")
    cases = [
        ({"applicationName": "a", "deploymentGroupName": "g"}, "RevisionRequiredException"),
        (
            {
                "applicationName": "a",
                "deploymentGroupName": "g",
                "revision": {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k"}},
            },
            "InvalidRevisionException",
        ),
        (
            {
                "applicationName": "a",
                "deploymentGroupName": "g",
                "revision": {"revisionType": "String", "string": {"content": "version: 0.0\nResources: []\n"}},
            },
            "InvalidRevisionException",
        ),
        (
            {
                "applicationName": "a",
                "deploymentGroupName": "g",
                "revision": {
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {
                        "content": json.dumps(
                            {
                                "Resources": [{"f": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "x"}}}],
                            }
                        )
                    },
                },
            },
            "InvalidRevisionException",
        ),
    ]
    before = codedeploy.list_deployments()["deployments"]
    for call, code in cases:
        with pytest.raises(ClientError) as refused:
            codedeploy.create_deployment(**call)
        assert refused.value.response["Error"]["Code"] == code, call
    # Nothing was recorded for a refused request
    assert codedeploy.list_deployments()["deployments"] == before


def test_deploy_refuses_bad_input_with_exit_2(stack: dict[str, Any]) -> None:
    no_version = thermostat("local", "deploy", "demo-greeter", "--version", "99")
    assert no_version.returncode == 2
    assert "has no version or alias '99'" in no_version.stderr
    no_function = thermostat("local", "deploy", "no-such-function", "--version", "1")
    assert no_function.returncode == 2
    assert "no-such-function" in no_function.stderr
    no_alias = thermostat("local", "deploy", "demo-greeter", "--version", "1", "--alias", "nope")
    assert no_alias.returncode == 2
    assert "no alias 'nope'" in no_alias.stderr
    bad_timeout = thermostat("local", "deploy", "demo-greeter", "--version", "1", "--timeout", "0")
    assert bad_timeout.returncode == 2


# -- item 4: put-event --wait ---------------------------------------------------------------------------


def _event(tmp_path: Path, **detail: str) -> Path:
    document = json.loads((ROOT / "serverless" / "events" / "deployment-requested.json").read_text())
    document["detail"].update(detail)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(document))
    return path


def test_put_event_wait_shows_each_targets_result(stack: dict[str, Any], tmp_path: Path) -> None:
    done = thermostat("local", "put-event", "--wait", str(_event(tmp_path, project="waited")), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["rules_matched"] == ["DeploymentEventsFunction.DeploymentRequested"]
    (delivery,) = report["deliveries"]
    assert delivery["result"]["project"] == "waited"
    assert delivery["result"]["bucket"]


def test_put_event_wait_shows_a_refused_deployment_requested_and_exits_1(stack: dict[str, Any], tmp_path: Path) -> None:
    done = thermostat("local", "put-event", "--wait", str(_event(tmp_path, bucket="My_Bucket")))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    assert "invalid bucket name 'My_Bucket'" in done.stdout


def test_put_event_wait_says_when_no_rule_matched(stack: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"source": "my.app", "detail-type": "Something Else", "detail": {}}))
    done = thermostat("local", "put-event", "--wait", str(path))
    assert done.returncode == 0, done.stderr
    assert "no rule matched" in done.stdout
