"""The SAM application as a product: handlers import, rules match their events, contracts agree.

These tests read ``serverless/template.yaml`` (and the example ``app.yaml``) with the same
short-form-aware loader as ``serverless/validate.py``. Event patterns are checked with moto's
EventBridge pattern matcher, the implementation behind its ``TestEventPattern``, never by
comparing strings.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from domain.schedules import parse_schedule
from emulator.target_input import compile_target_input
from emulator.template import load_template as load_local_template
from tests.validate_script import validate_module

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVERLESS = ROOT / "serverless"
EVENTS = SERVERLESS / "events"
TEMPLATE = SERVERLESS / "template.yaml"
EXAMPLE = SERVERLESS / "examples" / "app.yaml"


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = validate_module().load_template(path)
    return document


@cache
def _template_text() -> str:
    return json.dumps(_load(TEMPLATE))


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_template_text())
    return loaded


def _event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def _functions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in document["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _properties(document: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with the Globals it inherits (SAM merges maps, replaces the rest)."""
    globals_ = copy.deepcopy(document.get("Globals", {}).get("Function", {}))
    own = document["Resources"][logical_id]["Properties"]
    merged = {**globals_, **own}
    variables = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **own.get("Environment", {}).get("Variables", {}),
    }
    merged["Environment"] = {"Variables": variables}
    return merged


def _rules(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every EventBridge event source of every function, as ``Function.Event`` -> properties."""
    found = {}
    for logical_id, resource in _functions(document).items():
        for event_id, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] == "SQS":
                continue  # the keep-warm worker's shard queue: not an EventBridge rule
            found[f"{logical_id}.{event_id}"] = {"Type": event["Type"], **event["Properties"]}
    return found


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


# --------------------------------------------------------------------------- handlers


def _handler_paths() -> list[tuple[str, str]]:
    document = template()
    return [(logical_id, _properties(document, logical_id)["Handler"]) for logical_id in _functions(document)]


@pytest.mark.parametrize(("logical_id", "handler"), _handler_paths(), ids=str)
def test_every_handler_in_the_template_imports_and_is_callable(logical_id: str, handler: str) -> None:
    # Given a function of the template and its Handler "package.module.function"
    module_name, _, function_name = handler.rpartition(".")

    # When its module is imported (as Lambda does, from the bundle root)
    module = importlib.import_module(module_name)

    # Then the entry point exists and can be called with (event, context)
    entry = getattr(module, function_name, None)
    assert callable(entry), f"{logical_id}: {handler} is not a callable in {module.__file__}"


def test_the_template_declares_a_function_for_every_handler_of_the_contract() -> None:
    # Given the entry points ARCHITECTURE.md names
    contract = {
        "handlers.deployment_events.lambda_handler",
        "handlers.keep_warm.lambda_handler",
        "handlers.keep_warm_worker.lambda_handler",  # a sharded round's shards (SQS)
        "handlers.pre_traffic.lambda_handler",
        "handlers.sweeper.lambda_handler",
    }

    # When the template's handlers are listed
    declared = {handler for _, handler in _handler_paths()}

    # Then each has exactly one function
    assert declared == contract


@pytest.mark.parametrize("logical_id", sorted(_functions(_load(EXAMPLE))))
def test_every_example_target_imports_from_its_code_uri(logical_id: str) -> None:
    # Given a function of the example app and the directory its code comes from
    document = _load(EXAMPLE)
    properties = _properties(document, logical_id)
    code_dir = EXAMPLE.parent / properties["CodeUri"]
    module_name, _, function_name = properties["Handler"].rpartition(".")

    # When the module is loaded from that directory (the runtime module is on the path, as the layer)
    spec = importlib.util.spec_from_file_location(f"example_{module_name}", code_dir / f"{module_name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    # Then its entry point is a warmable handler
    entry = getattr(module, function_name)
    assert callable(entry)
    assert hasattr(entry, "thermostat"), f"{properties['Handler']} is not wrapped with @warmable"


# --------------------------------------------------------------------------- event patterns

#: Which rule each envelope event must reach; every other rule must reject it.
ROUTES = {
    "deployment-requested.json": {"DeploymentEventsFunction.DeploymentRequested"},
    "cloudtrail-create-bucket.json": {"DeploymentEventsFunction.BucketCreated"},
    "cloudtrail-create-bucket-failed.json": set(),
    # The shape of EventBridge's "AWS API Call via CloudTrail" envelope
    # (https://docs.aws.amazon.com/eventbridge/latest/ref/events-structure.html) around a Lambda
    # CloudTrail record; Lambda's event names carry the API version
    # (https://docs.aws.amazon.com/lambda/latest/dg/logging-using-cloudtrail.html).
    "cloudtrail-put-function-concurrency.json": {"KeepWarmFunction.ConfigChanges"},
    "deployment-bucket-resolved.json": set(),
    "sweeper-schedule.json": set(),
}


def _pattern_rules() -> dict[str, dict[str, Any]]:
    return {name: rule for name, rule in _rules(template()).items() if rule["Type"] == "EventBridgeRule"}


def test_every_pattern_rule_has_a_sample_event_that_it_matches() -> None:
    # Given the rules with an event pattern
    rules = _pattern_rules()

    # When the sample events are routed through every pattern
    reached = {name for targets in ROUTES.values() for name in targets}

    # Then every rule is reached by at least one sample
    assert set(rules) == reached


@pytest.mark.parametrize("sample", sorted(ROUTES))
def test_each_sample_event_reaches_exactly_its_rule(sample: str) -> None:
    # Given a sample EventBridge event
    event = _event(sample)

    # When every rule's pattern is evaluated against it
    matched = {name for name, rule in _pattern_rules().items() if _matches(rule["Pattern"], event)}

    # Then it reaches its own rule(s) and no other
    assert matched == ROUTES[sample]


def _near_misses() -> list[tuple[str, str, dict[str, Any]]]:
    requested = _event("deployment-requested.json")
    created = _event("cloudtrail-create-bucket.json")
    other_source = {**requested, "source": "thermostat.deployment"}
    other_type = {**requested, "detail-type": "Deployment requested"}
    s3_other_call = copy.deepcopy(created)
    s3_other_call["detail"]["eventName"] = "DeleteBucket"
    forged = {**created, "source": "thermostat.deployments"}
    empty_error = copy.deepcopy(created)
    empty_error["detail"]["errorCode"] = ""
    changed = _event("cloudtrail-put-function-concurrency.json")
    lambda_read = copy.deepcopy(changed)
    lambda_read["detail"]["eventName"] = "GetFunctionConcurrency20171031"
    lambda_failed = copy.deepcopy(changed)
    lambda_failed["detail"]["errorCode"] = "ResourceConflictException"
    return [
        ("KeepWarmFunction.ConfigChanges", "a read of the concurrency", lambda_read),
        ("KeepWarmFunction.ConfigChanges", "a failed change", lambda_failed),
        ("KeepWarmFunction.ConfigChanges", "another service", {**changed, "source": "aws.s3"}),
        ("DeploymentEventsFunction.DeploymentRequested", "a different source", other_source),
        ("DeploymentEventsFunction.DeploymentRequested", "a different detail-type", other_type),
        ("DeploymentEventsFunction.DeploymentRequested", "our own answer", _event("deployment-bucket-resolved.json")),
        (
            "DeploymentEventsFunction.BucketCreated",
            "a failed CreateBucket",
            _event("cloudtrail-create-bucket-failed.json"),
        ),
        ("DeploymentEventsFunction.BucketCreated", "an errorCode even if empty", empty_error),
        ("DeploymentEventsFunction.BucketCreated", "another S3 call", s3_other_call),
        ("DeploymentEventsFunction.BucketCreated", "a different source", forged),
    ]


@pytest.mark.parametrize(
    ("rule", "why", "event"), _near_misses(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_rules_reject_near_misses(rule: str, why: str, event: dict[str, Any]) -> None:
    # Given a rule and an event that almost matches it
    pattern = _pattern_rules()[rule]["Pattern"]

    # When the pattern is evaluated
    matched = _matches(pattern, event)

    # Then it is rejected
    assert not matched, f"{rule} accepted {why}"


def test_the_matcher_is_real_and_the_samples_are_what_the_near_misses_vary() -> None:
    # Given the two pattern rules and their own samples (sanity check of the near-miss test:
    # each near miss differs from a matching event in one field only)
    rules = _pattern_rules()

    # When their own samples are evaluated
    requested = _matches(
        rules["DeploymentEventsFunction.DeploymentRequested"]["Pattern"], _event("deployment-requested.json")
    )
    created = _matches(
        rules["DeploymentEventsFunction.BucketCreated"]["Pattern"], _event("cloudtrail-create-bucket.json")
    )

    # Then they match, and the matcher honours `exists: false` rather than ignoring it
    assert requested
    assert created
    assert not _matches({"detail": {"errorCode": [{"exists": False}]}}, {"detail": {"errorCode": "x"}})


# --------------------------------------------------------------------------- schedules


def _resolve_default(document: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return document["Parameters"][value["Ref"]]["Default"]
    return value


def _schedules() -> dict[str, dict[str, Any]]:
    return {name: rule for name, rule in _rules(template()).items() if rule["Type"] == "Schedule"}


@pytest.mark.parametrize("name", sorted(_schedules()))
def test_every_schedule_has_a_valid_default_expression(name: str) -> None:
    # Given a schedule of the template
    expression = _resolve_default(template(), _schedules()[name]["Schedule"])

    # When its default expression is read by AWS's grammar (domain.schedules)
    schedule = parse_schedule(expression)

    # Then it is an EventBridge rate or cron expression that fires
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_after(moment, moment) > moment, f"{name}: {expression!r}"


def test_every_rule_target_input_of_the_template_compiles() -> None:
    # Given the rules the local stack loads from the template, When their target inputs are compiled
    rules = load_local_template(TEMPLATE, {"Table": "t"}).rules()
    # Then none is refused (compile_target_input raises on a bad Input/InputPath/InputTransformer)
    for rule in rules:
        compile_target_input(
            rule.name, input_text=rule.input, input_path=rule.input_path, input_transformer=rule.input_transformer
        )
    assert rules


def test_each_keep_warm_group_has_its_own_schedule_and_sample_input() -> None:
    # Given the keep-warm schedules
    inputs = {
        name: json.loads(rule["Input"]) for name, rule in _schedules().items() if name.startswith("KeepWarmFunction.")
    }

    # When their constant inputs are compared with the sample events
    samples = [_event("keep-warm-schedule.json"), _event("keep-warm-office-hours.json")]

    # Then one schedule per group, each input is a sample, and the default group's expression is a parameter
    groups = [value["group"] for value in inputs.values()]
    assert sorted(groups) == ["default", "office-hours"]
    assert all(value in samples for value in inputs.values())
    default = next(rule for rule in _schedules().values() if rule.get("Input") == '{"group": "default"}')
    assert default["Schedule"] == {"Ref": "KeepWarmSchedule"}


def test_the_sweeper_schedule_sends_the_plain_scheduled_event() -> None:
    # Given the sweeper's schedule
    rule = _schedules()["SweeperFunction.SweepSchedule"]

    # When it fires without constant input, the function gets the scheduled event itself
    sample = _event("sweeper-schedule.json")

    # Then there is no Input and the sample is that envelope
    assert "Input" not in rule
    assert sample["detail-type"] == "Scheduled Event"
    assert sample["source"] == "aws.events"


# --------------------------------------------------------------------------- the protocol samples


def test_the_warm_ping_samples_are_protocol_requests_and_the_hook_event_is_not() -> None:
    from thermostat_runtime import detect_ping

    # Given the ping samples and the CodeDeploy hook event
    warm, probe, hook = _event("warm-ping.json"), _event("warm-probe.json"), _event("codedeploy-hook.json")

    # When the runtime module classifies them
    warm_ping, probe_ping, hook_ping = detect_ping(warm), detect_ping(probe), detect_ping(hook)

    # Then the pings are valid thermostat requests and the hook event goes to business code
    assert warm_ping is not None
    assert (warm_ping.peer, warm_ping.action, warm_ping.error) == ("thermostat", "warm", None)
    assert probe_ping is not None
    assert (probe_ping.action, probe_ping.error) == ("probe", None)
    assert hook_ping is None
    assert set(hook) == {"DeploymentId", "LifecycleEventHookExecutionId"}


# --------------------------------------------------------------------------- contracts with the code


def test_the_table_matches_the_key_design_of_infra_table() -> None:
    from infra.table import TableModel

    # Given the table resource and the pynamodb base model
    table = template()["Resources"]["Table"]
    properties = table["Properties"]

    # When their keys are compared
    keys = {key["KeyType"]: key["AttributeName"] for key in properties["KeySchema"]}

    # Then hash/range/TTL agree, and the table is on-demand, recoverable, encrypted and kept
    assert keys == {"HASH": TableModel.pk.attr_name, "RANGE": TableModel.sk.attr_name}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TableModel.ttl.attr_name, "Enabled": True}
    assert {item["AttributeType"] for item in properties["AttributeDefinitions"]} == {"S"}
    assert properties["BillingMode"] == TableModel.Meta.billing_mode
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is True
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def _environment_with_defaults(logical_id: str) -> dict[str, str]:
    document = template()
    variables = _properties(document, logical_id)["Environment"]["Variables"]
    resolved = {}
    for name, value in variables.items():
        if value == {"Ref": "Table"}:
            resolved[name] = "thermostat-Table-ABC"
        elif value == {"Ref": "KeepWarmShardQueue"}:  # a queue's Ref is its URL
            resolved[name] = "https://sqs.us-east-1.amazonaws.com/123456789012/thermostat-KeepWarmShardQueue-ABC"
        else:
            resolved[name] = str(_resolve_default(document, value))
    return resolved


@pytest.mark.parametrize("logical_id", sorted(_functions(_load(TEMPLATE))))
def test_every_function_environment_is_valid_settings_with_the_parameter_defaults(logical_id: str) -> None:
    from infra.settings import Settings, load_settings

    # Given a function's environment with every parameter at its default
    environment = _environment_with_defaults(logical_id)

    # When the settings are loaded from it
    settings = load_settings(environment)

    # Then every THERMOSTAT_/POWERTOOLS_ variable is one the code reads, and all are valid
    known = {field.alias for field in Settings.model_fields.values()}
    assert {name for name in environment if name.startswith(("THERMOSTAT_", "POWERTOOLS_"))} <= known
    assert settings.require_table() == "thermostat-Table-ABC"
    assert settings.metrics_namespace == "Thermostat"


def test_the_hook_is_named_for_the_codedeploy_role_and_not_deployed_through_itself() -> None:
    # Given the hook function
    properties = template()["Resources"]["PreTrafficHookFunction"]["Properties"]

    # When its name and deployment preference are read
    name = properties["FunctionName"]["Fn::Sub"]

    # Then the CodeDeploy role may invoke it, and it has no gradual deployment of its own
    assert name.startswith("CodeDeployHook_")
    assert properties["DeploymentPreference"] == {"Enabled": False}


def test_the_layer_is_the_runtime_module_and_is_exported() -> None:
    document = template()

    # Given the layer resource and the outputs
    layer = document["Resources"]["RuntimeLayer"]
    output = document["Outputs"]["RuntimeLayerArn"]

    # When they are read
    content = SERVERLESS / layer["Properties"]["ContentUri"] / "python" / "thermostat_runtime" / "__init__.py"

    # Then the layer ships python/thermostat_runtime, every function uses it, and its ARN is exported
    assert content.is_file()
    assert document["Globals"]["Function"]["Layers"] == [{"Ref": "RuntimeLayer"}]
    assert output["Value"] == {"Ref": "RuntimeLayer"}
    assert "Export" in output


def test_every_function_runs_on_arm64_with_the_runtime_parameter() -> None:
    document = template()

    # Given the runtime parameter and the function globals
    runtime = document["Parameters"]["PythonRuntime"]
    function_globals = document["Globals"]["Function"]

    # When they are read
    overrides = [
        logical_id
        for logical_id, resource in _functions(document).items()
        if {"Runtime", "Architectures"} & set(resource["Properties"])
    ]

    # Then python3.12 is the default, arm64 everywhere, and no function overrides either
    assert runtime["Default"] == "python3.12"
    assert function_globals["Runtime"] == {"Ref": "PythonRuntime"}
    assert function_globals["Architectures"] == ["arm64"]
    assert overrides == []


# --------------------------------------------------------------------------- alarms and dashboard


def _sub(value: Any, parameters: dict[str, str]) -> str:
    """A ``Fn::Sub`` string with the given variables substituted (no other variable may remain)."""
    text: str = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda match: parameters[match.group(1)], text)


def _alarm_queries(namespace: str) -> dict[str, str]:
    return {
        logical_id: _sub(resource["Properties"]["Metrics"][0]["Expression"], {"MetricsNamespace": namespace})
        for logical_id, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" in resource["Properties"]
    }


def test_alarms_watch_the_metrics_the_functions_emit() -> None:
    # Given the alarms' Metrics Insights queries, with the namespace parameter at its default
    namespace = template()["Parameters"]["MetricsNamespace"]["Default"]

    # When they are read
    text = " | ".join(_alarm_queries(namespace).values())

    # Then Failed hook verdicts, warm errors and throttles, and stray buckets are alarmed
    assert namespace == "Thermostat"
    assert "SUM(HookVerdict) FROM \"Thermostat\" WHERE status = 'Failed'" in text
    assert 'SUM(WarmErrors) FROM "Thermostat"' in text
    assert 'SUM(WarmThrottles) FROM "Thermostat"' in text
    assert 'MAX(StrayBuckets) FROM "Thermostat"' in text
    # And the worst function's cold-start rate among real requests (the runtime's ColdStart is 1 or 0, pings apart)
    assert 'AVG(ColdStart) FROM SCHEMA("Thermostat", FunctionName, InitType) GROUP BY FunctionName' in text


def test_dashboard_and_alarms_read_the_namespace_the_functions_write() -> None:
    from infra.settings import load_settings

    document = template()
    namespace = "Acme/thermostat-prod"

    # Given a stack deployed with a namespace of its own (the parameter's pattern admits it)
    assert re.fullmatch(document["Parameters"]["MetricsNamespace"]["AllowedPattern"], namespace)
    variables = document["Globals"]["Function"]["Environment"]["Variables"]

    # When the functions' settings, the alarms' queries and the dashboard's searches are rendered with it
    environment = (
        {"THERMOSTAT_METRICS_NAMESPACE": namespace}
        if variables["THERMOSTAT_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
        else {}
    )
    settings = load_settings(environment)
    queries = _alarm_queries(namespace)
    body = document["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    rendered = _sub(
        body,
        {
            "MetricsNamespace": namespace,
            "BucketQuota": "10000",
            "AWS::Region": "us-east-1",
            "DeadLetterQueue.QueueName": "dlq",
        },
    )
    dashboard = json.loads(rendered)
    searched = {
        match
        for widget in dashboard["widgets"]
        for row in widget["properties"]["metrics"]
        for item in row
        if isinstance(item, dict)
        for match in re.findall(r"SEARCH\('\{\"([^\"]+)\"", item["expression"])
    }
    queried = {match for query in queries.values() for match in re.findall(r'FROM (?:SCHEMA\()?"([^"]+)"', query)}

    # Then all of them agree on the one namespace, and Powertools' own variable is left alone
    assert settings.metrics_namespace == namespace
    assert searched == {namespace}
    assert queried == {namespace}
    assert len(queries) == 5
    assert all(
        "POWERTOOLS_METRICS_NAMESPACE" not in _properties(document, logical_id)["Environment"]["Variables"]
        for logical_id in _functions(document)
    )
    assert document["Outputs"]["MetricsNamespace"]["Value"] == {"Ref": "MetricsNamespace"}


def test_the_example_app_writes_into_the_namespace_of_the_thermostat_stack() -> None:
    # Given the example application and thermostat's template
    example = _load(EXAMPLE)
    variables = example["Globals"]["Function"]["Environment"]["Variables"]

    # When the example's namespace parameter is read
    parameter = example["Parameters"]["ThermostatMetricsNamespace"]

    # Then its functions' telemetry goes to thermostat's namespace, not to Powertools'
    assert variables["THERMOSTAT_METRICS_NAMESPACE"] == {"Ref": "ThermostatMetricsNamespace"}
    assert parameter["Default"] == template()["Parameters"]["MetricsNamespace"]["Default"]
    assert parameter["AllowedPattern"] == template()["Parameters"]["MetricsNamespace"]["AllowedPattern"]
    assert "POWERTOOLS_METRICS_NAMESPACE" not in variables


def test_the_dead_letter_queue_receives_every_failure_and_is_alarmed() -> None:
    document = template()

    # Given the rules, the async invoke config, and the queue's alarm
    rules = _rules(document)
    on_failure = document["Globals"]["Function"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    alarm = document["Resources"]["DeadLetterQueueAlarm"]["Properties"]
    allowed = document["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]

    # When they are read
    sources = {item["Fn::GetAtt"][0] for item in allowed["Condition"]["ArnEquals"]["aws:SourceArn"]}

    # Then every rule dead-letters to the queue, which only those rules may write to, and which alarms
    assert all(
        rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}} for rule in rules.values()
    )
    assert sources == {name.replace(".", "") for name in rules}
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_the_dashboard_body_is_json_and_shows_each_view() -> None:
    # Given the dashboard body, a Fn::Sub template
    body = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    # When its ${…} variables are substituted (numbers where a number is expected)
    rendered = re.sub(r"\$\{BucketQuota\}", "10000", body)
    rendered = re.sub(r"\$\{[^}]+\}", "x", rendered)
    dashboard = json.loads(rendered)

    # Then it is valid JSON with the four views people look at
    titles = {widget["properties"]["title"] for widget in dashboard["widgets"]}
    assert {"Cold starts by init type", "Warm environments per target", "Hook verdicts", "Buckets vs quota"} <= titles
    assert '{\\"${MetricsNamespace}\\",InitType} MetricName=\\"ColdStart\\"' in body
    assert "WarmEnvironments" in body
    assert "HookVerdict" in body
    assert "BucketCount" in body


def test_lambda_permissions_come_only_from_rules_sam_scopes_with_a_source_arn() -> None:
    # Given the raw template (SAM generates the permissions of event sources, with SourceArn)
    resources = template()["Resources"]

    # When explicit permissions are looked for
    explicit = [
        logical_id for logical_id, resource in resources.items() if resource["Type"] == "AWS::Lambda::Permission"
    ]

    # Then there are none to forget a SourceArn on (the translated template is checked by validate.py)
    assert explicit == []


def test_the_fleet_dashboard_reads_both_log_formats_of_the_groups_it_is_given() -> None:
    # Given the fleet dashboard: a Fn::Sub of a body and its Sources variable
    document = template()
    body, variables = document["Resources"]["FleetDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    sources = variables["Sources"]["Fn::If"]

    # When the body is rendered with two of the fleet's groups
    rendered = body.replace("${Sources}", "/aws/lambda/orders' | SOURCE '/aws/lambda/billing")
    rendered = re.sub(r"\$\{[^}]+\}", "x", rendered)
    dashboard = json.loads(rendered)
    queries = [widget["properties"]["query"] for widget in dashboard["widgets"]]

    # Then each Logs Insights query reads both groups and both formats' records
    assert all(query.startswith("SOURCE '/aws/lambda/orders' | SOURCE '/aws/lambda/billing' |") for query in queries)
    assert all('@type = "REPORT" or type = "platform.report"' in query for query in queries)
    assert all("record.metrics.initDurationMs" in query and "@initDuration" in query for query in queries)
    assert all("Restore Duration" in query and "record.metrics.restoreDurationMs" in query for query in queries)
    # And the groups come from the parameter, else thermostat's own four functions' groups
    assert sources[0] == "HasFleetLogGroups"
    assert sources[1] == {"Fn::Join": ["' | SOURCE '", {"Fn::Split": [",", {"Ref": "FleetLogGroups"}]}]}
    own = {item["Ref"] for item in sources[2]["Fn::Join"][1]}
    assert own == {"DeploymentEventsLogGroup", "SweeperLogGroup", "KeepWarmLogGroup", "PreTrafficHookLogGroup"}
    assert all(document["Resources"][name]["Type"] == "AWS::Logs::LogGroup" for name in own)
