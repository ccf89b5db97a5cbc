"""Bytes ``thermostat report`` reads from CloudWatch Logs, without and with its filter pattern.

A log group of ``lines`` events (default 10,000) where ``share`` of them (default 1 %) are the
runtime module's telemetry lines; the rest are what a function also writes (platform lines,
Powertools JSON logs, the function's own EMF in another namespace). Read twice through the
command's own adapter, moto in-process: without a pattern (the code before the filter) and with
``telemetry_filter_pattern()``. The bytes are the bodies of the ``FilterLogEvents`` answers, taken
from botocore's ``response-received`` hook on the client. Side by side: bytes and events of each
read, and the filtered read as a share of the unfiltered one; both reads must yield the same
thermostat documents.

The fleet section (Lambda's own platform records, every function) is measured the same way on a
second pair of groups of ``platform_lines`` lines in all (default 100,000): half a text-format
function (``START``, two application lines, ``END``, ``REPORT``), half a JSON-format one
(``platform.start``, two application lines, ``platform.report``), one invocation in ten cold.
Before: every event downloaded (no pattern) and parsed; after: the adapter's two patterns
(``REPORT``, ``"platform."``). Both must yield the same platform records.

Run: ``.venv/bin/python -m bench.report_bytes``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "serverless" / "layer" / "python"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench._common import format_table, machine_note, offline_aws, ratio  # noqa: E402

GROUP = "/aws/lambda/orders"


def _lines(total: int, share: float) -> tuple[list[str], int]:
    """``total`` log lines, every ``1/share``-th one a telemetry line; and how many those are."""
    from thermostat_runtime import Telemetry

    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = "orders"
    every = max(1, round(1 / share))
    lines, ours = [], 0
    for i in range(total):
        if i % every == every - 1:
            ours += 1
            kind = ("cold", "warm", "warm_ping")[ours % 3]
            lines.append(
                telemetry.line(
                    kind=kind,
                    found="warm" if kind != "cold" else "cold",
                    init_type="on-demand",
                    init_ms=80.0,
                    environment_id=f"env-{i % 7}",
                    request_id=f"req-{i}",
                    duration_ms=1.5,
                )
            )
        elif i % 4 == 0:
            lines.append(f"START RequestId: req-{i} Version: $LATEST")
        elif i % 4 == 1:
            record = {
                "level": "INFO",
                "location": "handler:42",
                "message": f"order {i} accepted",
                "timestamp": "2026-12-02 08:00:00,000+0000",
                "service": "orders",
                "cold_start": False,
                "function_name": "orders",
                "function_request_id": f"req-{i}",
            }
            lines.append(json.dumps(record))
        elif i % 4 == 2:
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
            lines.append(f"REPORT RequestId: req-{i}\tDuration: 12.3 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB")
    return lines, ours


def main(lines: int = 10_000, share: float = 0.01, platform_lines: int = 100_000) -> dict[str, Any]:
    """Seed the groups, read them both ways, print the side-by-side tables and return the figures."""
    offline_aws()
    from moto import mock_aws

    with mock_aws():
        figures = _run(lines, share)
        figures.update(_run_platform(platform_lines))
        return figures


def _platform_lines(total: int, log_format: str) -> list[str]:
    """``total`` lines of one function's group in ``log_format``, one invocation in ten cold."""
    out: list[str] = []
    i = 0
    while len(out) < total:
        request = f"6d68ca91-49c9-448d-89b8-{i:012d}"
        cold = i % 10 == 0
        app = [
            json.dumps({"level": "INFO", "message": f"order {i} accepted", "requestId": request}),
            json.dumps({"level": "INFO", "message": f"order {i} stored", "requestId": request}),
        ]
        if log_format == "text":
            init = "\tInit Duration: 181.22 ms" if cold else ""
            out += [
                f"START RequestId: {request} Version: $LATEST",
                *app,
                f"END RequestId: {request}",
                f"REPORT RequestId: {request}\tDuration: 12.31 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB"
                f"\tMax Memory Used: 80 MB{init}",
            ]
        else:
            metrics: dict[str, Any] = {"durationMs": 12.31, "billedDurationMs": 13, "memorySizeMB": 512}
            if cold:
                metrics["initDurationMs"] = 181.22
            start = {"requestId": request, "version": "$LATEST"}
            report = {"requestId": request, "metrics": metrics, "status": "success"}
            out += [
                json.dumps({"time": "2026-12-02T08:00:00.000Z", "type": "platform.start", "record": start}),
                *app,
                json.dumps({"time": "2026-12-02T08:00:00.100Z", "type": "platform.report", "record": report}),
            ]
        i += 1
    return out[:total]


def _run_platform(total: int) -> dict[str, Any]:
    from domain.platform_report import parse_platform_message
    from infra import aws
    from infra.platform_source import CloudWatchLogsPlatform

    client = aws.client("logs")
    groups = {"/aws/lambda/fleet-text": "text", "/aws/lambda/fleet-json": "json"}
    now = int(time.time() * 1000)
    for group, log_format in groups.items():
        messages = _platform_lines(total // 2, log_format)
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="2026/12/02/[$LATEST]e")
        for start in range(0, len(messages), 1000):
            client.put_log_events(
                logGroupName=group,
                logStreamName="2026/12/02/[$LATEST]e",
                logEvents=[
                    {"timestamp": now + start + i, "message": m} for i, m in enumerate(messages[start : start + 1000])
                ],
            )
    received = {"bytes": 0}

    def count(response_dict: dict[str, Any], **_: Any) -> None:
        received["bytes"] += len(response_dict.get("body") or b"")

    client.meta.events.register("response-received.cloudwatch-logs.FilterLogEvents", count, unique_id="fleet-bytes")
    # Before: no pattern, every event of every group downloaded and parsed.
    before_records, before_events = [], 0
    for group in groups:
        function = group.rsplit("/", 1)[-1]
        for page in client.get_paginator("filter_log_events").paginate(logGroupName=group):
            for event in page["events"]:
                before_events += 1
                record = parse_platform_message(
                    event["message"], function, stream=event["logStreamName"], timestamp_ms=event["timestamp"]
                )
                if record is not None:
                    before_records.append(record)
    before_bytes, received["bytes"] = received["bytes"], 0
    read = CloudWatchLogsPlatform(client=client, functions=[g.rsplit("/", 1)[-1] for g in groups]).read()
    after_bytes = received["bytes"]
    same = sorted(map(repr, before_records)) == sorted(map(repr, read.records))
    share_of_bytes = ratio(after_bytes, before_bytes)
    print()
    print(f"Platform records (fleet section): {total} lines in two groups (text and JSON formats); moto in-process")
    print(
        format_table(
            ["read", "events received", "records", "bytes received", "x unfiltered"],
            [
                ["no filter pattern (before)", before_events, len(before_records), before_bytes, 1.0],
                [
                    "patterns 'REPORT', '\"platform.\"' (after)",
                    read.events,
                    len(read.records),
                    after_bytes,
                    share_of_bytes,
                ],
            ],
        )
    )
    print(f"same platform records both ways: {same}")
    return {
        "platform_lines": total,
        "platform_records": len(read.records),
        "platform_before_events": before_events,
        "platform_after_events": read.events,
        "platform_before_bytes": before_bytes,
        "platform_after_bytes": after_bytes,
        "platform_after_share_of_before": share_of_bytes,
        "platform_same_records": same,
    }


def _run(total: int, share: float) -> dict[str, Any]:
    from infra import aws
    from infra.telemetry_source import CloudWatchLogsTelemetry, telemetry_filter_pattern

    client = aws.client("logs")
    messages, ours = _lines(total, share)
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="s")
    now = int(time.time() * 1000)
    for start in range(0, len(messages), 1000):
        batch = messages[start : start + 1000]
        client.put_log_events(
            logGroupName=GROUP,
            logStreamName="s",
            logEvents=[{"timestamp": now + start + i, "message": m} for i, m in enumerate(batch)],
        )
    received = {"bytes": 0, "events": 0}

    def count(response_dict: dict[str, Any], parsed_response: dict[str, Any], **_: Any) -> None:
        received["bytes"] += len(response_dict.get("body") or b"")
        received["events"] += len(parsed_response.get("events") or [])

    client.meta.events.register("response-received.cloudwatch-logs.FilterLogEvents", count)

    def read(**options: Any) -> tuple[list[dict[str, Any]], int, int]:
        received.update(bytes=0, events=0)
        documents = list(CloudWatchLogsTelemetry(client=client, prefix=GROUP, **options).records())
        return documents, received["bytes"], received["events"]

    before, before_bytes, before_events = read(unfiltered=True)
    after, after_bytes, after_events = read()
    thermostat = [d for d in before if d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Thermostat"]
    same = after == thermostat and len(after) == ours
    share_of_bytes = ratio(after_bytes, before_bytes)

    print(f"FilterLogEvents on one group: {total} lines, {ours} of them thermostat's ({share:.0%}); moto in-process")
    print(
        format_table(
            ["read", "events received", "bytes received", "x unfiltered"],
            [
                ["no filter pattern (before)", before_events, before_bytes, 1.0],
                [f"filterPattern {telemetry_filter_pattern()!r}", after_events, after_bytes, share_of_bytes],
            ],
        )
    )
    print(f"same thermostat documents both ways: {same}")
    print(machine_note())
    return {
        "lines": total,
        "telemetry_lines": ours,
        "before_bytes": before_bytes,
        "after_bytes": after_bytes,
        "before_events": before_events,
        "after_events": after_events,
        "after_share_of_before": share_of_bytes,
        "same_documents": same,
    }


if __name__ == "__main__":
    main()
