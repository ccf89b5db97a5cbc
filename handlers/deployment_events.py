"""Lambda: ``Deployment Requested`` and CloudTrail ``CreateBucket`` events (the deployment-bucket registry).

* ``Deployment Requested`` (detail ``{project, stage, region?, bucket?}``) answers
  ``{project, stage, region, bucket, reused}`` and publishes it as ``Deployment Bucket Resolved``.
* A successful CloudTrail ``CreateBucket`` whose name matches ``THERMOSTAT_STRAY_PATTERNS`` is
  recorded as a stray.

The account is the event's (its envelope's ``account``, CloudTrail's ``recipientAccountId``), not
this function's: a spoke account's forwarded event resolves a bucket in that account, through its
spoke role (``THERMOSTAT_SPOKE_ROLE``, ``THERMOSTAT_SPOKE_EXTERNAL_ID``). The role is assumed before
anything is claimed, so a role that refuses leaves the registry as it was.

Each event id has one effect, however often EventBridge delivers it: the answer is recorded in the
event's receipt before it is announced, so a redelivery finds it (see :func:`domain.buckets.run_once`);
each announcement carries ``resolution_id``, the same for every delivery of one event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.buckets import (
    BUCKET_RESOLVED,
    DEFAULT_WAIT_S,
    DEPLOYMENT_REQUESTED,
    BucketKey,
    CreateBucketCall,
    DeploymentRequest,
    Resolution,
    announce_resolution,
    describe_validation_error,
    event_account,
    matching_pattern,
    note_created_bucket,
    resolve_deployment,
    run_once,
)
from domain.deadline import Deadline
from domain.errors import InvalidInput
from handlers import wiring
from infra.accounts import current_account
from infra.observability import MetricUnit, entrypoint, get_logger, get_metrics

CLOUDTRAIL = "AWS API Call via CloudTrail"
#: Time kept back from the invocation's deadline, so that an answer (or a clear error) always leaves.
SAFETY_S = 5.0
#: Receipt lease when the context does not say how long the invocation may run.
DEFAULT_RECEIPT_LEASE_S = 60.0
M = TypeVar("M", bound=BaseModel)


class EventEnvelope(BaseModel):
    """The EventBridge envelope; ``detail`` is parsed by the model of its ``detail-type``."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=256)
    account: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any]


def parse_envelope(event: Any) -> EventEnvelope:
    """The envelope, or :class:`InvalidInput` naming the missing or bad field."""
    if not isinstance(event, Mapping):
        raise InvalidInput(
            "expected an EventBridge event (an object with id, source, detail-type, detail), "
            f"got {type(event).__name__}"
        )
    try:
        return EventEnvelope.model_validate(event)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, "malformed EventBridge event")) from exc


def parse_detail(model: type[M], envelope: EventEnvelope) -> M:
    """``envelope.detail`` as ``model``, or :class:`InvalidInput` naming ``detail.<field>``."""
    try:
        return model.model_validate(envelope.detail)
    except ValidationError as exc:
        what = f"malformed {envelope.detail_type!r} event {envelope.id!r}"
        raise InvalidInput(describe_validation_error(exc, what, prefix="detail.")) from exc


def _receipt_lease_s(remaining_s: float | None) -> float:
    """A receipt is held until the invocation's own end, plus the safety margin."""
    return DEFAULT_RECEIPT_LEASE_S if remaining_s is None else remaining_s + SAFETY_S


# -- the handler ------------------------------------------------------------------------------


@entrypoint
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Route one EventBridge event to its use case."""
    envelope = parse_envelope(event)
    if envelope.detail_type == DEPLOYMENT_REQUESTED:
        return on_deployment_requested(envelope, context)
    if envelope.detail_type == CLOUDTRAIL and envelope.source == "aws.s3":
        return on_create_bucket(envelope, context)
    if envelope.detail_type == BUCKET_RESOLVED:
        return {"ignored": f"{BUCKET_RESOLVED!r} is this function's own answer"}
    raise InvalidInput(
        f"unsupported event: source {envelope.source!r}, detail-type {envelope.detail_type!r}; expected "
        f"{DEPLOYMENT_REQUESTED!r} or a CloudTrail CreateBucket call ({CLOUDTRAIL!r} from aws.s3)"
    )


def on_deployment_requested(envelope: EventEnvelope, context: Any) -> dict[str, Any]:
    """Resolve the key's bucket (reuse or create) and publish the answer, once per event id."""
    request = parse_detail(DeploymentRequest, envelope)
    settings = wiring.settings()
    own = current_account(context)
    account = event_account(envelope.account, otherwise=lambda: own)
    key = BucketKey.of(
        account=account, region=request.region or settings.region, project=request.project, stage=request.stage
    )
    remaining = Deadline.from_context(context, time.monotonic).remaining_or_none()
    wait_s = DEFAULT_WAIT_S if remaining is None else min(DEFAULT_WAIT_S, max(1.0, remaining - SAFETY_S))

    def resolve() -> dict[str, Any]:
        # Another account's store assumes its spoke role here, before the registry is touched.
        store = wiring.bucket_store(account, key.region, own_account=own)
        resolution = resolve_deployment(
            request,
            key,
            registry=wiring.bucket_registry(),
            store=store,
            clock=time.time,
            sleep=time.sleep,
            rng=wiring.bucket_rng(),
            stray_patterns=settings.stray_patterns,
            wait_s=wait_s,
        )
        _record_metrics(resolution)
        get_logger().info("deployment bucket resolved", extra={"event_id": envelope.id, **_log_fields(resolution)})
        return resolution.answer()

    deadline = Deadline.from_context(context, time.monotonic)

    def time_left() -> float | None:
        left = deadline.remaining_or_none()
        return None if left is None else left - SAFETY_S

    def announce(answer: Mapping[str, Any]) -> None:
        # Bounded by the invocation's deadline: a hanging EventBridge makes a clear error (the
        # receipt then says the announcement failed, and the retry makes it), not a timeout.
        announce_resolution(wiring.event_publisher().within(time_left), answer, envelope.id)

    answer, duplicate = run_once(
        envelope.id, wiring.event_receipts(), resolve, lease_s=_receipt_lease_s(remaining), announce=announce
    )
    if duplicate:
        get_logger().info("duplicate delivery: answered from the receipt", extra={"event_id": envelope.id})
    return answer


def on_create_bucket(envelope: EventEnvelope, context: Any) -> dict[str, Any]:
    """Record a stray ``CreateBucket`` (pattern-matched, successful), once per event id."""
    call = parse_detail(CreateBucketCall, envelope)
    patterns = wiring.settings().stray_patterns
    account = event_account(
        envelope.account, recipient=call.recipient_account, otherwise=lambda: current_account(context)
    )

    def note() -> dict[str, Any]:
        outcome = note_created_bucket(
            call, account=account, registry=wiring.bucket_registry(), stray_patterns=patterns, clock=time.time
        )
        if outcome.get("stray"):
            get_metrics().add_metric(name="StrayBuckets", unit=MetricUnit.Count, value=1)
            get_logger().info("stray bucket recorded", extra={"event_id": envelope.id, **outcome})
        return outcome

    candidate = (
        call.event_name == "CreateBucket"
        and call.error_code is None
        and call.bucket is not None
        and matching_pattern(call.bucket, patterns) is not None
    )
    if not candidate:
        return note()  # writes nothing: no receipt needed for an event that changes nothing
    remaining = Deadline.from_context(context, time.monotonic).remaining_or_none()
    outcome, _ = run_once(envelope.id, wiring.event_receipts(), note, lease_s=_receipt_lease_s(remaining))
    return outcome


def _record_metrics(resolution: Resolution) -> None:
    metrics = get_metrics()
    if resolution.reused:
        metrics.add_metric(name="BucketsReused", unit=MetricUnit.Count, value=1)
    if resolution.created:
        metrics.add_metric(name="BucketsCreated", unit=MetricUnit.Count, value=1)
    if resolution.repaired:
        metrics.add_metric(name="BucketsRepaired", unit=MetricUnit.Count, value=1)
    if resolution.stray is not None:
        metrics.add_metric(name="StrayBuckets", unit=MetricUnit.Count, value=1)


def _log_fields(resolution: Resolution) -> dict[str, Any]:
    return {
        **resolution.answer(),
        "bucket_created": resolution.created,  # not "created": LogRecord owns that name
        "bucket_repaired": resolution.repaired,
        "stray_bucket": resolution.stray,
    }
