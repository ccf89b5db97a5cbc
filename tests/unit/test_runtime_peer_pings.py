"""The peers' own payloads, and the delays their fan-outs rely on.

Fixtures are the peers' published events, each cited:

* lambda-warmer: jeremydaly/lambda-warmer@0b0cd926336e3482151235eb9c83d0c1248cbc62 — ``README.md``
  ("Warming your Lambda functions", "Configuration Options", "Setting multiple targets"), ``index.js``
  (the fan-out payload, ``isDifferentTarget``, ``delay(config.delay)`` when ``invokeCount > 1``) and
  ``test/target.js`` (which targets are "the function itself").
* OpenNext: opennextjs/opennextjs-aws — ``packages/open-next/src/adapters/warmer-function.ts`` @
  09d023cdff4d0f012b64c3e5e2985b9975b2e96d (the warmer sends ``{type, warmerId, index, concurrency,
  delay: 75}`` to every server concurrently) and ``packages/open-next/src/overrides/wrappers/aws-lambda.ts``
  @ ecf7b7da14a5a16e2a74fef90d175b10189a784a (the server answers ``{serverId, type}`` after
  ``setTimeout(…, event.delay)``).
* lambda-warmer-py 0.6.0 (PyPI, a dev dependency): its own code runs here, as the oracle of what a
  fan-out invocation sends and how long its receiver holds.
"""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from tests.unit.test_runtime_pings import Harness, context
from thermostat_runtime import detect_ping
from thermostat_runtime.protocol import LAMBDA_WARMER_DELAY_MS

pytestmark = pytest.mark.unit

SELF_ARN = "arn:aws:lambda:us-west-2:123456789:function:test-function:stable"


@pytest.fixture(autouse=True)
def _lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # test/target.js's function: test-function at $LATEST.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "test-function")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")


def arn_context(arn: str | None = None) -> types.SimpleNamespace:
    ctx = context()
    ctx.invoked_function_arn = arn
    return ctx


# -- lambda-warmer: target, test, the array form ----------------------------------------------


def test_the_readme_schedule_input_is_answered_and_says_the_fan_out_it_did_not_send() -> None:
    # Given lambda-warmer's README schedule input (concurrency 3, no target: this function)
    harness = Harness()

    # When it reaches a function wearing @warmable
    reply = harness({"warmer": True, "concurrency": 3}, arn_context())

    # Then no business code runs, nothing is held, and the reply names the unsent fan-out
    body = reply["thermostat"]
    assert harness.business_calls == []
    assert (body["warm"], body["peer"]) == (True, "lambda-warmer")
    assert body["unsent_fan_out"] == {"target": "test-function:$LATEST", "concurrency": 3}
    assert harness.slept == []


@pytest.mark.parametrize(
    ("event", "arn", "version", "other"),
    [
        # test/target.js: "should do nothing if there is a target in the event with the same function name and alias"
        pytest.param({"warmer": True, "concurrency": 1, "target": "test-function:stable"}, SELF_ARN, "$LATEST", False),
        # "if the target function name is different"
        pytest.param({"warmer": True, "concurrency": 1, "target": "other"}, None, "$LATEST", True),
        # "if the target function version is different"
        pytest.param({"warmer": True, "concurrency": 1, "target": "test-function:1"}, None, "$LATEST", True),
        # "if the current function is not $LATEST and the target is with no version (i.e. $LATEST)"
        pytest.param({"warmer": True, "concurrency": 1, "target": "test-function"}, None, "1", True),
        # "if the current function has an alias that is not the same as the target version"
        pytest.param(
            {"warmer": True, "concurrency": 1, "target": "test-function:2"},
            "arn:aws:lambda:us-west-2:123456789:function:test-function:1",
            "1",
            True,
        ),
        # index.js: the bare name is this function when it runs $LATEST
        pytest.param({"warmer": True, "concurrency": 1, "target": "test-function"}, None, "$LATEST", False),
    ],
)
def test_target_means_what_lambda_warmer_means_by_it(
    event: dict[str, Any], arn: str | None, version: str, other: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given lambda-warmer's own target cases
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", version)
    harness = Harness()

    # When the event arrives
    reply = harness(event, arn_context(arn))

    # Then it is a ping either way; a different target is reported as the fan-out not sent
    assert harness.business_calls == []
    body = reply["thermostat"]
    if other:
        assert body["unsent_fan_out"] == {"target": event["target"], "concurrency": 1}
    else:
        assert "unsent_fan_out" not in body


def test_a_test_ping_is_answered_without_any_fan_out() -> None:
    # Given the README's `test` flag on a ping that would otherwise fan out to another function
    harness = Harness()

    # When it arrives
    reply = harness({"warmer": True, "concurrency": 3, "target": "other", "test": True}, arn_context())

    # Then it is a ping, marked as a test, with nothing to fan out (lambda-warmer skips its fan-out too)
    body = reply["thermostat"]
    assert harness.business_calls == []
    assert body["test"] is True
    assert "unsent_fan_out" not in body
    assert harness.records[0]["start_kind"] == "warm_ping"


def test_the_array_of_events_from_the_readme_is_one_ping() -> None:
    # Given the README's "Setting multiple targets" input (Serverless YAML, as the JSON it becomes)
    event = [
        {"warmer": True, "concurrency": 1, "target": "myOtherFunction"},
        {"warmer": True, "concurrency": 2, "target": "myOtherFunction2"},
        {"warmer": True, "concurrency": 2, "target": "myOtherFunction3"},
    ]
    harness = Harness()

    # When the array reaches a function wearing @warmable
    reply = harness(event, arn_context())

    # Then it is answered once, business code untouched, with every fan-out it did not send
    assert harness.business_calls == []
    assert reply["thermostat"]["peer"] == "lambda-warmer"
    assert reply["thermostat"]["unsent_fan_out"] == [
        {"target": "myOtherFunction", "concurrency": 1},
        {"target": "myOtherFunction2", "concurrency": 2},
        {"target": "myOtherFunction3", "concurrency": 2},
    ]
    assert len(harness.records) == 1


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"warmer": True, "target": 5}, id="target-not-a-string"),
        pytest.param({"warmer": True, "target": ""}, id="target-empty"),
        pytest.param({"warmer": True, "test": "yes"}, id="test-not-a-bool"),
        pytest.param([{"warmer": True}, {"order": 1}], id="array-with-an-ordinary-element"),
        pytest.param([{"warmer": True}, "warmer"], id="array-with-a-string"),
        pytest.param([{"warmer": True, "payload": 1}], id="array-with-a-near-miss"),
        pytest.param([], id="empty-array"),
    ],
)
def test_near_misses_of_the_new_forms_reach_the_handler_unchanged(event: Any) -> None:
    harness = Harness()
    assert harness(event, arn_context()) == {"statusCode": 200}
    assert harness.business_calls == [event]
    assert detect_ping(event) is None


# -- the delays the peers' fan-outs rely on -----------------------------------------------------


def lambda_warmer_js_fan_out(concurrency: int, correlation_id: str) -> list[dict[str, Any]]:
    """The payloads index.js sends for invocations 2..concurrency (JSON.stringify of its literal)."""
    return [
        {
            "warmer": True,
            "__WARMER_INVOCATION__": i,
            "__WARMER_CONCURRENCY__": concurrency,
            "__WARMER_CORRELATIONID__": correlation_id,
        }
        for i in range(2, concurrency + 1)
    ]


def test_lambda_warmers_fan_out_invocations_hold_its_delay() -> None:
    # Given the invocations lambda-warmer's fan-out sends for concurrency 4
    payloads = lambda_warmer_js_fan_out(4, "1531413096993-0568")

    # When each reaches its own environment
    held = []
    for payload in payloads:
        harness = Harness()
        body = harness(json.loads(json.dumps(payload)), arn_context())["thermostat"]
        held.append((harness.slept, body["held_ms"], body["index"], body["of"], body["correlation_id"]))

    # Then each stays busy for lambda-warmer's delay before answering, as lambda-warmer's receiver does
    assert LAMBDA_WARMER_DELAY_MS == 75
    assert held == [([0.075], 75, i, 4, "1531413096993-0568") for i in (2, 3, 4)]


def test_the_scheduled_invocation_itself_holds_nothing() -> None:
    # invokeCount 1 (or absent) with nothing to fan out: lambda-warmer resolves at once.
    harness = Harness()
    body = harness({"warmer": True, "__WARMER_INVOCATION__": 1, "__WARMER_CONCURRENCY__": 3}, arn_context())
    assert harness.slept == []
    assert "held_ms" not in body["thermostat"]


class _RecordingLambda:
    def __init__(self, sent: list[dict[str, Any]]) -> None:
        self.sent = sent

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"StatusCode": 202}


def test_lambda_warmer_py_holds_exactly_as_long_as_its_own_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambdawarmer

    # Given lambda-warmer-py's own fan-out for concurrency 4, its Lambda client recording instead of sending
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(lambdawarmer, "boto3_client", lambda _service: _RecordingLambda(sent))
    peer_handler = lambdawarmer.warmer(lambda _event, _context: "business")  # its defaults: delay 75
    assert peer_handler({"warmer": True, "concurrency": 4}, context()) is None
    payloads = [json.loads(call["Payload"]) for call in sent]
    assert [call["InvocationType"] for call in sent] == ["Event", "Event", "RequestResponse"]

    # When each payload reaches lambda-warmer-py's own receiver, and a function wearing @warmable
    peer_slept: list[float] = []
    monkeypatch.setattr(lambdawarmer, "time", types.SimpleNamespace(sleep=peer_slept.append))
    ours_slept = []
    for payload in payloads:
        assert peer_handler(payload, context()) is None  # the peer short-circuits too
        harness = Harness()
        harness(payload, arn_context())
        ours_slept.extend(harness.slept)

    # Then thermostat holds each environment exactly as long as the peer itself would
    assert ours_slept == peer_slept == [0.075, 0.075, 0.075]


def opennext_warmer_events(concurrency: int, warmer_id: str) -> list[dict[str, Any]]:
    """What warmer-function.ts sends, one per server, all at once."""
    return [
        {"type": "warmer", "warmerId": warmer_id, "index": i, "concurrency": concurrency, "delay": 75}
        for i in range(concurrency)
    ]


def test_opennext_servers_hold_the_delay_the_warmer_asks_for() -> None:
    # Given OpenNext's warmer events for three servers
    for event in opennext_warmer_events(3, "warmer-abc123"):
        harness = Harness()

        # When each arrives
        reply = harness(event, arn_context())

        # Then it answers after the delay, with what OpenNext's warmer counts
        assert harness.slept == [0.075]
        assert (reply["type"], reply["serverId"]) == ("warmer", harness.environment.environment_id)
        assert (reply["thermostat"]["held_ms"], reply["thermostat"]["index"]) == (75, event["index"])


def test_an_opennext_delay_beyond_the_cap_is_capped_and_said() -> None:
    harness = Harness(hold_ms_max=1_000)
    reply = harness({"type": "warmer", "warmerId": "w", "index": 0, "concurrency": 1, "delay": 60_000}, context())
    assert harness.slept == [1.0]
    assert (reply["thermostat"]["held_ms"], reply["thermostat"]["hold_capped"]) == (1_000, True)
