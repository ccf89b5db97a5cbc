"""Our own handlers' wrapper: one start classification, metrics flushed only when present."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from infra import observability
from thermostat_runtime import build_request

pytestmark = pytest.mark.unit


def test_entrypoint_answers_pings_without_running_the_function(
    fresh_observability: None, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Any] = []

    @observability.entrypoint
    def lambda_handler(event: Any, context: Any) -> Any:
        calls.append(event)
        return {"done": True}

    reply = lambda_handler(build_request("warm"), SimpleNamespace(aws_request_id="r-1"))
    assert reply["thermostat"]["warm"] is True
    assert calls == []
    assert lambda_handler({"group": "default"}, SimpleNamespace(aws_request_id="r-2")) == {"done": True}
    assert calls == [{"group": "default"}]


def test_metrics_are_published_only_when_recorded(
    fresh_observability: None, capsys: pytest.CaptureFixture[str]
) -> None:
    @observability.entrypoint
    def lambda_handler(event: Any, context: Any) -> Any:
        if event.get("count"):
            observability.get_metrics().add_metric(name="Things", unit=observability.MetricUnit.Count, value=2)
        return None

    # No metric recorded: no empty EMF document and no Powertools warning (warnings are errors here)
    lambda_handler({"count": False}, None)
    quiet = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert all("Things" not in document for document in quiet)

    lambda_handler({"count": True}, None)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    published = [d for d in documents if "Things" in d]
    assert len(published) == 1
    assert published[0]["Things"] == [2.0] or published[0]["Things"] == 2.0
    assert published[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ThermostatTest"


ENTRYPOINT_SCRIPT = """
import json, sys
from infra.observability import entrypoint, get_logger
from thermostat_runtime import build_request

@entrypoint
def lambda_handler(event, context):
    get_logger().info("business")
    return None

if sys.argv[1] == "ping-first":
    lambda_handler(build_request("warm"), None)
lambda_handler({"group": "default"}, None)
"""


@pytest.mark.parametrize(("order", "kind", "cold"), [("ping-first", "warm", False), ("call-first", "cold", True)])
def test_control_plane_logs_agree_with_the_telemetry(order: str, kind: str, cold: bool) -> None:
    # Given one of thermostat's own handlers in a fresh environment, When a ping comes first (or
    # not), Then its Powertools log line and its telemetry line tell the same start kind.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "_X_AMZN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "serverless" / "layer" / "python")])
    command = [sys.executable, "-c", ENTRYPOINT_SCRIPT, order]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    documents = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    [log] = [d for d in documents if d.get("message") == "business"]
    telemetry = [d for d in documents if d.get("thermostat") == 1]
    assert (log["start_kind"], log["cold_start"]) == (kind, cold)
    assert telemetry[-1]["start_kind"] == kind
    assert telemetry[-1]["cold_start"] is cold
