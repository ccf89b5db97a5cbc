"""A sharded, multi-account keep-warm round in the local stack: the scheduled function (in the local
runner) plans and sends shards to the shard queue (moto's SQS), the stack's SQS event source hands
them to the worker (in the local runner), which assumes the spoke role in the other account (moto's
STS) and pings the demo targets; the ledger (moto's DynamoDB) holds one round report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from domain.targets import make_target
from emulator.stack import ACCOUNT, LocalStack
from infra.shard_ledger import DynamoShardLedger
from infra.target_store import DynamoTargetStore

pytestmark = pytest.mark.e2e

FAR = "111111111111"


def test_a_sharded_multi_account_round_runs_in_the_local_stack(aws_env: None, tmp_path: Path) -> None:
    with LocalStack(state_file=tmp_path / "local.json", run_schedules=False) as stack:
        assert stack.queue_sources, "the template's SQS event source was not started"
        store = DynamoTargetStore("thermostat-local", "us-east-1")
        # Given the demo targets in the own account and, as if it lived there, one in another account
        store.put(make_target(function="demo-greeter", qualifier="live", concurrency=2))
        store.put(make_target(function="demo-orders", qualifier="live", concurrency=1, account=FAR))
        # When the schedule fires (put-event --wait: the scheduled function, synchronously)
        planned = stack._deliver_and_wait("KeepWarmFunction", {"group": "default"})
        assert (planned["shards"], planned["targets"], planned["sent"]) == (2, 2, 2)
        # Then the event source hands both shards to the worker, and one round report appears
        ledger = DynamoShardLedger("thermostat-local", "us-east-1")
        report = None
        for _ in range(120):  # bounded: at most about a minute
            report = ledger.latest("default")
            if report is not None:
                break
            time.sleep(0.5)
        assert report is not None, "no round report: the shards did not all run"
        assert report.round_id == planned["round_id"]
        assert report.complete
        places = {place.account: (place.shards, place.sent, place.environments) for place in report.places}
        assert places == {ACCOUNT: (1, 2, 2), FAR: (1, 1, 1)}
        assert json.loads(json.dumps(report.to_dict()))["shards"][0]["status"] == "ok"
