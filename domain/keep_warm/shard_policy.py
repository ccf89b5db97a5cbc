"""Whether a round is sharded: the shard bounds (:class:`ShardPolicy`) and :func:`needs_sharding`.

Apart from :mod:`domain.keep_warm.shards` (the plan: shards, their summaries, the packing) because
every keep-warm round asks this question and almost none is sharded: the scheduled handler's first
invocation builds only this module's one model, not the plan's.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from domain.targets import Target, TargetProblem

Place = tuple[str | None, str | None]

DEFAULT_SHARD_TARGETS = 200
DEFAULT_SHARD_PINGS = 1_000


class ShardPolicy(BaseModel):
    """How large a shard may be, and the in-flight budget of each place."""

    model_config = ConfigDict(frozen=True)

    max_targets: int = Field(default=DEFAULT_SHARD_TARGETS, ge=1, le=10_000)
    max_pings: int = Field(default=DEFAULT_SHARD_PINGS, ge=1, le=100_000)
    max_in_flight: int = Field(default=64, ge=1, le=1_000)


def shard_weight(target: Target | TargetProblem) -> int:
    """The pings ``target`` adds to its shard."""
    # A problem or a disabled target sends nothing, but it is still reported by its shard.
    if isinstance(target, TargetProblem) or not target.enabled:
        return 0
    return target.planned_concurrency  # an auto target: its last N (the shard caps it at its slice)


def needs_sharding(targets: Sequence[Target | TargetProblem], policy: ShardPolicy, own: Place = (None, None)) -> bool:
    """True when one invocation is not enough: a target outside ``own`` place, or more than one shard's worth."""
    if any((target.account or own[0], target.region or own[1]) != own for target in targets):
        return True
    return len(targets) > policy.max_targets or sum(shard_weight(target) for target in targets) > policy.max_pings
