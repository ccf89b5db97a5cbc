"""The local EventBridge: boto3 put_events → rule match → delivery; schedules; the rest to moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from domain.errors import InvalidInput
from emulator.event_router import EventRouter
from emulator.template import LocalRule, load_template

pytestmark = pytest.mark.integration

DEPLOYMENTS = LocalRule(
    "DeploymentEvents.Requested",
    "DeploymentEventsFunction",
    pattern={"source": ["thermostat.deployments"], "detail-type": ["Deployment Requested"]},
)
CREATE_BUCKET = LocalRule(
    "DeploymentEvents.CreateBucket",
    "DeploymentEventsFunction",
    pattern={
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": ["CreateBucket"], "errorCode": [{"exists": False}]},
    },
)
KEEP_WARM = LocalRule("KeepWarm.Default", "KeepWarmFunction", schedule="rate(5 minutes)", input='{"group": "default"}')


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.done = threading.Event()

    def __call__(self, target: str, event: dict[str, Any]) -> None:
        self.calls.append((target, event))
        self.done.set()


@pytest.fixture
def router(moto_server: str) -> Iterator[tuple[EventRouter, Recorder, Any]]:
    recorder = Recorder()
    router = EventRouter([DEPLOYMENTS, CREATE_BUCKET, KEEP_WARM], recorder, upstream_url=moto_server)
    url = router.start(run_schedules=False)
    client = boto3.client("events", endpoint_url=url)
    try:
        yield router, recorder, client
    finally:
        router.stop()


def test_put_events_through_boto3_reaches_the_matching_rule(router: tuple[EventRouter, Recorder, Any]) -> None:
    events_router, recorder, client = router
    answer = client.put_events(
        Entries=[
            {
                "Source": "thermostat.deployments",
                "DetailType": "Deployment Requested",
                "Detail": json.dumps({"project": "shop", "stage": "dev"}),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    events_router.stop()  # waits for deliveries in flight
    [(target, event)] = recorder.calls
    assert target == "DeploymentEventsFunction"
    assert event["detail"] == {"project": "shop", "stage": "dev"}
    assert event["source"] == "thermostat.deployments"
    assert event["id"] == answer["Entries"][0]["EventId"]


def test_near_misses_are_not_delivered(router: tuple[EventRouter, Recorder, Any]) -> None:
    events_router, recorder, client = router
    failed_call = {"eventName": "CreateBucket", "errorCode": "AccessDenied", "requestParameters": {"bucketName": "x"}}
    client.put_events(
        Entries=[
            {"Source": "aws.s3", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(failed_call)},
            {"Source": "other.source", "DetailType": "Deployment Requested", "Detail": "{}"},
        ]
    )
    events_router.stop()
    assert recorder.calls == []
    assert len(events_router.state.received) == 2


def test_a_malformed_entry_fails_alone(router: tuple[EventRouter, Recorder, Any]) -> None:
    events_router, recorder, client = router
    answer = client.put_events(
        Entries=[
            {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "not json"},
            {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "{}"},
        ]
    )
    events_router.stop()
    assert answer["FailedEntryCount"] == 1
    assert "not a JSON object" in answer["Entries"][0]["ErrorMessage"]
    assert len(recorder.calls) == 1


def test_other_calls_go_to_moto(router: tuple[EventRouter, Recorder, Any]) -> None:
    _, _, client = router
    client.create_event_bus(Name="deployments")
    names = [bus["Name"] for bus in client.list_event_buses()["EventBuses"]]
    assert "deployments" in names


def test_schedules_fire_when_due_with_their_constant_input() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    recorder = Recorder()
    router = EventRouter([KEEP_WARM], recorder, now=lambda: now[0])
    try:
        assert router.due() == []
        now[0] += timedelta(minutes=5)
        fired = router.due()
        now[0] += timedelta(minutes=1)
        assert router.due() == []
    finally:
        router.stop()
    assert [d.rule for d in fired] == ["KeepWarm.Default"]
    assert recorder.calls == [("KeepWarmFunction", {"group": "default"})]


def test_firing_an_unknown_schedule_names_the_known_ones() -> None:
    router = EventRouter([KEEP_WARM], Recorder())
    try:
        with pytest.raises(InvalidInput, match=r"KeepWarm\.Default"):
            router.fire("Nope")
    finally:
        router.stop()


def test_a_failing_delivery_is_recorded_not_raised() -> None:
    def broken(target: str, event: dict[str, Any]) -> None:
        raise ConnectionRefusedError("runner down")

    router = EventRouter([DEPLOYMENTS], broken)
    try:
        router.publish(
            {"source": "thermostat.deployments", "detail-type": "Deployment Requested", "detail": {}}, wait=True
        )
    finally:
        router.stop()
    [delivery] = router.state.deliveries
    assert delivery.error == "ConnectionRefusedError: runner down"


TEMPLATE = """
Parameters:
  KeepWarmSchedule: {Type: String, Default: rate(5 minutes)}
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        THERMOSTAT_TABLE: !Ref Table
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  KeepWarmFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers.keep_warm.lambda_handler
      FunctionName: !Sub "${AWS::StackName}-keep-warm"
      Events:
        Default:
          Type: Schedule
          Properties: {Schedule: !Ref KeepWarmSchedule, Input: '{"group": "default"}'}
        Paused:
          Type: Schedule
          Properties: {Schedule: rate(1 hour), Enabled: false}
  DeploymentEventsFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers.deployment_events.lambda_handler
      MemorySize: 256
      Events:
        Requested:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [thermostat.deployments]}
        Audited:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [thermostat.audit]}
            InputTransformer:
              InputPathsMap: {project: $.detail.project}
              InputTemplate: '{"project": <project>, "rule": <aws.events.rule-name>}'
        Detail:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [thermostat.detail]}
            InputPath: $.detail
"""


def test_template_rules_and_functions_are_read(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    template = load_template(path, {"Table": "thermostat-local"})
    functions = {f.logical_id: f for f in template.functions()}
    assert functions["KeepWarmFunction"].name == "thermostat-local-keep-warm"
    assert functions["KeepWarmFunction"].environment == {"THERMOSTAT_TABLE": "thermostat-local"}
    assert functions["KeepWarmFunction"].timeout_s == 30.0
    assert functions["DeploymentEventsFunction"].memory_mb == 256
    rules = {r.name: r for r in template.rules()}
    assert rules["KeepWarmFunction.Default"].schedule == "rate(5 minutes)"
    assert rules["KeepWarmFunction.Paused"].enabled is False
    assert rules["DeploymentEventsFunction.Requested"].pattern == {"source": ["thermostat.deployments"]}
    assert rules["DeploymentEventsFunction.Audited"].input_transformer == {
        "InputPathsMap": {"project": "$.detail.project"},
        "InputTemplate": '{"project": <project>, "rule": <aws.events.rule-name>}',
    }
    assert rules["DeploymentEventsFunction.Detail"].input_path == "$.detail"


def test_template_target_inputs_reach_the_target(tmp_path: Path) -> None:
    # Given the template's rules with an InputTransformer and an InputPath
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    recorder = Recorder()
    router = EventRouter(load_template(path, {"Table": "t"}).rules(), recorder)
    try:
        # When events match them
        router.put_entries(
            [
                {"Source": "thermostat.audit", "DetailType": "x", "Detail": json.dumps({"project": "shop"})},
                {"Source": "thermostat.detail", "DetailType": "x", "Detail": json.dumps({"stage": "dev"})},
            ]
        )
    finally:
        router.stop()
    # Then each target receives its transformed input, not the event
    assert sorted(recorder.calls, key=lambda call: json.dumps(call[1])) == [
        ("DeploymentEventsFunction", {"project": "shop", "rule": "DeploymentEventsFunction.Audited"}),
        ("DeploymentEventsFunction", {"stage": "dev"}),
    ]


def test_a_bad_target_input_is_refused_when_the_rules_load() -> None:
    bad = LocalRule(
        "Orders.Changed",
        "OrdersFunction",
        pattern={"source": ["orders"]},
        input_transformer={"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '{"id": <order>}'},
    )
    with pytest.raises(InvalidInput, match=r"rule Orders\.Changed: the InputTemplate's <order> is neither"):
        EventRouter([bad], Recorder())


def test_a_plain_text_input_for_a_lambda_is_recorded_not_lost() -> None:
    text = LocalRule(
        "Orders.Text",
        "OrdersFunction",
        pattern={"source": ["orders"]},
        input_transformer={"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": "order <id> changed"},
    )
    recorder = Recorder()
    router = EventRouter([text], recorder)
    try:
        router.publish({"source": "orders", "detail-type": "x", "detail": {"id": "o-1"}}, wait=True)
    finally:
        router.stop()
    assert recorder.calls == []
    [delivery] = router.state.deliveries
    assert delivery.event == "order o-1 changed"
    assert delivery.error is not None
    assert "not JSON" in delivery.error


def test_a_scheduled_rule_s_transformer_sees_the_scheduled_event() -> None:
    rule = LocalRule(
        "Sweep.Nightly",
        "SweeperFunction",
        schedule="cron(0 3 * * ? *)",
        input_transformer={
            "InputPathsMap": {"at": "$.time", "kind": "$.detail-type"},
            "InputTemplate": '{"at": <at>, "kind": <kind>, "arn": <aws.events.rule-arn>}',
        },
    )
    recorder = Recorder()
    router = EventRouter([rule], recorder, now=lambda: datetime(2026, 12, 2, 3, 0, 0, 250000, tzinfo=UTC))
    try:
        router.fire("Sweep.Nightly")
    finally:
        router.stop()
    assert recorder.calls == [
        (
            "SweeperFunction",
            {
                "at": "2026-12-02T03:00:00Z",
                "kind": "Scheduled Event",
                "arn": "arn:aws:events:us-east-1:123456789012:rule/Sweep.Nightly",
            },
        )
    ]


def test_a_broken_template_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("just: text\n")
    with pytest.raises(InvalidInput, match="no Resources"):
        load_template(path)


TIMED = LocalRule(
    "Audit.October",
    "AuditFunction",
    pattern={"source": ["thermostat.audit"], "time": [{"prefix": "2017-10-02T"}]},
)


def _timed_router(recorder: Recorder) -> EventRouter:
    fixed = datetime(2026, 12, 2, 6, 30, 15, 987654, tzinfo=UTC)
    return EventRouter([TIMED, DEPLOYMENTS], recorder, now=lambda: fixed)


def test_put_events_time_from_boto3_is_delivered_as_iso_8601() -> None:
    # Given the router, and boto3's own client, which sends Time as epoch seconds on the wire
    recorder = Recorder()
    router = _timed_router(recorder)
    client = boto3.client(
        "events",
        endpoint_url=router.start(run_schedules=False),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        # When one entry carries a datetime and one carries none
        answer = client.put_events(
            Entries=[
                {
                    "Source": "thermostat.audit",
                    "DetailType": "Audited",
                    "Detail": "{}",
                    "Time": datetime(2017, 10, 2, 16, 24, 49, 500000, tzinfo=UTC),
                },
                {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "{}"},
            ]
        )
    finally:
        router.stop()
    # Then both are ISO-8601 UTC with Z, whole seconds, and a documented pattern on time matches
    assert answer["FailedEntryCount"] == 0
    delivered = {target: event["time"] for target, event in recorder.calls}
    assert delivered == {"AuditFunction": "2017-10-02T16:24:49Z", "DeploymentEventsFunction": "2026-12-02T06:30:15Z"}


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (1506961489, "2017-10-02T16:24:49Z"),
        (1506961489.75, "2017-10-02T16:24:49Z"),
        ("2017-10-02T16:24:49Z", "2017-10-02T16:24:49Z"),
        ("2017-10-02T18:24:49+02:00", "2017-10-02T16:24:49Z"),
        ("1506961489", "2017-10-02T16:24:49Z"),
    ],
)
def test_every_wire_form_of_time_becomes_iso_8601(wire: object, expected: str) -> None:
    router = _timed_router(Recorder())
    event = router.envelope({"Source": "s", "DetailType": "d", "Detail": "{}", "Time": wire})
    assert event["time"] == expected


def test_a_bad_time_fails_its_entry_alone() -> None:
    recorder = Recorder()
    router = _timed_router(recorder)
    answer = router.put_entries(
        [
            {"Source": "thermostat.audit", "DetailType": "d", "Detail": "{}", "Time": "yesterday"},
            {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "{}"},
        ]
    )
    router.stop()
    assert answer["FailedEntryCount"] == 1
    assert "'yesterday' is not a timestamp" in answer["Entries"][0]["ErrorMessage"]
    assert [target for target, _ in recorder.calls] == ["DeploymentEventsFunction"]


def test_put_events_with_the_wait_header_reports_each_targets_answer_or_error(moto_server: str) -> None:
    # Given a router whose synchronous delivery answers for one target and fails for another
    def deliver_and_wait(target: str, event: dict[str, Any]) -> Any:
        if target == "Failing":
            raise RuntimeError("InvalidInput: refused for a reason")
        return {"seen": event["detail"]["project"]}

    rules = [DEPLOYMENTS, LocalRule("Second.Requested", "Failing", pattern=DEPLOYMENTS.pattern)]
    router = EventRouter(rules, Recorder(), upstream_url=moto_server, deliver_and_wait=deliver_and_wait)
    url = router.start(run_schedules=False)
    client = boto3.client("events", endpoint_url=url)
    bodies: list[bytes] = []
    client.meta.events.register("before-sign.events.PutEvents", _wait_header)
    client.meta.events.register(
        "after-call.events.PutEvents", lambda http_response, **_: bodies.append(http_response.content)
    )
    try:
        # When boto3 sends PutEvents with thermostat's wait header
        answer = client.put_events(
            Entries=[
                {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": '{"project": "p"}'}
            ]
        )
    finally:
        router.stop()
    # Then the standard answer is intact, and the extension names each delivery's outcome
    assert answer["FailedEntryCount"] == 0
    (waited,) = json.loads(bodies[0])["ThermostatDeliveries"]
    assert waited["EventId"] == answer["Entries"][0]["EventId"]
    outcomes = {d["target"]: d for d in waited["Deliveries"]}
    assert outcomes["DeploymentEventsFunction"]["result"] == {"seen": "p"}
    assert outcomes["DeploymentEventsFunction"]["ok"] is True
    assert outcomes["Failing"]["ok"] is False
    assert outcomes["Failing"]["error"] == "InvalidInput: refused for a reason"


def test_put_events_without_the_header_answers_as_eventbridge_does(router: tuple[EventRouter, Recorder, Any]) -> None:
    _, recorder, client = router
    bodies: list[bytes] = []
    client.meta.events.register(
        "after-call.events.PutEvents", lambda http_response, **_: bodies.append(http_response.content)
    )
    client.put_events(
        Entries=[{"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "{}"}]
    )
    assert recorder.done.wait(10)
    assert "ThermostatDeliveries" not in json.loads(bodies[0])


def _wait_header(request: Any, **_: Any) -> None:
    from emulator.event_router import WAIT_HEADER

    request.headers[WAIT_HEADER] = "1"


def test_an_event_put_with_another_account_s_credentials_says_that_account(moto_server: str) -> None:
    # Given the local EventBridge reading the sender's account from moto (as `thermostat local` does)
    from emulator.stack import _moto_account_of

    recorder = Recorder()
    events_router = EventRouter([DEPLOYMENTS], recorder, upstream_url=moto_server, account_of=_moto_account_of)
    url = events_router.start(run_schedules=False)
    creds = boto3.client("sts", endpoint_url=moto_server).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/deployer", RoleSessionName="router-test"
    )["Credentials"]
    theirs = boto3.client(
        "events",
        endpoint_url=url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    ours = boto3.client("events", endpoint_url=url)
    entry = {"Source": "thermostat.deployments", "DetailType": "Deployment Requested", "Detail": "{}"}
    try:
        # When one event is put from the other account and one from ours
        theirs.put_events(Entries=[entry])
        ours.put_events(Entries=[entry])
    finally:
        events_router.stop()
    # Then each event carries its sender's account, as EventBridge stamps it
    assert sorted(event["account"] for _, event in recorder.calls) == ["111111111111", "123456789012"]
