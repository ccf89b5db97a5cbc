"""Issue 15, items 5 and 6, against `thermostat local` as a process: the live view on a terminal
(an 80-column pseudo-terminal) and its plain fallback on a pipe; ``--state DIR`` across a restart.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.local_process import (
    ROOT,
    STATE,
    clean_env,
    publish,
    run,
    skip_if_running,
    start,
    stop,
    wait_for_state,
)
from tests.e2e.test_local_tools import thermostat

pytestmark = pytest.mark.e2e

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# -- item 5: the live view ----------------------------------------------------------------------------


class _Terminal:
    """`thermostat local` on an 80x40 pseudo-terminal; everything it drew, bytes as written."""

    def __init__(self) -> None:
        import fcntl
        import pty
        import struct
        import termios

        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
        self.fd = leader
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "local", "--refresh", "0.5"],
            cwd=ROOT,
            env={**clean_env(), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "40"},
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        self.output = b""

    def read_until(self, predicate: Any, timeout_s: float) -> bool:
        """Read what it draws until ``predicate(text)`` holds (bounded by ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the other side closed
                    return predicate(self.text)
                if not chunk:
                    return predicate(self.text)
                self.output += chunk
            if predicate(self.text):
                return True
        return False

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        self.read_until(lambda _: self.process.poll() is not None, 60)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(timeout=10)
        os.close(self.fd)
        return code


def test_the_live_view_redraws_in_place_within_80_columns_with_hook_verdicts(tmp_path: Path) -> None:
    skip_if_running()
    terminal = _Terminal()
    try:
        # Given `thermostat local` on an 80-column terminal
        state = wait_for_state(terminal.process)
        assert terminal.read_until(lambda text: "Keep-warm targets" in text, 30)
        # When an event and a deployment happen
        event = tmp_path / "event.json"
        event.write_text((ROOT / "serverless" / "events" / "deployment-requested.json").read_text())
        assert thermostat("local", "put-event", "--wait", str(event)).returncode == 0
        version = publish(state, "demo-orders", {"DEMO_TABLE": "thermostat-local", "DEMO_BUILD": "view"})
        deployed = thermostat("local", "deploy", "demo-orders", "--version", version)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        # Then the view shows them (the next frame after the deployment)
        drawn = terminal.read_until(
            lambda text: "Succeeded" in ESCAPE.sub("", text) and "Deployment Requested" in ESCAPE.sub("", text), 30
        )
        assert drawn, ESCAPE.sub("", terminal.text)[-3000:]
    finally:
        code = terminal.stop()
    assert code == 0
    text = terminal.text
    live = text[text.index("\x1b[?25l") :]  # from where rich.Live takes the cursor
    # It redraws in place: each frame moves the cursor up over the previous one and erases it
    assert live.count("\x1b[1A\x1b[2K") > 20
    # Each drawn line fits 80 columns
    segments = ESCAPE.sub("\n", live).replace("\r", "").split("\n")
    assert max(len(segment) for segment in segments) <= 80
    plain = ESCAPE.sub("", live)
    # The endpoints stay visible, and the hook verdict of the deployment is shown
    assert state["endpoints"]["AWS_ENDPOINT_URL_LAMBDA"] in plain
    assert state["endpoints"]["AWS_ENDPOINT_URL_CODEDEPLOY"] in plain
    assert "hook verdicts" in plain
    assert "demo-orders:live" in plain
    assert "Recent events" in plain
    assert "in memory" in plain


# -- item 3: a hook that never reports ----------------------------------------------------------------


def test_a_hook_that_never_reports_fails_the_deployment_at_the_hook_timeout() -> None:
    # Its own stack, with a short --hook-timeout: the shared one keeps the default, so that a real
    # hook on a loaded machine is never cut short.
    skip_if_running()
    process = start("--hook-timeout", "2", output=True)
    try:
        state = wait_for_state(process)
        # Given a "hook" that is not one (demo-greeter never calls PutLifecycleEventHookExecutionStatus)
        version = publish(state, "demo-greeter", {"DEMO_BUILD": "timeout"})
        # When it is deployed with that function as its BeforeAllowTraffic hook
        done = thermostat(
            "local", "deploy", "demo-greeter", "--version", version, "--before-hook", "demo-greeter", "--json"
        )
        alias = thermostat("local", "invoke", "demo-greeter", "--qualifier", "live", "--json")
    finally:
        out = stop(process)
    assert process.returncode == 0, out
    # Then CodeDeploy's wait for the status runs out, the deployment fails, and the alias stays
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "Failed"
    assert "did not report within 2s" in report["error"]
    assert report["lifecycle_events"][0]["diagnostics"] == "no status reported within 2 s"
    assert report["alias_now"] == report["from"] != version
    assert json.loads(alias.stdout)["executed_version"] == report["from"]


# -- item 6: --state DIR --------------------------------------------------------------------------------


def _with_stack_env(exported: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(*arguments, env={**clean_env(no_aws_config=True), **exported})


def _stack_env() -> dict[str, str]:
    exported: dict[str, str] = json.loads(thermostat("local", "env", "--json").stdout)
    return exported


def test_state_dir_keeps_registry_targets_buckets_and_logs_across_a_restart(tmp_path: Path) -> None:
    skip_if_running()
    kept = tmp_path / "state"
    event = tmp_path / "event.json"
    document = json.loads((ROOT / "serverless" / "events" / "deployment-requested.json").read_text())
    document["detail"] = {"project": "kept-project", "stage": "dev"}
    event.write_text(json.dumps(document))
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"kept": True}))

    # Given a stack started with --state, where a bucket is resolved, a target added, a payload
    # stored and a function invoked (its logs)
    first = start("--state", str(kept), output=True)
    try:
        wait_for_state(first)
        exported = _stack_env()
        resolved = thermostat("local", "put-event", "--wait", str(event), "--json")
        assert resolved.returncode == 0, resolved.stderr
        bucket = json.loads(resolved.stdout)["deliveries"][0]["result"]["bucket"]
        added = _with_stack_env(exported, "targets", "add", "demo-greeter", "--qualifier", "live", "--group", "kept")
        assert added.returncode == 0, added.stderr
        stored = _with_stack_env(
            exported, "payload", "put", str(payload), "--bucket", "thermostat-local-payloads", "--json"
        )
        assert stored.returncode == 0, stored.stderr
        invoked = thermostat("local", "invoke", "demo-greeter", "-e", "-", stdin='{"name": "kept"}')
        request_id = next(line.split()[2] for line in invoked.stdout.splitlines() if line.strip().startswith("START"))
    finally:
        out = stop(first)
    # When it stops (a snapshot is written at exit) and a new one starts on the same directory
    assert first.returncode == 0, out
    assert "state: " in out
    assert "\x1b[" not in out  # a pipe gets the plain view, no terminal codes
    assert (kept / "current" / "snapshot.json").exists()
    second = start("--state", str(kept), output=True)
    try:
        wait_for_state(second)
        exported = _stack_env()
        # Then the registry, the target, the payload object and the logs are all there
        buckets = json.loads(_with_stack_env(exported, "bucket", "list", "--json").stdout)
        assert bucket in json.dumps(buckets)
        targets = _with_stack_env(exported, "targets", "list", "--group", "kept", "--json")
        assert "demo-greeter" in targets.stdout, targets.stdout + targets.stderr
        logs = thermostat("local", "logs", "demo-greeter", "--since", "1h")
        assert request_id in logs.stdout
        reference = re.search(r"s3://thermostat-local-payloads/([^\"\s]+)", stored.stdout)
        assert reference is not None, stored.stdout
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=exported["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="thermostat-local",
            aws_secret_access_key="thermostat-local",
        )
        body = s3.get_object(Bucket="thermostat-local-payloads", Key=reference.group(1))["Body"].read()
        assert json.loads(body) == {"kept": True}
    finally:
        out = stop(second)
    assert second.returncode == 0, out
    assert "restored" in out


def test_state_dir_refuses_what_it_cannot_use_with_exit_2(tmp_path: Path) -> None:
    skip_if_running()
    # A file where a directory should be
    a_file = tmp_path / "file"
    a_file.write_text("x")
    done = thermostat("local", "--state", str(a_file))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not a directory" in done.stderr
    # A corrupt snapshot: refused, and left as it was for the user to look at
    broken = tmp_path / "broken"
    (broken / "current").mkdir(parents=True)
    (broken / "current" / "snapshot.json").write_text("{not json")
    done = thermostat("local", "--state", str(broken))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unreadable" in done.stderr
    assert (broken / "current" / "snapshot.json").read_text() == "{not json"
    assert not STATE.exists()
    # The demo always starts empty
    done = thermostat("local", "--demo", "--state", str(tmp_path / "new"))
    assert done.returncode == 2
    assert "--state" in done.stderr
