"""``concurrency: auto`` in the local stack: a burst of real traffic raises N in the next round.

Everything is real but the cloud: the local runner runs the function (wearing ``@warmable``) and
writes its ``REPORT`` lines and thermostat's own per-invocation lines to the local CloudWatch Logs
(moto), the CLI's round reads them back through the platform-records source, and keep-warm's own
pings are told apart by thermostat's lines. The expected peak is what the test itself did: five
requests held open together (each waits until all five have arrived, then holds half a second:
``tests/functions/rendezvous.py``), after three that ran one after another and seven
overlapping pings.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.runner_model import FunctionSpec
from emulator.stack import LAYER, ROOT, LocalStack
from handlers import wiring
from handlers.cli import main

pytestmark = pytest.mark.e2e

FUNCTION = "auto-echo"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    document: dict[str, Any] = json.loads(out)
    return document


def test_a_burst_of_real_traffic_raises_the_auto_target_s_n_in_the_next_round(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every round reads the history afresh (the default keeps a read for an hour).
    monkeypatch.setenv("THERMOSTAT_AUTO_TTL", "0")
    with LocalStack(state_file=tmp_path / "local.json", run_schedules=False, demo_targets=False) as stack:
        assert stack.runner is not None
        stack.runner.add_function(
            FunctionSpec(
                name=FUNCTION,
                handler="tests.functions.rendezvous.handler",
                code_paths=(str(ROOT), str(LAYER)),
                timeout_s=10.0,
            )
        )
        stack.runner.create_alias(FUNCTION, "live", stack.runner.publish_version(FUNCTION))
        wiring.reset()
        run(capsys, "targets", "add", FUNCTION, "--qualifier", "live", "--concurrency", "auto", "--max", "8")

        # Given a first round with no traffic yet: N is min
        first = run(capsys, "warm")["targets"][0]
        assert (first["auto"]["n"], first["planned"]) == (1, 1)
        assert first["auto"]["reason"].startswith("no traffic")

        # And seven of keep-warm's own pings at once (a fixed target of the same function's version)
        run(capsys, "targets", "add", FUNCTION, "--qualifier", "1", "--concurrency", "7", "--group", "other")
        assert run(capsys, "warm", "--group", "other")["targets"][0]["environments"] == 7

        # When real traffic comes: three requests one after another, then a burst of five at once
        client = boto3.client("lambda")

        def call(event: dict[str, Any]) -> dict[str, Any]:
            answer = client.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=json.dumps(event).encode())
            assert "FunctionError" not in answer
            reply: dict[str, Any] = json.loads(answer["Payload"].read())
            return reply

        for _ in range(3):
            assert call({}) == {"ok": True}
        burst = {"meet": str(tmp_path / "burst"), "of": 5, "hold_s": 0.5}
        with ThreadPoolExecutor(max_workers=5) as pool:
            assert list(pool.map(call, [burst] * 5)) == [{"met": True}] * 5
        assert stack.logs.flush()

        # Then the next round warms five: the burst's peak, not the eight requests, and not the seven pings
        second = run(capsys, "warm")["targets"][0]
        assert second["auto"]["source"] == "platform-records"
        assert second["auto"]["n"] == 5, second["auto"]
        assert (second["planned"], second["environments"]) == (5, 5)
        assert "= 5 (platform-records)" in second["auto"]["reason"]
        # And the table keeps the decision, which `targets list` shows
        [stored] = run(capsys, "targets", "list", "--group", "default")["targets"]
        assert (stored["concurrency"], stored["auto_n"]) == ("auto", 5)
        assert stored["auto_reason"] == second["auto"]["reason"]
    wiring.reset()
