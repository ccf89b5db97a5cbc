"""``thermostat hook run`` against the local Lambda runner: the verdict printed, the exit code honest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.lambda_runner import FunctionSpec, LambdaRunner
from handlers.cli import main

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def lambda_url(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with LambdaRunner(idle_timeout_s=60, region="us-east-1") as runner:
        runner.add_function(FunctionSpec(name="orders", handler="tests.functions.echo.handler", code_paths=[ROOT]))
        runner.publish_version("orders")
        runner.add_function(FunctionSpec(name="broken", handler="tests.functions.raises.handler", code_paths=[ROOT]))
        runner.publish_version("broken")
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", runner.url)
        yield runner.url


def test_a_healthy_version_exits_0_with_the_verdict_as_json(
    lambda_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["hook", "run", "--function", "orders", "--version", "1", "--jitter", "0.05,0.1", "--json"])
    verdict = json.loads(capsys.readouterr().out)
    assert code == 0
    assert verdict["status"] == "Succeeded"
    assert verdict["environments"] == 5
    assert all(50 <= i["delay_ms"] <= 100 for i in verdict["invocations"])


def test_a_failing_version_exits_1_with_a_table_naming_each_failure(
    lambda_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["hook", "run", "--function", "broken", "--version", "1", "--concurrency", "2", "--jitter", "0,0"])
    out = capsys.readouterr().out
    assert code == 1
    first_line = out.splitlines()[0]
    assert first_line.startswith("Failed: 2/2 invocations of broken:1 failed: invocation 1/2: FunctionError")
    assert "INDEX" in out
    assert "ENVIRONMENT_ID" in out


def test_payload_and_expectations_from_the_command_line(lambda_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["hook", "run", "--function", "orders", "--version", "1", "--jitter", "0,0", "--json"]
    arguments += ["--payload", '{"ping": 1}', "--expect", "event.ping == 1", "--expect", 'function_version == "1"']
    assert main(arguments) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "Succeeded"
    assert main([*arguments[:-4], "--expect", "event.ping == 2"]) == 1
    assert "expected event.ping == 2, got 1" in json.loads(capsys.readouterr().out)["reason"]
