"""EventBridge adapter of the event publisher (``PutEvents`` on ``THERMOSTAT_EVENT_BUS``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from domain.errors import Unavailable
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

#: The source of ``Deployment Bucket Resolved``: the same family as ``Deployment Requested``. The
#: handler's rule also matches the detail-type, and the handler ignores its own answers anyway.
SOURCE = "thermostat.deployments"


class EventBridgePublisher:
    """:class:`domain.buckets.EventPublisher` on an EventBridge bus."""

    def __init__(self, bus: str = "default", source: str = SOURCE, client: EventBridgeClient | None = None) -> None:
        self.bus = bus
        self.source = source
        self._client = aws.LazyClient(client, lambda: aws.client("events"))

    @property
    def client(self) -> EventBridgeClient:
        """The EventBridge client (built at first use)."""
        return self._client.get()

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Put one event; a rejected entry (``FailedEntryCount``) is an error, not a silent loss."""
        entry: Any = {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), sort_keys=True, default=str),
            "EventBusName": self.bus,
        }
        try:
            response = self.client.put_events(Entries=[entry])
        except Exception as exc:
            code = aws.error_code(exc) or type(exc).__name__
            raise Unavailable(f"EventBridge PutEvents to bus {self.bus!r} failed: {code}: {exc}") from exc
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise Unavailable(
                f"EventBridge refused the {detail_type!r} event on bus {self.bus!r}: "
                f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            )


class EventBridgeRuleReader:
    """A rule's schedule and its targets' constant inputs (``DescribeRule`` + ``ListTargetsByRule``)."""

    def __init__(self, client: EventBridgeClient | None = None) -> None:
        self._client = aws.LazyClient(client, lambda: aws.client("events"))

    def rule_inputs(self, rule: str, bus: str = "default") -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The rule (``Name``, ``ScheduleExpression``, ``State``) and every target (``Arn``, ``Input``).

        ``NotFound`` when there is no such rule on the bus; ``Unavailable`` when EventBridge fails.
        """
        from domain.errors import NotFound

        client = self._client.get()
        try:
            described: Any = client.describe_rule(Name=rule, EventBusName=bus)
            targets: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                extra: Any = {"NextToken": token} if token else {}
                page: Any = client.list_targets_by_rule(Rule=rule, EventBusName=bus, **extra)
                targets.extend(page.get("Targets") or [])
                token = page.get("NextToken")
                if not token:
                    break
        except Exception as exc:
            code = aws.error_code(exc) or type(exc).__name__
            if code == "ResourceNotFoundException":
                raise NotFound(f"no EventBridge rule {rule!r} on bus {bus!r}; see `aws events list-rules`") from exc
            raise Unavailable(f"EventBridge could not read rule {rule!r}: {code}: {exc}") from exc
        return dict(described), targets
