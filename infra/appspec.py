"""A Lambda deployment's AppSpec, read: the function, alias, current and target versions, and hooks.

AppSpec content is JSON or YAML (CodeDeploy takes either). YAML is read by PyYAML's
``safe_load``, which the Lambda bundle carries (``serverless/requirements.txt``): whatever YAML
CodeDeploy accepts, the hook reads the same way. It is imported at the first YAML AppSpec, never
at the handler's import.
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
    import yaml  # at the first YAML AppSpec: a JSON one, or a handler's import, never pays for it

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
