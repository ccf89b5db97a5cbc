"""Bytes ``thermostat report`` reads from CloudWatch Logs, without and with its filter pattern.

A log group of ``lines`` events (default 10,000) where ``share`` of them (default 1 %) are the
runtime module's telemetry lines; the rest are what a function also writes (platform lines,
Powertools JSON logs, the function's own EMF in another namespace). Read twice through the
command's own adapter, moto in-process: without a pattern (the code before the filter) and with
``telemetry_filter_pattern()``. The bytes are the bodies of the ``FilterLogEvents`` answers, taken
from botocore's ``response-received`` hook on the client. Side by side: bytes and events of each
read, and the filtered read as a share of the unfiltered one; both reads must yield the same
thermostat documents.

Run: ``.venv/bin/python -m bench.report_bytes``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "serverless" / "layer" / "python"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench._common import format_table, machine_note, ratio  # noqa: E402

GROUP = "/aws/lambda/orders"


def _environment() -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "THERMOSTAT_")):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )


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


def main(lines: int = 10_000, share: float = 0.01) -> dict[str, Any]:
    """Seed the group, read it both ways, print the side-by-side table and return the figures."""
    _environment()
    from moto import mock_aws

    with mock_aws():
        return _run(lines, share)


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
