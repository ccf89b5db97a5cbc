"""The warm-ping protocol (v1) and the peers' pings we also answer.

Request, the whole event and nothing else at top level::

    {"thermostat": {"v": 1, "action": "warm", "correlation_id": "…", "index": 2, "of": 5, "hold_ms": 75}}

``action`` is ``warm`` (no business code) or ``probe`` (run the registered probe). Reply::

    {"thermostat": {"v": 1, "warm": true, "environment_id": "…", "start_kind": "cold", …}}

An event whose only key is ``thermostat`` with an object value is a protocol message: if it is
malformed, the reply says why (``"warm": false, "error": …``) and no business code runs. Anything
else, including near-misses (extra keys, wrong types), is an ordinary event.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final, Literal

    PeerName = Literal["thermostat", "serverless-plugin-warmup", "lambda-warmer", "zappa", "opennext"]
    Action = Literal["warm", "probe"]

PROTOCOL_VERSION: Final = 1
KEY: Final = "thermostat"
ACTIONS: Final = ("warm", "probe")
#: Default ceiling on ``hold_ms``; a larger request is capped (and the reply says so).
DEFAULT_HOLD_MS_MAX: Final = 1_000

_WARMER_KEYS: Final = frozenset(
    {
        "warmer",
        "concurrency",
        "target",
        "test",
        "__WARMER_INVOCATION__",
        "__WARMER_CONCURRENCY__",
        "__WARMER_CORRELATION_ID__",
        "__WARMER_CORRELATIONID__",
    }
)
_WARMER_INT_KEYS: Final = ("concurrency", "__WARMER_INVOCATION__", "__WARMER_CONCURRENCY__")
#: lambda-warmer's (and lambda-warmer-py's) default ``delay``: how long an invocation of its fan-out
#: (``__WARMER_INVOCATION__`` above 1) stays busy before it answers, "to attempt sub 100ms invocation
#: times" while the other invocations land on other environments. A receiver-side setting in both
#: libraries, never in the event, so a migrated function holds the default.
LAMBDA_WARMER_DELAY_MS: Final = 75
_OPENNEXT_KEYS: Final = frozenset({"type", "warmerId", "index", "concurrency", "delay"})
_REQUEST_KEYS: Final = frozenset({"v", "action", "correlation_id", "index", "of", "hold_ms"})
_PLUGIN_SOURCE: Final = "serverless-plugin-warmup"


class ProtocolError(ValueError):
    """A protocol message that cannot be honoured; its text goes into the error reply."""


class Ping:
    """A recognised warm ping: whose it is, what it asks, and (for ours) its parameters.

    A plain slotted class rather than a dataclass: ``dataclasses`` costs ~5 ms to import.
    """

    __slots__ = ("action", "correlation_id", "error", "hold_ms", "index", "of", "peer", "peer_reply", "reply_fields")

    def __init__(
        self,
        peer: PeerName,
        action: Action = "warm",
        correlation_id: str | None = None,
        index: int | None = None,
        of: int | None = None,
        hold_ms: int = 0,
        error: str | None = None,
        peer_reply: tuple[tuple[str, Any], ...] = (),
        reply_fields: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.peer = peer
        self.action = action
        self.correlation_id = correlation_id
        self.index = index
        self.of = of
        self.hold_ms = hold_ms
        self.error = error
        #: Fields the peer expects back (OpenNext counts ``serverId``s).
        self.peer_reply = peer_reply
        #: Fields added to the ``thermostat`` body of the reply (what a peer asked that we did not do).
        self.reply_fields = reply_fields

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Ping({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ping):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_request(body: dict[str, Any]) -> Ping:
    # A warm ping is the hot path of every keep-warm round: no set is built unless a key is wrong,
    # and a field of the exact expected type is checked inline; anything else takes the full check
    # (which also writes the error).
    if not _REQUEST_KEYS.issuperset(body):
        extra = set(body) - _REQUEST_KEYS
        raise ProtocolError(f"unknown field(s) {sorted(extra)}; v1 accepts {sorted(_REQUEST_KEYS)}")
    get = body.get
    version = get("v")
    if version != PROTOCOL_VERSION or (type(version) is not int and not _is_int(version)):
        raise ProtocolError(f"unsupported protocol version {version!r}; this runtime speaks v{PROTOCOL_VERSION}")
    action = get("action", "warm")
    if action != "warm" and action not in ACTIONS:
        raise ProtocolError(f"unknown action {action!r}; expected one of {list(ACTIONS)}")
    correlation_id = get("correlation_id")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise ProtocolError("correlation_id must be a string")
    index = get("index")
    if index is not None and (type(index) is not int or index < 0):
        index = _non_negative(body, "index")
    of = get("of")
    if of is not None and (type(of) is not int or of < 0):
        of = _non_negative(body, "of")
    hold_ms = get("hold_ms")
    if hold_ms is not None and (type(hold_ms) is not int or hold_ms < 0):
        hold_ms = _non_negative(body, "hold_ms")
    return Ping("thermostat", action, correlation_id, index, of, hold_ms or 0)


def _non_negative(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if (type(value) is not int and not _is_int(value)) or value < 0:
        raise ProtocolError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _is_self(target: str, context: object) -> bool:
    """lambda-warmer's own test of whether ``target`` names the function that received the ping.

    ``name:version``, ``name:alias`` (the alias is the last part of the invoked ARN), or the bare
    name when the version is ``$LATEST``; anything else (another function, an ARN) is a different target.
    """
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    arn = getattr(context, "invoked_function_arn", None)
    alias = arn.rsplit(":", 1)[-1] if isinstance(arn, str) and arn else version
    return target in (f"{name}:{version}", f"{name}:{alias}") or (target == name and version == "$LATEST")


def _lambda_warmer(event: dict[str, Any], context: object = None) -> Ping | None:
    """lambda-warmer's event (README "Warming your Lambda functions", "Configuration Options").

    ``target`` names the function to warm (default: this one) and ``test: true`` flags a warming
    invocation as a test, which lambda-warmer answers without fanning out. thermostat never fans
    out from inside a function: a ping that would have made lambda-warmer invoke ``concurrency``
    copies (of this function or of ``target``) is answered here, and the reply's ``unsent_fan_out``
    says what was not sent, so that keep-warm targets can take it over. An invocation of
    lambda-warmer's fan-out (``__WARMER_INVOCATION__`` above 1) holds its environment for
    lambda-warmer's ``delay``, as lambda-warmer itself does, so the fan-out keeps landing on distinct
    environments.
    """
    if event.get("warmer") is not True or not set(event) <= _WARMER_KEYS:
        return None
    for name in _WARMER_INT_KEYS:
        if name in event and not _is_int(event[name]):
            return None
    correlation = event.get("__WARMER_CORRELATION_ID__", event.get("__WARMER_CORRELATIONID__"))
    if correlation is not None and not isinstance(correlation, str):
        return None
    target = event.get("target")
    if target is not None and (not isinstance(target, str) or not target):
        return None
    test = event.get("test", False)
    if not isinstance(test, bool):
        return None
    concurrency = event.get("concurrency")
    wanted = concurrency if concurrency is not None and concurrency > 1 else 1
    other = target is not None and not _is_self(target, context)
    invocation = event.get("__WARMER_INVOCATION__")
    fields: list[tuple[str, Any]] = []
    hold_ms = 0
    if (wanted > 1 or other) and not test:
        if target is None:  # lambda-warmer's default target: this function, as ``name:version``
            name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
            target = f"{name}:{os.environ.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}"
        fields.append(("unsent_fan_out", {"target": target, "concurrency": wanted}))
    elif invocation is not None and invocation > 1:
        hold_ms = LAMBDA_WARMER_DELAY_MS
    if test:
        fields.append(("test", True))
    return Ping(
        peer="lambda-warmer",
        correlation_id=correlation,
        index=invocation,
        of=event.get("__WARMER_CONCURRENCY__", concurrency),
        hold_ms=hold_ms,
        reply_fields=tuple(fields),
    )


def _lambda_warmer_batch(events: list[Any], context: object) -> Ping | None:
    """lambda-warmer's array of events ("Setting multiple targets"): a ping when every element is one."""
    pings = [_lambda_warmer(item, context) if type(item) is dict else None for item in events]
    if not pings or any(ping is None for ping in pings):
        return None
    found = [ping for ping in pings if ping is not None]
    unsent = [value for ping in found for key, value in ping.reply_fields if key == "unsent_fan_out"]
    fields: list[tuple[str, Any]] = [("unsent_fan_out", unsent)] if unsent else []
    if all(("test", True) in ping.reply_fields for ping in found):
        fields.append(("test", True))
    return Ping(
        peer="lambda-warmer",
        correlation_id=next((ping.correlation_id for ping in found if ping.correlation_id), None),
        hold_ms=max(ping.hold_ms for ping in found),
        reply_fields=tuple(fields),
    )


def _opennext(event: dict[str, Any]) -> Ping | None:
    if event.get("type") != "warmer" or not set(event) <= _OPENNEXT_KEYS:
        return None
    warmer_id = event.get("warmerId")
    if warmer_id is not None and not isinstance(warmer_id, str):
        return None
    for name in ("index", "concurrency", "delay"):
        if name in event and not _is_int(event[name]):
            return None
    # OpenNext's server answers a warmer event after ``setTimeout(…, event.delay)`` (75 ms from its
    # warmer function): the hold that makes its concurrent invocations land on distinct servers.
    return Ping(
        peer="opennext",
        correlation_id=warmer_id,
        index=event.get("index"),
        of=event.get("concurrency"),
        hold_ms=max(0, event.get("delay") or 0),
        peer_reply=(("type", "warmer"),),
    )


def _zappa(event: dict[str, Any]) -> Ping | None:
    if event.get("detail-type") != "Scheduled Event" or event.get("source") != "aws.events":
        return None
    resources = event.get("resources")
    if not isinstance(resources, list):
        return None
    if any(isinstance(arn, str) and arn.endswith("keep_warm_callback") for arn in resources):
        return Ping(peer="zappa")
    return None


def _client_context_source(context: object) -> object:
    client_context = getattr(context, "client_context", None)
    custom = getattr(client_context, "custom", None) if client_context is not None else None
    if isinstance(custom, dict):
        return custom.get("source")
    return None


def detect_ping(event: object, context: object = None) -> Ping | None:
    """Return the ping this event is, or None for an ordinary event.

    Cheap on the ordinary path: a few dict look-ups, no allocation for a non-ping.
    """
    if type(event) is not dict:
        if type(event) is list and event and type(event[0]) is dict and "warmer" in event[0]:
            return _lambda_warmer_batch(event, context)
        return None
    size = len(event)
    if size == 1:
        body = event.get(KEY)
        if body is not None:
            if type(body) is not dict:
                return None  # {"thermostat": "warm"} is a near-miss, not a message
            try:
                return _parse_request(body)
            except ProtocolError as exc:
                return Ping(peer="thermostat", error=str(exc))
        if event.get("source") == _PLUGIN_SOURCE:
            return Ping(peer="serverless-plugin-warmup")
    if "warmer" in event:
        return _lambda_warmer(event, context)
    if event.get("type") == "warmer":
        return _opennext(event)
    if "detail-type" in event:
        return _zappa(event)
    # Lambda's context has no client context unless the caller sent one: one look-up, no call.
    if getattr(context, "client_context", None) is not None and _client_context_source(context) == _PLUGIN_SOURCE:
        return Ping(peer="serverless-plugin-warmup")
    return None


def build_request(
    action: Action = "warm",
    *,
    correlation_id: str | None = None,
    index: int | None = None,
    of: int | None = None,
    hold_ms: int | None = None,
) -> dict[str, Any]:
    """Build a v1 request event (used by keep-warm, the hook and other-language tests)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "action": action}
    if correlation_id is not None:
        body["correlation_id"] = correlation_id
    if index is not None:
        body["index"] = index
    if of is not None:
        body["of"] = of
    if hold_ms is not None:
        body["hold_ms"] = hold_ms
    return {KEY: body}


class Reply:
    """A parsed reply. ``speaks_protocol`` is False when the target answered something else."""

    __slots__ = ("environment_id", "error", "init_ms", "init_type", "probe", "speaks_protocol", "start_kind", "warm")

    def __init__(
        self,
        speaks_protocol: bool,
        warm: bool = False,
        environment_id: str | None = None,
        start_kind: str | None = None,
        init_type: str | None = None,
        init_ms: float | None = None,
        probe: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.speaks_protocol = speaks_protocol
        self.warm = warm
        self.environment_id = environment_id
        self.start_kind = start_kind
        self.init_type = init_type
        self.init_ms = init_ms
        self.probe = probe
        self.error = error

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Reply({fields})"


def parse_reply(payload: object) -> Reply:
    """Read a target's answer to a ping; anything that is not a v1 reply is ``speaks_protocol=False``."""
    if not isinstance(payload, dict):
        return Reply(speaks_protocol=False)
    body = payload.get(KEY)
    if not isinstance(body, dict) or body.get("v") != PROTOCOL_VERSION:
        return Reply(speaks_protocol=False)
    env = body.get("environment_id")
    kind = body.get("start_kind")
    init_type = body.get("init_type")
    init_ms = body.get("init_ms")
    probe = body.get("probe")
    error = body.get("error")
    return Reply(
        speaks_protocol=True,
        warm=body.get("warm") is True,
        environment_id=env if isinstance(env, str) else None,
        start_kind=kind if isinstance(kind, str) else None,
        init_type=init_type if isinstance(init_type, str) else None,
        init_ms=float(init_ms) if isinstance(init_ms, int | float) and not isinstance(init_ms, bool) else None,
        probe=probe if isinstance(probe, dict) else None,
        error=error if isinstance(error, str) else None,
    )
