"""``.thermostat/local.json``: one serving stack per state file, and a file left by a killed stack replaced
(issue 12, item 8).

The holder is a real process (a child Python that claims the file as ``thermostat local`` does);
"killed" is SIGKILL, after which only the kernel can tell that the lock is free. The whole
``thermostat local`` is exercised the same way in ``tests/e2e/test_local_stack.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.errors import Conflict
from emulator.stack import LocalStack, StateFileClaim

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import json, os, sys, time
from pathlib import Path
from emulator.stack import StateFileClaim
path = Path(sys.argv[1])
claim = StateFileClaim(path).acquire()  # held (referenced) until the process ends
path.write_text(json.dumps({"pid": os.getpid()}))
print("ready", flush=True)
time.sleep(120)  # killed by the test long before
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A child process holding ``tmp_path/local.json`` as a serving stack does."""
    state = tmp_path / "local.json"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"  # bounded: the child exits at 120 s at the latest
        yield child, state
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


def test_a_second_stack_refuses_while_the_first_serves_and_touches_nothing(holder, monkeypatch) -> None:
    # Given a live stack serving from the state file
    child, state = holder
    recorded = state.read_text()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    # When a second stack starts on the same file
    second = LocalStack(state_file=state)
    try:
        with pytest.raises(Conflict) as caught:
            second.start()
    finally:
        second.stop()  # a no-op when nothing started; stops it if the refusal failed

    # Then it refuses, naming the first and what to do, and started nothing: the first's file is
    # intact and the environment untouched
    assert f"pid {child.pid}" in str(caught.value)
    assert "thermostat local env" in str(caught.value)
    assert state.read_text() == recorded
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_a_state_file_left_by_a_killed_stack_is_recognised_as_stale_and_replaced(holder) -> None:
    # Given a stack that was killed (SIGKILL: no clean-up ran, its state file is still there)
    child, state = holder
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert json.loads(state.read_text())["pid"] == child.pid

    # When a new stack claims the file
    claim = StateFileClaim(state).acquire()

    # Then the old file is recognised as stale (its holder is gone) and removed, to be rewritten
    try:
        assert claim.replaced == child.pid
        assert not state.exists()
        # and the new claim excludes a third one in turn
        with pytest.raises(Conflict):
            StateFileClaim(state).acquire()
    finally:
        claim.release()
    assert not state.exists()
    StateFileClaim(state).acquire().release()


def test_a_pid_reused_by_another_process_is_not_a_stack(tmp_path: Path) -> None:
    # Given a state file naming a live process that is not a stack (this test's own pid)
    state = tmp_path / "local.json"
    state.write_text(json.dumps({"pid": os.getpid()}))

    # When a stack claims it
    claim = StateFileClaim(state).acquire()

    # Then the file is stale (nobody holds the lock), whatever the pid says
    assert claim.replaced == os.getpid()
    claim.release()


def test_a_corrupt_state_file_is_replaced(tmp_path: Path) -> None:
    state = tmp_path / "local.json"
    state.write_text("{not json")
    claim = StateFileClaim(state).acquire()
    assert claim.replaced == "unreadable"
    claim.release()
