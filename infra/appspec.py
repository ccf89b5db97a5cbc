"""A Lambda deployment's AppSpec, read: the function, alias, current and target versions, and hooks.

AppSpec content is JSON or YAML. PyYAML reads the YAML when the bundle has it; otherwise a
small parser of the block-style subset AppSpec files use, which refuses (with a message) what
it does not understand rather than misreading it.
"""

from __future__ import annotations

import json
from typing import Any

from domain.errors import InvalidInput
from domain.hook import AppSpecTarget


def appspec_content(info: dict[str, Any], deployment_id: str = "") -> str:
    """The AppSpec text in a ``deploymentInfo`` (revision types ``AppSpecContent`` and ``String``)."""
    revision = info.get("revision") or {}
    kind = revision.get("revisionType")
    holder = revision.get("appSpecContent") if kind == "AppSpecContent" else revision.get("string")
    content = holder.get("content") if isinstance(holder, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput(
            f"deployment {deployment_id} has a {kind or 'missing'} revision without AppSpec content; the hook reads "
            "AppSpecContent/String revisions only: set THERMOSTAT_HOOK_TARGET and THERMOSTAT_HOOK_VERSION instead"
        )
    return content


def _load(content: str) -> Any:
    text = content.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"the AppSpec looks like JSON but does not parse: {exc}") from exc
    try:
        import yaml  # PyYAML when the bundle has it; the subset parser below otherwise
    except ImportError:
        return parse_simple_yaml(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the AppSpec is neither JSON nor valid YAML: {exc}") from exc


def _single_key(item: Any, where: str) -> tuple[str, Any]:
    if not isinstance(item, dict) or len(item) != 1:
        raise InvalidInput(f"AppSpec {where}: expected one 'name: value' entry per list item, got {item!r}")
    ((key, value),) = item.items()
    return str(key), value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def parse_appspec(content: str) -> AppSpecTarget:
    """Read a Lambda AppSpec (JSON or YAML): exactly one ``AWS::Lambda::Function`` resource."""
    document = _load(content)
    if not isinstance(document, dict):
        raise InvalidInput("the AppSpec is not a mapping with 'Resources' and 'Hooks'")
    resources = document.get("Resources")
    if isinstance(resources, dict):
        resources = [{key: value} for key, value in resources.items()]
    if not isinstance(resources, list):
        raise InvalidInput("the AppSpec has no 'Resources' list")
    lambdas = []
    for item in resources:
        name, body = _single_key(item, "Resources")
        if isinstance(body, dict) and body.get("Type") == "AWS::Lambda::Function":
            lambdas.append((name, body))
    if len(lambdas) != 1:
        raise InvalidInput(f"the AppSpec must name exactly one AWS::Lambda::Function resource, found {len(lambdas)}")
    name, body = lambdas[0]
    properties = body.get("Properties")
    if not isinstance(properties, dict) or not _text(properties.get("Name")):
        raise InvalidInput(f"AppSpec resource {name!r} has no Properties.Name")
    hooks: dict[str, str] = {}
    raw_hooks = document.get("Hooks") or []
    if isinstance(raw_hooks, dict):
        raw_hooks = [{key: value} for key, value in raw_hooks.items()]
    if not isinstance(raw_hooks, list):
        raise InvalidInput("the AppSpec's 'Hooks' must be a list of 'LifecycleEvent: function' entries")
    for item in raw_hooks:
        event, function = _single_key(item, "Hooks")
        shown = _text(function)
        if shown:
            hooks[event] = shown
    function_name = _text(properties.get("Name"))
    assert function_name is not None
    return AppSpecTarget(
        function=function_name,
        alias=_text(properties.get("Alias")),
        current_version=_text(properties.get("CurrentVersion")),
        target_version=_text(properties.get("TargetVersion")),
        hooks=hooks,
    )


# --------------------------------------------------------------------------- a YAML subset


def _strip_comment(line: str) -> str:
    quote: str | None = None
    for position, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1] in " \t"):
            return line[:position]
    return line


def _scalar(text: str) -> Any:
    text = text.strip()
    if not text or text in ("~", "null", "Null", "NULL"):
        return None
    if text[0] in "&*|>!%@`":
        raise InvalidInput(f"AppSpec: unsupported YAML value {text!r} (anchors, tags, block strings); use JSON")
    if text[0] == '"':
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"AppSpec: bad double-quoted string {text}") from exc
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise InvalidInput(f"AppSpec: unclosed single-quoted string {text}")
        return text[1:-1].replace("''", "'")
    if text[0] in "[{":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"AppSpec: flow collections must be JSON in this parser, got {text}") from exc
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _split_key(text: str) -> tuple[str, str] | None:
    """``key: value`` → (key, value); None when the text is not a mapping entry."""
    if text[:1] in "'\"":
        quote = text[0]
        end = text.find(quote, 1)
        if end == -1 or text[end + 1 : end + 2] != ":":
            return None
        return text[1:end], text[end + 2 :]
    position = text.find(": ")
    if position == -1 and text.endswith(":"):
        position = len(text) - 1
    if position <= 0:
        return None
    return text[:position].strip(), text[position + 1 :]


def parse_simple_yaml(text: str) -> Any:
    """Parse the block-style YAML subset AppSpec files use (mappings, ``-`` lists, scalars).

    Used only when PyYAML is not installed (a Lambda bundle without it); anchors, multi-line
    strings and multiple documents are refused with a message rather than misread.
    """
    lines: list[list[Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise InvalidInput(f"AppSpec line {number}: tabs are not allowed for indentation in YAML")
        stripped = _strip_comment(raw).rstrip()
        if not stripped.strip() or stripped.strip() == "---":
            continue
        content = stripped.lstrip()
        if content[:1] in ("&", "*", "|", ">", "!") or content.startswith("..."):
            raise InvalidInput(f"AppSpec line {number}: unsupported YAML ({content!r}); use JSON or plain YAML")
        lines.append([len(stripped) - len(content), content, number])

    def block(index: int, indent: int) -> tuple[Any, int]:
        if lines[index][1].startswith("- ") or lines[index][1] == "-":
            return sequence(index, indent)
        return mapping(index, indent)

    def sequence(index: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while index < len(lines) and lines[index][0] == indent and (lines[index][1][:2] in ("- ", "-")):
            content = lines[index][1][1:]
            rest = content.lstrip()
            if not rest:
                if index + 1 < len(lines) and lines[index + 1][0] > indent:
                    value, index = block(index + 1, lines[index + 1][0])
                else:
                    value, index = None, index + 1
            elif rest[:2] in ("- ", "-") or _split_key(rest) is not None:
                # "- key: value" opens a mapping whose entries sit at the column of "key"
                # ("- - x" a nested list): re-read the rest of the line at that column.
                lines[index] = [indent + 1 + len(content) - len(rest), rest, lines[index][2]]
                value, index = block(index, lines[index][0])
            else:
                value, index = _scalar(rest), index + 1
            items.append(value)
        return items, index

    def mapping(index: int, indent: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        while index < len(lines) and lines[index][0] == indent:
            column, content, number = lines[index]
            pair = _split_key(content)
            if pair is None:
                raise InvalidInput(f"AppSpec line {number}: expected 'key: value', got {content!r}")
            key, rest = pair
            if rest.strip():
                result[key] = _scalar(rest)
                index += 1
            elif index + 1 < len(lines) and lines[index + 1][0] > column:
                result[key], index = block(index + 1, lines[index + 1][0])
            elif index + 1 < len(lines) and lines[index + 1][0] == column and lines[index + 1][1][:1] == "-":
                result[key], index = sequence(index + 1, column)  # a list may sit at the key's own indent
            else:
                result[key], index = None, index + 1
        return result, index

    if not lines:
        return None
    value, end = block(0, lines[0][0])
    if end != len(lines):
        raise InvalidInput(f"AppSpec line {lines[end][2]}: unexpected indentation")
    return value
