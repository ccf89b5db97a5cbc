"""``@warmable``: answer warm pings, classify every start, emit one telemetry line per invocation."""

from __future__ import annotations

import os
import sys
import time

from .protocol import DEFAULT_HOLD_MS_MAX, PROTOCOL_VERSION, detect_ping
from .start import SNAP_START, Environment
from .telemetry import Telemetry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Final, Protocol, TypeVar, overload

    from .protocol import Ping
    from .start import StartKind

    Handler = Callable[[Any, Any], Any]
    H = TypeVar("H", bound=Handler)

    class BufferingLogger(Protocol):
        """The parts of a Powertools ``Logger`` that ``@warmable`` uses (duck-typed, no import)."""

        def append_keys(self, **additional_keys: object) -> None: ...
        def clear_buffer(self) -> None: ...
        def flush_buffer(self) -> None: ...


TRACE_ENV: Final = "_X_AMZN_TRACE_ID"
#: Time kept back from a hold so that the reply always leaves before the function times out.
HOLD_SAFETY_MS: Final = 200
_POWERTOOLS_COLD_FLAGS: Final = (
    "aws_lambda_powertools.logging.logger",
    "aws_lambda_powertools.metrics.provider.cold_start",
    "aws_lambda_powertools.metrics.base",
    "aws_lambda_powertools.tracing.tracer",
)
#: Where Powertools' ``Logger.inject_lambda_context`` wrapper is defined (its code object says so).
_POWERTOOLS_LOGGER_SOURCE: Final = "aws_lambda_powertools/logging/logger.py"
#: Its option that flushes the log buffer when the handler raises, before its own ``finally`` clears it.
_POWERTOOLS_FLUSH_OPTION: Final = "flush_buffer_on_uncaught_error"
#: How far down a chain of ``__wrapped__`` decorators ``@warmable`` looks for Powertools.
_MAX_WRAPPED_DEPTH: Final = 32


class ThermostatWarning(UserWarning):
    """Something in how ``@warmable`` is used keeps it from doing what the README promises."""


#: The environment this process is; one per module import, as in Lambda.
ENVIRONMENT: Final = Environment()


def _remaining_ms(context: object) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        value = getter()
    except Exception:  # noqa: BLE001 - a broken test context must not break the function
        return None
    return int(value) if isinstance(value, int | float) else None


_synthetic_trace: str | None = None


def _synthetic_trace_id() -> str:
    """One made-up trace id per environment, made at first use (so after a SnapStart restore).

    One, not one per invocation: glibc's setenv keeps every distinct value it is given, so a
    fresh id each time grows RSS by ~100 B per invocation (10 MB per 100,000, measured). The
    buffer is cleared at the start of every invocation, which is what keeps invocations apart.
    """
    global _synthetic_trace
    if _synthetic_trace is None:
        _synthetic_trace = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=0"
    return _synthetic_trace


def _request_id(context: object) -> str | None:
    """The context's ``aws_request_id`` as a string: test harnesses pass ints, UUIDs, mocks."""
    try:
        value = getattr(context, "aws_request_id", None)
        if value is None or type(value) is str:
            return value
        return str(value)
    except Exception:  # noqa: BLE001 - a broken test context must not break the function
        return None


_stacking_warned = False


def _warn_stacking(message: str) -> None:
    """One warning per process: decorating many handlers must not repeat it."""
    global _stacking_warned
    if not _stacking_warned:
        _stacking_warned = True
        import warnings

        warnings.warn(message, ThermostatWarning, stacklevel=4)


def _flush_inside_powertools(function: object) -> None:
    """Make Powertools' ``inject_lambda_context`` below ``@warmable`` flush a failed invocation's buffer.

    That decorator clears the buffer in its own ``finally``, which runs before the exception reaches
    ``@warmable``: our flush would find nothing. Its ``flush_buffer_on_uncaught_error`` option flushes
    first, so it is turned on, once, at decoration (nothing per invocation). The wrapper is found by
    its code object's file, following ``__wrapped__``: Powertools is never imported.
    """
    for _ in range(_MAX_WRAPPED_DEPTH):
        code = getattr(function, "__code__", None)
        if code is not None and code.co_filename.replace("\\", "/").endswith(_POWERTOOLS_LOGGER_SOURCE):
            cells = dict(zip(code.co_freevars, getattr(function, "__closure__", None) or (), strict=False))
            cell = cells.get(_POWERTOOLS_FLUSH_OPTION)
            try:
                if cell is None or "lambda_handler" not in cells:
                    raise LookupError(_POWERTOOLS_FLUSH_OPTION)
                if cell.cell_contents is not True:
                    cell.cell_contents = True
            except (LookupError, ValueError):  # ValueError: an empty cell
                _warn_stacking(
                    "thermostat: @warmable(logger=...) cannot make the Powertools decorator below it flush a "
                    "failed invocation's buffered log lines (this Powertools version does not keep "
                    f"{_POWERTOOLS_FLUSH_OPTION} where thermostat looks), and that decorator clears the buffer "
                    "before @warmable can flush it. Put @warmable below @logger.inject_lambda_context, or pass "
                    f"{_POWERTOOLS_FLUSH_OPTION}=True to it if it takes that option."
                )
        function = getattr(function, "__wrapped__", None)
        if function is None:
            return


def _silence_powertools_cold_start() -> None:
    """A ping consumed this environment's cold start: keep Powertools from claiming it later.

    Touches only modules already imported; never imports Powertools itself.
    """
    for name in _POWERTOOLS_COLD_FLAGS:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "is_cold_start"):
            module.is_cold_start = False  # type: ignore[attr-defined]


class _Unencodable(Exception):
    """A probe result that JSON cannot carry; its text is the probe's error."""


def _jsonable(value: object, where: str, open_containers: set[int]) -> object:
    """``value`` with only JSON's types: ISO dates, base64 bytes, lists for tuples and sets.

    Decimals become numbers and namedtuples objects, as Lambda's own marshaller writes them, and
    UUIDs strings; anything else raises ``_Unencodable`` naming the type and where it is. The
    modules of ``datetime``, ``decimal`` and ``uuid`` are looked up, never imported: a value of
    theirs means they are loaded.
    """
    if value is None or isinstance(value, str | int | float):
        return value
    as_dict = getattr(value, "_asdict", None) if isinstance(value, tuple) else None
    if callable(as_dict):
        value = as_dict()  # a namedtuple is an object to Lambda's marshaller (simplejson's default)
    if isinstance(value, dict | list | tuple | set | frozenset):
        if id(value) in open_containers:
            raise _Unencodable(f"probe result is not JSON-encodable: {where} refers back to itself")
        open_containers.add(id(value))
        try:
            if isinstance(value, dict):
                encoded: dict[object, object] = {}
                for key, item in value.items():
                    if not (key is None or isinstance(key, str | int | float)):
                        raise _Unencodable(
                            f"probe result is not JSON-encodable: {where} has a key of type {_type_name(key)}"
                        )
                    encoded[key] = _jsonable(item, f"{where}[{key!r}]", open_containers)
                return encoded
            items: list[object] | tuple[object, ...] | set[object] | frozenset[object] = value
            if isinstance(value, set | frozenset):
                try:
                    items = sorted(value)
                except TypeError:
                    items = list(value)
            return [_jsonable(item, f"{where}[{index}]", open_containers) for index, item in enumerate(items)]
        finally:
            open_containers.discard(id(value))
    if isinstance(value, bytes | bytearray | memoryview):
        import binascii  # built into the interpreter: no file to load

        return binascii.b2a_base64(bytes(value), newline=False).decode("ascii")
    datetime = sys.modules.get("datetime")
    if datetime is not None and isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        # Lambda's marshaller writes a Decimal's own digits: what a JSON reader then gets back.
        if value.is_nan():
            return float("nan")
        text = str(value)
        return float(text) if value.is_infinite() or any(mark in text for mark in ".eE") else int(text)
    uuid = sys.modules.get("uuid")
    if uuid is not None and isinstance(value, uuid.UUID):
        return str(value)
    raise _Unencodable(f"probe result is not JSON-encodable: {where} is a {_type_name(value)}")


def _type_name(value: object) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


class _Warmable:
    """The wrapped handler. Holds its options; shares the process-wide environment."""

    def __init__(
        self,
        handler: Handler,
        *,
        probe: Callable[[], object] | None,
        logger: BufferingLogger | None,
        hold_ms_max: int,
        environment: Environment,
        telemetry: Telemetry | None,
        resolve_refs: bool,
        offload_to: str | None,
        offload_threshold_bytes: int,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
    ) -> None:
        self.handler = handler
        self.probe = probe
        self.logger = logger
        self.hold_ms_max = max(0, hold_ms_max)
        self.environment = environment
        self._telemetry = telemetry
        self.resolve_refs = resolve_refs
        self.offload_to = offload_to
        self.offload_threshold_bytes = offload_threshold_bytes
        self.clock = clock
        self.sleep = sleep
        self._bodies: dict[tuple[StartKind, str, float | None, bool], dict[str, Any]] = {}
        environment.mark_ready(clock())

    @property
    def telemetry(self) -> Telemetry:
        # Built at the first invocation: the function's name and version are read from the
        # environment that Lambda sets, not from whatever was there at import.
        if self._telemetry is None:
            self._telemetry = Telemetry()
        return self._telemetry

    def __call__(self, event: Any, context: Any) -> Any:
        started = self.clock()
        ping = detect_ping(event, context)
        kind, found = self.environment.begin(started, ping is not None)
        restore_trace = self._prepare_logger(kind) if self.logger is not None else False
        try:
            if ping is not None:
                if found != "warm":
                    _silence_powertools_cold_start()
                return self._answer(ping, found, context, started)
            return self._invoke(event, context, kind, found, started)
        finally:
            if restore_trace:
                os.environ.pop(TRACE_ENV, None)

    def _prepare_logger(self, kind: StartKind) -> bool:
        logger = self.logger
        assert logger is not None
        restore = False
        if not os.environ.get(TRACE_ENV):
            # Powertools keys its buffer by the trace id and silently drops buffered records
            # when there is none (local runs, some test harnesses): give this invocation one.
            os.environ[TRACE_ENV] = _synthetic_trace_id()
            restore = True
        # Clear at the START: Powertools clears in inject_lambda_context's finally, which a
        # ping short-circuit or a handler without that decorator never reaches.
        logger.clear_buffer()
        logger.append_keys(
            start_kind=kind,
            cold_start=kind in ("cold", "restore"),
            environment_id=self.environment.environment_id,
        )
        return restore

    def _invoke(self, event: Any, context: Any, kind: StartKind, found: StartKind, started: float) -> Any:
        error: str | None = None
        try:
            if self.resolve_refs:
                from .refs import resolve_refs

                event = resolve_refs(event)
            result = self.handler(event, context)
            if self.offload_to is not None:
                from .refs import offload

                result = offload(result, bucket=self.offload_to, threshold_bytes=self.offload_threshold_bytes)
            return result
        except BaseException as exc:
            error = type(exc).__name__
            if self.logger is not None:
                try:
                    self.logger.flush_buffer()
                except Exception:  # noqa: BLE001, S110 - never mask the handler's own exception
                    pass
            raise
        finally:
            env = self.environment
            (self._telemetry or self.telemetry).record(
                kind,
                found,
                env.init_type,
                env.init_ms,
                env.environment_id,
                _request_id(context),
                (self.clock() - started) * 1000.0,
                error,
            )

    def _hold_ms(self, requested: int, context: object) -> int:
        hold = min(requested, self.hold_ms_max)
        remaining = _remaining_ms(context)
        if remaining is not None:
            hold = min(hold, max(0, remaining - HOLD_SAFETY_MS))
        return hold

    def _run_probe(self) -> dict[str, Any]:
        if self.probe is None:
            return {"ok": False, "error": "no probe registered: use @warmable(probe=fn)", "duration_ms": 0.0}
        began = self.clock()
        try:
            result = self.probe()
        except Exception as exc:  # noqa: BLE001 - a failing probe is a verdict, not a crash
            return {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "duration_ms": round((self.clock() - began) * 1000.0, 3),
            }
        ok = result is not False
        answer: dict[str, Any] = {"ok": ok, "duration_ms": round((self.clock() - began) * 1000.0, 3)}
        if not ok:
            answer["error"] = "probe returned False"
        elif result is not None and result is not True:
            try:
                answer["result"] = _jsonable(result, "result", set())
            except (_Unencodable, RecursionError) as exc:
                # Returned as is, it would fail the whole reply (Lambda: Runtime.MarshalError) and
                # the hook would see a function error instead of the probe's verdict.
                answer["ok"] = False
                answer["error"] = (
                    str(exc)
                    if isinstance(exc, _Unencodable)
                    else "probe result is not JSON-encodable: it is nested too deeply"
                )
        return answer

    def _reply_body(self, key: tuple[StartKind, str, float | None, bool], telemetry: Telemetry) -> dict[str, Any]:
        """The reply body's template for ``key`` = (found state, environment id, init figure, warm or not).

        Its fields in the reply's order, the ones a ping varies (``correlation_id``, ``probe``)
        already there, so that setting them on a copy keeps the order. A handful per environment.
        """
        found, environment_id, init_ms, warm = key
        if len(self._bodies) >= _MAX_BODIES:
            self._bodies.clear()
        template = self._bodies[key] = {
            "v": PROTOCOL_VERSION,
            "warm": warm,
            "environment_id": environment_id,
            "start_kind": found,
            "init_type": self.environment.init_type,
            "init_ms": init_ms,
            "function_name": telemetry.function_name,
            "function_version": telemetry.function_version,
            "correlation_id": None,
            "probe": None,
        }
        return template

    def _answer(self, ping: Ping, found: StartKind, context: Any, started: float) -> dict[str, Any]:
        env = self.environment
        telemetry = self._telemetry or self.telemetry
        error = ping.error
        environment_id = env.environment_id
        init_ms = env.init_ms
        # What does not change within an environment is copied from a template (one C-level copy of
        # a small dict instead of ten stores); a ping sets what is its own.
        key = (found, environment_id, init_ms, error is None)
        body = (self._bodies.get(key) or self._reply_body(key, telemetry)).copy()
        body["correlation_id"] = ping.correlation_id
        peer = ping.peer
        if peer != "thermostat":
            body["peer"] = peer
        if error is not None:
            body["error"] = error
        else:
            if ping.index is not None:
                body["index"] = ping.index
            if ping.of is not None:
                body["of"] = ping.of
            if ping.reply_fields:
                body.update(ping.reply_fields)
            if ping.action == "probe":
                body["probe"] = self._run_probe()
            requested = ping.hold_ms
            if requested:
                hold = self._hold_ms(requested, context)
                if hold:
                    elapsed_ms = (self.clock() - started) * 1000.0
                    if hold > elapsed_ms:
                        self.sleep((hold - elapsed_ms) / 1000.0)
                body["held_ms"] = hold
                if hold < requested:
                    body["hold_capped"] = True
        reply: dict[str, Any] = {"thermostat": body}
        if ping.peer_reply:
            reply.update(ping.peer_reply)
        if peer == "opennext":
            reply["serverId"] = environment_id
        telemetry.record(
            "warm_ping",
            found,
            env.init_type,
            init_ms,
            environment_id,
            _request_id(context),
            (self.clock() - started) * 1000.0,
            error,
            peer,
        )
        return reply


#: More reply bodies than an environment has (found states x warm or not, and a restore): a bound.
_MAX_BODIES: Final = 16


def _priming_work(prime: object, probe: Callable[[], object] | None) -> Callable[[], object] | None:
    """What ``prime`` asks to run before a snapshot (None: nothing), checked at decoration on every start."""
    if prime is False or prime is None:
        return None
    if prime is True:
        if probe is None:
            raise TypeError("@warmable(prime=True) primes with the probe: pass probe=fn too, or prime=fn")
        return probe
    if callable(prime):
        return prime
    raise TypeError(f"@warmable(prime=...) takes True, False or a callable, got {type(prime).__name__}")


if TYPE_CHECKING:

    @overload
    def warmable(handler: H, /) -> H: ...

    @overload
    def warmable(
        handler: None = None,
        /,
        *,
        probe: Callable[[], object] | None = None,
        logger: BufferingLogger | None = None,
        hold_ms_max: int = DEFAULT_HOLD_MS_MAX,
        environment: Environment | None = None,
        telemetry: Telemetry | None = None,
        resolve_refs: bool = False,
        offload_to: str | None = None,
        offload_threshold_bytes: int = 200_000,
        prime: bool | Callable[[], object] = False,
        after_restore: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> Callable[[H], H]: ...


def warmable(
    handler: H | None = None,
    /,
    *,
    probe: Callable[[], object] | None = None,
    logger: BufferingLogger | None = None,
    hold_ms_max: int = DEFAULT_HOLD_MS_MAX,
    environment: Environment | None = None,
    telemetry: Telemetry | None = None,
    resolve_refs: bool = False,
    offload_to: str | None = None,
    offload_threshold_bytes: int = 200_000,
    prime: bool | Callable[[], object] = False,
    after_restore: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> H | Callable[[H], H]:
    """Wrap a Lambda handler ``(event, context)``.

    * Warm pings (ours and the common peers') are answered without running the handler;
      ``action: probe`` runs ``probe()`` and reports ``{"ok", "duration_ms", "result"|"error"}``;
      dates, bytes, sets, tuples, decimals and UUIDs in the result are made JSON, anything else
      JSON cannot carry makes the probe fail with an error naming its type.
    * Every invocation is classified (cold / restore / provisioned / warm / warm_ping) and
      written as one JSON line that is also an EMF document.
    * With a Powertools ``logger`` carrying a ``buffer_config``, its buffer is cleared at the
      start of every invocation and flushed when the handler raises. A Powertools
      ``inject_lambda_context`` below ``@warmable`` clears the buffer before the exception gets
      here: its own ``flush_buffer_on_uncaught_error`` is turned on, so it flushes first.
    * ``resolve_refs=True`` replaces ``fileRef``/``payloadS3`` references in the event;
      ``offload_to=BUCKET`` stores a large result in S3 and returns a reference instead.
    * SnapStart: ``prime=True`` runs ``probe()`` once before the snapshot (``prime=fn`` runs ``fn()``
      instead), so what it opens, imports and caches is in the snapshot; after every restore the
      environment id, the synthetic trace id and ``random``'s state are renewed, then
      ``after_restore()`` runs. Only when ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``:
      otherwise nothing is registered and nothing more is imported.

    Put it outermost, above any Powertools decorator.
    """
    priming = _priming_work(prime, probe)
    if after_restore is not None and not callable(after_restore):
        raise TypeError(f"@warmable(after_restore=...) takes a callable, got {type(after_restore).__name__}")

    def decorate(function: H) -> H:
        if logger is not None:
            _flush_inside_powertools(function)
        env = environment or ENVIRONMENT
        if (priming is not None or after_restore is not None) and env.init_type == SNAP_START:
            from .snapstart import register

            register(env, priming, after_restore)
        wrapped = _Warmable(
            function,
            probe=probe,
            logger=logger,
            hold_ms_max=hold_ms_max,
            environment=env,
            telemetry=telemetry,
            resolve_refs=resolve_refs,
            offload_to=offload_to,
            offload_threshold_bytes=offload_threshold_bytes,
            clock=clock,
            sleep=sleep,
        )

        call = wrapped.__call__  # the bound method: calling the instance would look ``__call__`` up every time

        def entry(event: Any, context: Any) -> Any:
            return call(event, context)

        # What functools.wraps does, without importing functools on the cold path.
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            value = getattr(function, name, None)
            if value is not None:
                setattr(entry, name, value)
        entry.__wrapped__ = function  # type: ignore[attr-defined]
        entry.thermostat = wrapped  # type: ignore[attr-defined]
        return entry  # type: ignore[return-value]

    if handler is not None:
        return decorate(handler)
    return decorate
