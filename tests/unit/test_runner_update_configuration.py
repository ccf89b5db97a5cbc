"""The runner's UpdateFunctionConfiguration: what a user changes before PublishVersion (no socket, no worker)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.lambda_runner import FunctionSpec, LambdaRunner
from emulator.runner_api import LambdaAPI

pytestmark = pytest.mark.unit

PATH = "/2015-03-31/functions/echo/configuration"


@pytest.fixture
def api() -> LambdaAPI:
    runner = LambdaRunner(region="us-east-1", parent_env={})  # never started: control-plane calls only
    runner.add_function(FunctionSpec(name="echo", handler="tests.functions.echo.handler", environment={"A": "1"}))
    return LambdaAPI(runner)


def put(api: LambdaAPI, body: Any) -> tuple[int, dict[str, Any]]:
    response = api.handle("PUT", PATH, {}, json.dumps(body).encode())
    return response.status, json.loads(response.body)


def test_a_changed_environment_makes_the_next_publish_a_new_version(api: LambdaAPI) -> None:
    first = api.runner.publish_version("echo")
    status, document = put(api, {"Environment": {"Variables": {"A": "2"}}, "Description": "build 2", "Timeout": 7})
    assert status == 200
    assert document["Environment"]["Variables"] == {"A": "2"}
    assert document["Description"] == "build 2"
    assert document["Timeout"] == 7
    second = api.runner.publish_version("echo")
    assert int(second) == int(first) + 1
    # The published versions keep what they were published with
    assert api.runner.registry.version("echo", first).spec.environment == {"A": "1"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"Environment": {"Variables": {"A": 1}}}, "Environment.Variables must be a map of strings"),
        ({"Environment": "A=1"}, "Environment.Variables must be a map of strings"),
        ({"Timeout": "7"}, "Timeout must be an integer, got '7'"),
        ({"MemorySize": True}, "MemorySize must be an integer, got True"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(api: LambdaAPI, body: dict[str, Any], fragment: str) -> None:
    before = api.runner.registry.function("echo").latest
    status, document = put(api, body)
    assert status == 400
    assert fragment in document["message"]
    assert api.runner.registry.function("echo").latest == before
