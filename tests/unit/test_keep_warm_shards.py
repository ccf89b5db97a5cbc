"""The shard planner (domain.keep_warm.shards): places, bounds, and the in-flight budget per place."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.keep_warm.shards import ShardPolicy, needs_sharding, plan_round
from domain.targets import Target, TargetProblem, make_target

pytestmark = pytest.mark.unit

OWN = ("123456789012", "us-east-1")
OTHER = "111111111111"


def _targets(
    count: int, *, concurrency: int = 5, account: str | None = None, region: str | None = None
) -> list[Target]:
    return [
        make_target(function=f"fn-{i:05d}", qualifier="live", concurrency=concurrency, account=account, region=region)
        for i in range(count)
    ]


def _check(plan_targets: list[Target | TargetProblem], policy: ShardPolicy) -> None:
    plan = plan_round("r1", "default", plan_targets, policy, own=OWN)
    keys = [key for shard in plan.shards for key in shard.keys]
    # Every target is in exactly one shard.
    assert Counter(keys) == Counter({t.key: 1 for t in plan_targets})
    budget: dict[tuple[str | None, str | None], int] = defaultdict(int)
    by_key = {t.key: t for t in plan_targets}
    for index, shard in enumerate(plan.shards):
        assert (shard.index, shard.of) == (index, len(plan.shards))
        members = [by_key[key] for key in shard.keys]
        # One place per shard, and the own place's None resolved to the control plane's own.
        assert {(t.account or OWN[0], t.region or OWN[1]) for t in members} == {shard.place}
        budget[shard.place] += shard.max_in_flight
    # The budget holds per place: the slices of concurrent shards never add up to more.
    assert all(total <= policy.max_in_flight for total in budget.values())


def test_a_place_is_cut_by_targets_and_by_pings() -> None:
    policy = ShardPolicy(max_targets=10, max_pings=20, max_in_flight=64)
    plan = plan_round("r1", "default", _targets(25, concurrency=3), policy, own=OWN)
    # 20 pings per shard allow 6 targets of 3 (18), before the 10-target bound is reached.
    assert [len(shard.keys) for shard in plan.shards] == [6, 6, 6, 6, 1]
    assert [shard.pings for shard in plan.shards] == [18, 18, 18, 18, 3]
    assert sum(shard.max_in_flight for shard in plan.shards) <= 64
    _check(list(_targets(25, concurrency=3)), policy)


def test_accounts_and_regions_are_separate_places_with_their_own_budget() -> None:
    policy = ShardPolicy(max_targets=100, max_pings=1000, max_in_flight=8)
    own = _targets(3)
    explicit_own = [make_target(function="explicit", qualifier="live", region="us-east-1")]
    other = _targets(3, account=OTHER)
    other_region = _targets(3, account=OTHER, region="eu-west-1")
    plan = plan_round("r1", "default", own + explicit_own + other + other_region, policy, own=OWN)
    places = [shard.place for shard in plan.shards]
    # Naming the own region explicitly is the own place: one shard, one budget.
    assert places == [(OTHER, "eu-west-1"), (OTHER, "us-east-1"), OWN]
    assert [shard.max_in_flight for shard in plan.shards] == [8, 8, 8]
    _check(own + explicit_own + other + other_region, policy)


def test_a_target_larger_than_the_pings_bound_gets_a_shard_of_its_own() -> None:
    big = make_target(function="big", qualifier="live", concurrency=500)
    small = _targets(4, concurrency=2)
    plan = plan_round("r1", "default", [big, *small], ShardPolicy(max_pings=100, max_in_flight=64), own=OWN)
    assert [shard.keys for shard in plan.shards] == [(big.key,), tuple(t.key for t in small)]
    # The budget is shared in proportion to the pings (one each first, 62 spare over 499 and 7 wanted:
    # 61.1 and 0.9, the remainder to the larger fraction): the small shard still overlaps its pairs.
    assert [shard.max_in_flight for shard in plan.shards] == [62, 2]


def test_more_shards_than_the_budget_makes_fewer_larger_shards() -> None:
    policy = ShardPolicy(max_targets=10, max_pings=1000, max_in_flight=4)
    plan = plan_round("r1", "default", _targets(100), policy, own=OWN)
    assert len(plan.shards) == 4
    assert [len(shard.keys) for shard in plan.shards] == [25, 25, 25, 25]
    assert [shard.max_in_flight for shard in plan.shards] == [1, 1, 1, 1]


def test_20000_targets_over_three_accounts_are_each_planned_once() -> None:
    targets: list[Target | TargetProblem] = [*_targets(10_000), *_targets(6_000, account=OTHER)]
    targets += _targets(4_000, account="222222222222", region="eu-west-1")
    policy = ShardPolicy()
    plan = plan_round("r1", "default", targets, policy, own=OWN)
    assert plan.targets == 20_000
    assert len(plan.shards) == 50 + 30 + 20  # 200 targets of 5 pings: 1,000 pings, both bounds at once
    _check(targets, policy)


def test_problems_and_disabled_targets_are_planned_but_weigh_nothing() -> None:
    problem = TargetProblem(group="default", function="bad", qualifier="$LATEST", error="refused")
    disabled = make_target(function="off", qualifier="live", concurrency=9, enabled=False)
    plan = plan_round("r1", "default", [problem, disabled], ShardPolicy(), own=OWN)
    [shard] = plan.shards
    assert shard.pings == 0
    assert set(shard.keys) == {"default#bad#$LATEST", disabled.key}


def test_sharding_is_needed_for_another_place_or_more_than_one_shard() -> None:
    policy = ShardPolicy(max_targets=3, max_pings=10)
    assert not needs_sharding(_targets(3, concurrency=2), policy, OWN)
    assert needs_sharding(_targets(4, concurrency=1), policy, OWN)
    assert needs_sharding(_targets(3, concurrency=4), policy, OWN)
    assert needs_sharding(_targets(1, account=OTHER), policy, OWN)
    assert not needs_sharding(_targets(1, account=OWN[0], region=OWN[1]), policy, OWN)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.tuples(st.integers(1, 40), st.integers(1, 60), st.sampled_from([None, OTHER, "222222222222"])),
        min_size=1,
        max_size=6,
    ),
    max_targets=st.integers(1, 50),
    max_pings=st.integers(1, 200),
    max_in_flight=st.integers(1, 30),
)
def test_any_plan_covers_every_target_once_within_the_budget(
    sizes: list[tuple[int, int, str | None]], max_targets: int, max_pings: int, max_in_flight: int
) -> None:
    targets: list[Target | TargetProblem] = []
    for block, (count, concurrency, account) in enumerate(sizes):
        targets += [
            make_target(function=f"f{block}-{i}", qualifier="live", concurrency=concurrency, account=account)
            for i in range(count)
        ]
    _check(targets, ShardPolicy(max_targets=max_targets, max_pings=max_pings, max_in_flight=max_in_flight))
