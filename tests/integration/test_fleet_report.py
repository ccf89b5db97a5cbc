"""``thermostat report``'s fleet section over a mixed fleet run by the local Lambda runner.

The runner's logs go through the local stack's forwarder to CloudWatch Logs in moto (threaded
server), as ``thermostat local`` runs them; the command reads them back with its own filter
patterns. The expected counts come from the runner's own answers (``InvokeResult.cold``,
``init_ms``, the request ids the test sent as pings), not from the log lines the report parses.

The fleet: ``layered`` (wears ``@warmable``, text log format, pinged with thermostat's protocol),
``bare`` (no runtime module, JSON log format, one invocation timing out), ``prov`` (``@warmable``,
JSON, on a provisioned alias).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from domain.keep_warm.reports import RoundReport, TargetReport
from domain.targets import make_target
from emulator.lambda_runner import LambdaRunner
from emulator.log_forwarder import LogForwarder
from emulator.runner_invoke import InvokeResult
from emulator.runner_model import FunctionSpec
from handlers.cli import main
from handlers.keep_warm import record_rounds
from infra.platform_source import CloudWatchLogsPlatform
from infra.target_store import DynamoTargetStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "serverless" / "layer" / "python"
PING = json.dumps({"thermostat": {"v": 1, "action": "warm"}})


@pytest.fixture
def fleet(moto_server: str, table: str) -> Iterator[tuple[LambdaRunner, LogForwarder]]:
    forwarder = LogForwarder()
    forwarder.start()
    runner = LambdaRunner(idle_timeout_s=300, log_sink=forwarder)
    paths = (str(ROOT), str(LAYER))
    runner.add_function(FunctionSpec(name="layered", handler="tests.functions.echo.handler", code_paths=paths))
    runner.add_function(
        FunctionSpec(
            name="bare", handler="tests.functions.slow.handler", code_paths=paths, timeout_s=1, log_format="JSON"
        )
    )
    runner.add_function(
        FunctionSpec(name="prov", handler="tests.functions.echo.handler", code_paths=paths, log_format="JSON")
    )
    runner.start()
    try:
        yield runner, forwarder
    finally:
        runner.stop()
        forwarder.stop()


def invoke(runner: LambdaRunner, function: str, payload: Any, qualifier: str | None = None) -> InvokeResult:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return runner.invoke(function, text, qualifier=qualifier)


def test_the_fleet_section_matches_what_the_runner_did(
    fleet: tuple[LambdaRunner, LogForwarder], table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runner, forwarder = fleet
    store = DynamoTargetStore(table)
    store.put(make_target(function="layered", qualifier="live"))  # an alias: every version counts
    # Given the layered function: two real requests (the first cold), then the first keep-warm round,
    # then pings and real requests
    layered: list[tuple[InvokeResult, bool]] = [(invoke(runner, "layered", {}), False) for _ in range(2)]
    time.sleep(0.01)  # the round's time must fall strictly between the two groups of log lines
    assert store.record_round("layered", "live", "default", int(time.time() * 1000))
    time.sleep(0.01)
    layered += [(invoke(runner, "layered", PING), True) for _ in range(2)]
    layered += [(invoke(runner, "layered", {}), False) for _ in range(3)]
    # And the bare function: three quick calls, one that times out, one more (a new environment)
    bare = [invoke(runner, "bare", {"seconds": 0}) for _ in range(3)]
    bare.append(invoke(runner, "bare", {"seconds": 5}))
    bare.append(invoke(runner, "bare", {"seconds": 0}))
    # And the provisioned alias, invoked twice
    version = runner.publish_version("prov")
    runner.create_alias("prov", "live", version)
    runner.set_provisioned_concurrency("prov", "live", 1)
    prov = [invoke(runner, "prov", {}, qualifier="live") for _ in range(2)]
    assert forwarder.flush()

    # When the report runs
    assert main(["report", "--since", "1h", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {row["function"]: row for row in document["fleet"]["functions"]}

    # Then the layered function's counts are the runner's, pings out of the rate
    row = rows["layered"]
    cold = sum(1 for result, ping in layered if result.cold and not ping)
    assert (row["invocations"], row["pings"], row["requests"]) == (7, 2, 5)
    assert (row["cold_starts"], row["formats"], row["layer"]) == (cold, ["text"], True)
    assert cold == 1
    assert row["cold_rate"] == pytest.approx(1 / 5)
    assert row["init_ms"]["max"] == pytest.approx(max(r.init_ms for r, _ in layered if r.init_ms), abs=0.01)
    assert row["in_process_init_ms"] is not None
    assert row["runtime_startup_ms"] is not None

    # And the bare one's: JSON records, the timeout, no rate claimed
    row = rows["bare"]
    assert (row["invocations"], row["timeouts"], row["formats"]) == (5, 1, ["json"])
    assert row["cold_starts"] == sum(1 for r in bare if r.cold) == 2
    assert (row["cold_rate"], row["pings"], row["note"]) == (None, None, "pings not distinguishable")
    assert [r.function_error for r in bare].count("Unhandled") == 1

    # And the provisioned one's: no cold start, start kinds from thermostat
    row = rows[f"prov:{version}"]
    assert not any(r.cold for r in prov)
    assert (row["invocations"], row["cold_starts"], row["kinds"]) == (2, 0, {"provisioned": 1, "warm": 1})

    # And the keep-warm effect: the cold start came before the first round, none after
    [effect] = document["fleet"]["warm_effect"]
    assert effect["target"] == "layered:live"
    assert (effect["before_cold"], effect["before_requests"]) == (1, 2)
    assert (effect["after_cold"], effect["after_requests"]) == (0, 3)

    # And the report says what it read: events of three groups, no more than the records and a few lines
    fleet_doc = document["fleet"]
    assert fleet_doc["log_groups"] == 3
    assert fleet_doc["records"] >= 7 + 5 + 2
    assert fleet_doc["bytes_read"] > 0
    assert fleet_doc["events_read"] >= fleet_doc["records"]

    # And --function narrows the section to the functions named
    assert main(["report", "--since", "1h", "--json", "--function", "bare"]) == 0
    narrowed = json.loads(capsys.readouterr().out)["fleet"]
    assert [row["function"] for row in narrowed["functions"]] == ["bare"]

    # And the text table and the page carry the section
    assert main(["report", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "Fleet cold starts from Lambda's records" in out
    assert "pings not distinguishable" in out


def test_a_bad_function_name_is_a_usage_error(moto_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--function", "not a name"]) == 2
    assert "--function 'not a name' is not a Lambda function name" in capsys.readouterr().err


def test_rounds_are_recorded_on_the_targets_a_round_pinged(moto_server: str, table: str) -> None:
    # Given two stored targets and a round that pinged one and skipped the other
    store = DynamoTargetStore(table)
    store.put(make_target(function="a", qualifier="live"))
    store.put(make_target(function="b", qualifier="live"))
    pinged = TargetReport(function="a", qualifier="live", group="default", concurrency=1, sent=1)
    skipped = TargetReport(function="b", qualifier="live", group="default", concurrency=1, sent=0, skipped="disabled")
    gone = TargetReport(function="c", qualifier="live", group="default", concurrency=1, sent=1)
    report = RoundReport(group="default", targets=[pinged, skipped, gone])

    # When two rounds are recorded
    assert record_rounds(report, store, at_ms=1_000) == 1
    assert record_rounds(report, store, at_ms=2_000) == 1

    # Then the pinged target keeps its first round and moves its last; the others are untouched
    rounds = {r.function: r for r in store.rounds()}
    assert (rounds["a"].first_round_ms, rounds["a"].last_round_ms, rounds["a"].rounds) == (1_000, 2_000, 2)
    assert (rounds["b"].first_round_ms, rounds["b"].rounds) == (None, 0)
    # And a target removed meanwhile is not brought back as a bare item
    assert set(rounds) == {"a", "b"}


def test_moto_filters_platform_records_with_the_adapters_patterns(moto_server: str) -> None:
    # Given a group with both formats' records and lines that are neither
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/mixed")
    logs.create_log_stream(logGroupName="/aws/lambda/mixed", logStreamName="2026/12/02/[$LATEST]x")
    lines = [
        "START RequestId: a Version: $LATEST",
        "REPORT RequestId: a\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tInit Duration: 5.00 ms",
        '{"time":"t","type":"platform.report","record":{"requestId":"b","metrics":{"durationMs":1.0}}}',
        '{"level":"INFO","message":"hello"}',
        "END RequestId: a",
    ]
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/aws/lambda/mixed",
        logStreamName="2026/12/02/[$LATEST]x",
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )
    # When the adapter reads it, Then only the two records crossed, and both were parsed
    read = CloudWatchLogsPlatform(client=logs).read()
    assert (read.events, len(read.records), read.log_groups) == (2, 2, 1)
    assert read.bytes == len(lines[1].encode()) + len(lines[2].encode())


def test_motos_logs_insights_evaluates_neither_filter_nor_stats(moto_server: str) -> None:
    # Why the report filters with FilterLogEvents: moto's StartQuery (the local stack's Logs Insights)
    # returns every event of the window for the dashboard's query, one @ptr row each, no aggregates.
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/q")
    logs.create_log_stream(logGroupName="/aws/lambda/q", logStreamName="s")
    now = int(time.time() * 1000)
    lines = ["START RequestId: a", "REPORT RequestId: a\tDuration: 1.00 ms\tInit Duration: 5.00 ms", "hello"]
    logs.put_log_events(
        logGroupName="/aws/lambda/q",
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )
    query = logs.start_query(
        logGroupNames=["/aws/lambda/q"],
        startTime=now // 1000 - 60,
        endTime=now // 1000 + 60,
        queryString='filter @type = "REPORT" | stats count(*) as invocations, count(@initDuration) as cold',
    )
    results = logs.get_query_results(queryId=query["queryId"])
    assert results["status"] == "Complete"
    assert len(results["results"]) == len(lines)
    assert {field["field"] for row in results["results"] for field in row} == {"@ptr"}
