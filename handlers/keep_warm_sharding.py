"""Whether the scheduled keep-warm round is sharded, and its targets loaded once for either path.

Every scheduled round asks this (``THERMOSTAT_SHARDING=auto``), and almost none is sharded: this
module holds only the question, so that the handler's first invocation builds the shard bounds
(:mod:`domain.keep_warm.shard_policy`) and not the plan, the ledger's reports or the queue of
:mod:`handlers.keep_warm_shards`, which it imports only when the round is sharded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.errors import NotFound
from domain.keep_warm.shard_policy import ShardPolicy, needs_sharding
from handlers import wiring

if TYPE_CHECKING:
    from domain.targets import Target, TargetProblem, TargetStore
    from infra.settings import Settings


class ShardTargets:
    """A shard's targets as a store (already loaded), recording rounds in the real store."""

    def __init__(self, targets: list[Target | TargetProblem], store: TargetStore) -> None:
        self._targets = targets
        self._store = store

    def load(self, group: str | None = None) -> list[Target | TargetProblem]:
        return [target for target in self._targets if group is None or target.group == group]

    def put(self, target: Target) -> None:
        self._store.put(target)

    def delete(
        self, function: str, qualifier: str, group: str, account: str | None = None, region: str | None = None
    ) -> bool:
        return self._store.delete(function, qualifier, group, account, region)

    def record_round(self, *args: Any, **kwargs: Any) -> bool:
        record = getattr(self._store, "record_round", None)
        return bool(record(*args, **kwargs)) if record is not None else False


def shard_policy(settings: Settings) -> ShardPolicy:
    """The shard bounds of ``settings`` (``THERMOSTAT_SHARD_TARGETS``, ``_PINGS``, ``THERMOSTAT_MAX_IN_FLIGHT``)."""
    return ShardPolicy(
        max_targets=settings.shard_targets, max_pings=settings.shard_pings, max_in_flight=settings.max_in_flight
    )


def load_round(group: str, function: str | None, settings: Settings) -> list[Target | TargetProblem]:
    """The group's targets (only ``function``'s when given), as the round would load them."""
    targets = wiring.target_store(settings).load(group)
    if function is not None:
        targets = [t for t in targets if function in (t.function, t.function.rsplit(":", 1)[-1])]
        if not targets:
            raise NotFound(f"no keep-warm target for function {function!r} in group {group!r}")
    return targets


def sharding_applies(targets: list[Target | TargetProblem], settings: Settings, context: Any = None) -> bool:
    """True when this round is sharded (``THERMOSTAT_SHARDING``: ``on``, ``off`` or ``auto``)."""
    if settings.sharding != "auto":
        return settings.sharding == "on"
    # The own account is asked for only when a target names one (STS, unless the context says).
    own = wiring.own_account(context) if any(target.account for target in targets) else None
    return needs_sharding(targets, shard_policy(settings), (own, settings.region))
