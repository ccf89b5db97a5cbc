"""The fast path behaves like botocore: one fault matrix, both transports, identical results.

The faults are injected on the network path by :class:`tests.fault_server.FaultServer` (a local
endpoint on 127.0.0.1), in front of either transport: the fast path (signed here, its own pool)
and botocore (the SDK transport for invocations; a plain botocore client for the look-ups).
The same fault gives the same classified result and the same number of requests at the server:
for invocations under the invoker's own policy, for the look-ups (``GetFunctionConfiguration`` /
``GetFunctionConcurrency`` / ``GetProvisionedConcurrencyConfig``) under botocore's standard retry
mode. Also here: the user agent, the client's proxies, client certificate and certificate verification.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import ThermostatError
from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra import aws
from infra.lambda_config import BotoLambdaConfig
from infra.lambda_invoker import BotoFunctionInvoker
from tests.fault_server import FAULTS, FaultServer, self_signed_tls

pytestmark = pytest.mark.integration

SLOW_S = 3.0
READ_TIMEOUT_S = 1.0


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def faults(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    with FaultServer(slow_s=SLOW_S) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        # Three attempts for botocore's look-ups (the user's setting, honoured by both transports):
        # keeps botocore's real throttling backoff (up to 1 s, then 2 s) short.
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
        yield server


def _ping(function: str) -> InvocationRequest:
    payload = json.dumps({"thermostat": {"v": 1, "action": "warm", "correlation_id": "c"}}).encode()
    return InvocationRequest(function=function, qualifier="live", payload=payload, read_timeout_s=READ_TIMEOUT_S)


def _classified(result: InvocationResult) -> tuple[Any, ...]:
    # An API error's text is the service's (the same bytes, the same reading); a transport error's
    # text names the transport's own exception, so only its outcome and status are compared.
    text = result.error if result.status_code else None
    return result.outcome, result.status_code, text, result.executed_version


def _invoke_matrix(server: FaultServer, transport: str) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for fault in FAULTS:
        server.reset_counts()
        # A new invoker per fault: each starts on a new connection, as botocore's first call does
        invoker = BotoFunctionInvoker(transport=transport, max_attempts=2, sleep=Sleeps())  # type: ignore[arg-type]
        try:
            result = invoker.invoke(_ping(fault))
            assert invoker.transport == transport
        finally:
            invoker.close()
        found[fault] = (*_classified(result), server.requests[fault])
    return found


def test_invocations_classify_every_fault_alike_on_both_transports(faults: FaultServer) -> None:
    # Given one endpoint that answers each function with one fault
    # When each is invoked through the fast path and through botocore
    fast = _invoke_matrix(faults, "fast")
    sdk = _invoke_matrix(faults, "sdk")
    # Then the classified results and the requests the server saw are the same
    assert fast == sdk
    # and they are the invoker's documented policy
    assert {fault: (row[0], row[-1]) for fault, row in fast.items()} == {
        "ok": (Outcome.OK, 1),
        "throttled": (Outcome.THROTTLED, 1),  # throttles are not retried by default
        "error500": (Outcome.FAILED, 2),
        "unavailable": (Outcome.FAILED, 2),
        "flaky": (Outcome.OK, 2),
        "missing": (Outcome.NOT_FOUND, 1),
        "reset": (Outcome.FAILED, 2),
        "garbled": (Outcome.FAILED, 2),
        "slow": (Outcome.TIMEOUT, 1),  # a timeout is never retried: the first call may still run
    }
    assert fast["throttled"][2] == "CallerRateLimitExceeded"


#: Faults where no HTTP answer came back: the error names the transport's own exception.
TRANSPORT_FAULTS = frozenset({"reset", "garbled", "slow"})


def _describe(config: BotoLambdaConfig, fault: str) -> tuple[Any, ...]:
    try:
        facts = config.describe(fault, "live")
    except ThermostatError as exc:
        return type(exc).__name__, None if fault in TRANSPORT_FAULTS else str(exc)
    return "facts", (facts.timeout_s, facts.reserved, facts.provisioned, facts.notes)


def _look_up_matrix(server: FaultServer, fast: bool) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for fault in FAULTS:
        server.reset_counts()
        aws.forget_sessions()
        if fast:
            invoker = BotoFunctionInvoker(sleep=Sleeps())
            config = BotoLambdaConfig(invoker=invoker, read_timeout_s=READ_TIMEOUT_S)
            outcome = _describe(config, fault)
            assert invoker.transport == "fast"
            invoker.close()
        else:
            config = BotoLambdaConfig(read_timeout_s=READ_TIMEOUT_S)
            outcome = _describe(config, fault)
            config.client.close()
        found[fault] = (*outcome, server.requests[fault])
    return found


def test_look_ups_are_retried_as_botocores_standard_mode_retries_them(faults: FaultServer) -> None:
    # Given the same faults, When GetFunction / GetProvisionedConcurrencyConfig go over the fast
    # path and through a plain botocore client (standard mode, AWS_MAX_ATTEMPTS=3)
    fast = _look_up_matrix(faults, fast=True)
    sdk = _look_up_matrix(faults, fast=False)
    # Then the outcomes and the number of requests are the same
    assert fast == sdk
    counts = {fault: row[-1] for fault, row in fast.items()}
    # ok and flaky: GetFunctionConfiguration, GetFunctionConcurrency, then GetProvisionedConcurrencyConfig
    # (404, not retried); flaky's first answer is a 503, retried once
    assert counts == {
        "ok": 3,
        "throttled": 3,
        "error500": 3,
        "unavailable": 3,
        "flaky": 4,
        "missing": 1,
        "reset": 3,
        "garbled": 3,
        "slow": 3,
    }
    assert fast["ok"][:2] == ("facts", (7.0, 3, 0, ()))


def test_the_look_ups_follow_the_users_attempts(faults: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    aws.forget_sessions()
    sleeps = Sleeps()
    invoker = BotoFunctionInvoker(sleep=sleeps)
    with pytest.raises(ThermostatError):
        BotoLambdaConfig(invoker=invoker).describe("unavailable", "live")
    invoker.close()
    assert faults.requests["unavailable"] == 5
    # botocore's backoff for a non-throttling error: rand * min(0.05 * 2**i, 20)
    assert all(0 <= delay <= 0.05 * 2**i for i, delay in enumerate(sleeps.calls))
    assert len(sleeps.calls) == 4


def test_another_retry_mode_hands_the_look_ups_to_botocore(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Adaptive mode's client-side rate limiter is botocore's: the look-ups go through it
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    aws.forget_sessions()
    invoker = BotoFunctionInvoker(sleep=Sleeps())
    assert invoker.call_api("GetFunction", "GET", "/2015-03-31/functions/ok", "Qualifier=live") is None
    config = BotoLambdaConfig(invoker=invoker, read_timeout_s=READ_TIMEOUT_S)
    assert config.describe("ok", "live").timeout_s == 7.0
    assert config.client.meta.config.retries["mode"] == "adaptive"
    invoker.close()
    config.client.close()


# -- the user agent ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["fast", "sdk"])
def test_both_transports_send_botocores_user_agent_with_thermostats(faults: FaultServer, transport: str) -> None:
    invoker = BotoFunctionInvoker(transport=transport, sleep=Sleeps())  # type: ignore[arg-type]
    assert invoker.invoke(_ping("ok")).outcome is Outcome.OK
    invoker.close()
    agent = faults.headers[-1]["user-agent"]
    assert agent.startswith("Botocore/")
    assert f"thermostat/{aws.VERSION}" in agent.split()


# -- proxies, client certificates, verification ------------------------------------------------


def _client(**config: Any) -> Any:
    from botocore.config import Config

    return aws.botocore_session().create_client("lambda", region_name="us-east-1", config=Config(**config))


@pytest.mark.parametrize(
    "config",
    [
        {"proxies": {"http": "http://proxy.invalid:3128", "https": "http://proxy.invalid:3128"}},
        {"client_cert": "/nonexistent/client.pem"},
        {"client_cert": ("/nonexistent/client.pem", "/nonexistent/client.key")},
    ],
)
def test_a_client_with_a_proxy_or_a_client_certificate_is_left_to_botocore(
    faults: FaultServer, config: dict[str, Any]
) -> None:
    invoker = BotoFunctionInvoker(_client(**config), sleep=Sleeps())
    assert invoker.transport == "sdk"
    assert invoker.call_api("GetFunction", "GET", "/2015-03-31/functions/ok") is None


@pytest.fixture
def tls_faults(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FaultServer, Path]]:
    with self_signed_tls(tmp_path) as (context, cert), FaultServer(tls=context, slow_s=SLOW_S) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        yield server, cert


def _invoke(transport: str, client: Any = None) -> InvocationResult:
    invoker = BotoFunctionInvoker(client, transport=transport, max_attempts=1, sleep=Sleeps())  # type: ignore[arg-type]
    try:
        return invoker.invoke(_ping("ok"))
    finally:
        invoker.close()


@pytest.mark.parametrize("transport", ["fast", "sdk"])
def test_the_profiles_ca_bundle_is_trusted_by_both_transports(
    tls_faults: tuple[FaultServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    server, cert = tls_faults
    # Given the CA bundle named in the config file's profile (not in AWS_CA_BUNDLE)
    config = tmp_path / "config"
    config.write_text(f"[default]\nca_bundle = {cert}\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    aws.forget_sessions()
    # Then both transports reach the endpoint over TLS
    result = _invoke(transport)
    assert (result.outcome, result.error) == (Outcome.OK, None)
    assert server.requests["ok"] == 1


def test_an_untrusted_certificate_fails_alike_on_both_transports(tls_faults: tuple[FaultServer, Path]) -> None:
    server, _ = tls_faults
    results = {transport: _invoke(transport) for transport in ("fast", "sdk")}
    assert {t: (r.outcome, r.status_code) for t, r in results.items()} == {
        "fast": (Outcome.FAILED, None),
        "sdk": (Outcome.FAILED, None),
    }
    assert "CERTIFICATE_VERIFY_FAILED" in (results["fast"].error or "")
    assert server.requests["ok"] == 0


def test_a_client_that_does_not_verify_is_honoured(tls_faults: tuple[FaultServer, Path]) -> None:
    server, _ = tls_faults
    unverified = aws.botocore_session().create_client("lambda", region_name="us-east-1", verify=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning on the SDK path
        results = [_invoke(transport, unverified).outcome for transport in ("fast", "sdk")]
    assert results == [Outcome.OK, Outcome.OK]
    assert server.requests["ok"] == 2
