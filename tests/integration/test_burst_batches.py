"""A batch sent at once from one thread (``invoke_many``) fails and succeeds exactly as one request at a time does.

The oracle is the one-request path (``BotoFunctionInvoker.invoke`` over :meth:`HttpPool.request`),
itself checked against botocore in ``test_transport_faults``: for every fault that
:class:`tests.fault_server.FaultServer` injects on the network path (plain and TLS with a
self-signed certificate the client trusts), a batch's results and the requests the server saw
are the same. Also: a batch's requests are all at the server before any is answered (the
``together`` fault answers 504 otherwise), a reply framed in chunks that arrive apart is read
whole, and a batch that cannot connect fails, bounded, without raising.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra.lambda_invoker import BotoFunctionInvoker
from tests.fault_server import FAULTS, FaultServer, self_signed_tls

pytestmark = pytest.mark.integration

SLOW_S = 3.0
READ_TIMEOUT_S = 1.0
BATCH = 3


@pytest.fixture(params=["http", "https"])
def faults(
    request: pytest.FixtureRequest, aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FaultServer]:
    def serve(server: FaultServer) -> FaultServer:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        return server

    if request.param == "http":
        with FaultServer(slow_s=SLOW_S) as plain:
            yield serve(plain)
        return
    with self_signed_tls(tmp_path) as (context, cert), FaultServer(tls=context, slow_s=SLOW_S) as secure:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        yield serve(secure)


def _ping(function: str, index: int = 0) -> InvocationRequest:
    payload = json.dumps({"thermostat": {"v": 1, "action": "warm", "correlation_id": f"c{index}"}}).encode()
    return InvocationRequest(function=function, qualifier="live", payload=payload, read_timeout_s=READ_TIMEOUT_S)


def _classified(result: InvocationResult) -> tuple[Any, ...]:
    return result.outcome, result.status_code, result.error, result.executed_version, result.payload


def _invoker(pooled: int) -> BotoFunctionInvoker:
    invoker = BotoFunctionInvoker(max_attempts=2, pool_size=BATCH, sleep=lambda seconds: None)
    assert invoker.sends_batches()
    if pooled:
        assert invoker.open_connections(pooled) == pooled
    return invoker


def _one_at_a_time(server: FaultServer, fault: str, pooled: int) -> tuple[list[tuple[Any, ...]], int]:
    server.reset_counts()
    invoker = _invoker(pooled)
    try:
        results = [invoker.invoke(_ping(fault, index)) for index in range(BATCH)]
    finally:
        invoker.close()
    return [_classified(result) for result in results], server.requests[fault]


def _at_once(server: FaultServer, fault: str, pooled: int) -> tuple[list[tuple[Any, ...]], int]:
    server.reset_counts()
    invoker = _invoker(pooled)
    try:
        results = invoker.invoke_many([_ping(fault, index) for index in range(BATCH)])
    finally:
        invoker.close()
    assert all(result.duration_ms is not None and result.duration_ms >= 0 for result in results)
    return [_classified(result) for result in results], server.requests[fault]


@pytest.mark.parametrize("pooled", [0, BATCH], ids=["new-connections", "pooled-connections"])
def test_a_batch_at_once_gets_every_fault_exactly_as_one_request_at_a_time(faults: FaultServer, pooled: int) -> None:
    for fault in FAULTS:
        # Given one function per fault, and connections new or opened ahead (pooled: a reset is then
        # taken for a stale connection and re-sent once on a new one, by both paths)
        # When a batch of three pings is sent at once, and the same three one at a time
        at_once = _at_once(faults, fault, pooled)
        one_at_a_time = _one_at_a_time(faults, fault, pooled)
        # Then each ping's classified result, and the requests the server saw, are the same
        assert at_once == one_at_a_time, fault
    # And those results are the invoker's documented policy (see test_transport_faults)
    assert _at_once(faults, "flaky", pooled)[0][0][0] is Outcome.OK  # 503 once, then retried
    assert {row[0] for row in _at_once(faults, "slow", pooled)[0]} == {Outcome.TIMEOUT}


def test_a_batchs_requests_are_all_at_the_server_before_any_is_answered(faults: FaultServer) -> None:
    # Given a function that answers none of 8 pings until all 8 have arrived (504 after 5 s otherwise)
    faults.together = 8
    invoker = BotoFunctionInvoker(max_attempts=1, pool_size=8)
    try:
        # When they are sent as one batch
        results = invoker.invoke_many([_ping("together", index) for index in range(8)])
        # Then all 8 were answered 200: they had left together
        assert [result.outcome for result in results] == [Outcome.OK] * 8
        assert faults.requests["together"] == 8
        # And their connections are kept for the next round
        assert invoker.idle_connections() == 8
    finally:
        invoker.close()


def test_one_at_a_time_the_same_function_is_never_answered_together(faults: FaultServer) -> None:
    # The check above can fail: pings sent one after the other never arrive together
    faults.together, faults.together_s = 2, 1.0
    invoker = BotoFunctionInvoker(max_attempts=1, pool_size=2, read_timeout_s=10.0)
    try:
        first = invoker.invoke(_ping("together").model_copy(update={"read_timeout_s": 10.0}))
        assert first.outcome is Outcome.FAILED
        assert first.status_code == 504
    finally:
        invoker.close()


def _batch_then_one(function: str, size: int) -> tuple[list[InvocationResult], InvocationResult]:
    """A batch of ``size`` pings of ``function`` at once, then one alone, on one invoker (one attempt each)."""
    invoker = BotoFunctionInvoker(max_attempts=1, pool_size=size)
    try:
        return invoker.invoke_many([_ping(function, index) for index in range(size)]), invoker.invoke(_ping(function))
    finally:
        invoker.close()


def test_a_reply_in_chunks_that_arrive_apart_is_read_whole(faults: FaultServer) -> None:
    results, one = _batch_then_one("chunked", 2)
    assert [_classified(result) for result in results] == [_classified(one)] * 2
    assert results[0].payload == {"thermostat": {"v": 1, "warm": True, "environment_id": "env-chunked"}}


def test_a_batch_that_cannot_connect_fails_every_ping_without_raising(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import dead_endpoint

    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", dead_endpoint())
    results, one = _batch_then_one("ok", 4)
    assert [result.outcome for result in results] == [Outcome.FAILED] * 4
    assert all((result.error or "").startswith("could not connect to ") for result in results)
    assert one.outcome is Outcome.FAILED
    assert (one.error or "").startswith("could not connect to ")
