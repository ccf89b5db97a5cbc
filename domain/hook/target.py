"""What the hook tests: the hook event, the version under test, and what the AppSpec says.

CodeDeploy invokes the hook with ``{DeploymentId, LifecycleEventHookExecutionId}``. The version
under test comes from the configuration (SAM's ``!Ref Fn.Version``) or, for what is missing,
from the deployment's AppSpec, which also names the lifecycle event this hook function serves.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.deadline import Deadline
from domain.errors import InvalidInput, ThermostatError
from thermostat_runtime import names

_DEPLOYMENT_ID = re.compile(r"d-[A-Z0-9]{9}")
_MAX_ID_LENGTH = 1024


class LifecycleEvent(StrEnum):
    """The CodeDeploy lifecycle event a hook execution belongs to."""

    BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
    AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"


class HookStatus(StrEnum):
    """The two verdicts the hook reports."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


# --------------------------------------------------------------------------- the event


class HookEvent(BaseModel):
    """A CodeDeploy lifecycle hook event, validated."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    execution_id: str


def hook_ids(event: Any) -> tuple[str, str] | None:
    """The (DeploymentId, LifecycleEventHookExecutionId) pair if both are usable strings.

    Without both there is nobody to report to; with both, any other problem with the event is
    reported as Failed rather than left for CodeDeploy to time out.
    """
    if not isinstance(event, dict):
        return None
    deployment_id = event.get("DeploymentId")
    execution_id = event.get("LifecycleEventHookExecutionId")
    if not isinstance(deployment_id, str) or not isinstance(execution_id, str):
        return None
    deployment_id, execution_id = deployment_id.strip(), execution_id.strip()
    if not deployment_id or not execution_id:
        return None
    if len(deployment_id) > _MAX_ID_LENGTH or len(execution_id) > _MAX_ID_LENGTH:
        return None
    return deployment_id, execution_id


def parse_hook_event(event: Any) -> HookEvent:
    """Validate a lifecycle hook event; InvalidInput names what is wrong."""
    ids = hook_ids(event)
    if ids is None:
        shown = sorted(map(str, event))[:10] if isinstance(event, dict) else type(event).__name__
        raise InvalidInput(
            "malformed hook event: expected {DeploymentId, LifecycleEventHookExecutionId} as non-empty "
            f"strings, got {shown}"
        )
    deployment_id, execution_id = ids
    if not _DEPLOYMENT_ID.fullmatch(deployment_id):
        raise InvalidInput(
            f"malformed hook event: DeploymentId {deployment_id!r} is not a CodeDeploy deployment id (d-XXXXXXXXX)"
        )
    return HookEvent(deployment_id=deployment_id, execution_id=execution_id)


# --------------------------------------------------------------------------- the version under test


class VersionUnderTest(BaseModel):
    """The function version under test; always invoked by version, never ``$LATEST`` or an alias."""

    model_config = ConfigDict(frozen=True)

    function: str = Field(min_length=1)
    version: str = Field(pattern=rf"^(?:{names.PUBLISHED_VERSION.pattern})$")

    def __str__(self) -> str:
        return f"{self.function}:{self.version}"


def make_target(function: str | None, version: str | int | None) -> VersionUnderTest:
    """Validate a function (name or ARN) and a published version number.

    An ARN may carry the version as its qualifier; an alias or ``$LATEST`` is refused, because
    the hook must test exactly the version CodeDeploy is about to shift traffic to.
    """
    if function is None or not str(function).strip():
        raise InvalidInput("missing target function: name the function under test (THERMOSTAT_HOOK_TARGET)")
    text = str(function).strip()
    ref = names.parse_function_ref(text)
    if ref is None:
        raise InvalidInput(f"{text!r} is not a Lambda function name or ARN")
    qualifier = ref.qualifier
    unqualified = ref.unqualified
    given = None if version is None else str(version).strip()
    if not given:
        given = qualifier
    if not given:
        raise InvalidInput(
            f"missing version for {unqualified}: the hook invokes a published version "
            "(THERMOSTAT_HOOK_VERSION, e.g. SAM's !Ref Fn.Version, or the AppSpec's TargetVersion)"
        )
    if qualifier is not None and qualifier != given:
        raise InvalidInput(f"{text!r} is qualified with {qualifier!r} but the version to test is {given!r}")
    if not names.is_published_version(given):
        raise InvalidInput(
            f"version {given!r} of {unqualified} is not a published version number: the hook never invokes "
            "$LATEST or an alias; pass the number PublishVersion returned (SAM: !Ref Fn.Version)"
        )
    return VersionUnderTest(function=unqualified, version=given)


def function_name(reference: str) -> str:
    """The bare function name in a name, partial ARN or ARN (qualifier dropped)."""
    ref = names.parse_function_ref(reference.strip())
    return ref.name if ref is not None else reference.strip()


# --------------------------------------------------------------------------- the AppSpec


class AppSpecTarget(BaseModel):
    """What a Lambda deployment's AppSpec names: the function, alias, versions and hooks."""

    model_config = ConfigDict(frozen=True)

    function: str
    alias: str | None = None
    current_version: str | None = None
    target_version: str | None = None
    #: lifecycle event name -> hook function name, e.g. {"BeforeAllowTraffic": "my-hook"}
    hooks: dict[str, str] = Field(default_factory=dict)

    def lifecycle_of(self, hook_function: str | None) -> LifecycleEvent | None:
        """The lifecycle event whose hook is ``hook_function`` (None when it is not listed)."""
        if not hook_function:
            return None
        wanted = function_name(hook_function)
        for event in LifecycleEvent:
            listed = self.hooks.get(event.value)
            if listed is not None and function_name(listed) == wanted:
                return event
        return None


class DeploymentReader(Protocol):
    """Port: read the AppSpec of a CodeDeploy deployment."""

    def read_target(self, deployment_id: str, *, timeout_s: float | None = None) -> AppSpecTarget:
        """The deployment's Lambda target; InvalidInput/NotFound/Unavailable when it cannot.

        ``timeout_s``: the read must end within that many seconds (None: the reader's own timeouts).
        """
        ...


def resolve_target(
    deployment_id: str,
    *,
    function: str | None,
    version: str | None,
    lifecycle: LifecycleEvent | None,
    reader: DeploymentReader,
    own_function: str | None,
    deadline: Deadline | None = None,
) -> tuple[VersionUnderTest, LifecycleEvent, tuple[str, ...]]:
    """Decide what to test and for which lifecycle event; returns (target, lifecycle, warnings).

    The configured function and version win (SAM's ``!Ref Fn.Version`` pattern); what is missing
    comes from the deployment's AppSpec: the function, the ``TargetVersion`` (only when the
    AppSpec names the same function), and — unless configured — the lifecycle event, found by
    looking up this hook function's own name in the AppSpec's ``Hooks``. The read takes at most
    half the time before ``deadline`` (a hung read leaves the warm-up the rest).
    """
    warnings: list[str] = []
    spec: AppSpecTarget | None = None
    left = None if deadline is None else deadline.timeout_s()
    timeout_s = None if left is None else left / 2.0
    if function is None or version is None:
        spec = reader.read_target(deployment_id, timeout_s=timeout_s)
    elif lifecycle is None:
        try:
            spec = reader.read_target(deployment_id, timeout_s=timeout_s)
        except ThermostatError as exc:
            # The target is fully configured: not knowing the lifecycle event is no reason to fail.
            warnings.append(f"could not read the AppSpec for the lifecycle event, assuming BeforeAllowTraffic: {exc}")
    chosen_function = function if function is not None else (spec.function if spec else None)
    chosen_version = version
    if chosen_version is None and spec is not None and chosen_function is not None:
        if function_name(spec.function) == function_name(chosen_function):
            chosen_version = spec.target_version
        else:
            warnings.append(
                f"the AppSpec deploys {spec.function}, not {chosen_function}: its TargetVersion does not apply"
            )
    target = make_target(chosen_function, chosen_version)
    detected = spec.lifecycle_of(own_function) if spec is not None and lifecycle is None else None
    if lifecycle is None and detected is None and spec is not None:
        warnings.append(
            f"this function ({own_function}) is not among the AppSpec hooks {spec.hooks}; assuming BeforeAllowTraffic"
        )
    return target, lifecycle or detected or LifecycleEvent.BEFORE_ALLOW_TRAFFIC, tuple(warnings)
