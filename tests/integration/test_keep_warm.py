"""The issue's proofs, end to end through ``handlers.keep_warm.lambda_handler``.

Targets live in the table (moto server); pings go over HTTP either to the project's local Lambda
runner (real worker processes that wear ``@warmable``: one process per environment) or, where
the proof needs requests counted at the server or a slow reply, to the simulated endpoint of
``emulator/simulated_lambda.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.targets import make_target
from emulator.lambda_runner import FunctionSpec, LambdaRunner
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from handlers import wiring
from handlers.keep_warm import lambda_handler
from infra.target_store import PK, DynamoTargetStore, TargetRecord
from tests.emf import emf_documents, emf_problems

pytestmark = pytest.mark.integration

ROOT = str(Path(__file__).resolve().parents[2])


class Context:
    """The parts of a Lambda context the handler reads."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms
        self.aws_request_id = "req-1"
        self.function_name = "thermostat-keep-warm"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def env(moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Point Lambda at an endpoint and set keep-warm's variables; adapters rebuilt per test."""

    def configure(lambda_url: str, **variables: str) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_url)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        wiring.reset()

    yield configure
    wiring.reset()


@pytest.fixture
def store(table: str) -> DynamoTargetStore:
    return DynamoTargetStore(table, "us-east-1")


@pytest.fixture
def runner(aws_env: None) -> Iterator[Callable[..., LambdaRunner]]:
    started: list[LambdaRunner] = []

    def make(**options: Any) -> LambdaRunner:
        lam = LambdaRunner(idle_timeout_s=60.0, **options).start()
        started.append(lam)
        lam.add_function(
            FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[ROOT], timeout_s=3)
        )
        lam.create_alias("echo", "live", lam.publish_version("echo"))
        return lam

    yield make
    for lam in started:
        lam.stop()


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{t['function']}:{t['qualifier']}": t for t in report["targets"]}


def test_concurrency_five_gives_five_distinct_environments(env, store, runner, capsys) -> None:
    # Given a real local Lambda whose function wears @warmable, and a target asking for 5
    lam = runner()
    env(lam.url)
    store.put(make_target(function="echo", qualifier="live", concurrency=5, hold_ms=300))
    # When the schedule fires
    report = lambda_handler({"group": "default"}, Context())
    # Then 5 pings met 5 distinct environments (5 worker processes), all cold
    echo = rows(report)["echo:live"]
    assert (echo["sent"], echo["environments"], echo["cold"], echo["errors"], echo["throttled"]) == (5, 5, 5, 0, 0)
    assert echo["skipped"] is None
    assert len({e["pid"] for e in lam.environments("echo")}) == 5
    # And one valid EMF document carries the target's metrics
    documents = [d for d in emf_documents(capsys.readouterr().out.splitlines()) if d.get("function") == "echo"]
    assert len(documents) == 1
    assert emf_problems(documents[0]) == []
    assert {k: documents[0][k] for k in ("WarmPings", "WarmEnvironments", "WarmColdHits", "WarmErrors")} == {
        "WarmPings": [5.0],
        "WarmEnvironments": [5.0],
        "WarmColdHits": [5.0],
        "WarmErrors": [0.0],
    }
    # And the next round finds the same 5 environments, warm
    again = rows(lambda_handler({"group": "default"}, Context()))["echo:live"]
    assert (again["environments"], again["cold"]) == (5, 0)
    assert len(lam.environments("echo")) == 5


def test_throttles_are_counted_by_reason_with_one_request_per_ping(env, store) -> None:
    # Given an endpoint that throttles every invoke, counting requests as it goes
    with LambdaEndpoint([SimulatedFunction("hot", throttle_reason="ConcurrentInvocationLimitExceeded")]) as lam:
        env(lam.url)
        store.put(make_target(function="hot", qualifier="live", concurrency=5))
        # When a round runs
        hot = rows(lambda_handler({"group": "default"}, Context()))["hot:live"]
        # Then every ping is a counted throttle, with its reason, and the server saw 5 requests, not more
        assert (hot["sent"], hot["throttled"], hot["errors"], hot["top_up"]) == (5, 5, 0, 0)
        assert hot["throttle_reasons"] == {"ConcurrentInvocationLimitExceeded": 5}
        assert lam.requests("hot") == 5


def test_account_concurrency_throttles_on_the_runner_are_counted(env, store, runner) -> None:
    lam = runner(account_concurrency=2)
    env(lam.url)
    store.put(make_target(function="echo", qualifier="live", concurrency=4, hold_ms=400))
    echo = rows(lambda_handler({"group": "default"}, Context()))["echo:live"]
    assert (echo["sent"], echo["environments"], echo["throttled"], echo["top_up"]) == (4, 2, 2, 0)
    assert echo["throttle_reasons"] == {"ConcurrentInvocationLimitExceeded": 2}


def test_a_slow_endpoint_and_a_short_deadline_give_a_partial_report(env, store) -> None:
    # Given a slow function first in line, two quick ones, a cap of 2 pings in flight,
    # and a Lambda with 5 s left. The round loads its targets and looks its functions up
    # before the first ping, against the clock: the budget leaves room for that on a busy
    # machine (1.5 s did not: the look-ups ate it and nothing was sent). The slow function
    # answers only after the deadline, whenever its pings go out, and its own timeout (30 s)
    # is longer than the budget, so it is the deadline that cuts its pings, not the timeout.
    slow = SimulatedFunction("a-slow", busy_ms=6_000, timeout_s=30)
    functions = [slow, SimulatedFunction("b"), SimulatedFunction("c")]
    with LambdaEndpoint(functions) as lam:
        env(lam.url, THERMOSTAT_MAX_IN_FLIGHT="2")
        for name in ("a-slow", "b", "c"):
            store.put(make_target(function=name, qualifier="live", concurrency=2, hold_ms=0))
        # When the round runs
        report = rows(lambda_handler({"group": "default"}, Context(remaining_ms=5_000)))
    # Then it returns a report: the slow pings timed out at the deadline, the rest were not attempted
    assert (report["a-slow:live"]["sent"], report["a-slow:live"]["timeouts"]) == (2, 2)
    for name in ("b:live", "c:live"):
        assert (report[name]["sent"], report[name]["not_attempted"], report[name]["errors"]) == (0, 2, 0)
    assert lam.requests("b") == lam.requests("c") == 0


def test_bad_targets_give_clear_errors_and_the_others_are_still_warmed(env, store, runner) -> None:
    lam = runner()
    env(lam.url, THERMOSTAT_PAYLOAD_BUCKETS="allowed-payloads")
    # Given: an unknown function, $LATEST and a negative concurrency written around the CLI,
    # a payload in a bucket that is not allowed, and one good target
    store.put(make_target(function="ghost", qualifier="live", concurrency=2))
    raw = {"group": "default", "function": "echo", "hold_ms": 0}
    TargetRecord(PK, "default#echo#$LATEST", qualifier="$LATEST", concurrency=1, **raw).save()
    TargetRecord(PK, "default#echo#1", qualifier="1", concurrency=-2, **raw).save()
    store.put(make_target(function="echo", qualifier="7", payloadS3="s3://elsewhere/p.json"))
    store.put(make_target(function="echo", qualifier="live", concurrency=3, hold_ms=300))
    # When the round runs
    report = rows(lambda_handler({"group": "default"}, Context()))
    # Then each bad target says what is wrong, and nothing was sent to it
    assert "ghost:live does not exist" in report["ghost:live"]["error"]
    assert "$LATEST" in report["echo:$LATEST"]["error"]
    assert "concurrency" in report["echo:1"]["error"]
    assert "'elsewhere' is not allowed" in report["echo:7"]["error"]
    for key in ("ghost:live", "echo:$LATEST", "echo:1", "echo:7"):
        assert (report[key]["sent"], report[key]["skipped"]) == (0, "invalid")
    # And the good target was warmed all the same
    assert (report["echo:live"]["sent"], report["echo:live"]["environments"]) == (3, 3)


def test_a_payload_s3_is_sent_and_a_reply_outside_the_protocol_counts_as_unknown(env, store, runner) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="allowed-payloads")
    s3.put_object(Bucket="allowed-payloads", Key="warm.json", Body=json.dumps({"print": "warm-up"}).encode())
    lam = runner()
    env(lam.url, THERMOSTAT_PAYLOAD_BUCKETS="allowed-payloads")
    store.put(
        make_target(function="echo", qualifier="live", concurrency=2, payloadS3="s3://allowed-payloads/warm.json")
    )
    echo = rows(lambda_handler({"group": "default"}, Context()))["echo:live"]
    # echo's business handler answered (it is not a ping): environments unknown, not zero
    assert (echo["sent"], echo["environments"], echo["unknown_environments"], echo["errors"]) == (2, None, 2, 0)


def test_reserved_and_provisioned_concurrency_are_respected_on_the_runner(env, store, runner) -> None:
    lam = runner()
    lam.add_function(
        FunctionSpec(name="capped", handler="tests.functions.echo.handler", code_paths=[ROOT], reserved_concurrency=4)
    )
    lam.create_alias("capped", "live", lam.publish_version("capped"))
    lam.set_provisioned_concurrency("echo", "live", 2)
    env(lam.url)
    store.put(make_target(function="echo", qualifier="live", concurrency=2))
    store.put(make_target(function="capped", qualifier="live", concurrency=6, hold_ms=300))
    report = rows(lambda_handler({"group": "default"}, Context()))
    assert (report["echo:live"]["skipped"], report["echo:live"]["sent"]) == ("provisioned", 0)
    capped = report["capped:live"]
    assert (capped["sent"], capped["environments"], capped["throttled"], capped["capped_by"]) == (
        3,
        3,
        0,
        "reserved_concurrency",
    )
