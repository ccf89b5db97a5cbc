"""The local Lambda runner's control-plane API through boto3, and its errors as botocore parses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])
ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@pytest.fixture
def runner(aws_env: None) -> Iterator[LambdaRunner]:
    with LambdaRunner() as runner:
        runner.add_function(
            FunctionSpec(
                name="echo",
                handler="tests.functions.echo.handler",
                code_paths=[ROOT],
                timeout_s=2.5,
                memory_mb=256,
                environment={"COLOR": "blue"},
                tags={"team": "thermostat"},
                description="echoes",
            )
        )
        yield runner


@pytest.fixture
def lam(runner: LambdaRunner) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=runner.url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response: dict[str, Any] = caught.value.response
    return response


def test_get_function_configuration_describes_latest(lam: Any) -> None:
    config = lam.get_function_configuration(FunctionName="echo")

    assert config["FunctionName"] == "echo"
    assert config["FunctionArn"] == f"{ARN}:echo"
    assert config["Handler"] == "tests.functions.echo.handler"
    assert config["Runtime"] == "python3.11"
    assert config["Timeout"] == 3  # 2.5 s rounded up to whole seconds, as Lambda counts them
    assert config["MemorySize"] == 256
    assert config["Version"] == "$LATEST"
    assert config["Environment"] == {"Variables": {"COLOR": "blue"}}
    assert config["Description"] == "echoes"
    assert config["State"] == "Active"


def test_get_function_by_full_arn_includes_tags_and_concurrency(lam: Any) -> None:
    lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=4)

    function = lam.get_function(FunctionName=f"{ARN}:echo")

    assert function["Configuration"]["FunctionName"] == "echo"
    assert function["Tags"] == {"team": "thermostat"}
    assert function["Concurrency"] == {"ReservedConcurrentExecutions": 4}


def test_function_concurrency_put_get_delete(lam: Any, runner: LambdaRunner) -> None:
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="echo")

    put = lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=3)
    got = lam.get_function_concurrency(FunctionName="echo")
    assert put["ReservedConcurrentExecutions"] == got["ReservedConcurrentExecutions"] == 3
    assert runner.registry.function("echo").reserved == 3

    lam.delete_function_concurrency(FunctionName="echo")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="echo")


def test_reserved_concurrency_above_the_account_limit_is_refused_and_nothing_changes(
    lam: Any, runner: LambdaRunner
) -> None:
    error = error_of(lam.put_function_concurrency, FunctionName="echo", ReservedConcurrentExecutions=1000)

    assert error["Error"]["Code"] == "InvalidParameterValueException"
    assert "exceeds the account limit (100)" in error["Error"]["Message"]
    assert runner.registry.function("echo").reserved is None


def test_publish_version_lists_versions_and_reuses_an_unchanged_one(lam: Any) -> None:
    # Given two publications around a configuration change
    first = lam.publish_version(FunctionName="echo", Description="first")
    lam_again = lam.publish_version(FunctionName="echo")

    # Then an unchanged $LATEST is not published twice (Lambda's rule)
    assert first["Version"] == lam_again["Version"] == "1"
    assert first["FunctionArn"] == f"{ARN}:echo:1"
    assert first["Description"] == "first"

    versions = lam.list_versions_by_function(FunctionName="echo")["Versions"]
    assert [version["Version"] for version in versions] == ["$LATEST", "1"]


def test_publish_version_with_a_stale_revision_is_refused(lam: Any) -> None:
    error = error_of(lam.publish_version, FunctionName="echo", RevisionId="not-the-current-one")

    assert error["Error"]["Code"] == "PreconditionFailedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="echo")["Versions"]] == ["$LATEST"]


def test_aliases_create_get_update_list_delete(lam: Any, runner: LambdaRunner) -> None:
    lam.publish_version(FunctionName="echo")
    runner.update_function("echo", environment={"COLOR": "green"})
    lam.publish_version(FunctionName="echo")

    created = lam.create_alias(FunctionName="echo", Name="live", FunctionVersion="1", Description="prod")
    assert created["AliasArn"] == f"{ARN}:echo:live"
    assert lam.get_alias(FunctionName="echo", Name="live")["FunctionVersion"] == "1"

    updated = lam.update_alias(
        FunctionName="echo",
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}},
        RevisionId=created["RevisionId"],
    )
    assert updated["FunctionVersion"] == "2"
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    assert [alias["Name"] for alias in lam.list_aliases(FunctionName="echo")["Aliases"]] == ["live"]
    assert lam.list_aliases(FunctionName="echo", FunctionVersion="1")["Aliases"] == []

    lam.delete_alias(FunctionName="echo", Name="live")
    assert error_of(lam.get_alias, FunctionName="echo", Name="live")["Error"]["Code"] == "ResourceNotFoundException"


def test_alias_errors_leave_the_alias_as_it_was(lam: Any) -> None:
    lam.publish_version(FunctionName="echo")
    created = lam.create_alias(FunctionName="echo", Name="live", FunctionVersion="1")

    duplicate = error_of(lam.create_alias, FunctionName="echo", Name="live", FunctionVersion="1")
    unknown_version = error_of(lam.update_alias, FunctionName="echo", Name="live", FunctionVersion="9")
    stale = error_of(
        lam.update_alias, FunctionName="echo", Name="live", FunctionVersion="1", RevisionId="stale-revision"
    )

    assert duplicate["Error"]["Code"] == "ResourceConflictException"
    assert duplicate["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert unknown_version["Error"]["Code"] == "ResourceNotFoundException"
    assert unknown_version["Error"]["Message"] == f"Function not found: {ARN}:echo:9"
    assert stale["Error"]["Code"] == "PreconditionFailedException"
    assert lam.get_alias(FunctionName="echo", Name="live")["RevisionId"] == created["RevisionId"]


def test_list_tags_of_a_function_arn(lam: Any) -> None:
    assert lam.list_tags(Resource=f"{ARN}:echo")["Tags"] == {"team": "thermostat"}


def test_list_functions(lam: Any, runner: LambdaRunner) -> None:
    runner.add_function(FunctionSpec(name="another", handler="tests.functions.echo.handler", code_paths=[ROOT]))

    names = [function["FunctionName"] for function in lam.list_functions()["Functions"]]

    assert names == ["another", "echo"]


def test_unknown_function_is_resource_not_found(lam: Any) -> None:
    error = error_of(lam.invoke, FunctionName="nope", Payload=b"{}")

    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Message"] == f"Function not found: {ARN}:nope"


def test_unknown_qualifier_is_resource_not_found(lam: Any, runner: LambdaRunner) -> None:
    error = error_of(lam.invoke, FunctionName="echo", Qualifier="7", Payload=b"{}")

    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"] == f"Function not found: {ARN}:echo:7"
    assert runner.environments("echo") == []


def test_conflicting_qualifiers_are_refused(lam: Any, runner: LambdaRunner) -> None:
    lam.publish_version(FunctionName="echo")

    error = error_of(lam.invoke, FunctionName="echo:1", Qualifier="$LATEST", Payload=b"{}")

    assert error["Error"]["Code"] == "InvalidParameterValueException"
    assert "does not match the specified qualifier" in error["Error"]["Message"]
    assert runner.environments("echo") == []


def test_partial_arn_with_qualifier_is_accepted(lam: Any) -> None:
    lam.publish_version(FunctionName="echo")

    response = lam.invoke(FunctionName="123456789012:function:echo:1", Payload=b"{}")

    assert response["ExecutedVersion"] == "1"
    assert json.loads(response["Payload"].read())["function_version"] == "1"


def test_payload_above_6mb_is_request_too_large(lam: Any, runner: LambdaRunner) -> None:
    payload = json.dumps({"blob": "x" * (6 * 1024 * 1024)}).encode()

    error = error_of(lam.invoke, FunctionName="echo", Payload=payload)

    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "6291456 bytes" in error["Error"]["Message"]
    assert runner.environments("echo") == []


def test_payload_just_under_6mb_is_served(lam: Any) -> None:
    payload = json.dumps({"blob": "x" * (6 * 1024 * 1024 - 100)}).encode()

    response = lam.invoke(FunctionName="echo", Payload=payload)

    assert "FunctionError" in response  # the echo answer itself is above 6 MB: Lambda's response limit
    assert json.loads(response["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


def test_payload_that_is_not_json_is_invalid_request_content(lam: Any, runner: LambdaRunner) -> None:
    error = error_of(lam.invoke, FunctionName="echo", Payload=b"{not json")

    assert error["Error"]["Code"] == "InvalidRequestContentException"
    assert error["Error"]["Message"].startswith("Could not parse request body into json")
    assert runner.environments("echo") == []


def test_client_context_that_is_not_base64_json_is_refused(lam: Any) -> None:
    error = error_of(lam.invoke, FunctionName="echo", Payload=b"{}", ClientContext="%%%not-base64")

    assert error["Error"]["Code"] == "InvalidRequestContentException"
    assert error["Error"]["Message"] == "Client context must be a valid Base64-encoded JSON object."


def test_malformed_function_name_is_invalid_parameter(lam: Any) -> None:
    error = error_of(lam.get_function, FunctionName="arn:aws:lambda:us-east-1:123:function:echo")

    assert error["Error"]["Code"] == "InvalidParameterValueException"
    assert "failed to satisfy constraint" in error["Error"]["Message"]


def test_empty_payload_reaches_the_handler_as_an_empty_object(lam: Any) -> None:
    response = lam.invoke(FunctionName="echo")

    assert json.loads(response["Payload"].read())["event"] == {}
