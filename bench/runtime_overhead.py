"""Per-invocation overhead of ``@warmable``, in-process, against the bare handler and the peers.

Same run, interleaved, median of repeats; every case gets the same API Gateway proxy event and
the same Lambda-like context. Each sink is measured in its own child process:

* ``pipe`` — as Lambda's Python runtime has it: fd 1 is a pipe (drained by a reader thread in the
  parent) and ``sys.stdout`` is wrapped so that every ``write`` is flushed at once (awslambdaric's
  ``Unbuffered``): one ``write(2)`` per line. This is the sink the goals are judged on.
* ``devnull`` — ``sys.stdout`` a buffered text file on /dev/null: lines are batched into few
  syscalls, which hides what a line costs (kept for comparison with earlier figures).

In Lambda the reader of fd 1 is another process (the runtime's log collector), usually on another
core. A write to a pipe whose reader sleeps pays for waking it; whether a reader thread in the
parent charges that unfairly is measured too, on the cases that write: the pipe sink again with
its reader in a process of its own, then with that process and the child pinned to different
CPUs (``READERS``).

``baseline_layer=DIR`` (``--baseline-layer DIR``) adds a before/after: that layer (e.g. ``main``'s,
from ``git archive``) is loaded beside this one in the same child, under another package name, and
its ``@warmable`` cases are interleaved with this layer's, on each sink, in ``pairs`` children.

Goals (issue 14.3, pipe sink): an ordinary invocation through ``@warmable`` costs no more than
Powertools' ``inject_lambda_context`` + ``log_metrics`` pair (which writes nothing) and no more
than half of that pair plus one ``logger.info`` line; a warm ping costs <= 10 us.

Powertools' ``log_metrics`` with no metric warns ("No application metrics to publish") on every
invocation: warnings are ignored for the whole run, the cheapest way that warning can be handled.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from bench._common import (
    LAYER_DIR,
    REPO_ROOT,
    format_table,
    interleaved,
    machine_note,
    median,
    per_call_us,
    ratio,
    verdict,
)

GOAL_PING_US = 10.0
#: Goal: @warmable, ordinary invocation, <= this share of the Powertools pair plus one logger.info line.
GOAL_OVER_LOGGED = 0.5
SINKS = ("pipe", "devnull")
#: Who drains the pipe: a thread of the parent (the ``pipe`` sink), a process of its own, or a process
#: of its own on another CPU than the child (both pinned; needs two CPUs).
READERS = ("thread", "process", "process, other CPU")
BARE = "bare handler"
WARMABLE = "@warmable"
PING = "@warmable warm ping"
POWERTOOLS = "Powertools inject_lambda_context+log_metrics"
POWERTOOLS_LOGGED = "Powertools pair + one logger.info line"
WRITE_FLOOR = "floor: bare handler + one os.write of a line as long as ours"
PAIR_WRITE = "floor: Powertools pair + one os.write of a line as long as ours"
TEXT_WRITE = "@warmable, line through sys.stdout.write (the write path before)"

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench-fn",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "POWERTOOLS_SERVICE_NAME": "thermostat-bench",
    "THERMOSTAT_METRICS_NAMESPACE": "ThermostatBench",
    # Lambda sets a trace header on every invocation, traced or not; one is enough in-process.
    "_X_AMZN_TRACE_ID": "Root=1-6631e400-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0",
}
TRACE_ENV = "_X_AMZN_TRACE_ID"
FULL_STACK = "@warmable(logger=buffered) over the Powertools pair"
LAMBDA_WARMER_PING = "@warmable answering a lambda-warmer ping"
#: The cases the reader comparison measures: what writes a line, its floors, the pair.
COMPARED = (BARE, WRITE_FLOOR, PAIR_WRITE, WARMABLE, PING, LAMBDA_WARMER_PING, POWERTOOLS)
#: The cases a before/after compares, each also measured with the baseline layer (``BEFORE`` + name).
CHANGED = (WARMABLE, PING, LAMBDA_WARMER_PING)
BEFORE = "before: "
BASELINE_PACKAGE = "thermostat_runtime_baseline"


class LambdaContext:
    """What the Python runtime passes as ``context`` (the fields Powertools and we read)."""

    function_name = "bench-fn"
    function_version = "7"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-fn:7"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/bench-fn"
    log_stream_name = "2024/05/01/[7]0123456789abcdef0123456789abcdef"
    identity = None
    client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def api_gateway_event() -> dict[str, Any]:
    """A REST API (v1) proxy event, as API Gateway sends it."""
    return {
        "resource": "/orders/{orderId}",
        "path": "/orders/42",
        "httpMethod": "GET",
        "headers": {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate, br",
            "Host": "abc123.execute-api.us-east-1.amazonaws.com",
            "User-Agent": "Mozilla/5.0",
            "X-Amzn-Trace-Id": "Root=1-5e1b4151-5ac6c58f5b5dbd6a5c5ef8e1",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        },
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": {"expand": "items"},
        "multiValueQueryStringParameters": {"expand": ["items"]},
        "pathParameters": {"orderId": "42"},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "httpMethod": "GET",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "path": "/prod/orders/42",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1714521600000,
            "resourceId": "x1y2z3",
            "resourcePath": "/orders/{orderId}",
            "stage": "prod",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def business_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The work every case wraps: as little as a real handler could do."""
    return {"statusCode": 200, "body": event["pathParameters"]["orderId"]}


class Unbuffered:
    """``sys.stdout`` as Lambda's Python runtime (awslambdaric) wraps it: every write is flushed at once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self.stream.flush()
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        self.stream.writelines(lines)
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def _lambda_like_process(sink_kind: str) -> Iterator[TextIO]:
    """Function env vars set, stdout on the chosen sink, warnings ignored; everything restored after.

    ``pipe``: this process's own stdout (a pipe, when the parent runs us), unbuffered as in Lambda;
    ``devnull``: a buffered text file on /dev/null.
    """
    saved_env = {name: os.environ.get(name) for name in FUNCTION_ENV}
    os.environ.update(FUNCTION_ENV)
    saved_stdout = sys.stdout
    opened: TextIO | None = None
    if sink_kind == "pipe":
        sink: TextIO = Unbuffered(saved_stdout)  # type: ignore[assignment]
    elif sink_kind == "devnull":
        opened = sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed in the finally below
    else:
        raise ValueError(f"unknown sink {sink_kind!r}: use one of {', '.join(SINKS)}")
    sys.stdout = sink
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield sink
    finally:
        sys.stdout = saved_stdout
        if opened is not None:
            opened.close()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


Case = tuple[Callable[..., Any], dict[str, Any], bool]


def load_baseline(layer: Path) -> Any:
    """The runtime module in ``layer``, imported as ``BASELINE_PACKAGE`` beside this one (its own modules)."""
    import importlib.util

    package = layer / "thermostat_runtime"
    spec = importlib.util.spec_from_file_location(
        BASELINE_PACKAGE, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise ValueError(f"no thermostat_runtime package in {layer}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[BASELINE_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def baseline_cases(baseline: Any) -> dict[str, Case]:
    """``CHANGED``'s cases built with the baseline layer, on an environment of its own."""
    ours = baseline.warmable(environment=baseline.Environment())(business_handler)
    return {
        BEFORE + WARMABLE: (ours, api_gateway_event(), True),
        BEFORE + PING: (ours, baseline.build_request("warm", correlation_id="round-1", index=0, of=1), True),
        BEFORE + LAMBDA_WARMER_PING: (ours, {"warmer": True, "concurrency": 1}, True),
    }


def build_cases(sink: TextIO) -> tuple[dict[str, Case], Callable[[], None]]:
    """Every wrapped handler with its event and whether a trace id is set; and a cleanup."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.logging.buffer import LoggerBufferConfig
    from lambdawarmer import warmer

    from thermostat_runtime import Environment, Telemetry, build_request, warmable

    # One environment for every @warmable case, as in a Lambda process; a private one so that
    # the module-wide ENVIRONMENT of whoever imported us is left untouched.
    environment = Environment()
    logger = Logger(service="thermostat-bench-overhead", stream=sink)
    buffered = Logger(
        service="thermostat-bench-overhead-buffered", stream=sink, buffer_config=LoggerBufferConfig(max_bytes=20_480)
    )
    metrics = Metrics(namespace="ThermostatBench", service="thermostat-bench")
    powertools_pair = logger.inject_lambda_context(metrics.log_metrics(business_handler))

    def logging_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("order fetched")
        return business_handler(event, context)

    powertools_logged = logger.inject_lambda_context(metrics.log_metrics(logging_handler))
    # What one line costs at the least: the write(2) itself, on the same descriptor, same length.
    line = b"x" * (_telemetry_line_length(environment) - 1) + b"\n"
    fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1

    def writing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        os.write(fd, line)
        return business_handler(event, context)

    # Back to back, a pipe write finds its reader awake and costs little; after other work it
    # must wake the reader first, which is what a line per invocation pays: this floor shows it.
    pair_writing = logger.inject_lambda_context(metrics.log_metrics(writing_handler))
    # The same line written the way it was before 14.3: through sys.stdout's text layer and flush.
    text_sink = Telemetry(sink=lambda text: sys.stdout.write(text + "\n"))
    text_path = warmable(environment=environment, telemetry=text_sink)(business_handler)

    full_stack = warmable(logger=buffered, environment=environment)(
        buffered.inject_lambda_context(metrics.log_metrics(business_handler))
    )
    ours = warmable(environment=environment)(business_handler)
    peer = warmer(business_handler)
    event = api_gateway_event()
    cases: dict[str, Case] = {
        BARE: (business_handler, event, True),
        WRITE_FLOOR: (writing_handler, event, True),
        PAIR_WRITE: (pair_writing, event, True),
        TEXT_WRITE: (text_path, event, True),
        WARMABLE: (ours, event, True),
        PING: (ours, build_request("warm", correlation_id="round-1", index=0, of=1), True),
        LAMBDA_WARMER_PING: (ours, {"warmer": True, "concurrency": 1}, True),
        "lambda-warmer-py @warmer": (peer, event, True),
        "lambda-warmer-py ping (concurrency 1)": (peer, {"warmer": True, "concurrency": 1}, True),
        POWERTOOLS: (powertools_pair, event, True),
        POWERTOOLS_LOGGED: (powertools_logged, event, True),
        FULL_STACK: (full_stack, event, True),
        # Local runs and some harnesses have no trace id: @warmable then makes one per invocation.
        FULL_STACK + ", no trace id": (full_stack, event, False),
    }

    def detach() -> None:
        # Powertools registers a stdlib logger per service: leave none writing to a closed sink.
        for service in (logger.service, buffered.service):
            registered = logging.getLogger(service)
            for handler in list(registered.handlers):
                registered.removeHandler(handler)

    return cases, detach


def _telemetry_line_length(environment: Any) -> int:
    """How long the ordinary invocation's telemetry line is, in bytes with its newline."""
    from thermostat_runtime import Telemetry

    lines: list[str] = []
    line = Telemetry(sink=lines.append).line(
        kind="warm",
        found="warm",
        init_type=environment.init_type,
        init_ms=143.25,
        environment_id=environment.environment_id,
        request_id=LambdaContext.aws_request_id,
        duration_ms=0.012,
    )
    return len(line.encode()) + 1


def _sampler(handler: Callable[..., Any], event: dict[str, Any], traced: bool, context: Any, number: int) -> float:
    if traced:
        return per_call_us(handler, (event, context), number)
    trace = os.environ.pop(TRACE_ENV, None)
    try:
        return per_call_us(handler, (event, context), number)
    finally:
        if trace is not None:
            os.environ[TRACE_ENV] = trace


def profile_top(function: Callable[..., Any], args: tuple[Any, ...], number: int, limit: int = 8) -> list[str]:
    """cProfile's top functions by own time for ``number`` calls (for finding where a goal is lost)."""
    import cProfile
    import pstats
    from io import StringIO

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(number):
        function(*args)
    profiler.disable()
    out = StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(limit)
    lines = out.getvalue().splitlines()
    header = next(index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line for line in lines[header:] if line.strip()]


def measure(
    sink_kind: str,
    *,
    number: int,
    repeats: int,
    profile: bool,
    only: Iterable[str] = (),
    baseline_layer: Path | None = None,
) -> dict[str, Any]:
    """In this process, with stdout on ``sink_kind``: microseconds per call of every case (and profiles).

    ``only``: measure just these cases (all when empty); ``baseline_layer``: add ``CHANGED``'s cases
    built with that layer's runtime module (named ``BEFORE`` + case).
    """
    context = LambdaContext()
    profiles: dict[str, list[str]] = {}
    wanted = set(only)
    with _lambda_like_process(sink_kind) as sink:
        cases, detach = build_cases(sink)
        if baseline_layer is not None:
            before = baseline_cases(load_baseline(baseline_layer))
            # the baseline environment's cold start, spent before anything is timed (as below for ours)
            before[BEFORE + WARMABLE][0](before[BEFORE + WARMABLE][1], context)
            cases.update(before)
            if wanted:
                wanted.update(before)
        if wanted:
            unknown = wanted - set(cases)
            if unknown:
                raise ValueError(f"unknown case(s) {sorted(unknown)}: the cases are {sorted(cases)}")
            cases = {name: case for name, case in cases.items() if name in wanted or name == WARMABLE}
        try:
            # The first @warmable call is the environment's cold start: spend it on an ordinary
            # event, as Lambda would, before anything is timed.
            cases[WARMABLE][0](cases[WARMABLE][1], context)
            samplers = {
                name: partial(_sampler, handler, event, traced, context, number)
                for name, (handler, event, traced) in cases.items()
            }
            samples = interleaved(samplers, repeats, warmup=1)
            if profile:
                for name in (name for name in (WARMABLE, PING, POWERTOOLS) if name in cases):
                    handler, event, _ = cases[name]
                    profiles[name] = profile_top(handler, (event, context), number)
        finally:
            detach()
    return {"us": {name: median(values) for name, values in samples.items()}, "profiles": profiles}


def _drain(fd: int, counted: list[int]) -> None:
    """The log collector's side of the pipe: read until the child closes it, count the bytes."""
    while chunk := os.read(fd, 1 << 16):
        counted[0] += len(chunk)
    os.close(fd)


#: The reader in a process of its own: drain stdin (the pipe), optionally pinned, print the byte count.
_READER_PROCESS = """
import os, sys
if len(sys.argv) > 1:
    os.sched_setaffinity(0, {int(sys.argv[1])})
total = 0
while chunk := os.read(0, 1 << 16):
    total += len(chunk)
print(total)
"""


def _two_cpus() -> tuple[int, int] | None:
    """Two CPUs this process may run on (the child's, the reader's), or None where it cannot pin."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None:
        return None
    cpus = sorted(getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def run_child(
    sink_kind: str,
    *,
    number: int,
    repeats: int,
    profile: bool,
    layer: Path = LAYER_DIR,
    reader: str = "thread",
    only: Iterable[str] = (),
    baseline_layer: Path | None = None,
) -> tuple[dict[str, Any], int]:
    """``measure`` in a fresh interpreter whose stdout is ``sink_kind``; its figures and the bytes it wrote.

    ``layer``: the runtime module's directory the child imports; ``reader`` (pipe sink only): who
    drains the pipe, one of ``READERS``; ``only``: the cases to measure (all when empty);
    ``baseline_layer``: measure ``CHANGED`` with that layer too, in the same child.
    """
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}: use one of {', '.join(READERS)}")
    argv = [sys.executable, "-m", "bench.runtime_overhead", "--child", sink_kind, str(number), str(repeats)]
    if profile:
        argv.append("--profile")
    if only:
        argv += ["--only", json.dumps(list(only))]
    if baseline_layer is not None:
        argv += ["--baseline-layer", str(baseline_layer)]
    cpus = _two_cpus() if reader == "process, other CPU" else None
    if reader == "process, other CPU" and cpus is None:
        raise RuntimeError("the reader cannot be put on another CPU here (one CPU, or no sched_setaffinity)")
    if cpus is not None:
        argv += ["--cpu", str(cpus[0])]
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)  # the pipe case makes stdout unbuffered itself, as Lambda does
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), str(layer), env.get("PYTHONPATH", "")]))
    counted = [0]
    if sink_kind == "pipe":
        read_end, write_end = os.pipe()
        if reader == "thread":
            thread = threading.Thread(target=_drain, args=(read_end, counted), daemon=True)
            thread.start()
            drainer: subprocess.Popen[bytes] | None = None
        else:
            pin = [str(cpus[1])] if cpus is not None else []
            drainer = subprocess.Popen(
                [sys.executable, "-c", _READER_PROCESS, *pin], stdin=read_end, stdout=subprocess.PIPE
            )
            os.close(read_end)
        try:
            done = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT, check=False)
        finally:
            os.close(write_end)
        if drainer is None:
            thread.join()
        else:
            out, _ = drainer.communicate(timeout=60)
            if drainer.returncode != 0:
                raise RuntimeError(f"the pipe's reader process exited {drainer.returncode}")
            counted[0] = int(out)
    else:
        done = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT, check=False
        )
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"runtime_overhead child ({sink_kind}) exited {done.returncode}: {stderr[-2000:]}")
    return json.loads(stderr.strip().splitlines()[-1]), counted[0]


def _report(sink_kind: str, us: dict[str, float], number: int, repeats: int) -> dict[str, Any]:
    base = us[BARE]
    where = "stdout an unbuffered pipe, as in Lambda" if sink_kind == "pipe" else "stdout a buffered file on /dev/null"
    print(f"Per-invocation cost, in-process, {where} (median of {repeats} x {number} calls) — {machine_note()}")
    print(
        format_table(
            ["case", "us/call", "added us", "x bare", "x Powertools pair"],
            [
                (name, value, value - base, f"{ratio(value, base):.1f}x", f"{ratio(value, us[POWERTOOLS]):.2f}x")
                for name, value in us.items()
            ],
        )
    )
    over_pair = ratio(us[WARMABLE], us[POWERTOOLS])
    over_logged = ratio(us[WARMABLE], us[POWERTOOLS_LOGGED])
    over_pair_write = ratio(us[WARMABLE], us[PAIR_WRITE])
    over_text = ratio(us[WARMABLE], us[TEXT_WRITE])
    normal_met = over_pair <= 1.0
    logged_met = over_logged <= GOAL_OVER_LOGGED
    ping_met = us[PING] <= GOAL_PING_US
    print(
        f"goal ({sink_kind}): @warmable <= Powertools pair -> {us[WARMABLE]:.2f} vs {us[POWERTOOLS]:.2f} us "
        f"({over_pair:.2f}x), {verdict(normal_met)}"
    )
    print(
        f"goal ({sink_kind}): @warmable <= {GOAL_OVER_LOGGED}x Powertools pair + logger.info -> "
        f"{us[WARMABLE]:.2f} vs {us[POWERTOOLS_LOGGED]:.2f} us ({over_logged:.2f}x), {verdict(logged_met)}"
    )
    print(f"goal ({sink_kind}): warm ping <= {GOAL_PING_US} us -> {us[PING]:.2f} us, {verdict(ping_met)}")
    print(
        f"@warmable vs the Powertools pair + one bare write of the same line: {over_pair_write:.2f}x; "
        f"vs the same line through sys.stdout.write: {over_text:.2f}x"
    )
    return {
        "us_per_call": us,
        "added_us": {name: value - base for name, value in us.items() if name != BARE},
        "warmable_over_powertools": over_pair,
        "warmable_over_powertools_logged": over_logged,
        "warmable_over_pair_plus_write": over_pair_write,
        "warmable_over_text_write": over_text,
        "goal_normal_met": normal_met,
        "goal_logged_met": logged_met,
        "goal_ping_met": ping_met,
    }


def _compared_table(columns: dict[str, dict[str, float]]) -> str:
    """The compared cases, one column per run, in us per call, and the two goals' figures under them."""
    names = list(columns)
    rows: list[tuple[object, ...]] = [(case, *(columns[name][case] for name in names)) for case in COMPARED]
    rows.append(("@warmable / Powertools pair", *(ratio(columns[n][WARMABLE], columns[n][POWERTOOLS]) for n in names)))
    rows.append(
        (
            "one write after the pair's work (floor - pair)",
            *(columns[n][PAIR_WRITE] - columns[n][POWERTOOLS] for n in names),
        )
    )
    return format_table(["case (us/call)", *names], rows)


def compare_readers(*, number: int, repeats: int) -> dict[str, dict[str, Any]]:
    """The pipe sink with each of ``READERS`` draining it, on the cases that write (``COMPARED``)."""
    readers = [reader for reader in READERS if reader != "process, other CPU" or _two_cpus() is not None]
    columns: dict[str, dict[str, float]] = {}
    for reader in readers:
        child, _ = run_child("pipe", number=number, repeats=repeats, profile=False, reader=reader, only=COMPARED)
        columns[reader] = child["us"]
    print(f"Who drains the pipe (median of {repeats} x {number} calls, each reader its own child) — {machine_note()}")
    print(_compared_table(columns))
    return {
        reader: {
            "us_per_call": us,
            "warmable_over_powertools": ratio(us[WARMABLE], us[POWERTOOLS]),
            "goal_normal_met": us[WARMABLE] <= us[POWERTOOLS],
            "goal_ping_met": us[PING] <= GOAL_PING_US,
        }
        for reader, us in columns.items()
    }


def before_after(baseline_layer: Path, *, number: int, repeats: int, pairs: int) -> dict[str, Any]:
    """``CHANGED`` with ``baseline_layer`` and with this layer, interleaved in one child per sink, ``pairs`` times.

    Both layers run in the same process, on the same sink, sample after sample: a busy neighbour
    slows both alike, which runs alternated in separate children do not ensure.
    """
    only = (BARE, WRITE_FLOOR, PAIR_WRITE, POWERTOOLS, *CHANGED)
    runs: dict[str, list[dict[str, float]]] = {sink: [] for sink in SINKS}
    for _ in range(pairs):
        for sink_kind in SINKS:
            child, _ = run_child(
                sink_kind, number=number, repeats=repeats, profile=False, only=only, baseline_layer=baseline_layer
            )
            runs[sink_kind].append(child["us"])
    print(
        f"Before/after: {baseline_layer} (before) and {LAYER_DIR} (after) in the same child, interleaved; "
        f"{pairs} children per sink, median of their medians ({repeats} x {number} calls) — {machine_note()}"
    )
    rows: list[tuple[object, ...]] = []
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for case in CHANGED:
        row: list[object] = [case]
        for sink_kind in SINKS:
            before = median(run[BEFORE + case] for run in runs[sink_kind])
            after = median(run[case] for run in runs[sink_kind])
            # the ratio per child, then its median: each child's two figures share its conditions
            change = median(ratio(run[case], run[BEFORE + case]) for run in runs[sink_kind])
            summary.setdefault(sink_kind, {})[case] = {"before": before, "after": after, "after_over_before": change}
            row += [before, after, f"{change:.2f}x"]
        rows.append(tuple(row))
    # the unchanged cases, for scale: the same code in both columns, so one figure each
    rows.extend(
        (case, *(cell for sink in SINKS for cell in (median(run[case] for run in runs[sink]), "", "")))
        for case in (POWERTOOLS, PAIR_WRITE, WRITE_FLOOR)
    )
    columns = ("before", "after", "after/before")
    header = ["case (us/call)", *(f"{sink} {column}" for sink in SINKS for column in columns)]
    print(format_table(header, rows))
    return {"baseline_layer": str(baseline_layer), "pairs": pairs, "cases": summary, "runs": runs}


def main(
    *,
    number: int = 20_000,
    repeats: int = 15,
    profile: bool = False,
    readers: bool = True,
    baseline_layer: str | None = None,
    pairs: int = 3,
) -> dict[str, Any]:
    """Measure with each sink in a fresh process, print both tables, return the figures (us per invocation).

    The top-level figures are the pipe sink's (what Lambda has); ``sinks`` holds both. ``readers``
    adds the comparison of who drains the pipe; ``baseline_layer`` a before/after against that layer.
    """
    sinks: dict[str, dict[str, Any]] = {}
    for sink_kind in SINKS:
        child, written = run_child(sink_kind, number=number, repeats=repeats, profile=profile)
        sinks[sink_kind] = _report(sink_kind, child["us"], number, repeats)
        if sink_kind == "pipe":
            sinks[sink_kind]["bytes_through_pipe"] = written
            print(f"bytes the reader drained from the pipe: {written:,}")
        for name, lines in child["profiles"].items():
            print(f"cProfile ({sink_kind}), {name}, top by own time:")
            print("\n".join(lines))
        print()
    figures: dict[str, Any] = {
        "number": number,
        "repeats": repeats,
        **sinks["pipe"],
        "goal_ping_us": GOAL_PING_US,
        "goal_over_logged": GOAL_OVER_LOGGED,
        "sinks": sinks,
    }
    if readers:
        figures["readers"] = compare_readers(number=number, repeats=repeats)
        print()
    if baseline_layer is not None:
        figures["before_after"] = before_after(Path(baseline_layer), number=number, repeats=repeats, pairs=pairs)
    return figures


def _child(argv: list[str]) -> None:
    sink_kind, number, repeats = argv[0], int(argv[1]), int(argv[2])
    options = argv[3:]
    only: list[str] = json.loads(options[options.index("--only") + 1]) if "--only" in options else []
    if "--cpu" in options:
        os.sched_setaffinity(0, {int(options[options.index("--cpu") + 1])})
    baseline = Path(options[options.index("--baseline-layer") + 1]) if "--baseline-layer" in options else None
    figures = measure(
        sink_kind, number=number, repeats=repeats, profile="--profile" in options, only=only, baseline_layer=baseline
    )
    # stdout is the sink under test: the figures leave on stderr, as the last line.
    sys.stderr.write(json.dumps(figures) + "\n")


def _main_options(argv: list[str]) -> dict[str, Any]:
    """``--profile``, ``--no-readers``, ``--baseline-layer DIR``, ``--pairs N``, ``--number N``, ``--repeats N``."""
    options: dict[str, Any] = {"profile": "--profile" in argv, "readers": "--no-readers" not in argv}
    for flag, name, kind in (
        ("--baseline-layer", "baseline_layer", str),
        ("--pairs", "pairs", int),
        ("--number", "number", int),
        ("--repeats", "repeats", int),
    ):
        if flag in argv:
            options[name] = kind(argv[argv.index(flag) + 1])
    return options


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main(**_main_options(sys.argv[1:]))
