"""Importing a peer warmer's configuration as keep-warm targets (``thermostat import``).

Three peers, each read from the shape its own documentation gives:

* serverless-plugin-warmup: ``custom.warmup`` of a ``serverless.yml`` (one or more warmers, each
  with ``enabled``, ``events`` schedules, ``concurrency``, ``payload``, ``alias``, …) and each
  function's ``warmup`` overrides, evaluated for one stage exactly as the plugin evaluates them
  (``enabled`` may be a boolean, ``"true"``, a stage or a list of stages);
* Zappa: a stage's ``keep_warm`` (default true) and ``keep_warm_expression`` (default
  ``rate(4 minutes)``);
* lambda-warmer: the constant input of a rule (``{"warmer": true, "concurrency": N}``, or an array
  of such events each with its own ``target``).

Everything here is pure: the caller parses the files and reads the rules, and stores the targets
of the plan only when :attr:`ImportPlan.problems` is empty (the planner raises otherwise), so a
configuration is imported whole or not at all. What a target record cannot express (a warmer's
memory size, its client context, a schedule) is listed in :attr:`ImportPlan.not_carried_over` with
the reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInput
from domain.schedules import parse_schedule
from domain.targets import DEFAULT_GROUP, Target, make_target
from thermostat_runtime import names

#: serverless-plugin-warmup's default payload; ``@warmable`` recognises it as a ping.
WARMUP_PLUGIN_PAYLOAD: dict[str, Any] = {"source": "serverless-plugin-warmup"}
WARMUP_PLUGIN_SCHEDULE = "rate(5 minutes)"
ZAPPA_KEEP_WARM_SCHEDULE = "rate(4 minutes)"
#: The schedules thermostat's own stack gives its two groups (template.yaml's parameter defaults).
STACK_SCHEDULES: dict[str, str] = {"default": "rate(5 minutes)", "office-hours": "cron(0/5 7-19 ? * MON-FRI *)"}

# serverless-plugin-warmup's options (README "Configuration"), by what becomes of them.
_WARMER_OPTIONS = frozenset(
    {
        "folderName",
        "cleanFolder",
        "name",
        "roleName",
        "role",
        "tags",
        "vpc",
        "memorySize",
        "architecture",
        "package",
        "timeout",
        "environment",
        "tracing",
        "verbose",
        "logRetentionInDays",
    }
)
_FUNCTION_OPTIONS = frozenset({"enabled", "alias", "clientContext", "payload", "payloadRaw", "concurrency"})
_KNOWN_OPTIONS = _WARMER_OPTIONS | _FUNCTION_OPTIONS | {"events", "prewarm"}
#: The plugin's legacy names (README "Legacy options"), read as their new names.
_LEGACY_NAMES = {"default": "enabled", "schedule": "events", "source": "payload", "sourceRaw": "payloadRaw"}
_LAMBDA_WARMER_KEYS = frozenset({"warmer", "concurrency", "target", "test", "correlationId"})


@dataclass(frozen=True)
class NotCarried:
    """A setting of the peer that no target record holds, and why (or what to do instead)."""

    source: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    """A function the peer would not warm (for this stage), so no target is made for it."""

    function: str
    reason: str


@dataclass(frozen=True)
class GroupSchedule:
    """A schedule the peer ran, for the group its targets go to."""

    group: str
    expression: str
    source: str
    enabled: bool = True

    @property
    def stack_schedule(self) -> bool:
        """Whether thermostat's stack already runs this group on this schedule (its defaults)."""
        return STACK_SCHEDULES.get(self.group) == self.expression


@dataclass
class ImportPlan:
    """The targets a peer's configuration becomes, and what does not carry over."""

    peer: str
    targets: list[Target] = field(default_factory=list)
    schedules: list[GroupSchedule] = field(default_factory=list)
    not_carried_over: list[NotCarried] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _sources: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, **fields: Any) -> None:
        """Validate one target; a problem (never an exception) when it is not valid or clashes."""
        try:
            target = make_target(**fields)
        except InvalidInput as exc:
            self.problems.append(f"{source}: {exc}")
            return
        earlier = next((t for t in self.targets if t.key == target.key), None)
        if earlier is None:
            self.targets.append(target)
            self._sources[target.key] = source
        elif earlier != target:
            self.problems.append(
                f"{source}: {target.function}:{target.qualifier} in group {target.group!r} is also set by "
                f"{self._sources[target.key]}, differently; keep one of them"
            )

    def schedule(self, group: str, expression: Any, source: str, enabled: bool = True) -> None:
        """Record a schedule after checking it is one EventBridge accepts."""
        if not isinstance(expression, str):
            self.problems.append(f"{source}: schedule {expression!r} is not a rate(…) or cron(…) expression")
            return
        try:
            parse_schedule(expression)
        except InvalidInput as exc:
            self.problems.append(f"{source}: {exc}")
            return
        entry = GroupSchedule(group, expression.strip(), source, enabled)
        if not any((s.group, s.expression, s.enabled) == (group, entry.expression, enabled) for s in self.schedules):
            self.schedules.append(entry)

    def drop(self, source: str, reason: str) -> None:
        """Say that a setting is not carried over."""
        self.not_carried_over.append(NotCarried(source, reason))

    def checked(self) -> ImportPlan:
        """The plan itself, or ``InvalidInput`` naming every problem (so nothing is half-imported)."""
        if self.problems:
            listed = "\n  - ".join(self.problems)
            raise InvalidInput(f"{self.peer}: {len(self.problems)} problem(s), nothing imported:\n  - {listed}")
        return self


def group_name(name: str) -> str:
    """A thermostat group name for a peer's warmer name (``officeHoursWarmer`` -> ``office-hours-warmer``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    slug = re.sub(r"[^a-z0-9_-]+", "-", spaced.lower()).strip("-_")
    return slug[:63] or DEFAULT_GROUP


def _qualified(function: str) -> tuple[str, str | None]:
    """Split ``name:qualifier`` or a qualified ARN into (unqualified, qualifier)."""
    ref = names.parse_function_ref(function)
    if ref is None:
        return function, None
    return ref.unqualified, ref.qualifier


# ---------------------------------------------------------------------------------------------
# serverless.yml variables


class Unresolved(Exception):
    """A ``${…}`` variable the importer cannot resolve offline."""

    def __init__(self, variable: str) -> None:
        super().__init__(variable)
        self.variable = variable


_VARIABLE = re.compile(r"\$\{([^{}]+)\}")


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def resolve_variables(value: Any, document: Mapping[str, Any], stage: str | None, depth: int = 0) -> Any:
    """``${self:…}``, ``${opt:stage}``, ``${sls:stage}`` and quoted defaults resolved; others raise.

    The Serverless Framework resolves far more sources (``env:``, ``ssm:``, ``file(…)``, ``cf:``);
    those need the deploying machine or the account, so they are reported, never guessed.
    ``stage`` None: no ``--stage`` was given, so ``${opt:stage}`` falls through to its default.
    """
    if not isinstance(value, str) or "${" not in value:
        return value
    if depth > 10:
        raise Unresolved(value)

    def one(text: str) -> Any:
        for candidate in (part.strip() for part in text.split(",")):
            if candidate in {"opt:stage", "sls:stage"} and stage is not None:
                return stage
            if candidate.startswith("self:"):
                try:
                    return resolve_variables(_lookup(document, candidate[5:]), document, stage, depth + 1)
                except KeyError:
                    continue
            if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "'\"":
                return candidate[1:-1]
        raise Unresolved("${" + text + "}")

    whole = _VARIABLE.fullmatch(value)
    if whole:
        return one(whole.group(1))
    return _VARIABLE.sub(lambda match: str(one(match.group(1))), value)


# ---------------------------------------------------------------------------------------------
# serverless-plugin-warmup


def _service_name(document: Mapping[str, Any], stage: str) -> str:
    service = document.get("service")
    if isinstance(service, Mapping):  # the Framework's v1 form: service: {name: …}
        service = service.get("name")
    service = resolve_variables(service, document, stage)
    if not isinstance(service, str) or not service:
        raise InvalidInput("serverless.yml has no `service` name: the functions' names are made from it")
    return service


def _is_enabled(enabled: Any, stage: str) -> bool:
    """The plugin's own test: true, "true", the stage, or a list holding the stage."""
    return enabled is True or enabled in ("true", stage) or (isinstance(enabled, list) and stage in enabled)


def _warmers(custom: Any) -> tuple[dict[str, dict[str, Any]], bool]:
    """The warmers by name, and whether the file uses the plugin's legacy single-warmer form."""
    if not isinstance(custom, Mapping):
        raise InvalidInput("custom.warmup must be a mapping of warmers (e.g. custom.warmup.default.enabled: true)")
    if custom and all(isinstance(config, Mapping) for config in custom.values()):
        return {str(name): dict(config) for name, config in custom.items()}, False
    # Before warmers existed the options sat directly under custom.warmup (legacy names too).
    return {"default": {_LEGACY_NAMES.get(str(key), str(key)): value for key, value in custom.items()}}, True


def _schedules(events: Any, where: str) -> list[tuple[Any, bool, str]]:
    """(expression, enabled, source) of each schedule event; other events raise InvalidInput."""
    found: list[tuple[Any, bool, str]] = []
    if isinstance(events, str):  # legacy `schedule: rate(…)`
        return [(events, True, where)]
    if not isinstance(events, list):
        raise InvalidInput(f"{where} must be a list of events (e.g. - schedule: rate(5 minutes))")
    for index, event in enumerate(events):
        source = f"{where}[{index}]"
        schedule = event.get("schedule") if isinstance(event, Mapping) else None
        if schedule is None:
            raise InvalidInput(f"{source}: only `schedule` events can start a warmer; got {event!r}")
        if isinstance(schedule, Mapping):
            rates = schedule.get("rate")
            enabled = schedule.get("enabled", True) is not False
            found.extend((rate, enabled, source) for rate in (rates if isinstance(rates, list) else [rates]))
        else:
            found.append((schedule, True, source))
    return found


def _payload(config: Mapping[str, Any], source: str, plan: ImportPlan) -> Any:
    payload = config.get("payload", WARMUP_PLUGIN_PAYLOAD)
    if config.get("payloadRaw") is True:
        # Sent as it is: Lambda takes only JSON events, so a raw payload must be JSON text.
        if not isinstance(payload, str):
            plan.problems.append(
                f"{source}: payloadRaw with a non-string payload is sent by the plugin as the SDK "
                "stringifies it; give the payload as JSON text, or drop payloadRaw"
            )
            return None
        try:
            return json.loads(payload)
        except json.JSONDecodeError as exc:
            plan.problems.append(
                f"{source}: payloadRaw payload is not JSON ({exc.msg}); Lambda accepts JSON events only"
            )
            return None
    return payload


def from_serverless_warmup(  # noqa: PLR0915 - one pass over the plugin's documented options
    document: Mapping[str, Any], *, stage: str | None = None, qualifier: str | None = None, group: str | None = None
) -> ImportPlan:
    """The targets serverless-plugin-warmup would warm for ``stage`` (default: ``provider.stage``, else dev)."""
    plan = ImportPlan(peer="serverless-plugin-warmup")
    provider = document.get("provider") if isinstance(document.get("provider"), Mapping) else {}
    assert isinstance(provider, Mapping)
    if stage is None:
        try:
            stage = resolve_variables(provider.get("stage", "dev"), document, None)
        except Unresolved as exc:
            raise InvalidInput(f"provider.stage is {exc.variable}: pass --stage") from None
        if not isinstance(stage, str):
            raise InvalidInput("provider.stage is not a string: pass --stage")
    service = _service_name(document, stage)
    custom = (document.get("custom") or {}).get("warmup") if isinstance(document.get("custom"), Mapping) else None
    if custom is None:
        raise InvalidInput("serverless.yml has no custom.warmup: it does not configure serverless-plugin-warmup")
    warmers, legacy = _warmers(custom)
    if legacy:
        plan.drop("custom.warmup", "legacy single-warmer form, read as one warmer named `default`")

    groups: dict[str, str] = {}
    for warmer, config in warmers.items():
        where = f"custom.warmup.{warmer}" if not legacy else "custom.warmup"
        groups[warmer] = group or group_name(warmer)
        unknown = sorted(set(config) - _KNOWN_OPTIONS)
        if unknown:
            plan.problems.append(f"{where}: unknown option(s) {', '.join(unknown)}")
        for option in sorted(set(config) & _WARMER_OPTIONS):
            plan.drop(
                f"{where}.{option}", "a setting of the warmer function; thermostat's keep-warm function replaces it"
            )
        if config.get("prewarm") is True:
            plan.drop(f"{where}.prewarm", f"run `thermostat warm --group {groups[warmer]}` after each deploy instead")
        if "clientContext" in config and config["clientContext"] is not False:
            plan.drop(
                f"{where}.clientContext",
                "thermostat sends no client context: a function that checks context.custom must check the "
                "event instead (`@warmable` checks both)",
            )
        try:
            events = resolve_variables(config.get("events", [{"schedule": WARMUP_PLUGIN_SCHEDULE}]), document, stage)
            for expression, enabled, source in _schedules(events, f"{where}.events"):
                plan.schedule(groups[warmer], resolve_variables(expression, document, stage), source, enabled)
        except InvalidInput as exc:
            plan.problems.append(str(exc))
        except Unresolved as exc:
            plan.problems.append(f"{where}.events: cannot resolve {exc.variable} offline")

    functions = document.get("functions") or {}
    if not isinstance(functions, Mapping):
        raise InvalidInput("serverless.yml: `functions` must be a mapping of functions")
    for key, declared in functions.items():
        function = declared if isinstance(declared, Mapping) else {}
        where = f"functions.{key}"
        try:
            name = resolve_variables(function.get("name", f"{service}-{stage}-{key}"), document, stage)
        except Unresolved as exc:
            plan.problems.append(f"{where}.name: cannot resolve {exc.variable} offline; write the name out")
            continue
        overrides = function.get("warmup")
        if overrides is False:
            # The plugin's old per-function switch: no warmer warms this function.
            plan.skipped.append(Skipped(str(name), f"{where}.warmup is false"))
            continue
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            plan.problems.append(f"{where}.warmup must be a mapping of warmers (or false)")
            continue
        if legacy or (overrides and not all(isinstance(v, Mapping) for v in overrides.values())):
            per_warmer: dict[str, dict[str, Any]] = {
                "default": {_LEGACY_NAMES.get(str(k), str(k)): v for k, v in overrides.items()}
            }
        else:
            per_warmer = {str(k): {str(o): w for o, w in v.items()} for k, v in overrides.items()}
        unknown_warmers = sorted(set(per_warmer) - set(warmers)) if overrides else []
        if unknown_warmers:
            plan.problems.append(
                f"{where}.warmup: warmer(s) {', '.join(unknown_warmers)} are not declared under custom.warmup "
                "(the plugin refuses this too)"
            )
            continue
        for warmer, warmer_config in warmers.items():
            own: dict[str, Any] = per_warmer.get(warmer, {})
            unknown = sorted(set(own) - _FUNCTION_OPTIONS)
            if unknown:
                plan.problems.append(
                    f"{where}.warmup.{warmer}: option(s) {', '.join(unknown)} cannot be set per function"
                )
                continue
            merged = {**{k: v for k, v in warmer_config.items() if k in _FUNCTION_OPTIONS}, **own}
            if "payload" in own and "payloadRaw" not in own:
                merged.pop("payloadRaw", None)
            source = f"{where} (warmer {warmer})"
            try:
                merged = {k: resolve_variables(v, document, stage) for k, v in merged.items()}
            except Unresolved as exc:
                plan.problems.append(f"{source}: cannot resolve {exc.variable} offline")
                continue
            if not _is_enabled(merged.get("enabled", False), stage):
                plan.skipped.append(Skipped(str(name), f"warmer {warmer} is not enabled for stage {stage!r}"))
                continue
            if "clientContext" in own and own["clientContext"] is not False:
                plan.drop(f"{where}.warmup.{warmer}.clientContext", "thermostat sends no client context")
            target_qualifier = merged.get("alias") or qualifier
            if not target_qualifier:
                plan.problems.append(
                    f"{source}: the plugin invokes $LATEST (no alias); keep-warm pings a version or an alias: "
                    "pass --qualifier ALIAS (or set the warmer's alias)"
                )
                continue
            payload = _payload(merged, source, plan)
            if payload is None and merged.get("payloadRaw") is True:
                continue
            plan.add(
                source,
                function=name,
                qualifier=target_qualifier,
                group=groups[warmer],
                concurrency=merged.get("concurrency", 1),
                payload=payload,
            )
    return plan.checked()


# ---------------------------------------------------------------------------------------------
# Zappa

#: Zappa's keep-warm rule (cli.py: name "zappa-keep-warm", function "handler.keep_warm_callback").
ZAPPA_KEEP_WARM_NAME = "zappa-keep-warm-handler.keep_warm_callback"


def zappa_rule_name(lambda_name: str) -> str:
    """The name Zappa gives the keep-warm rule (``Zappa.get_scheduled_event_name``'s arithmetic)."""
    name = ZAPPA_KEEP_WARM_NAME

    def event_name(prefix: str) -> str:
        return f"{prefix[: max(0, 63 - len(name))]}-{name}"[:64]

    found = event_name(lambda_name)
    if len(found) >= 64:
        found = event_name(hashlib.sha1(lambda_name.encode()).hexdigest())  # noqa: S324 - Zappa's own naming
    return found


def zappa_keep_warm_event(lambda_name: str, region: str, account: str) -> dict[str, Any]:
    """The scheduled event Zappa's keep-warm rule delivers (its handler reads ``resources[0]``)."""
    return {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{zappa_rule_name(lambda_name)}"],
        "detail": {},
    }


def from_zappa(
    settings: Mapping[str, Any],
    *,
    stage: str,
    lambda_name: str,
    region: str,
    account: str,
    qualifier: str | None = None,
    group: str | None = None,
) -> ImportPlan:
    """The keep-warm target of one Zappa stage (its settings with ``extends`` applied)."""
    plan = ImportPlan(peer="zappa")
    where = f"{stage}.keep_warm"
    target_group = group or DEFAULT_GROUP
    if settings.get("keep_warm", True) is False:
        plan.skipped.append(Skipped(lambda_name, f"{where} is false: Zappa does not keep this stage warm"))
        return plan.checked()
    plan.schedule(
        target_group, settings.get("keep_warm_expression", ZAPPA_KEEP_WARM_SCHEDULE), f"{stage}.keep_warm_expression"
    )
    if settings.get("events"):
        plan.drop(f"{stage}.events", "the application's own scheduled functions stay Zappa's (not keep-warm)")
    if not qualifier:
        plan.problems.append(
            f"{where}: Zappa's keep-warm invokes $LATEST; keep-warm pings a published version or an alias: "
            f"pass --qualifier (create an alias first: aws lambda create-alias --function-name {lambda_name} "
            "--name live --function-version N)"
        )
        return plan.checked()
    # The same event as Zappa's rule: until the function wears @warmable, Zappa's handler answers it
    # with keep_warm_callback; @warmable answers it as a ping.
    plan.add(
        where,
        function=lambda_name,
        qualifier=qualifier,
        group=target_group,
        concurrency=1,
        payload=zappa_keep_warm_event(lambda_name, region, account),
    )
    return plan.checked()


# ---------------------------------------------------------------------------------------------
# lambda-warmer


@dataclass(frozen=True)
class RuleInput:
    """One rule target's constant input: the function it invokes, the input, the rule's schedule."""

    function: str | None
    event: Any
    source: str
    schedule: str | None = None
    enabled: bool = True
    #: Where the schedule came from (the rule), when it is not the input's own source.
    schedule_source: str | None = None


def from_lambda_warmer(
    inputs: Sequence[RuleInput], *, qualifier: str | None = None, group: str | None = None
) -> ImportPlan:
    """The targets lambda-warmer's rule inputs warm (an array input warms one target per element)."""
    plan = ImportPlan(peer="lambda-warmer")
    target_group = group or DEFAULT_GROUP
    for rule in inputs:
        if rule.schedule is not None:
            plan.schedule(target_group, rule.schedule, rule.schedule_source or f"{rule.source} schedule", rule.enabled)
        events = rule.event if isinstance(rule.event, list) else [rule.event]
        for index, event in enumerate(events):
            source = rule.source if not isinstance(rule.event, list) else f"{rule.source}[{index}]"
            if not isinstance(event, Mapping) or event.get("warmer") is not True:
                plan.problems.append(f'{source}: not a lambda-warmer event (expected {{"warmer": true, …}}): {event!r}')
                continue
            unknown = sorted(set(event) - _LAMBDA_WARMER_KEYS)
            if unknown:
                plan.problems.append(
                    f"{source}: key(s) {', '.join(unknown)} are not lambda-warmer's (renamed flags are not supported)"
                )
                continue
            if event.get("test") is True:
                plan.skipped.append(Skipped(str(event.get("target") or rule.function), f"{source} is a test event"))
                continue
            if "correlationId" in event:
                plan.drop(f"{source}.correlationId", "keep-warm sends one correlation id per round")
            named = event.get("target") or rule.function
            if not isinstance(named, str) or not named:
                plan.problems.append(f"{source}: which function does it warm? pass --function (the rule's target)")
                continue
            function, own_qualifier = _qualified(named)
            chosen = own_qualifier or qualifier
            if not chosen or chosen == names.LATEST:
                plan.problems.append(
                    f"{source}: {named} is invoked unqualified ($LATEST); keep-warm pings a published version or "
                    "an alias: pass --qualifier (or name the alias in the target)"
                )
                continue
            concurrency = event.get("concurrency", 1)
            plan.add(
                source,
                function=function,
                qualifier=chosen,
                group=target_group,
                concurrency=concurrency,
                # lambda-warmer's schedule input: keep-warm sends it as lambda-warmer's own fan-out
                # does (domain/keep_warm/peers.py), which lambda-warmer and @warmable both answer.
                payload={"warmer": True},
            )
    return plan.checked()
