"""EventBridge adapter of the event publisher (``PutEvents`` on ``THERMOSTAT_EVENT_BUS``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from domain.errors import Unavailable
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

#: The source of ``Deployment Bucket Resolved``: the same family as ``Deployment Requested``. The
#: handler's rule also matches the detail-type, and the handler ignores its own answers anyway.
SOURCE = "thermostat.deployments"
#: Attempts of one bounded publication (each one's connect + read fits the time left).
BOUNDED_ATTEMPTS = 3
#: botocore's names for a request that got no answer: worth another attempt while time is left.
_NO_ANSWER = ("EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError")


class EventBridgePublisher:
    """:class:`domain.buckets.EventPublisher` on an EventBridge bus."""

    def __init__(self, bus: str = "default", source: str = SOURCE, client: EventBridgeClient | None = None) -> None:
        self.bus = bus
        self.source = source
        self._given = client
        self._client = aws.LazyClient(client, lambda: aws.client("events"))

    @property
    def client(self) -> EventBridgeClient:
        """The EventBridge client (built at first use)."""
        return self._client.get()

    def within(self, time_left: Callable[[], float | None]) -> BoundedPublisher:
        """This publisher, each publication bounded by ``time_left()`` seconds (None: unbounded)."""
        return BoundedPublisher(self, time_left)

    def publish(self, detail_type: str, detail: Mapping[str, Any], *, within_s: float | None = None) -> None:
        """Put one event; a rejected entry (``FailedEntryCount``) is an error, not a silent loss.

        ``within_s``: the publication ends (accepted, or ``Unavailable``) within that many seconds.
        Each attempt then uses a client whose connect and read timeouts fit the time left
        (:func:`infra.aws.bounded_client`: one attempt each, at most ``BOUNDED_ATTEMPTS``, a
        throttle, a 5xx or an unanswered request retried after a short pause while time is left); an
        injected client keeps its own timeouts. None: the default client and its own retries.
        """
        entry: Any = {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), sort_keys=True, default=str),
            "EventBusName": self.bus,
        }
        if within_s is None:
            response = self._put(self.client, entry)
        else:
            response = self._put_within(entry, within_s)
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise Unavailable(
                f"EventBridge refused the {detail_type!r} event on bus {self.bus!r}: "
                f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            )

    def _put(self, client: Any, entry: Any) -> Any:
        try:
            return client.put_events(Entries=[entry])
        except Exception as exc:
            code = aws.error_code(exc) or type(exc).__name__
            raise Unavailable(f"EventBridge PutEvents to bus {self.bus!r} failed: {code}: {exc}") from exc

    def _put_within(self, entry: Any, within_s: float) -> Any:
        give_up = time.monotonic() + within_s
        for attempt in range(1, BOUNDED_ATTEMPTS + 1):
            left = give_up - time.monotonic()
            client = self._given or aws.bounded_client("events", left, connect_cap_s=1.0, read_cap_s=3.0)
            if client is None:
                raise Unavailable(
                    f"EventBridge PutEvents to bus {self.bus!r} not attempted: {max(0.0, left):.2f} s left "
                    "before the invocation's deadline"
                )
            try:
                return self._put(client, entry)
            except Unavailable as failed:
                cause = failed.__cause__
                again = cause is not None and _transient(cause)
                pause = min(0.1 * 2**attempt, 1.0)
                if not again or attempt == BOUNDED_ATTEMPTS or give_up - time.monotonic() - pause < 0.5:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _transient(exc: BaseException) -> bool:
    """A throttle, a 5xx or no answer at all: what botocore's standard mode retries."""
    if aws.is_throttling(exc) or type(exc).__name__ in _NO_ANSWER:
        return True
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(response, dict) else None
    return isinstance(status, int) and status >= 500


class BoundedPublisher:
    """:class:`domain.buckets.EventPublisher` whose every publication ends within ``time_left()`` seconds."""

    def __init__(self, publisher: EventBridgePublisher, time_left: Callable[[], float | None]) -> None:
        self._publisher = publisher
        self._time_left = time_left

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish, bounded by the time left now (see :meth:`EventBridgePublisher.publish`)."""
        self._publisher.publish(detail_type, detail, within_s=self._time_left())


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
