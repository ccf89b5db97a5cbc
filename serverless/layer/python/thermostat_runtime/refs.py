"""Payload references (``fileRef`` / ``payloadS3``) — interface fixed, implementation pending.

The payload-reference issue implements these; keep-warm and the hook call ``read_reference``
and ``parse_s3_uri`` to load ``payloadS3`` targets, so the signatures here are the contract.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

#: Lambda's synchronous invocation payload limit.
SYNC_INVOKE_LIMIT_BYTES = 6 * 1024 * 1024


class PayloadRefError(ValueError):
    """A reference that cannot be honoured; the message names the reference and the reason."""


def allowed_buckets_from_env() -> frozenset[str]:
    """The buckets in ``THERMOSTAT_PAYLOAD_BUCKETS`` (comma-separated)."""
    raise NotImplementedError


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); PayloadRefError when malformed."""
    raise NotImplementedError


def read_reference(
    uri: str,
    *,
    allowed_buckets: Collection[str] | None = None,
    max_bytes: int | None = None,
    sha256: str | None = None,
    s3_client: Any = None,
) -> bytes:
    """Read the object behind ``uri`` (allow-listed bucket, size-capped, checksum-verified)."""
    raise NotImplementedError


def resolve_refs(event: Any, *, allowed_buckets: Collection[str] | None = None, s3_client: Any = None) -> Any:
    """Replace ``fileRef`` objects (and a top-level ``payloadS3``) in ``event`` with their content."""
    raise NotImplementedError


def offload(result: Any, *, bucket: str, threshold_bytes: int = 200_000, s3_client: Any = None) -> Any:
    """Return ``result`` unchanged when small, else store it in S3 and return a ``fileRef``."""
    raise NotImplementedError
