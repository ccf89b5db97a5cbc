"""A local CodeDeploy for Lambda deployments, on 127.0.0.1, reached through ``AWS_ENDPOINT_URL_CODEDEPLOY``.

moto does not implement ``PutLifecycleEventHookExecutionStatus``; this does, together with
``GetDeployment``, speaking both wire protocols botocore may choose for CodeDeploy (Smithy RPC v2
CBOR, newer botocore; JSON 1.1, older botocore such as Lambda's bundled one)::

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

import hashlib
import json
import secrets
import string
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

TARGET_PREFIX: Final = "CodeDeploy_20141006"
RPC_PATH_PREFIX: Final = f"/service/{TARGET_PREFIX}/operation/"
HOOK_EVENTS: Final = ("BeforeAllowTraffic", "AfterAllowTraffic")
REPORTABLE: Final = ("Succeeded", "Failed")
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits


# --------------------------------------------------------------------------- CBOR (RFC 8949 subset)


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([(major << 5) | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([(major << 5) | info]) + value.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def cbor_encode(value: Any) -> bytes:
    """Encode JSON-like values (plus bytes and datetimes as tag 1) as definite-length CBOR."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, bytes | bytearray):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, datetime):
        return b"\xc1" + cbor_encode(value.timestamp())
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(cbor_encode(item) for item in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor_encode(str(k)) + cbor_encode(v) for k, v in value.items())
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        chunk = self.data[self.position : self.position + count]
        if len(chunk) != count:
            raise ValueError("truncated CBOR")
        self.position += count
        return chunk

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise ValueError(f"bad CBOR additional info {info}")
        return int.from_bytes(self.take(sizes[info]), "big")

    def at_break(self) -> bool:
        if self.data[self.position : self.position + 1] == b"\xff":
            self.position += 1
            return True
        return False

    def item(self) -> Any:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 0:
            return self.argument(info)
        if major == 1:
            return -1 - self.argument(info)
        if major in (2, 3):
            if info == 31:
                chunks = []
                while not self.at_break():
                    chunk = self.item()
                    chunks.append(chunk.encode() if isinstance(chunk, str) else chunk)
                raw = b"".join(chunks)
            else:
                raw = self.take(self.argument(info))
            return raw.decode() if major == 3 else raw
        if major == 4:
            if info == 31:
                items = []
                while not self.at_break():
                    items.append(self.item())
                return items
            return [self.item() for _ in range(self.argument(info))]
        if major == 5:
            result: dict[Any, Any] = {}
            if info == 31:
                while not self.at_break():
                    key = self.item()
                    result[key] = self.item()
            else:
                for _ in range(self.argument(info)):
                    key = self.item()
                    result[key] = self.item()
            return result
        if major == 6:
            self.argument(info)  # tag 1 (epoch time) is the only one botocore sends: keep the number
            return self.item()
        simple = {20: False, 21: True, 22: None, 23: None}
        if info in simple:
            return simple[info]
        formats = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}
        if info in formats:
            fmt, size = formats[info]
            return struct.unpack(fmt, self.take(size))[0]
        raise ValueError(f"unsupported CBOR simple value {info}")


def cbor_decode(data: bytes) -> Any:
    """Decode one CBOR data item (definite or indefinite lengths)."""
    reader = _Reader(data)
    value = reader.item()
    if reader.position != len(data):
        raise ValueError("trailing bytes after the CBOR item")
    return value


# --------------------------------------------------------------------------- state


class CodeDeployError(Exception):
    """An error answered in CodeDeploy's wire format."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class LifecycleHookRun:
    """One lifecycle hook execution and what was reported for it."""

    execution_id: str
    lifecycle_event: str
    hook_function: str
    status: str = "Pending"  # Pending → InProgress → Succeeded | Failed (reported)

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
        if self.error:
            info["errorInformation"] = {"code": "HOOK_EXECUTION_FAILURE", "message": self.error}
        return info


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


# --------------------------------------------------------------------------- the HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    service: LocalCodeDeploy


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded calls, not the access log."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(RPC_PATH_PREFIX):
            operation = self.path[len(RPC_PATH_PREFIX) :].split("?", 1)[0]
            protocol = "rpc-v2-cbor"
        else:
            target = self.headers.get("X-Amz-Target", "")
            operation = target.split(".", 1)[1] if target.startswith(TARGET_PREFIX + ".") else ""
            protocol = "json"
        try:
            if protocol == "rpc-v2-cbor":
                params = cbor_decode(body) if body else {}
            else:
                params = json.loads(body) if body else {}
            if not isinstance(params, dict):
                raise CodeDeployError("SerializationException", "the request body must be an object")
            status, answer = 200, self.server.service.dispatch(operation, params, protocol)
        except CodeDeployError as exc:
            status, answer = exc.status, {"__type": exc.code, "message": exc.message}
        except (ValueError, UnicodeDecodeError) as exc:
            status, answer = 400, {"__type": "SerializationException", "message": str(exc)}
        self._answer(status, answer, protocol)

    def _answer(self, status: int, answer: dict[str, Any], protocol: str) -> None:
        if protocol == "rpc-v2-cbor":
            payload = cbor_encode(answer)
            content_type = "application/cbor"
        else:
            payload = json.dumps(answer, default=_json_default).encode()
            content_type = "application/x-amz-json-1.1"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if protocol == "rpc-v2-cbor":
            self.send_header("smithy-protocol", "rpc-v2-cbor")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --------------------------------------------------------------------------- the service


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lifecycles: list[threading.Thread] = []

    # -- lifecycle of the server -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """The variables that point boto3's CodeDeploy clients here."""
        return {"AWS_ENDPOINT_URL_CODEDEPLOY": self.url}

    def start(self) -> LocalCodeDeploy:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.service = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-codedeploy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket, and wait (bounded) for running lifecycles."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
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
        if operation == "PutLifecycleEventHookExecutionStatus":
            return self._put_status(params, protocol)
        raise CodeDeployError("UnknownOperationException", f"the local CodeDeploy does not serve {operation!r}")

    def _get_deployment(self, params: dict[str, Any]) -> dict[str, Any]:
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise CodeDeployError("DeploymentIdRequiredException", "Deployment ID is required.")
        with self._changed:
            deployment = self._deployments.get(str(deployment_id))
            if deployment is None:
                raise CodeDeployError(
                    "DeploymentDoesNotExistException", f"The deployment {deployment_id} could not be found"
                )
            return {"deploymentInfo": deployment.info()}

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
    ) -> str:
        """Start a Lambda deployment as CodeDeploy runs it; returns its id at once.

        In a background thread: ``BeforeAllowTraffic`` hook (async invoke, then wait for its
        report), ``UpdateAlias`` to ``target_version`` only if it Succeeded, ``AfterAllowTraffic``
        hook (alias rolled back to ``current_version`` if it Failed). Each wait is bounded by
        ``hook_timeout_s``; a hook that never reports fails the deployment. :meth:`wait` blocks
        until the deployment ends.
        """
        deployment = self.add_deployment(
            function, alias, current_version, target_version, hooks, appspec_format=appspec_format
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
        if status == "Succeeded":
            return True
        why = f"{event} hook {deployment.hooks[event]} " + (
            "reported Failed" if status == "Failed" else f"did not report within {self.hook_timeout_s:.0f}s"
        )
        self._finish(deployment, "Failed", why)
        return False

    def deployments(self) -> Iterator[Deployment]:
        """Every recorded deployment."""
        with self._changed:
            return iter(list(self._deployments.values()))
