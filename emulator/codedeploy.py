"""A local CodeDeploy for Lambda deployments, on 127.0.0.1, reached through ``AWS_ENDPOINT_URL_CODEDEPLOY``.

This module is the service (its operations and the lifecycle shim); the deployment model is in
``codedeploy_model``, the wire protocols in ``codedeploy_wire``, the HTTP server in ``codedeploy_http``.

moto does not implement ``PutLifecycleEventHookExecutionStatus``; this does, together with
``CreateDeployment`` (a Lambda AppSpec: the lifecycle below runs), ``GetDeployment``,
``ListDeployments``, ``ListDeploymentTargets`` and ``GetDeploymentTarget``, speaking both wire
protocols botocore may choose for CodeDeploy (Smithy RPC v2 CBOR, newer botocore; JSON 1.1, older
botocore such as Lambda's bundled one)::

    with LocalCodeDeploy() as codedeploy:
        os.environ["AWS_ENDPOINT_URL_CODEDEPLOY"] = codedeploy.url
        deployment = codedeploy.add_deployment("orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"})
        execution_id = deployment.execution_id("BeforeAllowTraffic")
        ...                                   # the hook reports through boto3
        codedeploy.status_calls               # every PutLifecycleEventHookExecutionStatus, with its answer

Behaviour of ``PutLifecycleEventHookExecutionStatus``: every call is recorded; the first report
of an execution is accepted, any later one answers ``LifecycleEventAlreadyCompletedException``;
``throttle(k)`` makes the next ``k`` calls answer ``ThrottlingException``; unknown deployments
and executions, and statuses other than Succeeded/Failed, get CodeDeploy's error codes.

The lifecycle shim (:meth:`LocalCodeDeploy.create_deployment`) plays CodeDeploy's part in a
Lambda deployment against any Lambda API endpoint (the local runner): it invokes the
``BeforeAllowTraffic`` hook asynchronously with ``{DeploymentId, LifecycleEventHookExecutionId}``,
waits (bounded) for the reported status, shifts the alias with ``UpdateAlias`` only on
Succeeded, then runs ``AfterAllowTraffic`` the same way (rolling the alias back on Failed).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from emulator.codedeploy_http import CodeDeployServer
from emulator.codedeploy_model import (
    HOOK_EVENTS,
    REPORTABLE,
    Deployment,
    LifecycleHookRun,
    StatusCall,
    new_deployment_id,
    render_appspec,
)
from emulator.codedeploy_wire import CodeDeployError


class LocalCodeDeploy:
    """The fake CodeDeploy: state, the HTTP server, and the lifecycle shim. Thread-safe."""

    def __init__(
        self,
        *,
        lambda_client: Any = None,
        hook_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lambda_client = lambda_client
        self.hook_timeout_s = hook_timeout_s
        self._clock = clock
        self._changed = threading.Condition()
        self._deployments: dict[str, Deployment] = {}
        self._executions: dict[str, tuple[str, LifecycleHookRun]] = {}
        self._throttle_remaining = 0
        self.status_calls: list[StatusCall] = []
        self.operations: list[str] = []
        self._server: CodeDeployServer | None = None
        self._lifecycles: list[threading.Thread] = []

    # -- lifecycle of the server -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        assert self._server is not None, "start the fake first"
        return self._server.url

    def env(self) -> dict[str, str]:
        """The variables that point boto3's CodeDeploy clients here."""
        return {"AWS_ENDPOINT_URL_CODEDEPLOY": self.url}

    def start(self) -> LocalCodeDeploy:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        server = CodeDeployServer(self)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving, close the socket, and wait (bounded) for running lifecycles."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        with self._changed:
            self._changed.notify_all()
        for thread in self._lifecycles:
            thread.join(timeout=5)

    def __enter__(self) -> LocalCodeDeploy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration and inspection --------------------------------------------------------

    def throttle(self, count: int) -> None:
        """Answer the next ``count`` status reports with ``ThrottlingException``."""
        with self._changed:
            self._throttle_remaining = count

    def add_deployment(
        self,
        function: str,
        alias: str,
        current_version: str,
        target_version: str,
        hooks: Mapping[str, str] | None = None,
        *,
        appspec_format: str = "yaml",
        appspec: str | None = None,
        deployment_id: str | None = None,
        application: str = "thermostat-local",
        group: str = "thermostat-local-group",
        description: str | None = None,
    ) -> Deployment:
        """Record a deployment with one pending execution per hook; nothing is invoked.

        ``appspec`` replaces the generated AppSpec text (to test what a reader makes of odd ones).
        """
        hooks = dict(hooks or {})
        unknown = sorted(set(hooks) - set(HOOK_EVENTS))
        if unknown:
            raise ValueError(f"Lambda deployments have hooks {HOOK_EVENTS}, not {unknown}")
        text = appspec or render_appspec(function, alias, current_version, target_version, hooks, appspec_format)
        deployment = Deployment(
            deployment_id=deployment_id or new_deployment_id(),
            function=function,
            alias=alias,
            current_version=str(current_version),
            target_version=str(target_version),
            hooks=hooks,
            appspec=text,
            application=application,
            group=group,
            description=description,
        )
        for event, hook_function in hooks.items():
            execution = LifecycleHookRun(
                execution_id=f"{uuid.uuid4()}-{secrets.token_hex(8)}",
                lifecycle_event=event,
                hook_function=hook_function,
            )
            deployment.executions[execution.execution_id] = execution
        with self._changed:
            self._deployments[deployment.deployment_id] = deployment
            for execution_id, execution in deployment.executions.items():
                self._executions[execution_id] = (deployment.deployment_id, execution)
        return deployment

    def deployment(self, deployment_id: str) -> Deployment:
        """A recorded deployment (KeyError when unknown)."""
        with self._changed:
            return self._deployments[deployment_id]

    def execution_status(self, execution_id: str) -> str:
        """The status of a hook execution (``Pending``, ``InProgress``, ``Succeeded``, ``Failed``)."""
        with self._changed:
            return self._executions[execution_id][1].status

    def reports(self, execution_id: str) -> list[StatusCall]:
        """The status calls made for one execution, throttled and refused ones included."""
        with self._changed:
            return [call for call in self.status_calls if call.execution_id == execution_id]

    # -- the API -----------------------------------------------------------------------------

    def dispatch(self, operation: str, params: dict[str, Any], protocol: str) -> dict[str, Any]:
        """Serve one API call (the HTTP layer's entry)."""
        with self._changed:
            self.operations.append(operation)
        if operation == "GetDeployment":
            return self._get_deployment(params)
        if operation == "CreateDeployment":
            return self._create_deployment_call(params)
        if operation == "ListDeploymentTargets":
            return {"targetIds": [self._known(params).target_id]}
        if operation == "GetDeploymentTarget":
            return self._get_target(params)
        if operation == "ListDeployments":
            return self._list_deployments(params)
        if operation == "PutLifecycleEventHookExecutionStatus":
            return self._put_status(params, protocol)
        raise CodeDeployError("UnknownOperationException", f"the local CodeDeploy does not serve {operation!r}")

    def _known(self, params: dict[str, Any]) -> Deployment:
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise CodeDeployError("DeploymentIdRequiredException", "Deployment ID is required.")
        with self._changed:
            deployment = self._deployments.get(str(deployment_id))
        if deployment is None:
            raise CodeDeployError(
                "DeploymentDoesNotExistException", f"The deployment {deployment_id} could not be found"
            )
        return deployment

    def _get_deployment(self, params: dict[str, Any]) -> dict[str, Any]:
        deployment = self._known(params)
        with self._changed:
            return {"deploymentInfo": deployment.info()}

    def _get_target(self, params: dict[str, Any]) -> dict[str, Any]:
        deployment = self._known(params)
        target_id = params.get("targetId")
        if not target_id:
            raise CodeDeployError("DeploymentTargetIdRequiredException", "A deployment target ID is required.")
        if target_id != deployment.target_id:
            raise CodeDeployError(
                "DeploymentTargetDoesNotExistException",
                f"The deployment target {target_id} of deployment {deployment.deployment_id} could not be found",
            )
        with self._changed:
            return {"deploymentTarget": deployment.lambda_target()}

    def _list_deployments(self, params: dict[str, Any]) -> dict[str, Any]:
        application, group = params.get("applicationName"), params.get("deploymentGroupName")
        with self._changed:
            ids = [
                d.deployment_id
                for d in self._deployments.values()
                if application in (None, d.application) and group in (None, d.group)
            ]
        return {"deployments": ids}

    def _create_deployment_call(self, params: dict[str, Any]) -> dict[str, Any]:
        """``CreateDeployment`` for a Lambda deployment group: the AppSpec says function, alias, versions, hooks."""
        application = params.get("applicationName")
        if not application:
            raise CodeDeployError(
                "ApplicationNameRequiredException",
                "The minimum number of required application names was not specified.",
            )
        group = params.get("deploymentGroupName")
        if not group:
            raise CodeDeployError(
                "DeploymentGroupNameRequiredException", "The deployment group name was not specified."
            )
        revision = params.get("revision")
        if not isinstance(revision, dict):
            raise CodeDeployError("RevisionRequiredException", "The revision ID was not specified.")
        from domain.errors import InvalidInput
        from infra.appspec import appspec_content, parse_appspec

        kind = revision.get("revisionType")
        if kind not in ("AppSpecContent", "String"):
            raise CodeDeployError(
                "InvalidRevisionException",
                f"the local CodeDeploy takes Lambda revisions of type AppSpecContent or String, not {kind!r}",
            )
        try:
            text = appspec_content({"revision": revision})
            spec = parse_appspec(text)
        except InvalidInput as exc:
            raise CodeDeployError("InvalidRevisionException", f"The AppSpec is not valid: {exc}") from exc
        missing = [
            name
            for name, value in (
                ("Alias", spec.alias),
                ("CurrentVersion", spec.current_version),
                ("TargetVersion", spec.target_version),
            )
            if not value
        ]
        if missing:
            raise CodeDeployError(
                "InvalidRevisionException", f"The AppSpec's Lambda resource has no {', '.join(missing)}"
            )
        unknown = sorted(set(spec.hooks) - set(HOOK_EVENTS))
        if unknown:
            raise CodeDeployError(
                "InvalidRevisionException",
                f"Lambda deployments have lifecycle hooks {list(HOOK_EVENTS)}, not {unknown}",
            )
        assert spec.alias is not None
        assert spec.current_version is not None
        assert spec.target_version is not None
        deployment_id = self.create_deployment(
            spec.function,
            spec.alias,
            spec.current_version,
            spec.target_version,
            spec.hooks,
            appspec=text,
            application=str(application),
            group=str(group),
            description=params.get("description"),
        )
        return {"deploymentId": deployment_id}

    def _put_status(self, params: dict[str, Any], protocol: str) -> dict[str, Any]:
        deployment_id = params.get("deploymentId")
        execution_id = params.get("lifecycleEventHookExecutionId")
        status = params.get("status")
        with self._changed:

            def record(answer: str) -> None:
                self.status_calls.append(
                    StatusCall(deployment_id, execution_id, status, answer, protocol, self._clock())
                )
                self._changed.notify_all()

            if self._throttle_remaining > 0:
                self._throttle_remaining -= 1
                record("ThrottlingException")
                raise CodeDeployError("ThrottlingException", "Rate exceeded")
            problem = self._status_problem(deployment_id, execution_id, status)
            if problem is not None:
                record(problem.code)
                raise problem
            _, execution = self._executions[str(execution_id)]
            execution.status = str(status)
            record("ok")
            return {"lifecycleEventHookExecutionId": execution_id}

    def _status_problem(self, deployment_id: Any, execution_id: Any, status: Any) -> CodeDeployError | None:
        if not deployment_id:
            return CodeDeployError("DeploymentIdRequiredException", "Deployment ID is required.")
        deployment = self._deployments.get(str(deployment_id))
        if deployment is None:
            return CodeDeployError(
                "DeploymentDoesNotExistException", f"The deployment {deployment_id} could not be found"
            )
        entry = self._executions.get(str(execution_id)) if execution_id else None
        if entry is None or entry[0] != deployment.deployment_id:
            return CodeDeployError(
                "InvalidLifecycleEventHookExecutionIdException",
                f"Lifecycle event hook execution ID {execution_id} is not valid for deployment {deployment_id}",
            )
        if status not in REPORTABLE:
            return CodeDeployError(
                "InvalidLifecycleEventHookExecutionStatusException",
                f"Lifecycle event hook execution status {status!r} is not valid: use Succeeded or Failed",
            )
        if entry[1].reported:
            return CodeDeployError(
                "LifecycleEventAlreadyCompletedException",
                f"The lifecycle event hook execution {execution_id} has already completed",
            )
        return None

    # -- the lifecycle shim ------------------------------------------------------------------

    @property
    def lambda_client(self) -> Any:
        """The Lambda client the shim invokes hooks and shifts aliases with (built at first use)."""
        if self._lambda_client is None:
            from infra import aws

            self._lambda_client = aws.client("lambda", max_attempts=2)
        return self._lambda_client

    def create_deployment(
        self,
        function: str,
        alias: str,
        current_version: str,
        target_version: str,
        hooks: Mapping[str, str] | None = None,
        *,
        appspec_format: str = "yaml",
        appspec: str | None = None,
        application: str = "thermostat-local",
        group: str = "thermostat-local-group",
        description: str | None = None,
    ) -> str:
        """Start a Lambda deployment as CodeDeploy runs it; returns its id at once.

        In a background thread: ``BeforeAllowTraffic`` hook (async invoke, then wait for its
        report), ``UpdateAlias`` to ``target_version`` only if it Succeeded, ``AfterAllowTraffic``
        hook (alias rolled back to ``current_version`` if it Failed). Each wait is bounded by
        ``hook_timeout_s``; a hook that never reports fails the deployment. :meth:`wait` blocks
        until the deployment ends.
        """
        deployment = self.add_deployment(
            function,
            alias,
            current_version,
            target_version,
            hooks,
            appspec_format=appspec_format,
            appspec=appspec,
            application=application,
            group=group,
            description=description,
        )
        thread = threading.Thread(
            target=self._run_lifecycle, args=(deployment,), name=f"deploy-{deployment.deployment_id}", daemon=True
        )
        self._lifecycles.append(thread)
        with self._changed:
            deployment.status = "InProgress"
        thread.start()
        return deployment.deployment_id

    def wait(self, deployment_id: str, timeout_s: float = 120.0) -> Deployment:
        """Block until the deployment is Succeeded or Failed (or ``timeout_s`` passes)."""
        deadline = self._clock() + timeout_s
        with self._changed:
            deployment = self._deployments[deployment_id]
            while deployment.status not in ("Succeeded", "Failed"):
                left = deadline - self._clock()
                if left <= 0 or self._server is None:
                    break
                self._changed.wait(timeout=min(left, 0.5))
            return deployment

    def _finish(self, deployment: Deployment, status: str, error: str | None = None) -> None:
        with self._changed:
            deployment.status = status
            deployment.error = error
            deployment.completed = datetime.now(UTC)
            self._changed.notify_all()

    def _run_lifecycle(self, deployment: Deployment) -> None:
        try:
            if not self._run_hook(deployment, "BeforeAllowTraffic"):
                return
            self._shift(deployment, deployment.target_version)
            if not self._run_hook(deployment, "AfterAllowTraffic"):
                self._shift(deployment, deployment.current_version)
                return
            self._finish(deployment, "Succeeded")
        except Exception as exc:  # noqa: BLE001 - a broken shim fails the deployment, visibly
            self._finish(deployment, "Failed", f"{type(exc).__name__}: {exc}")

    def _shift(self, deployment: Deployment, version: str) -> None:
        self.lambda_client.update_alias(
            FunctionName=deployment.function, Name=deployment.alias, FunctionVersion=version
        )

    def _run_hook(self, deployment: Deployment, event: str) -> bool:
        if event not in deployment.hooks:
            return True
        execution_id = deployment.execution_id(event)
        with self._changed:
            execution = self._executions[execution_id][1]
            execution.status = "InProgress"
            execution.started = datetime.now(UTC)
        self.lambda_client.invoke(
            FunctionName=deployment.hooks[event],
            InvocationType="Event",
            Payload=json.dumps(
                {"DeploymentId": deployment.deployment_id, "LifecycleEventHookExecutionId": execution_id}
            ).encode(),
        )
        deadline = self._clock() + self.hook_timeout_s
        with self._changed:
            while not execution.reported:
                left = deadline - self._clock()
                if left <= 0 or self._server is None:
                    break
                self._changed.wait(timeout=min(left, 0.5))
            status = execution.status
            execution.ended = datetime.now(UTC)
            if not execution.reported:
                # CodeDeploy marks the lifecycle event Failed when the hook never reports in time.
                execution.status = "Failed"
                execution.diagnostics = f"no status reported within {self.hook_timeout_s:g} s"
        if status == "Succeeded":
            return True
        why = f"{event} hook {deployment.hooks[event]} " + (
            "reported Failed" if status == "Failed" else f"did not report within {self.hook_timeout_s:g}s"
        )
        self._finish(deployment, "Failed", why)
        return False

    def deployments(self) -> Iterator[Deployment]:
        """Every recorded deployment."""
        with self._changed:
            return iter(list(self._deployments.values()))
