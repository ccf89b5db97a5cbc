"""Ports of the bucket registry: what the policy needs from DynamoDB, S3 and EventBridge.

Adapters live in ``infra/`` (``DynamoBucketRegistry``, ``S3BucketStore``, ``EventBridgePublisher``);
the unit tests use in-memory fakes with the same semantics. Once-per-event-id handling uses the
shared idempotency store (:mod:`domain.idempotency`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from domain.buckets.model import BucketKey, BucketRecord, StrayRecord
from domain.errors import Conflict

#: Seconds since the epoch (``time.time`` in production, a fake in tests).
#: Sleeps for the given seconds (``time.sleep`` in production).
Sleeper = Callable[[float], object]


class BucketNameUnavailable(Conflict):
    """S3 refused to create the name: another account owns it, or it was just deleted."""


class ProbeStatus(StrEnum):
    """What ``HeadBucket`` with ``ExpectedBucketOwner`` said about a name."""

    OURS = "ours"  # exists and belongs to this account
    MISSING = "missing"  # 404: no such bucket
    FOREIGN = "foreign"  # 403: another account's bucket (or this role may not see it)


class BucketProbe(BaseModel):
    """A bucket's status and, when it exists, its region."""

    model_config = ConfigDict(frozen=True)

    status: ProbeStatus
    region: str | None = None


class CreateOutcome(StrEnum):
    """How a ``CreateBucket`` call ended (failures are raised)."""

    CREATED = "created"
    ALREADY_OURS = "already_ours"  # BucketAlreadyOwnedByYou: never counted as new


class DeleteOutcome(StrEnum):
    """How a delete-if-empty ended."""

    DELETED = "deleted"
    NOT_EMPTY = "not_empty"
    GONE = "gone"
    NOT_OURS = "not_ours"


class BucketInfo(BaseModel):
    """One bucket of the account's listing."""

    model_config = ConfigDict(frozen=True)

    name: str
    region: str | None = None
    created_at: float | None = None


class BucketRegistry(Protocol):
    """Port: the registry of deployment buckets and strays (one DynamoDB table in production)."""

    def claim(self, record: BucketRecord) -> BucketRecord | None:
        """Create ``record`` only if its key has no record. None when claimed; else the existing record."""
        ...

    def get(self, key: BucketKey) -> BucketRecord | None:
        """The key's record, read consistently."""
        ...

    def replace(self, expected_claim_id: str, record: BucketRecord) -> bool:
        """Overwrite the key's record only if its claim id is still ``expected_claim_id``."""
        ...

    def mark_ready(self, record: BucketRecord, now: float) -> bool:
        """Mark the claim ready; False when the claim is no longer ``record.claim_id`` (taken over)."""
        ...

    def release(self, record: BucketRecord) -> None:
        """Delete the record if it is still ``record.claim_id`` (a claim given up before any bucket)."""
        ...

    def forget(self, key: BucketKey) -> BucketRecord | None:
        """Delete the key's record (never the bucket); the record it had, if any."""
        ...

    def records(self) -> list[BucketRecord]:
        """Every registered key (any state)."""
        ...

    def record_stray(self, stray: StrayRecord) -> None:
        """Remember a stray bucket (idempotent per bucket name)."""
        ...

    def strays(self) -> list[StrayRecord]:
        """Every recorded stray."""
        ...

    def forget_stray(self, bucket: str) -> None:
        """Drop a stray record (after the bucket was deleted)."""
        ...


class BucketStore(Protocol):
    """Port: the account's S3 buckets. Bound to one account (``ExpectedBucketOwner``)."""

    def probe(self, bucket: str) -> BucketProbe:
        """Does ``bucket`` exist, and is it ours?"""
        ...

    def create(self, bucket: str, region: str) -> CreateOutcome:
        """Create ``bucket`` in ``region``; raise :class:`BucketNameUnavailable` if S3 refuses the name."""
        ...

    def configure(self, bucket: str, tags: Mapping[str, str]) -> None:
        """Apply tags, block all public access, and turn on default encryption."""
        ...

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket of the account."""
        ...

    def delete_if_empty(self, bucket: str) -> DeleteOutcome:
        """Delete ``bucket`` only when it is empty and ours."""
        ...

    def delete_preview(self, bucket: str) -> DeleteOutcome:
        """What :meth:`delete_if_empty` would do now, deleting nothing (the sweep's dry run)."""
        ...

    def tags(self, bucket: str) -> dict[str, str] | None:
        """The bucket's tags (empty when it has none); None when it is gone or its tags may not be read."""
        ...


class EventPublisher(Protocol):
    """Port: publish a domain event (EventBridge in production)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish one event; raise when it was not accepted."""
        ...
