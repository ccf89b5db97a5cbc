"""Log-buffer hygiene with a buffering Powertools Logger (the buffer leak between invocations)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.buffer import LoggerBufferConfig

from thermostat_runtime import Environment, Telemetry, build_request, warmable

pytestmark = pytest.mark.unit

TRACE = "_X_AMZN_TRACE_ID"


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TRACE, raising=False)
    yield


def make_logger(stream: io.StringIO, name: str) -> Logger:
    return Logger(
        service=name,
        level="INFO",
        stream=stream,
        buffer_config=LoggerBufferConfig(max_bytes=1_000_000, buffer_at_verbosity="DEBUG", flush_on_error_log=False),
    )


def messages(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["message"] for line in stream.getvalue().splitlines() if line.strip()]


def build(logger: Logger | None, plain: Logger) -> Any:
    """A business handler that logs a debug line with the request id, and raises when asked."""

    def business(event: Any, context: Any) -> Any:
        plain.debug(f"debug from {event['n']}")
        if event.get("fail"):
            raise Boom(event["n"])
        return event["n"]

    if logger is None:
        return business
    return warmable(
        logger=logger,
        environment=Environment(init_type="on-demand", started_at=0.0),
        telemetry=Telemetry(sink=lambda _line: None),
    )(business)


def invoke_flushing(handler: Any, logger: Logger, event: dict[str, Any]) -> None:
    """What Powertools users write: flush the buffer when the handler raises."""
    try:
        handler(event, SimpleNamespace(aws_request_id=str(event.get("n"))))
    except Boom:
        logger.flush_buffer()


def test_same_trace_id_leaks_without_warmable_and_not_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two invocations that share a trace id (warm pings from one trace, or a local run)
    monkeypatch.setenv(TRACE, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")

    # When plain Powertools buffers invocation 1's debug line and invocation 2 fails
    leaky_stream = io.StringIO()
    leaky = make_logger(leaky_stream, "leaky")
    plain_handler = build(None, leaky)
    invoke_flushing(plain_handler, leaky, {"n": 1})
    invoke_flushing(plain_handler, leaky, {"n": 2, "fail": True})
    # Then invocation 1's line leaks into invocation 2's flush (the bug we guard against)
    assert messages(leaky_stream) == ["debug from 1", "debug from 2"]

    # When the same happens under @warmable(logger=…)
    clean_stream = io.StringIO()
    clean = make_logger(clean_stream, "clean")
    handler = build(clean, clean)
    invoke_flushing(handler, clean, {"n": 1})
    with pytest.raises(Boom):
        handler({"n": 2, "fail": True}, SimpleNamespace(aws_request_id="2"))
    # Then only invocation 2's lines appear (the wrapper flushed on the error itself)
    assert messages(clean_stream) == ["debug from 2"]


def test_a_ping_clears_the_buffer_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACE, "Root=1-5759e988-bd862e3fe1be46a994272793")
    stream = io.StringIO()
    logger = make_logger(stream, "ping")
    handler = build(logger, logger)
    handler({"n": 1}, None)
    handler(build_request("warm"), None)
    logger.debug("buffered during a ping's invocation window")
    with pytest.raises(Boom):
        handler({"n": 3, "fail": True}, None)
    assert messages(stream) == ["debug from 3"]


def test_lines_from_invocation_k_never_reach_k_plus_1_over_many_invocations(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    logger = make_logger(stream, "many")
    handler = build(logger, logger)
    for n in range(1, 21):
        # Lambda gives every invocation its own trace id; every third one fails
        monkeypatch.setenv(TRACE, f"Root=1-00000000-{n:024x}")
        fail = n % 3 == 0
        if fail:
            with pytest.raises(Boom):
                handler({"n": n, "fail": True}, None)
        else:
            handler({"n": n}, None)
    assert messages(stream) == [f"debug from {n}" for n in range(3, 21, 3)]


def test_without_a_trace_id_buffered_lines_are_flushed_not_dropped() -> None:
    # Given no _X_AMZN_TRACE_ID (Powertools alone silently drops buffered records then)
    assert TRACE not in os.environ
    dropped_stream = io.StringIO()
    dropped = make_logger(dropped_stream, "dropped")
    invoke_flushing(build(None, dropped), dropped, {"n": 1, "fail": True})
    assert messages(dropped_stream) == []

    # When the handler wears @warmable(logger=…)
    stream = io.StringIO()
    logger = make_logger(stream, "kept")
    handler = build(logger, logger)
    handler({"n": 1}, None)
    with pytest.raises(Boom):
        handler({"n": 2, "fail": True}, None)

    # Then the failing invocation's debug lines are flushed, and only its own
    assert messages(stream) == ["debug from 2"]
    # And the synthetic trace id does not outlive the invocation
    assert TRACE not in os.environ


def test_the_logger_carries_our_start_kind_not_a_contradicting_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACE, "Root=1-5759e988-bd862e3fe1be46a994272793")
    stream = io.StringIO()
    logger = Logger(service="keys", stream=stream)
    seen: list[dict[str, Any]] = []

    @warmable(
        logger=logger,
        environment=Environment(init_type="on-demand", started_at=0.0),
        telemetry=Telemetry(sink=lambda _line: None),
    )
    def handler(event: Any, context: Any) -> Any:
        logger.info("hello")
        seen.append(json.loads(stream.getvalue().splitlines()[-1]))
        return None

    handler(build_request("warm"), None)  # the ping consumes the cold start
    handler({"n": 1}, None)
    assert seen[0]["start_kind"] == "warm"
    assert seen[0]["cold_start"] is False


POWERTOOLS_SCRIPT = """
import io, json, sys
from types import SimpleNamespace
from aws_lambda_powertools import Logger
from thermostat_runtime import warmable, build_request

stream = io.StringIO()
logger = Logger(service="pt", stream=stream)

@warmable
@logger.inject_lambda_context
def handler(event, context):
    logger.info("business")
    return None

context = SimpleNamespace(function_name="f", memory_limit_in_mb=128, invoked_function_arn="arn", aws_request_id="r",
                          function_version="1")
if sys.argv[1] == "ping-first":
    handler(build_request("warm"), context)
handler({"n": 1}, context)
print(json.dumps(json.loads(stream.getvalue().splitlines()[-1])["cold_start"]))
"""


@pytest.mark.parametrize(("order", "expected"), [("ping-first", False), ("call-first", True)])
def test_powertools_cold_start_agrees_when_a_ping_came_first(order: str, expected: bool) -> None:
    # Given Powertools' inject_lambda_context inside @warmable, When a ping (or nothing) comes
    # first, Then Powertools' cold_start field says what thermostat's start kind says
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    env["PYTHONPATH"] = str(root / "serverless" / "layer" / "python")
    done = subprocess.run(
        [sys.executable, "-c", POWERTOOLS_SCRIPT, order],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) is expected
