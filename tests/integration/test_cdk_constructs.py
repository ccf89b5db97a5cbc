"""The CDK constructs (``thermostat_cdk``), synthesized offline with the CDK's own ``assertions`` module.

One app is synthesized per session (the CDK runs on jsii, whose Node.js process takes seconds to
start): the control plane in one stack, a user's function with ``Warmable`` and ``PreTrafficWarmup``
in another. The control plane is compared, resource by resource kind and statement by statement,
with ``serverless/template.yaml`` as aws-sam-translator translates it; and both synthesized
templates go through the project's offline gate (``serverless/validate.py``: cfn-lint, checkov,
least privilege), as ``template.yaml`` does.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.validate_script import validate_module

if TYPE_CHECKING:
    from types import ModuleType

# jsii prints a banner for Node.js 20 (end of life for jsii); it still works, and says so on every start.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("aws_cdk") is None, reason="the `cdk` extra is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
VALIDATE = ROOT / "serverless" / "validate.py"
ACCOUNT, REGION = "123456789012", "eu-west-1"
ORDERS_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
needs_sam_venv = pytest.mark.skipif(
    not SAM_PYTHON.exists(), reason=".venv-sam is absent: run `make validate-template` (make test builds it)"
)


class Cdk:
    """The CDK's modules, imported at first use: importing aws_cdk starts jsii's Node.js process,
    which must not run beside every other test of the session (the e2e test counts child processes)."""

    def __init__(self) -> None:
        self.cdk = importlib.import_module("aws_cdk")
        self.assertions = importlib.import_module("aws_cdk.assertions")
        self.lambda_ = importlib.import_module("aws_cdk.aws_lambda")
        self.tc: ModuleType = importlib.import_module("thermostat_cdk")

    def env(self) -> Any:
        return self.cdk.Environment(account=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def k() -> Cdk:
    return Cdk()


@dataclass
class Synthesized:
    control_plane: Any
    app: Any
    bare_app: Any  # the same user function without Warmable/PreTrafficWarmup


def _bundle(k: Cdk, tmp: Path, name: str) -> Any:
    directory = tmp / name
    directory.mkdir()
    (directory / "handlers.py").write_text("# stands in for the control-plane bundle\n")
    return k.lambda_.Code.from_asset(str(directory))


def _user_stack(k: Cdk, app: Any, stack_id: str, with_thermostat: Any = None) -> Any:
    cdk, lambda_ = k.cdk, k.lambda_
    stack = cdk.Stack(app, stack_id, env=k.env())
    fn = lambda_.Function(
        stack,
        "Orders",
        function_name="orders",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="app.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {'statusCode': 200}\n"),
    )
    alias = fn.add_alias("live")
    if with_thermostat is not None:
        with_thermostat(stack, alias)
    return stack


@pytest.fixture(scope="module")
def synthesized(k: Cdk, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    cdk, assertions, tc = k.cdk, k.assertions, k.tc
    tmp = tmp_path_factory.mktemp("cdk")
    app = cdk.App(outdir=str(tmp / "cdk.out"))
    plane_stack = cdk.Stack(app, "thermostat", env=k.env())
    plane = tc.ThermostatControlPlane(
        plane_stack,
        "Thermostat",
        code=_bundle(k, tmp, "plane"),
        warm_function_arns=[ORDERS_ARN],
        guarded_function_arns=[ORDERS_ARN],
        payload_buckets=["warm-payloads"],
        alarm_email="ops@example.com",
        sweep_delete=True,  # every optional statement on, as the comparison reads both branches of SAM's ifs
        organization_id="o-a1b2c3d4e5",
        spoke_external_id="xid-org",
    )

    def thermostat(stack: Any, alias: Any) -> None:
        tc.Warmable(stack, "Warm", alias, control_plane=plane, concurrency=3, group="office-hours")
        tc.PreTrafficWarmup(
            stack,
            "Guard",
            alias,
            control_plane=plane,
            concurrency=4,
            jitter=(0.1, 0.2),
            probe_payload={"path": "/health"},
            expect=["statusCode == 200"],
            code=_bundle(k, tmp, "hook"),
        )

    user = _user_stack(k, app, "orders", thermostat)
    bare = _user_stack(k, cdk.App(outdir=str(tmp / "bare.out")), "orders")
    return Synthesized(
        assertions.Template.from_stack(plane_stack),
        assertions.Template.from_stack(user),
        assertions.Template.from_stack(bare),
    )


def _resources(template: Any, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found


# ---------------------------------------------------------------------------------------------
# ThermostatControlPlane


def test_control_plane_has_the_template_s_functions_table_and_layer(k: Cdk, synthesized: Synthesized) -> None:
    assertions = k.assertions
    plane = synthesized.control_plane
    plane.resource_count_is("AWS::Lambda::Function", 5)  # and the keep-warm worker
    plane.resource_count_is("AWS::Events::Rule", 6)  # two registry, two schedules, config changes, sweeper
    plane.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
        },
    )
    plane.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    plane.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "CodeDeployHook_thermostat",
            "Handler": "handlers.pre_traffic.lambda_handler",
            "Architectures": ["arm64"],
            "Environment": {
                "Variables": assertions.Match.object_like(
                    {"THERMOSTAT_HOOK_CONCURRENCY": "5", "THERMOSTAT_HOOK_JITTER": "0.25,0.4"}
                )
            },
        },
    )
    plane.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [assertions.Match.object_like({"Input": '{"group":"default"}'})],
        },
    )
    plane.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "cron(0/5 7-19 ? * MON-FRI *)", "State": "DISABLED"}
    )


def _translated_sam() -> dict[str, Any]:
    program = (
        "import json, sys; sys.path.insert(0, 'serverless'); import validate; "
        "print(json.dumps(validate.translate(validate.HERE / 'template.yaml')))"
    )
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    translated: dict[str, Any] = json.loads(done.stdout)
    return translated


def _statements(template: dict[str, Any], role_ids: set[str]) -> dict[str, set[str]]:
    """Sid -> actions of every named statement granted to these roles (inline or as AWS::IAM::Policy)."""
    validate = validate_module()
    found: dict[str, set[str]] = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        documents = []
        if logical_id in role_ids:
            documents = [p.get("PolicyDocument") for p in validate._as_list(properties.get("Policies") or [])]
        elif resource["Type"] == "AWS::IAM::Policy" and any(
            role.get("Ref") in role_ids for role in properties.get("Roles") or []
        ):
            documents = [properties["PolicyDocument"]]
        for document in documents:
            for statement in validate._as_list(document.get("Statement") or []):
                if "Sid" in statement:
                    found[statement["Sid"]] = set(validate._as_list(statement["Action"]))
    return found


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Handler -> (memory, timeout, environment variable names, statements) of each function."""
    validate = validate_module()
    parameters = template.get("Parameters") or {}
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        role = properties["Role"]["Fn::GetAtt"][0]
        found[properties["Handler"]] = {
            # SAM's values are parameters: judged as their defaults, the construct's keyword defaults
            "memory": str(validate._evaluate(properties.get("MemorySize"), parameters)),
            "timeout": str(validate._evaluate(properties.get("Timeout"), parameters)),
            "variables": sorted((properties.get("Environment") or {}).get("Variables", {})),
            "statements": _statements(template, {role}),
            "layers": len(properties.get("Layers") or []),
        }
    return found


def _rules(template: dict[str, Any]) -> list[tuple[Any, ...]]:
    validate = validate_module()
    parameters = template.get("Parameters") or {}
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        properties = resource["Properties"]
        [target] = properties["Targets"]
        found.append(
            (
                validate._evaluate(properties.get("ScheduleExpression", ""), parameters),
                json.dumps(properties.get("EventPattern"), sort_keys=True),
                json.dumps(json.loads(target["Input"]) if "Input" in target else None),
                json.dumps(target.get("RetryPolicy"), sort_keys=True),
                validate._evaluate(properties.get("State", "ENABLED"), parameters),
            )
        )
    return sorted(found)


@needs_sam_venv
def test_control_plane_matches_the_translated_sam_template(synthesized: Synthesized) -> None:
    # Given the SAM template as aws-sam-translator deploys it, and the construct with every option on
    sam = _translated_sam()
    plane = synthesized.control_plane.to_json()

    # Then the same kinds of resources, as many of each (the CDK writes a role's statements as a
    # separate AWS::IAM::Policy, and adds the bootstrap version check)
    def kinds(template: dict[str, Any]) -> Counter[str]:
        return Counter(r["Type"] for r in template["Resources"].values() if r["Type"] != "AWS::IAM::Policy")

    assert kinds(plane) == kinds(sam)
    # And each function has the same handler, size, variables and named statements
    assert _functions(plane) == _functions(sam)
    # And the same rules: patterns, schedules, constant inputs, retry policies, states
    assert _rules(plane) == _rules(sam)


# ---------------------------------------------------------------------------------------------
# Warmable and PreTrafficWarmup


def test_warmable_adds_the_layer_the_tag_and_the_target_record_and_nothing_else(synthesized: Synthesized) -> None:
    app, bare = synthesized.app.to_json()["Resources"], synthesized.bare_app.to_json()["Resources"]
    [function] = [
        r["Properties"]
        for r in app.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == "orders"
    ]
    assert len(function["Layers"]) == 1
    assert "Fn::ImportValue" in json.dumps(function["Layers"])  # the control plane's layer, across stacks
    assert {"Key": "thermostat:warm", "Value": "true"} in function["Tags"]
    [bare_function] = [r["Properties"] for r in bare.values() if r["Type"] == "AWS::Lambda::Function"]
    assert {k: v for k, v in function.items() if k not in {"Layers", "Tags"}} == {
        k: v for k, v in bare_function.items() if k != "Tags"
    }

    [record] = [r["Properties"] for r in app.values() if r["Type"] == "Custom::AWS"]
    create = json.dumps(record["Create"])
    for fragment in ('\\"action\\":\\"putItem\\"', '\\"concurrency\\":{\\"N\\":\\"3\\"}', "office-hours#"):
        assert fragment in create, create
    assert "deleteItem" in json.dumps(record["Delete"])


def test_pre_traffic_warmup_is_a_deployment_group_with_the_hook_as_pre_hook(synthesized: Synthesized) -> None:
    app = synthesized.app
    app.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 1)
    resources = app.to_json()["Resources"]
    [alias] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    hook_id = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]["Ref"]
    hook = resources[hook_id]["Properties"]
    assert hook["Handler"] == "handlers.pre_traffic.lambda_handler"
    assert hook["FunctionName"].startswith("CodeDeployHook_")
    variables = hook["Environment"]["Variables"]
    assert variables["THERMOSTAT_HOOK_CONCURRENCY"] == "4"
    assert variables["THERMOSTAT_HOOK_JITTER"] == "0.1,0.2"
    assert json.loads(variables["THERMOSTAT_HOOK_PAYLOAD"]) == {"path": "/health"}
    assert variables["THERMOSTAT_HOOK_EXPECT"] == "statusCode == 200"
    # CodeDeploy's hook contract: the hook reports on this group, CodeDeploy's role may invoke the hook
    role = hook["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:GetDeployment", "lambda:InvokeFunction"} <= (
        granted
    )
    [invoke] = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert json.dumps(invoke["Resource"]).endswith(':*"]]}')  # the function's versions, never the function itself
    group = json.dumps([s["Resource"] for s in statements if "codedeploy:GetDeployment" in s["Action"]])
    assert "deploymentgroup" in group
    assert "deploymentgroup:*" not in group
    codedeploy_invokes = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        and any(
            s["Action"] == "lambda:InvokeFunction" and json.dumps(s["Resource"]).count(hook_id)
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert codedeploy_invokes


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda tc, s, a, p: tc.Warmable(s, "W", a.version.lambda_, control_plane=p), r"never \$LATEST"),
        (lambda tc, s, a, p: tc.Warmable(s, "W", a, control_plane=p, concurrency=0), "concurrency"),
        (lambda tc, s, a, p: tc.Warmable(s, "W", a, control_plane=p, group="Bad Group"), "group"),
        (
            lambda tc, s, a, p: tc.Warmable(s, "W", a, control_plane=p, concurrency="auto"),
            "reserved_concurrent_executions",
        ),
        (lambda tc, s, a, p: tc.PreTrafficWarmup(s, "G", a, control_plane=p, concurrency=0), "concurrency 0"),
        (lambda tc, s, a, p: tc.PreTrafficWarmup(s, "G", a, control_plane=p, jitter=(0.4, 0.2)), "jitter"),
        (lambda tc, s, a, p: tc.PreTrafficWarmup(s, "G", a, control_plane=p, expect=["statusCode === 200"]), "expect"),
    ],
)
def test_bad_construct_input_is_refused_at_synth_with_what_to_fix(
    k: Cdk, tmp_path: Path, build: Any, message: str
) -> None:
    cdk, lambda_ = k.cdk, k.lambda_
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = cdk.Stack(app, "one", env=k.env())
    plane = k.tc.ThermostatControlPlane(stack, "Thermostat", code=_bundle(k, tmp_path, "plane"))
    fn = lambda_.Function(
        stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="a.h", code=lambda_.Code.from_inline("x = 1")
    )
    with pytest.raises(ValueError, match=message):
        build(k.tc, stack, fn.add_alias("live"), plane)


def test_auto_concurrency_is_the_reserved_concurrency_less_keep_warm_s_headroom(k: Cdk, tmp_path: Path) -> None:
    cdk, lambda_ = k.cdk, k.lambda_
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = cdk.Stack(app, "one", env=k.env())
    plane = k.tc.ThermostatControlPlane(stack, "Thermostat", code=_bundle(k, tmp_path, "plane"))
    fn = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="a.h",
        code=lambda_.Code.from_inline("x = 1"),
        reserved_concurrent_executions=40,
    )
    assert k.tc.Warmable(stack, "W", fn.add_alias("live"), control_plane=plane, concurrency="auto").concurrency == 36


# ---------------------------------------------------------------------------------------------
# the project's offline gate on the synthesized templates


@needs_sam_venv
def test_synthesized_templates_pass_the_offline_gate(synthesized: Synthesized, tmp_path: Path) -> None:
    paths = []
    for name, template in (("control-plane", synthesized.control_plane), ("app", synthesized.app)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(template.to_json(), indent=1))
        paths.append(path)
    done = subprocess.run(
        [str(SAM_PYTHON), str(VALIDATE), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 template(s) passed" in done.stdout


def test_the_gate_reads_the_cdk_s_joined_arns() -> None:
    # Given a CDK-shaped statement: an invoke on every function, the ARN written as Fn::Join, no condition
    every_function = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":lambda:eu-west-1:1:function:*"]]}
    template = {
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": every_function}
                        ]
                    }
                },
            }
        }
    }
    # Then the least-privilege stage sees through the join
    [problem] = validate_module().policy_problems(template)
    assert "on every function without a Condition" in problem


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"organization_id": "org-123"}, "organization_id 'org-123': an AWS Organizations id looks like o-"),
        ({"organization_id": "o-a1b2c3d4e5", "spoke_role_name": "bad role"}, "spoke_role_name 'bad role'"),
    ],
)
def test_a_bad_organization_option_is_refused_at_synth(
    k: Cdk, tmp_path: Path, options: dict[str, str], message: str
) -> None:
    app = k.cdk.App(outdir=str(tmp_path / "out"))
    stack = k.cdk.Stack(app, "one", env=k.env())
    with pytest.raises(ValueError, match=message):
        k.tc.ThermostatControlPlane(stack, "Thermostat", code=_bundle(k, tmp_path, "plane"), **options)


def test_with_an_organization_the_plane_has_both_bus_policies(synthesized: Synthesized, k: Cdk, tmp_path: Path) -> None:
    # Given the fixture's plane, which serves an Organization
    resources = synthesized.control_plane.to_json()["Resources"]
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::EventBusPolicy"]
    assert sorted(p["StatementId"] for p in policies) == [
        "thermostat-organization-cloudtrail",
        "thermostat-organization-deployments",
    ]
    assert all(
        p["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}} for p in policies
    )
    statements = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AssumeSpokeRoles"
    ]
    assert len(statements) == 3  # the registry's, the sweeper's and the keep-warm worker's
    # And a plane without one has no bus policy, and only the keep-warm worker may assume spoke roles
    # (a target in another account needs no Organization; the registry's and the sweeper's grants do)
    app = k.cdk.App(outdir=str(tmp_path / "out"))
    stack = k.cdk.Stack(app, "single", env=k.env())
    k.tc.ThermostatControlPlane(stack, "Thermostat", code=_bundle(k, tmp_path, "plane"))
    single = json.dumps(k.assertions.Template.from_stack(stack).to_json())
    assert "AWS::Events::EventBusPolicy" not in single
    assert single.count('"Sid": "AssumeSpokeRoles"') == 1
