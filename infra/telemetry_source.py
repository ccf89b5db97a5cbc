"""Read thermostat's telemetry (EMF lines) back from CloudWatch Logs, in AWS or in moto."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from domain.errors import InvalidInput, Unavailable
from infra import aws

DEFAULT_PREFIX = "/aws/lambda/"
DEFAULT_NAMESPACE = "Thermostat"

#: What CloudWatch accepts in a metric namespace (its PutMetricData documentation): letters, digits,
#: ``. - _ / # :`` and space. None of them needs escaping inside a quoted filter-pattern term.
_NAMESPACE = re.compile(r"[0-9A-Za-z.\-_/#: ]{1,255}")
#: A filter-pattern term that needs no quotes: letters, digits and underscore only.
_BARE_TERM = re.compile(r"[0-9A-Za-z_]+")


def telemetry_filter_pattern(namespace: str = DEFAULT_NAMESPACE) -> str:
    """The CloudWatch Logs filter pattern that selects thermostat's EMF documents on AWS's side.

    Two terms, both required: ``CloudWatchMetrics`` (every EMF document has that key) and the
    namespace (every thermostat document names it: the runtime's per-invocation line, keep-warm's
    per-target metrics, the hook's verdict). Term patterns are case-sensitive substring matches
    (AWS's "Filter pattern syntax": ``ERROR`` matches ``ERRORCODE``), so a term cannot miss a record
    for the way its JSON is spaced; a namespace with characters other than letters, digits and
    ``_`` is quoted, as the syntax requires. JSON patterns (``{ $.x = … }``) would match only lines
    that are JSON from the first byte, and Logs Insights caps a query at 10,000 rows.
    """
    if not _NAMESPACE.fullmatch(namespace):
        raise InvalidInput(
            f"metrics namespace {namespace!r} is not a CloudWatch namespace "
            "(letters, digits, '.', '-', '_', '/', '#', ':' and spaces; 1-255 characters)"
        )
    term = namespace if _BARE_TERM.fullmatch(namespace) else f'"{namespace}"'
    return f"CloudWatchMetrics {term}"


class CloudWatchLogsTelemetry:
    """Yields every JSON log event that carries an ``_aws`` (EMF) block, newest groups first.

    ``filter_pattern`` is sent with every ``FilterLogEvents`` call so that only matching events
    cross the network (default: :func:`telemetry_filter_pattern` of ``Thermostat``); ``None``
    downloads every event of every group, as before.
    """

    def __init__(
        self,
        client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        max_events: int = 200_000,
        filter_pattern: str | None = None,
        *,
        unfiltered: bool = False,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.max_events = max_events
        self.filter_pattern = None if unfiltered else (filter_pattern or telemetry_filter_pattern())

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
            if self.filter_pattern:
                arguments["filterPattern"] = self.filter_pattern
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
