"""The example targets of serverless/examples/targets: what the warmer and the hook talk to.

Each module is loaded fresh per test from its file (as Lambda loads it from the bundle), with the
runtime module on the path as the layer puts it. The DynamoDB target runs against moto.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.integration

TARGETS = Path(__file__).resolve().parents[2] / "serverless" / "examples" / "targets"
EVENTS = Path(__file__).resolve().parents[2] / "serverless" / "events"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_target_{name}", TARGETS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context() -> Any:
    return SimpleNamespace(aws_request_id="req-1", get_remaining_time_in_millis=lambda: 10_000)


def _ping(action: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (EVENTS / ("warm-probe.json" if action == "probe" else "warm-ping.json")).read_text()
    )
    event["thermostat"].pop("hold_ms", None)  # no need to hold an environment in a test
    return event


@pytest.fixture
def plain(aws_env: None) -> ModuleType:
    return _load("plain")


@pytest.fixture
def orders(moto_aws: None, table: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("DEMO_TABLE", table)
    return _load("dynamo_probe")


def _items(table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return items


def test_the_plain_target_answers_a_warm_ping_without_running_its_logic(plain: ModuleType) -> None:
    # Given the plain target
    # When the sample warm ping arrives
    reply = plain.lambda_handler(_ping("warm"), _context())

    # Then the runtime module answers for it: warm, with its environment, no probe
    body = reply["thermostat"]
    assert body["warm"] is True
    assert body["environment_id"]
    assert body["probe"] is None
    assert "statusCode" not in reply


def test_the_plain_target_probe_runs_its_real_logic(plain: ModuleType) -> None:
    # Given the plain target
    # When the hook's probe arrives
    reply = plain.lambda_handler(_ping("probe"), _context())

    # Then the probe ran the greeting and reported ok
    probe = reply["thermostat"]["probe"]
    assert probe["ok"] is True
    assert probe["result"] == {"statusCode": 200}


def test_the_plain_target_serves_business_requests_and_refuses_bad_ones(plain: ModuleType) -> None:
    # Given the plain target
    # When an ordinary request and a malformed one arrive
    good = plain.lambda_handler({"name": "ada"}, _context())
    bad = plain.lambda_handler({"name": 42}, _context())

    # Then the first is greeted, the second is told what to fix
    assert good == {"statusCode": 200, "body": "hello, ada"}
    assert bad == {"statusCode": 400, "body": "name must be a string of 1 to 100 characters"}


def test_the_dynamodb_probe_round_trips_through_the_table(orders: ModuleType, table: str) -> None:
    # Given the orders target and its table
    # When the hook's probe arrives
    reply = orders.lambda_handler(_ping("probe"), _context())

    # Then the probe wrote and read back its token under this environment's key
    probe = reply["thermostat"]["probe"]
    assert probe["ok"] is True, probe
    assert probe["result"]["table"] == table
    (item,) = _items(table)
    assert item["pk"]["S"] == f"PROBE#{reply['thermostat']['environment_id']}"
    assert item["sk"]["S"] == "PROBE"
    assert int(item["ttl"]["N"]) > 0


def test_a_warm_ping_never_touches_the_database(orders: ModuleType, table: str) -> None:
    # Given the orders target
    # When a plain warm ping arrives
    reply = orders.lambda_handler(_ping("warm"), _context())

    # Then it is answered and nothing was written (nor was boto3 needed)
    assert reply["thermostat"]["warm"] is True
    assert _items(table) == []
    assert orders._client is None


def test_the_probe_fails_with_a_clear_reason_when_the_table_is_missing(
    orders: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a target whose DEMO_TABLE names no table, then one without DEMO_TABLE
    monkeypatch.setenv("DEMO_TABLE", "no-such-table")
    missing_table = orders.lambda_handler(_ping("probe"), _context())["thermostat"]["probe"]
    monkeypatch.delenv("DEMO_TABLE")

    # When the probe runs without the variable
    unset = orders.lambda_handler(_ping("probe"), _context())["thermostat"]["probe"]

    # Then both probes fail (the hook will report Failed) and say why
    assert missing_table["ok"] is False
    assert "ResourceNotFoundException" in missing_table["error"]
    assert unset == {
        "ok": False,
        "error": "RuntimeError: DEMO_TABLE is not set: name the DynamoDB table this function uses",
        "duration_ms": unset["duration_ms"],
    }


def test_the_orders_target_records_an_order(orders: ModuleType, table: str) -> None:
    # Given the orders target
    # When a valid order arrives
    answer = orders.lambda_handler({"order_id": "o-1", "amount": 12.5}, _context())

    # Then it is stored
    assert answer == {"statusCode": 201, "body": "o-1"}
    (item,) = _items(table)
    assert (item["pk"]["S"], item["amount"]["N"]) == ("ORDER#o-1", "12.5")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"amount": 1}, "order_id must be a string of 1 to 64 characters"),
        ({"order_id": "x" * 65, "amount": 1}, "order_id must be a string of 1 to 64 characters"),
        ({"order_id": "o-2", "amount": -1}, "amount must be a non-negative number"),
        ({"order_id": "o-2", "amount": True}, "amount must be a non-negative number"),
        (["not", "an", "object"], "order_id must be a string of 1 to 64 characters"),
    ],
)
def test_a_bad_order_is_refused_and_nothing_is_written(
    orders: ModuleType, table: str, event: Any, message: str
) -> None:
    # Given the orders target
    # When a malformed order arrives
    answer = orders.lambda_handler(event, _context())

    # Then it is a 400 saying what to fix, and the table is untouched
    assert answer == {"statusCode": 400, "body": message}
    assert _items(table) == []
