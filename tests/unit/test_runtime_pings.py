"""Warm pings: ours, the peers', near-misses and malformed messages."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.emf import emf_documents, emf_problems
from thermostat_runtime import Environment, Telemetry, build_request, detect_ping, parse_reply, warmable

pytestmark = pytest.mark.unit


class Harness:
    """A handler under @warmable with a fake clock, a recording sleeper and captured telemetry."""

    def __init__(self, probe: Any = None, hold_ms_max: int = 1_000, init_type: str = "on-demand") -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.lines: list[str] = []
        self.business_calls: list[Any] = []
        self.environment = Environment(init_type=init_type, started_at=99.0)

        def sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.now += seconds

        @warmable(
            probe=probe,
            hold_ms_max=hold_ms_max,
            environment=self.environment,
            telemetry=Telemetry(sink=self.lines.append, namespace="Test"),
            clock=lambda: self.now,
            sleep=sleep,
        )
        def handler(event: Any, context: Any) -> Any:
            self.business_calls.append(event)
            return {"statusCode": 200}

        self.handler = handler

    def __call__(self, event: Any, context: Any = None) -> Any:
        return self.handler(event, context)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def context(remaining_ms: int = 30_000, request_id: str = "req-1", custom: Any = None) -> SimpleNamespace:
    client_context = SimpleNamespace(custom=custom, env=None, client=None) if custom is not None else None
    return SimpleNamespace(
        aws_request_id=request_id,
        get_remaining_time_in_millis=lambda: remaining_ms,
        client_context=client_context,
    )


PEER_PINGS = [
    pytest.param({"source": "serverless-plugin-warmup"}, "serverless-plugin-warmup", id="plugin-warmup-payload"),
    pytest.param({"warmer": True, "concurrency": 3}, "lambda-warmer", id="lambda-warmer"),
    pytest.param(
        {"warmer": True, "__WARMER_INVOCATION__": 2, "__WARMER_CONCURRENCY__": 3, "__WARMER_CORRELATION_ID__": "c"},
        "lambda-warmer",
        id="lambda-warmer-py-fanout",
    ),
    pytest.param({"warmer": True}, "lambda-warmer", id="lambda-warmer-minimal"),
    pytest.param(
        {
            "version": "0",
            "id": "e1",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [
                "arn:aws:events:us-east-1:123456789012:rule/app-dev-zappa-keep-warm-handler.keep_warm_callback"
            ],
            "detail": {},
        },
        "zappa",
        id="zappa-keep-warm",
    ),
    pytest.param(
        {"type": "warmer", "warmerId": "w-1", "index": 1, "concurrency": 2, "delay": 75}, "opennext", id="opennext"
    ),
]


@pytest.mark.parametrize(("event", "peer"), PEER_PINGS)
def test_peer_pings_short_circuit(event: dict[str, Any], peer: str) -> None:
    harness = Harness()
    reply = harness(event, context())
    assert harness.business_calls == []
    assert reply["thermostat"]["warm"] is True
    assert reply["thermostat"]["peer"] == peer
    assert harness.records[0]["start_kind"] == "warm_ping"
    assert harness.records[0]["peer"] == peer


def test_opennext_gets_the_fields_it_counts() -> None:
    harness = Harness()
    reply = harness({"type": "warmer", "warmerId": "w", "index": 0, "concurrency": 1, "delay": 0})
    assert reply["type"] == "warmer"
    assert reply["serverId"] == harness.environment.environment_id


def test_serverless_plugin_warmup_in_client_context() -> None:
    harness = Harness()
    reply = harness({"anything": "else"}, context(custom={"source": "serverless-plugin-warmup"}))
    assert harness.business_calls == []
    assert reply["thermostat"]["peer"] == "serverless-plugin-warmup"


NEAR_MISSES = [
    pytest.param({"source": "serverless-plugin-warmup", "body": "x"}, id="plugin-with-extra-key"),
    pytest.param({"source": "serverless-plugin-warmupX"}, id="plugin-wrong-source"),
    pytest.param({"warmer": "yes"}, id="warmer-string"),
    pytest.param({"warmer": 1}, id="warmer-int"),
    pytest.param({"warmer": True, "concurrency": "3"}, id="warmer-concurrency-string"),
    pytest.param({"warmer": True, "payload": {}}, id="warmer-extra-key"),
    pytest.param({"type": "warmer", "warmerId": 5}, id="opennext-wrong-type"),
    pytest.param({"type": "warmer", "path": "/"}, id="opennext-extra-key"),
    pytest.param({"thermostat": "warm"}, id="thermostat-not-object"),
    pytest.param({"thermostat": None}, id="thermostat-null"),
    pytest.param({"thermostat": {"v": 1, "action": "warm"}, "body": "{}"}, id="thermostat-extra-top-level"),
    pytest.param(
        {"detail-type": "Scheduled Event", "source": "aws.events", "resources": ["arn:aws:events:r:1:rule/other"]},
        id="scheduled-event-not-zappa",
    ),
    pytest.param(
        {"detail-type": "Scheduled Event", "source": "aws.events", "resources": "keep_warm_callback"},
        id="zappa-resources-string",
    ),
    pytest.param(["warmer"], id="a-list"),
    pytest.param("warmer", id="a-string"),
    pytest.param(None, id="none"),
]


@pytest.mark.parametrize("event", NEAR_MISSES)
def test_near_misses_go_to_the_business_handler(event: Any) -> None:
    harness = Harness()
    reply = harness(event, context(custom={"source": "something-else"}))
    assert reply == {"statusCode": 200}
    assert harness.business_calls == [event]
    assert harness.records[0]["start_kind"] == "cold"


MALFORMED = [
    pytest.param({"v": 2, "action": "warm"}, "unsupported protocol version 2", id="wrong-version"),
    pytest.param({"v": "1", "action": "warm"}, "unsupported protocol version '1'", id="version-string"),
    pytest.param({"v": True, "action": "warm"}, "unsupported protocol version True", id="version-bool"),
    pytest.param({"action": "warm"}, "unsupported protocol version None", id="no-version"),
    pytest.param({"v": 1, "action": "dance"}, "unknown action 'dance'", id="unknown-action"),
    pytest.param(
        {"v": 1, "action": "warm", "hold_ms": -5}, "hold_ms must be a non-negative integer", id="negative-hold"
    ),
    pytest.param({"v": 1, "action": "warm", "hold_ms": 1.5}, "hold_ms must be a non-negative integer", id="float-hold"),
    pytest.param({"v": 1, "action": "warm", "index": "2"}, "index must be a non-negative integer", id="index-string"),
    pytest.param(
        {"v": 1, "action": "warm", "correlation_id": 7}, "correlation_id must be a string", id="correlation-int"
    ),
    pytest.param({"v": 1, "action": "warm", "extra": 1}, "unknown field(s) ['extra']", id="unknown-field"),
    # bool is an int to Python, not to the protocol; checked past the inline check of each field
    pytest.param({"v": 1, "action": "warm", "index": True}, "index must be a non-negative integer", id="index-bool"),
    pytest.param({"v": 1, "action": "warm", "of": -1}, "of must be a non-negative integer", id="negative-of"),
    pytest.param({"v": 1, "hold_ms": False}, "hold_ms must be a non-negative integer", id="hold-bool"),
    pytest.param({"v": 1.0, "action": "warm"}, "unsupported protocol version 1.0", id="version-float"),
    pytest.param({"v": 1, "action": ["warm"]}, "unknown action ['warm']", id="action-list"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_malformed_protocol_messages_get_an_error_reply_and_run_nothing(body: dict[str, Any], message: str) -> None:
    harness = Harness()
    reply = harness({"thermostat": body}, context())
    assert harness.business_calls == []
    assert reply["thermostat"]["warm"] is False
    assert message in reply["thermostat"]["error"]
    assert harness.slept == []
    assert harness.records[0]["error"] == reply["thermostat"]["error"]


def test_warm_reply_matches_the_protocol() -> None:
    harness = Harness()
    reply = harness(build_request("warm", correlation_id="c-9", index=2, of=5), context())
    body = reply["thermostat"]
    assert body["v"] == 1
    assert body["warm"] is True
    assert body["correlation_id"] == "c-9"
    assert (body["index"], body["of"]) == (2, 5)
    assert body["start_kind"] == "cold"
    assert body["init_type"] == "on-demand"
    assert body["environment_id"] == harness.environment.environment_id
    assert body["probe"] is None
    parsed = parse_reply(reply)
    assert parsed.speaks_protocol
    assert parsed.warm
    assert parsed.environment_id == body["environment_id"]


#: The order of a reply's fields, as the protocol lists them (README "warm-ping protocol"); JSON keeps it.
REPLY_HEAD = ["v", "warm", "environment_id", "start_kind", "init_type", "init_ms", "function_name", "function_version"]


def test_reply_fields_keep_their_order_for_each_kind_of_ping() -> None:
    # Given one environment answering, in turn, our ping with every optional field, a malformed one,
    # a lambda-warmer ping whose fan-out is not sent, and OpenNext's
    harness = Harness()
    ours = harness(build_request("warm", correlation_id="c-1", index=0, of=2, hold_ms=5), context())
    malformed = harness({"thermostat": {"v": 7}}, context())
    warmer = harness({"warmer": True, "concurrency": 3}, context())
    opennext = harness({"type": "warmer", "warmerId": "w", "index": 1, "concurrency": 2, "delay": 5}, context())

    # Then every body lists the constant fields first, then the ping's own, in the same order each time
    assert list(ours["thermostat"]) == [*REPLY_HEAD, "correlation_id", "probe", "index", "of", "held_ms"]
    assert list(malformed["thermostat"]) == [*REPLY_HEAD, "correlation_id", "probe", "error"]
    assert list(warmer["thermostat"]) == [*REPLY_HEAD, "correlation_id", "probe", "peer", "of", "unsent_fan_out"]
    assert list(opennext["thermostat"]) == [*REPLY_HEAD, "correlation_id", "probe", "peer", "index", "of", "held_ms"]
    assert list(opennext) == ["thermostat", "type", "serverId"]
    # and the first found the environment cold, the later ones warm, all with its id and init figure
    bodies = [reply["thermostat"] for reply in (ours, malformed, warmer, opennext)]
    assert [body["start_kind"] for body in bodies] == ["cold", "warm", "warm", "warm"]
    assert {body["environment_id"] for body in bodies} == {harness.environment.environment_id}
    assert {body["init_ms"] for body in bodies} == {1000.0}
    assert [body["warm"] for body in bodies] == [True, False, True, True]
    assert [body["correlation_id"] for body in bodies] == ["c-1", None, None, "w"]


def test_a_reply_its_caller_changes_leaves_the_next_reply_alone() -> None:
    # Given a warm environment and a reply that the caller (a test harness, a wrapper above us) edits in place
    harness = Harness()
    harness({"path": "/"}, context())
    first = harness(build_request("warm", correlation_id="c-1", index=3), context())
    first["thermostat"].update(warm=False, environment_id="edited", correlation_id="x", probe={"ok": False})
    first["thermostat"]["extra"] = 1

    # When the environment answers the next ping
    second = harness(build_request("warm"), context())["thermostat"]

    # Then that reply is whole and its own
    assert second["warm"] is True
    assert second["environment_id"] == harness.environment.environment_id
    assert second["correlation_id"] is None
    assert second["probe"] is None
    assert "extra" not in second
    assert "index" not in second


def test_an_int_subclass_is_an_integer_to_the_protocol() -> None:
    # Given an index that is an int subclass (an IntEnum, as a caller may build it), not an int itself
    from enum import IntEnum

    class Slot(IntEnum):
        SECOND = 1

    harness = Harness()
    # When it pings, Then the reply carries the plain number, as JSON will
    body = harness({"thermostat": {"v": 1, "index": Slot.SECOND}}, context())["thermostat"]
    assert body["warm"] is True
    assert body["index"] == 1
    assert type(body["index"]) is int


def test_hold_waits_then_replies() -> None:
    harness = Harness()
    reply = harness(build_request("warm", hold_ms=75), context())
    assert harness.slept == [pytest.approx(0.075)]
    assert reply["thermostat"]["held_ms"] == 75
    assert "hold_capped" not in reply["thermostat"]


def test_huge_hold_is_capped_by_the_maximum() -> None:
    harness = Harness(hold_ms_max=250)
    reply = harness(build_request("warm", hold_ms=10**9), context())
    assert harness.slept == [pytest.approx(0.25)]
    assert reply["thermostat"]["held_ms"] == 250
    assert reply["thermostat"]["hold_capped"] is True


def test_hold_never_outlives_the_function() -> None:
    # Given only 300 ms left, When asked to hold 1 s, Then it keeps a safety margin
    harness = Harness()
    reply = harness(build_request("warm", hold_ms=1_000), context(remaining_ms=300))
    assert reply["thermostat"]["held_ms"] == 100
    assert harness.slept == [pytest.approx(0.1)]


def test_probe_reports_its_result_and_duration() -> None:
    harness = Harness(probe=lambda: {"rows": 1})
    reply = harness(build_request("probe"), context())
    probe = reply["thermostat"]["probe"]
    assert probe["ok"] is True
    assert probe["result"] == {"rows": 1}
    assert probe["duration_ms"] >= 0
    assert harness.business_calls == []


def test_a_probe_that_raises_is_a_verdict_not_a_crash() -> None:
    def probe() -> None:
        raise ConnectionError("database unreachable")

    harness = Harness(probe=probe)
    reply = harness(build_request("probe"), context())
    assert reply["thermostat"]["probe"] == {
        "ok": False,
        "error": "ConnectionError: database unreachable",
        "duration_ms": 0.0,
    }


def test_a_probe_returning_false_fails() -> None:
    harness = Harness(probe=lambda: False)
    probe = harness(build_request("probe"), context())["thermostat"]["probe"]
    assert probe["ok"] is False
    assert probe["error"] == "probe returned False"


def test_probe_without_a_registered_probe_says_so() -> None:
    harness = Harness()
    probe = harness(build_request("probe"), context())["thermostat"]["probe"]
    assert probe["ok"] is False
    assert "no probe registered" in probe["error"]


def test_business_errors_are_recorded_and_reraised() -> None:
    lines: list[str] = []

    @warmable(environment=Environment(init_type="on-demand", started_at=0.0), telemetry=Telemetry(sink=lines.append))
    def handler(event: Any, context: Any) -> Any:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        handler({"a": 1}, context())
    record = json.loads(lines[0])
    assert record["error"] == "KeyError"
    assert record["start_kind"] == "cold"
    assert record["request_id"] == "req-1"


def test_every_telemetry_line_is_valid_emf() -> None:
    harness = Harness(probe=lambda: True)
    harness({"path": "/"}, context())
    harness(build_request("warm"), context(request_id='we"ird\\id'))
    harness(build_request("probe"), context())
    harness({"thermostat": {"v": 9}}, context())
    harness({"path": "/"}, context(request_id="ünïcode"))
    documents = emf_documents(harness.lines)
    assert len(documents) == 5
    for document in documents:
        assert emf_problems(document) == []
        assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test"
    assert documents[1]["request_id"] == 'we"ird\\id'
    assert documents[4]["request_id"] == "ünïcode"


def test_emf_checker_rejects_broken_documents() -> None:
    # The validator itself must bite, or the test above proves nothing.
    good = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["D"]], "Metrics": [{"Name": "M"}]}],
        },
        "D": "x",
        "M": 1,
    }
    assert emf_problems(good) == []
    assert emf_problems({**good, "D": 5})
    assert emf_problems({**good, "M": "one"})
    assert emf_problems({"_aws": {"CloudWatchMetrics": []}})
    no_namespace = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Dimensions": [], "Metrics": []}]}}
    assert emf_problems(no_namespace)


def test_detect_ping_is_none_for_ordinary_events() -> None:
    assert detect_ping({"Records": []}) is None
    assert detect_ping({}) is None
    assert detect_ping({"thermostat": {"v": 1}, "x": 1}) is None
