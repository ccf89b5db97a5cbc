"""One local execution environment: a process that imports a handler once and serves invocations.

Started by :mod:`emulator.runner_env` as ``python -P _worker.py REQ_FD REPLY_FD NONCE CODE_PATHS_JSON``
with the Lambda environment variables already set. Standard library only, and as little of it as
possible: everything imported here is paid by every cold start it measures. (A SnapStart snapshot,
started by :mod:`emulator.runner_snapshot` with a sixth argument, also imports ``snapshot_restore_py``
to run its hooks, as Lambda's runtime does; see the SnapStart section below.)

Protocol on the two private pipes (never stdout: the function's prints are its log): frames of a
4-byte big-endian length followed by UTF-8 JSON.

* worker → runner, once: ``{"type": "ready", "init_ms": …}`` or ``{"type": "init_error", "error": {…}}``
* runner → worker: ``{"type": "invoke", "request_id", "payload", "deadline_ms", "invoked_arn", "trace_id",
  "client_context", "identity"}``
* worker → runner: ``{"type": "result", "payload": "<json>", "max_rss_kb"}`` or
  ``{"type": "error", "error": {"errorMessage", "errorType", "requestId", "stackTrace"}, "max_rss_kb"}``

After the init and after every invocation, the worker flushes stdout/stderr and writes a log mark
(``\\x00<nonce>:<seq>\\n``) to fd 1, so that the runner knows it has read every line of that phase.
The worker exits when the request pipe closes, or when its parent process is gone (checked by a
watchdog thread, because a busy handler never reads the pipe).
"""

from __future__ import annotations

import json
import os
import sys
import time

_PARENT_POLL_S = 0.25


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: dict[str, object]) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    _write_all(fd, len(body).to_bytes(4, "big") + body)


def _receive(fd: int) -> dict[str, object] | None:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    body = _read_exact(fd, int.from_bytes(header, "big"))
    if body is None:
        return None
    message = json.loads(body)
    return message if isinstance(message, dict) else None


def _watch_parent(parent: int, watching: object = None, done: object = None) -> None:
    # A busy handler never reads the request pipe, so its EOF cannot tell us the runner died.
    # ``watching`` (a lock held by the main thread) stops the watch once released; ``done`` says so.
    while True:
        if watching is None:
            time.sleep(_PARENT_POLL_S)
        elif watching.acquire(True, _PARENT_POLL_S):  # type: ignore[attr-defined]  # released: stop at once
            done.release()  # type: ignore[attr-defined]
            return
        if os.getppid() != parent:
            try:
                if os.getpgrp() == os.getpid():
                    os.killpg(0, 9)  # the worker leads its own group: take the handler's children with it
            finally:
                os._exit(1)


class _Client:
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, raw: dict[str, object]) -> None:
        self.installation_id = raw.get("installation_id")
        self.app_title = raw.get("app_title")
        self.app_version_name = raw.get("app_version_name")
        self.app_version_code = raw.get("app_version_code")
        self.app_package_name = raw.get("app_package_name")


class ClientContext:
    """``context.client_context`` as the Python runtime builds it from ``X-Amz-Client-Context``."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, raw: dict[str, object]) -> None:
        client = raw.get("client")
        self.client = _Client(client) if isinstance(client, dict) else None
        self.custom = raw.get("custom")
        self.env = raw.get("env")


class CognitoIdentity:
    """``context.identity``."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, raw: dict[str, object] | None) -> None:
        raw = raw or {}
        self.cognito_identity_id = raw.get("cognitoIdentityId")
        self.cognito_identity_pool_id = raw.get("cognitoIdentityPoolId")


class LambdaContext:
    """The context object handed to the handler (the attributes of the AWS Python runtime's)."""

    __slots__ = (
        "_deadline_ms",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
    )

    def __init__(self, message: dict[str, object]) -> None:
        env = os.environ
        self.aws_request_id = message["request_id"]
        self.invoked_function_arn = message["invoked_arn"]
        self._deadline_ms = message["deadline_ms"]
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        raw_context = message.get("client_context")
        self.client_context = ClientContext(raw_context) if isinstance(raw_context, dict) else None
        identity = message.get("identity")
        self.identity = CognitoIdentity(identity if isinstance(identity, dict) else None)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the runner kills this invocation."""
        deadline = self._deadline_ms
        assert isinstance(deadline, int | float)
        return max(0, int(deadline - time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])"
        )


def _error(message: str, error_type: str, stack: list[str] | None = None, request_id: str = "") -> dict[str, object]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack or []}


def _fault(exc: BaseException, request_id: str = "") -> dict[str, object]:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    # Drop the runtime's own frames, as the AWS runtime drops its bootstrap.
    frames = traceback.StackSummary.from_list([frame for frame in frames if frame.filename != __file__])
    return _error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def _log_error(error: dict[str, object]) -> None:
    # The AWS Python runtime logs "[ERROR] Type: message" followed by the traceback.
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    stack = error.get("stackTrace")
    if stack:
        lines.append("Traceback (most recent call last):")
        lines.extend(str(frame).rstrip("\n") for frame in stack)  # type: ignore[attr-defined]
    sys.stderr.write("\n".join(lines) + "\n")


def _load_handler(spec: str) -> object:
    """Import the handler as the AWS runtime does, raising ``(error_type, message)`` faults."""
    import importlib

    module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise _InitFault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _InitFault(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitFault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _InitFault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    handler = getattr(module, attribute, None)
    if handler is None:
        raise _InitFault("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
    return handler


class _InitFault(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack


class _Marks:
    """Log marks on fd 1 so the runner can tell where one phase's output ends."""

    def __init__(self, nonce: str) -> None:
        self.prefix = b"\x00" + nonce.encode() + b":"
        self.seq = 0

    def write(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a handler closed or replaced its stream; the mark still goes out on fd 1
        try:
            _write_all(1, self.prefix + str(self.seq).encode() + b"\n")
        except OSError:
            pass
        self.seq += 1


def _max_rss_kb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _lambda_json_default(value: object) -> object:
    """What Lambda's Python runtime encodes beyond plain JSON: a ``Decimal``, as a number.

    awslambdaric's marshaller writes the Decimal's own digits (``NaN`` for a NaN); here that text
    is read back as JSON, so the reply's reader gets the same number. Anything else fails there and
    here alike. ``decimal`` is looked up, not imported: a Decimal in the result means it is loaded.
    """
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return float("nan") if value.is_nan() else json.loads(str(value))
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _invoke(handler: object, message: dict[str, object]) -> dict[str, object]:
    request_id = str(message.get("request_id", ""))
    trace_id = message.get("trace_id")
    if isinstance(trace_id, str):
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        payload = message.get("payload")
        event = json.loads(payload) if isinstance(payload, str) and payload else {}
        context = LambdaContext(message)
        result = handler(event, context)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - any handler failure is the function's error, reported
        error = _fault(exc, request_id)
        _log_error(error)
        return {"type": "error", "error": error}
    try:
        body = json.dumps(result, default=_lambda_json_default)
    except (TypeError, ValueError) as exc:
        error = _error(f"Unable to marshal response: {exc}", "Runtime.MarshalError", None, request_id)
        _log_error(error)
        return {"type": "error", "error": error}
    return {"type": "result", "payload": body}


def _serve(handler: object, request_fd: int, reply_fd: int, marks: _Marks) -> int:
    """Answer invocations one at a time until the runner closes the request pipe."""
    while True:
        message = _receive(request_fd)
        if message is None:
            return 0
        reply = _invoke(handler, message)
        reply["max_rss_kb"] = _max_rss_kb()
        marks.write()
        _send(reply_fd, reply)


def main(argv: list[str]) -> int:
    """Run one execution environment until the runner closes the request pipe.

    With a sixth argument (a Unix socket's fd) the worker is a SnapStart snapshot instead: see
    :func:`_snapshot`.
    """
    request_fd, reply_fd, nonce, code_paths = int(argv[1]), int(argv[2]), argv[3], json.loads(argv[4])
    control_fd = int(argv[5]) if len(argv) > 5 else None
    del sys.argv[1:]  # the handler has no business with the runner's plumbing
    started = time.monotonic()

    import _thread

    watching = _thread.allocate_lock()  # held while the parent is watched; a snapshot releases it
    watching.acquire()
    watcher_done = _thread.allocate_lock()
    watcher_done.acquire()
    _thread.start_new_thread(_watch_parent, (os.getppid(), watching, watcher_done))
    # Lambda streams prints as they happen; a timed-out invocation must not lose its last lines.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.path[:0] = [path for path in code_paths if path not in sys.path]

    marks = _Marks(nonce)
    error: dict[str, object] | None
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _InitFault as fault:
        error = _error(str(fault), fault.error_type, fault.stack)
    except Exception as exc:  # noqa: BLE001 - an import-time crash is the init error
        error = _fault(exc)
    else:
        error = None
    if error is None and control_fd is not None:
        error = _run_hooks("before")
    init_ms = round((time.monotonic() - started) * 1000.0, 3)
    if error is not None:
        _log_error(error)
        marks.write()
        _send(reply_fd, {"type": "init_error", "error": error, "init_ms": init_ms})
        return 1
    marks.write()
    _send(reply_fd, {"type": "ready", "init_ms": init_ms})
    if control_fd is not None:
        # No thread may run while the snapshot forks: stop the watcher (the control socket's EOF
        # now tells this process that the runner is gone) and wait until it has stopped.
        watching.release()
        watcher_done.acquire()
        return _snapshot(handler, control_fd, request_fd, reply_fd)
    return _serve(handler, request_fd, reply_fd, marks)


# -- SnapStart -----------------------------------------------------------------------------------
#
# A snapshot is a worker that ran the init phase and the before-snapshot hooks, and then only
# forks: each restore is a child of it, with the snapshot's memory as it was (module state,
# connections, ``random``'s state), its own pipes, its own process group, and the after-restore
# hooks run before its first invocation. The runner sends, on the control socket, one frame
# ``{"type": "restore", "nonce"}`` with four fds (the child's request pipe, reply pipe, log pipe,
# and a status pipe); the snapshot answers ``{"pid": N}`` on the same socket, and when that child
# ends writes its wait status (4 bytes, big-endian) to the status pipe.


def _run_hooks(phase: str) -> dict[str, object] | None:
    """Run the ``snapshot_restore_py`` hooks as Lambda's runtime (awslambdaric) does; the error, if one raised.

    Before the snapshot: last registered first, each taken off the registry. After a restore: in the
    order registered. The module is imported as awslambdaric imports it; when it is not installed,
    no function code can have registered a hook either.
    """
    try:
        import snapshot_restore_py
    except ImportError:
        return None
    try:
        if phase == "before":
            hooks = snapshot_restore_py.get_before_snapshot()
            while hooks:
                function, args, kwargs = hooks.pop()
                function(*args, **kwargs)
        else:
            for function, args, kwargs in snapshot_restore_py.get_after_restore():
                function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a failing hook is the phase's error, reported
        error = _fault(exc)
        error["errorType"] = "Runtime.BeforeSnapshotError" if phase == "before" else "Runtime.AfterRestoreError"
        error["errorMessage"] = f"{type(exc).__name__}: {exc}"
        return error
    return None


def _snapshot(handler: object, control_fd: int, request_fd: int, reply_fd: int) -> int:
    """Serve restore requests until the runner closes the control socket; each one is a fork."""
    import signal
    import socket

    control = socket.socket(fileno=control_fd)
    status_pipes: dict[int, int] = {}

    def reap(_signum: int, _frame: object) -> None:
        # Only the restores: a process the function's own init started is the function's to wait for.
        for pid in list(status_pipes):
            try:
                ended, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                ended, status = pid, -1
            if ended == 0:
                continue
            fd = status_pipes.pop(pid)
            if status != -1:
                try:
                    _write_all(fd, status.to_bytes(4, "big", signed=True))
                except OSError:
                    pass  # the runner stopped listening for this one
            os.close(fd)

    signal.signal(signal.SIGCHLD, reap)
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(control, 65536, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            return 0
        message = json.loads(data)
        if len(fds) != 4 or not isinstance(message, dict) or message.get("type") != "restore":
            for fd in fds:
                os.close(fd)
            continue
        pid = _fork(handler, str(message.get("nonce", "")), fds, (control.fileno(), request_fd, reply_fd), status_pipes)
        try:
            control.sendall(json.dumps({"pid": pid}).encode())
        except OSError:
            return 0


def _fork(handler: object, nonce: str, fds: list[int], own_fds: tuple[int, ...], status_pipes: dict[int, int]) -> int:
    """Fork one restored environment; in the parent, record its status pipe and return its pid."""
    import signal

    child_request, child_reply, child_log, child_status = fds
    random = sys.modules.get("random")
    state = random.getstate() if random is not None else None
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # Blocked until the child's status pipe is recorded, so that an early exit is not missed.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            for fd in (*own_fds, child_status, *status_pipes.values()):
                os.close(fd)
            if random is not None:
                # CPython reseeds ``random`` in a forked child (os.register_at_fork); a restored
                # snapshot does not: put back the state the snapshot holds.
                random.setstate(state)
            code = _restored(handler, nonce, child_request, child_reply, child_log)
        finally:
            os._exit(code)
    try:
        os.setpgid(pid, pid)  # as the child does: a kill of its group is sure to reach it from now on
    except OSError:
        pass  # it already ended
    status_pipes[pid] = child_status
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    for fd in (child_request, child_reply, child_log):
        os.close(fd)
    return pid


def _restored(handler: object, nonce: str, request_fd: int, reply_fd: int, log_fd: int) -> int:
    """In a child of the snapshot: become a new execution environment, then serve it."""
    started = time.monotonic()
    os.setpgid(0, 0)  # its own process group (the snapshot sets it too): a kill takes the handler's children
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    import _thread

    _thread.start_new_thread(_watch_parent, (os.getppid(), None, None))
    marks = _Marks(nonce)
    error = _run_hooks("after")
    restore_ms = round((time.monotonic() - started) * 1000.0, 3)
    if error is not None:
        _log_error(error)
        marks.write()
        _send(reply_fd, {"type": "init_error", "error": error, "restore_ms": restore_ms})
        return 65  # what Lambda's runtime exits with when an after-restore hook fails
    marks.write()
    _send(reply_fd, {"type": "ready", "restore_ms": restore_ms})
    return _serve(handler, request_fd, reply_fd, marks)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
