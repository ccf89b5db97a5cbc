"""Per-invocation overhead of ``@warmable``, in-process, against the bare handler and the peers.

Same run, interleaved, median of repeats; every case gets the same API Gateway proxy event and
the same Lambda-like context, and all output (our telemetry line, Powertools' logger) goes to
/dev/null. Goals (issue 2): an ordinary invocation through ``@warmable`` costs no more than
Powertools' ``inject_lambda_context`` + ``log_metrics`` pair; a warm ping costs <= 20 us.

Powertools' ``log_metrics`` with no metric warns ("No application metrics to publish") on every
invocation: warnings are ignored for the whole run, the cheapest way that warning can be handled.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TextIO

from bench._common import format_table, interleaved, machine_note, median, per_call_us, ratio, verdict

GOAL_PING_US = 20.0
BARE = "bare handler"
WARMABLE = "@warmable"
PING = "@warmable warm ping"
POWERTOOLS = "Powertools inject_lambda_context+log_metrics"

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


@contextmanager
def _lambda_like_process() -> Iterator[TextIO]:
    """Function env vars set, stdout on /dev/null, warnings ignored; everything restored after."""
    saved_env = {name: os.environ.get(name) for name in FUNCTION_ENV}
    os.environ.update(FUNCTION_ENV)
    saved_stdout = sys.stdout
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed in the finally below
    sys.stdout = sink
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield sink
    finally:
        sys.stdout = saved_stdout
        sink.close()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


Case = tuple[Callable[..., Any], dict[str, Any], bool]


def build_cases(sink: TextIO) -> tuple[dict[str, Case], Callable[[], None]]:
    """Every wrapped handler with its event and whether a trace id is set; and a cleanup."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.logging.buffer import LoggerBufferConfig
    from lambdawarmer import warmer

    from thermostat_runtime import Environment, build_request, warmable

    # One environment for every @warmable case, as in a Lambda process; a private one so that
    # the module-wide ENVIRONMENT of whoever imported us is left untouched.
    environment = Environment()
    logger = Logger(service="thermostat-bench-overhead", stream=sink)
    buffered = Logger(
        service="thermostat-bench-overhead-buffered", stream=sink, buffer_config=LoggerBufferConfig(max_bytes=20_480)
    )
    metrics = Metrics(namespace="ThermostatBench", service="thermostat-bench")
    powertools_pair = logger.inject_lambda_context(metrics.log_metrics(business_handler))
    full_stack = warmable(logger=buffered, environment=environment)(
        buffered.inject_lambda_context(metrics.log_metrics(business_handler))
    )
    ours = warmable(environment=environment)(business_handler)
    peer = warmer(business_handler)
    event = api_gateway_event()
    cases: dict[str, Case] = {
        BARE: (business_handler, event, True),
        WARMABLE: (ours, event, True),
        PING: (ours, build_request("warm", correlation_id="round-1", index=0, of=1), True),
        "@warmable answering a lambda-warmer ping": (ours, {"warmer": True, "concurrency": 1}, True),
        "lambda-warmer-py @warmer": (peer, event, True),
        "lambda-warmer-py ping (concurrency 1)": (peer, {"warmer": True, "concurrency": 1}, True),
        POWERTOOLS: (powertools_pair, event, True),
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


def main(*, number: int = 20_000, repeats: int = 15, profile: bool = False) -> dict[str, Any]:
    """Measure, print the side-by-side table, return the figures (microseconds per invocation)."""
    context = LambdaContext()
    profiles: dict[str, list[str]] = {}
    with _lambda_like_process() as sink:
        cases, detach = build_cases(sink)
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
                for name in (WARMABLE, PING, POWERTOOLS):
                    handler, event, _ = cases[name]
                    profiles[name] = profile_top(handler, (event, context), number)
        finally:
            detach()

    us = {name: median(values) for name, values in samples.items()}
    base = us[BARE]
    print(
        f"Per-invocation cost, in-process, output to /dev/null (median of {repeats} x {number} calls)"
        f" — {machine_note()}"
    )
    print(
        format_table(
            ["case", "us/call", "added us", "x bare", "x Powertools pair"],
            [
                (name, value, value - base, f"{ratio(value, base):.1f}x", f"{ratio(value, us[POWERTOOLS]):.2f}x")
                for name, value in us.items()
            ],
        )
    )
    normal_met = us[WARMABLE] <= us[POWERTOOLS]
    ping_met = us[PING] <= GOAL_PING_US
    print(
        f"goal: @warmable <= Powertools pair -> {us[WARMABLE]:.2f} vs {us[POWERTOOLS]:.2f} us "
        f"({ratio(us[WARMABLE], us[POWERTOOLS]):.2f}x), {verdict(normal_met)}"
    )
    print(f"goal: warm ping <= {GOAL_PING_US} us -> {us[PING]:.2f} us, {verdict(ping_met)}")
    for name, lines in profiles.items():
        print(f"cProfile, {name}, top by own time:")
        print("\n".join(lines))
    return {
        "number": number,
        "repeats": repeats,
        "us_per_call": us,
        "added_us": {name: value - base for name, value in us.items() if name != BARE},
        "warmable_over_powertools": ratio(us[WARMABLE], us[POWERTOOLS]),
        "goal_normal_met": normal_met,
        "goal_ping_us": GOAL_PING_US,
        "goal_ping_met": ping_met,
    }


if __name__ == "__main__":
    main(profile="--profile" in sys.argv[1:])
