"""``thermostat report`` filters on AWS's side: only thermostat's EMF documents cross the network.

The oracle for the pattern's meaning is AWS's own documentation of filter patterns, whose examples
are the fixtures of the first test; moto's threaded server (the same ``FilterLogEvents`` the CLI
calls) must agree with them for the constructs the pattern uses (bare terms, all required,
case-sensitive substrings). The bytes are counted by a reverse proxy on 127.0.0.1 in front of moto:
what crossed the wire, not what the SDK decided to keep.
"""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from domain.errors import InvalidInput
from handlers.cli import main
from infra.telemetry_source import CloudWatchLogsTelemetry, telemetry_filter_pattern
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.integration

#: AWS, "Filter and Pattern Syntax", "Matching Terms in Log Events" (examples 1 and 3) and
#: "OR Pattern Matching": awsdocs/amazon-cloudwatch-logs-user-guide, doc_source/FilterAndPatternSyntax.md,
#: commit 1487b9496d8366bf7039a1efbeeb3a0702b42c50. (pattern, messages, the ones AWS says match)
AWS_TERM_EXAMPLES = [
    (
        "ERROR",
        ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1", "WARN message"],
        ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"],
    ),
    (
        "ERROR Exception",
        ["[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception", "ERROR message"],
        ["[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception"],
    ),
    (
        "ERROR WARN",
        ["ERROR WARN message", "ERROR message", "WARN message"],
        ["ERROR WARN message"],
    ),
    (
        '"Failed to process the request"',
        ["[WARN] Failed to process the request", "[ERROR] Unable to continue: Failed to process the request", "x"],
        ["[WARN] Failed to process the request", "[ERROR] Unable to continue: Failed to process the request"],
    ),
]

TELEMETRY_SHARE = 100  # one line in a hundred is thermostat's


class _CountingProxy(BaseHTTPRequestHandler):
    """Forwards every request to moto and counts the bytes of each answer."""

    upstream: tuple[str, int]
    counts: dict[str, int]
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        finally:
            connection.close()
        target = self.headers.get("X-Amz-Target", "")
        with self.lock:
            self.counts[target] = self.counts.get(target, 0) + len(payload)
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


@pytest.fixture
def counting_proxy(moto_server: str) -> Iterator[tuple[str, dict[str, int]]]:
    """A reverse proxy on 127.0.0.1 in front of moto; yields its URL and the bytes answered per API."""
    parsed = urllib.parse.urlsplit(moto_server)
    counts: dict[str, int] = {}
    handler = type("Proxy", (_CountingProxy,), {"upstream": (parsed.hostname, parsed.port), "counts": counts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def put_lines(logs: Any, group: str, lines: list[str]) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    for start in range(0, len(lines), 1000):
        batch = lines[start : start + 1000]
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now + start + i, "message": line} for i, line in enumerate(batch)],
        )


def runtime_lines(count: int) -> list[str]:
    """The runtime module's own lines, every start kind, errors and peers included."""
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = "orders"
    kinds = [("cold", "cold"), ("warm", "warm"), ("warm_ping", "warm"), ("restore", "restore")]
    lines = []
    for i in range(count):
        kind, found = kinds[i % len(kinds)]
        lines.append(
            telemetry.line(
                kind=kind,
                found=found,
                init_type="on-demand",
                init_ms=80.0,
                environment_id=f"env-{i % 7}",
                request_id=f"req-{i}",
                duration_ms=1.5,
                error="ValueError" if i % 10 == 5 else None,
                peer="lambda-warmer" if kind == "warm_ping" else None,
            )
        )
    return lines


def ordinary_lines(count: int) -> list[str]:
    """What else a function writes: platform lines, Powertools JSON logs (some naming thermostat), its own EMF."""
    lines = []
    for i in range(count):
        shape = i % 5
        if shape == 0:
            lines.append(f"START RequestId: req-{i} Version: $LATEST")
        elif shape == 1:
            lines.append(f"REPORT RequestId: req-{i}\tDuration: 12.3 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB")
        elif shape == 2:
            record = {
                "level": "INFO",
                "location": "handler:42",
                "message": f"order {i} accepted; warmed by thermostat",
                "timestamp": "2026-12-02 08:00:00,000+0000",
                "service": "orders",
                "cold_start": False,
                "function_name": "orders",
                "function_request_id": f"req-{i}",
                "xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            }
            lines.append(json.dumps(record))
        elif shape == 3:
            # The function's own Powertools metrics: EMF, but not in thermostat's namespace.
            emf = {
                "_aws": {
                    "Timestamp": 1764662400000 + i,
                    "CloudWatchMetrics": [
                        {"Namespace": "Orders", "Dimensions": [["service"]], "Metrics": [{"Name": "OrdersPlaced"}]}
                    ],
                },
                "service": "orders",
                "OrdersPlaced": [1.0],
            }
            lines.append(json.dumps(emf, separators=(",", ":")))
        else:
            lines.append(f"END RequestId: req-{i}")
    return lines


def control_plane_lines() -> list[str]:
    """Keep-warm's per-target metrics and the hook's verdict, as the real handlers print them."""
    from domain.hook import HookStatus, Verdict
    from domain.keep_warm.reports import RoundReport, TargetReport
    from handlers.keep_warm import publish_report_metrics
    from handlers.pre_traffic import publish_verdict_metrics
    from infra import observability

    observability.get_metrics.cache_clear()
    out = io.StringIO()
    with redirect_stdout(out):
        target = TargetReport(function="orders", qualifier="live", group="default", concurrency=3, sent=3)
        publish_report_metrics(RoundReport(group="default", targets=[target.model_copy(update={"environments": 3})]))
        publish_verdict_metrics(Verdict(status=HookStatus.FAILED, function="orders", version="7", reason="probe"))
        observability.publish_metrics()
    observability.get_metrics.cache_clear()
    return [line for line in out.getvalue().splitlines() if line.strip()]


def test_moto_agrees_with_awss_documented_term_examples(moto_server: str) -> None:
    # Given AWS's documented examples, each in its own log group in moto
    logs = boto3.client("logs")
    for n, (pattern, messages, expected) in enumerate(AWS_TERM_EXAMPLES):
        group = f"/docs/example-{n}"
        put_lines(logs, group, messages)

        # When moto filters them with the documented pattern
        events = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]

        # Then exactly the documented matches come back
        assert [event["message"] for event in events] == expected, pattern


def test_the_pattern_is_two_required_terms_quoted_only_where_the_syntax_requires() -> None:
    # Terms "that include characters other than alphanumeric or underscore must be placed inside double quotes".
    assert telemetry_filter_pattern() == "CloudWatchMetrics Thermostat"
    assert telemetry_filter_pattern("Thermostat_Test") == "CloudWatchMetrics Thermostat_Test"
    assert telemetry_filter_pattern("Acme/Thermostat") == 'CloudWatchMetrics "Acme/Thermostat"'
    assert telemetry_filter_pattern("acme thermostat") == 'CloudWatchMetrics "acme thermostat"'
    for bad in ("", 'say "hi"', "Thermostat!", "x" * 256):
        with pytest.raises(InvalidInput, match="not a CloudWatch namespace"):
            telemetry_filter_pattern(bad)


def test_report_reads_only_thermostats_lines_and_a_fraction_of_the_bytes(
    counting_proxy: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function's log group where thermostat's lines are 1 % of 10,000, and the control plane's groups
    proxy_url, counts = counting_proxy
    logs = boto3.client("logs")
    telemetry = runtime_lines(10_000 // TELEMETRY_SHARE)
    others = ordinary_lines(10_000 - len(telemetry))
    mixed = [line for pair in zip(others[: len(telemetry)], telemetry, strict=True) for line in pair]
    put_lines(logs, "/aws/lambda/orders", others[len(telemetry) :] + mixed)
    put_lines(logs, "/thermostat/prod/keep-warm", ["START RequestId: k", *control_plane_lines(), "END RequestId: k"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy_url)
    client = boto3.client("logs", config=Config(retries={"max_attempts": 1}))

    # When the group is read without a pattern (the old code) and with thermostat's pattern
    before = list(CloudWatchLogsTelemetry(client=client, unfiltered=True).records())
    before_bytes = counts.pop("Logs_20140328.FilterLogEvents")
    after = list(CloudWatchLogsTelemetry(client=client).records())
    after_bytes = counts.pop("Logs_20140328.FilterLogEvents")

    # Then the same thermostat documents are read, and only what matches crossed the wire
    ours = [document for document in before if document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Thermostat"]
    assert after == ours
    assert len(after) == len(telemetry)
    with capsys.disabled():  # the figure the README quotes (seen with -s)
        print(f"\nFilterLogEvents bytes, 10,000 lines, 1 % telemetry: before {before_bytes}, after {after_bytes}")
    assert after_bytes * 20 < before_bytes

    # And the command itself sends the pattern: its report has every kind of record, control plane included
    # (its fleet section, which reads Lambda's REPORT lines, is pointed at no group: only telemetry is counted)
    assert main(["report", "--since", "1h", "--json", "--function", "absent"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == len(telemetry) + 3  # + keep-warm's target, the verdict, HookWarmEnvironments
    [orders] = report["starts"]
    assert (orders["invocations"], orders["pings"], orders["errors"]) == (75, 25, 10)
    [warm] = report["warm"]
    assert (warm["target"], warm["last_environments"]) == ("orders:live", 3.0)
    [hook] = report["hooks"]
    assert (hook["target"], hook["failed"]) == ("orders", 1)
    assert counts.pop("Logs_20140328.FilterLogEvents") < before_bytes / 20


def test_a_namespace_that_cannot_be_a_pattern_is_refused_with_what_to_fix(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a namespace CloudWatch would never accept
    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", "Thermo$tat")

    # When the report is asked for, Then it is a usage error that names the variable's value and the rule
    assert main(["report"]) == 2
    assert "'Thermo$tat' is not a CloudWatch namespace" in capsys.readouterr().err


def test_a_namespace_that_needs_quotes_is_still_matched(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given functions and the command configured with a namespace the pattern must quote
    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", "Acme/Thermostat")
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = "orders"
    line = telemetry.line(
        kind="cold",
        found="cold",
        init_type="on-demand",
        init_ms=80.0,
        environment_id="e",
        request_id="r",
        duration_ms=1,
    )
    default = Telemetry(sink=lambda _line: None, namespace="Thermostat")
    default.function_name = "other"
    elsewhere = default.line(
        kind="cold",
        found="cold",
        init_type="on-demand",
        init_ms=80.0,
        environment_id="e",
        request_id="r",
        duration_ms=1,
    )
    put_lines(boto3.client("logs"), "/aws/lambda/orders", ["START RequestId: r", line, elsewhere, "END RequestId: r"])

    # When the report runs, Then it reads the line in its namespace, and only that one
    assert main(["report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["function"] for row in report["starts"]] == ["orders"]
    assert report["records"] == 1
