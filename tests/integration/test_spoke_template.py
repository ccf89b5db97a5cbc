"""serverless/spoke.yaml: the role another account gives the control plane, and the optional forwarding rules.

The gate (``serverless/validate.py``) runs on it as on template.yaml; its role's statements are
pinned exactly (a statement that widens, or a permission added, fails here) and tied to what the
control plane's own functions are granted, so that the two templates cannot drift apart. Broken
copies, one widening each, must fail the least-privilege stage.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_template_validate import SAM_PYTHON, Run, _validate, needs_sam_venv
from tests.validate_script import validate_module

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPOKE = ROOT / "serverless" / "spoke.yaml"
TEMPLATE = ROOT / "serverless" / "template.yaml"

#: Every statement of the spoke role, as the gate prints it (parameter defaults substituted).
SPOKE_STATEMENTS = [
    "WarmTaggedFunctions: lambda:InvokeFunction on arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:* "
    'if {"StringEquals":{"aws:ResourceTag/thermostat:warm":{"Ref":"TargetTagValue"}}}',
    "InspectTaggedTargets: lambda:GetFunctionConfiguration, lambda:GetFunctionConcurrency, "
    "lambda:GetProvisionedConcurrencyConfig on arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:* "
    'if {"StringEquals":{"aws:ResourceTag/thermostat:warm":{"Ref":"TargetTagValue"}}}',
    "DeploymentBuckets: s3:CreateBucket, s3:PutBucketTagging, s3:PutBucketPublicAccessBlock, "
    "s3:PutEncryptionConfiguration, s3:ListBucket, s3:GetBucketTagging on arn:${AWS::Partition}:s3:::*-????????",
    "ListBuckets: s3:ListAllMyBuckets on *",
    "InspectStrays: s3:ListBucket, s3:ListBucketVersions on arn:${AWS::Partition}:s3:::zappa-*",
    "DeleteEmptyStrays: s3:DeleteBucket on arn:${AWS::Partition}:s3:::zappa-*",
]


def _statements(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    validate = validate_module()
    found: dict[str, set[str]] = {}
    properties = template["Resources"][role]["Properties"]
    for policy in validate._as_list(properties.get("Policies") or []):
        for statement in validate._as_list(policy["PolicyDocument"]["Statement"]):
            found[statement["Sid"]] = set(validate._as_list(statement["Action"]))
    return found


def _function_statements(template: dict[str, Any], function: str) -> dict[str, set[str]]:
    validate = validate_module()
    found: dict[str, set[str]] = {}
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for statement in validate._as_list(policy["Statement"]):
            found[statement["Sid"]] = set(validate._as_list(statement["Action"]))
    return found


def test_the_spoke_grants_what_the_control_plane_s_functions_call_and_no_more() -> None:
    # Given both templates as written
    validate = validate_module()
    spoke = _statements(validate.load_template(SPOKE), "SpokeRole")
    plane = validate.load_template(TEMPLATE)
    registry = _function_statements(plane, "DeploymentEventsFunction")
    sweeper = _function_statements(plane, "SweeperFunction")
    keep_warm = _function_statements(plane, "KeepWarmFunction")

    # Then the spoke's bucket statement is the registry's bucket calls plus the sweeper's tag read
    assert spoke["DeploymentBuckets"] == registry["DeploymentBuckets"] | sweeper["ReadThermostatTags"]
    # And the sweeper's listing, inspection and (optional) delete are the same actions
    for sid in ("ListBuckets", "InspectStrays", "DeleteEmptyStrays"):
        assert spoke[sid] == sweeper[sid], sid
    # And keep-warm's pings and look-ups are the same actions, on tagged functions only
    assert spoke["WarmTaggedFunctions"] == {"lambda:InvokeFunction"}
    assert spoke["InspectTaggedTargets"] == keep_warm["InspectTaggedTargets"]


def test_the_spoke_role_trusts_only_the_control_plane_account_with_the_external_id() -> None:
    validate = validate_module()
    role = validate.load_template(SPOKE)["Resources"]["SpokeRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ControlPlaneAccountId}:root"}}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert role["RoleName"] == {"Ref": "RoleName"}


def test_the_forwarding_rules_match_what_the_registry_s_rules_match() -> None:
    # Given the spoke's forwarding rules and the control plane's registry rules
    validate = validate_module()
    spoke = validate.load_template(SPOKE)["Resources"]
    events = validate.load_template(TEMPLATE)["Resources"]["DeploymentEventsFunction"]["Properties"]["Events"]

    # Then each forwarded pattern is exactly the pattern its receiving rule listens for
    assert (
        spoke["ForwardDeploymentRequested"]["Properties"]["EventPattern"]
        == (events["DeploymentRequested"]["Properties"]["Pattern"])
    )
    forwarded = spoke["ForwardCreateBucket"]["Properties"]["EventPattern"]
    assert forwarded == events["BucketCreated"]["Properties"]["Pattern"]
    # And the receiving rules do not filter on the account: other accounts' events reach the handler
    for event in events.values():
        assert "account" not in event["Properties"]["Pattern"]
    # And every forwarding resource exists only when forwarding is asked for
    for name in ("ForwardingRole", "ForwardDeploymentRequested", "ForwardCreateBucket"):
        assert spoke[name]["Condition"] == "Forwarding", name


@needs_sam_venv
def test_the_spoke_passes_every_stage_with_exactly_its_statements() -> None:
    run = _validate(SPOKE)
    assert run.code == 0, run.out + run.err
    section = run.section(SPOKE)
    for stage in ("translate", "cfn-lint", "checkov", "policies"):
        assert re.search(rf"^\s+{stage}\s+ok\b", section, re.MULTILINE), section
    lines = section.splitlines()
    start = lines.index("    SpokeRole/thermostat-spoke") + 1
    end = lines.index("    ForwardingRole/forward-to-thermostat")
    assert [line.strip() for line in lines[start:end]] == SPOKE_STATEMENTS


# One widening each: the policies stage must refuse every one of them.
WIDENINGS = [
    (
        "untagged-invoke",
        "                Action: lambda:InvokeFunction\n"
        "                Resource:\n"
        '                  - !Sub "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*"\n'
        "                Condition:\n"
        "                  StringEquals:\n"
        "                    aws:ResourceTag/thermostat:warm: !Ref TargetTagValue\n",
        "                Action: lambda:InvokeFunction\n"
        "                Resource:\n"
        '                  - !Sub "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*"\n',
        "statement WarmTaggedFunctions: lambda:invokefunction on every function without a Condition",
    ),
    (
        "buckets-on-star",
        '                Resource: !Sub "arn:${AWS::Partition}:s3:::${DeploymentBucketPattern}"\n',
        '                Resource: "*"\n',
        'statement DeploymentBuckets: write action s3:createbucket on Resource "*"',
    ),
    (
        "tag-read-on-star",
        "                  - s3:GetBucketTagging\n"
        '                Resource: !Sub "arn:${AWS::Partition}:s3:::${DeploymentBucketPattern}"\n',
        "                  - s3:GetBucketTagging\n"
        '                Resource: ["*", !Sub "arn:${AWS::Partition}:s3:::${DeploymentBucketPattern}"]\n',
        'statement DeploymentBuckets: s3:getbuckettagging on Resource "*", though it has a resource type',
    ),
    (
        "every-stray-bucket",
        '    Default: "zappa-*"\n    MaxLength: 63\n    AllowedPattern: "^[a-z0-9.*?-]*[a-z0-9.-][a-z0-9.*?-]*$"\n',
        '    Default: "*"\n    MaxLength: 63\n    AllowedPattern: "^[a-z0-9.*?-]{1,63}$"\n',
        "statement InspectStrays: s3:listbucket on every bucket (arn:${AWS::Partition}:s3:::*)",
    ),
    (
        "get-function",
        "                  - lambda:GetFunctionConfiguration\n",
        "                  - lambda:GetFunction\n",
        "statement InspectTaggedTargets: lambda:getfunction returns the code's URL",
    ),
    (
        "no-external-id",
        "            Action: sts:AssumeRole\n"
        "            Condition:\n"
        "              StringEquals:\n"
        "                sts:ExternalId: !Ref ExternalId\n",
        "            Action: sts:AssumeRole\n",
        "SpokeRole trust statement ControlPlane: another account may assume the role without an sts:ExternalId",
    ),
]


@pytest.fixture(scope="module")
def widened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Path]]:
    if not SAM_PYTHON.exists():
        pytest.skip("needs .venv-sam")
    original = SPOKE.read_text(encoding="utf-8")
    directory = tmp_path_factory.mktemp("spoke-widened")
    paths = {}
    for name, old, new, _ in WIDENINGS:
        assert original.count(old) == 1, f"{name}: the text to widen is not unique in spoke.yaml"
        path = directory / f"{name}.yaml"
        path.write_text(original.replace(old, new), encoding="utf-8")
        paths[name] = path
    return _validate(*paths.values()), paths


@needs_sam_venv
@pytest.mark.parametrize(("name", "old", "new", "expected"), WIDENINGS, ids=[w[0] for w in WIDENINGS])
def test_each_widening_of_the_spoke_fails_least_privilege(
    widened: tuple[Run, dict[str, Path]], name: str, old: str, new: str, expected: str
) -> None:
    del old, new
    run, paths = widened
    section = run.section(paths[name])
    assert re.search(r"^\s+policies\s+FAILED$", section, re.MULTILINE), section
    assert expected in section, section
    assert run.code == 1


def test_the_control_plane_opens_to_the_organization_only_when_asked() -> None:
    # Given the control plane's template
    validate = validate_module()
    plane = validate.load_template(TEMPLATE)
    resources = plane["Resources"]

    # Then both bus policies exist only with an OrganizationId, and admit that Organization only
    for name, bus in (
        ("OrganizationDeploymentEvents", {"Ref": "EventBusName"}),
        ("OrganizationCloudTrailEvents", "default"),
    ):
        policy = resources[name]
        assert policy["Type"] == "AWS::Events::EventBusPolicy"
        assert policy["Condition"] == "HasOrganization"
        assert policy["Properties"]["EventBusName"] == bus
        statement = policy["Properties"]["Statement"]
        assert statement["Action"] == "events:PutEvents"
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert plane["Conditions"]["HasOrganization"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]}
    # And the registry and the sweeper may assume the spoke role only then, and nothing broader
    for function in ("DeploymentEventsFunction", "SweeperFunction"):
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        [conditional] = [s for s in statements if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "AssumeSpokeRoles"]
        condition, granted, otherwise = conditional["Fn::If"]
        assert condition == "HasOrganization"
        assert otherwise == {"Ref": "AWS::NoValue"}
        assert granted["Action"] == "sts:AssumeRole"
        assert granted["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"}
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["THERMOSTAT_SPOKE_ROLE"] == {"Ref": "SpokeRoleName"}
        assert variables["THERMOSTAT_SPOKE_EXTERNAL_ID"] == {"Ref": "SpokeExternalId"}


def test_aws_s_create_bucket_sample_is_forwarded_and_received() -> None:
    # Given AWS's CloudTrail CreateBucket sample as EventBridge delivers it (tests/fixtures/cloudtrail/README.md)
    import json

    from moto.events.models import EventPattern

    fixture = ROOT / "tests" / "fixtures" / "cloudtrail" / "create-bucket-account-111111111111.json"
    event = json.loads(fixture.read_text(encoding="utf-8"))
    validate = validate_module()
    forward = validate.load_template(SPOKE)["Resources"]["ForwardCreateBucket"]["Properties"]["EventPattern"]
    # Then the spoke's rule forwards it, and a failed call is not forwarded
    assert EventPattern.load(json.dumps(forward)).matches_event(event)
    failed = {**event, "detail": {**event["detail"], "errorCode": "AccessDenied"}}
    assert not EventPattern.load(json.dumps(forward)).matches_event(failed)
