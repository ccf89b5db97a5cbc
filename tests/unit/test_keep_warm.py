"""The keep-warm round, with an in-memory fleet: no network, no wall-clock assertions.

The fake fleet routes like Lambda: a request takes an idle environment of its function or
starts a new one. Pings of one batch overlap deterministically: each holds its environment
until every ping of its batch (same correlation id) has arrived, so N pings meet N environments
without any sleep-based timing.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from domain.deadline import Deadline
from domain.errors import AccessDenied, InvalidInput, NotFound, Unavailable
from domain.invocation import InvocationRequest, InvocationResult, Outcome
from domain.keep_warm import FunctionFacts, RoundPolicy, RoundReport, keep_warm
from domain.targets import Target, TargetProblem, make_target
from infra.fanout import ThreadDispatcher, run_round

pytestmark = pytest.mark.unit


class FakeClock:
    """Monotonic seconds that only move when told to (thread-safe)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass
class FakeFunction:
    name: str
    qualifiers: tuple[str, ...] = ("live", "1", "2", "7")
    timeout_s: float = 3.0
    reserved: int | None = None
    provisioned: int = 0
    throttle_reason: str | None = None
    speaks_protocol: bool = True
    function_error: bool = False
    protocol_error: str | None = None
    #: When False, pings do not overlap (each frees its environment at once): they all meet one.
    overlap: bool = True
    overlap_only_top_up: bool = False
    raises: bool = False
    #: Real seconds each ping keeps its environment after its batch met (lets the cap be observed).
    linger_s: float = 0.0
    idle: list[str] = field(default_factory=list)
    busy: int = 0
    environments: int = 0


class FakeFleet:
    """A FunctionInvoker and a LambdaConfig over simulated functions."""

    def __init__(self, *functions: FakeFunction, clock: FakeClock | None = None, cost_s: float = 0.0) -> None:
        self.functions = {f.name: f for f in functions}
        self.clock = clock
        self.cost_s = cost_s
        self.requests: list[InvocationRequest] = []
        self.per_function: Counter[str] = Counter()
        self.describes: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Condition()
        self._arrivals: Counter[str] = Counter()
        self.config_unavailable = False
        #: Raise AccessDenied (the role may not read the configuration) instead of answering.
        self.config_denied = False
        #: Answer facts that name these refused look-ups (a partial answer).
        self.refused: tuple[str, ...] = ()

    # -- LambdaConfig
    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        self.describes[function] += 1
        if self.config_unavailable:
            raise Unavailable("ThrottlingException: Rate exceeded")
        if self.config_denied:
            raise AccessDenied("may not read the configuration (AccessDeniedException: not authorized)")
        spec = self.functions.get(function)
        if spec is None or qualifier not in spec.qualifiers:
            raise NotFound(f"function {function}:{qualifier} not found")
        if self.refused:
            return FunctionFacts(timeout_s=spec.timeout_s, provisioned=spec.provisioned, refused=self.refused)
        return FunctionFacts(timeout_s=spec.timeout_s, reserved=spec.reserved, provisioned=spec.provisioned)

    # -- FunctionInvoker
    def invoke(self, request: InvocationRequest) -> InvocationResult:
        with self._lock:
            self.requests.append(request)
            self.per_function[request.function] += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return self._serve(request)
        finally:
            if self.clock is not None and self.cost_s:
                self.clock.advance(self.cost_s)
            with self._lock:
                self.in_flight -= 1

    def _serve(self, request: InvocationRequest) -> InvocationResult:
        spec = self.functions.get(request.function)
        if spec is None or request.qualifier not in spec.qualifiers:
            return InvocationResult(outcome=Outcome.NOT_FOUND, status_code=404, error="Function not found")
        if spec.raises:
            raise RuntimeError("adapter bug")
        if spec.throttle_reason:
            return InvocationResult(outcome=Outcome.THROTTLED, status_code=429, error=spec.throttle_reason)
        event = json.loads(request.payload)
        ping = event.get("thermostat") if isinstance(event, dict) else None
        correlation = ping.get("correlation_id", "") if isinstance(ping, dict) else ""
        overlap = spec.overlap and (not spec.overlap_only_top_up or correlation.endswith(":top-up"))
        with self._lock:
            if spec.reserved is not None and spec.busy >= spec.reserved:
                return InvocationResult(
                    outcome=Outcome.THROTTLED,
                    status_code=429,
                    error="ReservedFunctionConcurrentInvocationLimitExceeded",
                )
            if spec.idle:
                env, kind = spec.idle.pop(), "warm"
            else:
                spec.environments += 1
                env, kind = f"{spec.name}-env-{spec.environments}", "cold"
            spec.busy += 1
            if overlap and isinstance(ping, dict):
                # Hold until the whole batch has arrived: the pings overlap by construction.
                self._arrivals[correlation] += 1
                self._lock.notify_all()
                self._lock.wait_for(lambda: self._arrivals[correlation] >= ping.get("of", 1), timeout=10)
            if not spec.linger_s:
                spec.busy -= 1
                spec.idle.append(env)
        if spec.linger_s:
            time.sleep(spec.linger_s)
            with self._lock:
                spec.busy -= 1
                spec.idle.append(env)
        if spec.function_error:
            return InvocationResult(outcome=Outcome.FUNCTION_ERROR, status_code=200, error="RuntimeError: boom")
        # The runtime module answers serverless-plugin-warmup's event as a ping too (it holds nothing).
        peer_ping = isinstance(event, dict) and event.get("source") == "serverless-plugin-warmup"
        if not spec.speaks_protocol or not (isinstance(ping, dict) or peer_ping):
            return InvocationResult(outcome=Outcome.OK, status_code=200, payload={"statusCode": 200})
        body: dict[str, Any] = {"v": 1, "warm": spec.protocol_error is None, "environment_id": env, "start_kind": kind}
        if spec.protocol_error:
            body["error"] = spec.protocol_error
        return InvocationResult(outcome=Outcome.OK, status_code=200, payload={"thermostat": body})


class FakeStore:
    def __init__(self, *targets: Target | TargetProblem) -> None:
        self.targets = list(targets)

    def load(self, group: str | None = None) -> list[Target | TargetProblem]:
        return [t for t in self.targets if group is None or t.group == group]

    def put(self, target: Target) -> None:
        self.targets.append(target)

    def delete(self, function: str, qualifier: str, group: str) -> bool:
        return False


class FakePayloads:
    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = objects or {}
        self.reads: Counter[str] = Counter()

    def __call__(self, uri: str) -> bytes:
        self.reads[uri] += 1
        if uri not in self.objects:
            raise NotFound(f"payloadS3 {uri} does not exist")
        return self.objects[uri]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=64)
    yield pool
    pool.shutdown(wait=True)


def play(
    fleet: FakeFleet,
    targets: list[Target | TargetProblem],
    executor: ThreadPoolExecutor,
    *,
    clock: FakeClock | None = None,
    deadline: float | None = None,
    payloads: FakePayloads | None = None,
    **policy: Any,
) -> RoundReport:
    clock = clock or FakeClock()
    return run_round(
        "default",
        targets,
        invoker=fleet,
        config=fleet,
        load_payload=payloads or FakePayloads(),
        executor=executor,
        clock=clock,
        round_id="round-1",
        deadline=None if deadline is None else Deadline(clock, deadline),
        policy=RoundPolicy(**policy),
    )


def only(report: RoundReport, function: str, qualifier: str = "live") -> dict[str, Any]:
    [target] = [t for t in report.to_dict()["targets"] if (t["function"], t["qualifier"]) == (function, qualifier)]
    return target


def target(function: str, qualifier: str = "live", **fields: Any) -> Target:
    return make_target(function=function, qualifier=qualifier, **fields)


# -- the main promise ------------------------------------------------------------------------


def test_concurrency_five_reaches_five_distinct_environments_and_says_they_were_cold(executor) -> None:
    # Given a function that speaks the protocol and a target asking for 5
    fleet = FakeFleet(FakeFunction("api"))
    # When one round runs
    report = play(fleet, [target("api", concurrency=5)], executor)
    # Then 5 pings went out and 5 distinct environments answered, all cold the first time
    row = only(report, "api")
    assert (row["sent"], row["environments"], row["cold"], row["errors"], row["throttled"]) == (5, 5, 5, 0, 0)
    assert row["skipped"] is None
    assert fleet.per_function["api"] == 5
    # And a second round finds the same 5 environments warm
    again = only(play(fleet, [target("api", concurrency=5)], executor), "api")
    assert (again["environments"], again["cold"]) == (5, 0)


def test_the_report_has_the_documented_shape(executor) -> None:
    report = play(FakeFleet(FakeFunction("api")), [target("api", concurrency=2)], executor).to_dict()
    assert set(report) >= {"group", "targets"}
    assert report["group"] == "default"
    required = {"function", "qualifier", "sent", "environments", "cold", "errors", "throttled", "skipped"}
    assert required <= set(report["targets"][0])
    json.dumps(report)  # the handler returns it: it must be JSON


def test_each_ping_is_a_protocol_request_with_index_of_and_hold(executor) -> None:
    fleet = FakeFleet(FakeFunction("api"))
    play(fleet, [target("api", concurrency=3, hold_ms=75)], executor)
    bodies = sorted((json.loads(r.payload)["thermostat"] for r in fleet.requests), key=lambda b: b["index"])
    assert [b["index"] for b in bodies] == [0, 1, 2]
    assert {(b["v"], b["action"], b["of"], b["hold_ms"]) for b in bodies} == {(1, "warm", 3, 75)}
    assert {b["correlation_id"] for b in bodies} == {"round-1:default#api#live"}
    assert {(r.function, r.qualifier) for r in fleet.requests} == {("api", "live")}


def test_a_target_that_does_not_speak_the_protocol_has_unknown_environments_not_zero(executor) -> None:
    fleet = FakeFleet(FakeFunction("legacy", speaks_protocol=False))
    row = only(play(fleet, [target("legacy", concurrency=4)], executor), "legacy")
    assert row["sent"] == 4
    assert row["environments"] is None
    assert row["unknown_environments"] == 4
    assert row["errors"] == 0
    assert row["top_up"] == 0  # nothing to top up: the count is unknown, not short


def test_a_custom_payload_is_sent_verbatim(executor) -> None:
    fleet = FakeFleet(FakeFunction("legacy", speaks_protocol=False))
    # (a peer's plain warming event is shaped as the peer's fan-out instead: test_keep_warm_peers.py)
    play(fleet, [target("legacy", concurrency=2, payload={"warm": "please", "concurrency": 2})], executor)
    assert [r.payload for r in fleet.requests] == [b'{"warm":"please","concurrency":2}'] * 2


# -- throttles, errors, caps -----------------------------------------------------------------


def test_throttles_are_counted_by_reason_and_never_retried_or_topped_up(executor) -> None:
    fleet = FakeFleet(FakeFunction("hot", throttle_reason="ConcurrentInvocationLimitExceeded"))
    row = only(play(fleet, [target("hot", concurrency=5)], executor), "hot")
    assert (row["sent"], row["throttled"], row["errors"], row["top_up"]) == (5, 5, 0, 0)
    assert row["throttle_reasons"] == {"ConcurrentInvocationLimitExceeded": 5}
    assert fleet.per_function["hot"] == 5  # one request per ping: no retry storm


def test_pings_are_capped_by_reserved_concurrency_minus_headroom(executor) -> None:
    # Given reserved concurrency 5 and the default headroom of max(1, 10%) = 1
    fleet = FakeFleet(FakeFunction("capped", reserved=5))
    row = only(play(fleet, [target("capped", concurrency=8)], executor), "capped")
    # Then only 4 pings are sent, and the report says why
    assert (row["planned"], row["sent"], row["environments"], row["capped_by"]) == (4, 4, 4, "reserved_concurrency")
    assert row["reserved"] == 5
    assert fleet.per_function["capped"] == 4


def test_qualifiers_of_one_function_share_its_reserved_concurrency(executor) -> None:
    fleet = FakeFleet(FakeFunction("shared", reserved=10))
    report = play(fleet, [target("shared", "live", concurrency=6), target("shared", "7", concurrency=6)], executor)
    # budget 10 - 1 headroom = 9: the first takes 6, the second gets the remaining 3
    assert only(report, "shared", "live")["sent"] == 6
    assert only(report, "shared", "7")["sent"] == 3
    assert only(report, "shared", "7")["capped_by"] == "reserved_concurrency"


def test_a_reserved_concurrency_too_small_for_any_headroom_skips_the_target(executor) -> None:
    fleet = FakeFleet(FakeFunction("tiny", reserved=1))
    row = only(play(fleet, [target("tiny", concurrency=2)], executor), "tiny")
    assert (row["skipped"], row["sent"]) == ("no_headroom", 0)
    assert "raise the reserved concurrency" in row["error"]
    assert fleet.per_function["tiny"] == 0


def test_a_target_covered_by_provisioned_concurrency_is_skipped(executor) -> None:
    fleet = FakeFleet(FakeFunction("pc", provisioned=5), FakeFunction("partial", provisioned=2))
    report = play(fleet, [target("pc", concurrency=5), target("partial", concurrency=5)], executor)
    assert (only(report, "pc")["skipped"], only(report, "pc")["sent"]) == ("provisioned", 0)
    assert fleet.per_function["pc"] == 0
    # provisioned below the asked concurrency does not cover it: pinged as usual
    assert (only(report, "partial")["sent"], only(report, "partial")["provisioned"]) == (5, 2)


def test_a_disabled_target_is_reported_and_not_pinged(executor) -> None:
    fleet = FakeFleet(FakeFunction("off"))
    row = only(play(fleet, [target("off", concurrency=3, enabled=False)], executor), "off")
    assert (row["skipped"], row["sent"]) == ("disabled", 0)
    assert fleet.per_function["off"] == 0
    assert fleet.describes["off"] == 0


def test_the_global_in_flight_cap_holds_across_targets(executor) -> None:
    # Given 12 targets of 3 pings each and a cap of 6 in flight
    names = [f"fn-{i:02d}" for i in range(12)]
    fleet = FakeFleet(*(FakeFunction(name, linger_s=0.02) for name in names))
    report = play(fleet, [target(name, concurrency=3) for name in names], executor, max_in_flight=6)
    # Then every target is warmed fully, and never more than 6 pings were in flight
    assert all(row["environments"] == 3 for row in report.to_dict()["targets"])
    assert report.sent == 36
    assert fleet.peak_in_flight <= 6


def test_a_target_larger_than_the_cap_is_capped_so_its_pings_can_overlap(executor) -> None:
    fleet = FakeFleet(FakeFunction("big"))
    row = only(play(fleet, [target("big", concurrency=10)], executor, max_in_flight=4), "big")
    assert (row["sent"], row["environments"], row["capped_by"]) == (4, 4, "max_in_flight")


def test_function_errors_and_protocol_errors_count_as_errors(executor) -> None:
    fleet = FakeFleet(FakeFunction("broken", function_error=True), FakeFunction("old", protocol_error="v2 only"))
    report = play(fleet, [target("broken", concurrency=2), target("old", concurrency=2)], executor)
    assert (only(report, "broken")["errors"], only(report, "broken")["environments"]) == (2, 0)
    assert "function_error" in only(report, "broken")["error"]
    assert only(report, "old")["errors"] == 2
    assert "v2 only" in only(report, "old")["error"]


def test_an_invoker_that_raises_fails_its_pings_not_the_round(executor) -> None:
    fleet = FakeFleet(FakeFunction("bug", raises=True), FakeFunction("fine"))
    report = play(fleet, [target("bug", concurrency=2), target("fine", concurrency=2)], executor)
    assert only(report, "bug")["errors"] == 2
    assert "RuntimeError: adapter bug" in only(report, "bug")["error"]
    assert only(report, "fine")["environments"] == 2


# -- bad targets never stop the others ---------------------------------------------------------


def test_bad_targets_get_clear_errors_and_the_others_are_still_warmed(executor) -> None:
    # Given a good target among: an unknown function, a stored $LATEST, a negative concurrency
    # and a payloadS3 outside the allowed buckets
    fleet = FakeFleet(FakeFunction("good"), FakeFunction("other"))
    payloads = FakePayloads({"s3://not-allowed/p.json": b"{}"})
    targets: list[Target | TargetProblem] = [
        target("ghost", concurrency=2),
        TargetProblem(group="default", function="good", qualifier="$LATEST", error="qualifier '$LATEST' is refused"),
        TargetProblem(group="default", function="other", qualifier="live", error="concurrency: must be >= 1"),
        target("other", "7", concurrency=2, payloadS3="s3://not-allowed/p.json"),
        target("good", concurrency=3),
    ]
    report = play(fleet, targets, executor, payloads=payloads, allowed_buckets=frozenset({"payloads"}))
    rows = report.to_dict()["targets"]
    # Then every bad target is reported with the reason, and nothing was sent to it
    assert [row["function"] for row in rows] == ["ghost", "good", "other", "other", "good"]
    assert "not found" in only(report, "ghost")["error"]
    assert "$LATEST" in only(report, "good", "$LATEST")["error"]
    assert "concurrency" in only(report, "other", "live")["error"]
    assert "THERMOSTAT_PAYLOAD_BUCKETS" in only(report, "other", "7")["error"]
    assert payloads.reads == Counter()  # a refused bucket is never read
    assert all(row["sent"] == 0 and row["skipped"] == "invalid" for row in rows[:4])
    # And the good target was warmed
    assert (only(report, "good")["sent"], only(report, "good")["environments"]) == (3, 3)
    assert set(fleet.per_function) == {"good"}


def test_when_the_configuration_cannot_be_read_the_target_is_still_pinged(executor) -> None:
    fleet = FakeFleet(FakeFunction("api"))
    fleet.config_unavailable = True
    row = only(play(fleet, [target("api", concurrency=3), target("ghost", concurrency=2)], executor), "api")
    assert row["environments"] == 3
    assert "ThrottlingException" in row["warnings"][0]
    assert row["refused_lookups"] == []
    # Without the look-up, an unknown function is discovered by its pings, and not topped up
    ghost = only(play(fleet, [target("ghost", concurrency=2)], executor), "ghost")
    assert (ghost["sent"], ghost["errors"], ghost["top_up"]) == (2, 2, 0)
    assert "not_found" in ghost["error"]


def test_a_refused_look_up_makes_the_function_cautious_across_its_qualifiers(executor) -> None:
    # Given a function whose configuration the role may not read, with two targets (two qualifiers)
    fleet = FakeFleet(FakeFunction("api", reserved=2))
    fleet.config_denied = True
    targets: list[Target | TargetProblem] = [target("api", concurrency=5), target("api", "7", concurrency=5)]

    # When a round runs
    report = play(fleet, targets, executor)

    # Then the function got one ping in all (the cautious cap), each target says why, and the
    # round counts the refusals; neither target reads as healthy
    live, seven = only(report, "api"), only(report, "api", "7")
    assert fleet.per_function["api"] == 1
    assert (live["sent"], live["capped_by"], live["refused_lookups"]) == (
        1,
        "refused_lookup",
        ["lambda:GetFunctionConfiguration"],
    )
    assert (seven["sent"], seven["skipped"]) == (0, "no_headroom")
    assert "cautious cap of 1 ping(s) for api went to another qualifier" in seven["error"]
    assert "pinged cautiously (at most 1)" in live["warnings"][0]
    assert report.lookups_refused == 2
    assert {row.qualifier for row in report.unhealthy} == {"live", "7"}


def test_a_partly_refused_look_up_is_cautious_too_and_the_cap_is_a_policy(executor) -> None:
    # Given facts that came back without the reserved concurrency (GetFunctionConcurrency refused)
    fleet = FakeFleet(FakeFunction("api"))
    fleet.refused = ("lambda:GetFunctionConcurrency",)

    # When rounds run with the default cap and with a cap of 3
    default = only(play(fleet, [target("api", concurrency=8)], executor), "api")
    wider = only(play(fleet, [target("api", concurrency=8)], executor, cautious_pings=3), "api")

    # Then each sends no more than its cap and names what was refused
    assert (default["planned"], default["sent"], default["refused_lookups"]) == (
        1,
        1,
        ["lambda:GetFunctionConcurrency"],
    )
    assert (wider["planned"], wider["sent"]) == (3, 3)


def test_a_payload_s3_is_read_once_per_round_and_sent_verbatim(executor) -> None:
    fleet = FakeFleet(FakeFunction("a", speaks_protocol=False), FakeFunction("b", speaks_protocol=False))
    uri = "s3://payloads/warm.json"
    payloads = FakePayloads({uri: b'{"warm":"please"}'})
    targets: list[Target | TargetProblem] = [
        target("a", concurrency=2, payloadS3=uri),
        target("b", concurrency=3, payloadS3=uri),
    ]
    play(fleet, targets, executor, payloads=payloads, allowed_buckets=frozenset({"payloads"}))
    assert payloads.reads == Counter({uri: 1})
    assert {r.payload for r in fleet.requests} == {b'{"warm":"please"}'}
    assert len(fleet.requests) == 5


def test_a_payload_s3_above_the_invoke_limit_is_refused(executor) -> None:
    fleet = FakeFleet(FakeFunction("a"))
    uri = "s3://payloads/huge.json"
    payloads = FakePayloads({uri: b"x" * (6 * 1024 * 1024 + 1)})
    row = only(
        play(
            fleet,
            [target("a", concurrency=1, payloadS3=uri)],
            executor,
            payloads=payloads,
            allowed_buckets=frozenset({"payloads"}),
        ),
        "a",
    )
    assert "6 MB" in row["error"]
    assert fleet.per_function["a"] == 0


def test_a_missing_payload_object_is_reported(executor) -> None:
    fleet = FakeFleet(FakeFunction("a"))
    row = only(
        play(
            fleet,
            [target("a", payloadS3="s3://payloads/gone.json")],
            executor,
            allowed_buckets=frozenset({"payloads"}),
        ),
        "a",
    )
    assert "does not exist" in row["error"]


# -- time ------------------------------------------------------------------------------------


def test_a_short_deadline_gives_a_partial_report_with_not_attempted_pings(executor) -> None:
    # Given a cap of 2 in flight, three targets of 2 pings, each ping costing 1 s of (fake) time,
    # and a deadline 1.5 s away
    clock = FakeClock()
    fleet = FakeFleet(FakeFunction("a"), FakeFunction("b"), FakeFunction("c"), clock=clock, cost_s=1.0)
    targets: list[Target | TargetProblem] = [target(name, concurrency=2, hold_ms=0) for name in "abc"]
    report = play(fleet, targets, executor, clock=clock, deadline=clock() + 1.5, max_in_flight=2)
    # Then the first target was warmed, the rest are reported as not attempted, and nothing crashed
    assert (only(report, "a")["sent"], only(report, "a")["environments"]) == (2, 2)
    for name in "bc":
        row = only(report, name)
        assert (row["sent"], row["not_attempted"]) == (0, 2)
    assert fleet.per_function["b"] == fleet.per_function["c"] == 0
    assert [t.function for t in report.unhealthy] == ["b", "c"]


def test_the_read_timeout_is_above_the_function_timeout_and_within_the_deadline(executor) -> None:
    clock = FakeClock()
    fleet = FakeFleet(FakeFunction("slow", timeout_s=10.0), FakeFunction("quick", timeout_s=2.0))
    play(fleet, [target("slow"), target("quick")], executor, clock=clock, deadline=clock() + 5.0)
    timeouts = {r.function: r.read_timeout_s for r in fleet.requests}
    assert timeouts == {"slow": 5.0, "quick": 3.0}  # 10 s + 1 s slack cut to the deadline; 2 s + 1 s slack


def test_a_deadline_already_past_sends_nothing(executor) -> None:
    clock = FakeClock()
    fleet = FakeFleet(FakeFunction("a"))
    row = only(play(fleet, [target("a", concurrency=3)], executor, clock=clock, deadline=clock() - 1), "a")
    assert (row["sent"], row["not_attempted"]) == (0, 3)
    assert fleet.per_function["a"] == 0


# -- the top-up ------------------------------------------------------------------------------


def test_a_short_round_gets_one_top_up_that_reaches_the_missing_environments(executor) -> None:
    # Given a function whose first batch does not overlap (every ping meets the same environment)
    fleet = FakeFleet(FakeFunction("api", overlap_only_top_up=True))
    row = only(play(fleet, [target("api", concurrency=4, hold_ms=50)], executor), "api")
    # Then one top-up batch of the whole overlap set was sent, and 4 environments answered in all
    assert (row["environments"], row["top_up"], row["sent"]) == (4, 4, 8)
    top_up = [json.loads(r.payload)["thermostat"] for r in fleet.requests][4:]
    assert {b["hold_ms"] for b in top_up} == {100}  # a longer hold, to overlap better
    assert {b["correlation_id"] for b in top_up} == {"round-1:default#api#live:top-up"}


def test_the_top_up_happens_once_even_when_still_short(executor) -> None:
    fleet = FakeFleet(FakeFunction("api", overlap=False))
    row = only(play(fleet, [target("api", concurrency=3)], executor), "api")
    assert (row["environments"], row["top_up"], row["sent"]) == (1, 3, 6)
    assert fleet.per_function["api"] == 6


def test_the_top_up_can_be_turned_off(executor) -> None:
    fleet = FakeFleet(FakeFunction("api", overlap=False))
    row = only(play(fleet, [target("api", concurrency=3)], executor, top_up=False), "api")
    assert (row["environments"], row["top_up"], row["sent"]) == (1, 0, 3)
    assert not RoundReport(group="default", targets=[]).unhealthy


# -- loading from the store --------------------------------------------------------------------


def test_keep_warm_loads_the_group_and_can_narrow_to_one_function(executor) -> None:
    fleet = FakeFleet(FakeFunction("a"), FakeFunction("b"))
    store = FakeStore(target("a", concurrency=2), target("b"), target("b", group="office-hours", concurrency=3))
    clock = FakeClock()
    options: dict[str, Any] = {
        "config": fleet,
        "load_payload": FakePayloads(),
        "dispatcher": ThreadDispatcher(fleet, executor, RoundPolicy().max_in_flight, clock),
        "clock": clock,
        "round_id": "r",
    }
    report = keep_warm("office-hours", store, **options)
    assert [(t.function, t.sent) for t in report.targets] == [("b", 3)]
    narrowed = keep_warm("default", store, function="a", **options)
    assert [t.function for t in narrowed.targets] == ["a"]
    with pytest.raises(NotFound, match="no keep-warm target for function 'zzz'"):
        keep_warm("default", store, function="zzz", **options)


def test_policy_values_are_validated() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        RoundPolicy(max_in_flight=0)
    assert RoundPolicy().headroom(100) == 10
    assert RoundPolicy().headroom(3) == 1
    assert isinstance(InvalidInput("x"), ValueError)


# -- a custom payload does not hold (issue 15, item 9) -----------------------------------------


def test_a_custom_payload_that_finds_fewer_environments_says_why_and_is_not_a_failure(executor) -> None:
    # Given a function whose environments are freed at once (nothing holds them) and a custom payload
    fleet = FakeFleet(FakeFunction("api", overlap=False))
    stored = target("api", concurrency=3, payload={"source": "serverless-plugin-warmup"})
    # When one round runs
    report = play(fleet, [stored], executor)
    # Then fewer environments answered than planned, and the report says why instead of failing
    row = only(report, "api")
    assert (row["planned"], row["sent"], row["holds"]) == (3, 3, False)
    assert row["environments"] < 3
    assert row["error"] is None
    assert any("does not hold its environment" in warning for warning in row["warnings"])
    assert report.unhealthy == []
    # While the protocol ping, which holds, is still a shortfall that needs a look
    held = play(FakeFleet(FakeFunction("api", overlap=False)), [target("api", concurrency=3)], executor)
    assert only(held, "api")["holds"] is True
    assert [t.function for t in held.unhealthy] == ["api"]
