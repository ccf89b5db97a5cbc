"""The registry's use cases, as the handlers and the CLI call them."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.buckets.model import BucketKey, DeploymentRequest, Resolution, StrayRecord, StraySource
from domain.buckets.names import shown
from domain.buckets.policy import DEFAULT_WAIT_S, ensure_bucket
from domain.buckets.ports import BucketRegistry, BucketStore, EventPublisher, Sleeper
from domain.buckets.strays import matching_pattern
from domain.deadline import Clock
from domain.errors import Conflict
from domain.idempotency import ClaimState, IdempotencyStore

DEPLOYMENT_REQUESTED = "Deployment Requested"
BUCKET_RESOLVED = "Deployment Bucket Resolved"


def resolve_deployment(
    request: DeploymentRequest,
    key: BucketKey,
    *,
    registry: BucketRegistry,
    store: BucketStore,
    publisher: EventPublisher | None,
    clock: Clock,
    sleep: Sleeper,
    rng: random.Random,
    stray_patterns: tuple[str, ...] = (),
    wait_s: float = DEFAULT_WAIT_S,
) -> Resolution:
    """Answer a ``Deployment Requested`` event: ensure the key's bucket, then announce it.

    ``publisher`` None skips the ``Deployment Bucket Resolved`` event (a duplicate delivery, or the CLI).
    """
    resolution = ensure_bucket(
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
    if publisher is not None:
        publisher.publish(BUCKET_RESOLVED, resolution.answer())
    return resolution


class CreateBucketCall(BaseModel):
    """The parts of a CloudTrail ``CreateBucket`` record (an EventBridge ``detail``) that matter here."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_name: str = Field(alias="eventName", min_length=1, max_length=128)
    aws_region: str | None = Field(default=None, alias="awsRegion", max_length=32)
    error_code: str | None = Field(default=None, alias="errorCode")
    bucket: str | None = Field(default=None, alias="requestParameters")

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
) -> tuple[dict[str, Any], bool]:
    """Run ``action`` once per ``event_id``: ``(its answer, False)``, or ``(the first answer, True)`` on a repeat.

    A delivery that arrives while the first one is still running raises :class:`Conflict`
    (Lambda retries it later, and then it gets the stored answer). A failed action gives the id
    back, so that its retry runs at once; a holder that died is taken over once its lease ends.
    """
    claim = receipts.claim(event_id, lease_s)
    if claim.state is ClaimState.COMPLETED:
        return dict(claim.outcome or {}), True
    if claim.state is ClaimState.HELD:
        raise Conflict(f"event {shown(event_id)} is being handled by another invocation; it will be retried")
    try:
        result = dict(action())
    except BaseException:
        receipts.release(event_id)
        raise
    receipts.complete(event_id, result)
    return result, False
