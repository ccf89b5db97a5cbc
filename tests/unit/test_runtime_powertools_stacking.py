"""``@warmable(logger=…)`` stacked with the real Powertools ``inject_lambda_context``, both ways.

Powertools 3.x clears its log buffer in ``inject_lambda_context``'s ``finally``. Under the stacking
the README shows (``@warmable`` outermost), that ``finally`` runs before the exception reaches
``@warmable``: a failed invocation's DEBUG lines were lost although the README promises they are
flushed. These tests run the installed Powertools, buffer configured as in the README
(``LoggerBufferConfig(buffer_at_verbosity="DEBUG")``), and read what reaches the logger's stream.
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.buffer import LoggerBufferConfig

from thermostat_runtime import Environment, Telemetry, build_request, warmable

pytestmark = pytest.mark.unit

TRACE = "_X_AMZN_TRACE_ID"
ROOT = Path(__file__).resolve().parents[2]
_services = count()


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TRACE, raising=False)
    yield


def readme_logger(stream: io.StringIO) -> Logger:
    """The README's logger (``flush_on_error_log`` left at its default), writing to ``stream``."""
    return Logger(
        service=f"stacking-{next(_services)}",
        stream=stream,
        buffer_config=LoggerBufferConfig(buffer_at_verbosity="DEBUG"),
    )


def context(n: int) -> SimpleNamespace:
    """The fields Powertools' inject_lambda_context reads from a Lambda context."""
    return SimpleNamespace(
        function_name="orders",
        function_version="7",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders:7",
        memory_limit_in_mb=512,
        aws_request_id=f"req-{n}",
    )


def debug_lines(stream: io.StringIO) -> list[str]:
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [record["message"] for record in records if record["level"] == "DEBUG"]


def business(logger: Logger) -> Callable[[Any, Any], Any]:
    def handler(event: Any, context: Any) -> Any:
        for line in event["debug"]:
            logger.debug(line)
        if event.get("fail"):
            raise Boom(event["n"])
        return event["n"]

    return handler


def between(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A user's own decorator in the middle of the stack (functools.wraps, as most are)."""

    @functools.wraps(function)
    def wrapper(event: Any, context: Any) -> Any:
        return function(event, context)

    return wrapper


def stack(order: str, logger: Logger, inject: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    options: dict[str, Any] = {
        "logger": logger,
        "environment": Environment(init_type="on-demand", started_at=0.0),
        "telemetry": Telemetry(sink=lambda _line: None),
    }
    handler = business(logger)
    if order == "readme":  # @warmable(logger=logger) above @logger.inject_lambda_context
        return warmable(**options)(inject(handler))
    if order == "readme+own-decorator":  # the same with a decorator of the user's in between
        return warmable(**options)(between(inject(handler)))
    assert order == "powertools-outermost"
    return inject(warmable(**options)(handler))  # type: ignore[no-any-return]


def run_invocations(handler: Callable[[Any, Any], Any], traced: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five invocations: ok, a warm ping, a failure, ok, a failure (each with its own trace id when traced)."""
    events: list[dict[str, Any]] = [
        {"n": 1, "debug": ["1: fine"]},
        build_request("warm"),
        {"n": 3, "debug": ["3: about to fail", "3: failing"], "fail": True},
        {"n": 4, "debug": ["4: fine"]},
        {"n": 5, "debug": ["5: failing"], "fail": True},
    ]
    for n, event in enumerate(events, start=1):
        if traced:
            monkeypatch.setenv(TRACE, f"Root=1-6631e400-{n:024x};Parent=53995c3f42cd8ad8;Sampled=0")
        if event.get("fail"):
            with pytest.raises(Boom):
                handler(event, context(n))
        else:
            handler(event, context(n))


FAILED_LINES = ["3: about to fail", "3: failing", "5: failing"]
ORDERS = ["readme", "readme+own-decorator", "powertools-outermost"]


@pytest.mark.parametrize("traced", [True, False], ids=["trace-id-set", "no-trace-id"])
@pytest.mark.parametrize("order", ORDERS)
def test_a_failed_invocations_debug_lines_are_flushed_whichever_way_it_is_stacked(
    order: str, traced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the README's buffering Logger and @warmable(logger=…) stacked with inject_lambda_context
    stream = io.StringIO()
    logger = readme_logger(stream)
    handler = stack(order, logger, logger.inject_lambda_context)

    # When invocations succeed, are pinged and fail, Lambda-like (a trace id each) or locally (none)
    run_invocations(handler, traced, monkeypatch)

    # Then the failed invocations' DEBUG lines reach the output, once each, and nothing else's
    assert debug_lines(stream) == FAILED_LINES


@pytest.mark.parametrize("order", ORDERS)
def test_with_powertools_own_flush_option_on_no_line_is_written_twice(
    order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    logger = readme_logger(stream)
    handler = stack(order, logger, logger.inject_lambda_context(flush_buffer_on_uncaught_error=True))

    run_invocations(handler, True, monkeypatch)

    assert debug_lines(stream) == FAILED_LINES


def test_a_handler_that_logs_an_error_itself_gets_its_lines_flushed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the README stacking, and a handler that catches, logs with logger.exception and re-raises
    # (flush_on_error_log, on by default, flushes there already)
    stream = io.StringIO()
    logger = readme_logger(stream)

    @warmable(
        logger=logger,
        environment=Environment(init_type="on-demand", started_at=0.0),
        telemetry=Telemetry(sink=lambda _line: None),
    )
    @logger.inject_lambda_context
    def handler(event: Any, context: Any) -> Any:
        logger.debug("before the error")
        try:
            raise Boom("db down")
        except Boom:
            logger.exception("giving up")
            raise

    monkeypatch.setenv(TRACE, "Root=1-6631e400-0123456789abcdef01234567")
    with pytest.raises(Boom):
        handler({}, context(1))

    assert debug_lines(stream) == ["before the error"]


def test_the_readme_stacking_still_answers_pings_without_running_powertools() -> None:
    # Given the README stacking, When a ping comes, Then Powertools' wrapper is not entered (no
    # context fields are read: a bare object would make inject_lambda_context fail)
    stream = io.StringIO()
    logger = readme_logger(stream)
    handler = stack("readme", logger, logger.inject_lambda_context)

    reply = handler(build_request("warm"), object())

    assert reply["thermostat"]["warm"] is True
    assert stream.getvalue() == ""


def _run(script: str, *, block_powertools: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "_X_AMZN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "serverless" / "layer" / "python"), str(ROOT)])
    prelude = "import sys\n"
    if block_powertools:
        # What an environment without Powertools looks like to an import: ImportError.
        prelude += "sys.modules['aws_lambda_powertools'] = None\n"
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", prelude + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


UNKNOWN_POWERTOOLS = """
import warnings
from thermostat_runtime import Telemetry, warmable
from thermostat_runtime import ThermostatWarning

quiet = Telemetry(sink=lambda _line: None)

# A Powertools Logger wrapper as a later Powertools version might write it: same file, no
# flush_buffer_on_uncaught_error to turn on.
source = '''
def inject(lambda_handler):
    def decorate(event, context):
        return lambda_handler(event, context)
    return decorate
'''
namespace = {}
exec(compile(source, "/opt/python/aws_lambda_powertools/logging/logger.py", "exec"), namespace)

class DuckLogger:
    def append_keys(self, **keys): pass
    def clear_buffer(self): pass
    def flush_buffer(self): pass

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    handlers = [
        warmable(logger=DuckLogger(), telemetry=quiet)(namespace["inject"](lambda e, c, n=n: n)) for n in range(3)
    ]
    plain = warmable(logger=DuckLogger(), telemetry=quiet)(lambda e, c: "plain")
print(len(caught))
print(caught[0].category is ThermostatWarning)
print(caught[0].message)
print(caught[0].filename)
print(handlers[2]({}, None), plain({}, None))
"""


def test_a_powertools_wrapper_without_the_flush_option_gets_one_clear_warning_per_process() -> None:
    # Given a process that decorates three handlers over a Powertools-like wrapper whose
    # buffer-flush option cannot be found, and one handler without any
    lines = _run(UNKNOWN_POWERTOOLS).splitlines()

    # Then one ThermostatWarning, pointing at the user's decoration, says what to do
    assert lines[0] == "1"
    assert lines[1] == "True"
    assert "flush_buffer_on_uncaught_error=True to it" in lines[2]
    assert "below @logger.inject_lambda_context" in lines[2]
    assert lines[3] == "<string>"
    # And the handlers still work
    assert lines[4] == "2 plain"


WITHOUT_POWERTOOLS = """
import json
from thermostat_runtime import Telemetry, build_request, warmable

class DuckLogger:
    def __init__(self): self.calls = []
    def append_keys(self, **keys): self.calls.append("append_keys")
    def clear_buffer(self): self.calls.append("clear_buffer")
    def flush_buffer(self): self.calls.append("flush_buffer")

logger = DuckLogger()

@warmable(logger=logger, probe=lambda: {"db": "ok"}, telemetry=Telemetry(sink=lambda _line: None))
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("boom")
    return "done"

results = [handler({}, None), handler(build_request("probe"), None)["thermostat"]["probe"]["ok"]]
try:
    handler({"fail": True}, None)
except RuntimeError:
    results.append("raised")
print(json.dumps(results))
print(json.dumps(logger.calls))
print(json.dumps(sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools"))))
"""


def test_without_powertools_installed_the_layer_never_imports_it() -> None:
    # Given Powertools unimportable, When a duck-typed logger is used through calls, pings and a failure
    lines = _run(WITHOUT_POWERTOOLS, block_powertools=True).splitlines()

    # Then everything works, the logger's buffer is cleared and flushed, and Powertools was never imported
    # (a try would have raised ImportError: the blocking entry would still be the only one)
    assert json.loads(lines[0]) == ["done", True, "raised"]
    assert json.loads(lines[1]).count("flush_buffer") == 1
    assert json.loads(lines[2]) == ["aws_lambda_powertools"]


@pytest.mark.parametrize(("order", "kept"), [("readme", False), ("powertools-outermost", True)])
def test_clear_state_keeps_our_logger_keys_only_with_powertools_outermost(order: str, kept: bool) -> None:
    # Given inject_lambda_context(clear_state=True), which resets the logger's keys when it starts
    # (the README's known limit: it drops what @warmable appended, unless it runs first)
    stream = io.StringIO()
    logger = readme_logger(stream)

    def handler(event: Any, context: Any) -> None:
        logger.info("business")

    options: dict[str, Any] = {
        "logger": logger,
        "environment": Environment(init_type="on-demand", started_at=0.0),
        "telemetry": Telemetry(sink=lambda _line: None),
    }
    inject = logger.inject_lambda_context(clear_state=True)
    wrapped = warmable(**options)(inject(handler)) if order == "readme" else inject(warmable(**options)(handler))

    wrapped({}, context(1))

    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["function_request_id"] == "req-1"
    assert ("start_kind" in record and "environment_id" in record) is kept
