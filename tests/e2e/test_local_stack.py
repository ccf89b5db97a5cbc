"""The main job end to end: the demo scenario over HTTP, and `thermostat local` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from emulator.demo import run_demo
from emulator.stack import LocalStack
from tests.e2e.local_process import ROOT, STATE, run, skip_if_running, start, stop, wait_for_state

pytestmark = pytest.mark.e2e


def test_the_demo_scenario_holds_every_check(aws_env: None, tmp_path: Path) -> None:
    # Given the embedded stack (moto server, local Lambda runner, EventBridge router, CodeDeploy)
    lines: list[str] = []
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    with LocalStack(state_file=tmp_path / "local.json", run_schedules=False) as stack:
        children_before = {p.pid for p in psutil.Process().children(recursive=True)}
        # When the demo runs, every call going through boto3 to the local endpoints
        result = run_demo(stack, lines.append, lambda rows, title: tables.append((title, rows)))
        assert (tmp_path / "local.json").exists()
    # Then every expectation held
    failed = [(name, detail) for name, ok, detail in result.checks if not ok]
    assert failed == []
    names = [name for name, _, _ in result.checks]
    assert "one bucket for all of them" in names
    assert "its bucket is in that account, not ours" in names
    assert "broken version: alias stayed" in names
    assert "auto: N followed the burst to 4" in names
    # And the stack left no process behind, and no state file
    alive = [pid for pid in children_before if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []
    assert not (tmp_path / "local.json").exists()
    # And the environment it borrowed is restored
    assert "AWS_ENDPOINT_URL_LAMBDA" not in os.environ


def test_thermostat_local_serves_takes_put_event_and_stops_cleanly(tmp_path: Path) -> None:
    skip_if_running()
    process = start(refresh=1, output=True)
    output: list[str] = []
    try:
        wait_for_state(process)
        event = tmp_path / "event.json"
        event.write_text((ROOT / "serverless" / "events" / "deployment-requested.json").read_text())
        sent = run("local", "put-event", str(event), "--json", timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["event_id"]
        exported = run("local", "env", "--json", timeout=60)
        assert exported.returncode == 0, exported.stderr
        variables = json.loads(exported.stdout)
        assert variables["AWS_ENDPOINT_URL_LAMBDA"].startswith("http://127.0.0.1:")
        assert variables["THERMOSTAT_TABLE"] == "thermostat-local"
        children = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        output.append(out)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    assert process.returncode == 0, output
    assert "Execution environments" in output[0]
    assert "stopping every process" in output[0]
    # The stack has exited; its children get the signal on its way out. Wait until each is
    # gone (bounded), rather than looking once after a fixed pause that a busy machine outruns.
    _, alive = psutil.wait_procs(children, timeout=30)
    leftovers = [c.pid for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == []
    assert not STATE.exists()


def test_put_event_without_a_running_stack_says_what_to_do(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    done = run("local", "put-event", str(event), timeout=60)
    if STATE.exists():
        pytest.skip("a `thermostat local` is running from this checkout")
    assert done.returncode == 2
    assert "start one with `thermostat local`" in done.stderr


def test_make_runs_command_prints_one_json_document_with_json(tmp_path: Path) -> None:
    # `thermostat local --demo` is what `make run` runs; with --json, progress goes to stderr.
    done = run("local", "--demo", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["ok"] is True
    assert all(check["ok"] for check in document["checks"])
    assert "Deployment Bucket Resolved events" in done.stderr


def test_a_second_thermostat_local_refuses_and_a_killed_ones_state_is_replaced() -> None:
    # Issue 12, item 8: one serving stack per checkout; a state file left by a killed one is stale.
    skip_if_running()
    state = STATE
    first = start(refresh=1, output=True)
    third: subprocess.Popen[str] | None = None
    try:
        # Given a serving `thermostat local`
        wait_for_state(first)

        # When a second one starts in the same checkout
        second = run("local", timeout=120)

        # Then it refuses, naming the first, and leaves the first's state file as it was
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"another `thermostat local` (pid {first.pid})" in second.stderr
        assert json.loads(state.read_text())["pid"] == first.pid

        # When the first is killed (no clean-up runs) and a new one starts
        stop(first, signal.SIGKILL)
        assert json.loads(state.read_text())["pid"] == first.pid  # left behind, stale
        third = start(refresh=1, output=True)

        # Then the new one recognises the stale file, replaces it, and serves
        recorded = wait_for_state(third)
        assert recorded["endpoints"]["AWS_ENDPOINT_URL_LAMBDA"].startswith("http://127.0.0.1:")
        out = stop(third)
        assert third.returncode == 0, out
        assert f"left by a stack that is gone (pid {first.pid})" in out
        assert not state.exists()
    finally:
        for process in (first, third):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
