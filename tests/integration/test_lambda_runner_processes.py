"""No process outlives the local Lambda runner: not after stop(), not after the runner is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest

from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


def spec(name: str, module: str, **overrides: Any) -> FunctionSpec:
    fields: dict[str, Any] = {"handler": f"tests.functions.{module}.handler", "code_paths": [ROOT], **overrides}
    return FunctionSpec(name=name, **fields)


def alive(pids: list[int], wait_s: float) -> list[int]:
    """The pids still running after waiting (bounded) for them to go; zombies count as gone."""
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _gone, still = psutil.wait_procs(processes, timeout=wait_s)
    return [p.pid for p in still if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_stop_kills_every_worker_and_the_children_they_started(aws_env: None) -> None:
    # Given idle, provisioned and busy environments, and a worker that started a child process
    runner = LambdaRunner().start()
    try:
        runner.add_function(spec("echo", "echo"))
        runner.add_function(spec("slow", "slow", timeout_s=60))
        runner.add_function(spec("spawner", "spawner"))
        runner.invoke("echo", b"{}")
        runner.publish_version("echo")
        runner.set_provisioned_concurrency("echo", "1", 2)
        child_pid = runner.invoke("spawner", b"{}").json()["child_pid"]
        import threading

        busy = threading.Thread(target=runner.invoke, args=("slow", b'{"seconds": 60}'), daemon=True)
        busy.start()
        for _ in range(200):
            if any(env["state"] == "busy" for env in runner.environments("slow")):
                break
            threading.Event().wait(0.05)
        pids = [env["pid"] for env in runner.environments()]
        assert len(pids) == 5
        assert psutil.pid_exists(child_pid)
    finally:
        # When the runner stops
        runner.stop()

    # Then no worker and no child of a worker survives, and the busy caller got its answer
    assert alive([*pids, child_pid], wait_s=10) == []
    busy.join(timeout=10)
    assert not busy.is_alive()
    assert runner.environments() == []


def test_stop_is_idempotent_and_a_stopped_runner_refuses_work(aws_env: None) -> None:
    runner = LambdaRunner().start()
    runner.add_function(spec("echo", "echo"))
    runner.stop()
    runner.stop()

    from domain.errors import Unavailable

    with pytest.raises(Unavailable, match="stopping"):
        runner.invoke("echo", b"{}")
    with pytest.raises(Unavailable, match="was stopped"):
        runner.start()


_PARENT = textwrap.dedent(
    """
    import json, sys, threading, time
    sys.path[:0] = [{root!r}]
    from emulator.lambda_runner import FunctionSpec, LambdaRunner

    runner = LambdaRunner().start()
    runner.add_function(FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[{root!r}]))
    runner.add_function(FunctionSpec(name="slow", handler="tests.functions.slow.handler", code_paths=[{root!r}],
                                     timeout_s=120))
    runner.invoke("echo", b"{{}}")
    threading.Thread(target=runner.invoke, args=("slow", b'{{"seconds": 120}}'), daemon=True).start()
    for _ in range(400):
        if any(env["state"] == "busy" for env in runner.environments("slow")):
            break
        time.sleep(0.05)
    print(json.dumps([env["pid"] for env in runner.environments()]), flush=True)
    time.sleep(120)
    """
)


def test_workers_exit_when_the_runner_process_is_killed_with_sigkill(aws_env: None) -> None:
    # Given a runner process with an idle and a busy worker
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT.format(root=ROOT)],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        assert len(pids) == 2
        assert all(psutil.pid_exists(pid) for pid in pids)

        # When the runner process is killed without any chance to clean up
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)

        # Then its workers notice and exit by themselves
        assert alive(pids, wait_s=15) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
