"""The per-invocation telemetry line: the same document as before, written as one write of bytes.

The line was made cheaper (issue 14.3: static parts serialised once per shape, one ``os.write``
to stdout's descriptor when stdout is unbuffered, as Lambda's runtime makes it). Other parts parse
it (``thermostat report``, the EMF extraction, tests), so its content and key order must not move.
``expected_document`` below is the line's documented shape spelled out field by field with
``json``; every case compares the parsed line with it: ordinary invocations, warm pings, cold
starts, SnapStart and provisioned-concurrency initialisation, and values that need JSON escaping.

What can need escaping, and where it comes from: ``POWERTOOLS_SERVICE_NAME`` and
``THERMOSTAT_METRICS_NAMESPACE`` are free text set by the user; ``AWS_LAMBDA_INITIALIZATION_TYPE``
is kept verbatim when unknown; outside Lambda (local runners, tests) the function name is whatever
the environment says and the request id whatever the harness passes (ints, quotes, non-ASCII);
an exception's type name may be any Python identifier (non-ASCII included).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from thermostat_runtime import Environment, Telemetry, build_request, warmable

pytestmark = pytest.mark.unit

STARTED = 100.0


class Fehlerß(Exception):  # noqa: PLC2401 - a non-ASCII exception name is what this test needs
    pass


def expected_document(
    *,
    namespace: str,
    function_name: str,
    function_version: str,
    service: str,
    init_type: str,
    kind: str,
    found: str,
    init_ms: float | None,
    environment_id: str,
    request_id: str | None,
    duration_ms: float,
    error: str | None = None,
    peer: str | None = None,
) -> dict[str, Any]:
    """The line's documented shape, field by field, in its order (Timestamp left to the caller)."""
    ping = kind == "warm_ping"
    metric = "WarmPing" if ping else "ColdStart"
    cold = kind in {"cold", "restore"}
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": None,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["InitType"], ["FunctionName", "InitType"]],
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }
            ],
        },
        "thermostat": 1,
        "FunctionName": function_name,
        "InitType": init_type,
        "function_version": function_version,
        "service": service,
        "start_kind": kind,
        "found_state": found,
        "cold_start": cold,
        "init_ms": init_ms,
        "environment_id": environment_id,
        "request_id": request_id,
        "duration_ms": round(duration_ms, 3),
    }
    if error is not None:
        document["error"] = error
    if peer is not None:
        document["peer"] = peer
    document[metric] = 1 if ping else int(cold)
    return document


class Clock:
    """A clock the test moves: the init and every duration are known exactly."""

    def __init__(self) -> None:
        self.now = STARTED

    def __call__(self) -> float:
        return self.now


class Unbuffered:
    """``sys.stdout`` as Lambda's Python runtime wraps it (awslambdaric's ``Unbuffered``), counting its writes."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        written: int = self.stream.write(text)
        self.stream.flush()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def lambda_stdout() -> Iterator[tuple[Unbuffered, int]]:
    """stdout as in Lambda: a pipe behind the runtime's unbuffered wrapper; yields it and the read end."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    stream = io.TextIOWrapper(io.FileIO(write_end, "w", closefd=True), encoding="utf-8")
    wrapper = Unbuffered(stream)
    saved, sys.stdout = sys.stdout, wrapper  # type: ignore[assignment]
    try:
        yield wrapper, read_end
    finally:
        sys.stdout = saved
        stream.close()
        os.close(read_end)


def read_lines(fd: int) -> list[str]:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8").splitlines()


def function_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> dict[str, str]:
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "orders-api",
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "THERMOSTAT_METRICS_NAMESPACE": "Thermostat",
    } | values
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def build(init_type: str, clock: Clock, **options: Any) -> Any:
    environment = Environment(init_type=init_type, started_at=STARTED - 0.25)

    @warmable(environment=environment, clock=clock, **options)
    def handler(event: Any, context: Any) -> Any:
        clock.now += 0.0123456  # the business logic's time: 12.3456 ms
        if event.get("fail"):
            raise Fehlerß("failed")
        return {"statusCode": 200}

    return handler


def check(line: str, expected: dict[str, Any], before_ms: int, after_ms: int) -> None:
    document = json.loads(line)
    timestamp = document["_aws"]["Timestamp"]
    assert isinstance(timestamp, int)
    assert before_ms <= timestamp <= after_ms
    document["_aws"]["Timestamp"] = None
    assert document == expected
    # same order too: readers of the raw line (and people) see the fields where they were
    assert list(document) == list(expected)
    assert list(document["_aws"]) == list(expected["_aws"])


def now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


INIT_TYPES = [
    ("on-demand", "cold", 250.0),
    ("snap-start", "restore", None),
    ("provisioned-concurrency", "provisioned", 250.0),
    ('custom "init"\\type', "cold", 250.0),  # unknown: kept verbatim, so it must be escaped
]


def expected_common(
    env: dict[str, str], handler: Any, context: Any, init_type: str, init_ms: float | None, *, duration_ms: float
) -> dict[str, Any]:
    """The fields every line of this environment carries, as the documented document names them."""
    return {
        "namespace": env["THERMOSTAT_METRICS_NAMESPACE"],
        "function_name": env["AWS_LAMBDA_FUNCTION_NAME"],
        "function_version": env["AWS_LAMBDA_FUNCTION_VERSION"],
        "service": env["POWERTOOLS_SERVICE_NAME"],
        "init_type": init_type,
        "init_ms": init_ms,
        "environment_id": handler.thermostat.environment.environment_id,
        "request_id": context.aws_request_id,
        "duration_ms": duration_ms,
    }


@pytest.mark.parametrize(("init_type", "first_kind", "init_ms"), INIT_TYPES)
def test_ordinary_invocations_write_the_documented_line_to_a_lambda_like_pipe(
    monkeypatch: pytest.MonkeyPatch, init_type: str, first_kind: str, init_ms: float | None
) -> None:
    # Given a function wearing @warmable, stdout a pipe behind Lambda's unbuffered wrapper
    env = function_env(monkeypatch)
    clock = Clock()
    handler = build(init_type, clock)
    context = SimpleNamespace(aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678")
    with lambda_stdout() as (wrapper, read_end):
        # When the environment's first invocation and a warm one run
        before = now_ms()
        handler({"path": "/orders/42"}, context)
        handler({"path": "/orders/43"}, context)
        after = now_ms()
        lines = read_lines(read_end)

    # Then two lines arrived on the descriptor, written past the text layer (not one write through it)
    assert len(lines) == 2
    assert wrapper.writes == 0
    # and each parses to the documented document: the first is the start kind, the second warm
    common = expected_common(env, handler, context, init_type, init_ms, duration_ms=12.3456)
    check(lines[0], expected_document(kind=first_kind, found=first_kind, **common), before, after)
    check(lines[1], expected_document(kind="warm", found="warm", **common), before, after)


@pytest.mark.parametrize(("init_type", "first_kind", "init_ms"), INIT_TYPES)
def test_warm_pings_write_the_documented_line(
    monkeypatch: pytest.MonkeyPatch, init_type: str, first_kind: str, init_ms: float | None
) -> None:
    # Given a fresh environment
    env = function_env(monkeypatch)
    clock = Clock()
    handler = build(init_type, clock)
    context = SimpleNamespace(aws_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd")
    with lambda_stdout() as (_, read_end):
        # When a thermostat ping finds it in its start state, then a lambda-warmer ping finds it warm
        before = now_ms()
        handler(build_request("warm", correlation_id="round-1", index=0, of=1), context)
        clock.now += 0.004
        handler({"warmer": True, "concurrency": 1}, context)
        after = now_ms()
        lines = read_lines(read_end)

    # Then both lines are warm pings carrying the state they found and whose ping it was
    common = expected_common(env, handler, context, init_type, init_ms, duration_ms=0.0)
    assert len(lines) == 2
    check(lines[0], expected_document(kind="warm_ping", found=first_kind, peer="thermostat", **common), before, after)
    check(lines[1], expected_document(kind="warm_ping", found="warm", peer="lambda-warmer", **common), before, after)


REQUEST_IDS = [
    pytest.param("c6af9ac6-7b61-11e6-9a41-93e812345678", "c6af9ac6-7b61-11e6-9a41-93e812345678", id="uuid"),
    pytest.param('req "quoted"', 'req "quoted"', id="quotes"),
    pytest.param("back\\slash", "back\\slash", id="backslash"),
    pytest.param("ünïcode-id", "ünïcode-id", id="non-ascii"),
    pytest.param("line\nbreak\t", "line\nbreak\t", id="control-characters"),
    pytest.param(42, "42", id="int-from-a-harness"),
    pytest.param(None, None, id="no-request-id"),
]


@pytest.mark.parametrize(("given", "written"), REQUEST_IDS)
def test_values_needing_escapes_stay_one_valid_line(monkeypatch: pytest.MonkeyPatch, given: Any, written: Any) -> None:
    # Given a function name, service and namespace that JSON must escape (possible outside Lambda),
    # and a request id of each kind a harness passes
    env = function_env(
        monkeypatch,
        AWS_LAMBDA_FUNCTION_NAME='fn "name" \\ x',
        POWERTOOLS_SERVICE_NAME="commandes-é",
        THERMOSTAT_METRICS_NAMESPACE='Team/"Orders"',
    )
    clock = Clock()
    handler = build("on-demand", clock)
    context = SimpleNamespace(aws_request_id=given) if given is not None else SimpleNamespace()
    with lambda_stdout() as (_, read_end):
        # When an invocation fails with an exception whose name is not ASCII
        before = now_ms()
        with pytest.raises(Fehlerß):
            handler({"fail": True}, context)
        after = now_ms()
        raw = read_lines(read_end)

    # Then exactly one line came out (no raw newline from the request id), pure ASCII as json.dumps writes,
    # and it parses to the documented document with every value intact
    assert len(raw) == 1
    assert raw[0].isascii()
    expected = expected_document(
        namespace=env["THERMOSTAT_METRICS_NAMESPACE"],
        function_name=env["AWS_LAMBDA_FUNCTION_NAME"],
        function_version="7",
        service=env["POWERTOOLS_SERVICE_NAME"],
        init_type="on-demand",
        kind="cold",
        found="cold",
        init_ms=250.0,
        environment_id=handler.thermostat.environment.environment_id,
        request_id=written,
        duration_ms=12.3456,
        error="Fehlerß",
    )
    check(raw[0], expected, before, after)


def test_a_buffered_stdout_gets_the_line_in_order_with_what_the_function_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given stdout a buffered stream without a descriptor (a capture object, a local runner's file)
    function_env(monkeypatch)
    clock = Clock()
    environment = Environment(init_type="on-demand", started_at=STARTED)

    @warmable(environment=environment, clock=clock)
    def handler(event: Any, context: Any) -> Any:
        print("business log line")
        return {"ok": True}

    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    # When the function prints and @warmable writes its line
    handler({}, SimpleNamespace(aws_request_id="r-1"))

    # Then the line follows the print, through the stream's own write
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "business log line"
    assert json.loads(lines[1])["request_id"] == "r-1"

    # and when stdout is replaced again, the next line goes to the new stream, not the old one
    second = io.StringIO()
    monkeypatch.setattr(sys, "stdout", second)
    handler({}, SimpleNamespace(aws_request_id="r-2"))
    assert len(buffer.getvalue().splitlines()) == 2
    assert [json.loads(line)["request_id"] for line in second.getvalue().splitlines()[1:]] == ["r-2"]


def test_a_closed_stdout_loses_the_line_not_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given stdout closed under the function (a harness tore it down)
    function_env(monkeypatch)
    clock = Clock()
    handler = build("on-demand", clock)
    with lambda_stdout() as (wrapper, _):
        wrapper.stream.close()
        # When it is invoked, Then it answers as usual
        assert handler({}, SimpleNamespace(aws_request_id="r-1")) == {"statusCode": 200}


def test_a_custom_sink_still_gets_text_lines() -> None:
    # Given a Telemetry with a sink (what tests and the local runner pass)
    lines: list[str] = []
    telemetry = Telemetry(sink=lines.append, namespace="Test")
    # When one record is written
    telemetry.record("warm", "warm", "on-demand", 1.5, "abc", "r-1", 0.5)
    # Then the sink got the line as text, without a newline, and it parses
    assert len(lines) == 1
    assert not lines[0].endswith("\n")
    assert json.loads(lines[0])["start_kind"] == "warm"


def test_lines_stay_right_when_the_shape_cache_is_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given more distinct line shapes than the cache keeps (one per exception type that escaped)
    env = function_env(monkeypatch)
    clock = Clock()
    errors = [type(f"Failure{number}", (Exception,), {}) for number in range(40)]
    environment = Environment(init_type="on-demand", started_at=STARTED - 0.25)

    @warmable(environment=environment, clock=clock)
    def handler(event: Any, context: Any) -> Any:
        clock.now += 0.001
        if event["fail"] is not None:
            raise errors[event["fail"]]("failed")
        return {"statusCode": 200}

    context = SimpleNamespace(aws_request_id="r-1")
    with lambda_stdout() as (_, read_end):
        # When each fails once, then an ordinary invocation and the first exception type come back
        before = now_ms()
        lines: list[str] = []
        for number in [*range(40), None, 0]:
            try:
                handler({"fail": number}, context)
            except Exception:  # the failure is the point; its line is checked below
                pass
            lines += read_lines(read_end)
        after = now_ms()

    # Then every line is the documented document for its own invocation
    assert len(lines) == 42
    for index, (line, number) in enumerate(zip(lines, [*range(40), None, 0], strict=True)):
        kind = "cold" if index == 0 else "warm"
        expected = expected_document(
            namespace=env["THERMOSTAT_METRICS_NAMESPACE"],
            function_name=env["AWS_LAMBDA_FUNCTION_NAME"],
            function_version=env["AWS_LAMBDA_FUNCTION_VERSION"],
            service=env["POWERTOOLS_SERVICE_NAME"],
            init_type="on-demand",
            kind=kind,
            found=kind,
            init_ms=250.0,
            environment_id=environment.environment_id,
            request_id="r-1",
            duration_ms=1.0,
            error=None if number is None else f"Failure{number}",
        )
        check(line, expected, before, after)
