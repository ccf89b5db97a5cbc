"""The local stack's HTTP servers under bad input (issue 12, item 8): a 4xx in the service's error shape, never a
500 or no reply, and nothing lost.

Real servers on 127.0.0.1 (the local Lambda runner, the local CodeDeploy, the EventBridge router),
real sockets: the requests are written as raw bytes, since no client library sends a negative
``Content-Length``. Where a client exists, botocore is the oracle of the error shape: it must read
the code AWS would send (``x-amzn-ErrorType`` for Lambda, ``__type`` for the JSON 1.1 services).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.codedeploy import LocalCodeDeploy
from emulator.event_router import EventRouter
from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])
DEEP = b"[" * 100_000 + b"]" * 100_000
OTHER = "arn:aws:lambda:us-east-1:999999999999:function:echo"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    #: the server closed the connection after this reply (None: not looked at)
    closed: bool | None

    def json(self) -> Any:
        return json.loads(self.body)


def send(url: str, raw: bytes, *, look_for_close: bool = False) -> Reply:
    """Write ``raw`` on a new connection and read one reply (bounded: 30 s of socket timeout).

    ``look_for_close``: then read once more; an open connection ends that read at the timeout.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        closed = None
        if look_for_close:
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                closed = False
        return Reply(response.status, headers, body, closed)


def request(method: str, path: str, body: bytes = b"", *headers: str) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def with_length(method: str, path: str, length: str, body: bytes, *headers: str) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# -- the local Lambda runner ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner() -> Iterator[LambdaRunner]:
    with LambdaRunner() as started:
        started.add_function(
            FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[ROOT], timeout_s=5)
        )
        started.publish_version("echo")
        started.create_alias("echo", "live", "1")
        yield started


@pytest.fixture
def lam(runner: LambdaRunner, aws_env: None) -> Any:
    return boto3.client(
        "lambda", endpoint_url=runner.url, region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )


def _lambda_error(reply: Reply, status: int, code: str) -> str:
    """Lambda's error shape: the code in ``x-amzn-ErrorType``, a JSON body of ``Type`` and a message."""
    assert (reply.status, reply.headers.get("x-amzn-errortype")) == (status, code), reply
    document = reply.json()
    assert document["Type"] == "User"
    message: str = document.get("message") or document.get("Message")
    assert message
    return message


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/2015-03-31/functions/echo/invocations"), ("POST", "/2015-03-31/functions/echo/aliases")],
    ids=["invoke", "create-alias"],
)
def test_json_nested_100k_levels_is_invalid_request_content(runner: LambdaRunner, method: str, path: str) -> None:
    # Given a body of 100,000 nested arrays (json.loads raises RecursionError on it)
    # When it is sent to the runner
    reply = send(runner.url, request(method, path, DEEP))

    # Then it is a 400 in Lambda's shape, not a 500, and nothing ran
    message = _lambda_error(reply, 400, "InvalidRequestContentException")
    assert "nested too deeply" in message
    assert runner.environments("echo") == []


@pytest.mark.parametrize("weight", ["abc", True, -0.5, 2, None, [0.1]], ids=repr)
def test_a_non_numeric_version_weight_is_refused_and_the_alias_is_kept(
    runner: LambdaRunner, lam: Any, weight: Any
) -> None:
    # Given an alias without routing, and an update whose weight is not a number from 0 to 1
    before = lam.get_alias(FunctionName="echo", Name="live")
    body = json.dumps({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"1": weight}}})

    # When it is sent raw (botocore would refuse it before sending), to UpdateAlias and CreateAlias
    updated = send(runner.url, request("PUT", "/2015-03-31/functions/echo/aliases/live", body.encode()))
    created = send(
        runner.url,
        request(
            "POST", "/2015-03-31/functions/echo/aliases", json.dumps({"Name": "canary", **json.loads(body)}).encode()
        ),
    )

    # Then both are 400 InvalidParameterValueException naming the weight, and nothing changed
    for reply in (updated, created):
        assert "additionalVersionWeights" in _lambda_error(reply, 400, "InvalidParameterValueException")
    after = lam.get_alias(FunctionName="echo", Name="live")
    assert (after["RevisionId"], after.get("RoutingConfig")) == (before["RevisionId"], before.get("RoutingConfig"))
    assert [alias["Name"] for alias in lam.list_aliases(FunctionName="echo")["Aliases"]] == ["live"]


@pytest.mark.parametrize("length", ["-5", "-1", "abc", "1e3", "+3"])
def test_a_content_length_that_is_not_a_length_is_refused_and_the_connection_closed(
    runner: LambdaRunner, length: str
) -> None:
    # Given an invoke whose Content-Length is negative (or not a number), followed by bytes that
    # would be read as the next request if the server guessed a length
    smuggled = request("POST", "/2015-03-31/functions/echo/invocations", b"{}")
    raw = with_length("POST", "/2015-03-31/functions/echo/invocations", length, smuggled)

    # When it is sent
    reply = send(runner.url, raw, look_for_close=True)

    # Then the answer is a 400 in Lambda's shape, the connection is closed after it, and nothing ran
    assert "Content-Length" in _lambda_error(reply, 400, "InvalidRequestContentException")
    assert reply.headers.get("connection") == "close"
    assert reply.closed
    assert runner.environments("echo") == []


@pytest.mark.parametrize("name", [OTHER, f"{OTHER}:live", "999999999999:function:echo"])
def test_a_function_of_another_account_is_access_denied(runner: LambdaRunner, lam: Any, name: str) -> None:
    # Given the name of a function the runner holds, but in another account's ARN
    # When it is invoked and looked up through boto3
    with pytest.raises(ClientError) as invoked:
        lam.invoke(FunctionName=name, Payload=b"{}")
    with pytest.raises(ClientError) as looked_up:
        lam.get_function_configuration(FunctionName=name)

    # Then both are refused as AWS refuses them (403 AccessDeniedException, read by botocore), and nothing ran
    for caught, action in ((invoked, "lambda:InvokeFunction"), (looked_up, "lambda:GetFunctionConfiguration")):
        error = caught.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, "AccessDeniedException")
        assert f"not authorized to perform: {action}" in error["Error"]["Message"]
        assert "999999999999" in error["Error"]["Message"]
    assert runner.environments("echo") == []
    # And the same function in the runner's own account still answers
    own = lam.get_function_configuration(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:echo")
    assert own["FunctionName"] == "echo"


def test_the_runner_still_serves_after_bad_requests(runner: LambdaRunner, lam: Any) -> None:
    # Given every kind of bad request above, sent first
    send(runner.url, request("POST", "/2015-03-31/functions/echo/invocations", DEEP))
    send(runner.url, with_length("POST", "/2015-03-31/functions/echo/invocations", "-5", b"{}"))

    # When a good invoke follows
    answer = lam.invoke(FunctionName="echo:live", Payload=b'{"ok": 1}')

    # Then it is served
    assert answer["StatusCode"] == 200
    assert json.loads(answer["Payload"].read())["event"] == {"ok": 1}


# -- the local CodeDeploy and the EventBridge router (JSON 1.1: ``__type`` and ``message``) ---------


@pytest.fixture(scope="module")
def codedeploy() -> Iterator[LocalCodeDeploy]:
    started = LocalCodeDeploy().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def router() -> Iterator[EventRouter]:
    delivered: list[Any] = []
    started = EventRouter([], lambda target, event: delivered.append((target, event)))
    started.start(run_schedules=False)
    yield started
    started.stop()


JSON_11 = "Content-Type: application/x-amz-json-1.1"


def _json11_error(reply: Reply, code: str) -> str:
    assert reply.status == 400, reply
    document = reply.json()
    assert document["__type"] == code
    message: str = document["message"]
    return message


def test_codedeploy_answers_deep_json_and_a_bad_length_with_a_serialization_error(codedeploy: LocalCodeDeploy) -> None:
    target = "X-Amz-Target: CodeDeploy_20141006.GetDeployment"
    deep = send(codedeploy.url, request("POST", "/", DEEP, target, JSON_11))
    negative = send(
        codedeploy.url, with_length("POST", "/", "-5", b'{"deploymentId": "d-1"}', target, JSON_11), look_for_close=True
    )

    assert "nested too deeply" in _json11_error(deep, "SerializationException")
    assert "Content-Length" in _json11_error(negative, "SerializationException")
    assert negative.closed
    # And it still serves: botocore reads its answer to a good request
    client = boto3.client(
        "codedeploy",
        endpoint_url=codedeploy.url,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        client.get_deployment(deploymentId="d-missing")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500


def test_the_event_router_answers_deep_json_and_a_bad_length_with_a_4xx(router: EventRouter) -> None:
    target = "X-Amz-Target: AWSEvents.PutEvents"
    deep = send(router.url, request("POST", "/", DEEP, target, JSON_11))
    entry = {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": DEEP.decode()}
    deep_detail = send(router.url, request("POST", "/", json.dumps({"Entries": [entry]}).encode(), target, JSON_11))
    not_an_object = send(router.url, request("POST", "/", b"[1, 2]", target, JSON_11))
    negative = send(router.url, with_length("POST", "/", "-5", b"{}", target, JSON_11), look_for_close=True)

    assert "nested too deeply" in _json11_error(deep, "SerializationException")
    # a Detail nested too deeply fails its entry, as PutEvents reports a malformed detail
    assert deep_detail.status == 200
    assert deep_detail.json()["FailedEntryCount"] == 1
    assert deep_detail.json()["Entries"][0]["ErrorCode"] == "MalformedDetail"
    assert "JSON object" in _json11_error(not_an_object, "ValidationException")
    assert "Content-Length" in _json11_error(negative, "SerializationException")
    assert negative.headers["x-amzn-errortype"] == "SerializationException"
    assert negative.closed
