"""SnapStart in the local runner: a version's snapshot, taken at publish, and the environments restored from it.

Lambda initialises a SnapStart version when it is published (the init phase and the
before-snapshot hooks, reported by an ``INIT_REPORT`` line), snapshots the microVM, and starts every
later on-demand environment of that version by restoring the snapshot and running the
after-restore hooks (``Restore Duration`` and ``Billed Restore Duration`` in the first ``REPORT``,
no ``Init Duration``): https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html.

Here the snapshot is a worker process (``emulator/_worker.py`` with a control socket) that ran the
init phase and the hooks of ``snapshot_restore_py`` and then waits; a restore is ``os.fork`` of
it, so each restored environment starts with the snapshot's memory exactly as a restore does —
the same module state, the same ``random`` state, the same ids made before the snapshot — which
is what makes the uniqueness hazards of real snapshots show up locally. The child gets its own
pipes (passed over the control socket), its own process group, and runs the after-restore hooks.

A forked environment is not the runner's child: :class:`ForkedProcess` learns how it ended from a
status pipe that the snapshot writes when it reaps it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emulator.runner_env import (
    SNAP_START,
    WORKER_PATH,
    LogSink,
    Restored,
    WorkerReply,
    init_exited,
    init_failed,
    init_timed_out,
    send_to_sink,
    worker_environment,
)
from emulator.runner_model import VersionConfig
from emulator.worker_pipes import Channel, ChannelClosed, ChannelTimedOut, LogReader

_CONTROL_TIMEOUT_S = 5.0
#: How long a restore waits for a snapshot still being taken (its init is bounded by the runner's init timeout).
_TAKE_WAIT_S = 120.0
_REAP_WAIT_S = 5.0


class ForkedProcess:
    """A restored environment's process, as much of ``subprocess.Popen`` as the runner uses.

    Its parent is the snapshot process, which writes the child's wait status (4 bytes) to
    ``status_fd`` when it reaps it; a snapshot that died first closes the pipe unwritten.
    """

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._status_fd = status_fd
        self._lock = threading.Lock()

    def _collect(self, timeout_s: float | None) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            if self._status_fd < 0:
                return None
            ready, _, _ = select.select([self._status_fd], [], [], timeout_s)
            if not ready:
                return None
            data = b""
            while len(data) < 4:
                chunk = os.read(self._status_fd, 4 - len(data))
                if not chunk:
                    break
                data += chunk
            os.close(self._status_fd)
            self._status_fd = -1
            if len(data) == 4:
                self.returncode = os.waitstatus_to_exitcode(int.from_bytes(data, "big", signed=True))
            else:
                self.returncode = -signal.SIGKILL  # its snapshot died without telling: it was killed with it
            return self.returncode

    def poll(self) -> int | None:
        """The exit code once the process ended (negative: the signal), else None."""
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end of the process (``TimeoutExpired`` after ``timeout`` seconds)."""
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        return code

    def kill(self) -> None:
        """SIGKILL its process group (and the process itself, should it not lead one yet)."""
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Snapshot:
    """One SnapStart version's snapshot: a worker that ran the init phase and the before-snapshot hooks.

    :meth:`take` runs the init (bounded by ``init_timeout_s``) and logs its ``INIT_REPORT``;
    :meth:`restore` forks a new environment from it; :meth:`close` kills it (restored environments
    are killed by their own environments, or kill themselves when their snapshot is gone).
    """

    def __init__(
        self,
        config: VersionConfig,
        *,
        region: str,
        parent_env: Mapping[str, str],
        log_sink: LogSink | None,
        python: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.id = uuid.uuid4().hex
        self.init_ms: float | None = None
        self.error: dict[str, Any] | None = None
        self._region = region
        self._parent_env = parent_env
        self._log_sink = log_sink
        self._python = python or sys.executable
        self._clock = clock
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._channel: Channel | None = None
        self._reader: LogReader | None = None
        #: Set once :meth:`take` ended (well or not): a restore asked for meanwhile waits for it.
        self._taken = threading.Event()

    def log(self, line: str) -> None:
        """One line of the version's log (the snapshot's init output and its ``INIT_REPORT``)."""
        send_to_sink(self._log_sink, self.config.function, self.config.version, line)

    @property
    def ready(self) -> bool:
        """True while restores can be made from it."""
        proc = self._proc
        return self._taken.is_set() and self.error is None and proc is not None and proc.poll() is None

    def take(self, init_timeout_s: float) -> WorkerReply:
        """Start the snapshot's worker and run its init phase and before-snapshot hooks."""
        try:
            return self._take(init_timeout_s)
        finally:
            self._taken.set()

    def _take(self, init_timeout_s: float) -> WorkerReply:
        began = self._clock()
        nonce = uuid.uuid4().hex
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = worker_environment(
            self.config, init_type=SNAP_START, log_stream="", region=self._region, parent=self._parent_env
        )
        spec = self.config.spec
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
                    str(theirs.fileno()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.code_paths[0] if spec.code_paths and Path(spec.code_paths[0]).is_dir() else None,
                pass_fds=(request_read, reply_write, theirs.fileno()),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (request_write, reply_read):
                os.close(fd)
            ours.close()
            self.error = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}
            return WorkerReply("init_error", error=self.error)
        finally:
            for fd in (request_read, reply_write):
                os.close(fd)
            theirs.close()
        assert proc.stdout is not None
        with self._lock:
            self._proc = proc
            self._control = ours
            self._channel = Channel(request_write, reply_read)
            self._reader = LogReader(os.dup(proc.stdout.fileno()), nonce, self.log)
            proc.stdout.close()
        self._reader.start()
        reply = self._await(self._channel, self._reader, began + init_timeout_s, init_timeout_s)
        self.init_ms = round((self._clock() - began) * 1000.0, 3)
        if reply.ok:
            self.log(f"INIT_REPORT Init Duration: {self.init_ms:.2f} ms\tPhase: init\tStatus: success")
        else:
            self.error = reply.error or {"errorType": "Runtime.Unknown", "errorMessage": ""}
            self.log(
                f"INIT_REPORT Init Duration: {self.init_ms:.2f} ms\tPhase: init\tStatus: error\t"
                f"Error Type: {self.error.get('errorType')}"
            )
            self.close()
        return reply

    def _await(self, channel: Channel, reader: LogReader, deadline: float, timeout_s: float) -> WorkerReply:
        try:
            message = channel.receive(deadline)
        except ChannelTimedOut:
            self.close()
            return init_timed_out(timeout_s, reader)
        except ChannelClosed:
            self.close()
            return init_exited("Runtime exited during the snapshot's init", reader)
        if message.get("type") == "ready":
            return WorkerReply("ready", log_lines=reader.take(1))
        return init_failed(message, reader)

    def restore(self) -> Restored:
        """Fork a new environment from the snapshot: its process, its pipes, the nonce of its log marks.

        Raises ``ChannelClosed`` when the snapshot is gone or failed. While the snapshot is still being
        taken (an invocation of the version during its publication), waits for it, bounded.
        """
        self._taken.wait(_TAKE_WAIT_S)
        began = self._clock()
        nonce = uuid.uuid4().hex
        with self._lock:
            control = self._control
            if control is None or self.error is not None:
                raise ChannelClosed
            request_read, request_write = os.pipe()
            reply_read, reply_write = os.pipe()
            log_read, log_write = os.pipe()
            status_read, status_write = os.pipe()
            theirs = (request_read, reply_write, log_write, status_write)
            try:
                control.settimeout(_CONTROL_TIMEOUT_S)
                socket.send_fds(control, [json.dumps({"type": "restore", "nonce": nonce}).encode()], list(theirs))
                answer = control.recv(4096)
            except OSError as exc:
                for fd in (request_write, reply_read, log_read, status_read):
                    os.close(fd)
                raise ChannelClosed from exc
            finally:
                for fd in theirs:
                    os.close(fd)
        if not answer:
            for fd in (request_write, reply_read, log_read, status_read):
                os.close(fd)
            raise ChannelClosed
        pid = int(json.loads(answer)["pid"])
        return Restored(ForkedProcess(pid, status_read), Channel(request_write, reply_read), log_read, nonce, began)

    def close(self) -> None:
        """Kill the snapshot's process (idempotent); restores already made keep running until killed."""
        with self._lock:
            proc, control, channel = self._proc, self._control, self._channel
            self._control = None
            self._channel = None
        if control is not None:
            control.close()
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=_REAP_WAIT_S)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
                proc.kill()
                proc.wait()
        if channel is not None:
            channel.close()

    def describe(self) -> dict[str, Any]:
        """A plain description (for tests and ``environments``)."""
        proc = self._proc
        return {
            "snapshot_id": self.id,
            "function": self.config.function,
            "version": self.config.version,
            "pid": proc.pid if proc is not None else None,
            "init_ms": self.init_ms,
            "taken": self._taken.is_set(),
            "ready": self.ready,
            "error": self.error,
        }
