"""The idempotency store on the thermostat table: one record per key, every operation one call.

Keys (see ``infra.table``): ``{namespace}#{key}`` / ``{namespace}``, e.g. ``HOOK#{execution id}``
/ ``HOOK`` for the pre-traffic hook and ``EVENT#{event id}`` / ``EVENT`` for deployment events.

A claim is a single conditional ``UpdateItem`` that creates the record when it is missing or
extends the lease when the holder's lease ended before it completed. Both answers come back in
the same call: ``ReturnValues=ALL_OLD`` gives the record a takeover replaces (with the outcome
the earlier holder recorded), and ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` gives the
record that refused the claim (held, or completed with its outcome). The writes use the plain
DynamoDB client, because pynamodb turns a failed condition into an error without that item.

A call given ``timeout_s`` (the hook, which has a deadline) is one attempt on a client whose
connect and read timeouts fit in it (:func:`infra.aws.bounded_client`); without, the standard
client and its retries.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from domain.deadline import Clock
from domain.errors import Unavailable
from domain.idempotency import Claim, ClaimState
from infra import aws
from infra.table import TableModel, bind_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class State:
    """Where a key stands (the ``state`` attribute)."""

    IN_PROGRESS: Final = "in_progress"  # claimed, no outcome yet
    DECIDED: Final = "decided"  # an outcome is recorded, its effect not confirmed
    COMPLETED: Final = "completed"  # done: later claims answer from the outcome


#: States written before the two stores became one (``HOOK`` records' ``state``, ``EVENT``
#: records' ``status``), read as today's, so that records in flight at an upgrade keep their meaning.
_LEGACY_STATES: Final = {"running": State.IN_PROGRESS, "reported": State.COMPLETED, "done": State.COMPLETED}


@dataclass(frozen=True)
class Namespace:
    """One user of the store: its key prefix, how long its records live, and its name in errors."""

    prefix: str
    ttl: timedelta
    label: str


#: The pre-traffic hook: one record per LifecycleEventHookExecutionId, kept a week.
HOOK_EXECUTIONS: Final = Namespace("HOOK", timedelta(days=7), "hook ledger")
#: Deployment events: one record per EventBridge event id, kept a day (EventBridge retries for 24 hours).
EVENT_RECEIPTS: Final = Namespace("EVENT", timedelta(hours=24), "event receipts")


class IdempotencyRecord(TableModel):
    """One key's record (for reading it back: the CLI, tests)."""

    state = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)
    claimed_at = NumberAttribute(null=True)
    deliveries = NumberAttribute(null=True)
    outcome = UnicodeAttribute(null=True)  # JSON
    subject = UnicodeAttribute(null=True)


def _number(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 6))}


def _outcome_of(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The outcome stored in a raw item (today's ``outcome``, or a legacy verdict/answer)."""
    if "outcome" in item:
        loaded = json.loads(item["outcome"]["S"])
        return loaded if isinstance(loaded, dict) else None
    if "result" in item:  # a legacy EVENT receipt's answer
        loaded = json.loads(item["result"]["S"])
        return loaded if isinstance(loaded, dict) else None
    if "status" in item and "state" in item:  # a legacy HOOK record's verdict
        return {"status": item["status"]["S"], "reason": item.get("reason", {}).get("S", "")}
    return None


def _state_of(item: Mapping[str, Any]) -> str:
    raw = str(item.get("state", item.get("status", {})).get("S", State.IN_PROGRESS))
    return _LEGACY_STATES.get(raw, raw)


class DynamoIdempotencyStore:
    """:class:`domain.idempotency.IdempotencyStore` on the thermostat table, in one namespace."""

    def __init__(
        self,
        table_name: str,
        region: str | None = None,
        *,
        namespace: Namespace,
        clock: Clock = time.time,
        client: DynamoDBClient | None = None,
    ) -> None:
        self.table_name = table_name
        self.region = region or aws.region()
        self.namespace = namespace
        self._clock = clock
        self._given_client = client

    @functools.cached_property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client: the one given, else built at first use."""
        built: DynamoDBClient = self._given_client or aws.client("dynamodb", region_name=self.region)
        return built

    def client_within(self, what: str, key: str, timeout_s: float | None) -> DynamoDBClient:
        """The client for one call that must end within ``timeout_s`` (None: the standard client and retries).

        A bounded call is one attempt whose connect and read timeouts fit in ``timeout_s``
        (:func:`infra.aws.bounded_client`); an injected client keeps its own configuration.
        """
        if timeout_s is None or self._given_client is not None:
            return self.client
        bounded: DynamoDBClient | None = aws.bounded_client(
            "dynamodb", timeout_s, connect_cap_s=0.5, read_cap_s=timeout_s, region_name=self.region
        )
        if bounded is None:
            raise Unavailable(
                f"DynamoDB {self.namespace.label}: {what} {key} skipped on {self.table_name}: "
                f"only {timeout_s:.2f}s left before the deadline"
            )
        return bounded

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.namespace.prefix}#{key}"}, "sk": {"S": self.namespace.prefix}}

    def _expires(self, now: float) -> dict[str, str]:
        return {"N": str(int(now + self.namespace.ttl.total_seconds()))}

    def claim(self, key: str, lease_s: float, *, subject: str | None = None, timeout_s: float | None = None) -> Claim:
        """Create the record, or take over one whose lease ended uncompleted; else say who has it (one call)."""
        now = self._clock()
        update = (
            "SET lease_until = :lease, #state = if_not_exists(#state, :in_progress), "
            "claimed_at = if_not_exists(claimed_at, :now), #ttl = if_not_exists(#ttl, :ttl)"
        )
        values: dict[str, Any] = {
            ":lease": _number(now + lease_s),
            ":now": _number(now),
            ":ttl": self._expires(now),
            ":one": {"N": "1"},
            ":in_progress": {"S": State.IN_PROGRESS},
            ":decided": {"S": State.DECIDED},
            ":running": {"S": "running"},
        }
        if subject is not None:
            update += ", subject = if_not_exists(subject, :subject)"
            values[":subject"] = {"S": subject}
        # Only an uncompleted record with an ended lease may be taken over ("running" and a
        # legacy receipt's "status" are the states written before the stores became one).
        condition = (
            "attribute_not_exists(pk) OR (lease_until < :now AND (#state IN (:in_progress, :decided, :running) "
            "OR (attribute_not_exists(#state) AND #status = :in_progress)))"
        )
        client = self.client_within("claiming", key, timeout_s)
        try:
            response = client.update_item(
                TableName=self.table_name,
                Key=self._key(key),
                UpdateExpression=update + " ADD deliveries :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state", "#ttl": "ttl", "#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if aws.error_code(exc) != aws.CONDITION_FAILED:
                raise self._unavailable("claiming", key, exc) from exc
            held = getattr(exc, "response", {}).get("Item")
            if not held:
                raise self._unavailable("claiming", key, exc) from exc
            completed = _state_of(held) == State.COMPLETED
            return Claim(state=ClaimState.COMPLETED if completed else ClaimState.HELD, outcome=_outcome_of(held))
        previous = response.get("Attributes")
        if not previous:
            return Claim(state=ClaimState.CLAIMED)
        return Claim(state=ClaimState.TAKEOVER, outcome=_outcome_of(previous))

    def record(self, key: str, outcome: Mapping[str, Any], *, timeout_s: float | None = None) -> None:
        """Store ``outcome`` (state DECIDED); the lease stays as it is."""
        self._update(
            "recording the outcome of",
            key,
            "SET #state = :decided, outcome = :outcome",
            {":decided": {"S": State.DECIDED}, ":outcome": {"S": _json(outcome)}},
            timeout_s=timeout_s,
        )

    def complete(self, key: str, outcome: Mapping[str, Any] | None = None, *, timeout_s: float | None = None) -> None:
        """Mark the key COMPLETED (with ``outcome`` when given); its TTL counts from now."""
        now = self._clock()
        update = "SET #state = :completed, lease_until = :now, #ttl = :ttl"
        values: dict[str, Any] = {
            ":completed": {"S": State.COMPLETED},
            ":now": _number(now),
            ":ttl": self._expires(now),
        }
        if outcome is not None:
            update += ", outcome = :outcome"
            values[":outcome"] = {"S": _json(outcome)}
        self._update("completing", key, update, values, names={"#ttl": "ttl"}, timeout_s=timeout_s)

    def release(self, key: str, *, timeout_s: float | None = None) -> None:
        """End the lease now; a completed (or unknown) key is left as it is."""
        client = self.client_within("releasing", key, timeout_s)
        try:
            client.update_item(
                TableName=self.table_name,
                Key=self._key(key),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="attribute_exists(pk) AND #state <> :completed",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":completed": {"S": State.COMPLETED}},
            )
        except Exception as exc:
            if aws.error_code(exc) != aws.CONDITION_FAILED:
                raise self._unavailable("releasing", key, exc) from exc

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record (for the CLI and tests), or None."""
        bind_table(self.table_name, self.region)
        try:
            return IdempotencyRecord.get(f"{self.namespace.prefix}#{key}", self.namespace.prefix, consistent_read=True)
        except IdempotencyRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise self._unavailable("reading", key, exc) from exc

    def _update(
        self,
        what: str,
        key: str,
        update: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        # Only an existing record is updated: an update must never create a record nobody claimed.
        client = self.client_within(what, key, timeout_s)
        try:
            client.update_item(
                TableName=self.table_name,
                Key=self._key(key),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#state": "state", **(names or {})},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            raise self._unavailable(what, key, exc) from exc

    def _unavailable(self, what: str, key: str, exc: BaseException) -> Unavailable:
        code = aws.error_code(exc) or getattr(exc, "cause_response_code", None) or type(exc).__name__
        return Unavailable(f"DynamoDB {self.namespace.label}: {what} {key} failed on {self.table_name}: {code}: {exc}")


def _json(outcome: Mapping[str, Any]) -> str:
    return json.dumps(dict(outcome), sort_keys=True, default=str)
