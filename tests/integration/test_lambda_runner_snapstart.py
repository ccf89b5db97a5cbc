"""SnapStart in the local runner, with ``@warmable(prime=…)``: the snapshot at publish, restores by fork.

The function (``tests/functions/snap_primed.py``) runs in real worker processes: the snapshot is a
process that imported it and ran the ``snapshot_restore_py`` hooks (the PyPI module Lambda's Python
runtime ships), each restore a fork of that process. What Lambda's logs say of SnapStart
(``INIT_REPORT`` at publish; ``Restore Duration``/``Billed Restore Duration`` and no ``Init
Duration`` in a restored environment's first ``REPORT``) is from
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html; the hooks' order and error
types are those of awslambdaric (https://github.com/aws/aws-lambda-python-runtime-interface-client,
``bootstrap.py``, ``lambda_runtime_hooks_runner.py``).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config

from emulator.lambda_runner import FunctionSpec, LambdaRunner

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


def snap_spec(name: str, mode: str = "primed", **overrides: Any) -> FunctionSpec:
    fields: dict[str, Any] = {
        "handler": "tests.functions.snap_primed.handler",
        "code_paths": [ROOT],
        "environment": {"SNAP_MODE": mode},
        "snap_start": True,
        **overrides,
    }
    return FunctionSpec(name=name, **fields)


class Logs:
    """Every line the runner sends to its sink, in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []

    def __call__(self, function: str, version: str, line: str) -> None:
        self.lines.append((function, version, line))

    def of(self, function: str) -> list[str]:
        return [line for name, _version, line in self.lines if name == function]


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture
def runner(aws_env: None, logs: Logs) -> Iterator[LambdaRunner]:
    with LambdaRunner(idle_timeout_s=60, log_sink=logs) as running:
        yield running


def lambda_client(runner: LambdaRunner) -> Any:
    return boto3.client("lambda", endpoint_url=runner.url, config=Config(retries={"max_attempts": 1}, read_timeout=30))


def invoke(runner: LambdaRunner, name: str, qualifier: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """One invocation through boto3, with its log tail; returns ``{"payload", "error", "tail"}``."""
    answer = lambda_client(runner).invoke(
        FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event or {}).encode(), LogType="Tail"
    )
    return {
        "payload": json.loads(answer["Payload"].read()),
        "error": answer.get("FunctionError"),
        "tail": base64.b64decode(answer["LogResult"]).decode(),
    }


def report_of(tail: str) -> str:
    [line] = [line for line in tail.splitlines() if line.startswith("REPORT ")]
    return line


def telemetry_of(tail: str) -> dict[str, Any]:
    [line] = [json.loads(line) for line in tail.splitlines() if line.startswith('{"_aws"')]
    return line


def start_afresh(runner: LambdaRunner, name: str) -> None:
    """Stop every environment of ``name``: its next invocation starts a new one (a restore)."""
    runner.pool.retire(lambda env: env.config.function == name)
    assert runner.environments(name) == []


def test_a_primed_restore_finds_the_probes_work_in_the_snapshot_and_does_not_run_it_again(
    runner: LambdaRunner, logs: Logs
) -> None:
    # Given a SnapStart function primed with its probe, published through the Lambda API
    runner.add_function(snap_spec("primed"))
    version = lambda_client(runner).publish_version(FunctionName="primed")["Version"]
    [snapshot] = runner.snapshots("primed")
    assert snapshot["ready"]
    assert snapshot["error"] is None

    # When the version is invoked (its first environment is restored from the snapshot), then again
    first = invoke(runner, "primed", version)
    second = invoke(runner, "primed", version)

    # Then the cache was built once, in the snapshot's process, before the snapshot; never by the handler
    body = first["payload"]
    assert first["error"] is None
    assert body["builds"] == [snapshot["pid"]]
    assert body["before_snapshot"]["pid"] == snapshot["pid"] != body["pid"]
    assert body["primed_ms"] is not None
    assert second["payload"]["builds"] == [snapshot["pid"]]
    # and the environment is a restore: its own after-restore hook ran in it, under snap-start
    assert body["restores"] == [body["pid"]]
    assert (body["init_type"], body["hooks_loaded"]) == ("snap-start", True)
    assert telemetry_of(first["tail"])["start_kind"] == "restore"
    assert telemetry_of(second["tail"])["start_kind"] == "warm"
    # and Lambda's log lines say so: INIT_REPORT at publish, Restore Duration on the first REPORT only
    lines = logs.of("primed")
    assert lines.index(next(line for line in lines if line.startswith("INIT_REPORT"))) < lines.index(
        next(line for line in lines if line.startswith("START"))
    )
    assert "Status: success" in next(line for line in lines if line.startswith("INIT_REPORT"))
    report = report_of(first["tail"])
    assert "\tRestore Duration: " in report
    assert "\tBilled Restore Duration: " in report
    assert "Init Duration" not in report
    assert "Restore Duration" not in report_of(second["tail"])
    # and, as in Lambda, a SnapStart function has no log group or stream variables
    assert body["log_stream"] is None


def test_two_restores_from_one_snapshot_get_their_own_environment_id_and_random_stream(
    runner: LambdaRunner,
) -> None:
    # Given a primed SnapStart version whose priming made an environment id and drew from random
    runner.add_function(snap_spec("twins"))
    version = runner.publish_version("twins")
    [snapshot] = runner.snapshots("twins")

    # When two environments are restored from its one snapshot
    one = invoke(runner, "twins", version)["payload"]
    start_afresh(runner, "twins")
    two = invoke(runner, "twins", version)["payload"]

    # Then both come from the same snapshot (what it held is the same) in processes of their own
    assert one["before_snapshot"] == two["before_snapshot"]
    assert one["builds"] == two["builds"] == [snapshot["pid"]]
    assert len({one["pid"], two["pid"], snapshot["pid"]}) == 3
    # and each has its own environment id, not the one the snapshot had made
    assert one["environment_id"] != two["environment_id"]
    assert one["before_snapshot"]["environment_id"] not in (one["environment_id"], two["environment_id"])
    # and its own random stream
    assert one["random"] != two["random"]


def test_without_renewal_restores_share_what_the_snapshot_made(runner: LambdaRunner) -> None:
    # Given a SnapStart version whose init makes an id and draws from random, with no priming hooks
    runner.add_function(snap_spec("hazard", mode="plain"))
    version = runner.publish_version("hazard")

    # When two environments are restored from its snapshot
    one = invoke(runner, "hazard", version)["payload"]
    start_afresh(runner, "hazard")
    two = invoke(runner, "hazard", version)["payload"]

    # Then they share the snapshot's environment id and random state: the hazard real snapshots have
    # (the fork's own reseeding of random is undone, as a restore does not reseed), which the
    # renewal in the test above is what removes
    assert one["pid"] != two["pid"]
    assert one["environment_id"] == two["environment_id"] == one["before_snapshot"]["environment_id"]
    assert one["random"] == two["random"]
    assert one["restores"] == two["restores"] == []


def test_latest_starts_on_demand_and_loads_nothing_of_snapstart(runner: LambdaRunner) -> None:
    # Given the same primed function, invoked on $LATEST (SnapStart applies to published versions only)
    runner.add_function(snap_spec("latest"))

    # When it is invoked
    answer = invoke(runner, "latest", "$LATEST")
    body = answer["payload"]

    # Then it is an ordinary cold start: the handler builds the cache, nothing of SnapStart is imported
    assert body["init_type"] == "on-demand"
    assert body["builds"] == [body["pid"]]
    assert body["before_snapshot"] == {}
    assert (body["snapstart_loaded"], body["hooks_loaded"]) == (False, False)
    assert telemetry_of(answer["tail"])["start_kind"] == "cold"
    assert "\tInit Duration: " in report_of(answer["tail"])
    assert runner.snapshots("latest") == []


def test_prime_with_a_callable_runs_that_callable_before_the_snapshot(runner: LambdaRunner) -> None:
    runner.add_function(snap_spec("warm-up", mode="prime_fn"))
    version = runner.publish_version("warm-up")
    [snapshot] = runner.snapshots("warm-up")

    body = invoke(runner, "warm-up", version)["payload"]

    assert body["before_snapshot"]["warm_up"] == snapshot["pid"]
    assert body["builds"] == [snapshot["pid"]]


def test_a_failing_priming_fails_the_snapshot_and_every_invocation_of_the_version(
    runner: LambdaRunner, logs: Logs
) -> None:
    # Given a SnapStart function whose priming raises
    runner.add_function(snap_spec("unprimed", mode="bad_prime"))

    # When its version is published, then invoked
    version = runner.publish_version("unprimed")
    answer = invoke(runner, "unprimed", version)

    # Then the snapshot failed with Lambda's before-snapshot error type, named in the INIT_REPORT
    [snapshot] = runner.snapshots("unprimed")
    assert snapshot["error"]["errorType"] == "Runtime.BeforeSnapshotError"
    assert not snapshot["ready"]
    init_report = next(line for line in logs.of("unprimed") if line.startswith("INIT_REPORT"))
    assert "Status: error\tError Type: Runtime.BeforeSnapshotError" in init_report
    # and each invocation answers that error, naming what the hook raised
    assert answer["error"] == "Unhandled"
    assert answer["payload"]["errorType"] == "Runtime.BeforeSnapshotError"
    assert "ConnectionError: the database is not reachable while priming" in answer["payload"]["errorMessage"]
    assert runner.environments("unprimed") == []


def test_a_failing_after_restore_hook_fails_that_restore(runner: LambdaRunner) -> None:
    runner.add_function(snap_spec("no-reconnect", mode="bad_restore"))
    version = runner.publish_version("no-reconnect")

    answer = invoke(runner, "no-reconnect", version)

    assert answer["error"] == "Unhandled"
    assert answer["payload"]["errorType"] == "Runtime.AfterRestoreError"
    assert "ConnectionError: could not reconnect after the restore" in answer["payload"]["errorMessage"]
    [restore_report] = [line for line in answer["tail"].splitlines() if line.startswith("RESTORE_REPORT")]
    assert "Status: error\tError Type: Runtime.AfterRestoreError" in restore_report
    assert runner.environments("no-reconnect") == []
    # the snapshot itself is intact: the next restore runs the hooks again (and fails again)
    assert runner.snapshots("no-reconnect")[0]["ready"]


def test_a_restored_environment_that_dies_reports_its_exit_status(runner: LambdaRunner) -> None:
    # Given a restored environment (not the runner's child: its snapshot reaps it)
    runner.add_function(snap_spec("dies"))
    version = runner.publish_version("dies")
    pid = invoke(runner, "dies", version)["payload"]["pid"]

    # When the handler exits the process
    answer = invoke(runner, "dies", version, {"exit": 3})

    # Then the runner tells how it ended, as for any environment, and the next invocation restores anew
    assert answer["error"] == "Unhandled"
    assert answer["payload"]["errorType"] == "Runtime.ExitError"
    assert answer["payload"]["errorMessage"].endswith("Runtime exited with error: exit status 3")
    again = invoke(runner, "dies", version)["payload"]
    assert again["pid"] != pid
    assert again["restores"] == [again["pid"]]


def test_stop_leaves_neither_the_snapshot_nor_its_restores(aws_env: None) -> None:
    # Given a runner with a snapshot and two restored environments
    runner = LambdaRunner().start()
    try:
        runner.add_function(snap_spec("gone"))
        version = runner.publish_version("gone")
        first = invoke(runner, "gone", version)["payload"]["pid"]
        # a second version, so a second snapshot and a restore of it, alongside the first
        runner.update_function("gone", environment={"SNAP_MODE": "primed", "REVISION": "2"})
        second = invoke(runner, "gone", runner.publish_version("gone"))["payload"]["pid"]
        snapshot_pids = [snap["pid"] for snap in runner.snapshots("gone")]
        pids = [first, second, *snapshot_pids]
        assert len(set(pids)) == 4
    finally:
        # When it stops
        runner.stop()

    # Then none of those processes is left
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(processes, timeout=10)
    assert [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_concurrent_restores_of_one_snapshot_are_each_their_own_environment(runner: LambdaRunner) -> None:
    # Given a primed SnapStart version
    runner.add_function(snap_spec("crowd"))
    version = runner.publish_version("crowd")
    [snapshot] = runner.snapshots("crowd")

    # When several invocations overlap (each holds its environment a while), so restores run concurrently
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = [
            answer["payload"]
            for answer in pool.map(lambda _: invoke(runner, "crowd", version, {"sleep": 0.3}), range(4))
        ]

    # Then every process is a restore of that snapshot with an environment id of its own
    ids_by_pid = {body["pid"]: body["environment_id"] for body in bodies}
    assert snapshot["pid"] not in ids_by_pid
    assert len(set(ids_by_pid.values())) == len(ids_by_pid)
    assert all(body["builds"] == [snapshot["pid"]] for body in bodies)
    assert all(body["restores"] == [body["pid"]] for body in bodies)


_KILLED_RUNNER = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [{root!r}]
    from emulator.lambda_runner import FunctionSpec, LambdaRunner

    runner = LambdaRunner().start()
    runner.add_function(FunctionSpec(name="snap", handler="tests.functions.snap_primed.handler",
                                     code_paths=[{root!r}], snap_start=True))
    version = runner.publish_version("snap")
    runner.invoke("snap", b"{{}}", qualifier=version)
    pids = [env["pid"] for env in runner.environments()] + [snap["pid"] for snap in runner.snapshots()]
    print(json.dumps(pids), flush=True)
    sys.stdin.read()
    """
)


def test_the_snapshot_and_its_restores_exit_when_the_runner_is_killed_with_sigkill(aws_env: None) -> None:
    # Given a runner process with a snapshot and an environment restored from it
    parent = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUNNER.format(root=ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        assert len(set(pids)) == 2
        assert all(psutil.pid_exists(pid) for pid in pids)

        # When the runner is killed without any chance to clean up
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)

        # Then the snapshot (its control socket closed) and the restore (its snapshot gone) exit by themselves
        processes = [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]
        _gone, alive = psutil.wait_procs(processes, timeout=15)
        assert [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        for stream in (parent.stdin, parent.stdout):
            if stream is not None:
                stream.close()


def test_an_invocation_during_the_publication_waits_for_the_snapshot(runner: LambdaRunner) -> None:
    # Given a SnapStart version whose snapshot is still being taken (a slow init)
    runner.add_function(snap_spec("slow-init", environment={"SNAP_MODE": "primed", "SNAP_INIT_SLEEP": "2"}))
    publishing = threading.Thread(target=runner.publish_version, args=("slow-init",), daemon=True)
    publishing.start()
    for _ in range(400):
        snapshots = runner.snapshots("slow-init")
        if snapshots and snapshots[0]["pid"] is not None:
            break
        threading.Event().wait(0.01)
    assert not runner.snapshots("slow-init")[0]["taken"]

    # When the new version is invoked meanwhile
    body = invoke(runner, "slow-init", "1")["payload"]

    # Then it waited for the snapshot and was restored from it
    [snapshot] = runner.snapshots("slow-init")
    assert snapshot["taken"]
    assert body["builds"] == [snapshot["pid"]]
    assert body["restores"] == [body["pid"]]
    publishing.join(timeout=30)
    assert not publishing.is_alive()
