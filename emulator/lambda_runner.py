"""The local Lambda runner: an honest local Lambda, with no Docker and no AWS account.

It serves the Lambda HTTP API on 127.0.0.1, so an unchanged boto3 ``lambda`` client works
against it (``endpoint_url=runner.url``, or ``AWS_ENDPOINT_URL_LAMBDA``). Each function has a
pool of execution environments; each environment is a worker process that imports the handler
once (a cold start) and then serves invocations one at a time::

    from emulator.lambda_runner import FunctionSpec, LambdaRunner

    with LambdaRunner(idle_timeout_s=60) as runner:          # listening on runner.url
        runner.add_function(FunctionSpec(name="echo", handler="tests.functions.echo.handler",
                                         code_paths=[repo_root], timeout_s=3))
        version = runner.publish_version("echo")             # "1"
        runner.create_alias("echo", "live", version)
        runner.set_provisioned_concurrency("echo", "live", 2) # pre-starts 2 environments
        lam = boto3.client("lambda", endpoint_url=runner.url)
        lam.invoke(FunctionName="echo", Qualifier="live", Payload=b"{}")
        runner.environments("echo")                          # pids, states, start kinds
    # every worker process is gone here

What Lambda does and this runner does too: ``AWS_LAMBDA_*`` variables (including
``AWS_LAMBDA_INITIALIZATION_TYPE``), reuse of idle environments (most recent first), reaping
after an idle timeout, reserved and account concurrency (429 ``TooManyRequestsException`` with
its ``Reason``), versions and aliases (with weighted routing), provisioned concurrency,
``FunctionError: Unhandled`` with Lambda's error document, timeouts that kill the worker,
``LogType=Tail``. What it does not: memory limits are reported, not enforced; code is read from
disk when an environment starts (a version pins configuration, not file contents); ``Event``
invocations run once, without Lambda's retries; IAM is not checked.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from domain.errors import Unavailable
from emulator.runner_env import ExecutionEnvironment, LogSink, WorkerReply
from emulator.runner_model import (
    DEFAULT_ACCOUNT,
    LATEST,
    MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    Alias,
    FunctionNotFound,
    FunctionSpec,
    InvalidParameter,
    InvalidRequestContent,
    ProvisionedConfigNotFound,
    RequestTooLarge,
    ResourceConflict,
    RunnerError,
    Throttled,
    VersionConfig,
    function_arn,
    merge_qualifier,
    parse_function_ref,
)
from emulator.runner_pool import EnvironmentPool, Lease, PooledEnvironment, matching
from emulator.runner_registry import Registry

__all__ = [
    "LATEST",
    "Alias",
    "FunctionNotFound",
    "FunctionSpec",
    "InvalidParameter",
    "InvalidRequestContent",
    "InvokeResult",
    "LambdaRunner",
    "LogSink",
    "ProvisionedConfigNotFound",
    "RequestTooLarge",
    "ResourceConflict",
    "RunnerError",
    "Throttled",
]

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
INVOCATION_TYPES: tuple[str, ...] = ("RequestResponse", "Event", "DryRun")
LOG_TAIL_BYTES = 4096
_ASYNC_THROTTLE_RETRIES = 8
_REAPER_MAX_INTERVAL_S = 1.0


@dataclass(frozen=True)
class InvokeResult:
    """What one invocation answered, as the HTTP layer serves it.

    ``payload`` is the raw JSON the function returned (or Lambda's error document when
    ``function_error`` is ``"Unhandled"``); ``log_tail`` is the last 4 KB of the invocation's log
    (``START`` … ``REPORT``), as text; ``cold`` is True when the invocation started its environment.
    """

    status_code: int
    payload: bytes = b""
    executed_version: str | None = None
    function_error: str | None = None
    log_tail: str = ""
    request_id: str = ""
    environment_id: str | None = None
    cold: bool = False
    duration_ms: float = 0.0
    init_ms: float | None = None

    def json(self) -> Any:
        """The payload parsed as JSON (None for an empty payload)."""
        return json.loads(self.payload) if self.payload else None

    @property
    def log_result(self) -> str:
        """``X-Amz-Log-Result``: the tail, base64-encoded."""
        return base64.b64encode(self.log_tail.encode()).decode()


def _tail(lines: list[str]) -> str:
    raw = ("\n".join(lines) + "\n").encode()
    return raw[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


class LambdaRunner:
    """A local Lambda service: functions, versions, aliases, environments, and the HTTP API.

    Every public method is thread-safe. Errors are :class:`RunnerError` subclasses, which are
    also ``domain.errors`` (``FunctionNotFound`` is a ``NotFound``, ``Throttled`` an
    ``Unavailable``, ``InvalidParameter`` an ``InvalidInput``…).

    ``log_sink(function, version, line)`` receives every line a worker prints and the runner's
    own ``START``/``END``/``REPORT`` lines, from many threads; it must not block for long.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout_s: float = 300.0,
        account_concurrency: int = 100,
        log_sink: LogSink | None = None,
        *,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT,
        init_timeout_s: float = 10.0,
        max_environments: int | None = None,
        max_connections: int = 256,
        async_workers: int = 8,
        async_queue: int = 1000,
        python: str | None = None,
        parent_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if idle_timeout_s <= 0 or account_concurrency < 1 or init_timeout_s <= 0:
            raise InvalidParameter("idle_timeout_s and init_timeout_s must be > 0, account_concurrency >= 1")
        self.host = host
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = account_id
        self.log_sink = log_sink
        self._requested_port = port
        self._python = python
        self._parent_env = dict(parent_env if parent_env is not None else os.environ)
        self._clock = clock
        self._max_connections = max_connections
        self._async_slots = threading.BoundedSemaphore(async_queue)
        self._async_workers = async_workers
        self.registry = Registry(region=self.region, account=account_id, rng=rng)
        self.pool = EnvironmentPool(
            self._spawn,
            clock=clock,
            idle_timeout_s=idle_timeout_s,
            account_concurrency=account_concurrency,
            max_environments=max_environments or 2 * account_concurrency,
            init_timeout_s=init_timeout_s,
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._executor: ThreadPoolExecutor | None = None
        self._started = False
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LambdaRunner:
        """Start listening (returns once the socket accepts connections) and the idle reaper."""
        from emulator.runner_http import LambdaHTTPServer

        with self._lock:
            if self._stopped:
                raise Unavailable("this runner was stopped; build a new one")
            if self._started:
                return self
            self._server = LambdaHTTPServer(
                (self.host, self._requested_port), self, max_connections=self._max_connections
            )
            self._executor = ThreadPoolExecutor(max_workers=self._async_workers, thread_name_prefix="lambda-async")
            serve = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="lambda-runner-http", daemon=True
            )
            reaper = threading.Thread(target=self._reap_loop, name="lambda-runner-reaper", daemon=True)
            self._threads = [serve, reaper]
            for thread in self._threads:
                thread.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop serving and kill every worker process (busy ones too). Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            server, executor = self._server, self._executor
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.pool.close()
        for thread in self._threads:
            thread.join(timeout=5.0)

    def __enter__(self) -> LambdaRunner:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started (give it to boto3 as ``endpoint_url``)."""
        if self._server is None:
            raise Unavailable("the runner is not started: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The port the runner listens on."""
        return int(self._server.server_address[1]) if self._server is not None else self._requested_port

    def _reap_loop(self) -> None:
        interval = min(_REAPER_MAX_INTERVAL_S, max(0.02, self.pool.idle_timeout_s / 4))
        while not self._stopping.wait(interval):
            self.pool.reap()

    def _spawn(self, config: VersionConfig, init_type: str, provisioned: bool) -> PooledEnvironment:
        return ExecutionEnvironment(
            config,
            init_type=init_type,
            provisioned=provisioned,
            region=self.region,
            parent_env=self._parent_env,
            log_sink=self.log_sink,
            python=self._python,
            clock=self._clock,
        )

    # -- functions -------------------------------------------------------------------------------

    def add_function(self, spec: FunctionSpec | Mapping[str, Any]) -> None:
        """Register a function (``ResourceConflict`` if the name is taken)."""
        config = self.registry.add(spec)
        if config.spec.reserved_concurrency is not None:
            self.registry.set_reserved(config.function, config.spec.reserved_concurrency)

    def update_function(self, name: str, **changes: Any) -> None:
        """Change ``$LATEST`` (``handler``, ``environment``, ``timeout_s``, …); its environments are replaced.

        ``reserved_concurrency`` and ``tags`` are function-level and apply at once.
        """
        before = self.registry.function(name).latest
        after = self.registry.update(name, changes)
        if after.code_sha256 != before.code_sha256:
            self.pool.retire(lambda env: env.config.function == name and env.config.version == LATEST)

    def functions(self) -> list[str]:
        """Every function's name."""
        return self.registry.names()

    def publish_version(self, name: str, description: str | None = None) -> str:
        """Snapshot ``$LATEST`` as a new version and return its number ("1", "2", …).

        As in Lambda, when nothing changed since the last published version, that version is returned.
        """
        return self.registry.publish(name, description).version

    def create_alias(
        self,
        name: str,
        alias: str,
        version: str,
        description: str = "",
        weights: Mapping[str, float] | None = None,
    ) -> Alias:
        """Create ``alias`` → ``version``; ``weights`` routes a share of invocations to other versions."""
        return self.registry.create_alias(name, alias, version, description, weights)

    def update_alias(
        self,
        name: str,
        alias: str,
        version: str | None = None,
        description: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Alias:
        """Repoint ``alias``; provisioned environments on it follow the alias to its new version."""
        record = self.registry.update_alias(name, alias, version, description, weights)
        if alias in self.registry.function(name).provisioned:
            self._reconcile_provisioned(name)
        return record

    def delete_alias(self, name: str, alias: str) -> None:
        """Delete ``alias`` and any provisioned concurrency on it."""
        had_provisioned = alias in self.registry.function(name).provisioned
        self.registry.delete_alias(name, alias)
        if had_provisioned:
            self._reconcile_provisioned(name)

    def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        """Cap ``name``'s in-flight invocations (``None`` removes the cap; 0 throttles everything)."""
        self.registry.set_reserved(name, value)

    def set_provisioned_concurrency(
        self, name: str, qualifier: str, count: int, *, wait: bool = True
    ) -> dict[str, Any]:
        """Keep ``count`` pre-started environments for ``qualifier`` (an alias or a version; 0 removes).

        With ``wait`` (the default) returns when they are ready and raises ``Unavailable`` with the
        init error if one failed to start; otherwise starts them in the background, as Lambda's
        ``PutProvisionedConcurrencyConfig`` does (poll :meth:`provisioned_status`).
        """
        if count > self.pool.account_concurrency:
            raise InvalidParameter(
                f"Requested Provisioned Concurrency ({count}) exceeds the account's concurrency "
                f"({self.pool.account_concurrency})."
            )
        self.registry.set_provisioned(name, qualifier, count)
        if not wait:
            threading.Thread(
                target=self._reconcile_provisioned, args=(name,), name="lambda-runner-provision", daemon=True
            ).start()
            return self.provisioned_status(name, qualifier) if count else {"Status": "DELETED"}
        replies = self._reconcile_provisioned(name)
        failed = [reply for reply in replies if not reply.ok]
        if failed:
            error = failed[0].error or {}
            raise Unavailable(
                f"provisioned environment for {name}:{qualifier} failed to start: "
                f"{error.get('errorType')}: {error.get('errorMessage')}"
            )
        return self.provisioned_status(name, qualifier) if count else {"Status": "DELETED"}

    def provisioned_status(self, name: str, qualifier: str) -> dict[str, Any]:
        """Lambda's provisioned-concurrency status document for ``qualifier``."""
        config = self.registry.provisioned(name, qualifier)
        version = self.registry.primary_version(name, qualifier)
        ready, starting, error = self.pool.provision_status(name, version)
        status = "READY" if ready >= config.requested else ("FAILED" if error and not starting else "IN_PROGRESS")
        document: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": min(ready, config.requested),
            "AllocatedProvisionedConcurrentExecutions": min(ready, config.requested),
            "Status": status,
            "LastModified": config.last_modified,
        }
        if status == "FAILED" and error is not None:
            document["StatusReason"] = f"{error.get('errorType')}: {error.get('errorMessage')}"
        return document

    def _reconcile_provisioned(self, name: str) -> list[WorkerReply]:
        try:
            counts = self.registry.provisioned_by_version(name)
            targets = {version: (self.registry.version(name, version), count) for version, count in counts.items()}
            return self.pool.provision(name, targets)
        except (FunctionNotFound, Unavailable):
            return []  # deleted or stopping meanwhile: nothing left to provision

    def environments(self, name: str | None = None, qualifier: str | None = None) -> list[dict[str, Any]]:
        """The live environments of ``name`` (all functions when None), optionally of one qualifier.

        Each is ``{environment_id, pid, function, version, state, init_type, provisioned,
        invocations, init_ms, log_stream, idle_s}``; ``state`` is starting/idle/busy, or
        stopping/dead while its process is being killed (an environment is listed until it is gone).
        """
        if name is None:
            return self.pool.describe()
        self.registry.function(name)
        versions = [self.registry.primary_version(name, qualifier)] if qualifier is not None else None
        return self.pool.describe(matching(name, versions))

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN a function (or one of its qualifiers) has on this runner."""
        return function_arn(self.region, self.account_id, name, qualifier)

    # -- invoking --------------------------------------------------------------------------------

    def invoke(
        self,
        function: str,
        payload: bytes | str | None = None,
        *,
        qualifier: str | None = None,
        invocation_type: str = "RequestResponse",
        client_context: Mapping[str, Any] | None = None,
        identity: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> InvokeResult:
        """Invoke ``function`` (name, partial or full ARN) as the Invoke API does.

        ``RequestResponse`` waits for the answer; ``Event`` returns 202 at once and runs in the
        background; ``DryRun`` checks the function and answers 204. Raises the errors Lambda
        answers with a non-200 status (not found, throttled, too large, not JSON).
        """
        if invocation_type not in INVOCATION_TYPES:
            raise InvalidParameter(
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(INVOCATION_TYPES)}]"
            )
        body = payload.encode() if isinstance(payload, str) else (payload or b"")
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if len(body) > limit:
            operation = "InvokeAsync" if invocation_type == "Event" else "InvokeFunction"
            raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the {operation} operation")
        text = body.decode("utf-8", "replace") if body else ""
        if text.strip():
            try:
                json.loads(text)
            except ValueError as exc:
                raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
        ref = parse_function_ref(function)
        qualifier = merge_qualifier(ref, qualifier)
        resolved = self.registry.resolve(ref.name, qualifier)
        if invocation_type == "DryRun":
            return InvokeResult(status_code=204, executed_version=resolved.executed_version)
        invoked_arn = self.function_arn(ref.name, qualifier)
        if invocation_type == "Event":
            self._submit_event(resolved.config, text, invoked_arn, client_context, identity, trace_id)
            return InvokeResult(status_code=202, executed_version=resolved.executed_version)
        return self._run(
            resolved.config, resolved.executed_version, text, invoked_arn, client_context, identity, trace_id
        )

    def _submit_event(
        self,
        config: VersionConfig,
        text: str,
        invoked_arn: str,
        client_context: Mapping[str, Any] | None,
        identity: Mapping[str, Any] | None,
        trace_id: str | None,
    ) -> None:
        executor = self._executor
        if executor is None or self._stopping.is_set():
            raise Unavailable("the runner is not started: call start() first")
        if not self._async_slots.acquire(blocking=False):
            raise Throttled(Throttled.ACCOUNT, "Too many queued asynchronous invocations.")

        def run() -> None:
            try:
                delay = 0.05
                for _ in range(_ASYNC_THROTTLE_RETRIES):
                    try:
                        self._run(config, config.version, text, invoked_arn, client_context, identity, trace_id)
                        return
                    except Throttled:
                        if self._stopping.wait(delay):
                            return
                        delay = min(1.0, delay * 2)
                    except (FunctionNotFound, Unavailable):
                        return
                self._platform_log(config, f"async invocation dropped after {_ASYNC_THROTTLE_RETRIES} throttles")
            finally:
                self._async_slots.release()

        try:
            executor.submit(run)
        except RuntimeError as exc:  # shut down between the check and the submit
            self._async_slots.release()
            raise Unavailable("the local Lambda runner is stopping") from exc

    def _platform_log(self, config: VersionConfig, line: str) -> None:
        if self.log_sink is not None:
            try:
                self.log_sink(config.function, config.version, line)
            except Exception:  # a broken sink must never break an invocation
                import logging

                logging.getLogger(__name__).exception("log sink failed for %s", config.function)

    def _run(
        self,
        config: VersionConfig,
        executed_version: str,
        text: str,
        invoked_arn: str,
        client_context: Mapping[str, Any] | None,
        identity: Mapping[str, Any] | None,
        trace_id: str | None,
    ) -> InvokeResult:
        request_id = str(uuid.uuid4())
        reserved = self.registry.function(config.function).reserved
        lease = self.pool.acquire(config, reserved)
        try:
            return self._run_on(
                lease, config, executed_version, request_id, text, invoked_arn, client_context, identity, trace_id
            )
        finally:
            self.pool.release(lease)

    def _run_on(
        self,
        lease: Lease,
        config: VersionConfig,
        executed_version: str,
        request_id: str,
        text: str,
        invoked_arn: str,
        client_context: Mapping[str, Any] | None,
        identity: Mapping[str, Any] | None,
        trace_id: str | None,
    ) -> InvokeResult:
        env = lease.environment
        assert isinstance(env, ExecutionEnvironment)
        lines: list[str] = []

        def platform(line: str) -> None:
            env.log(line)
            lines.append(line)

        init_ms: float | None = None
        if lease.init is not None:
            lines.extend(lease.init.log_lines)
            init_ms = env.init_ms
            if not lease.init.ok:
                error = {"errorMessage": "", "errorType": "Runtime.Unknown", "requestId": request_id, "stackTrace": []}
                error.update(lease.init.error or {})
                platform(
                    f"INIT_REPORT Init Duration: {init_ms or 0.0:.2f} ms\tPhase: invoke\tStatus: error\t"
                    f"Error Type: {error['errorType']}"
                )
                platform(f"START RequestId: {request_id} Version: {executed_version}")
                platform(f"END RequestId: {request_id}")
                platform(f"REPORT RequestId: {request_id}\tDuration: {init_ms or 0.0:.2f} ms\tStatus: error")
                return InvokeResult(
                    status_code=200,
                    payload=json.dumps(error).encode(),
                    executed_version=executed_version,
                    function_error="Unhandled",
                    log_tail=_tail(lines),
                    request_id=request_id,
                    environment_id=env.id,
                    cold=True,
                    init_ms=init_ms,
                )
        timeout_s = config.timeout_s
        platform(f"START RequestId: {request_id} Version: {executed_version}")
        started = self._clock()
        reply = env.invoke(
            {
                "type": "invoke",
                "request_id": request_id,
                "payload": text,
                "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
                "invoked_arn": invoked_arn,
                "trace_id": trace_id or _trace_id(),
                "client_context": dict(client_context) if client_context is not None else None,
                "identity": dict(identity) if identity is not None else None,
            },
            timeout_s,
        )
        duration_ms = (self._clock() - started) * 1000.0
        lines.extend(reply.log_lines)
        payload, function_error, status, extra = _outcome(reply, request_id, timeout_s)
        if extra is not None:
            platform(extra)
        used = f"\tMax Memory Used: {max(1, (reply.max_rss_kb or 0) // 1024)} MB" if reply.max_rss_kb else ""
        cold = f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""
        platform(f"END RequestId: {request_id}")
        platform(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: "
            f"{max(1, int(duration_ms + 0.999))} ms\tMemory Size: {config.spec.memory_mb} MB{used}{cold}{status}"
        )
        return InvokeResult(
            status_code=200,
            payload=payload,
            executed_version=executed_version,
            function_error=function_error,
            log_tail=_tail(lines),
            request_id=request_id,
            environment_id=env.id,
            cold=lease.cold,
            duration_ms=round(duration_ms, 3),
            init_ms=init_ms,
        )


def _outcome(reply: WorkerReply, request_id: str, timeout_s: float) -> tuple[bytes, str | None, str, str | None]:
    """``(payload, FunctionError, REPORT status suffix, extra log line)`` of one invocation's reply."""
    if reply.kind == "result":
        payload = (reply.payload or "null").encode()
        if len(payload) <= MAX_SYNC_PAYLOAD:
            return payload, None, "", None
        error = {
            "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload size "
            f"({MAX_SYNC_PAYLOAD} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        return json.dumps(error).encode(), "Unhandled", "", None
    if reply.kind == "error":
        return json.dumps(reply.error).encode(), "Unhandled", "", None
    if reply.kind == "timeout":
        message = f"Task timed out after {timeout_s:.2f} seconds"
        line = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {request_id} {message}"
        payload = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
        return payload, "Unhandled", "\tStatus: timeout", line
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reply.exit_status}"
    payload = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
    return payload, "Unhandled", "\tStatus: error\tError Type: Runtime.ExitError", message
