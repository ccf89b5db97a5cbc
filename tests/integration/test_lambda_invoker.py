"""BotoFunctionInvoker against a local HTTP endpoint speaking the Lambda Invoke API.

Both transports (``fast``: signed here, keep-alive pool; ``sdk``: boto3) run the same tests:
the outcome of every kind of reply is the same whichever path carried it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.invocation import InvocationRequest, Outcome
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from infra.lambda_invoker import BotoFunctionInvoker, SigV4Signer
from tests.fakes import dead_endpoint
from thermostat_runtime import build_request

pytestmark = pytest.mark.integration

TRANSPORTS = ["fast", "sdk"]


@pytest.fixture
def endpoint(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaEndpoint]:
    functions = [
        SimulatedFunction("api"),
        SimulatedFunction("hot", throttle_reason="ConcurrentInvocationLimitExceeded"),
        SimulatedFunction("capped", reserved=1),
        SimulatedFunction("broken", function_error=True),
        SimulatedFunction("legacy", speaks_protocol=False),
        SimulatedFunction("slow", busy_ms=3_000),
        SimulatedFunction("flaky", fail_first=1),
    ]
    with LambdaEndpoint(functions) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        yield server


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


_open: list[BotoFunctionInvoker] = []


@pytest.fixture(autouse=True)
def _close_invokers() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def make(transport: str, **options: object) -> BotoFunctionInvoker:
    options.setdefault("sleep", Sleeps())
    invoker = BotoFunctionInvoker(transport=transport, **options)  # type: ignore[arg-type]
    _open.append(invoker)
    return invoker


def ping(
    function: str = "api", qualifier: str | None = "live", hold_ms: int = 0, **fields: object
) -> InvocationRequest:
    payload = json.dumps(build_request("warm", correlation_id="c-1", hold_ms=hold_ms)).encode()
    return InvocationRequest(function=function, qualifier=qualifier, payload=payload, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_protocol_reply_comes_back_parsed(endpoint: LambdaEndpoint, transport: str) -> None:
    invoker = make(transport)
    result = invoker.invoke(ping())
    assert invoker.transport == transport
    assert (result.outcome, result.status_code, result.executed_version) == (Outcome.OK, 200, "1")
    assert result.payload["thermostat"]["correlation_id"] == "c-1"
    assert result.payload["thermostat"]["start_kind"] == "cold"
    assert result.raw_size > 0
    assert result.error is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_overlapping_invocations_reach_distinct_environments(endpoint: LambdaEndpoint, transport: str) -> None:
    invoker = make(transport, pool_size=5)
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: invoker.invoke(ping(hold_ms=300)), range(5)))
    environments = {r.payload["thermostat"]["environment_id"] for r in results}
    assert len(environments) == 5
    assert endpoint.stats()["functions"]["api"]["peak_busy"] == 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unknown_function_or_qualifier_is_not_found_and_not_retried(
    endpoint: LambdaEndpoint, transport: str
) -> None:
    invoker = make(transport)
    ghost = invoker.invoke(ping("ghost"))
    assert ghost.outcome is Outcome.NOT_FOUND
    assert "Function not found" in (ghost.error or "")
    assert invoker.invoke(ping("api", "nope")).outcome is Outcome.NOT_FOUND
    assert endpoint.stats()["total_requests"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_throttle_is_classified_by_reason_and_sent_once(endpoint: LambdaEndpoint, transport: str) -> None:
    sleeps = Sleeps()
    invoker = make(transport, sleep=sleeps)
    result = invoker.invoke(ping("hot"))
    assert (result.outcome, result.status_code, result.error) == (
        Outcome.THROTTLED,
        429,
        "ConcurrentInvocationLimitExceeded",
    )
    assert endpoint.requests("hot") == 1  # counted at the server: no retry
    assert sleeps.calls == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reserved_concurrency_throttles_say_so(endpoint: LambdaEndpoint, transport: str) -> None:
    invoker = make(transport, pool_size=3)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoker.invoke(ping("capped", hold_ms=400)), range(3)))
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes == ["ok", "throttled", "throttled"]
    reasons = {r.error for r in results if r.outcome is Outcome.THROTTLED}
    assert reasons == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert endpoint.requests("capped") == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_retrying_throttles_is_opt_in_and_bounded(endpoint: LambdaEndpoint, transport: str) -> None:
    sleeps = Sleeps()
    invoker = make(transport, retry_throttles=True, max_attempts=2, sleep=sleeps)
    assert invoker.invoke(ping("hot")).outcome is Outcome.THROTTLED
    assert endpoint.requests("hot") == 2
    assert len(sleeps.calls) == 1
    assert 0.0 <= sleeps.calls[0] <= 2.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_function_error_carries_the_error_type_and_message(endpoint: LambdaEndpoint, transport: str) -> None:
    result = make(transport).invoke(ping("broken"))
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error == "RuntimeError: boom"
    assert result.payload["errorType"] == "RuntimeError"
    assert endpoint.requests("broken") == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_reply_outside_the_protocol_is_still_ok(endpoint: LambdaEndpoint, transport: str) -> None:
    result = make(transport).invoke(ping("legacy"))
    assert (result.outcome, result.payload) == (Outcome.OK, {"statusCode": 200, "body": "ok"})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_slow_reply_times_out_at_the_requested_read_timeout_and_is_not_retried(
    endpoint: LambdaEndpoint, transport: str
) -> None:
    sleeps = Sleeps()
    invoker = make(transport, sleep=sleeps)
    result = invoker.invoke(ping("slow", read_timeout_s=0.3))
    assert result.outcome is Outcome.TIMEOUT
    assert "no reply within" in (result.error or "")
    assert endpoint.requests("slow") == 1
    assert sleeps.calls == []
    # and the invoker is still usable afterwards
    assert invoker.invoke(ping()).outcome is Outcome.OK


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_transient_5xx_is_retried_once(endpoint: LambdaEndpoint, transport: str) -> None:
    sleeps = Sleeps()
    result = make(transport, sleep=sleeps).invoke(ping("flaky"))
    assert result.outcome is Outcome.OK
    assert endpoint.requests("flaky") == 2
    assert len(sleeps.calls) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_attempt_means_one_attempt(endpoint: LambdaEndpoint, transport: str) -> None:
    result = make(transport, max_attempts=1).invoke(ping("flaky"))
    assert result.outcome is Outcome.FAILED
    assert "ServiceException" in (result.error or "")
    assert result.status_code == 503
    assert endpoint.requests("flaky") == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unreachable_endpoint_fails_without_raising(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", dead_endpoint())
    sleeps = Sleeps()
    result = make(transport, sleep=sleeps, connect_timeout_s=1.0).invoke(ping())
    assert result.outcome is Outcome.FAILED
    assert len(sleeps.calls) == 1  # a connection failure is transient: one retry


def test_an_injected_clients_retry_and_pool_settings_are_honoured(endpoint: LambdaEndpoint) -> None:
    from infra import aws

    client = aws.client("lambda", max_attempts=0, max_pool_connections=33)
    invoker = BotoFunctionInvoker(client=client, sleep=Sleeps())
    _open.append(invoker)
    assert (invoker.max_attempts, invoker.pool_size) == (1, 33)
    assert invoker.invoke(ping("flaky")).outcome is Outcome.FAILED
    assert endpoint.requests("flaky") == 1
    client.close()


def test_keep_alive_connections_are_reused_and_the_pool_keeps_at_most_its_size(endpoint: LambdaEndpoint) -> None:
    invoker = make("fast", pool_size=2)
    for _ in range(10):
        assert invoker.invoke(ping()).outcome is Outcome.OK
    assert endpoint.stats()["connections"] == 1  # sequential calls share one connection
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: invoker.invoke(ping(hold_ms=200)), range(6)))
    assert invoker._fast is not None
    assert len(invoker._fast.pool._idle) <= 2
    invoker.close()
    assert invoker._fast.pool._idle == []


def test_a_connection_closed_by_the_server_is_replaced_silently(aws_env: None, monkeypatch) -> None:
    with LambdaEndpoint([SimulatedFunction("api")], close_connections=True) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        invoker = make("fast")
        results = [invoker.invoke(ping()).outcome for _ in range(4)]
        assert results == [Outcome.OK] * 4
        assert server.requests("api") == 4  # no request was lost or doubled


def test_a_function_arn_is_addressed_correctly(endpoint: LambdaEndpoint) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    for transport in TRANSPORTS:
        assert make(transport).invoke(ping(arn)).outcome is Outcome.OK
    assert endpoint.requests("api") == 2


def test_the_fast_path_falls_back_to_the_sdk_behind_a_proxy(endpoint: LambdaEndpoint, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    invoker = make("fast")
    assert invoker.transport == "sdk"


def test_missing_credentials_fail_the_invocation_not_the_caller(endpoint: LambdaEndpoint, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    import infra.aws as aws_module

    monkeypatch.setattr(aws_module, "_sessions", {})
    result = make("fast").invoke(ping())
    assert result.outcome is Outcome.FAILED
    assert "credentials" in (result.error or "")
    assert endpoint.stats()["total_requests"] == 0


# -- the signer matches botocore's ------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "qualifier", "token"),
    [
        ("api", "live", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:api", "7", "session-token"),
        ("my_fn-2", None, "tok"),
    ],
)
def test_the_signature_is_the_one_botocore_computes(function: str, qualifier: str | None, token: str | None) -> None:
    import urllib.parse

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = "lambda.us-east-1.amazonaws.com"
    path = f"/2015-03-31/functions/{urllib.parse.quote(function, safe='')}/invocations"
    query = f"Qualifier={qualifier}" if qualifier else ""
    body = b'{"thermostat":{"v":1,"action":"warm"}}'
    amz_date = "20250102T030405Z"
    ours = SigV4Signer("us-east-1").headers(
        "POST", host, path, query, body, "AKIDEXAMPLE", "secret/key+x", token, amz_date=amz_date
    )

    url = f"https://{host}{path}{'?' + query if query else ''}"
    # The headers we sign (host, x-amz-date, the token): botocore signs whatever the request carries.
    headers = {"X-Amz-Date": amz_date, **({"X-Amz-Security-Token": token} if token else {})}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key+x", token), "lambda", "us-east-1")
    request.context["timestamp"] = amz_date
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    expected = auth.signature(string_to_sign, request)
    assert ours["Authorization"].endswith(f"Signature={expected}")
    assert ours["X-Amz-Date"] == amz_date
    assert ours.get("X-Amz-Security-Token") == token
