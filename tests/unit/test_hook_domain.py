"""The hook's rules with fakes: the plan, the verdict, the deadline, and exactly-once delivery."""

from __future__ import annotations

import math
import time
from random import Random

import pytest

from domain.deadline import Deadline
from domain.errors import InvalidInput, Unavailable
from domain.expectations import parse_expectations
from domain.hook import (
    DEFAULT_HOLD_MARGIN_MS,
    AppSpecTarget,
    Delivery,
    HookConfig,
    HookDependencies,
    HookStatus,
    LifecycleEvent,
    function_name,
    hold_ms_for,
    hook_ids,
    make_target,
    parse_hook_event,
    parse_jitter,
    plan_delays,
    reserve_for,
    resolve_target,
    run_warmup,
    serve_hook_execution,
)
from domain.hook.delivery import recorded_status
from domain.idempotency import ClaimState
from domain.invocation import InvocationRequest, InvocationResult, Outcome
from tests.unit.test_hook_support import (
    DEPLOYMENT_ID,
    EXECUTION_ID,
    BlockingInvoker,
    FakeInvoker,
    FakeReader,
    FakeReporter,
    HookSettingsValue,
    NoPayloads,
    RecordingSleeper,
    healthy,
    hook_event,
    probe_reply,
)
from tests.unit.test_idempotency import InMemoryIdempotencyStore

pytestmark = pytest.mark.unit

TARGET = make_target("orders", "7")


def config(**changes: object) -> HookConfig:
    values: dict[str, object] = {"target": TARGET, "correlation_id": EXECUTION_ID}
    values.update(changes)
    return HookConfig.model_validate(values)


def warm(cfg: HookConfig, invoker: object, *, seed: int = 7, **options: object) -> tuple[object, RecordingSleeper]:
    sleeper = RecordingSleeper()
    verdict = run_warmup(
        cfg,
        invoker,  # type: ignore[arg-type]
        rng=Random(seed),
        clock=time.monotonic,
        sleeper=sleeper,
        **options,  # type: ignore[arg-type]
    )
    return verdict, sleeper


# --------------------------------------------------------------------------- the happy path


def test_happy_path_five_jittered_version_qualified_probes_on_five_environments() -> None:
    # Given a healthy target that starts a new environment per overlapping call
    invoker = FakeInvoker()
    # When the default warm-up runs
    verdict, sleeper = warm(config(), invoker)
    # Then five invocations were made, each after its own delay inside [0.25, 0.4] s
    assert verdict.status is HookStatus.SUCCEEDED
    assert len(invoker.requests) == 5
    assert sorted(sleeper.slept) == sorted(plan_delays(config(), Random(7)))
    assert all(0.25 <= delay <= 0.4 for delay in sleeper.slept)
    assert len(set(sleeper.slept)) == 5
    # And every one targets the published version, never $LATEST or an alias
    assert {(r.function, r.qualifier) for r in invoker.requests} == {("orders", "7")}
    # And each is the protocol's probe, numbered, correlated, holding until the last has started
    events = sorted(invoker.events, key=lambda e: e["thermostat"]["index"])
    assert [e["thermostat"]["index"] for e in events] == [1, 2, 3, 4, 5]
    assert {e["thermostat"]["action"] for e in events} == {"probe"}
    assert {e["thermostat"]["of"] for e in events} == {5}
    assert {e["thermostat"]["correlation_id"] for e in events} == {EXECUTION_ID}
    delays = plan_delays(config(), Random(7))
    for position, event in enumerate(events):
        ends_at = delays[position] + event["thermostat"]["hold_ms"] / 1000
        assert ends_at >= max(delays) + DEFAULT_HOLD_MARGIN_MS / 1000 - 1e-3
    # And the verdict reports five distinct environments with per-invocation evidence
    assert verdict.environments == 5
    document = verdict.as_dict()
    assert set(document) >= {"status", "reason", "version", "invocations", "environments"}
    assert document["version"] == "7"
    assert set(document["invocations"][0]) == {
        "index",
        "delay_ms",
        "duration_ms",
        "environment_id",
        "start_kind",
        "ok",
        "error",
    }
    assert [i["delay_ms"] for i in document["invocations"]] == [round(d * 1000, 3) for d in delays]
    assert "5/5 invocations of orders:7 passed" in verdict.reason


def test_environments_count_distinct_ids_only() -> None:
    # Given a target whose calls 2 and 3 landed on the same environment
    invoker = FakeInvoker(lambda request, call: healthy(request, 2 if call == 3 else call))
    verdict, _ = warm(config(), invoker)
    assert verdict.status is HookStatus.SUCCEEDED
    assert verdict.environments == 4


def test_the_plan_is_deterministic_for_a_seed() -> None:
    assert plan_delays(config(), Random(1)) == plan_delays(config(), Random(1))
    assert plan_delays(config(), Random(1)) != plan_delays(config(), Random(2))


def test_hold_makes_every_invocation_overlap_the_last_start() -> None:
    cfg = config(hold_margin_ms=50)
    delays = (0.25, 0.4, 0.3)
    holds = [hold_ms_for(cfg, delays, i) for i in range(3)]
    assert holds == [200, 50, 150]


def test_after_allow_traffic_probes_without_jitter_or_hold() -> None:
    # Given the post-traffic lifecycle event, even with a payload configured
    invoker = FakeInvoker()
    cfg = config(lifecycle=LifecycleEvent.AFTER_ALLOW_TRAFFIC, payload=b'{"x": 1}')
    verdict, sleeper = warm(cfg, invoker)
    # Then every invocation starts at once, is a probe, and does not hold its environment
    assert verdict.status is HookStatus.SUCCEEDED
    assert sleeper.slept == [0.0] * 5
    assert {e["thermostat"]["action"] for e in invoker.events} == {"probe"}
    assert {e["thermostat"]["hold_ms"] for e in invoker.events} == {0}


def test_user_payload_with_expectations_passes() -> None:
    invoker = FakeInvoker(
        lambda request, call: InvocationResult(outcome=Outcome.OK, payload={"statusCode": 200, "body": '{"ok": true}'})
    )
    cfg = config(payload=b'{"path": "/health"}', expectations=parse_expectations("statusCode == 200; body.ok == true"))
    verdict, _ = warm(cfg, invoker)
    assert verdict.status is HookStatus.SUCCEEDED
    assert {request.payload for request in invoker.requests} == {b'{"path": "/health"}'}
    assert verdict.environments == 0  # a plain payload says nothing about environments
    assert "payload, 2 expectation(s)" in verdict.reason


# --------------------------------------------------------------------------- the fault matrix (warm-up part)


def failing_third(result: InvocationResult):  # type: ignore[no-untyped-def]
    def behaviour(request: InvocationRequest, call: int) -> InvocationResult:
        if call == 3:
            return result
        return healthy(request, call)

    return behaviour


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        (
            InvocationResult(
                outcome=Outcome.FUNCTION_ERROR,
                error="Unhandled",
                payload={"errorType": "KeyError", "errorMessage": "'DB_URL'"},
            ),
            "FunctionError: KeyError: 'DB_URL'",
        ),
        (
            InvocationResult(
                outcome=Outcome.THROTTLED, status_code=429, error="ReservedFunctionConcurrentInvocationLimitExceeded"
            ),
            "throttled (429 TooManyRequestsException): ReservedFunctionConcurrentInvocationLimitExceeded",
        ),
        (InvocationResult(outcome=Outcome.TIMEOUT, error="Read timeout"), "timed out: no answer"),
        (
            InvocationResult(outcome=Outcome.NOT_FOUND, error="Function not found: orders:7"),
            "not found: Function not found",
        ),
        (InvocationResult(outcome=Outcome.FAILED, error="connection refused"), "invoke failed: connection refused"),
        (
            InvocationResult(
                outcome=Outcome.OK, payload=probe_reply("env-x", ok=False, error="OperationalError: db down")
            ),
            "probe failed: OperationalError: db down",
        ),
        (
            InvocationResult(outcome=Outcome.OK, payload={"statusCode": 200}),
            "did not answer the thermostat probe",
        ),
        (
            InvocationResult(outcome=Outcome.OK, payload=probe_reply("env-x"), executed_version="6"),
            "answered from version 6, expected version 7",
        ),
        (
            InvocationResult(
                outcome=Outcome.OK,
                payload={"thermostat": {"v": 1, "warm": False, "error": "unknown action 'probe'"}},
            ),
            "the target refused the probe: unknown action 'probe'",
        ),
    ],
    ids=[
        "function-error",
        "throttled",
        "timeout",
        "not-found",
        "failed",
        "probe-not-ok",
        "no-protocol",
        "wrong-version",
        "refused",
    ],
)
def test_one_bad_invocation_fails_the_verdict_and_is_named(result: InvocationResult, fragment: str) -> None:
    # Given a target whose third call goes wrong
    invoker = FakeInvoker(failing_third(result))
    # When the warm-up runs
    verdict, _ = warm(config(), invoker)
    # Then the verdict is Failed and the reason names the invocation and what failed
    assert verdict.status is HookStatus.FAILED
    assert len(invoker.requests) == 5
    bad = [i for i in verdict.invocations if not i.ok]
    assert len(bad) == 1
    assert fragment in (bad[0].error or "")
    assert f"1/5 invocations of orders:7 failed: invocation {bad[0].index}/5: " in verdict.reason
    assert fragment in verdict.reason


def test_an_invoker_that_raises_is_a_failed_invocation_not_a_crash() -> None:
    def behaviour(request: InvocationRequest, call: int) -> InvocationResult:
        if call == 2:
            raise ConnectionResetError("peer reset")
        return healthy(request, call)

    verdict, _ = warm(config(), FakeInvoker(behaviour))
    assert verdict.status is HookStatus.FAILED
    assert "invoke raised ConnectionResetError: peer reset" in verdict.reason


def test_expectation_mismatch_names_the_expectation_and_the_value() -> None:
    invoker = FakeInvoker(lambda request, call: InvocationResult(outcome=Outcome.OK, payload={"statusCode": 503}))
    cfg = config(payload=b"{}", expectations=parse_expectations("statusCode == 200"))
    verdict, _ = warm(cfg, invoker)
    assert verdict.status is HookStatus.FAILED
    assert "5/5 invocations of orders:7 failed: invocation 1/5: expected statusCode == 200, got 503" in verdict.reason


def test_expectations_also_apply_to_the_probe_reply() -> None:
    invoker = FakeInvoker(
        lambda request, call: InvocationResult(
            outcome=Outcome.OK, payload=probe_reply(f"e{call}", result={"db": "slow"})
        )
    )
    cfg = config(expectations=parse_expectations('thermostat.probe.result.db == "ok"'))
    verdict, _ = warm(cfg, invoker)
    assert verdict.status is HookStatus.FAILED
    assert 'expected thermostat.probe.result.db == "ok", got "slow"' in verdict.reason


def test_too_little_time_left_fails_before_invoking() -> None:
    # Given only 0.3 s left, 0.5 s of which is kept for reporting
    invoker = FakeInvoker()
    deadline = Deadline.after(time.monotonic, 0.3)
    verdict, sleeper = warm(config(), invoker, deadline=deadline, reserve_s=0.5)
    # Then nothing is invoked and the reason says what to change
    assert verdict.status is HookStatus.FAILED
    assert invoker.requests == []
    assert sleeper.slept == []
    assert "deadline" in verdict.reason
    assert "raise the hook function's timeout" in verdict.reason


def test_stragglers_are_abandoned_before_the_deadline() -> None:
    # Given invocations that never answer, and 0.9 s left of which 0.5 s is kept to report
    invoker = BlockingInvoker()
    try:
        deadline = Deadline.after(time.monotonic, 0.9)
        verdict, _ = warm(config(jitter=(0.0, 0.0)), invoker, deadline=deadline, reserve_s=0.5)
        # Then the warm-up returns with time still left to report, each straggler named
        assert deadline.remaining_s() > 0.2
        assert verdict.status is HookStatus.FAILED
        assert all(not i.ok for i in verdict.invocations)
        assert "still running at the deadline" in verdict.reason
    finally:
        invoker.release.set()


def test_each_invocation_timeout_is_capped_by_the_deadline() -> None:
    invoker = FakeInvoker()
    deadline = Deadline.after(time.monotonic, 20.0)
    warm(config(invoke_timeout_s=60.0), invoker, deadline=deadline, reserve_s=5.0)
    assert all(r.read_timeout_s is not None and r.read_timeout_s <= 15.0 for r in invoker.requests)
    warm(config(invoke_timeout_s=2.0), invoker, deadline=deadline, reserve_s=5.0)
    assert invoker.requests[-1].read_timeout_s == 2.0


def test_reserve_grows_with_the_time_left_within_bounds() -> None:
    assert reserve_for(1.0) == 0.5
    assert reserve_for(10.0) == 2.5
    assert reserve_for(900.0) == 5.0
    assert reserve_for(math.inf) == 0.0


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("function", "version", "expected"),
    [
        ("orders", "7", ("orders", "7")),
        ("orders", 7, ("orders", "7")),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:orders",
            "7",
            ("arn:aws:lambda:us-east-1:123456789012:function:orders", "7"),
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:orders:7",
            None,
            ("arn:aws:lambda:us-east-1:123456789012:function:orders", "7"),
        ),
        ("123456789012:function:orders:7", "7", ("123456789012:function:orders", "7")),
    ],
)
def test_targets_are_unqualified_function_plus_version(
    function: str, version: str | None, expected: tuple[str, str]
) -> None:
    target = make_target(function, version)
    assert (target.function, target.version) == expected


@pytest.mark.parametrize(
    ("function", "version", "fragment"),
    [
        ("orders", "$LATEST", "never invokes $LATEST or an alias"),
        ("orders", "live", "not a published version number"),
        ("orders", "0", "not a published version number"),
        ("orders", None, "missing version for orders"),
        ("orders", "", "missing version for orders"),
        (None, "7", "missing target function"),
        ("bad name!", "7", "is not a Lambda function name or ARN"),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders:live", None, "not a published version number"),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:orders:6",
            "7",
            "qualified with '6' but the version to test is '7'",
        ),
    ],
)
def test_bad_targets_are_refused(function: str | None, version: str | None, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_target(function, version)
    assert fragment in str(caught.value)


def test_jitter_parsing() -> None:
    assert parse_jitter("0.25,0.4") == (0.25, 0.4)
    assert parse_jitter(" 0 , 0 ") == (0.0, 0.0)
    for bad in ("0.4", "0.4,0.25", "-1,1", "a,b", "0,61", "nan,1"):
        with pytest.raises(InvalidInput, match="jitter"):
            parse_jitter(bad)


@pytest.mark.parametrize(
    "event",
    [
        None,
        "x",
        [],
        {},
        {"DeploymentId": "d-ABCDEFGH1"},
        {"LifecycleEventHookExecutionId": "e"},
        {"DeploymentId": 1, "LifecycleEventHookExecutionId": "e"},
        {"DeploymentId": " ", "LifecycleEventHookExecutionId": "e"},
    ],
)
def test_events_without_both_ids_have_nobody_to_report_to(event: object) -> None:
    assert hook_ids(event) is None
    with pytest.raises(InvalidInput, match="malformed hook event"):
        parse_hook_event(event)


def test_a_badly_shaped_deployment_id_is_malformed_but_reportable() -> None:
    event = hook_event(deployment_id="deployment-1")
    assert hook_ids(event) == ("deployment-1", EXECUTION_ID)
    with pytest.raises(InvalidInput, match="not a CodeDeploy deployment id"):
        parse_hook_event(event)


def test_function_name_of_arns() -> None:
    assert function_name("arn:aws:lambda:us-east-1:123456789012:function:hook:3") == "hook"
    assert function_name("hook") == "hook"


# --------------------------------------------------------------------------- resolving the target


SPEC = AppSpecTarget(
    function="orders",
    alias="live",
    current_version="6",
    target_version="7",
    hooks={"BeforeAllowTraffic": "pre-hook", "AfterAllowTraffic": "post-hook"},
)


def test_configured_target_wins_and_the_appspec_names_the_lifecycle_event() -> None:
    reader = FakeReader(SPEC)
    target, lifecycle, warnings = resolve_target(
        DEPLOYMENT_ID, function="orders", version="9", lifecycle=None, reader=reader, own_function="post-hook"
    )
    assert (str(target), lifecycle, warnings) == ("orders:9", LifecycleEvent.AFTER_ALLOW_TRAFFIC, ())


def test_everything_from_the_appspec_when_nothing_is_configured() -> None:
    target, lifecycle, _ = resolve_target(
        DEPLOYMENT_ID, function=None, version=None, lifecycle=None, reader=FakeReader(SPEC), own_function="pre-hook"
    )
    assert (str(target), lifecycle) == ("orders:7", LifecycleEvent.BEFORE_ALLOW_TRAFFIC)


def test_the_appspec_version_of_another_function_does_not_apply() -> None:
    with pytest.raises(InvalidInput, match="missing version for payments"):
        resolve_target(
            DEPLOYMENT_ID, function="payments", version=None, lifecycle=None, reader=FakeReader(SPEC), own_function="x"
        )


def test_an_unreadable_appspec_only_costs_the_lifecycle_detection_when_the_target_is_configured() -> None:
    reader = FakeReader(error=Unavailable("AccessDenied"))
    target, lifecycle, warnings = resolve_target(
        DEPLOYMENT_ID, function="orders", version="7", lifecycle=None, reader=reader, own_function="x"
    )
    assert (str(target), lifecycle) == ("orders:7", LifecycleEvent.BEFORE_ALLOW_TRAFFIC)
    assert "AccessDenied" in warnings[0]
    with pytest.raises(Unavailable):
        resolve_target(DEPLOYMENT_ID, function=None, version=None, lifecycle=None, reader=reader, own_function="x")


def test_a_configured_lifecycle_event_needs_no_appspec() -> None:
    reader = FakeReader(error=AssertionError("must not be read"))
    _, lifecycle, _ = resolve_target(
        DEPLOYMENT_ID,
        function="orders",
        version="7",
        lifecycle=LifecycleEvent.AFTER_ALLOW_TRAFFIC,
        reader=reader,
        own_function=None,
    )
    assert lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC
    assert reader.reads == []


# --------------------------------------------------------------------------- exactly-once delivery


def serve(  # type: ignore[no-untyped-def]
    event: object,
    *,
    ledger: InMemoryIdempotencyStore | None,
    reporter: FakeReporter,
    settings: HookSettingsValue | None = None,
    reader: FakeReader | None = None,
    invokers=None,
):
    deps = HookDependencies(
        reporter=reporter,
        reader=reader or FakeReader(error=AssertionError("the AppSpec is not needed")),
        invokers=invokers or (lambda concurrency: FakeInvoker()),
        payloads=NoPayloads(),
        ledger=ledger,
        rng=Random(7),
        clock=time.monotonic,
        sleeper=RecordingSleeper(),
    )
    execution = serve_hook_execution(
        event,
        settings=settings or HookSettingsValue(),
        own_function=None,
        deps=deps,
        deadline=Deadline.never(time.monotonic),
    )
    return execution, [f"{incident.what}: {incident.error}" for incident in execution.incidents]


def test_one_delivery_one_report() -> None:
    reporter, ledger = FakeReporter(), InMemoryIdempotencyStore()
    execution, _ = serve(hook_event(), ledger=ledger, reporter=reporter)
    assert execution.delivery is Delivery.REPORTED
    assert [(r.deployment_id, r.execution_id, r.status) for r in reporter.reports] == [
        (DEPLOYMENT_ID, EXECUTION_ID, HookStatus.SUCCEEDED)
    ]
    assert ledger.entries[EXECUTION_ID].state == "completed"


def test_duplicate_delivery_neither_warms_nor_reports_again() -> None:
    # Given an execution already served
    reporter, ledger = FakeReporter(), InMemoryIdempotencyStore()
    serve(hook_event(), ledger=ledger, reporter=reporter)
    warmed: list[int] = []
    # When Lambda delivers the same event again
    execution, _ = serve(
        hook_event(),
        ledger=ledger,
        reporter=reporter,
        invokers=warmed.append,
    )
    # Then nothing is warmed and nothing reported; the answer says why
    assert execution.delivery is Delivery.DUPLICATE
    assert warmed == []
    assert len(reporter.reports) == 1
    assert execution.as_dict()["status"] == "Succeeded"
    assert "duplicate delivery" in execution.as_dict()["reason"]


def test_a_delivery_that_died_is_taken_over_after_its_lease() -> None:
    # Given a first delivery that claimed and recorded Failed, then died before reporting
    now = [1_000.0]
    ledger, reporter = InMemoryIdempotencyStore(clock=lambda: now[0]), FakeReporter()
    assert ledger.claim(EXECUTION_ID, 60, subject=DEPLOYMENT_ID).state is ClaimState.CLAIMED
    ledger.record(EXECUTION_ID, {"status": "Failed", "reason": "probe failed"})
    # When a retry arrives while the lease holds, it is a duplicate
    assert serve(hook_event(), ledger=ledger, reporter=reporter)[0].delivery is Delivery.DUPLICATE
    # And when one arrives after the lease ended, it reports the recorded verdict without warming
    now[0] += 61
    execution, _ = serve(hook_event(), ledger=ledger, reporter=reporter, invokers=lambda n: pytest.fail("warmed"))
    assert execution.delivery is Delivery.REPORTED
    assert [r.status for r in reporter.reports] == [HookStatus.FAILED]
    assert execution.verdict is not None
    assert execution.verdict.reason == "probe failed"


def test_a_takeover_without_a_recorded_verdict_reports_failed() -> None:
    now = [1_000.0]
    ledger, reporter = InMemoryIdempotencyStore(clock=lambda: now[0]), FakeReporter()
    ledger.claim(EXECUTION_ID, 10, subject=DEPLOYMENT_ID)
    now[0] += 11
    execution, _ = serve(hook_event(), ledger=ledger, reporter=reporter)
    assert [r.status for r in reporter.reports] == [HookStatus.FAILED]
    assert execution.verdict is not None
    assert "ended without a verdict" in execution.verdict.reason


def test_a_broken_ledger_does_not_block_the_report() -> None:
    reporter = FakeReporter()
    ledger = InMemoryIdempotencyStore(fail_claims=Unavailable("DynamoDB throttled"))
    execution, errors = serve(hook_event(), ledger=ledger, reporter=reporter)
    assert execution.delivery is Delivery.REPORTED
    assert [r.status for r in reporter.reports] == [HookStatus.SUCCEEDED]
    assert any("DynamoDB throttled" in warning for warning in execution.warnings)
    assert errors


@pytest.mark.parametrize(
    ("prepare_error", "fragment"),
    [
        (InvalidInput("missing version for orders"), "missing version for orders"),
        (RuntimeError("boom"), "the hook failed unexpectedly (RuntimeError: boom)"),
    ],
)
def test_errors_before_the_warm_up_are_reported_as_failed(prepare_error: Exception, fragment: str) -> None:
    # Given a version that only the AppSpec could name, and an AppSpec that cannot be read
    reporter = FakeReporter()
    reader = FakeReader(error=prepare_error)
    settings = HookSettingsValue(hook_version=None)

    execution, errors = serve(
        hook_event(), ledger=InMemoryIdempotencyStore(), reporter=reporter, settings=settings, reader=reader
    )
    assert [r.status for r in reporter.reports] == [HookStatus.FAILED]
    assert execution.verdict is not None
    assert fragment in execution.verdict.reason
    assert bool(errors) is isinstance(prepare_error, RuntimeError)  # bugs are logged with their traceback


def test_an_interrupt_still_reports_then_propagates() -> None:
    reporter = FakeReporter()

    def invokers(concurrency: int) -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        serve(hook_event(), ledger=None, reporter=reporter, invokers=invokers)
    assert [r.status for r in reporter.reports] == [HookStatus.FAILED]


def test_malformed_event_with_ids_is_reported_failed() -> None:
    reporter = FakeReporter()
    execution, _ = serve(hook_event(deployment_id="not-a-deployment"), ledger=None, reporter=reporter)
    assert [r.status for r in reporter.reports] == [HookStatus.FAILED]
    assert execution.verdict is not None
    assert "not a CodeDeploy deployment id" in execution.verdict.reason


def test_event_without_ids_cannot_be_reported() -> None:
    reporter = FakeReporter()
    execution, _ = serve({"DeploymentId": DEPLOYMENT_ID}, ledger=InMemoryIdempotencyStore(), reporter=reporter)
    assert execution.delivery is Delivery.UNREPORTABLE
    assert reporter.reports == []
    assert execution.verdict is not None
    assert execution.verdict.status is HookStatus.FAILED
    assert "cannot report to CodeDeploy without both ids" in execution.verdict.reason


def test_a_report_that_cannot_be_delivered_releases_the_claim() -> None:
    # Given CodeDeploy refusing the report
    ledger = InMemoryIdempotencyStore()
    reporter = FakeReporter(fail_with=Unavailable("AccessDenied"))
    execution, _ = serve(hook_event(), ledger=ledger, reporter=reporter)
    # Then the outcome says so, and the next delivery may report at once (verdict kept)
    assert execution.delivery is Delivery.REPORT_FAILED
    assert "AccessDenied" in (execution.error or "")
    assert ledger.entries[EXECUTION_ID].lease_until == 0
    assert recorded_status(ledger.entries[EXECUTION_ID].outcome) is HookStatus.SUCCEEDED
    retry_reporter = FakeReporter()
    retried, _ = serve(hook_event(), ledger=ledger, reporter=retry_reporter, invokers=lambda n: pytest.fail("warmed"))
    assert retried.delivery is Delivery.REPORTED
    assert [r.status for r in retry_reporter.reports] == [HookStatus.SUCCEEDED]


def test_already_completed_counts_as_done() -> None:
    reporter = FakeReporter()
    reporter.report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.SUCCEEDED, Deadline.never(time.monotonic))
    execution, _ = serve(hook_event(), ledger=None, reporter=reporter)
    assert execution.delivery is Delivery.ALREADY_COMPLETED


def test_long_reasons_are_recorded_truncated_not_refused() -> None:
    # Given a verdict whose reason is far longer than a record should hold
    ledger = InMemoryIdempotencyStore()
    reporter = FakeReporter(fail_with=Unavailable("AccessDenied"))  # the record stays DECIDED
    reader = FakeReader(error=InvalidInput("x" * 50_000))
    # When the hook records it
    serve(hook_event(), ledger=ledger, reporter=reporter, settings=HookSettingsValue(hook_version=None), reader=reader)
    # Then the recorded reason is cut to 4000 characters
    outcome = ledger.entries[EXECUTION_ID].outcome
    assert outcome is not None
    assert len(outcome["reason"]) == 4_000
