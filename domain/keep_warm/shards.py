"""Sharded rounds: split one group's targets into shards, each run by its own worker invocation.

A shard holds the targets of one place, ``(account, region)`` (None for either: the control
plane's own), because each place has its own concurrency limit and its own credentials. Shards
are bounded by targets per shard and pings per shard (a target larger than the pings bound gets
a shard of its own). The in-flight budget (``THERMOSTAT_MAX_IN_FLIGHT``) holds per place across
concurrent shards by planning: each shard of a place gets a slice of the place's budget and the
slices never add up to more than the budget. When a place would need more shards than its budget
has pings (every shard needs at least one), the shards grow beyond the targets bound instead:
the budget is a safety limit, the shard size only a preference.

Planning is linear in the number of targets (one pass per place, after sorting by key).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from domain.keep_warm.shard_policy import (
    DEFAULT_SHARD_PINGS,
    DEFAULT_SHARD_TARGETS,
    Place,
    ShardPolicy,
    needs_sharding,
    shard_weight,
)
from domain.targets import Target, TargetProblem

__all__ = [
    "DEFAULT_SHARD_PINGS",
    "DEFAULT_SHARD_TARGETS",
    "Place",
    "RoundPlan",
    "Shard",
    "ShardPolicy",
    "ShardSummary",
    "needs_sharding",
    "plan_round",
]


class Shard(BaseModel):
    """One worker invocation's part of a round: targets of one place, and its slice of the budget."""

    model_config = ConfigDict(frozen=True)

    round_id: str
    index: int = Field(ge=0)
    of: int = Field(ge=1)
    group: str
    account: str | None = None
    region: str | None = None
    keys: tuple[str, ...]
    pings: int = Field(ge=0)
    #: This shard's slice of its place's in-flight budget (the slices of a place add up to at most the budget).
    max_in_flight: int = Field(ge=1, le=1_000)

    @property
    def id(self) -> str:
        """``{round_id}/{index}``: unique in the round, and the SQS message's deduplication handle."""
        return f"{self.round_id}/{self.index:05d}"

    @property
    def place(self) -> Place:
        """``(account, region)`` of every target in the shard."""
        return self.account, self.region

    def summary(self) -> ShardSummary:
        """The shard without its keys (what the round's ledger keeps of the plan)."""
        return ShardSummary(
            index=self.index,
            account=self.account,
            region=self.region,
            targets=len(self.keys),
            pings=self.pings,
            max_in_flight=self.max_in_flight,
        )


class ShardSummary(BaseModel):
    """A planned shard, without its keys: what the aggregate needs to know of it."""

    model_config = ConfigDict(frozen=True)

    index: int
    account: str | None = None
    region: str | None = None
    targets: int = 0
    pings: int = 0
    max_in_flight: int = 1

    @property
    def place(self) -> Place:
        """``(account, region)`` of the shard."""
        return self.account, self.region


class RoundPlan(BaseModel):
    """Every shard of one round, in place order then key order."""

    model_config = ConfigDict(frozen=True)

    round_id: str
    group: str
    shards: tuple[Shard, ...]

    @property
    def targets(self) -> int:
        """How many targets the plan covers."""
        return sum(len(shard.keys) for shard in self.shards)


def _pack(items: Sequence[tuple[str, int]], max_targets: int, max_pings: int) -> list[list[tuple[str, int]]]:
    """Contiguous chunks within both bounds (a target over ``max_pings`` alone in its chunk)."""
    chunks: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    pings = 0
    for key, weight in items:
        if current and (len(current) >= max_targets or pings + weight > max_pings):
            chunks.append(current)
            current, pings = [], 0
        current.append((key, weight))
        pings += weight
    if current:
        chunks.append(current)
    return chunks


def _slices(budget: int, pings: Sequence[int]) -> list[int]:
    """Split ``budget`` over shards in proportion to their pings: one each first, the rest by largest
    remainder, none above its own pings (at least 1). The sum never exceeds ``budget`` (the caller
    keeps ``len(pings) <= budget``)."""
    spare = budget - len(pings)
    wants = [max(0, want - 1) for want in pings]
    total = sum(wants)
    if total <= spare:
        return [1 + want for want in wants]
    exact = [spare * want / total for want in wants]
    given = [math.floor(value) for value in exact]
    left = spare - sum(given)
    for index in sorted(range(len(pings)), key=lambda i: given[i] - exact[i])[:left]:
        given[index] += 1
    return [1 + share for share in given]


def plan_round(
    round_id: str,
    group: str,
    targets: Iterable[Target | TargetProblem],
    policy: ShardPolicy | None = None,
    *,
    own: Place = (None, None),
) -> RoundPlan:
    """Group ``targets`` by place and cut each place into shards (see the module's docstring).

    ``own``: the control plane's account and region; a target's None stands for them, so that a
    target naming the own region explicitly shares its place (and its budget) with one that does not.
    """
    policy = policy or ShardPolicy()
    places: dict[Place, list[tuple[str, int]]] = {}
    seen: set[str] = set()
    for target in targets:
        key = _key(target)
        if key in seen:
            continue
        seen.add(key)
        place = (target.account or own[0], target.region or own[1])
        places.setdefault(place, []).append((key, shard_weight(target)))
    cut: list[tuple[Place, list[list[tuple[str, int]]]]] = []
    for place in sorted(places, key=lambda p: (p[0] or "", p[1] or "")):
        items = sorted(places[place])
        chunks = _pack(items, policy.max_targets, policy.max_pings)
        if len(chunks) > policy.max_in_flight:
            # Each shard needs one ping of the budget at least: fewer, larger shards.
            per_shard = math.ceil(len(items) / policy.max_in_flight)
            chunks = [items[start : start + per_shard] for start in range(0, len(items), per_shard)]
        cut.append((place, chunks))
    total = sum(len(chunks) for _, chunks in cut)
    shards: list[Shard] = []
    for (account, region), chunks in cut:
        pings = [sum(weight for _, weight in chunk) for chunk in chunks]
        for chunk, weight, budget in zip(chunks, pings, _slices(policy.max_in_flight, pings), strict=True):
            shards.append(
                Shard(
                    round_id=round_id,
                    index=len(shards),
                    of=total,
                    group=group,
                    account=account,
                    region=region,
                    keys=tuple(key for key, _ in chunk),
                    pings=weight,
                    max_in_flight=budget,
                )
            )
    return RoundPlan(round_id=round_id, group=group, shards=tuple(shards))


def _key(target: Target | TargetProblem) -> str:
    from domain.targets import target_key

    return target_key(target.group, target.function, target.qualifier, target.account, target.region)
