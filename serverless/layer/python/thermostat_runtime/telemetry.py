"""One structured line per invocation, which is also a CloudWatch EMF document.

CloudWatch Logs extracts the metrics (``ColdStart``, ``WarmPing``) from the ``_aws`` block and
keeps every other field searchable, so one write per invocation serves both purposes.
``ColdStart`` is 1 for ``cold``/``restore`` and 0 for any other ordinary invocation (sum = count,
average = rate); pings emit ``WarmPing`` and never ``ColdStart``.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    Sink = Callable[[str], object]
    #: (kind, found state, init type, init ms, environment id, error, peer): what a line's constant parts depend on.
    _ShapeKey = tuple[str, str, str, float | None, str, str | None, str | None]

DEFAULT_NAMESPACE: Final = "Thermostat"
MARKER: Final = "thermostat"
#: thermostat's own namespace; ``POWERTOOLS_METRICS_NAMESPACE`` belongs to the function's Powertools,
#: whose ``ColdStart`` (dimension ``function_name``) must not share a namespace with ours.
NAMESPACE_VARIABLE: Final = "THERMOSTAT_METRICS_NAMESPACE"


def metrics_namespace() -> str:
    """The namespace of every metric thermostat writes (``THERMOSTAT_METRICS_NAMESPACE``, default ``Thermostat``)."""
    return os.environ.get(NAMESPACE_VARIABLE, "").strip() or DEFAULT_NAMESPACE


class _Stdout:
    """Where the default sink writes: ``sys.stdout``'s file descriptor when nothing can be buffered before it.

    Lambda's Python runtime wraps ``sys.stdout`` in its ``Unbuffered`` class (every write is flushed
    at once, so fd 1 is a pipe written one line at a time); ``python -u`` gives a write-through text
    stream. There, one ``os.write`` of the line's bytes is the whole cost: no text layer, no flush.
    Anything else (a buffered file, a test's capture object) gets the line through its own ``write``,
    so that the line keeps its place among what the function printed. ``sys.stdout`` is looked at on
    every line (an identity check) and resolved again when someone replaced it.
    """

    __slots__ = ("fd", "stream")

    def __init__(self) -> None:
        self.stream: object = None
        self.fd = -1

    def resolve(self, stream: object) -> None:
        self.stream = stream
        self.fd = -1
        unbuffered = type(stream).__name__ == "Unbuffered" or getattr(stream, "write_through", False) is True
        if not unbuffered:
            return
        try:
            fd = stream.fileno()  # type: ignore[attr-defined]
            stream.flush()  # type: ignore[attr-defined]  # once: whatever was written before goes first
        except Exception:  # noqa: BLE001 - no descriptor (a capture object, a closed stream): use write()
            return
        self.fd = fd if isinstance(fd, int) and fd >= 0 else -1


_STDOUT = _Stdout()


def _stdout_sink(line: str) -> object:
    _write_stdout((line + "\n").encode())
    return None


def _write_stdout(data: bytes) -> None:
    out = sys.stdout
    target = _STDOUT
    if out is not target.stream:
        target.resolve(out)
    if target.fd < 0:
        out.write(data.decode())
        return
    written = os.write(target.fd, data)
    if written < len(data):
        _write_rest(target.fd, data, written)


def _write_rest(fd: int, data: bytes, written: int) -> None:
    """A pipe takes a line this small whole; a signal may cut a longer one: write what is left."""
    while written < len(data):
        written += os.write(fd, data[written:])


class Telemetry:
    """Formats and writes the per-invocation record.

    Everything that does not change within an environment — the EMF directive, the function's
    name, version and service, the start kind, the init figures and the environment id — is
    serialised once per shape and kept as bytes; an invocation adds its timestamp, request id and
    duration with one ``bytes`` formatting (no text to encode afterwards), and the default sink
    writes the result as one ``write`` (see ``_Stdout``).
    """

    def __init__(self, sink: Sink | None = None, namespace: str | None = None) -> None:
        #: ``sink(line)`` gets each line as text, without its newline; None writes to stdout (fast path).
        self.sink: Sink = sink or _stdout_sink
        self.namespace = namespace or metrics_namespace()
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "unknown")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or self.function_name
        self._cache: dict[tuple[str, bool], tuple[str, str]] = {}
        self._shapes: dict[_ShapeKey, tuple[bytes, bytes, bytes]] = {}

    def _static(self, init_type: str, ping: bool) -> tuple[str, str]:
        """The parts of the line that never change within an environment, cached per shape."""
        key = (init_type, ping)
        cached = self._cache.get(key)
        if cached is None:
            import json  # once per environment; keeps json (and re) off the import path

            metric = "WarmPing" if ping else "ColdStart"
            head = '{"_aws":{"Timestamp":'
            directive = json.dumps(
                [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["InitType"], ["FunctionName", "InitType"]],
                        "Metrics": [{"Name": metric, "Unit": "Count"}],
                    }
                ],
                separators=(",", ":"),
            )
            fixed = json.dumps(
                {
                    MARKER: 1,
                    "FunctionName": self.function_name,
                    "InitType": init_type,
                    "function_version": self.function_version,
                    "service": self.service,
                },
                separators=(",", ":"),
            )[1:-1]
            cached = (head, ',"CloudWatchMetrics":' + directive + "}," + fixed)
            self._cache[key] = cached
        return cached

    def _shape(
        self,
        kind: str,
        found: str,
        init_type: str,
        init_ms: float | None,
        environment_id: str,
        error: str | None,
        peer: str | None,
    ) -> tuple[bytes, bytes, bytes]:
        """``(before the timestamp, after it up to the request id's value, the closing part)`` for one shape.

        As bytes, the closing part with the newline. Few shapes per environment (its first invocation, warm ones,
        pings of each peer, each exception type that escaped; a SnapStart restore makes a new
        environment id): the cache is emptied if it ever grows past a few dozen.
        """
        key = (kind, found, init_type, init_ms, environment_id, error, peer)
        head, fixed = self._static(init_type, kind == "warm_ping")
        cold = kind in {"cold", "restore"}
        middle = (
            f'{fixed},"start_kind":{_json_str(kind)},"found_state":{_json_str(found)},'
            f'"cold_start":{"true" if cold else "false"},"init_ms":{_json_number(init_ms)},'
            f'"environment_id":{_json_str(environment_id)},"request_id":'
        )
        if kind == "warm_ping":
            value = ',"WarmPing":1}'
        else:
            value = ',"ColdStart":1}' if cold else ',"ColdStart":0}'
        if peer is not None:
            value = ',"peer":' + _json_str(peer) + value
        if error is not None:
            value = ',"error":' + _json_str(error) + value
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        # ASCII throughout: every part went through json.dumps or _json_str, which escape the rest.
        shape = self._shapes[key] = (head.encode(), middle.encode(), (value + "\n").encode())
        return shape

    def line(
        self,
        *,
        kind: str,
        found: str,
        init_type: str,
        init_ms: float | None,
        environment_id: str,
        request_id: str | None,
        duration_ms: float,
        error: str | None = None,
        peer: str | None = None,
    ) -> str:
        """Format the record for one invocation as one JSON line (an EMF document)."""
        data = self._format(kind, found, init_type, init_ms, environment_id, request_id, duration_ms, error, peer)
        return data[:-1].decode()

    def _format(
        self,
        kind: str,
        found: str,
        init_type: str,
        init_ms: float | None,
        environment_id: str,
        request_id: str | None,
        duration_ms: float,
        error: str | None,
        peer: str | None,
    ) -> bytes:
        """The line as bytes, newline included: one formatting of three values into the cached parts."""
        key = (kind, found, init_type, init_ms, environment_id, error, peer)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(kind, found, init_type, init_ms, environment_id, error, peer)
        timestamp = time.time_ns() // 1_000_000
        # The request id is the one free-text value per invocation: a Lambda one (a UUID) needs no
        # escape and goes between the format's quotes as is; anything else through the JSON encoder.
        # The duration with three decimals: the same number as ``round(duration_ms, 3)`` (both round
        # the exact binary value), printed in one step instead of two.
        if (
            type(request_id) is str
            and request_id.isascii()
            and request_id.isprintable()
            and '"' not in request_id
            and "\\" not in request_id
        ):
            return _LINE % (shape[0], timestamp, shape[1], request_id.encode(), duration_ms, shape[2])
        return _LINE_ESCAPED % (shape[0], timestamp, shape[1], _json_str(request_id).encode(), duration_ms, shape[2])

    def record(
        self,
        kind: str,
        found: str,
        init_type: str,
        init_ms: float | None,
        environment_id: str,
        request_id: str | None,
        duration_ms: float,
        error: str | None = None,
        peer: str | None = None,
    ) -> None:
        """Format and write one invocation's line (``line``'s fields, in order). Never raises."""
        try:
            data = self._format(kind, found, init_type, init_ms, environment_id, request_id, duration_ms, error, peer)
            if self.sink is not _stdout_sink:
                self.sink(data[:-1].decode())
                return
            # _write_stdout, inlined: this runs once per invocation.
            target = _STDOUT
            if sys.stdout is not target.stream or target.fd < 0:
                _write_stdout(data)
                return
            written = os.write(target.fd, data)
            if written < len(data):
                _write_rest(target.fd, data, written)
        except Exception:  # noqa: BLE001, S110 - losing one telemetry line beats failing a request
            pass

    def emit(self, line: str) -> None:
        """Write one line. Telemetry must never break the function."""
        try:
            self.sink(line)
        except Exception:  # noqa: BLE001, S110 - losing one telemetry line beats failing a request
            pass


#: The line: cached head, timestamp, cached middle, request id, duration, cached closing part.
_LINE: Final = b'%b%d%b"%b","duration_ms":%.3f%b'
#: The same, the request id already a JSON value (null, or escaped by the encoder).
_LINE_ESCAPED: Final = b'%b%d%b%b,"duration_ms":%.3f%b'
#: More shapes than an environment has (start kinds x found states): a bound, not a tuning knob.
_MAX_SHAPES: Final = 32


def _json_number(value: float | None) -> str:
    """A JSON number, as ``json.dumps`` writes it; NaN and infinities (not JSON numbers) as null."""
    if value is None:
        return "null"
    number = float(value)
    return repr(number) if number - number == 0.0 else "null"


def _json_str(value: str | None) -> str:
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return '"' + value + '"'
    import json

    return json.dumps(value)
