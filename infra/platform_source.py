"""Read Lambda's platform records (text ``REPORT`` lines, JSON ``platform.*`` records) from CloudWatch Logs.

Filtering happens on AWS's side: each log group is read with two ``FilterLogEvents`` patterns, one
per log format, so that only platform records (and the rare application line that happens to
contain the same term) cross the network:

- ``REPORT``: the text format's ``REPORT``, ``INIT_REPORT`` and ``RESTORE_REPORT`` lines (a bare
  term is a case-sensitive substring match, so one term selects all three);
- ``"platform."``: the JSON format's ``{"time": …, "type": "platform.report", …}`` records.

One OR pattern (``?REPORT ?"platform."``) would be one scan instead of two, but moto (the project's
local stack and test oracle) treats any pattern that does not start with a letter or a quote as
"match everything", so the report would read whole groups locally and the bytes it states would be
wrong. Logs Insights was not chosen: a query returns at most 10,000 rows and moto's StartQuery
evaluates only ``fields``/``sort``/``limit`` (no ``filter``, ``parse`` or ``stats``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInput, Unavailable
from domain.platform_report import PlatformRecord, parse_platform_message
from infra import aws
from thermostat_runtime import names

DEFAULT_PREFIX = "/aws/lambda/"
#: One pattern per log format (see the module docstring).
PATTERNS = ("REPORT", '"platform."')


@dataclass
class PlatformRead:
    """What one read returned, and what it cost."""

    records: list[PlatformRecord] = field(default_factory=list)
    log_groups: int = 0
    events: int = 0
    bytes: int = 0


def check_function_names(functions: Iterable[str]) -> list[str]:
    """``--function`` values, checked: Lambda function names (``InvalidInput`` says which is not)."""
    checked = []
    for function in functions:
        if not names.is_function_name(function):
            raise InvalidInput(
                f"--function {function!r} is not a Lambda function name (1-64 letters, digits, '-' or '_')"
            )
        checked.append(function)
    return checked


class CloudWatchLogsPlatform:
    """Platform records of every function whose log group is under ``prefix`` (or of ``functions`` only).

    The function of a group is the group's name after the prefix (``/aws/lambda/orders`` → ``orders``);
    its version comes from each event's log stream name. ``max_events`` bounds one read.
    """

    def __init__(
        self,
        client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        functions: Iterable[str] = (),
        max_events: int = 1_000_000,
        patterns: Iterable[str] = PATTERNS,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.functions = check_function_names(functions)
        self.max_events = max_events
        self.patterns = tuple(patterns)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("logs")
        return self._client

    def _groups(self) -> list[str]:
        names_found: list[str] = []
        try:
            paginator = self.client.get_paginator("describe_log_groups")
            prefixes = [self.prefix + function for function in self.functions] or [self.prefix]
            for prefix in prefixes:
                for page in paginator.paginate(logGroupNamePrefix=prefix):
                    for group in page.get("logGroups", []):
                        name = group["logGroupName"]
                        if not self.functions or name[len(self.prefix) :] in self.functions:
                            names_found.append(name)
        except Exception as exc:
            if not _is_aws_error(exc):
                raise
            raise Unavailable(f"cannot list CloudWatch log groups under {self.prefix!r}: {exc}") from exc
        return names_found

    def read(self, since_ms: int | None = None, until_ms: int | None = None) -> PlatformRead:
        """Every platform record under the prefix in ``[since_ms, until_ms]`` (epoch ms), with counts."""
        result = PlatformRead()
        groups = self._groups()
        result.log_groups = len(groups)
        for group in groups:
            function = group[len(self.prefix) :] if group.startswith(self.prefix) else group.rsplit("/", 1)[-1]
            seen: set[str] = set()  # an event both patterns match is read twice but counted once
            for pattern in self.patterns:
                arguments: dict[str, Any] = {"logGroupName": group, "filterPattern": pattern}
                if since_ms is not None:
                    arguments["startTime"] = since_ms
                if until_ms is not None:
                    arguments["endTime"] = until_ms
                try:
                    for page in self.client.get_paginator("filter_log_events").paginate(**arguments):
                        for event in page.get("events", []):
                            event_id = event.get("eventId")
                            message = event.get("message", "")
                            result.bytes += len(message.encode("utf-8"))
                            if event_id is not None and event_id in seen:
                                continue
                            if event_id is not None:
                                seen.add(event_id)
                            result.events += 1
                            record = parse_platform_message(
                                message,
                                function,
                                stream=event.get("logStreamName"),
                                timestamp_ms=int(event.get("timestamp") or 0),
                            )
                            if record is not None:
                                result.records.append(record)
                            if result.events >= self.max_events:
                                return result
                except Exception as exc:
                    if not _is_aws_error(exc):
                        raise
                    raise Unavailable(f"cannot read log group {group!r}: {exc}") from exc
        return result


def _is_aws_error(exc: Exception) -> bool:
    return aws.error_code(exc) is not None or exc.__class__.__module__.split(".")[0] == "botocore"
