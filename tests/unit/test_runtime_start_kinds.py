"""Start kinds, each in a fresh interpreter with AWS_LAMBDA_INITIALIZATION_TYPE set before import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from thermostat_runtime import classify_start, is_cold, normalise_init_type
from thermostat_runtime.start import Environment

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "serverless" / "layer" / "python"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from thermostat_runtime import warmable, build_request

    @warmable
    def handler(event, context):
        return {"business": True}

    replies = []
    for step in sys.argv[1].split(","):
        event = build_request("warm") if step == "ping" else {"path": "/", "httpMethod": "GET"}
        replies.append(handler(event, None))
    print("RESULT " + json.dumps(replies))
    """
)


def run_fresh(init_type: str | None, steps: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run SCRIPT in a new interpreter; return (replies, telemetry records)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_LAMBDA_")}
    env["PYTHONPATH"] = str(LAYER)
    if init_type is not None:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, steps], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    replies: list[dict[str, Any]] = []
    records = []
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            replies = json.loads(line[len("RESULT ") :])
        elif line.startswith("{"):
            records.append(json.loads(line))
    return replies, records


@pytest.mark.parametrize(
    ("init_type", "first_kind", "reported_type"),
    [
        ("on-demand", "cold", "on-demand"),
        (None, "cold", "on-demand"),
        ("", "cold", "on-demand"),
        ("snap-start", "restore", "snap-start"),
        ("provisioned-concurrency", "provisioned", "provisioned-concurrency"),
        ("lambda-managed-instances", "cold", "lambda-managed-instances"),
    ],
)
def test_first_invocation_kind_then_warm(init_type: str | None, first_kind: str, reported_type: str) -> None:
    # Given a fresh environment with this init type, When it is invoked three times
    _, records = run_fresh(init_type, "call,call,call")

    # Then the first is classified per the table, the rest are warm, and the init type is kept
    assert [r["start_kind"] for r in records] == [first_kind, "warm", "warm"]
    assert {r["InitType"] for r in records} == {reported_type}
    # And ColdStart counts cold and restore only
    expected_cold = 1 if first_kind in {"cold", "restore"} else 0
    assert [r["ColdStart"] for r in records] == [expected_cold, 0, 0]


@pytest.mark.parametrize("init_type", ["on-demand", "snap-start", "provisioned-concurrency", None])
def test_a_ping_is_warm_ping_and_reports_the_state_it_found(init_type: str | None) -> None:
    # Given a fresh environment whose first invocation is a warm ping
    replies, records = run_fresh(init_type, "ping,call,ping")

    found = classify_start(init_type, first_invocation=True)
    # Then the ping's reply carries the state it found, and the telemetry says warm_ping
    assert replies[0]["thermostat"]["start_kind"] == found
    assert [r["start_kind"] for r in records] == ["warm_ping", "warm", "warm_ping"]
    assert records[0]["found_state"] == found
    # And pings never count as cold starts: no ColdStart metric on a ping at all
    assert "ColdStart" not in records[0]
    assert records[0]["WarmPing"] == 1
    assert records[1]["ColdStart"] == 0
    # And the business handler ran exactly once
    assert replies[1] == {"business": True}


def test_init_ms_measured_for_cold_and_null_for_restore() -> None:
    _, cold = run_fresh("on-demand", "call")
    _, restore = run_fresh("snap-start", "call")
    assert isinstance(cold[0]["init_ms"], float)
    assert cold[0]["init_ms"] > 0
    assert restore[0]["init_ms"] is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to clone a process like a snapshot restore")
def test_snapstart_clones_get_distinct_environment_ids() -> None:
    # Given a module imported and decorated once, then cloned (fork copies memory, as a
    # SnapStart restore copies the snapshot), When each clone is invoked
    script = textwrap.dedent(
        """
        import json, os, random
        random.seed(7)
        from thermostat_runtime import warmable, build_request
        @warmable
        def handler(event, context):
            return None
        ids = []
        for _ in range(3):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                reply = handler(build_request("warm"), None)["thermostat"]
                os.write(write_end, json.dumps([reply["environment_id"], reply["start_kind"]]).encode())
                os._exit(0)
            os.close(write_end)
            os.waitpid(pid, 0)
            ids.append(json.loads(os.read(read_end, 4096)))
        print("RESULT " + json.dumps(ids))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(LAYER), AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    # Then every clone has its own id (made after the restore, from the OS's entropy)
    assert len({env_id for env_id, _ in result}) == 3
    assert {kind for _, kind in result} == {"restore"}


def test_classification_table_in_process() -> None:
    assert classify_start("on-demand", True) == "cold"
    assert classify_start(None, True) == "cold"
    assert classify_start("snap-start", True) == "restore"
    assert classify_start("provisioned-concurrency", True) == "provisioned"
    assert classify_start("something-new", True) == "cold"
    for init_type in ("on-demand", None, "snap-start", "provisioned-concurrency", "x"):
        assert classify_start(init_type, False) == "warm"
    assert normalise_init_type(None) == "on-demand"
    assert normalise_init_type("x") == "x"
    assert is_cold("cold")
    assert is_cold("restore")
    assert not is_cold("provisioned")
    assert not is_cold("warm_ping")


def test_provisioned_init_stops_at_the_end_of_import_not_at_the_first_request() -> None:
    # Given a provisioned environment that became ready at t=1.0 and is first invoked at t=100
    environment = Environment(init_type="provisioned-concurrency", started_at=0.5, clock_source="given")
    environment.mark_ready(1.0)
    kind, found = environment.begin(100.0, ping=False)
    # Then the init time is the 0.5 s of init, not the idle wait
    assert (kind, found) == ("provisioned", "provisioned")
    assert environment.init_ms == 500.0


def test_environment_id_is_stable_within_an_environment() -> None:
    environment = Environment(init_type="on-demand", started_at=0.0)
    first = environment.environment_id
    environment.begin(1.0, ping=False)
    assert environment.environment_id == first
    assert Environment(init_type="on-demand", started_at=0.0).environment_id != first


def test_the_id_is_made_at_first_read_and_again_after_a_renewal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a new environment, and os.urandom counted (the id is made from it, never at construction:
    # with SnapStart, construction happens before the snapshot that many environments share)
    import thermostat_runtime.start as start_module

    made: list[int] = []
    real_urandom = os.urandom

    def counting_urandom(size: int) -> bytes:
        made.append(size)
        return real_urandom(size)

    monkeypatch.setattr(start_module.os, "urandom", counting_urandom)
    environment = Environment(init_type="snap-start", started_at=0.0)
    assert made == []

    # When it is read many times, then renewed (a restore), then read again
    reads = {environment.environment_id for _ in range(5)}
    environment.begin(1.0, ping=False)
    environment.begin(2.0, ping=True)
    environment.renew()
    assert len(made) == 1
    renewed = environment.environment_id

    # Then one id before and one new id after, each made once, and the next invocation is the restore
    assert len(reads) == 1
    assert renewed not in reads
    assert environment.environment_id == renewed
    assert len(made) == 2
    assert environment.begin(3.0, ping=False) == ("restore", "restore")
    assert environment.begin(4.0, ping=True) == ("warm_ping", "warm")
