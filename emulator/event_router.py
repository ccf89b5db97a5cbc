"""A local EventBridge: rules and schedules from the template, delivered to the local Lambda runner.

moto stores rules but never delivers to a Lambda target (``put_events`` to one raises) and never
fires schedules. This router serves ``PutEvents`` itself on 127.0.0.1 (so an unchanged boto3
``events`` client works through ``AWS_ENDPOINT_URL_EVENTS``), matches each entry against the
rules with moto's EventBridge pattern matcher, and delivers matches asynchronously, as
EventBridge does. Every other EventBridge call is forwarded to the moto server unchanged.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from domain.errors import InvalidInput
from domain.schedules import Schedule, parse_schedule
from emulator.http_input import BadRequest, loads, request_length
from emulator.target_input import compile_target_input
from emulator.template import LocalRule
from emulator.threaded_http import QuietHandler

Deliver = Callable[[str, Any], None]  # (target, the JSON value it receives)
#: A synchronous delivery for ``PutEvents`` with ``X-Thermostat-Wait: 1``: returns what the target
#: answered, raises with the target's error.
DeliverAndWait = Callable[[str, Any], Any]
WAIT_HEADER = "X-Thermostat-Wait"
MAX_ENTRIES = 10
MAX_ENTRY_BYTES = 256 * 1024
#: The access key in a SigV4 ``Authorization`` header.
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]{16,128})/")


@dataclass
class RuleDelivery:
    """One event handed to one target, and how it went (``event`` is what the target received)."""

    rule: str
    target: str
    event: Any
    error: str | None = None
    #: The id of the event that matched (None for a schedule), and what the target answered
    #: when the delivery was waited for.
    event_id: str | None = None
    result: Any = None
    done: bool = False

    def summary(self) -> dict[str, Any]:
        """The delivery as ``put-event --wait`` shows it."""
        return {
            "rule": self.rule,
            "target": self.target,
            "ok": self.error is None,
            "result": self.result,
            "error": self.error,
        }


@dataclass
class _ScheduledRule:
    rule: LocalRule
    schedule: Schedule
    anchor: datetime
    next_at: datetime


@dataclass
class RouterState:
    """What the router has seen and done (for the status view and tests)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[RuleDelivery] = field(default_factory=list)


class EventRouter:
    """Matches events to rules and delivers them; fires schedules when due."""

    def __init__(
        self,
        rules: list[LocalRule],
        deliver: Deliver,
        *,
        upstream_url: str | None = None,
        account: str = "123456789012",
        region: str = "us-east-1",
        now: Callable[[], datetime] | None = None,
        max_workers: int = 8,
        deliver_and_wait: DeliverAndWait | None = None,
        account_of: Callable[[str], str | None] | None = None,
    ) -> None:
        from moto.events.models import EventPattern

        self._now = now or (lambda: datetime.now(UTC))
        self.rules = [rule for rule in rules if rule.enabled]
        self._patterns = [(rule, EventPattern.load(json.dumps(rule.pattern))) for rule in self.rules if rule.pattern]
        # Checked at load: a bad Input/InputPath/InputTransformer stops the stack, it never drops an event later.
        self._inputs = {
            rule.name: compile_target_input(
                f"rule {rule.name}",
                input_text=rule.input,
                input_path=rule.input_path,
                input_transformer=rule.input_transformer,
            )
            for rule in self.rules
        }
        start = self._now()
        self._scheduled = []
        for rule in self.rules:
            if rule.schedule:
                schedule = parse_schedule(rule.schedule)
                self._scheduled.append(_ScheduledRule(rule, schedule, start, schedule.next_after(start, start)))
        self.deliver = deliver
        self.deliver_and_wait = deliver_and_wait
        self.upstream_url = upstream_url
        self.account = account
        #: The account of a caller's access key (moto's, for keys of assumed roles): EventBridge
        #: stamps ``account`` with the sender's account, so another account's events say so.
        self.account_of = account_of
        self.region = region
        self.state = RouterState()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="event-router")
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # --- events -------------------------------------------------------------------------

    def envelope(self, entry: dict[str, Any], account: str | None = None) -> dict[str, Any]:
        """Turn a PutEvents entry into the event a target receives (sent by ``account``, default: the stack's)."""
        for required in ("Source", "DetailType", "Detail"):
            if not entry.get(required):
                raise InvalidInput(f"PutEvents entry is missing {required}")
        try:
            detail = loads(entry["Detail"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"PutEvents entry Detail is not a JSON object: {exc}") from exc
        if not isinstance(detail, dict):
            raise InvalidInput("PutEvents entry Detail must be a JSON object")
        when = self._event_time(entry.get("Time"))
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": account or self.account,
            "time": when,
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }

    def _event_time(self, raw: object) -> str:
        """PutEvents' ``Time`` as EventBridge delivers it: ISO-8601 UTC, whole seconds, ``Z``.

        On the wire boto3 sends a timestamp as epoch seconds (a number); other clients send ISO-8601 text.
        """
        if raw is None or raw == "":
            moment = self._now()
        elif isinstance(raw, datetime):
            moment = raw
        elif isinstance(raw, bool):
            raise InvalidInput(f"PutEvents entry Time {raw!r} is not a timestamp")
        elif isinstance(raw, int | float):
            moment = datetime.fromtimestamp(raw, UTC)
        elif isinstance(raw, str):
            try:
                moment = (
                    datetime.fromtimestamp(float(raw), UTC)
                    if raw.replace(".", "", 1).isdigit()
                    else datetime.fromisoformat(raw.replace("Z", "+00:00"))
                )
            except ValueError as exc:
                raise InvalidInput(f"PutEvents entry Time {raw!r} is not a timestamp: {exc}") from exc
        else:
            raise InvalidInput(f"PutEvents entry Time {raw!r} is not a timestamp")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def matching_rules(self, event: dict[str, Any]) -> list[LocalRule]:
        """Rules whose pattern matches ``event`` (the real EventBridge matcher, from moto)."""
        return [rule for rule, pattern in self._patterns if pattern.matches_event(event)]  # type: ignore[arg-type]

    def publish(self, event: dict[str, Any], wait: bool = False, answers: bool = False) -> list[RuleDelivery]:
        """Route one enveloped event; returns the deliveries started (``wait`` blocks until done).

        ``answers``: deliver synchronously (``deliver_and_wait``), so that each delivery records
        what its target answered or its error; implies ``wait``.
        """
        with self._lock:
            self.state.received.append(event)
        received = self._now()
        deliveries = [self._delivery(rule, event, received) for rule in self.matching_rules(event)]
        unrenderable = [delivery for delivery in deliveries if delivery.error is not None]
        for delivery in unrenderable:
            delivery.done = True
        with self._lock:
            self.state.deliveries.extend(unrenderable)
        synchronous = answers and self.deliver_and_wait is not None
        work = self._deliver_and_wait if synchronous else self._deliver
        futures = [self._pool.submit(work, delivery) for delivery in deliveries if delivery.error is None]
        if wait or answers:
            for future in futures:
                future.result()
        return deliveries

    def caller_account(self, authorization: str | None) -> str:
        """The account of the access key that signed a request (SigV4 ``Credential=KEY/...``), else the stack's."""
        match = _CREDENTIAL.search(authorization or "")
        if match is None or self.account_of is None:
            return self.account
        return self.account_of(match.group(1)) or self.account

    def put_entries(
        self, entries: list[dict[str, Any]], wait: bool = False, account: str | None = None
    ) -> dict[str, Any]:
        """The PutEvents API: per-entry results, failures reported per entry as AWS does."""
        if not entries or len(entries) > MAX_ENTRIES:
            raise InvalidInput(f"PutEvents takes 1 to {MAX_ENTRIES} entries, got {len(entries)}")
        results: list[dict[str, Any]] = []
        waited: list[dict[str, Any]] = []
        failed = 0
        for entry in entries:
            try:
                if len(json.dumps(entry)) > MAX_ENTRY_BYTES:
                    raise InvalidInput("entry is larger than 256 KB")
                event = self.envelope(entry, account)
            except InvalidInput as exc:
                failed += 1
                results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": str(exc)})
                continue
            deliveries = self.publish(event, answers=wait)
            results.append({"EventId": event["id"]})
            if wait:
                waited.append({"EventId": event["id"], "Deliveries": [d.summary() for d in deliveries]})
        answer: dict[str, Any] = {"FailedEntryCount": failed, "Entries": results}
        if wait:
            # Not EventBridge's: thermostat's extension for `thermostat local put-event --wait`.
            answer["ThermostatDeliveries"] = waited
        return answer

    def rule_arn(self, rule: LocalRule) -> str:
        """The rule's ARN, as ``<aws.events.rule-arn>`` and a scheduled event's resources name it."""
        return f"arn:aws:events:{self.region}:{self.account}:rule/{rule.name}"

    def _delivery(self, rule: LocalRule, event: dict[str, Any], received: datetime) -> RuleDelivery:
        """What ``rule``'s target receives for ``event``: the event, or its Input/InputPath/InputTransformer."""
        text = self._inputs[rule.name].render(
            event,
            rule_name=rule.name,
            rule_arn=self.rule_arn(rule),
            ingestion_time=received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            # A Lambda target takes JSON only; the text is kept in the record, not dropped.
            return RuleDelivery(rule.name, rule.target, text, error=f"the target input is not JSON: {text[:200]!r}")
        return RuleDelivery(rule.name, rule.target, payload, event_id=event.get("id"))

    def _deliver(self, delivery: RuleDelivery) -> None:
        try:
            self.deliver(delivery.target, delivery.event)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is recorded, as EventBridge would
            delivery.error = f"{type(exc).__name__}: {exc}"
        delivery.done = True
        with self._lock:
            self.state.deliveries.append(delivery)

    def _deliver_and_wait(self, delivery: RuleDelivery) -> None:
        assert self.deliver_and_wait is not None
        try:
            delivery.result = self.deliver_and_wait(delivery.target, delivery.event)
        except Exception as exc:  # noqa: BLE001 - the target's error is the answer, recorded
            delivery.error = str(exc) or type(exc).__name__
        delivery.done = True
        with self._lock:
            self.state.deliveries.append(delivery)

    # --- schedules ----------------------------------------------------------------------

    def schedule_event(self, rule: LocalRule) -> dict[str, Any]:
        """The Scheduled Event a scheduled rule's target input is made from."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [self.rule_arn(rule)],
            "detail": {},
        }

    def fire(self, rule_name: str, wait: bool = True) -> RuleDelivery:
        """Fire one scheduled rule now (``thermostat local`` and the demo use this)."""
        for scheduled in self._scheduled:
            if scheduled.rule.name == rule_name:
                delivery = self._delivery(scheduled.rule, self.schedule_event(scheduled.rule), self._now())
                if delivery.error is not None:
                    with self._lock:
                        self.state.deliveries.append(delivery)
                    return delivery
                future = self._pool.submit(self._deliver, delivery)
                if wait:
                    future.result()
                return delivery
        raise InvalidInput(f"no scheduled rule named {rule_name!r}; known: {[s.rule.name for s in self._scheduled]}")

    def due(self, moment: datetime | None = None) -> list[RuleDelivery]:
        """Fire every schedule due at ``moment`` (once each, however late), and re-arm it."""
        now = moment or self._now()
        fired = []
        for scheduled in self._scheduled:
            if scheduled.next_at <= now:
                fired.append(self.fire(scheduled.rule.name, wait=False))
                scheduled.next_at = scheduled.schedule.next_after(now, scheduled.anchor)
        return fired

    @property
    def schedules(self) -> list[tuple[str, str, datetime]]:
        """(rule, expression, next firing) for every enabled schedule."""
        return [(s.rule.name, s.rule.schedule or "", s.next_at) for s in self._scheduled]

    # --- HTTP ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, run_schedules: bool = True) -> str:
        """Serve the EventBridge API; returns its URL. Schedules tick every second when asked."""
        router = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler looks up
                try:
                    length = request_length(self.headers.get("Content-Length"))
                except BadRequest as exc:
                    # The body's end is unknown: answer, then close, rather than read the rest as a request.
                    self.close_connection = True
                    self._error(400, "SerializationException", str(exc), {"Connection": "close"})
                    return
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                if target == "AWSEvents.PutEvents":
                    self._put_events(body)
                else:
                    self._forward(body)

            def _put_events(self, body: bytes) -> None:
                try:
                    request = loads(body or b"{}")
                except ValueError as exc:  # not JSON, or nested too deeply
                    self._error(400, "SerializationException", f"the request body is not JSON: {exc}")
                    return
                try:
                    if not isinstance(request, dict):
                        raise InvalidInput("the request body must be a JSON object")
                    wait = self.headers.get(WAIT_HEADER, "") == "1"
                    sender = router.caller_account(self.headers.get("Authorization"))
                    answer = router.put_entries(list(request.get("Entries") or []), wait=wait, account=sender)
                except (InvalidInput, AttributeError, TypeError) as exc:
                    self._error(400, "ValidationException", str(exc))
                    return
                self.reply(200, json.dumps(answer).encode(), {"Content-Type": "application/x-amz-json-1.1"})

            def _error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
                """EventBridge's JSON 1.1 error shape: ``__type`` and ``message``, the code in the header too."""
                self.reply(
                    status,
                    json.dumps({"__type": code, "message": message}).encode(),
                    {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code, **(extra or {})},
                )

            def _forward(self, body: bytes) -> None:
                if router.upstream_url is None:
                    error = {"__type": "UnknownOperationException", "message": "only PutEvents is served locally"}
                    self.reply(400, json.dumps(error).encode(), {"Content-Type": "application/x-amz-json-1.1"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
                request = urllib.request.Request(  # noqa: S310 - the upstream is the local moto server
                    router.upstream_url + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                        self.reply(response.status, response.read(), dict(response.headers.items()))
                except urllib.error.HTTPError as exc:
                    self.reply(exc.code, exc.read(), dict(exc.headers.items()))

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        serve = threading.Thread(target=self._server.serve_forever, name="event-router-http", daemon=True)
        serve.start()
        self._threads.append(serve)
        if run_schedules and self._scheduled:
            ticker = threading.Thread(target=self._tick_forever, name="event-router-schedules", daemon=True)
            ticker.start()
            self._threads.append(ticker)
        return self.url

    def _tick_forever(self) -> None:
        while not self._stop.wait(1.0):
            self.due()

    @property
    def url(self) -> str:
        """The router's endpoint (after ``start``)."""
        if self._server is None:
            raise RuntimeError("the event router is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving and ticking; wait for deliveries in flight."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._pool.shutdown(wait=True, cancel_futures=False)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
