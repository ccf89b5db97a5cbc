"""The least-privilege stage of ``serverless/validate.py``, on small translated templates.

That stage is plain Python (no aws-sam-translator), so it is tested here in the main environment;
the whole gate, with the translator, cfn-lint and checkov, is tested in
``tests/integration/test_template_validate.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.validate_script import validate_module

pytestmark = pytest.mark.unit


def _role(*statements: Any, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Parameters": parameters or {},
        "Resources": {
            "FnRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [{"PolicyName": "inline", "PolicyDocument": {"Statement": list(statements)}}]
                },
            }
        },
    }


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def problems(template: dict[str, Any]) -> list[str]:
    found: list[str] = validate_module().policy_problems(template)
    return found


SCOPED = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:orders:*"}


def test_a_scoped_template_is_clean() -> None:
    # Given a read that has no resource type on "*", scoped reads, a scoped invoke, a
    # tag-conditioned invoke and a scoped write
    template = _role(
        _allow("s3:ListAllMyBuckets", "*"),
        _allow(
            ["dynamodb:GetItem", "dynamodb:Query"],
            {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/thermostat"},
        ),
        _allow("lambda:InvokeFunction", SCOPED),
        _allow(
            "lambda:InvokeFunction",
            {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"},
            Condition={"StringEquals": {"aws:ResourceTag/thermostat:warm": "true"}},
        ),
        _allow("s3:CreateBucket", {"Fn::Sub": "arn:${AWS::Partition}:s3:::deploy-*"}),
        _allow(
            ["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency"],
            {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"},
            Condition={"StringEquals": {"aws:ResourceTag/thermostat:warm": "true"}},
        ),
    )

    # When the policies are checked
    found = problems(template)

    # Then nothing is reported
    assert found == []


@pytest.mark.parametrize(
    "action",
    [
        "lambda:InvokeFunction",
        "lambda:invokefunction",
        "lambda:Invoke*",
        "lambda:*",
        "*",
        ["s3:GetObject", "lambda:InvokeFunction"],
    ],
)
def test_invoke_on_every_resource_is_refused(action: Any) -> None:
    # Given an invoke permission on Resource "*"
    template = _role(_allow(action, "*", Sid="Warm"))

    # When the policies are checked
    found = problems(template)

    # Then the statement is named with what to do instead
    assert any('on Resource "*"' in line and "FnRole/inline statement Warm" in line for line in found), found


@pytest.mark.parametrize(
    "action",
    [
        "s3:DeleteBucket",
        "dynamodb:PutItem",
        "events:PutEvents",
        "s3:Put*",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
    ],
)
def test_write_actions_on_every_resource_are_refused(action: str) -> None:
    # Given a write action on Resource "*" (in a list, next to a legitimate read)
    template = _role(_allow(["s3:ListAllMyBuckets", action], ["*"]))

    # When the policies are checked
    found = problems(template)

    # Then exactly that action is reported as a write on "*"
    assert found == [f'FnRole/inline statement 0: write action {action.lower()} on Resource "*"; name the resources']


def test_write_actions_that_exist_only_on_every_resource_are_allowed() -> None:
    # Given PutMetricData, which has no resource-level permissions
    template = _role(_allow("cloudwatch:PutMetricData", "*"))

    # When the policies are checked
    found = problems(template)

    # Then it is accepted (and the reason is recorded in validate.py)
    assert found == []
    assert "cloudwatch:putmetricdata" in validate_module().WRITE_ACTIONS_WITHOUT_RESOURCE_TYPES


def test_invoke_of_every_function_needs_a_condition() -> None:
    # Given an invoke of function:* in the account without a Condition
    every = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"}
    template = _role(_allow("lambda:InvokeFunction", every))

    # When the policies are checked
    found = problems(template)

    # Then it is reported
    assert found == [
        "FnRole/inline statement 0: lambda:invokefunction on every function without a Condition (e.g. a tag)"
    ]


def test_both_branches_of_a_condition_are_checked_and_novalue_is_skipped() -> None:
    # Given a statement behind Fn::If whose false branch is a wildcard invoke, and a NoValue one
    template = _role(
        {"Fn::If": ["Cond", _allow("lambda:InvokeFunction", SCOPED), _allow("lambda:InvokeFunction", "*")]},
        {"Fn::If": ["Other", _allow("s3:ListAllMyBuckets", "*"), {"Ref": "AWS::NoValue"}]},
    )

    # When the policies are checked
    found = problems(template)

    # Then the hidden wildcard is found, and NoValue is not mistaken for a statement
    assert len(found) == 1
    assert 'lambda:invokefunction on Resource "*"' in found[0]


@pytest.mark.parametrize("action", ["dynamodb:GetItem", "s3:GetBucketTagging", "lambda:GetFunctionConfiguration"])
def test_a_read_on_star_that_could_name_its_resources_is_refused(action: str) -> None:
    # Given a read that has a resource type, granted on "*" (the spoke's widening to guard against)
    template = _role(_allow(action, "*"), _allow("s3:ListAllMyBuckets", "*"))

    # When the policies are checked
    found = problems(template)

    # Then it is reported with what to do; ListAllMyBuckets, which has no resource type, is not
    assert found == [
        f'FnRole/inline statement 0: {action.lower()} on Resource "*", though it has a resource type; name the '
        "resources (a pattern such as arn:…:s3:::prefix-*)"
    ]


def test_a_resource_from_a_parameter_defaulting_to_a_wildcard_is_refused() -> None:
    # Given a delete on a Ref to a parameter whose default is "*"
    template = _role(
        _allow("s3:DeleteBucket", {"Ref": "Buckets"}), parameters={"Buckets": {"Type": "String", "Default": "*"}}
    )

    # When the policies are checked
    found = problems(template)

    # Then the default is what is judged
    assert found == ['FnRole/inline statement 0: write action s3:deletebucket on Resource "*"; name the resources']


@pytest.mark.parametrize("key", ["NotAction", "NotResource"])
def test_grants_by_exclusion_are_refused(key: str) -> None:
    # Given an Allow with NotAction or NotResource
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", key: "iam:*"}
    template = _role(statement)

    # When the policies are checked
    found = problems(template)

    # Then it is reported
    assert found == [f"FnRole/inline statement 0: {key} grants by exclusion; list the actions and resources instead"]


def test_deny_statements_are_not_judged() -> None:
    # Given a Deny on "*"
    template = _role({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})

    # When the policies are checked
    found = problems(template)

    # Then nothing is reported: denying everything is not a privilege
    assert found == []


def test_standalone_policies_are_checked_too() -> None:
    # Given an AWS::IAM::Policy resource with a wildcard write
    template = {
        "Resources": {
            "Extra": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyDocument": {"Statement": [_allow("sqs:SendMessage", "*")]}},
            }
        }
    }

    # When the policies are checked
    found = problems(template)

    # Then it is reported under the resource's name
    assert found == ['Extra statement 0: write action sqs:sendmessage on Resource "*"; name the resources']


def test_a_lambda_permission_without_source_arn_is_refused() -> None:
    # Given two permissions, one scoped to its rule and one open to any rule of the service
    template = {
        "Resources": {
            "Scoped": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]}},
            },
            "Open": {"Type": "AWS::Lambda::Permission", "Properties": {"Principal": "events.amazonaws.com"}},
        }
    }

    # When the policies are checked
    found = problems(template)

    # Then only the open one is reported
    assert found == ["Open: AWS::Lambda::Permission without SourceArn (anyone could use it)"]


def test_local_artifact_paths_become_placeholder_uris_and_s3_uris_stay() -> None:
    # Given a template with local and S3 artifacts
    template: dict[str, Any] = {
        "Globals": {"Function": {"CodeUri": "."}},
        "Resources": {
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer/"}},
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://mine/code.zip"}},
        },
    }

    # When they are made translatable offline
    validate_module()._offline_artifacts(template)

    # Then local paths point at the placeholder bucket and real URIs are untouched
    bucket = validate_module().PLACEHOLDER_BUCKET
    assert template["Globals"]["Function"]["CodeUri"] == f"s3://{bucket}/root"
    assert template["Resources"]["Layer"]["Properties"]["ContentUri"] == f"s3://{bucket}/layer"
    assert template["Resources"]["Fn"]["Properties"]["CodeUri"] == "s3://mine/code.zip"


def test_every_skip_has_a_reason() -> None:
    module = validate_module()

    # Given the skip lists of the gate
    skips = {**module.CFN_LINT_IGNORED, **module.CHECKOV_SKIPPED, **module.WRITE_ACTIONS_WITHOUT_RESOURCE_TYPES}

    # When their reasons are read
    short = {check: reason for check, reason in skips.items() if len(reason.split()) < 6}

    # Then each says why in a sentence, not a word
    assert short == {}


def test_a_file_that_is_not_a_template_is_a_clear_failure(tmp_path: Path) -> None:
    # Given a YAML file without Resources, and one that is not YAML
    not_template = tmp_path / "values.yaml"
    not_template.write_text("name: thermostat\n", encoding="utf-8")
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("Resources: [\n", encoding="utf-8")

    # When they are loaded
    with pytest.raises(validate_module().StageFailed) as missing:
        validate_module().load_template(not_template)
    with pytest.raises(validate_module().StageFailed) as broken:
        validate_module().load_template(not_yaml)

    # Then each failure names the file and the problem
    assert missing.value.problems == [f"{not_template} is not a CloudFormation template: no Resources mapping"]
    assert str(not_yaml) in broken.value.problems[0]


EVERY_FUNCTION = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"}


@pytest.mark.parametrize(
    ("resource", "parameters"),
    [
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}, {}),
        ("arn:aws:s3:::*/*", {}),
        ({"Fn::Sub": "arn:aws:s3:::??*"}, {}),
        # the template's own shape: the bucket glob is a parameter, judged by its default
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Pattern}"}, {"Pattern": {"Type": "String", "Default": "*"}}),
    ],
    ids=["star", "objects-of-every-bucket", "wildcards-only", "parameter-default"],
)
def test_an_s3_action_on_every_bucket_is_refused(resource: Any, parameters: dict[str, Any]) -> None:
    # Given S3 actions (a write and a read) on a bucket glob made of wildcards only
    template = _role(_allow(["s3:CreateBucket", "s3:ListBucket"], resource, Sid="Buckets"), parameters=parameters)

    # When the policies are checked
    found = problems(template)

    # Then each action is reported as one on every bucket
    assert [line.split(": ", 1)[1].split(" on ")[0] for line in found] == ["s3:createbucket", "s3:listbucket"]
    assert all("on every bucket" in line and "statement Buckets" in line for line in found), found


def test_a_bucket_glob_with_a_literal_part_is_allowed() -> None:
    # Given thermostat's own naming scheme as the glob, straight and through a parameter default
    template = _role(
        _allow("s3:CreateBucket", "arn:aws:s3:::*-????????"),
        _allow("s3:PutBucketTagging", {"Fn::Sub": "arn:aws:s3:::${Pattern}"}),
        parameters={"Pattern": {"Type": "String", "Default": "shop-*"}},
    )

    # When the policies are checked
    found = problems(template)

    # Then nothing is reported
    assert found == []


@pytest.mark.parametrize(
    "action",
    ["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency", "lambda:GetProvisionedConcurrencyConfig"],
)
def test_a_lambda_read_of_every_function_needs_a_condition(action: str) -> None:
    # Given a read of every function of the account (it returns their environments) without a Condition
    template = _role(_allow(action, EVERY_FUNCTION))

    # When the policies are checked
    found = problems(template)

    # Then it is reported like an unconditioned invoke
    assert found == [f"FnRole/inline statement 0: {action.lower()} on every function without a Condition (e.g. a tag)"]


@pytest.mark.parametrize("action", ["lambda:GetFunction", "lambda:Get*"])
def test_get_function_is_refused_even_when_scoped(action: str) -> None:
    # Given GetFunction on one function (it returns a URL of the code; on a tagged function it needs ListTags)
    template = _role(_allow(action, SCOPED))

    # When the policies are checked
    found = problems(template)

    # Then it is reported with the least-privileged call to grant instead
    assert len(found) == 1
    assert "grant lambda:GetFunctionConfiguration" in found[0]


def test_statements_are_listed_per_role_with_defaults_and_placeholders() -> None:
    # Given a role with a conditioned statement and one built from a parameter list (empty by default)
    listed = {
        "Fn::Split": [
            ",",
            {"Fn::Sub": ["${Arns}:*", {"Arns": {"Fn::Join": [":*,", {"Fn::Split": [",", {"Ref": "Arns"}]}]}}]},
        ]
    }
    template = _role(
        _allow("lambda:InvokeFunction", EVERY_FUNCTION, Sid="Tagged", Condition={"StringEquals": {"k": "v"}}),
        _allow("lambda:InvokeFunction", listed, Sid="Listed"),
        _allow("s3:CreateBucket", {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Pattern}"}, Sid="Buckets"),
        parameters={"Arns": {"Type": "String", "Default": ""}, "Pattern": {"Type": "String", "Default": "*-????????"}},
    )

    # When the statements are listed
    listed_lines = validate_module().statements_by_role(template)

    # Then each is one readable line: defaults substituted, an empty list shown by its name
    assert listed_lines == {
        "FnRole/inline": [
            "Tagged: lambda:InvokeFunction on arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:* "
            'if {"StringEquals":{"k":"v"}}',
            "Listed: lambda:InvokeFunction on <Arns>:*",
            "Buckets: s3:CreateBucket on arn:${AWS::Partition}:s3:::*-????????",
        ]
    }
