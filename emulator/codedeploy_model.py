"""The local CodeDeploy's deployment model: deployments of a Lambda alias, their lifecycle hook runs,
the status calls made on them, and the AppSpec that describes one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

HOOK_EVENTS: Final = ("BeforeAllowTraffic", "AfterAllowTraffic")
REPORTABLE: Final = ("Succeeded", "Failed")
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits


@dataclass
class LifecycleHookRun:
    """One lifecycle hook execution and what was reported for it."""

    execution_id: str
    lifecycle_event: str
    hook_function: str
    status: str = "Pending"  # Pending → InProgress → Succeeded | Failed (reported)
    started: datetime | None = None
    ended: datetime | None = None
    #: Why the lifecycle event failed when the hook did not say so itself (it never reported).
    diagnostics: str | None = None

    @property
    def reported(self) -> bool:
        """True once a verdict was accepted."""
        return self.status in REPORTABLE


@dataclass
class Deployment:
    """A Lambda deployment: its AppSpec target and its hook executions."""

    deployment_id: str
    function: str
    alias: str
    current_version: str
    target_version: str
    hooks: dict[str, str]
    appspec: str
    application: str = "thermostat-local"
    group: str = "thermostat-local-group"
    status: str = "Created"
    error: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    completed: datetime | None = None
    description: str | None = None
    executions: dict[str, LifecycleHookRun] = field(default_factory=dict)

    def execution_id(self, lifecycle_event: str) -> str:
        """The execution id CodeDeploy gave the hook of ``lifecycle_event``."""
        for execution in self.executions.values():
            if execution.lifecycle_event == lifecycle_event:
                return execution.execution_id
        raise KeyError(f"deployment {self.deployment_id} has no {lifecycle_event} hook")

    def info(self) -> dict[str, Any]:
        """``deploymentInfo`` as GetDeployment answers it."""
        info: dict[str, Any] = {
            "applicationName": self.application,
            "deploymentGroupName": self.group,
            "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
            "deploymentId": self.deployment_id,
            "status": self.status,
            "computePlatform": "Lambda",
            "createTime": self.created,
            "creator": "user",
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {
                    "content": self.appspec,
                    "sha256": hashlib.sha256(self.appspec.encode()).hexdigest(),
                },
            },
        }
        if self.description:
            info["description"] = self.description
        if self.error:
            info["errorInformation"] = {"code": "HOOK_EXECUTION_FAILURE", "message": self.error}
        if self.completed is not None:
            info["completeTime"] = self.completed
        return info

    @property
    def target_id(self) -> str:
        """The deployment target's id, as CodeDeploy names a Lambda target: ``function:alias``."""
        return f"{self.function}:{self.alias}"

    def lambda_target(self) -> dict[str, Any]:
        """``deploymentTarget`` as GetDeploymentTarget answers it (one Lambda target per deployment)."""
        events = []
        for name in HOOK_EVENTS:
            run = next((r for r in self.executions.values() if r.lifecycle_event == name), None)
            event: dict[str, Any] = {"lifecycleEventName": name, "status": "Skipped" if run is None else run.status}
            if run is not None and run.started is not None:
                event["startTime"] = run.started
            if run is not None and run.ended is not None:
                event["endTime"] = run.ended
            if run is not None and run.diagnostics:
                event["diagnostics"] = {"errorCode": "ScriptFailed", "message": run.diagnostics}
            events.append(event)
        status = {"Created": "Pending", "InProgress": "InProgress"}.get(self.status, self.status)
        return {
            "deploymentTargetType": "LambdaTarget",
            "lambdaTarget": {
                "deploymentId": self.deployment_id,
                "targetId": self.target_id,
                "targetArn": self.function,
                "status": status,
                "lastUpdatedAt": self.completed or self.created,
                "lifecycleEvents": events,
                "lambdaFunctionInfo": {
                    "functionName": self.function,
                    "functionAlias": self.alias,
                    "currentVersion": self.current_version,
                    "targetVersion": self.target_version,
                    "targetVersionWeight": 1.0 if self.status == "Succeeded" else 0.0,
                },
            },
        }


@dataclass(frozen=True)
class StatusCall:
    """One ``PutLifecycleEventHookExecutionStatus`` call and its answer (``ok`` or an error code)."""

    deployment_id: str | None
    execution_id: str | None
    status: str | None
    answer: str
    protocol: str
    at: float


def new_deployment_id() -> str:
    """A CodeDeploy-shaped deployment id, ``d-`` and nine upper-case letters or digits."""
    return "d-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(9))


def render_appspec(
    function: str, alias: str, current_version: str, target_version: str, hooks: Mapping[str, str], fmt: str
) -> str:
    """A Lambda AppSpec in JSON (as CloudFormation writes it) or YAML (as people write it)."""
    if fmt == "json":
        document = {
            "version": 0.0,
            "Resources": [
                {
                    function: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function,
                            "Alias": alias,
                            "CurrentVersion": current_version,
                            "TargetVersion": target_version,
                        },
                    }
                }
            ],
            "Hooks": [{event: name} for event, name in hooks.items()],
        }
        return json.dumps(document)
    if fmt != "yaml":
        raise ValueError("appspec format is 'json' or 'yaml'")
    lines = [
        "version: 0.0",
        "Resources:",
        f"  - {function}:",
        "      Type: AWS::Lambda::Function",
        "      Properties:",
        f'        Name: "{function}"',
        f'        Alias: "{alias}"',
        f'        CurrentVersion: "{current_version}"',
        f'        TargetVersion: "{target_version}"',
    ]
    if hooks:
        lines.append("Hooks:")
        lines.extend(f'  - {event}: "{name}"' for event, name in hooks.items())
    return "\n".join(lines) + "\n"
