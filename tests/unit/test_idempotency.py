"""The in-memory idempotency store (shared by the hook's and the deployment events' unit tests), and its contract.

It keeps the DynamoDB adapter's rules on a dict and an injected clock: a claim is a lease; only
an uncompleted key whose lease ended may be taken over (with the outcome recorded so far); a
completed key answers with its outcome forever; a release ends the lease of an uncompleted key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from domain.errors import Unavailable
from domain.idempotency import Claim, ClaimState, IdempotencyStore
from tests.fakes import ManualClock

pytestmark = pytest.mark.unit


@dataclass
class Entry:
    """One key's record, as the DynamoDB adapter stores it."""

    lease_until: float
    subject: str | None = None
    state: str = "in_progress"  # "decided" once an outcome is recorded, "completed" when done
    outcome: dict[str, Any] | None = None
    deliveries: int = 1


class InMemoryIdempotencyStore(IdempotencyStore):
    """:class:`domain.idempotency.IdempotencyStore` on a dict (state over calls: tests read ``entries``)."""

    def __init__(self, clock: Callable[[], float] = lambda: 1_000.0, fail_claims: Exception | None = None) -> None:
        self.clock = clock
        self.entries: dict[str, Entry] = {}
        self.fail_claims = fail_claims
        self._lock = threading.Lock()

    def claim(self, key: str, lease_s: float, *, subject: str | None = None, timeout_s: float | None = None) -> Claim:
        if self.fail_claims is not None:
            raise self.fail_claims
        now = self.clock()
        with self._lock:
            entry = self.entries.get(key)
            if entry is None:
                self.entries[key] = Entry(lease_until=now + lease_s, subject=subject)
                return Claim(state=ClaimState.CLAIMED)
            if entry.state == "completed":
                return Claim(state=ClaimState.COMPLETED, outcome=entry.outcome)
            if entry.lease_until < now:
                entry.lease_until, entry.deliveries = now + lease_s, entry.deliveries + 1
                return Claim(state=ClaimState.TAKEOVER, outcome=entry.outcome)
            return Claim(state=ClaimState.HELD, outcome=entry.outcome)

    def record(self, key: str, outcome: Mapping[str, Any], *, timeout_s: float | None = None) -> None:
        entry = self._existing(key)
        entry.state, entry.outcome = "decided", dict(outcome)

    def complete(self, key: str, outcome: Mapping[str, Any] | None = None, *, timeout_s: float | None = None) -> None:
        entry = self._existing(key)
        entry.state, entry.lease_until = "completed", self.clock()
        if outcome is not None:
            entry.outcome = dict(outcome)

    def release(self, key: str, *, timeout_s: float | None = None) -> None:
        entry = self.entries.get(key)
        if entry is not None and entry.state != "completed":
            entry.lease_until = 0

    def _existing(self, key: str) -> Entry:
        entry = self.entries.get(key)
        if entry is None:
            raise Unavailable(f"in-memory store: {key} was never claimed")
        return entry


# -- the fake keeps the contract ------------------------------------------------------------


def test_a_claim_is_held_until_its_lease_ends_then_taken_over_with_the_recorded_outcome() -> None:
    # Given a key claimed for 60 s, with an outcome recorded
    clock = ManualClock(1_000.0)
    store = InMemoryIdempotencyStore(clock)
    assert store.claim("k", 60).state is ClaimState.CLAIMED
    store.record("k", {"status": "Failed"})
    # When it is claimed during the lease, Then it is held (and says what was recorded)
    assert store.claim("k", 60) == Claim(state=ClaimState.HELD, outcome={"status": "Failed"})
    # And after the lease it is taken over, with that outcome
    clock.now += 61
    assert store.claim("k", 60) == Claim(state=ClaimState.TAKEOVER, outcome={"status": "Failed"})
    assert store.entries["k"].deliveries == 2


def test_a_completed_key_answers_forever_and_cannot_be_released() -> None:
    clock = ManualClock(1_000.0)
    store = InMemoryIdempotencyStore(clock)
    store.claim("k", 10)
    store.complete("k", {"bucket": "b"})
    store.release("k")
    clock.now += 3600
    assert store.claim("k", 10) == Claim(state=ClaimState.COMPLETED, outcome={"bucket": "b"})


def test_a_release_lets_the_next_claim_take_over_at_once() -> None:
    store = InMemoryIdempotencyStore()
    store.claim("k", 600)
    store.release("k")
    assert store.claim("k", 600).state is ClaimState.TAKEOVER


def test_updates_of_an_unclaimed_key_fail() -> None:
    store = InMemoryIdempotencyStore()
    with pytest.raises(Unavailable):
        store.complete("ghost")
    assert store.entries == {}
