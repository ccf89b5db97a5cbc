"""Event receipts: which event ids were handled, so duplicate deliveries have one effect.

Any handler can use it: EventBridge, SQS and Lambda's async retries all deliver at least once.
One record per id, ``EVENT#{event_id}`` / ``EVENT``: taken with a conditional put (a lease, so a
crashed holder does not block the id forever), completed with the handler's answer, and gone by
TTL a day later (EventBridge retries for at most 24 hours).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from domain.buckets import Receipt, ReceiptStatus
from domain.errors import Unavailable
from infra import aws
from infra.table import TableModel, bind_table

EVENT_SK = "EVENT"
DEFAULT_TTL = timedelta(hours=24)
CONDITION_FAILED = "ConditionalCheckFailedException"
_IN_PROGRESS = "in_progress"
_DONE = "done"


class EventReceiptModel(TableModel):
    """One handled (or being handled) event id."""

    status = UnicodeAttribute()
    lease_until = NumberAttribute()
    result = UnicodeAttribute(null=True)  # the handler's answer, JSON


def receipt_pk(event_id: str) -> str:
    """The partition key of ``event_id``'s receipt."""
    return f"EVENT#{event_id}"


class DynamoEventReceipts:
    """:class:`domain.buckets.EventReceipts` on the thermostat table."""

    def __init__(self, table_name: str, region: str | None = None, ttl: timedelta = DEFAULT_TTL) -> None:
        self.table_name = table_name
        self.region = region or aws.region()
        self.ttl = ttl

    def begin(self, event_id: str, now: float, lease_s: float) -> Receipt:
        """Take the id (NEW), or report it IN_PROGRESS (a live lease) or DONE (with the stored answer)."""
        bind_table(self.table_name, self.region)
        item = EventReceiptModel(
            pk=receipt_pk(event_id),
            sk=EVENT_SK,
            status=_IN_PROGRESS,
            lease_until=now + lease_s,
            ttl=datetime.fromtimestamp(now, tz=UTC) + self.ttl,
        )
        free = EventReceiptModel.pk.does_not_exist() | (
            (EventReceiptModel.status == _IN_PROGRESS) & (EventReceiptModel.lease_until < now)
        )
        for _ in range(2):  # the record may expire or be abandoned between the put and the read
            try:
                item.save(condition=free)
            except PynamoDBException as exc:
                if exc.cause_response_code != CONDITION_FAILED:
                    raise self._unavailable("take", event_id, exc) from exc
            else:
                return Receipt(status=ReceiptStatus.NEW)
            try:
                held = EventReceiptModel.get(receipt_pk(event_id), EVENT_SK, consistent_read=True)
            except EventReceiptModel.DoesNotExist:
                continue
            except PynamoDBException as exc:
                raise self._unavailable("read", event_id, exc) from exc
            if held.status == _DONE:
                return Receipt(status=ReceiptStatus.DONE, result=json.loads(held.result or "{}"))
            return Receipt(status=ReceiptStatus.IN_PROGRESS)
        return Receipt(status=ReceiptStatus.IN_PROGRESS)

    def complete(self, event_id: str, result: Mapping[str, Any], now: float) -> None:
        """Record the answer; later deliveries of the id get it back instead of running again."""
        bind_table(self.table_name, self.region)
        item = EventReceiptModel(
            pk=receipt_pk(event_id),
            sk=EVENT_SK,
            status=_DONE,
            lease_until=now,
            result=json.dumps(dict(result), sort_keys=True, default=str),
            ttl=datetime.fromtimestamp(now, tz=UTC) + self.ttl,
        )
        try:
            item.save()
        except PynamoDBException as exc:
            raise self._unavailable("complete", event_id, exc) from exc

    def abandon(self, event_id: str) -> None:
        """Delete an in-progress receipt after a failure (never a completed one)."""
        bind_table(self.table_name, self.region)
        try:
            EventReceiptModel(receipt_pk(event_id), EVENT_SK).delete(condition=EventReceiptModel.status == _IN_PROGRESS)
        except PynamoDBException as exc:
            if exc.cause_response_code != CONDITION_FAILED:
                raise self._unavailable("abandon", event_id, exc) from exc

    def _unavailable(self, what: str, event_id: str, exc: PynamoDBException) -> Unavailable:
        code = exc.cause_response_code or type(exc).__name__
        return Unavailable(f"DynamoDB could not {what} the receipt of event {event_id!r} on {self.table_name}: {code}")
