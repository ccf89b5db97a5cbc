"""One execution environment of the local runner: a worker process, its private pipes and its log.

A cold start is a new process (``emulator/_worker.py``) that imports the handler once; the
environment then serves one invocation at a time over two private pipes. Everything the worker
prints (stdout and stderr, merged as Lambda merges them) is its log: each line goes to the log
sink and into the tail of the invocation it belongs to. A timeout or a crash kills the whole
process group, so nothing a handler started survives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from emulator.runner_model import RUNTIME, VersionConfig
from emulator.worker_pipes import Channel, ChannelClosed, ChannelTimedOut, LogReader

#: Lambda's limit on the restore phase (after-restore hooks included): past it, SnapStartTimeoutException.
RESTORE_TIMEOUT_S = 10.0

WORKER_PATH = str(Path(__file__).with_name("_worker.py"))

LogSink = Callable[[str, str, str], object]
State = Literal["starting", "idle", "busy", "stopping", "dead"]

ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"

#: Parent variables a worker inherits (Lambda gives a function a clean environment; these keep
#: the local stack reachable and the interpreter sane).
PASSTHROUGH_PREFIXES = ("AWS_ENDPOINT_URL",)
PASSTHROUGH_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "SYSTEMROOT",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
        "COVERAGE_PROCESS_START",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    }
)
_REAP_WAIT_S = 5.0
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGINT: "interrupt",
}


def worker_environment(
    config: VersionConfig,
    *,
    init_type: str,
    log_stream: str,
    region: str,
    parent: Mapping[str, str],
) -> dict[str, str]:
    """The variables a worker starts with: Lambda's own, the passthrough ones, then the function's."""
    env = {
        name: value
        for name, value in parent.items()
        if name in PASSTHROUGH_NAMES or name.startswith(PASSTHROUGH_PREFIXES)
    }
    spec = config.spec
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": config.function,
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "LANG": parent.get("LANG", "en_US.UTF-8"),
        }
    )
    if init_type == SNAP_START:
        # "not available in Lambda SnapStart functions" (snapstart-monitoring.html): one snapshot
        # serves many environments, each with its own stream.
        del env["AWS_LAMBDA_LOG_GROUP_NAME"], env["AWS_LAMBDA_LOG_STREAM_NAME"]
    if spec.code_paths:
        env["LAMBDA_TASK_ROOT"] = spec.code_paths[0]
    env.update(spec.environment)
    return env


def send_to_sink(sink: LogSink | None, function: str, version: str, line: str) -> None:
    """Hand one log line to ``sink``; a broken sink is logged, and never breaks an invocation."""
    if sink is None:
        return
    try:
        sink(function, version, line)
    except Exception:
        import logging

        logging.getLogger(__name__).exception("log sink failed for %s", function)


@dataclass(frozen=True)
class WorkerReply:
    """How one phase (init or invocation) of a worker ended.

    ``kind`` is ``ready``/``result`` (success), ``error`` (the handler raised), ``init_error``,
    ``timeout`` (killed at the deadline) or ``exited`` (the process died on its own).
    """

    kind: Literal["ready", "result", "error", "init_error", "timeout", "exited"]
    payload: str | None = None
    error: dict[str, Any] | None = None
    max_rss_kb: int | None = None
    exit_status: str | None = None
    log_lines: tuple[str, ...] = ()
    #: A restore's after-restore hooks, as the restored worker timed them.
    restore_ms: float | None = None

    @property
    def ok(self) -> bool:
        """True when the phase succeeded."""
        return self.kind in ("ready", "result")


def init_timed_out(timeout_s: float, reader: LogReader) -> WorkerReply:
    """Lambda's ``Sandbox.Timedout`` for an init that outlived its ``timeout_s``, with what it logged."""
    return WorkerReply(
        "init_error",
        error={"errorType": "Sandbox.Timedout", "errorMessage": f"Init timed out after {timeout_s:.2f} seconds"},
        log_lines=reader.drain(),
    )


def init_exited(message: str, reader: LogReader, exit_status: str | None = None) -> WorkerReply:
    """Lambda's ``Runtime.ExitError`` for a worker that died during init."""
    return WorkerReply(
        "init_error",
        error={"errorType": "Runtime.ExitError", "errorMessage": message},
        exit_status=exit_status,
        log_lines=reader.drain(),
    )


def init_failed(message: Mapping[str, Any], reader: LogReader) -> WorkerReply:
    """The worker's own init error (its handler's import raised), with what it logged."""
    error = message.get("error") if isinstance(message.get("error"), dict) else None
    return WorkerReply("init_error", error=error, log_lines=reader.drain())


class RestoredProcess(Protocol):
    """The part of ``subprocess.Popen`` the environment uses, for a process forked from a snapshot."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None:
        """The exit code once ended, else None."""
        ...

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end (``subprocess.TimeoutExpired`` past ``timeout``)."""
        ...

    def kill(self) -> None:
        """SIGKILL it."""
        ...


@dataclass(frozen=True)
class Restored:
    """A process forked from a snapshot and the runner's ends of its pipes (``nonce``: its log marks)."""

    process: RestoredProcess
    channel: Channel
    log_fd: int
    nonce: str
    began: float


class SnapshotSource(Protocol):
    """What an environment restored from a SnapStart snapshot needs of it (``runner_snapshot.Snapshot``)."""

    error: dict[str, Any] | None

    def restore(self) -> Restored:
        """Fork a new environment (``ChannelClosed`` when the snapshot is gone)."""
        ...


class ExecutionEnvironment:
    """One worker process serving one function version, one invocation at a time.

    The pool decides when it is busy or idle; this class only runs it: :meth:`start` (the init
    phase), :meth:`invoke`, :meth:`kill`. Timing uses ``clock`` (monotonic seconds).
    """

    def __init__(
        self,
        config: VersionConfig,
        *,
        init_type: str,
        provisioned: bool,
        region: str,
        parent_env: Mapping[str, str],
        log_sink: LogSink | None,
        python: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        snapshot: SnapshotSource | None = None,
    ) -> None:
        self.config = config
        self.init_type = init_type
        self.provisioned = provisioned
        #: The SnapStart snapshot this environment is restored from (None: a process of its own).
        self.snapshot = snapshot
        #: Restored environments: the whole restore as the runner saw it, and the after-restore hooks' part.
        self.restore_ms: float | None = None
        self.billed_restore_ms: float | None = None
        self.id = uuid.uuid4().hex
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream = f"{today}/[{config.version}]{self.id}"
        self.state: State = "starting"
        self.invocations = 0
        self.init_ms: float | None = None
        self.clock = clock
        self.last_used = clock()
        self.retired = False
        self.pid: int | None = None
        self._region = region
        self._parent_env = parent_env
        self._log_sink = log_sink
        self._python = python or sys.executable
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | RestoredProcess | None = None
        self._channel: Channel | None = None
        self._reader: LogReader | None = None
        self._phase = 0
        self._in_call = False
        self._killed = False

    # -- logging ---------------------------------------------------------------------------------

    def log(self, line: str) -> None:
        """Send one line to the sink as this environment's (also used for the runner's platform lines)."""
        send_to_sink(self._log_sink, self.config.function, self.config.version, line)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, init_timeout_s: float) -> WorkerReply:
        """Spawn the worker and run its init phase (the handler's import), bounded by ``init_timeout_s``.

        An environment of a SnapStart snapshot is restored from it instead (:meth:`_restore`).
        """
        if self.snapshot is not None:
            return self._restore(self.snapshot, init_timeout_s)
        began = self.clock()
        nonce = uuid.uuid4().hex
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        spec = self.config.spec
        env = worker_environment(
            self.config,
            init_type=self.init_type,
            log_stream=self.log_stream,
            region=self._region,
            parent=self._parent_env,
        )
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own worker, run by the current interpreter
                [
                    self._python,
                    "-P",
                    WORKER_PATH,
                    str(request_read),
                    str(reply_write),
                    nonce,
                    json.dumps(spec.code_paths),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.code_paths[0] if spec.code_paths and Path(spec.code_paths[0]).is_dir() else None,
                pass_fds=(request_read, reply_write),
                start_new_session=True,  # its own process group: a kill takes the handler's children too
            )
        except OSError as exc:
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            self.state = "dead"
            return WorkerReply("init_error", error={"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)})
        finally:
            # The child holds its own copies now (or failed to start): ours would keep EOF away.
            for fd in (request_read, reply_write):
                try:
                    os.close(fd)
                except OSError:
                    pass
        assert proc.stdout is not None
        with self._lock:
            self._proc = proc
            self.pid = proc.pid
            self._channel = Channel(request_write, reply_read)
            self._reader = LogReader(os.dup(proc.stdout.fileno()), nonce, self.log)
            proc.stdout.close()
            self._in_call = True
        self._reader.start()
        reply = self._await_init(began + init_timeout_s, init_timeout_s)
        self.init_ms = round((self.clock() - began) * 1000.0, 3)
        self.last_used = self.clock()
        self._end_call()
        return reply  # still "starting" when ready: the pool decides whether it is busy or idle

    def _restore(self, snapshot: SnapshotSource, init_timeout_s: float) -> WorkerReply:
        """Fork this environment from ``snapshot`` and run the after-restore hooks (Lambda bounds them at 10 s)."""
        if snapshot.error is not None:
            self.state = "dead"
            return WorkerReply("init_error", error=dict(snapshot.error))
        try:
            restored = snapshot.restore()
        except ChannelClosed:
            self.state = "dead"
            return WorkerReply(
                "init_error",
                error={"errorType": "Runtime.ExitError", "errorMessage": "the version's snapshot is gone"},
            )
        with self._lock:
            self._proc = restored.process
            self.pid = restored.process.pid
            self._channel = restored.channel
            self._reader = LogReader(restored.log_fd, restored.nonce, self.log)
            self._in_call = True
        self._reader.start()
        timeout_s = min(init_timeout_s, RESTORE_TIMEOUT_S)
        reply = self._await_init(restored.began + timeout_s, timeout_s)
        self.restore_ms = round((self.clock() - restored.began) * 1000.0, 3)
        if reply.ok:
            self.billed_restore_ms = reply.restore_ms
        self.last_used = self.clock()
        self._end_call()
        return reply

    def _await_init(self, deadline: float, init_timeout_s: float) -> WorkerReply:
        channel, reader = self._channel, self._reader
        assert channel is not None
        assert reader is not None
        try:
            message = channel.receive(deadline)
        except ChannelTimedOut:
            self._terminate()
            return init_timed_out(init_timeout_s, reader)
        except ChannelClosed:
            status = self._terminate()
            return init_exited(f"Runtime exited with error: {status}", reader, status)
        self._phase = 1
        if message.get("type") == "ready":
            restore_ms = message.get("restore_ms")
            return WorkerReply(
                "ready",
                log_lines=reader.take(1),
                restore_ms=float(restore_ms) if isinstance(restore_ms, int | float) else None,
            )
        self._terminate()
        return init_failed(message, reader)

    def invoke(self, message: Mapping[str, Any], timeout_s: float) -> WorkerReply:
        """Run one invocation; past ``timeout_s`` the worker is killed and the reply is ``timeout``."""
        deadline = self.clock() + timeout_s
        with self._lock:
            channel, reader = self._channel, self._reader
            if channel is None or reader is None or self._killed:
                return WorkerReply("exited", exit_status="signal: killed")
            self._in_call = True
        try:
            channel.send(message, deadline)
            reply = channel.receive(deadline)
        except ChannelTimedOut:
            self._terminate()
            return WorkerReply("timeout", log_lines=reader.drain())
        except ChannelClosed:
            status = self._terminate()
            return WorkerReply("exited", exit_status=status, log_lines=reader.drain())
        finally:
            self._end_call()
        self._phase += 1
        self.invocations += 1
        rss = reply.get("max_rss_kb")
        lines = reader.take(self._phase)
        if reply.get("type") == "result":
            payload = reply.get("payload")
            return WorkerReply(
                "result",
                payload=payload if isinstance(payload, str) else "null",
                max_rss_kb=rss if isinstance(rss, int) else None,
                log_lines=lines,
            )
        error = reply.get("error")
        return WorkerReply(
            "error",
            error=error if isinstance(error, dict) else {"errorType": "Runtime.Unknown", "errorMessage": ""},
            max_rss_kb=rss if isinstance(rss, int) else None,
            log_lines=lines,
        )

    def kill(self) -> None:
        """Kill the process group and reap it; safe to call twice and from any thread."""
        self._terminate()
        with self._lock:
            if not self._in_call:
                self._release_fds()

    @property
    def alive(self) -> bool:
        """True while the worker process runs."""
        proc = self._proc
        return proc is not None and proc.poll() is None and not self._killed

    def describe(self) -> dict[str, Any]:
        """A plain dict for :meth:`LambdaRunner.environments`."""
        return {
            "environment_id": self.id,
            "pid": self.pid,
            "function": self.config.function,
            "version": self.config.version,
            "state": self.state,
            "init_type": self.init_type,
            "provisioned": self.provisioned,
            "invocations": self.invocations,
            "init_ms": self.init_ms,
            "restored": self.snapshot is not None,
            "restore_ms": self.restore_ms,
            "log_stream": self.log_stream,
            "idle_s": round(max(0.0, self.clock() - self.last_used), 3) if self.state == "idle" else 0.0,
        }

    # -- internals -------------------------------------------------------------------------------

    def _end_call(self) -> None:
        with self._lock:
            self._in_call = False
            if self._killed:
                self._release_fds()

    def _release_fds(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _terminate(self) -> str:
        """SIGKILL the worker's process group, reap it, and say how it ended (Lambda's wording)."""
        with self._lock:
            proc = self._proc
            self._killed = True
            self.state = "dead"
        if proc is None:
            return "signal: killed"
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            code = proc.wait(timeout=_REAP_WAIT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
            proc.kill()
            code = proc.wait()
        if code < 0:
            try:
                name = _SIGNAL_NAMES.get(signal.Signals(-code), signal.Signals(-code).name.lower())
            except ValueError:
                name = str(-code)
            return f"signal: {name}"
        return f"exit status {code}"
