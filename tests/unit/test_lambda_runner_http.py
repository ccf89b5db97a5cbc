"""The runner's Lambda API routing and error shapes, called directly (no socket, no worker process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.lambda_http import Response
from emulator.lambda_runner import FunctionSpec, LambdaRunner
from emulator.runner_api import LambdaAPI

pytestmark = pytest.mark.unit


@pytest.fixture
def api() -> LambdaAPI:
    runner = LambdaRunner(region="us-east-1", parent_env={})  # never started: control-plane calls only
    runner.add_function(FunctionSpec(name="echo", handler="tests.functions.echo.handler", tags={"a": "b"}))
    return LambdaAPI(runner)


def call(api: LambdaAPI, method: str, path: str, body: Any = None, **headers: str) -> tuple[Response, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    response = api.handle(method, path, headers, raw)
    return response, json.loads(response.body) if response.body else None


def test_unknown_routes_are_unknown_operations(api: LambdaAPI) -> None:
    response, document = call(api, "GET", "/2015-03-31/nothing-here")

    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "Unknown operation: GET /2015-03-31/nothing-here" in document["message"]


def test_url_encoded_arns_are_decoded(api: LambdaAPI) -> None:
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho/configuration"

    response, document = call(api, "GET", path)

    assert response.status == 200
    assert document["FunctionName"] == "echo"


def test_qualifier_query_selects_the_version(api: LambdaAPI) -> None:
    call(api, "POST", "/2015-03-31/functions/echo/versions", {})

    response, document = call(api, "GET", "/2015-03-31/functions/echo/configuration?Qualifier=1")

    assert response.status == 200
    assert document["Version"] == "1"
    assert document["FunctionArn"].endswith(":function:echo:1")


def test_errors_carry_the_type_header_and_lambdas_body(api: LambdaAPI) -> None:
    response, document = call(api, "GET", "/2015-03-31/functions/nope/configuration")

    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert document == {
        "Type": "User",
        "Message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
    }


def test_a_body_that_is_not_json_is_invalid_request_content_and_changes_nothing(api: LambdaAPI) -> None:
    response = api.handle("PUT", "/2017-10-31/functions/echo/concurrency", {}, b"{oops")

    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert api.runner.registry.function("echo").reserved is None


def test_a_negative_reserved_concurrency_is_refused_and_changes_nothing(api: LambdaAPI) -> None:
    response, document = call(
        api, "PUT", "/2017-10-31/functions/echo/concurrency", {"ReservedConcurrentExecutions": -1}
    )

    assert response.status == 400
    assert document["message"] == "ReservedConcurrentExecutions must be an integer >= 0, got -1"
    assert api.runner.registry.function("echo").reserved is None


def test_invalid_invocation_type_and_log_type_are_refused(api: LambdaAPI) -> None:
    bad_type, type_doc = call(
        api, "POST", "/2015-03-31/functions/echo/invocations", {}, **{"x-amz-invocation-type": "Later"}
    )
    bad_log, log_doc = call(api, "POST", "/2015-03-31/functions/echo/invocations", {}, **{"x-amz-log-type": "All"})

    assert (bad_type.status, bad_log.status) == (400, 400)
    assert "invocationType" in type_doc["message"]
    assert log_doc["message"] == "LogType must be None or Tail, got 'All'"


def test_dry_run_answers_204_without_starting_anything(api: LambdaAPI) -> None:
    response, _ = call(api, "POST", "/2015-03-31/functions/echo/invocations", {}, **{"x-amz-invocation-type": "DryRun"})

    assert response.status == 204
    assert api.runner.environments("echo") == []


def test_list_tags_and_get_function(api: LambdaAPI) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:echo"

    _response, tags = call(api, "GET", f"/2017-03-31/tags/{arn}")
    _response, function = call(api, "GET", "/2015-03-31/functions/echo")

    assert tags == {"Tags": {"a": "b"}}
    assert function["Configuration"]["FunctionName"] == "echo"
    assert function["Tags"] == {"a": "b"}
    assert "Concurrency" not in function


def test_list_paging(api: LambdaAPI) -> None:
    for name in ("b", "c"):
        api.runner.add_function(FunctionSpec(name=name, handler="m.h"))

    _response, first = call(api, "GET", "/2015-03-31/functions?MaxItems=2")
    _response, second = call(api, "GET", f"/2015-03-31/functions?MaxItems=2&Marker={first['NextMarker']}")

    assert [f["FunctionName"] for f in first["Functions"]] == ["b", "c"]
    assert [f["FunctionName"] for f in second["Functions"]] == ["echo"]
    assert "NextMarker" not in second


def test_provisioned_concurrency_above_the_account_limit_is_refused_and_changes_nothing(api: LambdaAPI) -> None:
    call(api, "POST", "/2015-03-31/functions/echo/versions", {})

    response, document = call(
        api,
        "PUT",
        "/2019-09-30/functions/echo/provisioned-concurrency?Qualifier=1",
        {"ProvisionedConcurrentExecutions": 101},
    )

    assert response.status == 400
    assert document["message"] == "Requested Provisioned Concurrency (101) exceeds the account's concurrency (100)."
    assert api.runner.registry.provisioned_by_version("echo") == {}
    assert api.runner.environments("echo") == []


def test_runner_settings_are_validated() -> None:
    from emulator.runner_model import InvalidParameter

    with pytest.raises(InvalidParameter, match="idle_timeout_s and init_timeout_s must be > 0"):
        LambdaRunner(idle_timeout_s=0)
    with pytest.raises(InvalidParameter, match="account_concurrency >= 1"):
        LambdaRunner(account_concurrency=0)
