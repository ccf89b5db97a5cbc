"""BotoLambdaConfig against the local Lambda endpoint (GetFunctionConfiguration, GetFunctionConcurrency,
GetProvisionedConcurrencyConfig)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.errors import NotFound, Unavailable
from emulator.lambda_http import Response
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from infra import aws
from infra.lambda_config import BotoLambdaConfig
from infra.lambda_invoker import BotoFunctionInvoker
from tests.fakes import dead_endpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaEndpoint]:
    functions = [
        SimulatedFunction("plain", timeout_s=7),
        SimulatedFunction("capped", reserved=12, provisioned={"live": 3}, qualifiers={"live": "4", "4": "4"}),
    ]
    with LambdaEndpoint(functions) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        yield server


def build(path: str) -> tuple[BotoLambdaConfig, list[Any]]:
    """A config over boto3 (``sdk``) or over an invoker's signed path (``signed``), and what to close."""
    client = aws.client("lambda", max_attempts=0, connect_timeout=1)
    if path == "sdk":
        return BotoLambdaConfig(client), [client]
    invoker = BotoFunctionInvoker(client, connect_timeout_s=1.0)
    return BotoLambdaConfig(client, invoker=invoker), [client, invoker]


@pytest.fixture(params=["sdk", "signed"])
def config(endpoint: LambdaEndpoint, request: pytest.FixtureRequest) -> Iterator[BotoLambdaConfig]:
    built, closing = build(request.param)
    yield built
    for item in closing:
        item.close()


def test_timeout_and_no_limits(config: BotoLambdaConfig) -> None:
    facts = config.describe("plain", "live")
    assert (facts.timeout_s, facts.reserved, facts.provisioned, facts.notes) == (7.0, None, 0, ())


def test_reserved_and_provisioned_concurrency(config: BotoLambdaConfig) -> None:
    assert (config.describe("capped", "live").reserved, config.describe("capped", "live").provisioned) == (12, 3)
    # provisioned concurrency is per qualifier: the version itself has none
    assert config.describe("capped", "4").provisioned == 0


def test_an_unknown_function_or_qualifier_is_not_found_with_a_hint(config: BotoLambdaConfig) -> None:
    with pytest.raises(NotFound, match="ghost:live does not exist") as caught:
        config.describe("ghost", "live")
    assert "published" in str(caught.value)
    with pytest.raises(NotFound):
        config.describe("plain", "nope")


def test_answers_and_failures_are_cached_for_the_round(endpoint: LambdaEndpoint, config: BotoLambdaConfig) -> None:
    for _ in range(3):
        config.describe("plain", "live")
        with pytest.raises(NotFound):
            config.describe("ghost", "live")
    assert endpoint.operations["GET configuration"] == 2  # one GetFunctionConfiguration each, not three
    assert endpoint.operations["GET concurrency"] == 1
    assert endpoint.operations["GET provisioned-concurrency"] == 1
    assert endpoint.operations["GET function"] == 0  # never GetFunction: code URL, and ListTags on tagged functions


@pytest.mark.parametrize("path", ["sdk", "signed"])
def test_an_unreachable_api_is_unavailable_not_a_crash(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", dead_endpoint())
    config, closing = build(path)
    with pytest.raises(Unavailable, match="could not read the configuration of plain:live"):
        config.describe("plain", "live")
    for item in closing:
        item.close()


@pytest.mark.parametrize("path", ["sdk", "signed"])
def test_an_unreadable_provisioned_config_becomes_a_note(endpoint: LambdaEndpoint, monkeypatch, path: str) -> None:
    # Given an endpoint that refuses GetProvisionedConcurrencyConfig
    def refuse(name: str, qualifier: str | None) -> Response:
        return Response(403, b'{"message": "not allowed"}', {"x-amzn-ErrorType": "AccessDeniedException"})

    monkeypatch.setattr(endpoint, "get_provisioned", refuse)
    config, closing = build(path)
    facts = config.describe("capped", "live")
    for item in closing:
        item.close()
    # Then the facts still come back, with provisioned assumed 0 and a note saying so
    assert facts.reserved == 12
    assert facts.provisioned == 0
    assert "AccessDeniedException" in facts.notes[0]
