"""Write telemetry (EMF documents) to CloudWatch Logs from outside a Lambda: the CLI's rounds.

A scheduled keep-warm round or a hook run prints its EMF documents on stdout and Lambda ships
them to the function's log group. ``thermostat warm`` and ``thermostat hook run`` have no Lambda
to ship them, so they put the same documents into a log group of their own (default
``/thermostat/cli``), where ``thermostat report`` reads them like any other group. CloudWatch
extracts EMF metrics from any log group, so the metrics appear too.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import Unavailable
from infra import aws

#: Where the CLI's own rounds are recorded (under ``/thermostat/``, which the report reads by default).
DEFAULT_GROUP = "/thermostat/cli"


def _timestamp(document: Mapping[str, Any]) -> int:
    meta = document.get("_aws")
    stamp = meta.get("Timestamp") if isinstance(meta, Mapping) else None
    return stamp if isinstance(stamp, int) else int(time.time() * 1000)


class CloudWatchLogsTelemetrySink:
    """Puts EMF documents, one log event each, into ``group`` (created on first use, with a stream per process)."""

    def __init__(self, group: str = DEFAULT_GROUP, client: Any = None, stream: str | None = None) -> None:
        self.group = group
        self._client = client
        self.stream = stream or f"{time.strftime('%Y/%m/%d', time.gmtime())}/{socket.gethostname()}-{os.getpid()}"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("logs")
        return self._client

    def _ensure(self, call: Any, **arguments: Any) -> None:
        try:
            call(**arguments)
        except Exception as exc:
            if aws.error_code(exc) != "ResourceAlreadyExistsException":
                raise

    def write(self, documents: Sequence[Mapping[str, Any]]) -> int:
        """Put ``documents`` (in time order); returns how many. Raises ``Unavailable`` when Logs refuses."""
        if not documents:
            return 0
        stamped = sorted(((_timestamp(doc), doc) for doc in documents), key=lambda pair: pair[0])
        events = [
            {"timestamp": stamp, "message": json.dumps(doc, separators=(",", ":"), default=str)}
            for stamp, doc in stamped
        ]
        try:
            self._ensure(self.client.create_log_group, logGroupName=self.group)
            self._ensure(self.client.create_log_stream, logGroupName=self.group, logStreamName=self.stream)
            self.client.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=events)
        except Exception as exc:
            if aws.error_code(exc) is None and exc.__class__.__module__.split(".")[0] != "botocore":
                raise
            raise Unavailable(f"cannot write telemetry to log group {self.group!r}: {exc}") from exc
        return len(events)
