"""Payload events stored in S3 (``payloadS3``), for the hook and ``thermostat hook run``.

The bucket must be allow-listed (``THERMOSTAT_PAYLOAD_BUCKETS``), the object at most Lambda's
synchronous payload limit, and JSON; the runtime module's reference reader does the reading.
"""

from __future__ import annotations

import json
from typing import Any

from domain.errors import DeadlineExceeded, InvalidInput, NotFound, Unavailable


def read_payload_s3(
    uri: str, allowed_buckets: tuple[str, ...], *, sha256: str | None = None, s3_client: Any = None
) -> bytes:
    """Read a ``payloadS3`` event: allow-listed bucket, at most Lambda's synchronous limit, JSON."""
    from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES
    from thermostat_runtime.refs import (
        PayloadRefError,
        PayloadRefNotFound,
        PayloadRefUnavailable,
        read_reference,
    )

    if not allowed_buckets:
        raise InvalidInput(
            f"payload {uri} refused: THERMOSTAT_PAYLOAD_BUCKETS is empty; list the buckets payloads may come from"
        )
    try:
        data = read_reference(
            uri, allowed_buckets=allowed_buckets, max_bytes=SYNC_INVOKE_LIMIT_BYTES, sha256=sha256, s3_client=s3_client
        )
    except PayloadRefUnavailable as exc:  # S3 or the network failed: retrying may help
        raise Unavailable(f"hook payload: {exc}") from exc
    except PayloadRefNotFound as exc:
        raise NotFound(f"hook payload: {exc}") from exc
    except PayloadRefError as exc:  # the reference itself is wrong: the user must fix it
        raise InvalidInput(f"hook payload: {exc}") from exc
    try:
        json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"hook payload {uri} is not JSON: {exc}") from exc
    return data


class S3PayloadReader:
    """:class:`domain.hook.PayloadReader` on S3 (``s3_client=None``: the runtime module's default client)."""

    def __init__(self, s3_client: Any = None) -> None:
        self._s3_client = s3_client

    def read(
        self, uri: str, *, allowed_buckets: tuple[str, ...], sha256: str | None = None, timeout_s: float | None = None
    ) -> bytes:
        """The payload at ``uri``; InvalidInput/NotFound/Unavailable say why not.

        With ``timeout_s`` (and no injected client): one attempt whose timeouts fit in it.
        """
        client = self._s3_client
        if client is None and timeout_s is not None:
            from infra import aws

            client = aws.bounded_client("s3", timeout_s, connect_cap_s=1.0, read_cap_s=10.0)
            if client is None:
                raise DeadlineExceeded(f"hook payload {uri}: only {timeout_s:.2f}s left to read it")
        return read_payload_s3(uri, allowed_buckets, sha256=sha256, s3_client=client)
