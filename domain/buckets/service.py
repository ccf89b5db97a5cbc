"""The registry's use cases, as the handlers and the CLI call them."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.buckets.model import (
    BucketKey,
    DeploymentRequest,
    Resolution,
    StrayRecord,
    StraySource,
    check_account,
)
from domain.buckets.names import shown
from domain.buckets.policy import DEFAULT_WAIT_S, ensure_bucket
from domain.buckets.ports import BucketRegistry, BucketStore, EventPublisher, Sleeper
from domain.buckets.strays import matching_pattern
from domain.deadline import Clock
from domain.errors import Conflict, InvalidInput, ThermostatError
from domain.idempotency import ClaimState, IdempotencyStore

DEPLOYMENT_REQUESTED = "Deployment Requested"
BUCKET_RESOLVED = "Deployment Bucket Resolved"
#: Names the ``resolution_id`` of each ``Deployment Bucket Resolved`` (a UUID 5 of the request's event id).
_RESOLUTION_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:thermostat:deployment-bucket-resolved")
#: In a recorded outcome that is not completed yet: how far its announcement got.
ANNOUNCEMENT = "announcement"
#: Recorded before the announcement is sent: a later delivery takes it as sent (and only completes).
SENDING = "sending"
#: Recorded when sending failed: a later delivery sends it (with the same ``resolution_id``).
SEND_FAILED = "failed"


def resolution_id(event_id: str) -> str:
    """The id every announcement of the answer to event ``event_id`` carries: the same on every delivery."""
    return str(uuid.uuid5(_RESOLUTION_IDS, event_id))


def resolved_event(answer: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The ``Deployment Bucket Resolved`` detail: the answer, plus ids a consumer can deduplicate on."""
    return {**answer, "resolution_id": resolution_id(event_id), "requested_event_id": event_id}


def announce_resolution(publisher: EventPublisher, answer: Mapping[str, Any], event_id: str) -> None:
    """Publish ``Deployment Bucket Resolved`` for the answer to event ``event_id``."""
    publisher.publish(BUCKET_RESOLVED, resolved_event(answer, event_id))


def resolve_deployment(
    request: DeploymentRequest,
    key: BucketKey,
    *,
    registry: BucketRegistry,
    store: BucketStore,
    clock: Clock,
    sleep: Sleeper,
    rng: random.Random,
    stray_patterns: tuple[str, ...] = (),
    wait_s: float = DEFAULT_WAIT_S,
) -> Resolution:
    """Answer a ``Deployment Requested`` event: ensure the key's bucket (announcing it is the caller's).

    The handler announces through :func:`run_once`, after the answer is recorded; the CLI announces nothing.
    """
    return ensure_bucket(
        key,
        registry,
        store,
        clock,
        sleep=sleep,
        rng=rng,
        requested=request.bucket,
        stray_patterns=stray_patterns,
        wait_s=wait_s,
    )


class CreateBucketCall(BaseModel):
    """The parts of a CloudTrail ``CreateBucket`` record (an EventBridge ``detail``) that matter here."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_name: str = Field(alias="eventName", min_length=1, max_length=128)
    aws_region: str | None = Field(default=None, alias="awsRegion", max_length=32)
    error_code: str | None = Field(default=None, alias="errorCode")
    bucket: str | None = Field(default=None, alias="requestParameters")
    #: The account whose bucket it is (the same as the envelope's for a call forwarded by a spoke).
    recipient_account: str | None = Field(default=None, alias="recipientAccountId", max_length=32)

    @field_validator("bucket", mode="before")
    @classmethod
    def _bucket_name(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ValueError("requestParameters must be an object with bucketName")
        name = value.get("bucketName")
        if not isinstance(name, str) or not name or len(name) > 255:
            raise ValueError("requestParameters.bucketName must be a bucket name")
        return name


def event_account(envelope_account: str | None, *, recipient: str | None = None, otherwise: Callable[[], str]) -> str:
    """The account an event is about: CloudTrail's ``recipientAccountId``, else the envelope's ``account``.

    EventBridge sets the envelope's ``account`` to the account that put the event (a spoke's
    forwarding rule keeps it), so another account cannot speak for a third. Both present and
    different, or not an account id: :class:`InvalidInput`. Neither present: ``otherwise()``.
    """
    if recipient is not None and envelope_account is not None and recipient != envelope_account:
        raise InvalidInput(
            f"the event's account {shown(envelope_account)} and its CloudTrail recipientAccountId "
            f"{shown(recipient)} differ: refusing to guess whose bucket it is"
        )
    account = recipient if recipient is not None else envelope_account
    return check_account(otherwise() if account is None else account)


def note_created_bucket(
    call: CreateBucketCall,
    *,
    account: str | None,
    registry: BucketRegistry,
    stray_patterns: tuple[str, ...],
    clock: Clock,
) -> dict[str, Any]:
    """Record a successful ``CreateBucket`` whose name matches a stray pattern; ignore anything else."""
    if call.event_name != "CreateBucket":
        return {"ignored": f"not a CreateBucket call ({call.event_name})"}
    if call.error_code is not None:
        return {"bucket": call.bucket, "stray": False, "ignored": f"the call failed ({call.error_code})"}
    if call.bucket is None:
        return {"ignored": "no bucket name in the call"}
    pattern = matching_pattern(call.bucket, stray_patterns)
    if pattern is None:
        return {"bucket": call.bucket, "stray": False, "ignored": "matches no stray pattern"}
    reason = f"created outside the registry; matches {pattern!r}"
    registry.record_stray(
        StrayRecord(
            bucket=call.bucket,
            source=StraySource.CLOUDTRAIL,
            reason=reason,
            seen_at=clock(),
            region=call.aws_region,
            account=account,
        )
    )
    return {"bucket": call.bucket, "stray": True, "reason": reason}


def run_once(
    event_id: str,
    receipts: IdempotencyStore,
    action: Callable[[], Mapping[str, Any]],
    *,
    lease_s: float,
    announce: Callable[[Mapping[str, Any]], object] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``action`` once per ``event_id``: ``(its answer, False)``, or ``(the first answer, True)`` on a repeat.

    A delivery that arrives while the first one is still running raises :class:`Conflict`
    (Lambda retries it later, and then it gets the stored answer). A failed action gives the id
    back, so that its retry runs at once; a holder that died is taken over once its lease ends.

    ``announce`` (publishing the answer) is the one effect that repeating would double, so the
    answer is recorded first (record → announce → complete): a later delivery that finds it
    recorded as sending only completes the receipt, whatever failed after the announcement was
    accepted (the completion write, say); one that finds it recorded as failed announces it
    again, the answer unchanged and nothing resolved twice.
    """
    claim = receipts.claim(event_id, lease_s)
    if claim.state is ClaimState.COMPLETED:
        return dict(claim.outcome or {}), True
    if claim.state is ClaimState.HELD:
        raise Conflict(f"event {shown(event_id)} is being handled by another invocation; it will be retried")
    recorded = claim.outcome if claim.state is ClaimState.TAKEOVER and announce is not None else None
    stage = recorded.get(ANNOUNCEMENT) if recorded is not None else None
    if recorded is not None and stage in (SENDING, SEND_FAILED):
        result = {name: value for name, value in recorded.items() if name != ANNOUNCEMENT}
        if stage == SENDING:
            receipts.complete(event_id, result)
            return result, True
    else:
        try:
            result = dict(action())
        except BaseException:
            receipts.release(event_id)
            raise
    if announce is not None:
        _announce_once(event_id, receipts, result, announce)
    receipts.complete(event_id, result)
    return result, False


def _announce_once(
    event_id: str,
    receipts: IdempotencyStore,
    result: dict[str, Any],
    announce: Callable[[Mapping[str, Any]], object],
) -> None:
    try:
        receipts.record(event_id, {**result, ANNOUNCEMENT: SENDING})
    except BaseException:
        receipts.release(event_id)
        raise
    try:
        announce(result)
    except BaseException as exc:
        try:
            receipts.record(event_id, {**result, ANNOUNCEMENT: SEND_FAILED})
            receipts.release(event_id)
        except ThermostatError as also:  # the announcement's error is the one to raise
            exc.add_note(f"and the receipt could not record that the announcement failed: {also}")
        raise
