"""The local Lambda runner through boto3: environments, concurrency, failures, versions, logs.

Every call goes through an unchanged boto3 ``lambda`` client against the runner's HTTP endpoint.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.lambda_runner import FunctionSpec, LambdaRunner
from thermostat_runtime import build_request, parse_reply

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


def spec(name: str, module: str, **overrides: Any) -> FunctionSpec:
    """A spec for one of tests/functions/<module>.py."""
    fields: dict[str, Any] = {"handler": f"tests.functions.{module}.handler", "code_paths": [ROOT], **overrides}
    return FunctionSpec(name=name, **fields)


def eventually(predicate: Callable[[], bool], attempts: int = 200, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` a bounded number of times (a liveness bound, not a speed assertion)."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


@pytest.fixture
def make_runner(aws_env: None) -> Iterator[Callable[..., LambdaRunner]]:
    runners: list[LambdaRunner] = []

    def make(**options: Any) -> LambdaRunner:
        runner = LambdaRunner(**options).start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop()


@pytest.fixture
def runner(make_runner: Callable[..., LambdaRunner]) -> LambdaRunner:
    runner = make_runner(idle_timeout_s=60.0)
    runner.add_function(spec("echo", "echo"))
    return runner


def client_for(runner: LambdaRunner, pool: int = 10) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=runner.url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=30, max_pool_connections=pool),
    )


def invoke(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def ping(lam: Any, name: str, **kwargs: Any) -> Any:
    hold_ms = kwargs.pop("hold_ms", None)
    _response, payload = invoke(lam, name, build_request(hold_ms=hold_ms), **kwargs)
    reply = parse_reply(payload)
    assert reply.speaks_protocol, payload
    return reply


# -- environments --------------------------------------------------------------------------------


def test_sequential_invocations_reuse_one_environment_cold_then_warm(runner: LambdaRunner) -> None:
    # Given a fresh function
    lam = client_for(runner)

    # When it is pinged twice in a row
    first = ping(lam, "echo")
    second = ping(lam, "echo")

    # Then one environment answered both: cold first, warm after
    assert first.environment_id == second.environment_id
    assert (first.start_kind, second.start_kind) == ("cold", "warm")
    assert first.init_type == "on-demand"
    [environment] = runner.environments("echo")
    assert environment["state"] == "idle"
    assert environment["invocations"] == 2
    assert environment["init_ms"] > 0


def test_concurrent_invocations_get_distinct_environments(runner: LambdaRunner) -> None:
    # Given five callers at once, each holding its environment for a while
    lam = client_for(runner, pool=5)
    barrier = threading.Barrier(5)

    def one(_: int) -> Any:
        barrier.wait(timeout=10)
        return ping(lam, "echo", hold_ms=1000)

    # When they invoke concurrently
    with ThreadPoolExecutor(max_workers=5) as executor:
        replies = list(executor.map(one, range(5)))

    # Then five distinct environments answered, each a cold start
    assert len({reply.environment_id for reply in replies}) == 5
    assert {reply.start_kind for reply in replies} == {"cold"}
    assert len(runner.environments("echo")) == 5


def test_idle_environments_are_reaped_and_the_next_call_is_cold(make_runner: Callable[..., LambdaRunner]) -> None:
    # Given a runner with a short idle timeout and one used environment
    runner = make_runner(idle_timeout_s=0.3)
    runner.add_function(spec("echo", "echo"))
    lam = client_for(runner)
    _response, first = invoke(lam, "echo", {})

    # When it stays idle past the timeout
    assert eventually(lambda: runner.environments("echo") == [])

    # Then its process is gone and the next invocation starts a new environment
    assert not psutil.pid_exists(first["pid"])
    second = ping(lam, "echo")
    assert second.start_kind == "cold"


def hold_one_environment(runner: LambdaRunner, lam: Any, name: str, gate: Path, executor: ThreadPoolExecutor) -> Any:
    """Start an invocation of the gate function ``name`` that stays busy until ``gate`` exists."""
    busy = executor.submit(invoke, lam, name, {"gate": str(gate)})
    assert eventually(lambda: any(env["state"] == "busy" for env in runner.environments(name)))
    return busy


def test_above_reserved_concurrency_is_throttled_with_its_reason(runner: LambdaRunner, tmp_path: Path) -> None:
    # Given reserved concurrency 1 and one invocation in flight
    runner.add_function(spec("gate", "gate", reserved_concurrency=1, timeout_s=60))
    lam = client_for(runner)
    with ThreadPoolExecutor(max_workers=1) as executor:
        busy = hold_one_environment(runner, lam, "gate", tmp_path / "open", executor)

        # When a second one arrives
        with pytest.raises(ClientError) as caught:
            invoke(lam, "gate", {"gate": str(tmp_path / "open")})

        # Then it is a 429 with Lambda's reason, and the first one still succeeds
        (tmp_path / "open").touch()
        assert busy.result(timeout=60)[1]["opened"] is True
    error = caught.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert len(runner.environments("gate")) == 1


def test_reserved_concurrency_zero_throttles_without_starting_anything(runner: LambdaRunner) -> None:
    # Given a function throttled to zero through the API
    lam = client_for(runner)
    lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)

    # When it is invoked
    with pytest.raises(ClientError) as caught:
        invoke(lam, "echo", {})

    # Then it is throttled and no environment was started
    assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert runner.environments("echo") == []


def test_above_account_concurrency_is_throttled_with_its_reason(
    make_runner: Callable[..., LambdaRunner], tmp_path: Path
) -> None:
    # Given an account limit of one and one invocation in flight
    runner = make_runner(account_concurrency=1)
    runner.add_function(spec("gate", "gate", timeout_s=60))
    runner.add_function(spec("other", "echo"))
    lam = client_for(runner)
    with ThreadPoolExecutor(max_workers=1) as executor:
        busy = hold_one_environment(runner, lam, "gate", tmp_path / "open", executor)

        # When another function is invoked
        with pytest.raises(ClientError) as caught:
            invoke(lam, "other", {})
        (tmp_path / "open").touch()
        assert busy.result(timeout=60)[1]["opened"] is True

    # Then the account-wide reason is given, and nothing was started for it
    assert caught.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert runner.environments("other") == []


# -- failures ------------------------------------------------------------------------------------


def test_timeout_kills_the_worker_and_reports_sandbox_timedout(runner: LambdaRunner) -> None:
    # Given a function that sleeps far beyond its timeout
    runner.add_function(spec("slow", "slow", timeout_s=0.5))
    lam = client_for(runner)

    # When it is invoked
    response, error = invoke(lam, "slow", {"seconds": 30}, LogType="Tail")

    # Then Lambda's timeout error comes back and the worker process is gone
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 0.50 seconds"}
    tail = base64.b64decode(response["LogResult"]).decode()
    pid = int(tail.split("slow pid=")[1].split()[0])
    assert not psutil.pid_exists(pid)
    assert "Task timed out after 0.50 seconds" in tail
    assert "Status: timeout" in tail
    assert runner.environments("slow") == []

    # And the next invocation gets a new environment that can finish
    response, answer = invoke(lam, "slow", {"seconds": 0})
    assert "FunctionError" not in response
    assert answer["pid"] != pid


def test_handler_exception_is_an_unhandled_function_error_and_the_environment_survives(
    runner: LambdaRunner,
) -> None:
    # Given a function whose handler raises
    runner.add_function(spec("raises", "raises"))
    lam = client_for(runner)

    # When it is invoked twice
    response, error = invoke(lam, "raises", {"detail": "first"}, LogType="Tail")
    invoke(lam, "raises", {"detail": "second"})

    # Then the error is Lambda-shaped, and the environment was kept (as Lambda keeps it)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom: first"
    assert error["requestId"] == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert any("_explode" in frame for frame in error["stackTrace"])
    assert not any("_worker.py" in frame for frame in error["stackTrace"])
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in tail
    assert "[ERROR] ValueError: boom: first" in tail
    [environment] = runner.environments("raises")
    assert environment["invocations"] == 2


def test_crash_at_import_is_an_init_error_the_runner_survives_and_a_fix_works(runner: LambdaRunner) -> None:
    # Given a function whose module raises at import
    runner.add_function(spec("fragile", "crash_at_import"))
    lam = client_for(runner)

    # When it is invoked twice
    first, error = invoke(lam, "fragile", {}, LogType="Tail")
    second, again = invoke(lam, "fragile", {})

    # Then each is an init error (the init is retried), and nothing is left running
    assert first["FunctionError"] == second["FunctionError"] == "Unhandled"
    assert error["errorType"] == again["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "crashed at import on purpose"
    tail = base64.b64decode(first["LogResult"]).decode()
    assert "crash_at_import: importing" in tail
    assert "Status: error" in tail
    assert runner.environments("fragile") == []

    # And the runner still serves other functions, and the fixed function
    assert ping(lam, "echo").warm is True
    runner.update_function("fragile", handler="tests.functions.echo.handler")
    assert ping(lam, "fragile").start_kind == "cold"


def test_missing_module_is_an_import_module_error(runner: LambdaRunner) -> None:
    # Given a handler that names a module that does not exist
    runner.add_function(spec("missing", "echo", handler="tests.functions.no_such_module.handler"))

    # When it is invoked
    response, error = invoke(client_for(runner), "missing", {})

    # Then Lambda's runtime error type is reported
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"].startswith("Unable to import module 'tests.functions.no_such_module'")


def test_missing_handler_attribute_is_a_handler_not_found_error(runner: LambdaRunner) -> None:
    runner.add_function(spec("nohandler", "echo", handler="tests.functions.echo.nope"))

    _response, error = invoke(client_for(runner), "nohandler", {})

    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'nope' missing on module 'tests.functions.echo'"


def test_a_worker_that_dies_mid_invocation_is_a_runtime_exit_error(runner: LambdaRunner) -> None:
    # Given a handler that kills its own process
    runner.add_function(spec("exits", "exits"))

    # When it is invoked
    response, error = invoke(client_for(runner), "exits", {"code": 7}, LogType="Tail")

    # Then the caller sees Runtime.ExitError with the exit status, and the environment is gone
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 7")
    assert "exiting now" in base64.b64decode(response["LogResult"]).decode()
    assert runner.environments("exits") == []


# -- provisioned concurrency, versions, aliases --------------------------------------------------


def test_provisioned_environments_are_prestarted_and_report_provisioned(runner: LambdaRunner) -> None:
    # Given a published version behind an alias with provisioned concurrency 2
    version = runner.publish_version("echo")
    runner.create_alias("echo", "live", version)
    status = runner.set_provisioned_concurrency("echo", "live", 2)

    # Then two environments are already running, idle, with the provisioned init type
    assert status["Status"] == "READY"
    environments = runner.environments("echo", qualifier="live")
    assert len(environments) == 2
    assert {env["init_type"] for env in environments} == {"provisioned-concurrency"}
    assert {env["state"] for env in environments} == {"idle"}

    # When the alias is invoked
    lam = client_for(runner)
    reply = ping(lam, "echo", Qualifier="live")
    _response, answer = invoke(lam, "echo", {}, Qualifier="live")

    # Then a pre-started environment answered: not a cold start
    assert reply.start_kind == "provisioned"
    assert reply.init_type == "provisioned-concurrency"
    assert answer["init_type"] == "provisioned-concurrency"
    assert answer["pid"] in {env["pid"] for env in environments}
    assert len(runner.environments("echo")) == 2


def test_provisioned_concurrency_through_the_api_reaches_ready(runner: LambdaRunner) -> None:
    # Given a published version
    lam = client_for(runner)
    version = lam.publish_version(FunctionName="echo")["Version"]

    # When provisioned concurrency is put on it
    put = lam.put_provisioned_concurrency_config(
        FunctionName="echo", Qualifier=version, ProvisionedConcurrentExecutions=1
    )

    # Then Lambda's asynchronous status goes to READY
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    assert put["Status"] in ("IN_PROGRESS", "READY")
    assert eventually(
        lambda: lam.get_provisioned_concurrency_config(FunctionName="echo", Qualifier=version)["Status"] == "READY"
    )
    assert ping(lam, "echo", Qualifier=version).start_kind == "provisioned"

    # And deleting it stops the environment
    lam.delete_provisioned_concurrency_config(FunctionName="echo", Qualifier=version)
    assert eventually(lambda: runner.environments("echo") == [])
    with pytest.raises(ClientError) as caught:
        lam.get_provisioned_concurrency_config(FunctionName="echo", Qualifier=version)
    assert caught.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_provisioned_concurrency_on_latest_is_refused(runner: LambdaRunner) -> None:
    with pytest.raises(ClientError) as caught:
        client_for(runner).put_provisioned_concurrency_config(
            FunctionName="echo", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )

    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert runner.environments("echo") == []


def test_versions_and_aliases_route_to_environments_of_the_right_version(runner: LambdaRunner) -> None:
    # Given version 1 (blue), version 2 (green), $LATEST (red) and an alias on 1
    runner.update_function("echo", environment={"COLOR": "blue"})
    assert runner.publish_version("echo") == "1"
    runner.update_function("echo", environment={"COLOR": "green"})
    assert runner.publish_version("echo") == "2"
    runner.update_function("echo", environment={"COLOR": "red"})
    runner.create_alias("echo", "live", "1")
    lam = client_for(runner)

    # When each qualifier is invoked
    live, live_answer = invoke(lam, "echo", {}, Qualifier="live")
    by_arn, arn_answer = invoke(lam, runner.function_arn("echo", "2"), {})
    latest, latest_answer = invoke(lam, "echo", {})

    # Then each ran its own version, in its own environment
    assert (live["ExecutedVersion"], live_answer["color"], live_answer["function_version"]) == ("1", "blue", "1")
    assert live_answer["invoked_function_arn"] == runner.function_arn("echo", "live")
    assert (by_arn["ExecutedVersion"], arn_answer["color"]) == ("2", "green")
    assert (latest["ExecutedVersion"], latest_answer["color"]) == ("$LATEST", "red")
    assert len({live_answer["pid"], arn_answer["pid"], latest_answer["pid"]}) == 3
    assert {env["version"] for env in runner.environments("echo", qualifier="live")} == {"1"}

    # When the alias moves to version 2
    lam.update_alias(FunctionName="echo", Name="live", FunctionVersion="2")
    moved, moved_answer = invoke(lam, "echo", {}, Qualifier="live")

    # Then the alias runs version 2, reusing version 2's warm environment
    assert (moved["ExecutedVersion"], moved_answer["color"]) == ("2", "green")
    assert moved_answer["pid"] == arn_answer["pid"]


def test_provisioned_environments_follow_their_alias_to_a_new_version(runner: LambdaRunner) -> None:
    # Given provisioned concurrency on an alias of version 1
    runner.publish_version("echo")
    runner.update_function("echo", environment={"COLOR": "green"})
    runner.publish_version("echo")
    runner.create_alias("echo", "live", "1")
    runner.set_provisioned_concurrency("echo", "live", 1)
    [old] = runner.environments("echo")

    # When the alias moves to version 2
    runner.update_alias("echo", "live", "2")

    # Then version 2 has the provisioned environment, and version 1's is gone
    [new] = runner.environments("echo")
    assert (new["version"], new["init_type"]) == ("2", "provisioned-concurrency")
    assert not psutil.pid_exists(old["pid"])
    assert runner.provisioned_status("echo", "live")["Status"] == "READY"


def test_updating_latest_replaces_its_environments(runner: LambdaRunner) -> None:
    # Given a warm $LATEST environment
    lam = client_for(runner)
    _response, before = invoke(lam, "echo", {})

    # When $LATEST's configuration changes
    runner.update_function("echo", environment={"COLOR": "teal"})

    # Then the old environment is gone and the new configuration runs in a new one
    assert not psutil.pid_exists(before["pid"])
    _response, after = invoke(lam, "echo", {})
    assert after["color"] == "teal"
    assert after["pid"] != before["pid"]


def test_snap_start_versions_start_as_snap_start_and_latest_on_demand(runner: LambdaRunner) -> None:
    # Given a SnapStart function with a published version
    runner.add_function(spec("snappy", "echo", snap_start=True))
    version = runner.publish_version("snappy")
    lam = client_for(runner)

    # When the version and $LATEST are pinged
    restored = ping(lam, "snappy", Qualifier=version)
    latest = ping(lam, "snappy")

    # Then the version restores (as Lambda does) and $LATEST starts on demand
    assert (restored.start_kind, restored.init_type) == ("restore", "snap-start")
    assert (latest.start_kind, latest.init_type) == ("cold", "on-demand")


# -- invocation details --------------------------------------------------------------------------


def test_log_tail_carries_the_invocation_log(runner: LambdaRunner) -> None:
    # When an invocation prints and asks for the tail
    response, _answer = invoke(client_for(runner), "echo", {"print": "hello from echo"}, LogType="Tail")

    # Then the tail is the invocation's log: START, the function's lines, END, REPORT
    tail = base64.b64decode(response["LogResult"]).decode()
    lines = tail.splitlines()
    assert lines[0].startswith("START RequestId: ") or any(line.startswith("START") for line in lines)
    assert "hello from echo" in lines
    assert lines[-2].startswith("END RequestId: ")
    assert lines[-1].startswith("REPORT RequestId: ")
    assert "Init Duration: " in lines[-1]


def test_log_tail_is_the_last_4kb(runner: LambdaRunner) -> None:
    # When an invocation prints far more than 4 KB
    response, _answer = invoke(client_for(runner), "echo", {"print": "x" * 10_000 + " end-marker"}, LogType="Tail")

    # Then only the last 4 KB come back, ending with the REPORT line
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096
    assert b"end-marker" in tail
    assert tail.decode().splitlines()[-1].startswith("REPORT RequestId: ")


def test_log_sink_receives_every_line(make_runner: Callable[..., LambdaRunner]) -> None:
    # Given a runner with a log sink
    received: list[tuple[str, str, str]] = []
    runner = make_runner(log_sink=lambda function, version, line: received.append((function, version, line)))
    runner.add_function(spec("echo", "echo"))

    # When a function prints
    invoke(client_for(runner), "echo", {"print": "to the sink"})

    # Then the sink got the line, tagged with function and version, and the platform lines
    assert ("echo", "$LATEST", "to the sink") in received
    assert any(line.startswith("REPORT RequestId: ") for _f, _v, line in received)
    assert any(line.startswith('{"_aws"') for _f, _v, line in received)  # the EMF telemetry line


def test_context_and_lambda_environment_variables_are_set(
    make_runner: Callable[..., LambdaRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given endpoint overrides and an unrelated variable in the runner's environment
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
    monkeypatch.setenv("UNRELATED_PARENT_SECRET", "do-not-leak")
    runner = make_runner()
    runner.add_function(spec("env", "env_dump", environment={"GREETING": "hi"}, memory_mb=256))
    runner.add_function(spec("echo", "echo", timeout_s=5))
    lam = client_for(runner)

    # When the functions report what they see
    _response, dump = invoke(lam, "env", {})
    context = base64.b64encode(json.dumps({"custom": {"source": "tests"}, "env": {"k": "v"}}).encode()).decode()
    _response, echo = invoke(lam, "echo", {}, ClientContext=context)

    # Then Lambda's variables are set, the passthrough ones too, and nothing else leaks
    environ = dump["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env"
    assert environ["AWS_LAMBDA_LOG_STREAM_NAME"].endswith("]" + runner.environments("env")[0]["environment_id"])
    assert environ["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert environ["_HANDLER"] == "tests.functions.env_dump.handler"
    assert environ["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert environ["GREETING"] == "hi"
    assert environ["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:1"
    assert environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert "UNRELATED_PARENT_SECRET" not in environ
    assert echo["function_name"] == "echo"
    assert echo["memory_limit_in_mb"] == "128"
    assert echo["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert 0 < echo["remaining_ms"] <= 5000
    assert echo["client_context"] == {"custom": {"source": "tests"}, "env": {"k": "v"}, "client": None}
    assert echo["log_group_name"] == "/aws/lambda/echo"


def test_event_invocations_answer_202_and_run_in_the_background(runner: LambdaRunner) -> None:
    # When an asynchronous invocation is made
    response = client_for(runner).invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")

    # Then it is accepted at once, and runs
    assert response["StatusCode"] == 202
    assert eventually(lambda: sum(env["invocations"] for env in runner.environments("echo")) == 1)


def test_dry_run_checks_the_function_without_running_it(runner: LambdaRunner) -> None:
    response = client_for(runner).invoke(FunctionName="echo", InvocationType="DryRun")

    assert response["StatusCode"] == 204
    assert runner.environments("echo") == []


def test_the_runner_serves_many_sequential_calls_on_kept_alive_connections(runner: LambdaRunner) -> None:
    lam = client_for(runner)

    answers = [invoke(lam, "echo", {"n": n})[1] for n in range(30)]

    assert [answer["event"]["n"] for answer in answers] == list(range(30))
    assert len({answer["pid"] for answer in answers}) == 1
