"""The local CodeDeploy over HTTP: both wire protocols, the report rules, and the adapters against it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from random import Random
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import parsers, serialize
from botocore.exceptions import ClientError

from domain.errors import InvalidInput, NotFound
from domain.hook import HookStatus, ReportOutcome
from emulator.codedeploy import LocalCodeDeploy
from emulator.codedeploy_wire import cbor_decode, cbor_encode, decode_request
from infra.codedeploy import CodeDeployAppSpecReader, CodeDeployReporter

pytestmark = pytest.mark.integration


@pytest.fixture
def codedeploy(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCodeDeploy]:
    with LocalCodeDeploy() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        yield fake


def client() -> Any:
    # Few retries, so that a test of our own retry loop is not hidden by botocore's.
    from botocore.config import Config

    return boto3.client("codedeploy", region_name="us-east-1", config=Config(retries={"max_attempts": 0}))


def test_first_report_accepted_second_already_completed(codedeploy: LocalCodeDeploy) -> None:
    # Given a deployment with a BeforeAllowTraffic hook
    deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    reporter = CodeDeployReporter(client(), sleeper=lambda s: None)
    # When it is reported twice
    first = reporter.report(deployment.deployment_id, execution_id, HookStatus.SUCCEEDED)
    second = reporter.report(deployment.deployment_id, execution_id, HookStatus.FAILED)
    # Then the first counts, the second is already completed, and both calls are on record
    assert (first, second) == (ReportOutcome.REPORTED, ReportOutcome.ALREADY_COMPLETED)
    assert codedeploy.execution_status(execution_id) == "Succeeded"
    assert [(c.status, c.answer) for c in codedeploy.reports(execution_id)] == [
        ("Succeeded", "ok"),
        ("Failed", "LifecycleEventAlreadyCompletedException"),
    ]


def test_throttled_first_calls_then_accepted(codedeploy: LocalCodeDeploy) -> None:
    deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    codedeploy.throttle(2)
    pauses: list[float] = []
    reporter = CodeDeployReporter(sleeper=pauses.append, rng=Random(2))  # the default client: one attempt
    assert reporter.report(deployment.deployment_id, execution_id, HookStatus.FAILED) is ReportOutcome.REPORTED
    assert [c.answer for c in codedeploy.reports(execution_id)] == ["ThrottlingException", "ThrottlingException", "ok"]
    assert len(pauses) == 2
    assert codedeploy.execution_status(execution_id) == "Failed"


@pytest.mark.parametrize(
    ("deployment_id", "execution_id", "error", "code"),
    [
        ("d-NOTTHERE1", None, NotFound, "DeploymentDoesNotExistException"),
        (None, "unknown-execution", InvalidInput, "InvalidLifecycleEventHookExecutionIdException"),
    ],
)
def test_bad_reports_get_codedeploys_errors_and_change_nothing(
    codedeploy: LocalCodeDeploy, deployment_id: str | None, execution_id: str | None, error: Any, code: str
) -> None:
    deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
    real_execution = deployment.execution_id("BeforeAllowTraffic")
    reporter = CodeDeployReporter(client(), sleeper=lambda s: None)
    with pytest.raises(error):
        reporter.report(deployment_id or deployment.deployment_id, execution_id or real_execution, HookStatus.FAILED)
    assert codedeploy.execution_status(real_execution) == "Pending"
    assert codedeploy.status_calls[-1].answer == code


def test_only_succeeded_or_failed_can_be_reported(codedeploy: LocalCodeDeploy) -> None:
    deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    with pytest.raises(ClientError) as caught:
        client().put_lifecycle_event_hook_execution_status(
            deploymentId=deployment.deployment_id, lifecycleEventHookExecutionId=execution_id, status="Pending"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidLifecycleEventHookExecutionStatusException"
    assert codedeploy.execution_status(execution_id) == "Pending"


@pytest.mark.parametrize("appspec_format", ["yaml", "json"])
def test_reader_reads_the_appspec_through_get_deployment(codedeploy: LocalCodeDeploy, appspec_format: str) -> None:
    deployment = codedeploy.add_deployment(
        "orders",
        "live",
        "6",
        "7",
        hooks={"BeforeAllowTraffic": "pre", "AfterAllowTraffic": "post"},
        appspec_format=appspec_format,
    )
    spec = CodeDeployAppSpecReader(client()).read_target(deployment.deployment_id)
    assert (spec.function, spec.alias, spec.current_version, spec.target_version) == ("orders", "live", "6", "7")
    assert spec.hooks == {"BeforeAllowTraffic": "pre", "AfterAllowTraffic": "post"}


def test_reader_of_an_unknown_deployment(codedeploy: LocalCodeDeploy) -> None:
    with pytest.raises(NotFound):
        CodeDeployAppSpecReader(client()).read_target("d-NOTTHERE1")


# --------------------------------------------------------------------------- the wire


def _botocore_operation(name: str) -> Any:
    return botocore.session.get_session().get_service_model("codedeploy").operation_model(name)


def _cbor_call(url: str, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Serialise with botocore's own RPCv2 CBOR serializer and send it (what newer botocore sends)."""
    model = _botocore_operation(operation)
    request = serialize.create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, model)
    http = urllib.request.Request(
        url + request["url_path"], data=request["body"], headers=request["headers"], method="POST"
    )
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _parse_cbor(operation: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    model = _botocore_operation(operation)
    parser = parsers.create_parser("smithy-rpc-v2-cbor")
    return dict(parser.parse({"status_code": status, "headers": headers, "body": body}, model.output_shape))


def test_rpc_v2_cbor_wire_is_what_botocore_speaks(codedeploy: LocalCodeDeploy) -> None:
    # Given a deployment, and requests built by botocore's CBOR serializer
    deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    # When GetDeployment is called over CBOR, Then botocore's CBOR parser reads the answer
    status, headers, body = _cbor_call(codedeploy.url, "GetDeployment", {"deploymentId": deployment.deployment_id})
    assert status == 200
    assert headers.get("smithy-protocol") == "rpc-v2-cbor"
    info = _parse_cbor("GetDeployment", status, headers, body)["deploymentInfo"]
    assert info["deploymentId"] == deployment.deployment_id
    assert info["revision"]["appSpecContent"]["content"] == deployment.appspec
    assert info["createTime"].year >= 2024  # tag 1 timestamps decode as datetimes
    # And a second report over CBOR gets the error code botocore expects
    params = {
        "deploymentId": deployment.deployment_id,
        "lifecycleEventHookExecutionId": execution_id,
        "status": "Succeeded",
    }
    assert _cbor_call(codedeploy.url, "PutLifecycleEventHookExecutionStatus", params)[0] == 200
    status, headers, body = _cbor_call(codedeploy.url, "PutLifecycleEventHookExecutionStatus", params)
    assert status == 400
    error = parsers.create_parser("smithy-rpc-v2-cbor")._do_error_parse(
        {"status_code": status, "headers": headers, "body": body}, None
    )
    assert error["Error"]["Code"] == "LifecycleEventAlreadyCompletedException"
    assert [c.protocol for c in codedeploy.reports(execution_id)] == ["rpc-v2-cbor", "rpc-v2-cbor"]


def test_json_wire_and_garbage(codedeploy: LocalCodeDeploy) -> None:
    request = urllib.request.Request(
        codedeploy.url,
        data=b"{not json",
        headers={"X-Amz-Target": "CodeDeploy_20141006.GetDeployment", "Content-Type": "application/x-amz-json-1.1"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["__type"] == "SerializationException"
    unknown = urllib.request.Request(
        codedeploy.url, data=b"{}", headers={"X-Amz-Target": "CodeDeploy_20141006.DeleteApplication"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(unknown, timeout=10)
    assert json.loads(caught.value.read())["__type"] == "UnknownOperationException"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        23,
        24,
        255,
        256,
        65_536,
        2**40,
        -1,
        -1000,
        1.5,
        "",
        "é" * 30,
        b"\x00\x01",
        [1, [2]],
        {"a": {"b": None}},
    ],
)
def test_cbor_round_trip(value: Any) -> None:
    assert cbor_decode(cbor_encode(value)) == value


def test_botocores_cbor_and_json_requests_decode_to_the_same_params() -> None:
    # Given one request, with timestamps, serialised by botocore in both of CodeDeploy's protocols
    from datetime import UTC, datetime

    model = _botocore_operation("ListDeployments")
    params = {
        "applicationName": "app",
        "createTimeRange": {"start": datetime(2024, 5, 1, tzinfo=UTC), "end": datetime(2024, 5, 2, 12, 30, tzinfo=UTC)},
        "includeOnlyStatuses": ["Succeeded", "Failed"],
    }
    cbor = serialize.create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, model)
    json_request = serialize.create_serializer("json").serialize_to_request(params, model)

    # When the emulator decodes each
    from_cbor = decode_request(cbor["url_path"], "", cbor["body"])
    from_json = decode_request("/", json_request["headers"]["X-Amz-Target"], json_request["body"])

    # Then both give the operation and the same params (times as epoch seconds)
    assert from_cbor[0] == from_json[0] == "ListDeployments"
    assert from_cbor[1] == from_json[1]
    assert from_cbor[1]["createTimeRange"]["start"] == datetime(2024, 5, 1, tzinfo=UTC).timestamp()


def test_cbor_that_is_not_one_item_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="trailing bytes"):
        cbor_decode(cbor_encode({"a": 1}) + b"\x01")
    with pytest.raises(ValueError, match="bad CBOR"):
        cbor_decode(b"\xff")


def test_cbor_indefinite_lengths_decode() -> None:
    # array(*) [1, "ab"(*)("a","b")] break, then map(*) {"k": 1} break
    assert cbor_decode(bytes([0x9F, 0x01, 0x7F, 0x61, 0x61, 0x61, 0x62, 0xFF, 0xFF])) == [1, "ab"]
    assert cbor_decode(bytes([0xBF, 0x61, 0x6B, 0x01, 0xFF])) == {"k": 1}
    with pytest.raises(ValueError, match="bad CBOR"):
        cbor_decode(bytes([0x62, 0x61]))
