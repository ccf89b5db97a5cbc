"""One idempotency component for every at-least-once delivery: a claim per key, held by a lease.

EventBridge, Lambda's asynchronous retries and CodeDeploy's hook invocations all deliver at
least once. Whoever handles a delivery first *claims* its key; the claim is a lease that ends at
the holder's own deadline, so a holder that dies (killed, out of memory) blocks nobody for long:
the next delivery after the lease *takes over*. A holder may *record* an outcome before its
effect is confirmed (the hook's verdict, before CodeDeploy has it), so that a takeover repeats
that outcome instead of deciding again; it *completes* the key when the effect is done (every
later delivery then answers from the outcome), or *releases* it after a failure (the next
delivery takes over at once, a recorded outcome kept).

Users: :func:`domain.buckets.run_once` (deployment events) and the pre-traffic hook's delivery.
The store owns its clock: a lease is an instant stored next to the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class ClaimState(StrEnum):
    """What a claim found."""

    CLAIMED = "claimed"  # first delivery: the caller holds the key now
    TAKEOVER = "takeover"  # an earlier holder's lease ended before it completed: the caller holds it now
    HELD = "held"  # another delivery holds a live lease
    COMPLETED = "completed"  # handled before: ``outcome`` is what it answered


class Claim(BaseModel):
    """The store's answer to a claim, with the outcome recorded so far (if any)."""

    model_config = ConfigDict(frozen=True)

    state: ClaimState
    outcome: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        """True when the caller now holds the key (a first claim or a takeover)."""
        return self.state in (ClaimState.CLAIMED, ClaimState.TAKEOVER)


class IdempotencyStore(Protocol):
    """Port: claim / record / complete / release per key (DynamoDB in production).

    ``timeout_s``, on every operation: the call must end within that many seconds (it raises when
    it cannot: the caller has a deadline); None leaves it to the store's own timeouts and retries.
    """

    def claim(self, key: str, lease_s: float, *, subject: str | None = None, timeout_s: float | None = None) -> Claim:
        """Claim ``key`` for ``lease_s`` seconds, take it over (lease ended, not completed), or say who has it.

        ``subject`` says what the key is about (the hook: its deployment id), for whoever reads the record.
        """
        ...

    def record(self, key: str, outcome: Mapping[str, Any], *, timeout_s: float | None = None) -> None:
        """Remember ``outcome`` before its effect is confirmed; a takeover gets it back."""
        ...

    def complete(self, key: str, outcome: Mapping[str, Any] | None = None, *, timeout_s: float | None = None) -> None:
        """The effect is done: every later claim is COMPLETED, with ``outcome`` (None keeps the recorded one)."""
        ...

    def release(self, key: str, *, timeout_s: float | None = None) -> None:
        """Give a held key back after a failure: the next claim takes over at once (a completed key stays)."""
        ...
