"""``thermostat import serverless|zappa|lambda-warmer``: a peer warmer's configuration as keep-warm targets.

    thermostat import serverless serverless.yml [--stage S] [--qualifier Q] [--group G] [--apply]
    thermostat import zappa zappa_settings.json --stage S [--project P] [--region R] [--qualifier Q]
                            [--group G] [--apply]
    thermostat import lambda-warmer (FILE --function F | --rule NAME [--event-bus B]) [--qualifier Q]
                                    [--group G] [--apply]

A dry run by default: prints the targets the configuration becomes (and whether each is new,
replaces a stored one, or is already stored), the schedules the peer ran, and what does not carry
over, with the reason. ``--apply`` writes the targets, only when every one of them is valid.
The mapping itself is ``domain/adopt.py``; this module reads the files and the rule.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from domain.adopt import ImportPlan, RuleInput, from_lambda_warmer, from_serverless_warmup, from_zappa
from domain.errors import InvalidInput, NotFound
from domain.targets import Target, TargetProblem
from handlers import wiring
from handlers.cli._args import command_group
from handlers.cli._output import emit, print_table

COLUMNS = ("action", "group", "function", "qualifier", "concurrency", "payload", "enabled")


def register(commands: Any) -> None:
    """Add the ``import`` command group."""
    actions = command_group(commands, "import", "import a peer warmer's configuration as keep-warm targets")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--qualifier", help="version or alias to warm where the peer warmed $LATEST")
        parser.add_argument("--group", help="put every target in this group (default: derived, see README)")
        parser.add_argument("--apply", action="store_true", help="write the targets (default: dry run)")

    serverless = actions.add_parser("serverless", help="serverless-plugin-warmup's custom.warmup in serverless.yml")
    serverless.add_argument("file", metavar="FILE", type=Path, help="serverless.yml")
    serverless.add_argument("--stage", help="the stage to import for (default: provider.stage, else dev)")
    common(serverless)
    serverless.set_defaults(run=run_serverless)

    zappa = actions.add_parser("zappa", help="a stage's keep_warm in zappa_settings.json")
    zappa.add_argument("file", metavar="FILE", type=Path, help="zappa_settings.json")
    zappa.add_argument("--stage", required=True, help="the Zappa stage")
    zappa.add_argument("--project", help="project name (default: the stage's project_name, else Zappa's default)")
    zappa.add_argument("--region", help="AWS region (default: the stage's aws_region, else AWS_REGION)")
    common(zappa)
    zappa.set_defaults(run=run_zappa)

    warmer = actions.add_parser("lambda-warmer", help="lambda-warmer rule inputs, from a JSON file or a rule")
    source = warmer.add_mutually_exclusive_group(required=True)
    source.add_argument("file", metavar="FILE", type=Path, nargs="?", help="a JSON file holding the rule's input")
    source.add_argument("--rule", help="an EventBridge rule whose targets carry the input")
    warmer.add_argument("--function", help="with FILE: the function the rule invokes (name or ARN)")
    warmer.add_argument("--event-bus", default="default", help="with --rule: the rule's bus (default: default)")
    warmer.add_argument("--schedule", help="with FILE: the rule's schedule expression, to report")
    common(warmer)
    warmer.set_defaults(run=run_lambda_warmer)


# ---------------------------------------------------------------------------------------------
# reading the files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc}") from exc


class _Tagged(dict[str, Any]):
    """A value under a tag the importer does not evaluate (``!Ref X`` -> ``{"Ref": "X"}``)."""


def _yaml_loader() -> type[Any]:
    import yaml

    class ServerlessLoader(yaml.SafeLoader):
        """SafeLoader that keeps any ``!Tag`` (CloudFormation's short forms, ``!Sub`` …) as data."""

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        name = suffix if suffix == "Ref" else f"Fn::{suffix}"
        return _Tagged({name: value})

    ServerlessLoader.add_multi_constructor("!", construct)
    return ServerlessLoader


def load_serverless_yml(path: Path) -> dict[str, Any]:
    """Parse a serverless.yml safely: no Python objects, CloudFormation tags kept as data."""
    import yaml

    text = _read(path)
    try:
        document = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{path}: expected a mapping at the top level (service, provider, functions, custom)")
    return document


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


# ---------------------------------------------------------------------------------------------
# the commands


def run_serverless(args: argparse.Namespace) -> int:
    """Import serverless-plugin-warmup's warmers."""
    document = load_serverless_yml(args.file)
    plan = from_serverless_warmup(document, stage=args.stage, qualifier=args.qualifier, group=args.group)
    return _finish(args, plan, str(args.file))


def run_zappa(args: argparse.Namespace) -> int:
    """Import a Zappa stage's keep-warm."""
    import slugify

    from handlers.cli.zappa import _effective, _load, default_project
    from infra.accounts import current_account

    _, document = _load(args.file)
    settings = _effective(document, args.stage, args.file)
    project = args.project or settings.get("project_name") or default_project(args.file.parent)
    if not isinstance(project, str):
        raise InvalidInput(f"{args.file}: project_name of stage {args.stage!r} is not a string")
    lambda_name = slugify.slugify(f"{project}-{args.stage}")  # Zappa's own: slugify(project + "-" + stage)
    region = args.region or settings.get("aws_region") or wiring.settings().region
    plan = from_zappa(
        settings,
        stage=args.stage,
        lambda_name=lambda_name,
        region=str(region),
        account=current_account(),
        qualifier=args.qualifier,
        group=args.group,
    )
    return _finish(args, plan, str(args.file))


def run_lambda_warmer(args: argparse.Namespace) -> int:
    """Import lambda-warmer rule inputs."""
    inputs: list[RuleInput] = []
    if args.rule is not None:
        if args.function or args.schedule:
            raise InvalidInput("--function and --schedule go with FILE; --rule reads both from the rule")
        rule, targets = wiring.rule_reader().rule_inputs(args.rule, args.event_bus)
        lambda_targets = [t for t in targets if ":lambda:" in str(t.get("Arn", ""))]
        if not lambda_targets:
            raise NotFound(f"rule {args.rule!r} has no Lambda target: nothing lambda-warmer warms")
        for target in lambda_targets:
            source = f"rule {args.rule} target {target.get('Id')}"
            if "Input" not in target:
                raise InvalidInput(
                    f'{source}: has no constant input (Input); lambda-warmer rules pass {{"warmer": true, …}}'
                )
            try:
                event = json.loads(target["Input"])
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{source}: its Input is not JSON: {exc.msg}") from exc
            inputs.append(
                RuleInput(
                    function=str(target["Arn"]),
                    event=event,
                    source=source,
                    schedule=rule.get("ScheduleExpression"),
                    enabled=rule.get("State", "ENABLED") == "ENABLED",
                    schedule_source=f"rule {args.rule}",
                )
            )
        origin = f"rule {args.rule}"
    else:
        inputs.append(
            RuleInput(
                function=args.function, event=_load_json(args.file), source=str(args.file), schedule=args.schedule
            )
        )
        origin = str(args.file)
    plan = from_lambda_warmer(inputs, qualifier=args.qualifier, group=args.group)
    return _finish(args, plan, origin)


def _action(target: Target, stored: dict[str, Target | TargetProblem]) -> str:
    earlier = stored.get(target.key)
    if earlier is None:
        return "create"
    return "unchanged" if earlier == target else "replace"


def _finish(args: argparse.Namespace, plan: ImportPlan, origin: str) -> int:
    """Show the plan; with ``--apply`` write every target (they were all validated first)."""
    store = wiring.target_store()
    stored = {f"{item.group}#{item.function}#{item.qualifier}": item for item in store.load(None)}
    actions = [(target, _action(target, stored)) for target in plan.targets]
    if args.apply:
        for target, action in actions:
            if action != "unchanged":
                store.put(target)
    rows = [
        {
            **target.to_record(),
            "action": action if args.apply else f"would {action}" if action != "unchanged" else action,
            "payload": json.dumps(target.payload, separators=(",", ":")) if target.payload is not None else None,
        }
        for target, action in actions
    ]
    schedules = [
        {
            "group": s.group,
            "expression": s.expression,
            "enabled": s.enabled,
            "source": s.source,
            "stack_schedule": s.stack_schedule,
        }
        for s in plan.schedules
    ]
    skipped = [{"function": s.function, "reason": s.reason} for s in plan.skipped]
    dropped = [{"source": n.source, "reason": n.reason} for n in plan.not_carried_over]
    document = {
        "peer": plan.peer,
        "source": origin,
        "applied": bool(args.apply),
        "targets": [{**target.to_record(), "action": action} for target, action in actions],
        "schedules": schedules,
        "skipped": skipped,
        "not_carried_over": dropped,
    }
    if getattr(args, "json", False):
        emit(args, document)
        return 0
    title = f"{plan.peer} ({origin}): {len(rows)} target(s)" + ("" if args.apply else ", dry run (--apply writes)")
    print_table(rows, columns=COLUMNS, title=title)
    if plan.schedules:
        schedule_rows = [
            {
                **row,
                "thermostat": "the stack runs it"
                if row["stack_schedule"]
                else f'add a rule with input {{"group": "{row["group"]}"}} to the keep-warm function',
            }
            for row in schedules
        ]
        print()
        print_table(
            schedule_rows, columns=("group", "expression", "enabled", "source", "thermostat"), title="schedules"
        )
    if plan.skipped:
        print()
        print_table(skipped, columns=("function", "reason"), title="not warmed by the peer")
    if plan.not_carried_over:
        print()
        print_table(dropped, columns=("source", "reason"), title="not carried over")
    return 0
