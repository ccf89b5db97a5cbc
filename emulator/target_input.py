"""What a rule's target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer``, as EventBridge does it.

Read from AWS's "Amazon EventBridge input transformation" and the ``InputTransformer`` API reference:

* ``Input``: constant JSON text, delivered instead of the event.
* ``InputPath``: a JSON path into the event (``$.detail``); the value there is delivered.
* ``InputTransformer``: ``InputPathsMap`` (variable → JSON path) and ``InputTemplate`` with ``<variable>``
  placeholders. Outside a JSON string literal a value goes in as JSON (a string gets its quotes); inside a
  string literal it goes in as text, escaped so the literal stays valid. A template that is not JSON (plain
  text) takes values as they are. The predefined ``<aws.events.rule-arn>``, ``<aws.events.rule-name>``,
  ``<aws.events.event.ingestion-time>``, ``<aws.events.event>`` (the event without ``detail``) and
  ``<aws.events.event.json>`` (the whole event) need no path; the last two only as a JSON value.

Paths use what EventBridge supports: dot notation, alphanumerics, dashes, underscores, forward slashes, array
indices and ``*`` wildcards. Everything else is refused when the rule is loaded, as is a placeholder that names
no variable, so a bad rule fails at start-up rather than losing an event later. A path that finds nothing gives
``null`` (inside a string literal, the text ``null``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput

_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-/]+|\*)|\[(\d+|\*)\]")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_JSON_ONLY = {"aws.events.event", "aws.events.event.json"}
PREDEFINED = {"aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time", *_JSON_ONLY}
MAX_VARIABLES = 100
_MISSING = object()


@dataclass(frozen=True)
class JsonPath:
    """A compiled EventBridge JSON path: ``$`` then ``.name``, ``[n]``, ``.*`` or ``[*]`` steps."""

    text: str
    steps: tuple[str | int, ...]  # a name, an index, or "*" (every member)

    def find(self, document: Any) -> Any:
        """The value at the path; a list when the path has a wildcard; None when nothing is there."""
        found = self._walk([document], self.steps)
        if "*" in self.steps:
            return found
        return found[0] if found else None

    @staticmethod
    def _walk(nodes: list[Any], steps: tuple[str | int, ...]) -> list[Any]:
        for step in steps:
            following: list[Any] = []
            for node in nodes:
                if step == "*":
                    following.extend(
                        node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
                    )
                elif isinstance(step, int):
                    if isinstance(node, list) and step < len(node):
                        following.append(node[step])
                elif step != "*" and isinstance(node, dict) and step in node:
                    following.append(node[step])
            nodes = following
        return nodes


def compile_path(text: str, where: str) -> JsonPath:
    """Parse ``text`` as an EventBridge JSON path; InvalidInput names ``where`` and the bad part."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise InvalidInput(f"{where}: {text!r} is not a JSON path (it must start with '$', e.g. $.detail)")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise InvalidInput(
                f"{where}: {text!r} is not a path EventBridge supports at {text[position:]!r} "
                "(dot notation, alphanumerics, - _ /, [n] indices and * wildcards only)"
            )
        name, index = match.groups()
        if name is not None:
            steps.append(name)
        else:
            steps.append("*" if index == "*" else int(index))
        position = match.end()
    return JsonPath(text, tuple(steps))


@dataclass(frozen=True)
class _Slot:
    start: int
    end: int
    name: str
    in_string: bool


@dataclass(frozen=True)
class TargetInput:
    """How one target's input is made from an event (compiled once, when the rule is loaded)."""

    constant: str | None = None
    path: JsonPath | None = None
    paths: tuple[tuple[str, JsonPath], ...] = ()
    template: str | None = None
    slots: tuple[_Slot, ...] = ()
    json_template: bool = False

    def render(self, event: dict[str, Any], *, rule_name: str, rule_arn: str, ingestion_time: str) -> str:
        """The text the target receives (JSON unless a plain-text template made something else)."""
        if self.constant is not None:
            return self.constant
        if self.path is not None:
            return json.dumps(self.path.find(event))
        if self.template is None:
            return json.dumps(event)
        values: dict[str, Any] = {name: path.find(event) for name, path in self.paths}
        values.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event.ingestion-time": ingestion_time,
                "aws.events.event": {key: value for key, value in event.items() if key != "detail"},
                "aws.events.event.json": event,
            }
        )
        pieces: list[str] = []
        cursor = 0
        for slot in self.slots:
            pieces.append(self.template[cursor : slot.start])
            pieces.append(self._text(values[slot.name], slot.in_string))
            cursor = slot.end
        pieces.append(self.template[cursor:])
        return "".join(pieces)

    def _text(self, value: Any, in_string: bool) -> str:
        as_text = value if isinstance(value, str) else json.dumps(value)
        if in_string:
            return json.dumps(as_text)[1:-1]  # escaped so the surrounding literal stays valid JSON
        if self.json_template:
            return json.dumps(value)
        return as_text


def compile_target_input(
    where: str,
    *,
    input_text: str | None = None,
    input_path: str | None = None,
    input_transformer: dict[str, Any] | None = None,
) -> TargetInput:
    """Check and compile a target's ``Input`` / ``InputPath`` / ``InputTransformer`` (at most one of them)."""
    given = [name for name, value in (("Input", input_text), ("InputPath", input_path)) if value is not None]
    if input_transformer is not None:
        given.append("InputTransformer")
    if len(given) > 1:
        raise InvalidInput(f"{where}: a target takes one of Input, InputPath and InputTransformer, not {given}")
    if input_text is not None:
        try:
            json.loads(input_text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{where}: Input must be JSON text: {exc}") from exc
        return TargetInput(constant=input_text)
    if input_path is not None:
        return TargetInput(path=compile_path(input_path, f"{where} InputPath"))
    if input_transformer is None:
        return TargetInput()
    return _compile_transformer(where, input_transformer)


def _compile_transformer(where: str, transformer: dict[str, Any]) -> TargetInput:
    if not isinstance(transformer, dict) or not isinstance(transformer.get("InputTemplate"), str):
        raise InvalidInput(f"{where}: InputTransformer needs an InputTemplate (a string)")
    unknown = set(transformer) - {"InputPathsMap", "InputTemplate"}
    if unknown:
        raise InvalidInput(f"{where}: InputTransformer has unknown keys {sorted(unknown)}")
    paths_map = transformer.get("InputPathsMap") or {}
    if not isinstance(paths_map, dict) or len(paths_map) > MAX_VARIABLES:
        raise InvalidInput(f"{where}: InputPathsMap must map at most {MAX_VARIABLES} variable names to JSON paths")
    for name in paths_map:
        if not _VARIABLE_NAME.match(name) or name.lower().startswith("aws"):
            raise InvalidInput(
                f"{where}: {name!r} is not a variable name you may define (letters, digits, - and _; not aws…)"
            )
    paths = tuple((name, compile_path(path, f"{where} InputPathsMap[{name!r}]")) for name, path in paths_map.items())
    template = transformer["InputTemplate"]
    json_template = template.strip().startswith(("{", "["))
    slots = _slots(template)
    defined = set(paths_map) | PREDEFINED
    for slot in slots:
        if slot.name not in defined:
            raise InvalidInput(
                f"{where}: the InputTemplate's <{slot.name}> is neither in InputPathsMap {sorted(paths_map)} "
                "nor a predefined aws.events variable"
            )
        if slot.name in _JSON_ONLY and slot.in_string:
            raise InvalidInput(f"{where}: <{slot.name}> can only be used as a JSON value, not inside quotes")
        if json_template and not slot.in_string and template[slot.end :].lstrip().startswith(":"):
            raise InvalidInput(f"{where}: <{slot.name}> is used as an object key; placeholders can only be values")
    compiled = TargetInput(paths=paths, template=template, slots=slots, json_template=json_template)
    if json_template:
        sample = compiled.render({}, rule_name="r", rule_arn="a", ingestion_time="t")
        try:
            json.loads(sample)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: the InputTemplate is not valid JSON once filled in: {exc}") from exc
    return compiled


def _slots(template: str) -> tuple[_Slot, ...]:
    """Every ``<name>`` in the template, and whether it sits inside a JSON string literal."""
    slots: list[_Slot] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\" and in_string:
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match:
                slots.append(_Slot(match.start(), match.end(), match.group(1), in_string))
                position = match.end()
                continue
        position += 1
    return tuple(slots)
