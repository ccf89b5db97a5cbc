"""The CodeDeploy adapters against botocore's Stubber: the reporter's retries and the AppSpec reader."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from random import Random
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from domain.deadline import Deadline
from domain.errors import DeadlineExceeded, InvalidInput, NotFound, Unavailable
from domain.hook import HookStatus, ReportOutcome
from emulator.codedeploy_model import render_appspec
from infra.appspec import parse_appspec
from infra.codedeploy import CodeDeployAppSpecReader, CodeDeployReporter
from tests.unit.test_hook_support import DEPLOYMENT_ID, EXECUTION_ID

pytestmark = pytest.mark.unit

PUT = "put_lifecycle_event_hook_execution_status"
PARAMS = {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": "Failed"}


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codedeploy", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


def reporter(client: Any, slept: list[float]) -> CodeDeployReporter:
    return CodeDeployReporter(client, sleeper=slept.append, rng=Random(3), max_attempts=4)


def test_report_is_sent_once(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response(PUT, {"lifecycleEventHookExecutionId": EXECUTION_ID}, PARAMS)
    slept: list[float] = []
    assert reporter(client, slept).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED) is ReportOutcome.REPORTED
    stubber.assert_no_pending_responses()
    assert slept == []


def test_throttled_report_is_retried_with_backoff(stubbed: tuple[Any, Stubber]) -> None:
    # Given CodeDeploy throttling twice, then accepting
    client, stubber = stubbed
    stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    stubber.add_response(PUT, {"lifecycleEventHookExecutionId": EXECUTION_ID}, PARAMS)
    slept: list[float] = []
    subject = reporter(client, slept)
    # When reporting
    outcome = subject.report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED)
    # Then it got through on the third attempt, after two growing, bounded pauses
    assert outcome is ReportOutcome.REPORTED
    assert subject.attempts == [(1, "ThrottlingException"), (2, "ThrottlingException"), (3, "ok")]
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.1
    assert 0 <= slept[1] <= 0.2
    stubber.assert_no_pending_responses()


def test_server_errors_are_retried_too(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(PUT, "InternalFailure", "oops", 500, expected_params=PARAMS)
    stubber.add_response(PUT, {"lifecycleEventHookExecutionId": EXECUTION_ID}, PARAMS)
    assert reporter(client, []).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED) is ReportOutcome.REPORTED


def test_already_completed_is_done(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(PUT, "LifecycleEventAlreadyCompletedException", "already", 400, expected_params=PARAMS)
    outcome = reporter(client, []).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED)
    assert outcome is ReportOutcome.ALREADY_COMPLETED


def test_throttled_then_already_completed_is_done(stubbed: tuple[Any, Stubber]) -> None:
    # A throttled attempt that CodeDeploy in fact recorded: the retry learns it is complete.
    client, stubber = stubbed
    stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    stubber.add_client_error(PUT, "LifecycleEventAlreadyCompletedException", "already", 400, expected_params=PARAMS)
    assert (
        reporter(client, []).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED) is ReportOutcome.ALREADY_COMPLETED
    )


@pytest.mark.parametrize(
    ("code", "status", "error", "fragment"),
    [
        ("AccessDeniedException", 400, Unavailable, "AccessDeniedException"),
        ("DeploymentDoesNotExistException", 400, NotFound, "no deployment"),
        ("InvalidLifecycleEventHookExecutionIdException", 400, InvalidInput, "refused the report"),
    ],
)
def test_errors_that_a_retry_cannot_cure_are_raised_at_once(
    stubbed: tuple[Any, Stubber], code: str, status: int, error: type[Exception], fragment: str
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(PUT, code, "no", status, expected_params=PARAMS)
    slept: list[float] = []
    with pytest.raises(error) as caught:
        reporter(client, slept).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED)
    assert fragment in str(caught.value)
    assert slept == []


def test_attempts_run_out(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    for _ in range(4):
        stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    with pytest.raises(Unavailable, match="after 4 attempts"):
        reporter(client, []).report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED)


def test_backoff_never_outlives_the_deadline(stubbed: tuple[Any, Stubber]) -> None:
    # Given a throttle and less time left than any pause plus the margin
    client, stubber = stubbed
    stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    slept: list[float] = []
    subject = CodeDeployReporter(client, sleeper=slept.append, rng=Random(3), base_delay_s=1.0, margin_s=0.2)
    with pytest.raises(DeadlineExceeded, match="ThrottlingException and only"):
        subject.report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED, Deadline.after(time.monotonic, 0.21))
    assert slept == []


def test_a_throttle_near_the_deadline_gets_a_shorter_pause_and_one_more_attempt(stubbed: tuple[Any, Stubber]) -> None:
    # Given a throttle with 0.6 s left, and a pause (here 1.19 s, of up to 5 s) that would outlive the deadline
    client, stubber = stubbed
    stubber.add_client_error(PUT, "ThrottlingException", "Rate exceeded", 400, expected_params=PARAMS)
    stubber.add_response(PUT, {"lifecycleEventHookExecutionId": EXECUTION_ID}, PARAMS)
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    subject = CodeDeployReporter(client, sleeper=sleep, rng=Random(3), base_delay_s=5.0, margin_s=0.1)
    outcome = subject.report(DEPLOYMENT_ID, EXECUTION_ID, HookStatus.FAILED, Deadline.after(lambda: now[0], 0.6))
    # Then the pause was cut to half of what was left after the margin, and the verdict still went out
    assert outcome is ReportOutcome.REPORTED
    assert slept == [pytest.approx(0.25)]
    assert subject.attempts == [(1, "ThrottlingException"), (2, "ok")]
    stubber.assert_no_pending_responses()


def test_backoff_is_capped(aws_env: None) -> None:
    subject = CodeDeployReporter(object(), rng=Random(1), base_delay_s=0.1, max_delay_s=2.0)  # type: ignore[arg-type]
    assert all(0 <= subject.backoff_s(attempt) <= 2.0 for attempt in range(1, 40))


# --------------------------------------------------------------------------- the AppSpec

YAML_APPSPEC = """\
version: 0.0
# a comment
Resources:
  - ordersFunction:
      Type: AWS::Lambda::Function
      Properties:
        Name: "orders"
        Alias: 'live'
        CurrentVersion: 6      # unquoted: YAML makes it a number
        TargetVersion: "7"
Hooks:
  - BeforeAllowTraffic: "pre-hook"
  - AfterAllowTraffic: post-hook
"""


def test_yaml_appspec() -> None:
    spec = parse_appspec(YAML_APPSPEC)
    assert (spec.function, spec.alias, spec.current_version, spec.target_version) == ("orders", "live", "6", "7")
    assert spec.hooks == {"BeforeAllowTraffic": "pre-hook", "AfterAllowTraffic": "post-hook"}


def test_json_appspec_as_cloudformation_writes_it() -> None:
    content = render_appspec("orders", "live", "6", "7", {"BeforeAllowTraffic": "pre-hook"}, "json")
    spec = parse_appspec(content)
    assert (spec.function, spec.target_version, spec.hooks) == ("orders", "7", {"BeforeAllowTraffic": "pre-hook"})


@pytest.mark.parametrize(
    "text",
    [
        YAML_APPSPEC,
        render_appspec("orders", "live", "1", "2", {"BeforeAllowTraffic": "h"}, "yaml"),
        # YAML that CodeDeploy accepts and a subset parser would not: anchors, flow style, block scalars.
        "version: 0.0\nResources:\n  - fn: &fn\n      Type: AWS::Lambda::Function\n      Properties: {Name: orders,"
        " Alias: live, CurrentVersion: '1', TargetVersion: '2'}\nHooks:\n  - BeforeAllowTraffic: >-\n      h\n",
    ],
)
def test_yaml_appspecs_read_as_pyyaml_reads_them(text: str) -> None:
    # The oracle is PyYAML itself (the same library the bundle ships): the reader sees what it sees.
    document = yaml.safe_load(text)
    ((_, resource),) = document["Resources"][0].items()
    spec = parse_appspec(text)
    assert spec.function == resource["Properties"]["Name"]
    assert spec.target_version == str(resource["Properties"]["TargetVersion"])
    assert spec.hooks == {next(iter(hook)): next(iter(hook.values())) for hook in document["Hooks"]}


def test_broken_yaml_is_refused_with_pyyamls_reason() -> None:
    with pytest.raises(InvalidInput, match="neither JSON nor valid YAML"):
        parse_appspec("Resources:\n  - a: [unclosed\n")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "looks like JSON but does not parse"),
        ("[1, 2]", "not a mapping"),
        ('{"version": 0.0}', "no 'Resources' list"),
        ('{"Resources": []}', "exactly one AWS::Lambda::Function resource, found 0"),
        (
            json.dumps(
                {
                    "Resources": [
                        {"a": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "a"}}},
                        {"b": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "b"}}},
                    ]
                }
            ),
            "found 2",
        ),
        ('{"Resources": [{"a": {"Type": "AWS::Lambda::Function", "Properties": {}}}]}', "has no Properties.Name"),
        ('{"Resources": [{"a": 1, "b": 2}]}', "one 'name: value' entry per list item"),
        (
            '{"Resources": [{"a": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "a"}}}], "Hooks": "x"}',
            "'Hooks' must be a list",
        ),
    ],
)
def test_unusable_appspecs_are_refused(content: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_appspec(content)


def answer_get_deployment(stubber: Stubber, revision: dict[str, Any], **info: Any) -> None:
    """Stub CodeDeploy's ``GetDeployment`` of ``DEPLOYMENT_ID``, answering with ``revision``."""
    stubber.add_response(
        "get_deployment",
        {"deploymentInfo": {"deploymentId": DEPLOYMENT_ID, **info, "revision": revision}},
        {"deploymentId": DEPLOYMENT_ID},
    )


def test_reader_reads_the_revision(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer_get_deployment(
        stubber,
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": YAML_APPSPEC}},
        computePlatform="Lambda",
    )
    spec = CodeDeployAppSpecReader(client).read_target(DEPLOYMENT_ID)
    assert (spec.function, spec.target_version) == ("orders", "7")


def test_reader_refuses_s3_revisions_with_a_way_out(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer_get_deployment(stubber, {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k"}})
    with pytest.raises(InvalidInput, match="set THERMOSTAT_HOOK_TARGET and THERMOSTAT_HOOK_VERSION"):
        CodeDeployAppSpecReader(client).read_target(DEPLOYMENT_ID)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("DeploymentDoesNotExistException", NotFound),
        ("InvalidDeploymentIdException", InvalidInput),
        ("Throttling", Unavailable),
    ],
)
def test_reader_errors_become_domain_errors(stubbed: tuple[Any, Stubber], code: str, error: type[Exception]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_deployment", code, "no", 400)
    with pytest.raises(error):
        CodeDeployAppSpecReader(client).read_target(DEPLOYMENT_ID)
