"""Keep-warm's look-ups under least privilege, and a round whose look-ups IAM refuses (issue 12, item 4).

The look-ups are the least-privileged reads that give timeout, reserved and provisioned
concurrency: ``GetFunctionConfiguration`` and ``GetFunctionConcurrency`` (moto implements both:
it is the oracle here) and ``GetProvisionedConcurrencyConfig``. A refusal is injected on the
network path: a 127.0.0.1 proxy (``tests/refusing_proxy.py``) in front of moto's threaded server
or the simulated endpoint answers ``AccessDeniedException`` as AWS does (HTTP 403, the code in
``x-amzn-ErrorType``), and forwards everything else.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domain.errors import AccessDenied
from domain.targets import make_target
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from handlers import wiring
from handlers.keep_warm import lambda_handler
from infra import aws
from infra.lambda_config import BotoLambdaConfig
from infra.lambda_invoker import BotoFunctionInvoker
from infra.target_store import DynamoTargetStore
from tests.emf import emf_documents
from tests.refusing_proxy import RefusingProxy

pytestmark = pytest.mark.integration

LOOK_UPS = (
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:GetFunctionConcurrency",
    "lambda:GetProvisionedConcurrencyConfig",
)


@pytest.fixture
def moto_function(moto_server: str) -> str:
    """A function in moto with a 9 s timeout, version 1 behind alias ``live``, 7 reserved."""
    iam = aws.client("iam", max_attempts=0)
    role = iam.create_role(RoleName="target-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("h.py", "def handler(event, context):\n    return event\n")
    lam = aws.client("lambda", max_attempts=0)
    lam.create_function(
        FunctionName="orders",
        Runtime="python3.11",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=9,
    )
    version = lam.publish_version(FunctionName="orders")["Version"]
    lam.create_alias(FunctionName="orders", Name="live", FunctionVersion=version)
    lam.put_function_concurrency(FunctionName="orders", ReservedConcurrentExecutions=7)
    return "orders"


def _config(path: str) -> tuple[BotoLambdaConfig, list[Any]]:
    client = aws.client("lambda", max_attempts=0, connect_timeout=1)
    if path == "sdk":
        return BotoLambdaConfig(client), [client]
    invoker = BotoFunctionInvoker(client, connect_timeout_s=1.0)
    return BotoLambdaConfig(client, invoker=invoker), [client, invoker]


@pytest.fixture(params=["sdk"])
def build(request: pytest.FixtureRequest) -> Iterator[Callable[[], BotoLambdaConfig]]:
    """Through boto3: moto routes the invoker's signed requests (``application/x-amz-json-1.0``
    without a target header) to no Lambda route; the signed path is tested on the simulated endpoint."""
    closing: list[Any] = []

    def make() -> BotoLambdaConfig:
        config, items = _config(request.param)
        closing.extend(items)
        return config

    yield make
    for item in closing:
        item.close()


def test_moto_answers_the_least_privileged_look_ups(moto_function: str, build) -> None:
    # Given a function in moto, read through GetFunctionConfiguration and GetFunctionConcurrency
    # When keep-warm looks it up
    facts = build().describe(moto_function, "live")

    # Then the timeout and the reserved concurrency come back; moto has no provisioned-concurrency
    # API, which is a note (pinged as if none), not a refusal
    assert (facts.timeout_s, facts.reserved, facts.provisioned, facts.refused) == (9.0, 7, 0, ())
    assert len(facts.notes) == 1
    assert "provisioned concurrency unknown" in facts.notes[0]


def test_a_refused_configuration_read_is_access_denied(
    moto_server: str, moto_function: str, build, monkeypatch
) -> None:
    # Given a proxy in front of moto that refuses every look-up, as IAM would without the permission
    with RefusingProxy(moto_server, LOOK_UPS) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)

        # When keep-warm looks the function up
        with pytest.raises(AccessDenied) as caught:
            build().describe(moto_function, "live")

    # Then it is AccessDenied (not "no limits"), naming the action to grant, and nothing else was asked
    assert "lambda:GetFunctionConfiguration" in str(caught.value)
    assert "AccessDeniedException" in str(caught.value)
    assert proxy.refused == {"lambda:GetFunctionConfiguration": 1}


def test_a_refused_concurrency_read_is_named_in_the_facts(
    moto_server: str, moto_function: str, build, monkeypatch
) -> None:
    # Given a proxy that refuses only GetFunctionConcurrency
    with RefusingProxy(moto_server, ["lambda:GetFunctionConcurrency"]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)

        # When keep-warm looks the function up
        facts = build().describe(moto_function, "live")

    # Then the timeout is known, the reserved concurrency is not, and the refusal is named
    assert (facts.timeout_s, facts.reserved) == (9.0, None)
    assert facts.refused == ("lambda:GetFunctionConcurrency",)
    assert any("AccessDeniedException" in note for note in facts.notes)


@pytest.mark.parametrize("path", ["sdk", "signed"])
def test_refusals_read_the_same_over_both_paths(aws_env: None, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    # Given the simulated endpoint behind a proxy refusing the configuration read
    with (
        LambdaEndpoint([SimulatedFunction("payments", reserved=3)]) as endpoint,
        RefusingProxy(endpoint.url, ["lambda:GetFunctionConfiguration"]) as proxy,
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)
        config, closing = _config(path)
        try:
            # When keep-warm looks the function up over boto3 or the invoker's signed path
            with pytest.raises(AccessDenied, match="lambda:GetFunctionConfiguration"):
                config.describe("payments", "live")
        finally:
            for item in closing:
                item.close()

    # Then both read the refusal as AccessDenied
    assert proxy.refused == {"lambda:GetFunctionConfiguration": 1}


class Context:
    def __init__(self) -> None:
        self.aws_request_id = "req-refused"
        self.function_name = "thermostat-keep-warm"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.mark.parametrize("refused", [LOOK_UPS, ("lambda:GetFunctionConcurrency",)], ids=["all", "concurrency"])
def test_a_round_whose_look_ups_are_refused_pings_cautiously_and_says_so(
    moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], refused
) -> None:
    # Given a function with 3 reserved (a small, real limit), a target asking for 10 pings, and a
    # proxy in front of the Lambda endpoint that refuses the look-ups (the invokes pass)
    function = SimulatedFunction("payments", reserved=3)
    with LambdaEndpoint([function]) as endpoint, RefusingProxy(endpoint.url, refused) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)
        wiring.reset()
        DynamoTargetStore(table, "us-east-1").put(make_target(function="payments", qualifier="live", concurrency=10))

        # When the schedule fires
        report = lambda_handler({"group": "default"}, Context())
        wiring.reset()
        pings = endpoint.requests("payments")

    # Then the round sent one ping, not ten (the reserved concurrency could not be read, so it is
    # not spent), and the refusal is a counted warning in the report and in the metrics
    (target,) = report["targets"]
    assert pings == 1
    assert (target["planned"], target["sent"], target["throttled"], target["capped_by"]) == (1, 1, 0, "refused_lookup")
    assert target["refused_lookups"]
    assert set(target["refused_lookups"]) <= set(refused)
    assert any("pinged cautiously (at most 1)" in warning for warning in target["warnings"])
    assert report["lookups_refused"] == 1
    documents = [d for d in emf_documents(capsys.readouterr().out.splitlines()) if d.get("function") == "payments"]
    assert [d.get("WarmLookupsRefused") for d in documents] == [[float(len(target["refused_lookups"]))]]
    assert sum(proxy.refused.values()) >= 1
