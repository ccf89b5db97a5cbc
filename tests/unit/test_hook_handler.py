"""The hook handler end to end with fakes: the fault matrix, each fault reported exactly once.

CodeDeploy is botocore's Stubber behind the real ``CodeDeployReporter``: each test queues exactly
the reports it expects, with the expected status, so a missing, extra or wrong report fails it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from random import Random
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from domain.errors import Unavailable
from domain.hook import AppSpecTarget, HookDependencies, HookStatus
from domain.hook.delivery import recorded_status
from domain.invocation import InvocationRequest, InvocationResult, Outcome
from handlers import pre_traffic, wiring
from handlers.pre_traffic import handle
from infra import observability
from infra.codedeploy import CodeDeployReporter
from infra.s3_payloads import S3PayloadReader
from infra.settings import load_settings
from tests.emf import emf_documents, emf_problems
from tests.fakes import RemainingTimeContext
from tests.unit.test_hook_support import (
    DEPLOYMENT_ID,
    EXECUTION_ID,
    BlockingInvoker,
    FakeContext,
    FakeInvoker,
    FakeReader,
    RecordingSleeper,
    healthy,
    hook_event,
    probe_reply,
)
from tests.unit.test_idempotency import InMemoryIdempotencyStore

pytestmark = pytest.mark.unit

PUT = "put_lifecycle_event_hook_execution_status"
HOOK_FUNCTION = "thermostat-pre-traffic"
SPEC = AppSpecTarget(
    function="orders",
    alias="live",
    current_version="6",
    target_version="7",
    hooks={"BeforeAllowTraffic": HOOK_FUNCTION, "AfterAllowTraffic": "thermostat-post-traffic"},
)
BASE_ENV = {"THERMOSTAT_HOOK_TARGET": "orders", "THERMOSTAT_HOOK_VERSION": "7"}


@pytest.fixture(autouse=True)
def observability_reset(fresh_observability: None) -> None:
    """Every test here gets its own Logger and Metrics."""


@pytest.fixture
def codedeploy(aws_env: None) -> Iterator[Stubber]:
    client = boto3.client("codedeploy", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield stubber


def expect_report(stubber: Stubber, status: str, execution_id: str = EXECUTION_ID) -> None:
    params = {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": execution_id, "status": status}
    stubber.add_response(PUT, {"lifecycleEventHookExecutionId": execution_id}, params)


class Harness:
    """The handler's dependencies, all fakes except the CodeDeploy reporter (on the Stubber)."""

    def __init__(
        self,
        stubber: Stubber,
        env: dict[str, str] | None = None,
        *,
        invoker: Any = None,
        reader: FakeReader | None = None,
        ledger: InMemoryIdempotencyStore | None = None,
        invoker_error: Exception | None = None,
    ) -> None:
        self.env = dict(BASE_ENV if env is None else env)
        self.invoker = invoker or FakeInvoker()
        self.reader = reader or FakeReader(SPEC)
        self.ledger = ledger
        self.sleeper = RecordingSleeper()
        self.report_pauses: list[float] = []
        self.reporter = CodeDeployReporter(stubber.client, sleeper=self.report_pauses.append, rng=Random(1))

        def invoker_factory(concurrency: int) -> Any:
            if invoker_error is not None:
                raise invoker_error
            return self.invoker

        self.deps = HookDependencies(
            reporter=self.reporter,
            reader=self.reader,
            invokers=invoker_factory,
            payloads=S3PayloadReader(),
            ledger=self.ledger,
            rng=Random(11),
            clock=time.monotonic,
            sleeper=self.sleeper,
        )

    @contextmanager
    def environment(self) -> Iterator[None]:
        """The harness's variables, and only those, read by ``wiring.settings()`` for the call."""
        with pytest.MonkeyPatch.context() as patch:
            for name in [name for name in os.environ if name.startswith("THERMOSTAT_")]:
                patch.delenv(name)
            for name, value in self.env.items():
                patch.setenv(name, value)
            wiring.reset()
            try:
                yield
            finally:
                wiring.reset()

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        try:
            with self.environment():
                return handle(event, context or FakeContext(function_name=HOOK_FUNCTION), self.deps)
        finally:
            observability.publish_metrics()


def third_call(result: InvocationResult) -> FakeInvoker:
    def behaviour(request: InvocationRequest, call: int) -> InvocationResult:
        return result if call == 3 else healthy(request, call)

    return FakeInvoker(behaviour)


def raising_on_third(request: InvocationRequest, call: int) -> InvocationResult:
    if call == 3:
        raise OSError("socket closed")
    return healthy(request, call)


# --------------------------------------------------------------------------- happy path


def test_happy_path_reports_succeeded_once_with_the_evidence(
    codedeploy: Stubber, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a healthy target and CodeDeploy expecting exactly one Succeeded
    expect_report(codedeploy, "Succeeded")
    hook = Harness(codedeploy, ledger=InMemoryIdempotencyStore())
    # When the hook runs
    result = hook(hook_event())
    # Then it reported once, and returns the verdict with five version-qualified invocations
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Succeeded"
    assert result["delivery"] == "reported"
    assert result["version"] == "7"
    assert result["environments"] == 5
    assert len(result["invocations"]) == 5
    assert {(r.function, r.qualifier) for r in hook.invoker.requests} == {("orders", "7")}
    assert all(0.25 <= delay <= 0.4 for delay in hook.sleeper.slept)
    # And it logged the verdict and published HookVerdict{status} and HookWarmEnvironments as valid EMF
    logged = [record for record in caplog.records if record.getMessage() == "hook verdict"]
    assert len(logged) == 1
    assert logged[0].hook["status"] == "Succeeded"  # type: ignore[attr-defined]
    lines = capsys.readouterr().out.splitlines()
    documents = emf_documents(lines)
    assert documents
    assert all(emf_problems(document) == [] for document in documents)
    verdicts = [d for d in documents if "HookVerdict" in d]
    assert len(verdicts) == 1
    assert verdicts[0]["status"] == "Succeeded"
    assert any("status" in dims for dims in verdicts[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"])
    environments = [d for d in documents if "HookWarmEnvironments" in d]
    assert [d["HookWarmEnvironments"] for d in environments] in ([5.0], [[5.0]])


# --------------------------------------------------------------------------- the fault matrix


@pytest.mark.parametrize(
    ("invoker", "fragment"),
    [
        (FakeInvoker(raising_on_third), "invoke raised OSError: socket closed"),
        (
            third_call(
                InvocationResult(outcome=Outcome.FUNCTION_ERROR, error="Unhandled", payload={"errorMessage": "boom"})
            ),
            "FunctionError: boom",
        ),
        (
            third_call(InvocationResult(outcome=Outcome.THROTTLED, status_code=429, error="Rate Exceeded.")),
            "throttled (429",
        ),
        (third_call(InvocationResult(outcome=Outcome.TIMEOUT, error="Read timeout on endpoint")), "timed out"),
        (
            third_call(
                InvocationResult(outcome=Outcome.OK, payload=probe_reply("e", ok=False, error="db: connection refused"))
            ),
            "probe failed: db: connection refused",
        ),
    ],
    ids=["invoke-raises", "function-error", "throttled", "timeout", "probe-not-ok"],
)
def test_invocation_faults_report_failed_once(codedeploy: Stubber, invoker: FakeInvoker, fragment: str) -> None:
    expect_report(codedeploy, "Failed")
    result = Harness(codedeploy, invoker=invoker, ledger=InMemoryIdempotencyStore())(hook_event())
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert result["delivery"] == "reported"
    assert "invocation 3/5: " in result["reason"]
    assert fragment in result["reason"]


def test_expectation_mismatch_reports_failed(codedeploy: Stubber) -> None:
    # Given a user payload and an expectation the target does not meet
    expect_report(codedeploy, "Failed")
    env = {
        **BASE_ENV,
        "THERMOSTAT_HOOK_PAYLOAD": '{"path": "/health"}',
        "THERMOSTAT_HOOK_EXPECT": 'statusCode == 200; body.db == "up"',
    }
    invoker = FakeInvoker(
        lambda request, call: InvocationResult(
            outcome=Outcome.OK, payload={"statusCode": 200, "body": '{"db": "down"}'}
        )
    )
    hook = Harness(codedeploy, env, invoker=invoker)
    result = hook(hook_event())
    # Then the payload was sent as given and the reason names the expectation and the value
    codedeploy.assert_no_pending_responses()
    assert {request.payload for request in invoker.requests} == {b'{"path": "/health"}'}
    assert result["status"] == "Failed"
    assert 'invocation 1/5: expected body.db == "up", got "down"' in result["reason"]


def test_malformed_event_with_ids_reports_failed(codedeploy: Stubber) -> None:
    codedeploy.add_response(
        PUT,
        {"lifecycleEventHookExecutionId": EXECUTION_ID},
        {"deploymentId": "deployment-1", "lifecycleEventHookExecutionId": EXECUTION_ID, "status": "Failed"},
    )
    hook = Harness(codedeploy)
    result = hook(hook_event(deployment_id="deployment-1"))
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert "not a CodeDeploy deployment id" in result["reason"]
    assert hook.invoker.requests == []


@pytest.mark.parametrize("event", [{}, {"DeploymentId": DEPLOYMENT_ID}, "not an event", None, {"detail": {}}])
def test_event_without_ids_returns_failed_and_logs_loudly(
    codedeploy: Stubber, event: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given no report queued: any call to CodeDeploy would fail the handler
    hook = Harness(codedeploy, ledger=InMemoryIdempotencyStore())
    result = hook(event)
    assert result["status"] == "Failed"
    assert result["delivery"] == "unreportable"
    assert "cannot report to CodeDeploy" in result["reason"]
    assert hook.invoker.requests == []
    assert hook.ledger is not None
    assert hook.ledger.entries == {}
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1
    assert "nothing reported" in errors[0].getMessage()


def test_missing_version_reports_failed(codedeploy: Stubber) -> None:
    # Given a target without a version, and an AppSpec deploying another function
    expect_report(codedeploy, "Failed")
    hook = Harness(codedeploy, {"THERMOSTAT_HOOK_TARGET": "payments"})
    result = hook(hook_event())
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert "missing version for payments" in result["reason"]
    assert hook.invoker.requests == []


def test_version_from_the_appspec_when_only_the_target_is_configured(codedeploy: Stubber) -> None:
    expect_report(codedeploy, "Succeeded")
    hook = Harness(codedeploy, {"THERMOSTAT_HOOK_TARGET": "orders"})
    result = hook(hook_event())
    assert result["status"] == "Succeeded"
    assert {r.qualifier for r in hook.invoker.requests} == {"7"}


def test_latest_as_version_reports_failed(codedeploy: Stubber) -> None:
    expect_report(codedeploy, "Failed")
    result = Harness(codedeploy, {"THERMOSTAT_HOOK_TARGET": "orders", "THERMOSTAT_HOOK_VERSION": "$LATEST"})(
        hook_event()
    )
    assert "never invokes $LATEST or an alias" in result["reason"]


def test_status_call_throttled_then_succeeding(codedeploy: Stubber) -> None:
    # Given CodeDeploy throttling the first status call
    params = {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": "Failed"}
    codedeploy.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=params)
    codedeploy.add_response(PUT, {"lifecycleEventHookExecutionId": EXECUTION_ID}, params)
    invoker = third_call(InvocationResult(outcome=Outcome.FUNCTION_ERROR, error="Unhandled"))
    hook = Harness(codedeploy, invoker=invoker)
    # When the hook reports Failed
    result = hook(hook_event())
    # Then the report got through on the second attempt after one pause, and nothing raised
    codedeploy.assert_no_pending_responses()
    assert result["delivery"] == "reported"
    assert hook.reporter.attempts == [(1, "ThrottlingException"), (2, "ok")]
    assert len(hook.report_pauses) == 1


def test_remaining_time_nearly_exhausted_reports_failed_without_invoking(codedeploy: Stubber) -> None:
    expect_report(codedeploy, "Failed")
    hook = Harness(codedeploy)
    result = hook(hook_event(), FakeContext(remaining_ms=400, function_name=HOOK_FUNCTION))
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert "deadline" in result["reason"]
    assert hook.invoker.requests == []


def test_a_hanging_target_is_reported_failed_before_the_runtime_kills_the_hook(codedeploy: Stubber) -> None:
    # Given a target that never answers and a hook with 1.2 s left on the monotonic clock
    expect_report(codedeploy, "Failed")
    reported_at: list[float] = []
    codedeploy.client.meta.events.register(
        "after-call.codedeploy.PutLifecycleEventHookExecutionStatus", lambda **_: reported_at.append(time.monotonic())
    )
    invoker = BlockingInvoker()
    hook = Harness(codedeploy, {**BASE_ENV, "THERMOSTAT_HOOK_JITTER": "0,0"}, invoker=invoker)
    context = RemainingTimeContext(1_200, clock=time.monotonic)
    context.function_name = HOOK_FUNCTION  # type: ignore[attr-defined]
    try:
        result = hook(hook_event(), context)
    finally:
        invoker.release.set()
    # Then Failed was reported, and CodeDeploy answered it before the deadline the hook computed from its context
    codedeploy.assert_no_pending_responses()
    assert "still running at the deadline" in result["reason"]
    assert context.deadline_at is not None
    assert len(reported_at) == 1
    assert reported_at[0] < context.deadline_at


def test_duplicate_delivery_neither_warms_nor_reports_again(codedeploy: Stubber) -> None:
    # Given one report queued, and a ledger shared by both deliveries
    expect_report(codedeploy, "Succeeded")
    ledger = InMemoryIdempotencyStore()
    hook = Harness(codedeploy, ledger=ledger)
    first = hook(hook_event())
    # When the same event is delivered again
    second = hook(hook_event())
    # Then only the first warmed and reported (a second report would hit the empty Stubber)
    assert first["delivery"] == "reported"
    assert second["delivery"] == "duplicate"
    assert second["status"] == "Succeeded"
    assert len(hook.invoker.requests) == 5
    codedeploy.assert_no_pending_responses()


def test_already_completed_is_treated_as_done(codedeploy: Stubber) -> None:
    params = {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": "Succeeded"}
    codedeploy.add_client_error(PUT, "LifecycleEventAlreadyCompletedException", "done", 400, expected_params=params)
    ledger = InMemoryIdempotencyStore()
    result = Harness(codedeploy, ledger=ledger)(hook_event())
    assert result["delivery"] == "already_completed"
    assert ledger.entries[EXECUTION_ID].state == "completed"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({**BASE_ENV, "THERMOSTAT_HOOK_JITTER": "fast"}, "THERMOSTAT_HOOK_JITTER"),
        ({**BASE_ENV, "THERMOSTAT_HOOK_CONCURRENCY": "0"}, "THERMOSTAT_HOOK_CONCURRENCY"),
        ({**BASE_ENV, "THERMOSTAT_HOOK_EXPECT": "statusCode = 200"}, "THERMOSTAT_HOOK_EXPECT"),
        ({**BASE_ENV, "THERMOSTAT_HOOK_PAYLOAD": "{oops"}, "THERMOSTAT_HOOK_PAYLOAD: not JSON"),
        ({**BASE_ENV, "THERMOSTAT_HOOK_PAYLOAD_S3": "s3://b/k"}, "THERMOSTAT_PAYLOAD_BUCKETS is empty"),
        ({**BASE_ENV, "THERMOSTAT_HOOK_LIFECYCLE": "Sometimes"}, "THERMOSTAT_HOOK_LIFECYCLE"),
        (
            {**BASE_ENV, "THERMOSTAT_HOOK_PAYLOAD": "{}", "THERMOSTAT_HOOK_PAYLOAD_S3": "s3://b/k"},
            "both set: choose one payload source",
        ),
    ],
)
def test_configuration_errors_report_failed_naming_the_variable(
    codedeploy: Stubber, env: dict[str, str], fragment: str
) -> None:
    expect_report(codedeploy, "Failed")
    hook = Harness(codedeploy, env)
    result = hook(hook_event())
    codedeploy.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert fragment in result["reason"]
    assert hook.invoker.requests == []


def test_its_own_bugs_are_reported_failed(codedeploy: Stubber, caplog: pytest.LogCaptureFixture) -> None:
    # Given a broken composition (the invoker cannot even be built)
    expect_report(codedeploy, "Failed")
    result = Harness(codedeploy, invoker_error=ImportError("No module named 'infra.lambda_invoker'"))(hook_event())
    codedeploy.assert_no_pending_responses()
    assert "the hook failed unexpectedly (ImportError" in result["reason"]
    bugs = [record for record in caplog.records if record.getMessage() == "hook failed unexpectedly"]
    assert len(bugs) == 1
    assert bugs[0].exc_info is not None
    assert bugs[0].exc_info[0] is ImportError


def test_an_undeliverable_report_raises_for_lambdas_retry(codedeploy: Stubber) -> None:
    # Given CodeDeploy refusing access
    codedeploy.add_client_error(PUT, "AccessDeniedException", "not allowed", 400)
    ledger = InMemoryIdempotencyStore()
    # When the hook runs, Then it raises (Lambda retries the async event) after releasing its claim
    with pytest.raises(Unavailable, match="AccessDeniedException"):
        Harness(codedeploy, ledger=ledger)(hook_event())
    assert ledger.entries[EXECUTION_ID].lease_until == 0
    assert recorded_status(ledger.entries[EXECUTION_ID].outcome) is HookStatus.SUCCEEDED


def test_without_a_table_the_hook_still_reports_and_says_so(codedeploy: Stubber) -> None:
    expect_report(codedeploy, "Succeeded")
    result = Harness(codedeploy, ledger=None)(hook_event())
    assert result["status"] == "Succeeded"
    assert any("duplicate deliveries are not detected" in warning for warning in result["warnings"])


# --------------------------------------------------------------------------- AfterAllowTraffic


def test_after_allow_traffic_is_detected_from_the_appspec(codedeploy: Stubber) -> None:
    # Given the post-traffic hook function, named in the AppSpec's AfterAllowTraffic
    expect_report(codedeploy, "Succeeded")
    hook = Harness(codedeploy, {**BASE_ENV, "THERMOSTAT_HOOK_PAYLOAD": '{"x": 1}'})
    result = hook(hook_event(), FakeContext(function_name="thermostat-post-traffic"))
    # Then it probes without jitter, and says the payload was not sent
    assert result["status"] == "Succeeded"
    assert hook.sleeper.slept == [0.0] * 5
    assert {json.loads(r.payload)["thermostat"]["action"] for r in hook.invoker.requests} == {"probe"}
    assert any("probe only" in warning for warning in result["warnings"])


def test_lifecycle_setting_overrides_detection(codedeploy: Stubber) -> None:
    expect_report(codedeploy, "Succeeded")
    hook = Harness(codedeploy, {**BASE_ENV, "THERMOSTAT_HOOK_LIFECYCLE": "AfterAllowTraffic"})
    hook(hook_event())
    assert hook.sleeper.slept == [0.0] * 5
    assert hook.reader.reads == []


# --------------------------------------------------------------------------- the Lambda entry point


def test_lambda_handler_answers_warm_pings_and_serves_hook_events(
    codedeploy: Stubber, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from thermostat_runtime import build_request

    expect_report(codedeploy, "Succeeded")
    hook = Harness(codedeploy)
    monkeypatch.setattr(pre_traffic, "dependencies", lambda: (hook.deps, ()))
    with hook.environment():
        ping = pre_traffic.lambda_handler(build_request("warm"), FakeContext(function_name=HOOK_FUNCTION))
        assert ping["thermostat"]["warm"] is True
        assert hook.invoker.requests == []
        result = pre_traffic.lambda_handler(hook_event(), FakeContext(function_name=HOOK_FUNCTION))
    assert result["status"] == "Succeeded"
    codedeploy.assert_no_pending_responses()
    documents = emf_documents(capsys.readouterr().out.splitlines())
    assert any("HookVerdict" in document for document in documents)
    assert any("HookWarmEnvironments" in document for document in documents)


def test_hook_options_defaults_and_errors() -> None:
    options = load_settings({})
    assert (options.hook_payload, options.hook_payload_s3, options.hook_expectations, options.hook_lifecycle) == (
        None,
        None,
        (),
        None,
    )
    assert options.hook_hold_margin_ms == 25
    assert load_settings({"THERMOSTAT_HOOK_LIFECYCLE": "auto"}).hook_lifecycle is None
    with pytest.raises(ValueError, match=r"THERMOSTAT_HOOK_TIMEOUT: .*\(got '-1'\)"):
        load_settings({"THERMOSTAT_HOOK_TIMEOUT": "-1"})
