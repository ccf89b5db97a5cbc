"""``thermostat report`` against CloudWatch Logs in moto."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from handlers.cli import main
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.integration


def put_lines(group: str, lines: list[str]) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )


def test_report_reads_telemetry_from_cloudwatch_logs(
    moto_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = "orders"
    common = {"init_type": "on-demand", "environment_id": "e", "request_id": "r", "duration_ms": 1.0}
    put_lines(
        "/aws/lambda/orders",
        [
            "START RequestId: 1 Version: $LATEST",
            telemetry.line(kind="cold", found="cold", init_ms=80.0, **common),
            telemetry.line(kind="warm", found="warm", init_ms=80.0, **common),
            telemetry.line(kind="warm_ping", found="warm", init_ms=80.0, **common),
        ],
    )
    html = tmp_path / "report.html"
    assert main(["report", "--since", "1h", "--json", "--html", str(html)]) == 0
    report = json.loads(capsys.readouterr().out)
    [orders] = report["starts"]
    assert (orders["function"], orders["invocations"], orders["pings"]) == ("orders", 2, 1)
    assert orders["cold_rate"] == 0.5
    assert "<svg" in html.read_text()

    assert main(["report"]) == 0
    table = capsys.readouterr().out
    assert "orders" in table
    assert "50.0%" in table


def test_hook_verdicts_are_read_from_thermostats_named_log_groups(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The SAM template names the hook's log group /thermostat/<stack>/pre-traffic-hook.
    verdict = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": "Thermostat", "Dimensions": [["status"]], "Metrics": [{"Name": "HookVerdict"}]}
            ],
        },
        "status": "Failed",
        "HookVerdict": 1,
        "function": "orders",
        "version": "7",
        "reason": "invocation 2/5: probe failed",
    }
    put_lines("/thermostat/prod/pre-traffic-hook", [json.dumps(verdict)])
    assert main(["report", "--json"]) == 0
    [hook] = json.loads(capsys.readouterr().out)["hooks"]
    assert (hook["target"], hook["failed"], hook["last_reason"]) == ("orders", 1, "invocation 2/5: probe failed")
