"""Read ``serverless/template.yaml`` for the local stack: functions, their rules and schedules.

Only what the local stack needs: each function's handler, environment, timeout, memory,
reserved concurrency, and its EventBridge events (patterns and schedules). CloudFormation
intrinsics are resolved against local values where they can be (``!Ref`` of parameters and
of the table, ``!Sub`` of pseudo parameters); anything else is left as a readable marker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from domain.errors import InvalidInput

_SUB = re.compile(r"\$\{([^}!]+)\}")


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns ``!Ref x`` into ``{"Ref": x}`` and ``!Fn y`` into ``{"Fn::Fn": y}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise InvalidInput(f"unsupported YAML node for !{suffix}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class LocalRule:
    """An EventBridge rule that delivers to a function: a pattern or a schedule, and what the target receives."""

    name: str
    target: str  # the function's logical id
    pattern: dict[str, Any] | None = None
    schedule: str | None = None
    input: str | None = None  # constant JSON text
    enabled: bool = True
    input_path: str | None = None
    input_transformer: dict[str, Any] | None = None


@dataclass(frozen=True)
class LocalFunction:
    """A function of the template, as the local Lambda runner needs it."""

    logical_id: str
    name: str
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3.0
    memory_mb: int = 128
    reserved_concurrency: int | None = None
    #: ``LoggingConfig.LogFormat`` (function, else Globals): ``Text`` or ``JSON``.
    log_format: str = "Text"


@dataclass
class Template:
    """The parsed template with the local values used to resolve intrinsics."""

    document: dict[str, Any]
    values: dict[str, Any]

    def resolve(self, value: Any) -> Any:
        """Resolve ``Ref``/``Sub``/``GetAtt``/``Join``/``If`` against local values, recursively."""
        if isinstance(value, dict) and len(value) == 1:
            ((key, inner),) = value.items()
            if key == "Ref":
                return self.values.get(inner, self._parameter_default(inner))
            if key == "Fn::Sub":
                template, extra = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                names = {**self.values, **{k: self.resolve(v) for k, v in extra.items()}}
                return _SUB.sub(lambda m: str(names.get(m.group(1), self._parameter_default(m.group(1)))), template)
            if key == "Fn::GetAtt":
                return self.values.get(".".join(inner), f"<{'.'.join(inner)}>")
            if key == "Fn::Join":
                separator, parts = inner
                return separator.join(str(self.resolve(part)) for part in parts)
            if key == "Fn::If":
                return self.resolve(inner[1])
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _parameter_default(self, name: str) -> Any:
        parameter = self.document.get("Parameters", {}).get(name)
        if isinstance(parameter, dict) and "Default" in parameter:
            return parameter["Default"]
        return f"<{name}>"

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Resources of one CloudFormation/SAM type, by logical id."""
        return {
            logical_id: resource
            for logical_id, resource in (self.document.get("Resources") or {}).items()
            if isinstance(resource, dict) and resource.get("Type") == kind
        }

    def queue_sources(self) -> list[tuple[str, str, int]]:
        """Every SQS event source: ``(function logical id, queue logical id, batch size)``."""
        found = []
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if not isinstance(event, dict) or event.get("Type") != "SQS":
                    continue
                queue = (event.get("Properties") or {}).get("Queue")
                if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                    batch = int(self.resolve((event.get("Properties") or {}).get("BatchSize", 10)))
                    found.append((logical_id, str(queue["Fn::GetAtt"][0]), batch))
        return found

    def functions(self) -> list[LocalFunction]:
        """Every ``AWS::Serverless::Function`` with Globals applied and intrinsics resolved."""
        globals_ = (self.document.get("Globals") or {}).get("Function") or {}
        found = []
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            props = {**globals_, **(resource.get("Properties") or {})}
            env = {
                **((globals_.get("Environment") or {}).get("Variables") or {}),
                **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
            }
            name = self.resolve(props.get("FunctionName")) if props.get("FunctionName") else logical_id
            reserved = str(self.resolve(props.get("ReservedConcurrentExecutions", "")))
            logging = props.get("LoggingConfig") or globals_.get("LoggingConfig") or {}
            log_format = str(self.resolve(logging.get("LogFormat", "Text"))) if isinstance(logging, dict) else "Text"
            found.append(
                LocalFunction(
                    logical_id=logical_id,
                    name=str(name),
                    handler=str(self.resolve(props.get("Handler", ""))),
                    environment={k: str(self.resolve(v)) for k, v in env.items()},
                    timeout_s=float(self.resolve(props.get("Timeout", 3))),
                    memory_mb=int(self.resolve(props.get("MemorySize", 128))),
                    reserved_concurrency=int(reserved)
                    if isinstance(reserved, int | str) and str(reserved).isdigit()
                    else None,
                    log_format=log_format if log_format in {"Text", "JSON"} else "Text",
                )
            )
        return found

    def rules(self) -> list[LocalRule]:
        """The EventBridge events of every function (EventBridgeRule, CloudWatchEvent, Schedule)."""
        found = []
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_id, event in events.items():
                kind = event.get("Type")
                props = self.resolve(event.get("Properties") or {})
                name = f"{logical_id}.{event_id}"
                raw_input = props.get("Input")
                if isinstance(raw_input, dict | list):
                    raw_input = json.dumps(raw_input)
                target_input = {
                    "input": raw_input,
                    "input_path": props.get("InputPath"),
                    "input_transformer": props.get("InputTransformer"),
                }
                if kind in {"EventBridgeRule", "CloudWatchEvent"}:
                    found.append(LocalRule(name, logical_id, pattern=props.get("Pattern"), **target_input))
                elif kind in {"Schedule", "ScheduleV2"}:
                    expression = props.get("Schedule") or props.get("ScheduleExpression")
                    enabled = props.get("Enabled", True) is not False and props.get("State", "ENABLED") != "DISABLED"
                    found.append(LocalRule(name, logical_id, schedule=expression, enabled=enabled, **target_input))
        return found


def load_template(path: Path, values: dict[str, Any] | None = None) -> Template:
    """Parse a SAM template; ``values`` resolve ``!Ref``s (table name, parameters, pseudo parameters)."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read the template {path}: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise InvalidInput(f"{path} is not a CloudFormation/SAM template (no Resources)")
    defaults = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "thermostat-local",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": None,
    }
    return Template(document=document, values={**defaults, **(values or {})})
