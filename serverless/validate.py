#!/usr/bin/env python3
"""The offline gate for thermostat's SAM templates (``make validate-template``).

Usage::

    .venv-sam/bin/python serverless/validate.py [--translated-dir DIR] [TEMPLATE ...]

With no TEMPLATE it checks ``serverless/template.yaml``, ``serverless/spoke.yaml`` (the role and forwarding
rules of every other account; plain CloudFormation, so "translate" only parses it) and
``serverless/examples/app.yaml``.
Each template goes through four stages, and any failure exits 1 with what failed and where:

1. **translate** with aws-sam-translator, offline: managed-policy ARNs are never looked up (the
   loader returns ``{}``) and local ``CodeUri``/``ContentUri`` paths are swapped for placeholder S3
   URIs, which is what ``sam build`` would have done;
2. **cfn-lint** on the *translated* template, every rule level (errors, warnings, informational).
   Linting the raw SAM template misses errors inside functions (a bad runtime, a wrong ``Ref``,
   ``rate(5 minutez)``): cfn-lint only sees them once SAM has expanded the functions;
3. **checkov** on the translated template;
4. **policies**: thermostat's least-privilege rules, which neither tool enforces: no ``Resource:
   "*"`` on ``lambda:InvokeFunction``, on any write action, or on a read that has a resource type
   (only the reads listed in ``READ_ACTIONS_WITHOUT_RESOURCE_TYPES`` may use it); no Lambda action on every function
   (``function:*``) without a condition; no S3 action on every bucket (``arn:…:s3:::*``, a bucket
   glob of wildcards only); no ``lambda:GetFunction`` (it returns a URL of the code, and needs
   ``lambda:ListTags`` on a tagged function: ``GetFunctionConfiguration`` reads the settings); no
   ``NotAction``/``NotResource`` grants; a ``SourceArn`` on every ``AWS::Lambda::Permission``; and an
   ``sts:ExternalId`` condition on every role that another account may assume (the spoke role).
   Resources are judged with the parameters' defaults substituted (``${DeploymentBucketPattern}``
   is judged as its default), and every role's statements are printed, one line each.

Runs in its own environment (``.venv-sam``): aws-sam-translator pins its own pydantic, which must
not meet the runtime's. Exit codes: 0 all templates pass, 1 a stage failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_TEMPLATES = (HERE / "template.yaml", HERE / "spoke.yaml", HERE / "examples" / "app.yaml")
REGION = "us-east-1"
PLACEHOLDER_BUCKET = "thermostat-offline-validation"

# ---------------------------------------------------------------------------------------------
# Every skip, with its reason. Nothing else is skipped.

#: cfn-lint rules ignored on the translated templates.
CFN_LINT_IGNORED: dict[str, str] = {}

#: cfn-lint rules ignored on templates the AWS CDK synthesized (``thermostat_cdk``): the CDK's own
#: idioms, which no construct of ours can change.
CFN_LINT_IGNORED_FOR_CDK: dict[str, str] = {
    "I1022": "the CDK writes every ARN as Fn::Join with an empty delimiter, never as Fn::Sub",
    "W3005": "the CDK adds DependsOn on a function's role beside the GetAtt, so that the role's policy exists first",
}


def is_cdk_template(template: dict[str, Any]) -> bool:
    """Whether the AWS CDK synthesized ``template`` (its bootstrap-version parameter or rule)."""
    return "BootstrapVersion" in (template.get("Parameters") or {}) or "CheckBootstrapVersion" in (
        template.get("Rules") or {}
    )


#: checkov checks skipped on the translated templates.
CHECKOV_SKIPPED: dict[str, str] = {
    "CKV_AWS_115": (
        "reserved concurrency per function: reserving fails the deploy on accounts whose concurrency "
        "quota is 10 (new accounts) and takes from every other function's pool; the warmer's fan-out "
        "is capped by THERMOSTAT_MAX_IN_FLIGHT instead"
    ),
    "CKV_AWS_116": (
        "Lambda DeadLetterConfig: asynchronous failures go to an on-failure destination "
        "(EventInvokeConfig -> the SQS dead-letter queue, alarmed), which also records the error and "
        "the request; the legacy DLQ would be a second, poorer copy"
    ),
    "CKV_AWS_117": (
        "Lambda inside a VPC: the functions call only AWS APIs; a VPC would need a NAT gateway or "
        "interface endpoints and lengthens cold starts, for no isolation gain"
    ),
    "CKV_AWS_173": (
        "KMS customer key for environment variables: they hold names and numbers, never secrets, and "
        "Lambda already encrypts them at rest"
    ),
    "CKV_AWS_119": (
        "DynamoDB customer-managed KMS key: the table is encrypted at rest with the AWS-managed key "
        "(SSESpecification); it holds bucket names and warm targets, no customer data"
    ),
    "CKV_AWS_158": (
        "KMS key for log groups: CloudWatch Logs encrypts them by default; they hold telemetry and "
        "bucket names, no secrets"
    ),
    "CKV_AWS_26": (
        "SNS topic encryption: CloudWatch alarms cannot publish to a topic encrypted with the "
        "AWS-managed aws/sns key, and alarm notifications carry only alarm names and states"
    ),
    "CKV_AWS_27": (
        "SQS KMS key: the queue uses SSE-SQS (SqsManagedSseEnabled), which checkov does not recognise; "
        "EventBridge cannot deliver to a queue under the AWS-managed aws/sqs key"
    ),
}

#: Write actions that AWS offers only on Resource "*": allowed there, and nothing else is.
WRITE_ACTIONS_WITHOUT_RESOURCE_TYPES: dict[str, str] = {
    "cloudwatch:putmetricdata": "CloudWatch has no resource-level permissions for it (scope: cloudwatch:namespace)",
    "xray:puttracesegments": "X-Ray accepts trace segments only on Resource * (Lambda active tracing needs it)",
    "xray:puttelemetryrecords": "X-Ray accepts telemetry records only on Resource * (Lambda active tracing needs it)",
}

#: Reads that AWS offers only on Resource "*": allowed there; any other read must name its resources.
READ_ACTIONS_WITHOUT_RESOURCE_TYPES: dict[str, str] = {
    "s3:listallmybuckets": "ListBuckets has no resource type (the sweeper's listing)",
    "cloudwatch:getmetricdata": "GetMetricData has no resource type (auto sizing reads ConcurrentExecutions)",
}

_READ_VERBS = ("get", "list", "describe", "head", "batchget", "query", "scan", "search", "lookup", "select")
_INVOKE = re.compile(r"^(\*|lambda:\*|lambda:invoke\*|lambda:invokefunction|lambda:invokefunctionurl)$")
_EVERY_FUNCTION = re.compile(r":function:\*$")
#: A bucket (or its objects) named by wildcards only: every bucket in S3.
_EVERY_BUCKET = re.compile(r":s3:::[*?]+(/.*)?$")
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class StageFailed(Exception):
    """One stage of one template failed; ``problems`` says what, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------
# 1. translate


def _yaml_loader() -> type[Any]:
    import yaml

    class CfnLoader(yaml.SafeLoader):
        """Short forms as long forms: ``!Ref x`` -> ``{"Ref": x}``, ``!Sub s`` -> ``{"Fn::Sub": s}``."""

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        return {f"Fn::{suffix}": value}

    CfnLoader.add_multi_constructor("!", construct)
    return CfnLoader


def load_template(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON CloudFormation/SAM template with its short-form intrinsics."""
    import yaml

    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise StageFailed([f"cannot read {path}: {exc}"]) from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise StageFailed([f"{path} is not a CloudFormation template: no Resources mapping"])
    return document


def _offline_artifacts(template: dict[str, Any]) -> None:
    """Swap local artifact paths for S3 URIs, as `sam build`/`sam package` would (translation needs URIs)."""
    keys = ("CodeUri", "ContentUri", "DefinitionUri")
    sections = [(template.get("Globals") or {}).get(kind) or {} for kind in ("Function", "Api", "HttpApi")]
    sections += [(resource or {}).get("Properties") or {} for resource in template["Resources"].values()]
    for properties in sections:
        for key in keys:
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[key] = f"s3://{PLACEHOLDER_BUCKET}/{value.strip('./') or 'root'}"


class _NoManagedPolicies:
    """The managed-policy loader for offline translation: never calls IAM."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: Path) -> dict[str, Any]:
    """The CloudFormation template that SAM would deploy for ``path``, translated offline."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    from samtranslator.model.exceptions import InvalidDocumentException, InvalidTemplateException
    from samtranslator.translator.transform import transform

    template = load_template(path)
    if "Transform" not in template:
        return template  # plain CloudFormation: nothing to translate
    _offline_artifacts(template)
    try:
        translated: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
        return translated
    except InvalidDocumentException as exc:
        raise StageFailed([cause.message for cause in exc.causes] or [str(exc)]) from exc
    except InvalidTemplateException as exc:
        raise StageFailed([str(exc)]) from exc


# ---------------------------------------------------------------------------------------------
# 2. cfn-lint


def cfn_lint(translated: Path, cdk: bool = False) -> str:
    """Lint the translated template with every rule level (less the CDK's idioms when ``cdk``)."""
    from cfnlint.api import ManualArgs, lint_file

    ignored = {**CFN_LINT_IGNORED, **(CFN_LINT_IGNORED_FOR_CDK if cdk else {})}
    config = ManualArgs(regions=[REGION], include_checks=["I"], ignore_checks=sorted(ignored))
    matches = lint_file(translated, config=config)
    if matches:
        problems = []
        for match in matches:
            where = "/".join(str(part) for part in getattr(match, "path", []) or []) or f"line {match.linenumber}"
            problems.append(f"{match.rule.id} at {where}: {match.message}")
        raise StageFailed(problems)
    return f"no findings at any level; {len(ignored)} rules ignored"


# ---------------------------------------------------------------------------------------------
# 3. checkov


def checkov(translated: list[Path]) -> dict[Path, tuple[int, list[str]]]:
    """Scan translated templates in one checkov run (it costs seconds to start).

    Returns, per file, the number of checks passed and the failures (one line each).
    """
    command = [sys.executable, "-m", "checkov.main"]
    for path in translated:
        command += ["--file", str(path)]
    command += [
        "--framework",
        "cloudformation",
        "--output",
        "json",  # without --quiet: the passed checks are counted too
        "--compact",
        "--skip-download",  # offline: no guidelines or custom policies fetched from a platform
        "--skip-check",
        ",".join(sorted(CHECKOV_SKIPPED)),
    ]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=600)  # noqa: S603 - fixed argv
    try:
        report = json.loads(result.stdout) if result.stdout.strip() else {}
    except json.JSONDecodeError as exc:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise StageFailed(["checkov did not produce a report", *detail]) from exc
    if result.returncode not in (0, 1):
        raise StageFailed([f"checkov exited {result.returncode}", *(result.stderr.strip().splitlines()[-5:])])
    by_name = {path.name: path for path in translated}
    outcome: dict[Path, tuple[int, list[str]]] = {path: (0, []) for path in translated}
    for one in report if isinstance(report, list) else [report]:
        results = one.get("results") or {}
        for kind in ("passed_checks", "failed_checks"):
            for check in results.get(kind) or []:
                found = by_name.get(Path(str(check.get("file_path", ""))).name)
                if found is None:
                    raise StageFailed([f"checkov reported on an unexpected file: {check.get('file_path')}"])
                passed, failures = outcome[found]
                if kind == "passed_checks":
                    outcome[found] = (passed + 1, failures)
                else:
                    failures.append(f"{check.get('check_id')} {check.get('check_name')} [{check.get('resource')}]")
    return outcome


# ---------------------------------------------------------------------------------------------
# 4. least-privilege policies


def _branches(value: Any) -> Iterator[Any]:
    """Both branches of every ``Fn::If``, never ``AWS::NoValue``."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        yield from _branches(when_true)
        yield from _branches(when_false)
    elif isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return
    else:
        yield value


def _as_list(value: Any) -> list[Any]:
    found: list[Any] = []
    for branch in _branches(value):
        items = branch if isinstance(branch, list) else [branch]
        for item in items:
            found.extend(_branches(item))
    return found


def _resource_texts(value: Any, parameters: dict[str, Any]) -> list[str]:
    """The literal text of each resource: strings as they are, ``Sub`` templates, parameter defaults."""
    texts = []
    for item in _as_list(value):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and "Ref" in item:
            default = (parameters.get(item["Ref"]) or {}).get("Default")
            if isinstance(default, str):
                texts.append(default)
        elif isinstance(item, dict) and "Fn::Sub" in item:
            sub = item["Fn::Sub"]
            texts.append(_with_defaults(sub if isinstance(sub, str) else str(sub[0]), parameters))
        elif isinstance(item, dict) and "Fn::Join" in item:
            # The AWS CDK writes ARNs as joins ("arn:", {"Ref": "AWS::Partition"}, ":s3:::x-*"):
            # judged as the text they join to, pseudo-parameters and attributes as ${…}.
            texts.append(str(_evaluate(item, parameters)))
    return texts


def _with_defaults(text: str, parameters: dict[str, Any]) -> str:
    """``${Param}`` replaced by the parameter's default (pseudo-parameters and attributes stay)."""

    def default(match: re.Match[str]) -> str:
        value = (parameters.get(match.group(1)) or {}).get("Default")
        return str(value) if isinstance(value, (str, int)) else match.group(0)

    return _SUB_VARIABLE.sub(default, text)


def _is_read(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return any(verb.startswith(prefix) for prefix in _READ_VERBS) and verb != "*"


def _policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::IAM::Role":
            for policy in _as_list(properties.get("Policies") or []):
                if isinstance(policy, dict):
                    yield f"{logical_id}/{policy.get('PolicyName', '?')}", policy.get("PolicyDocument")
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}:
            yield logical_id, properties.get("PolicyDocument")


def policy_problems(template: dict[str, Any]) -> list[str]:
    """Least-privilege violations in a translated template, one line each (empty when clean)."""
    parameters = template.get("Parameters") or {}
    problems: list[str] = []
    for where, document in _policy_documents(template):
        if not isinstance(document, dict):
            continue
        for index, statement in enumerate(_as_list(document.get("Statement") or [])):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            name = f"{where} statement {statement.get('Sid') or index}"
            problems.extend(
                f"{name}: {key} grants by exclusion; list the actions and resources instead"
                for key in ("NotAction", "NotResource")
                if key in statement
            )
            actions = [str(a).lower() for a in _as_list(statement.get("Action") or []) if isinstance(a, str)]
            resources = _resource_texts(statement.get("Resource"), parameters)
            star = "*" in resources
            for action in actions:
                if star and _INVOKE.match(action):
                    problems.append(f'{name}: {action} on Resource "*"; name the functions (arn:…:function:NAME:*)')
                elif star and not _is_read(action) and action not in WRITE_ACTIONS_WITHOUT_RESOURCE_TYPES:
                    problems.append(f'{name}: write action {action} on Resource "*"; name the resources')
                elif star and _is_read(action) and action not in READ_ACTIONS_WITHOUT_RESOURCE_TYPES:
                    problems.append(
                        f'{name}: {action} on Resource "*", though it has a resource type; name the resources '
                        "(a pattern such as arn:…:s3:::prefix-*)"
                    )
                if (
                    (_INVOKE.match(action) or action.startswith("lambda:"))
                    and "Condition" not in statement
                    and any(_EVERY_FUNCTION.search(text) for text in resources)
                ):
                    problems.append(f"{name}: {action} on every function without a Condition (e.g. a tag)")
                if action.startswith("s3:") or action == "*":
                    problems.extend(
                        f"{name}: {action} on every bucket ({text}); name the buckets with a literal part"
                        for text in resources
                        if _EVERY_BUCKET.search(text)
                    )
                if action in {"lambda:getfunction", "lambda:get*", "lambda:getf*", "lambda:getfunc*"}:
                    problems.append(
                        f"{name}: {action} returns the code's URL and the environment (and needs lambda:ListTags "
                        "on a tagged function); grant lambda:GetFunctionConfiguration"
                    )
    problems.extend(_trust_problems(template))
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::Lambda::Permission" and not (resource.get("Properties") or {}).get(
            "SourceArn"
        ):
            problems.append(f"{logical_id}: AWS::Lambda::Permission without SourceArn (anyone could use it)")
    return problems


def _trust_problems(template: dict[str, Any]) -> list[str]:
    """Roles that an AWS principal (another account) may assume without an ``sts:ExternalId`` condition."""
    problems = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        document = (resource.get("Properties") or {}).get("AssumeRolePolicyDocument") or {}
        for index, statement in enumerate(_as_list(document.get("Statement") or [])):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            accounts = principal.get("AWS") if isinstance(principal, dict) else principal
            if accounts is None:
                continue  # a service principal: the service's own confused-deputy keys apply
            conditions = json.dumps(statement.get("Condition") or {})
            if "sts:ExternalId" not in conditions:
                problems.append(
                    f"{logical_id} trust statement {statement.get('Sid') or index}: another account may assume "
                    "the role without an sts:ExternalId condition"
                )
    return problems


def _evaluate(value: Any, parameters: dict[str, Any], names: dict[str, Any] | None = None) -> Any:
    """Intrinsics evaluated for reading: a parameter is its default, or ``<Name>`` when that is empty.

    ``Sub``, ``Join``, ``Split``, ``Ref`` and ``GetAtt`` (as ``${Resource.Attr}``); pseudo
    parameters stay ``${AWS::…}``; anything else is shown as compact JSON.
    """
    names = names or {}
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_evaluate(item, parameters, names) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument in names:
            return names[argument]
        default = (parameters.get(argument) or {}).get("Default")
        if argument in parameters:
            return str(default) if default not in (None, "") else f"<{argument}>"
        return f"${{{argument}}}"
    if function == "Fn::GetAtt":
        return f"${{{'.'.join(map(str, argument))}}}"
    if function == "Fn::Sub":
        text, local = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        scope = {**names, **{key: _evaluate(item, parameters, names) for key, item in local.items()}}

        def variable(match: re.Match[str]) -> str:
            found = _evaluate({"Ref": match.group(1)}, parameters, scope)
            return str(found)

        return _SUB_VARIABLE.sub(variable, str(text))
    if function == "Fn::Join":
        separator, items = argument
        evaluated = _evaluate(items, parameters, names)
        flat = evaluated if isinstance(evaluated, list) else [evaluated]
        return str(separator).join(str(item) for item in flat)
    if function == "Fn::Split":
        separator, text = argument
        return str(_evaluate(text, parameters, names)).split(str(separator))
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _shown(value: Any, parameters: dict[str, Any]) -> str:
    """A resource or condition as one short text (see :func:`_evaluate`)."""
    evaluated = _evaluate(value, parameters)
    return "; ".join(map(str, evaluated)) if isinstance(evaluated, list) else str(evaluated)


def statements_by_role(template: dict[str, Any]) -> dict[str, list[str]]:
    """Every Allow statement of every role and policy, one line each: ``Sid: actions on resources [if …]``.

    Both branches of an ``Fn::If`` are listed (each deploys under some parameters).
    """
    parameters = template.get("Parameters") or {}
    found: dict[str, list[str]] = {}
    for where, document in _policy_documents(template):
        lines = found.setdefault(where, [])
        if not isinstance(document, dict):
            continue
        for index, statement in enumerate(_as_list(document.get("Statement") or [])):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            actions = ", ".join(str(a) for a in _as_list(statement.get("Action") or []))
            resources = "; ".join(_shown(r, parameters) for r in _as_list(statement.get("Resource")))
            line = f"{statement.get('Sid') or index}: {actions} on {resources}"
            if "Condition" in statement:
                line += f" if {_shown(statement['Condition'], parameters)}"
            lines.append(line)
    return found


def check_policies(template: dict[str, Any]) -> str:
    """Raise with every least-privilege violation of the translated template."""
    problems = policy_problems(template)
    if problems:
        raise StageFailed(problems)
    return "least privilege holds"


# ---------------------------------------------------------------------------------------------


class Outcome:
    """What each stage said about one template: ``None`` not run, ``[]`` passed, else the problems."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.translated: dict[str, Any] | None = None
        self.translated_file: Path | None = None
        self.stages: dict[str, list[str] | None] = dict.fromkeys(STAGES)
        self.details: dict[str, str] = {}
        self.statements: dict[str, list[str]] = {}

    @property
    def ok(self) -> bool:
        return all(problems == [] for problems in self.stages.values())

    def print(self) -> None:
        print(self.path)
        for stage, problems in self.stages.items():
            if problems is None:
                continue
            if not problems:
                print(f"  {stage:<10} ok    {self.details.get(stage, '')}")
                continue
            print(f"  {stage:<10} FAILED")
            for problem in problems:
                print(f"      - {_shorten(problem)}")
        if self.statements:
            print("  statements (parameter defaults substituted; both branches of each condition)")
            for role, lines in self.statements.items():
                print(f"    {role}")
                for line in lines:
                    print(f"      {line}")


STAGES = ("translate", "cfn-lint", "checkov", "policies")


def _shorten(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stage(outcome: Outcome, stage: str, run: Any) -> None:
    try:
        detail = run()
    except StageFailed as exc:
        outcome.stages[stage] = exc.problems
    else:
        outcome.stages[stage] = []
        outcome.details[stage] = detail or ""


def validate(paths: list[Path], translated_dir: Path) -> list[Outcome]:
    """Run every stage on every template; a template that does not translate stops there."""
    outcomes = [Outcome(path) for path in paths]
    for index, outcome in enumerate(outcomes, start=1):

        def _translate(outcome: Outcome = outcome) -> str:
            outcome.translated = translate(outcome.path)
            return f"{len(outcome.translated['Resources'])} resources"

        _stage(outcome, "translate", _translate)
        if outcome.translated is None:
            continue
        target = translated_dir / f"{index:02d}-{outcome.path.stem}.translated.json"
        target.write_text(json.dumps(outcome.translated, indent=1), encoding="utf-8")
        outcome.translated_file = target
        cdk = is_cdk_template(outcome.translated)
        _stage(outcome, "cfn-lint", lambda target=target, cdk=cdk: cfn_lint(target, cdk))
        _stage(outcome, "policies", lambda outcome=outcome: check_policies(outcome.translated or {}))
        outcome.statements = statements_by_role(outcome.translated)

    scanned = {outcome.translated_file: outcome for outcome in outcomes if outcome.translated_file is not None}
    if scanned:
        try:
            results = checkov(list(scanned))
        except StageFailed as exc:
            for outcome in scanned.values():
                outcome.stages["checkov"] = exc.problems
        else:
            for path, (passed, failures) in results.items():
                scanned[path].stages["checkov"] = failures
                scanned[path].details["checkov"] = (
                    f"{passed} checks passed; {len(CHECKOV_SKIPPED)} skipped (reasons in validate.py)"
                )
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """Validate the given templates (default: the application and the example); 0 when all pass."""
    parser = argparse.ArgumentParser(description="Offline gate: SAM translate, cfn-lint, checkov, least privilege.")
    parser.add_argument("templates", nargs="*", type=Path, help="templates to check (default: template.yaml, app.yaml)")
    parser.add_argument("--translated-dir", type=Path, help="keep the translated templates in this directory")
    args = parser.parse_args(argv)
    templates = args.templates or list(DEFAULT_TEMPLATES)
    missing = [str(path) for path in templates if not path.is_file()]
    if missing:
        print(f"validate.py: no such template: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="thermostat-validate-") as scratch:
        out = args.translated_dir or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        outcomes = validate(templates, out)
    for outcome in outcomes:
        outcome.print()
    failed = [str(outcome.path) for outcome in outcomes if not outcome.ok]
    if failed:
        print(f"validate-template: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"validate-template: {len(templates)} template(s) passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
