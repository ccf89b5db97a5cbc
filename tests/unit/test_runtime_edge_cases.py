"""``@warmable`` edge cases: odd contexts and probe results JSON cannot carry (in-process).

The same probe results through the local Lambda runner, where an unencodable reply is Lambda's
``Runtime.MarshalError``: ``tests/integration/test_probe_results.py``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from tests.emf import emf_problems
from thermostat_runtime import Environment, Telemetry, build_request, warmable

pytestmark = pytest.mark.unit


class Boom(Exception):
    pass


class Harness:
    def __init__(self, probe: Any = None) -> None:
        self.lines: list[str] = []

        @warmable(
            probe=probe,
            environment=Environment(init_type="on-demand", started_at=0.0),
            telemetry=Telemetry(sink=self.lines.append, namespace="Test"),
        )
        def handler(event: Any, context: Any) -> Any:
            if event.get("fail"):
                raise Boom("failed")
            return {"statusCode": 200}

        self.handler = handler

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


class Row(NamedTuple):
    table: str
    rows: tuple[int, ...]


class RaisingContext:
    @property
    def aws_request_id(self) -> str:
        raise RuntimeError("this harness has no request id")


REQUEST_IDS = [
    pytest.param(12345, "12345", id="int"),
    pytest.param(uuid.UUID(int=7), "00000000-0000-0000-0000-000000000007", id="uuid"),
    pytest.param(b"req-1", "b'req-1'", id="bytes"),
    pytest.param(None, None, id="none"),
]


@pytest.mark.parametrize(("request_id", "recorded"), REQUEST_IDS)
def test_a_context_whose_request_id_is_not_a_string_does_not_break_an_invocation(
    request_id: object, recorded: str | None
) -> None:
    # Given a test harness's context with an aws_request_id that is not a string
    harness = Harness()
    context = SimpleNamespace(aws_request_id=request_id)

    # When an ordinary invocation, a failing one and a ping run
    assert harness.handler({}, context) == {"statusCode": 200}
    with pytest.raises(Boom):
        harness.handler({"fail": True}, context)
    assert harness.handler(build_request("warm"), context)["thermostat"]["warm"] is True

    # Then each keeps its own outcome, and the telemetry lines are valid EMF with the id as a string
    records = harness.records()
    assert [record["start_kind"] for record in records] == ["cold", "warm", "warm_ping"]
    assert [record.get("error") for record in records] == [None, "Boom", None]
    assert all(record["request_id"] == recorded for record in records)
    assert [emf_problems(record) for record in records] == [[], [], []]


def test_a_context_whose_request_id_raises_does_not_break_an_invocation() -> None:
    harness = Harness()

    assert harness.handler({}, RaisingContext()) == {"statusCode": 200}

    assert harness.records()[0]["request_id"] is None


def probe_answer(value: object) -> dict[str, Any]:
    answer = Harness(probe=lambda: value).handler(build_request("probe"), None)["thermostat"]["probe"]
    # What Lambda's runtime does with the reply: it must always encode
    json.dumps(answer, allow_nan=True)
    assert isinstance(answer, dict)
    return answer


ENCODED = [
    pytest.param(datetime.datetime(2026, 12, 2, 7, 53, 45), "2026-12-02T07:53:45", id="naive-datetime"),
    pytest.param(datetime.date(2026, 2, 28), "2026-02-28", id="date"),
    pytest.param(b"\x00\x01", "AAE=", id="bytes"),
    pytest.param(memoryview(b"xyz"), "eHl6", id="memoryview"),
    pytest.param({"b", "a", "c"}, ["a", "b", "c"], id="set-sorted"),
    pytest.param({1, "a"}, None, id="set-unsortable"),
    pytest.param(("x", (1, 2)), ["x", [1, 2]], id="nested-tuples"),
    pytest.param(Row(table="orders", rows=(1,)), {"table": "orders", "rows": [1]}, id="namedtuple"),
    pytest.param(decimal.Decimal("12.500"), 12.5, id="decimal-fraction"),
    pytest.param(decimal.Decimal("1E+2"), 100.0, id="decimal-exponent"),
    pytest.param(decimal.Decimal("-7"), -7, id="decimal-integer"),
    pytest.param(decimal.Decimal("-Infinity"), -math.inf, id="decimal-infinity"),
    pytest.param(
        {1: "one", None: "none", 2.5: "x", False: "no"}, {1: "one", None: "none", 2.5: "x", False: "no"}, id="keys"
    ),
    pytest.param("plain", "plain", id="str"),
    pytest.param([{"rows": [1, 2.5, None, False]}], [{"rows": [1, 2.5, None, False]}], id="plain-json"),
]


@pytest.mark.parametrize(("value", "expected"), ENCODED)
def test_probe_results_json_can_carry_after_conversion_are_encoded(value: object, expected: object) -> None:
    answer = probe_answer(value)

    assert answer["ok"] is True
    if expected is None:  # an unsortable set keeps its own order
        assert sorted(map(str, answer["result"])) == ["1", "a"]
    else:
        assert answer["result"] == expected
        assert type(answer["result"]) is type(expected)


# A Decimal reads back as the number Lambda's marshaller writes: its own digits (see the worker's
# tests, on awslambdaric's fixtures), so 1E+2 is a float and -7 an int.
def test_a_nan_decimal_becomes_a_float_nan_as_lambda_writes_it() -> None:
    answer = probe_answer({"x": decimal.Decimal("NaN")})

    assert answer["ok"] is True
    assert math.isnan(answer["result"]["x"])


def test_a_value_shared_twice_is_not_a_cycle() -> None:
    shared = {"n": 1}

    assert probe_answer([shared, shared])["result"] == [{"n": 1}, {"n": 1}]


class Client:
    pass


UNENCODABLE = [
    pytest.param(Client(), "result is a tests.unit.test_runtime_edge_cases.Client", id="object"),
    pytest.param({"ttl": datetime.timedelta(seconds=3)}, "result['ttl'] is a datetime.timedelta", id="timedelta"),
    pytest.param([1, {"f": print}], "result[1]['f'] is a builtin_function_or_method", id="nested-function"),
    pytest.param({frozenset(): 1}, "result has a key of type frozenset", id="frozenset-key"),
]


@pytest.mark.parametrize(("value", "where"), UNENCODABLE)
def test_a_probe_result_json_cannot_carry_is_a_probe_error_with_its_type(value: object, where: str) -> None:
    answer = probe_answer(value)

    assert answer["ok"] is False
    assert answer["error"] == f"probe result is not JSON-encodable: {where}"
    assert "result" not in answer


def test_a_probe_result_nested_deeper_than_python_can_walk_is_a_probe_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]

    answer = probe_answer(deep)

    assert answer["ok"] is False
    assert "nested too deeply" in answer["error"]
