"""Input, InputPath and InputTransformer, against AWS's documented examples.

Fixtures: "Amazon EventBridge input transformation" (EventBridge User Guide: the EC2 state-change event, its
InputPathsMap and the templates of "Input transform examples"), and the ``InputTransformer`` page of the
EventBridge API Reference / CloudFormation's ``AWS::Events::Rule InputTransformer`` (the ``<instance> is in
state <status>`` templates).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.errors import InvalidInput
from emulator.target_input import compile_path, compile_target_input

pytestmark = pytest.mark.unit

# "Amazon EventBridge input transformation": the example Amazon EC2 event
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
EC2_PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "resource": "$.resources[0]",
}
RULE = {"rule_name": "example", "rule_arn": "arn:aws:events:us-east-2:123456789012:rule/example"}
INGESTED = "2015-11-11T21:29:55Z"


def _render(template: str, paths: dict[str, str] = EC2_PATHS, event: dict[str, Any] = EC2_EVENT) -> str:
    compiled = compile_target_input(
        "rule example", input_transformer={"InputPathsMap": paths, "InputTemplate": template}
    )
    return compiled.render(event, ingestion_time=INGESTED, **RULE)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # simple string
        ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
        # string with escaped quotes
        ('"instance \\"<instance>\\" is in <state>"', '"instance \\"i-0123456789\\" is in RUNNING"'),
        # simple properties: string values outside quotes get their quotes
        ('{"instance" : <instance>, "state": <state>}', '{"instance" : "i-0123456789", "state": "RUNNING"}'),
        # mixing variables and static content
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
            '{"instance" : "i-0123456789", "state": [ 9, "RUNNING", true ], "Transformed" : "Yes"}',
        ),
    ],
)
def test_documented_transform_examples(template: str, expected: str) -> None:
    assert _render(template) == expected


def test_the_map_s_other_paths_from_the_document() -> None:
    # the document's map also names $.time and $.resources[0] (an array index)
    rendered = _render('{"at": <timestamp>, "what": "<resource>"}')
    assert json.loads(rendered) == {"at": "2015-11-11T21:29:54Z", "what": EC2_EVENT["resources"][0]}


def test_predefined_variables() -> None:
    template = (
        '{"instance": <instance>, "ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, '
        '"at": "<aws.events.event.ingestion-time>", "original": <aws.events.event.json>, '
        '"envelope": <aws.events.event>}'
    )
    rendered = json.loads(_render(template))
    assert rendered["ruleArn"] == "arn:aws:events:us-east-2:123456789012:rule/example"
    assert rendered["ruleName"] == "example"
    assert rendered["at"] == INGESTED
    assert rendered["original"] == EC2_EVENT
    assert rendered["envelope"] == {k: v for k, v in EC2_EVENT.items() if k != "detail"}


API_EVENT = {"detail": {"instance": "i-1234", "status": "stopped"}}
API_PATHS = {"instance": "$.detail.instance", "status": "$.detail.status"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<instance> is in state <status>", "i-1234 is in state stopped"),
        ('<instance> is in state "<status>"', 'i-1234 is in state "stopped"'),
        (
            '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}',
            '{"myInstance": "i-1234","myStatus": "i-1234 is in state \\"stopped\\""}',
        ),
    ],
)
def test_api_reference_examples(template: str, expected: str) -> None:
    assert _render(template, API_PATHS, API_EVENT) == expected


def test_values_are_escaped_inside_string_literals_and_json_outside() -> None:
    event = {"detail": {"note": 'say "hi"\n', "n": 3, "obj": {"a": [1]}, "flag": False}}
    paths = {"note": "$.detail.note", "n": "$.detail.n", "obj": "$.detail.obj", "flag": "$.detail.flag"}
    rendered = _render(
        '{"text": "<note>|<n>|<obj>", "n": <n>, "obj": <obj>, "flag": <flag>, "q": <note>}', paths, event
    )
    assert json.loads(rendered) == {
        "text": 'say "hi"\n|3|{"a": [1]}',
        "n": 3,
        "obj": {"a": [1]},
        "flag": False,
        "q": 'say "hi"\n',
    }


def test_a_path_that_finds_nothing_is_null() -> None:
    rendered = _render('{"gone": <gone>, "text": "<gone>"}', {"gone": "$.detail.nothing.here"})
    assert json.loads(rendered) == {"gone": None, "text": "null"}


def test_input_and_input_path() -> None:
    constant = compile_target_input("rule r", input_text='{"group": "default"}')
    assert constant.render(EC2_EVENT, ingestion_time=INGESTED, **RULE) == '{"group": "default"}'
    detail = compile_target_input("rule r", input_path="$.detail")
    assert json.loads(detail.render(EC2_EVENT, ingestion_time=INGESTED, **RULE)) == EC2_EVENT["detail"]
    whole = compile_target_input("rule r")
    assert json.loads(whole.render(EC2_EVENT, ingestion_time=INGESTED, **RULE)) == EC2_EVENT


def test_wildcards_and_indices() -> None:
    event = {"detail": {"items": [{"id": "a"}, {"id": "b"}], "a/b": 1}}
    assert compile_path("$.detail.items[*].id", "t").find(event) == ["a", "b"]
    assert compile_path("$.detail.items[1].id", "t").find(event) == "b"
    assert compile_path("$.detail.a/b", "t").find(event) == 1
    assert compile_path("$", "t").find(event) == event


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_path": "$..detail"}, "not a path EventBridge supports at '..detail'"),
        ({"input_path": "$['detail']"}, "not a path EventBridge supports"),
        ({"input_path": "$.detail[?(@.x)]"}, "not a path EventBridge supports"),
        ({"input_path": "detail.state"}, "must start with '\\$'"),
        ({"input_text": "{not json"}, "Input must be JSON text"),
        ({"input_text": "{}", "input_path": "$.detail"}, "one of Input, InputPath and InputTransformer"),
        ({"input_transformer": {"InputPathsMap": {"a": "$.a"}}}, "needs an InputTemplate"),
        (
            {"input_transformer": {"InputPathsMap": {"a": "$.a"}, "InputTemplate": '{"x": <b>}'}},
            "<b> is neither in InputPathsMap",
        ),
        (
            {"input_transformer": {"InputPathsMap": {"a": "$.a b"}, "InputTemplate": "<a>"}},
            "InputPathsMap\\['a'\\]",
        ),
        (
            {"input_transformer": {"InputPathsMap": {"aws.mine": "$.a"}, "InputTemplate": "<aws.mine>"}},
            "not a variable name you may define",
        ),
        (
            {"input_transformer": {"InputPathsMap": {"a": "$.a"}, "InputTemplate": "{<a>: 1}"}},
            "used as an object key",
        ),
        (
            {"input_transformer": {"InputTemplate": '{"e": "<aws.events.event.json>"}'}},
            "only be used as a JSON value",
        ),
        (
            {"input_transformer": {"InputPathsMap": {"a": "$.a"}, "InputTemplate": '{"x": <a>,}'}},
            "not valid JSON once filled in",
        ),
        (
            {"input_transformer": {"InputTemplate": "x", "InputPath": "$.a"}},
            "unknown keys",
        ),
    ],
)
def test_bad_configurations_are_refused_with_the_reason(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        compile_target_input("rule Orders.Changed", **kwargs)
    assert "rule Orders.Changed" in str(caught.value)
