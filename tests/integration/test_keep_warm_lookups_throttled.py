"""Throttled look-ups on the network path: the cached facts are kept, a target with none is pinged cautiously.

The throttle is injected by :class:`tests.fault_server.FaultServer` (``throttle_lookups``: every
look-up answers 429 ``TooManyRequestsException``, as Lambda's 15/s control-plane quota does), in
front of the real adapters: ``BotoLambdaConfig`` over the invoker's signed path, retried as
botocore's standard mode retries throttles (the retries' sleeps are recorded, not slept).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.keep_warm import RoundPolicy, RoundReport
from domain.keep_warm.lookups import THROTTLED, FactsCache, TokenBucket
from domain.targets import Target, make_target
from infra.fanout import run_round
from infra.lambda_config import BotoLambdaConfig
from infra.lambda_invoker import BotoFunctionInvoker
from tests.fakes import ManualClock
from tests.fault_server import FaultServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    with FaultServer() as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", faults.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        yield faults


def _round(invoker: BotoFunctionInvoker, cache: FactsCache, targets: list[Target], clock: ManualClock) -> RoundReport:
    with ThreadPoolExecutor(8) as executor:
        return run_round(
            "default",
            targets,
            invoker=invoker,
            config=cache.for_round(BotoLambdaConfig(invoker=invoker), 0.0),
            load_payload=lambda uri: b"",
            executor=executor,
            clock=clock,
            round_id="r",
            policy=RoundPolicy(max_in_flight=8, top_up=False),
        )


def test_throttled_lookups_keep_the_facts_read_before_and_make_new_targets_cautious(server: FaultServer) -> None:
    # Given a round that read "orders" (reserved concurrency 3, timeout 7 s: the fault server's answers)
    clock = ManualClock(0.0)
    sleeps: list[float] = []
    invoker = BotoFunctionInvoker(pool_size=8, sleep=sleeps.append)
    cache = FactsCache(TokenBucket(15.0, 45, clock), clock, ttl_s=60.0)
    orders = make_target(function="orders", qualifier="live", concurrency=2)
    try:
        first = _round(invoker, cache, [orders], clock)
        assert (first.targets[0].reserved, first.targets[0].planned) == (3, 2)

        # When the facts have expired and every look-up is now throttled by the service
        clock.now += 120.0
        server.throttle_lookups = True
        server.reset_counts()
        billing = make_target(function="billing", qualifier="live", concurrency=2)
        second = _round(invoker, cache, [orders, billing], clock)
    finally:
        invoker.close()

    # Then the look-ups were really made, and throttled (and retried once, as botocore would)
    assert server.requests["orders"] >= 2
    assert sleeps
    kept, cautious = second.targets
    # And "orders" keeps its reserved concurrency and is pinged as planned, saying why
    assert (kept.reserved, kept.planned, kept.sent, kept.deferred_lookups) == (3, 2, 2, [])
    assert any("kept the facts read before (120 s old)" in warning for warning in kept.warnings)
    # And "billing", never read, is pinged cautiously, and the round says so
    assert cautious.deferred_lookups == [THROTTLED]
    assert (cautious.planned, cautious.capped_by) == (1, "deferred_lookup")
    assert second.lookups_deferred == 1
