"""Look-ups within quota: the token bucket, the facts cache across rounds, a round of 1,000 targets (fake time).

No network and no wall clock: the clock is a ManualClock, and the cache's sleeper is a no-op (the
bucket counts reservations, so the bound holds whatever the sleeps do).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.errors import NotFound, Throttled
from domain.keep_warm import FunctionFacts, RoundPolicy, RoundReport
from domain.keep_warm.lookups import LOOKUPS_PER_FETCH, RATE_LIMITED, THROTTLED, FactsCache, TokenBucket
from domain.targets import Target, make_target
from infra.fanout import run_round
from tests.fakes import ManualClock
from tests.unit.test_keep_warm import FakeFleet, FakeFunction

pytestmark = pytest.mark.unit


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=64)
    yield pool
    pool.shutdown(wait=True)


def _round(
    fleet: FakeFleet,
    targets: list[Target],
    cache: FactsCache,
    executor: ThreadPoolExecutor,
    wait_s: float,
    clock: ManualClock,
) -> RoundReport:
    return run_round(
        "default",
        targets,
        invoker=fleet,
        config=cache.for_round(fleet, wait_s),
        load_payload=lambda uri: b"",
        executor=executor,
        clock=clock,
        round_id="r",
        policy=RoundPolicy(top_up=False),
    )


class Scripted:
    """A LambdaConfig whose answers a test changes between rounds."""

    def __init__(self) -> None:
        self.answers: dict[str, FunctionFacts | Exception] = {}
        self.calls = 0

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        self.calls += 1
        answer = self.answers[function]
        if isinstance(answer, Exception):
            raise answer
        return answer


# -- the bucket --------------------------------------------------------------------------------


def test_the_bucket_grants_its_burst_then_its_rate_and_refuses_beyond_the_deadline() -> None:
    # Given 5 tokens a second, 6 saved up
    clock = ManualClock(100.0)
    bucket = TokenBucket(5.0, 6, clock)
    # When two fetches of 3 take the burst, a third is asked for with no time to wait
    assert bucket.reserve(3, until=100.0) == 100.0
    assert bucket.reserve(3, until=100.0) == 100.0
    assert bucket.reserve(3, until=100.0) is None
    # Then with up to a second to wait, it is granted 0.6 s later, and the one after 0.6 s after that
    assert bucket.reserve(3, until=101.0) == pytest.approx(100.6)
    assert bucket.reserve(3, until=101.0) is None  # 101.2 > 101.0: nothing taken
    assert bucket.reserve(3, until=102.0) == pytest.approx(101.2)
    assert bucket.granted == 12
    # And time refills it, never beyond the burst
    clock.now = 1_000.0
    assert [bucket.reserve(3, until=1_000.0) for _ in range(3)] == [1_000.0, 1_000.0, None]


def test_a_bucket_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0.0, 3, ManualClock())
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(1.0, 0, ManualClock())


# -- a round of 1,000 targets ----------------------------------------------------------------------


def test_a_round_of_1000_targets_makes_no_more_lookups_than_the_bucket_allows(executor) -> None:
    # Given 1,000 targets, a bucket of 5/s with a burst of 6, and 20 s of the round for look-ups
    clock = ManualClock(0.0)
    functions = [FakeFunction(f"fn-{i:04d}", reserved=50) for i in range(1000)]
    fleet = FakeFleet(*functions)
    targets = [make_target(function=f.name, qualifier="live", concurrency=3) for f in functions]
    cache = FactsCache(TokenBucket(5.0, 6, clock), clock, ttl_s=600.0, sleep=lambda seconds: None)

    # When one round runs
    report = _round(fleet, targets, cache, executor, 20.0, clock)

    # Then the look-ups stay within burst + rate x wait: 6 + 5 x 20 = 106 reads, i.e. 35 fetches of 3
    allowed = 6 + 5 * 20
    made = sum(fleet.describes.values()) * LOOKUPS_PER_FETCH
    assert made <= allowed
    assert sum(fleet.describes.values()) == allowed // LOOKUPS_PER_FETCH  # and the room was used
    # And every other target was pinged cautiously, and said so
    deferred = [t for t in report.targets if t.deferred_lookups]
    assert len(deferred) == 1000 - 35 == report.lookups_deferred
    assert all(t.deferred_lookups == [RATE_LIMITED] and t.planned == 1 for t in deferred)
    assert all(t.capped_by == "deferred_lookup" and "pinged cautiously" in t.warnings[-1] for t in deferred)
    looked_up = [t for t in report.targets if not t.deferred_lookups]
    assert all(t.planned == 3 and t.reserved == 50 for t in looked_up)


def test_the_next_round_reuses_fresh_facts_and_reads_more_within_the_rate(executor) -> None:
    # Given a round that read what the bucket allowed
    clock = ManualClock(0.0)
    functions = [FakeFunction(f"fn-{i:03d}") for i in range(100)]
    fleet = FakeFleet(*functions)
    targets = [make_target(function=f.name, qualifier="live", concurrency=2) for f in functions]
    cache = FactsCache(TokenBucket(5.0, 6, clock), clock, ttl_s=600.0, sleep=lambda seconds: None)
    first = _round(fleet, targets, cache, executor, 10.0, clock)
    read_first = set(fleet.describes)
    assert len(read_first) == (6 + 5 * 10) // 3 == 100 - first.lookups_deferred

    # When the next round runs 5 minutes later (within the TTL)
    clock.now += 300.0
    second = _round(fleet, targets, cache, executor, 10.0, clock)

    # Then nothing read before is read again; the bucket, full again, reads more of the rest
    assert all(fleet.describes[name] == 1 for name in read_first)
    newly = {name for name in fleet.describes if name not in read_first}
    assert len(newly) == (6 + 5 * 10) // 3
    assert second.lookups_deferred == 100 - len(read_first) - len(newly)


def test_expired_facts_are_read_again_and_invalidation_forgets_every_qualifier() -> None:
    # Given facts cached for two qualifiers of one function and one of another
    clock = ManualClock(0.0)
    source = Scripted()
    source.answers = {"orders": FunctionFacts(reserved=10), "billing": FunctionFacts(reserved=4)}
    cache = FactsCache(TokenBucket(15.0, 45, clock), clock, ttl_s=60.0)
    lookups = cache.for_round(source, 0.0)
    for function, qualifier in (("orders", "live"), ("orders", "7"), ("billing", "live")):
        lookups.describe(function, qualifier)
    assert source.calls == 3

    # When a configuration-change event names the function by its ARN
    forgotten = cache.invalidate("arn:aws:lambda:us-east-1:123456789012:function:orders")

    # Then both of its qualifiers are forgotten, the other function's facts are not
    assert forgotten == 2
    assert cache.cached("orders", "live") is None
    assert cache.cached("billing", "live") is not None
    source.answers["orders"] = FunctionFacts(reserved=2)
    assert cache.for_round(source, 0.0).describe("orders", "live").reserved == 2
    # And facts older than the TTL are read again
    clock.now += 61.0
    source.answers["billing"] = FunctionFacts(reserved=1)
    assert cache.for_round(source, 0.0).describe("billing", "live").reserved == 1


def test_a_throttled_lookup_keeps_the_cached_facts_or_defers_the_target() -> None:
    # Given facts read in an earlier round, now expired
    clock = ManualClock(0.0)
    source = Scripted()
    source.answers = {"orders": FunctionFacts(reserved=10, provisioned=2, timeout_s=7.0)}
    cache = FactsCache(TokenBucket(15.0, 45, clock), clock, ttl_s=60.0)
    cache.for_round(source, 0.0).describe("orders", "live")
    clock.now += 120.0

    # When AWS throttles the configuration read, or a concurrency read inside it
    source.answers["orders"] = Throttled("Rate exceeded")
    kept = cache.for_round(source, 0.0).describe("orders", "live")
    source.answers["orders"] = FunctionFacts(timeout_s=7.0, throttled=("lambda:GetFunctionConcurrency",))
    kept_again = cache.for_round(source, 0.0).describe("orders", "live")

    # Then the facts read before are kept, with a note saying why and how old they are
    for facts in (kept, kept_again):
        assert (facts.reserved, facts.provisioned, facts.deferred) == (10, 2, ())
        assert "kept the facts read before (120 s old)" in facts.notes[-1]
    # And with nothing cached, the target's facts are deferred (the round pings it cautiously)
    source.answers["billing"] = Throttled("Rate exceeded")
    assert cache.for_round(source, 0.0).describe("billing", "live").deferred == (THROTTLED,)
    source.answers["billing"] = FunctionFacts(throttled=("lambda:GetProvisionedConcurrencyConfig",))
    assert cache.for_round(source, 0.0).describe("billing", "live").deferred == (
        "lambda:GetProvisionedConcurrencyConfig",
    )
    assert cache.cached("billing", "live") is None  # a half-read answer is not cached


def test_a_function_that_no_longer_exists_is_forgotten_and_reported() -> None:
    clock = ManualClock(0.0)
    source = Scripted()
    source.answers = {"gone": FunctionFacts(reserved=3)}
    cache = FactsCache(TokenBucket(15.0, 45, clock), clock, ttl_s=1.0)
    cache.for_round(source, 0.0).describe("gone", "live")
    clock.now += 2.0
    source.answers["gone"] = NotFound("Function not found")
    with pytest.raises(NotFound):
        cache.for_round(source, 0.0).describe("gone", "live")
    assert cache.cached("gone", "live") is None
