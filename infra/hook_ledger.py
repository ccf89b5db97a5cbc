"""Idempotency for the lifecycle hook, one record per ``LifecycleEventHookExecutionId``.

Lambda may deliver an asynchronous invocation twice. The first delivery claims the execution
with a conditional put (``HOOK#{execution_id}`` / ``HOOK``); any later one finds the record and
does nothing. The claim is a lease that ends at the claimant's own deadline: if that delivery
died without reporting (killed, out of memory), a later delivery may take over and report the
verdict the first one recorded — or Failed — so CodeDeploy is never left waiting for an hour.
Records expire through the table's TTL after a week.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.update import Action

from domain.errors import Unavailable
from domain.hook import Claim, ClaimState, HookStatus
from infra.table import TableModel, bind_table

SK: Final = "HOOK"
DEFAULT_TTL_S: Final = 7 * 24 * 3600
MAX_REASON_CHARS: Final = 4_000
CONDITION_FAILED: Final = "ConditionalCheckFailedException"


class State:
    """Where a hook execution stands."""

    RUNNING: Final = "running"  # claimed, no verdict yet
    DECIDED: Final = "decided"  # verdict recorded, not (yet) reported
    REPORTED: Final = "reported"  # CodeDeploy has it


class HookExecutionRecord(TableModel):
    """One lifecycle hook execution (pk ``HOOK#{execution_id}``, sk ``HOOK``)."""

    deployment_id = UnicodeAttribute()
    state = UnicodeAttribute(default=State.RUNNING)
    status = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)
    claimed_at = NumberAttribute(default=0)
    deliveries = NumberAttribute(default=1)


def record_key(execution_id: str) -> str:
    """The partition key of an execution's record."""
    return f"HOOK#{execution_id}"


def _condition_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == CONDITION_FAILED


class DynamoHookLedger:
    """The ``HookLedger`` port on the thermostat table (pynamodb)."""

    def __init__(
        self,
        table_name: str,
        region: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> None:
        bind_table(table_name, region)
        self._clock = clock
        self._ttl_s = ttl_s

    def _record(self, execution_id: str) -> HookExecutionRecord:
        return HookExecutionRecord(record_key(execution_id), SK)

    def claim(self, execution_id: str, deployment_id: str, lease_s: float) -> Claim:
        """Claim the execution (first delivery), take it over (lease expired, never reported), or refuse."""
        now = self._clock()
        record = HookExecutionRecord(
            record_key(execution_id),
            SK,
            deployment_id=deployment_id,
            state=State.RUNNING,
            lease_until=now + lease_s,
            claimed_at=now,
            deliveries=1,
            ttl=datetime.fromtimestamp(now + self._ttl_s, tz=UTC),
        )
        try:
            record.save(condition=HookExecutionRecord.pk.does_not_exist())
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise Unavailable(f"hook ledger: claiming {execution_id} failed: {exc}") from exc
        else:
            return Claim(state=ClaimState.CLAIMED)
        existing = self._record(execution_id)
        try:
            existing.update(
                actions=[
                    HookExecutionRecord.lease_until.set(now + lease_s),
                    HookExecutionRecord.deliveries.add(1),
                ],
                condition=(HookExecutionRecord.state != State.REPORTED) & (HookExecutionRecord.lease_until < now),
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise Unavailable(f"hook ledger: taking over {execution_id} failed: {exc}") from exc
            return Claim(state=ClaimState.DUPLICATE, status=self._status(execution_id))
        return Claim(
            state=ClaimState.TAKEOVER,
            status=HookStatus(existing.status) if existing.status else None,
            reason=existing.reason,
        )

    def _status(self, execution_id: str) -> HookStatus | None:
        try:
            record = HookExecutionRecord.get(record_key(execution_id), SK, consistent_read=True)
        except PynamoDBException:
            return None  # only informational: the duplicate does nothing either way
        return HookStatus(record.status) if record.status else None

    def record_verdict(self, execution_id: str, status: HookStatus, reason: str) -> None:
        """Store the verdict before it is reported."""
        self._update(
            execution_id,
            "recording the verdict",
            [
                HookExecutionRecord.state.set(State.DECIDED),
                HookExecutionRecord.status.set(status.value),
                HookExecutionRecord.reason.set(reason[:MAX_REASON_CHARS]),
            ],
        )

    def release(self, execution_id: str) -> None:
        """End the lease now, so that Lambda's retry of this event can report at once."""
        self._update(execution_id, "releasing the claim", [HookExecutionRecord.lease_until.set(0)])

    def mark_reported(self, execution_id: str) -> None:
        """CodeDeploy has the verdict; every later delivery is a duplicate."""
        self._update(execution_id, "marking reported", [HookExecutionRecord.state.set(State.REPORTED)])

    def get(self, execution_id: str) -> HookExecutionRecord | None:
        """The stored record (for the CLI and tests), or None."""
        try:
            return HookExecutionRecord.get(record_key(execution_id), SK, consistent_read=True)
        except HookExecutionRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise Unavailable(f"hook ledger: reading {execution_id} failed: {exc}") from exc

    def _update(self, execution_id: str, what: str, actions: list[Action]) -> None:
        try:
            self._record(execution_id).update(
                actions=actions,
                condition=HookExecutionRecord.pk.exists(),
            )
        except PynamoDBException as exc:
            raise Unavailable(f"hook ledger: {what} for {execution_id} failed: {exc}") from exc
