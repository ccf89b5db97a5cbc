"""Keep-warm in place of a peer's warmer keeps the environment count the peer kept.

The targets here run the peers' own receiving code in-process — lambda-warmer-py 0.6.0's
``@warmer`` (PyPI, a dev dependency) — with its Lambda client recording the fan-out it would send
and its ``time.sleep`` recording the hold. Payload shapes are the peers' published ones:
lambda-warmer's README schedule input ``{ "warmer":true,"concurrency":3 }`` and fan-out payload
(jeremydaly/lambda-warmer@0b0cd926336e3482151235eb9c83d0c1248cbc62, ``README.md`` and ``index.js``);
OpenNext's warmer event (opennextjs/opennextjs-aws, ``packages/open-next/src/adapters/warmer-function.ts``
@ 09d023cdff4d0f012b64c3e5e2985b9975b2e96d).
"""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from domain.keep_warm import FunctionFacts
from domain.keep_warm.peers import peer_fan_out
from tests.unit.test_keep_warm import FakeClock, FakeFleet, FakeFunction, only, play, target

pytestmark = pytest.mark.unit


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=8)
    yield pool
    pool.shutdown(wait=True)


class PeerFleet:
    """One function whose handler is lambda-warmer-py's ``@warmer``; records what the peer did."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import lambdawarmer

        self.requests: list[InvocationRequest] = []
        self.fan_out: list[dict[str, Any]] = []
        self.slept: list[float] = []
        self._lock = threading.Lock()
        fleet = self

        class RecordingLambda:
            def invoke(self, **kwargs: Any) -> dict[str, Any]:
                with fleet._lock:
                    fleet.fan_out.append(kwargs)
                return {"StatusCode": 202}

        def sleep(seconds: float) -> None:
            with fleet._lock:
                fleet.slept.append(seconds)

        monkeypatch.setattr(lambdawarmer, "boto3_client", lambda _service: RecordingLambda())
        monkeypatch.setattr(lambdawarmer, "time", types.SimpleNamespace(sleep=sleep))
        self.handler = lambdawarmer.warmer(lambda _event, _context: {"business": True})

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        return FunctionFacts(timeout_s=3.0)

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        with self._lock:
            self.requests.append(request)
        context = types.SimpleNamespace(aws_request_id=f"req-{len(self.requests)}")
        result = self.handler(json.loads(request.payload), context)
        return InvocationResult(outcome=Outcome.OK, status_code=200, payload=result)


def test_lambda_warmers_schedule_input_becomes_its_fan_out_not_a_fan_out_of_fan_outs(
    executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function still running lambda-warmer, whose schedule sent { "warmer":true,"concurrency":3 },
    # now a keep-warm target of concurrency 3 with that event as its payload
    fleet = PeerFleet(monkeypatch)
    payload = {"warmer": True, "concurrency": 3}

    # When keep-warm runs a round
    row = only(play(fleet, [target("legacy", concurrency=3, payload=payload)], executor), "legacy")

    # Then 3 invocations reach the function, none fans out again, and each holds lambda-warmer's delay:
    # the 3 environments lambda-warmer's own fan-out kept (sent verbatim, each would have sent 2 more)
    assert row["sent"] == 3
    assert fleet.fan_out == []
    assert fleet.slept == [0.075, 0.075, 0.075]
    events = sorted((json.loads(r.payload) for r in fleet.requests), key=lambda e: e["__WARMER_INVOCATION__"])
    assert [e["__WARMER_INVOCATION__"] for e in events] == [2, 3, 4]
    assert {e["__WARMER_CONCURRENCY__"] for e in events} == {4}  # keep-warm is invocation 1
    assert {e["__WARMER_CORRELATIONID__"] for e in events} == {"round-1:default#legacy#live"}
    assert all("concurrency" not in e for e in events)


def test_a_payload_with_a_target_or_test_is_the_users_own_and_goes_verbatim(
    executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = PeerFleet(monkeypatch)
    payload = {"warmer": True, "concurrency": 2, "test": True}
    play(fleet, [target("legacy", concurrency=2, payload=payload)], executor)
    assert [json.loads(r.payload) for r in fleet.requests] == [payload, payload]


def test_opennexts_event_is_sent_as_its_warmer_sends_it() -> None:
    # Given OpenNext's warmer event stored as a target's payload (delay as its warmer sends it)
    stored = json.dumps({"type": "warmer", "delay": 75}).encode()

    # When keep-warm shapes a batch of 3
    shaped = peer_fan_out(stored, 3, "round-1:default#web#live")

    # Then each ping is warmer-function.ts's event, indexed, and the batch keeps time for the delay
    assert shaped is not None
    pings, hold_ms = shaped
    assert hold_ms == 75
    assert [json.loads(p) for p in pings] == [
        {"type": "warmer", "warmerId": "round-1:default#web#live", "index": i, "concurrency": 3, "delay": 75}
        for i in range(3)
    ]


def test_the_round_keeps_time_for_the_delay_the_peer_will_hold(executor: ThreadPoolExecutor) -> None:
    # Given 0.3 s left: enough for a verbatim payload (0.25 s launch margin), not for a 75 ms delay on top
    clock = FakeClock()
    fleet = FakeFleet(FakeFunction("web", speaks_protocol=False), FakeFunction("other", speaks_protocol=False))
    targets = [
        target("web", concurrency=2, payload={"type": "warmer", "delay": 75}),
        target("other", concurrency=2, payload={"warm": "please"}),
    ]

    # When the round runs
    report = play(fleet, targets, executor, clock=clock, deadline=clock() + 0.3)

    # Then the peer's batch is not launched (its servers would still be holding at the deadline)
    assert (only(report, "web")["sent"], only(report, "web")["not_attempted"]) == (0, 2)
    assert only(report, "other")["sent"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type": "warmer", "delay": -1}',
        b'{"type": "warmer", "delay": "75"}',
        b'{"type": "warmer", "path": "/"}',
        b'{"warmer": true, "target": "other"}',
        b'[{"warmer": true}]',
        b"not json",
        b"\xff",
    ],
)
def test_anything_else_is_not_a_peers_plain_event(payload: bytes) -> None:
    assert peer_fan_out(payload, 2, "c") is None
