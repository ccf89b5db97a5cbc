"""Read thermostat's telemetry (EMF lines) back from CloudWatch Logs, in AWS or in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from domain.errors import Unavailable
from infra import aws

DEFAULT_PREFIX = "/aws/lambda/"


class CloudWatchLogsTelemetry:
    """Yields every JSON log event that carries an ``_aws`` (EMF) block, newest groups first."""

    def __init__(self, client: Any = None, prefix: str = DEFAULT_PREFIX, max_events: int = 200_000) -> None:
        self._client = client
        self.prefix = prefix
        self.max_events = max_events

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("logs")
        return self._client

    def log_groups(self) -> list[str]:
        """The log groups under the prefix."""
        names: list[str] = []
        try:
            paginator = self.client.get_paginator("describe_log_groups")
            for page in paginator.paginate(logGroupNamePrefix=self.prefix):
                names.extend(group["logGroupName"] for group in page.get("logGroups", []))
        except Exception as exc:
            if aws.error_code(exc) is None and exc.__class__.__module__.split(".")[0] != "botocore":
                raise
            raise Unavailable(f"cannot list CloudWatch log groups under {self.prefix!r}: {exc}") from exc
        return names

    def records(self, since_ms: int | None = None) -> Iterator[dict[str, Any]]:
        """Parsed EMF documents from every group under the prefix, since ``since_ms`` (epoch ms)."""
        seen = 0
        for group in self.log_groups():
            arguments: dict[str, Any] = {"logGroupName": group}
            if since_ms is not None:
                arguments["startTime"] = since_ms
            try:
                paginator = self.client.get_paginator("filter_log_events")
                for page in paginator.paginate(**arguments):
                    for event in page.get("events", []):
                        document = parse_emf_line(event.get("message", ""))
                        if document is not None:
                            seen += 1
                            yield document
                            if seen >= self.max_events:
                                return
            except Exception as exc:
                if aws.error_code(exc) is None and exc.__class__.__module__.split(".")[0] != "botocore":
                    raise
                raise Unavailable(f"cannot read log group {group!r}: {exc}") from exc


def parse_emf_line(line: str) -> dict[str, Any] | None:
    """The EMF document in one log line, or None. Tolerates the runtime's tab-separated prefix."""
    text = line.strip()
    if not text.startswith("{"):
        brace = text.find("{")
        if brace < 0:
            return None
        text = text[brace:]
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(document, dict) and isinstance(document.get("_aws"), dict):
        return document
    return None
