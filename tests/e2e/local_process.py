"""`thermostat local` run as a user runs it: its own process group, its state file, fresh CLI processes.

Shared by the end-to-end modules. One serving stack per checkout is all the lock allows, so each
starts one (or skips when another runs), waits, bounded, for the state file that names its pid, and
stops it with SIGINT (SIGKILL only when SIGINT is not heard within a minute).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".thermostat" / "local.json"
CLI = (sys.executable, "-m", "handlers.cli")
#: The credentials `thermostat local env` exports; any pair works against the local endpoints.
LOCAL_KEYS = {"aws_access_key_id": "thermostat-local", "aws_secret_access_key": "thermostat-local"}


def clean_env(*, no_aws_config: bool = False) -> dict[str, str]:
    """This environment without AWS or thermostat variables (and, if asked, without the user's AWS files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "THERMOSTAT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if no_aws_config:
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run(
    *arguments: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """One `thermostat` command in a fresh process (with :func:`clean_env` unless ``env`` is given)."""
    return subprocess.run(
        [*CLI, *arguments],
        cwd=ROOT,
        env=clean_env() if env is None else env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def skip_if_running() -> None:
    """Skip the test when another `thermostat local` serves from this checkout."""
    if STATE.exists():
        pytest.skip("another `thermostat local` is running from this checkout")


def start(*extra: str, refresh: float = 5, output: bool = False) -> subprocess.Popen[str]:
    """`thermostat local --refresh N [extra]` in its own session; ``output``: its stdout+stderr piped."""
    sink = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [*CLI, "local", "--refresh", f"{refresh:g}", *extra],
        cwd=ROOT,
        env=clean_env(),
        stdout=sink,
        stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def wait_for_state(process: subprocess.Popen[str], timeout_s: float = 60, state: Path = STATE) -> dict[str, Any]:
    """The state file once it names ``process`` (bounded: ``timeout_s``, or until the process exits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            recorded: dict[str, Any] = json.loads(state.read_text())
        except (FileNotFoundError, ValueError):
            recorded = {}
        if recorded.get("pid") == process.pid:
            return recorded
        time.sleep(0.2)
    raise AssertionError(f"thermostat local (pid {process.pid}) did not write {state} in {timeout_s:g} s")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    """Signal the process group, wait for it (SIGKILL after a minute), and return what it printed."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate(timeout=10)
    return out or ""


@contextmanager
def serving(refresh: float = 5, timeout_s: float = 60) -> Iterator[dict[str, Any]]:
    """A serving `thermostat local` for the ``with`` block; yields its recorded state."""
    skip_if_running()
    process = start(refresh=refresh)
    try:
        yield wait_for_state(process, timeout_s)
    finally:
        stop(process)


def local_client(state: dict[str, Any], service: str) -> Any:
    """A boto3 client for ``service`` against the stack's endpoint, as a user would build one."""
    import boto3

    variable = f"AWS_ENDPOINT_URL_{service.upper()}"
    return boto3.client(service, endpoint_url=state["endpoints"][variable], region_name=state["region"], **LOCAL_KEYS)


def publish(state: dict[str, Any], function: str, environment: dict[str, str]) -> str:
    """A new version of ``function`` with ``environment``, as a user would make one with boto3."""
    lam = local_client(state, "lambda")
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": environment})
    return str(lam.publish_version(FunctionName=function)["Version"])
