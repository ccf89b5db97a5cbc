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
its ``Reason``), versions and aliases (with weighted routing), provisioned concurrency, SnapStart
(a version's snapshot taken at publish, its environments restored from it by fork:
:mod:`emulator.runner_snapshot`), ``FunctionError: Unhandled`` with Lambda's error document,
timeouts that kill the worker, ``LogType=Tail``. What it does not: memory limits are reported, not
enforced; code is read from disk when an environment starts (a version pins configuration, not file contents); ``Event``
invocations run once, without Lambda's retries; IAM is not checked.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from domain.errors import Unavailable
from emulator.runner_env import SNAP_START, ExecutionEnvironment, LogSink, WorkerReply, send_to_sink
from emulator.runner_events import EventQueue
from emulator.runner_invoke import Context, InvokeResult, check_request, run_on
from emulator.runner_metrics import InFlight, LambdaMetrics
from emulator.runner_model import (
    DEFAULT_ACCOUNT,
    LATEST,
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
from emulator.runner_pool import EnvironmentPool, PooledEnvironment, matching
from emulator.runner_registry import Registry
from emulator.runner_snapshot import Snapshot

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

_REAPER_MAX_INTERVAL_S = 1.0


class LambdaRunner:
    """A local Lambda service: functions, versions, aliases, environments, and the HTTP API.

    Every public method is thread-safe. Errors are :class:`RunnerError` subclasses, which are
    also ``domain.errors`` (``FunctionNotFound`` is a ``NotFound``, ``Throttled`` an
    ``Unavailable``, ``InvalidParameter`` an ``InvalidInput``…).

    ``log_sink(function, version, line)`` receives every line a worker prints and the runner's
    own ``START``/``END``/``REPORT`` lines, from many threads; it must not block for long.
    ``metrics`` (:class:`emulator.runner_metrics.LambdaMetrics`) counts what Lambda puts into
    CloudWatch's ``AWS/Lambda`` namespace; the caller starts and stops its flusher.
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
        metrics: LambdaMetrics | None = None,
    ) -> None:
        if idle_timeout_s <= 0 or account_concurrency < 1 or init_timeout_s <= 0:
            raise InvalidParameter("idle_timeout_s and init_timeout_s must be > 0, account_concurrency >= 1")
        self.host = host
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = account_id
        self.log_sink = log_sink
        #: Where invocations, errors, throttles, durations and concurrency are counted (None: nowhere).
        self.metrics = metrics
        self._requested_port = port
        self._python = python
        self._parent_env = dict(parent_env if parent_env is not None else os.environ)
        self._clock = clock
        self._max_connections = max_connections
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
        #: SnapStart versions' snapshots, taken at publish: (function, version) -> snapshot
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._snapshot_lock = threading.Lock()
        self._stopping = threading.Event()
        # Event invocations run the version they resolved to, as their executed version.
        self.events = EventQueue(
            lambda config, text, context: self._run(config, config.version, text, context),
            workers=async_workers,
            capacity=async_queue,
            stopping=self._stopping,
            log=self._platform_log,
        )
        self._server: Any = None
        self._threads: list[threading.Thread] = []
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
            self.events.start()
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
            server = self._server
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        self.events.stop()
        self.pool.close()
        with self._snapshot_lock:
            snapshots = list(self._snapshots.values())
            self._snapshots.clear()
        for snapshot in snapshots:
            snapshot.close()
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
        snapshot = None
        if init_type == SNAP_START:
            with self._snapshot_lock:
                snapshot = self._snapshots.get((config.function, config.version))
        return ExecutionEnvironment(
            config,
            init_type=init_type,
            provisioned=provisioned,
            region=self.region,
            parent_env=self._parent_env,
            log_sink=self.log_sink,
            python=self._python,
            clock=self._clock,
            snapshot=snapshot,
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
        For a function with SnapStart (``FunctionSpec.snap_start``), the new version's snapshot is taken
        before this returns: its init phase and before-snapshot hooks run once, in a worker that every
        later environment of the version is restored (forked) from. A failed init does not fail the
        publication; every invocation of that version then answers the init error.
        """
        config = self.registry.publish(name, description)
        if config.spec.snap_start:
            self._take_snapshot(config)
        return config.version

    def _take_snapshot(self, config: VersionConfig) -> None:
        key = (config.function, config.version)
        with self._snapshot_lock:
            if key in self._snapshots or self._stopping.is_set():
                return
            snapshot = Snapshot(
                config,
                region=self.region,
                parent_env=self._parent_env,
                log_sink=self.log_sink,
                python=self._python,
                clock=self._clock,
            )
            self._snapshots[key] = snapshot
        snapshot.take(self.pool.init_timeout_s)
        if self._stopping.is_set():
            snapshot.close()

    def snapshots(self, name: str | None = None) -> list[dict[str, Any]]:
        """The SnapStart snapshots taken so far (of ``name``, or of every function)."""
        with self._snapshot_lock:
            chosen = [snap for (function, _), snap in self._snapshots.items() if name is None or function == name]
        return [snap.describe() for snap in chosen]

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
        invocations, init_ms, restored, restore_ms, log_stream, idle_s}``; ``state`` is starting/idle/busy, or
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
        text = check_request(invocation_type, payload)
        ref = parse_function_ref(function, self.account_id)
        qualifier = merge_qualifier(ref, qualifier)
        resolved = self.registry.resolve(ref.name, qualifier)
        if invocation_type == "DryRun":
            return InvokeResult(status_code=204, executed_version=resolved.executed_version)
        context = Context(self.function_arn(ref.name, qualifier), client_context, identity, trace_id)
        if invocation_type == "Event":
            self.events.submit(resolved.config, text, context)
            return InvokeResult(status_code=202, executed_version=resolved.executed_version)
        return self._run(resolved.config, resolved.executed_version, text, context)

    def _platform_log(self, config: VersionConfig, line: str) -> None:
        send_to_sink(self.log_sink, config.function, config.version, line)

    def _run(self, config: VersionConfig, executed_version: str, text: str, context: Context) -> InvokeResult:
        request_id = str(uuid.uuid4())
        reserved = self.registry.function(config.function).reserved
        metrics = self.metrics
        if metrics is None:
            lease = self.pool.acquire(config, reserved)
            try:
                return run_on(lease, config, executed_version, request_id, text, context, self._clock)
            finally:
                self.pool.release(lease)
        qualifier = _qualifier_of(context.invoked_arn)
        admitted: list[InFlight] = []
        try:
            # In flight from admission on: a cold start's init counts, as it does in Lambda.
            lease = self.pool.acquire(
                config, reserved, lambda: admitted.append(metrics.begin(config.function, qualifier, executed_version))
            )
        except Throttled:
            metrics.throttled(config.function, qualifier)
            raise
        except BaseException:
            for running in admitted:
                metrics.end(running, duration_ms=None, error=True)
            raise
        result: InvokeResult | None = None
        try:
            result = run_on(lease, config, executed_version, request_id, text, context, self._clock)
            return result
        finally:
            self.pool.release(lease)
            ran = result is not None and not (lease.init is not None and not lease.init.ok)
            for running in admitted:
                metrics.end(
                    running,
                    duration_ms=result.duration_ms if ran and result is not None else None,
                    error=result is None or result.function_error is not None,
                )


def _qualifier_of(invoked_arn: str) -> str | None:
    """The qualifier an invocation named (``arn:aws:lambda:R:A:function:NAME[:QUALIFIER]``), if any."""
    parts = invoked_arn.split(":")
    return parts[7] if len(parts) > 7 and parts[7] else None
