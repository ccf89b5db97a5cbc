"""The invocation path of the local runner: a request checked as Lambda checks it, run on a leased
environment with Lambda's ``START``/``END``/``REPORT`` lines, and its :class:`InvokeResult`.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from emulator.http_input import loads
from emulator.platform_log import StartKind, end_records, start_records
from emulator.runner_env import ExecutionEnvironment, WorkerReply
from emulator.runner_model import (
    MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    InvalidParameter,
    InvalidRequestContent,
    RequestTooLarge,
    VersionConfig,
)
from emulator.runner_pool import Lease

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
INVOCATION_TYPES: tuple[str, ...] = ("RequestResponse", "Event", "DryRun")
LOG_TAIL_BYTES = 4096


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


@dataclass(frozen=True)
class Context:
    """What an invocation carries besides its payload."""

    invoked_arn: str
    client_context: Mapping[str, Any] | None = None
    identity: Mapping[str, Any] | None = None
    trace_id: str | None = None


def check_request(invocation_type: str, payload: bytes | str | None) -> str:
    """The payload as text, once Lambda's checks pass (invocation type, size limit, JSON)."""
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
            loads(text)
        except ValueError as exc:
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    return text


def run_on(
    lease: Lease,
    config: VersionConfig,
    executed_version: str,
    request_id: str,
    text: str,
    context: Context,
    clock: Callable[[], float],
) -> InvokeResult:
    """Run one invocation on a leased environment: Lambda's log lines, the worker's reply, the result."""
    env = lease.environment
    assert isinstance(env, ExecutionEnvironment)
    lines: list[str] = []

    def platform(line: str) -> None:
        env.log(line)
        lines.append(line)

    init_ms: float | None = None
    log_format = config.spec.log_format
    start_kind: StartKind = "restore" if env.snapshot is not None else "provisioned" if env.provisioned else "cold"
    if lease.init is not None:
        lines.extend(lease.init.log_lines)
        init_ms = env.init_ms
        if not lease.init.ok:
            error = {"errorMessage": "", "errorType": "Runtime.Unknown", "requestId": request_id, "stackTrace": []}
            error.update(lease.init.error or {})
            for line in start_records(
                log_format,
                function=config.function,
                version=executed_version,
                request_id=request_id,
                start_kind=start_kind,
                init_type=env.init_type,
                init_ms=init_ms,
                restore_ms=env.restore_ms,
                init_error=str(error["errorType"]),
            ):
                platform(line)
            for line in end_records(
                log_format,
                request_id=request_id,
                duration_ms=init_ms or 0.0,
                memory_mb=config.spec.memory_mb,
                status="error",
                error_type=str(error["errorType"]),
                billed=False,
            ):
                platform(line)
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
    for line in start_records(
        log_format,
        function=config.function,
        version=executed_version,
        request_id=request_id,
        start_kind=start_kind if lease.init is not None else "warm",
        init_type=env.init_type,
        init_ms=init_ms,
    ):
        platform(line)
    started = clock()
    reply = env.invoke(
        {
            "type": "invoke",
            "request_id": request_id,
            "payload": text,
            "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
            "invoked_arn": context.invoked_arn,
            "trace_id": context.trace_id or _trace_id(),
            "client_context": dict(context.client_context) if context.client_context is not None else None,
            "identity": dict(context.identity) if context.identity is not None else None,
        },
        timeout_s,
    )
    duration_ms = (clock() - started) * 1000.0
    lines.extend(reply.log_lines)
    payload, function_error, status, error_type, extra = _outcome(reply, request_id, timeout_s)
    if extra is not None:
        platform(extra)
    for line in end_records(
        log_format,
        request_id=request_id,
        duration_ms=duration_ms,
        memory_mb=config.spec.memory_mb,
        max_memory_mb=max(1, (reply.max_rss_kb or 0) // 1024) if reply.max_rss_kb else None,
        init_ms=init_ms if lease.init is not None and env.restore_ms is None else None,
        restore_ms=env.restore_ms if lease.init is not None else None,
        billed_restore_ms=env.billed_restore_ms if lease.init is not None else None,
        status=status,
        error_type=error_type,
    ):
        platform(line)
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


def _outcome(
    reply: WorkerReply, request_id: str, timeout_s: float
) -> tuple[bytes, str | None, str, str | None, str | None]:
    """``(payload, FunctionError, status, platform error type, extra log line)`` of one invocation's reply.

    ``status`` is the platform's (``success``, ``error``, ``timeout``); the error type is set only
    where Lambda's ``REPORT`` names one (the runtime exited).
    """
    if reply.kind == "result":
        payload = (reply.payload or "null").encode()
        if len(payload) <= MAX_SYNC_PAYLOAD:
            return payload, None, "success", None, None
        error = {
            "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload size "
            f"({MAX_SYNC_PAYLOAD} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        return json.dumps(error).encode(), "Unhandled", "error", None, None
    if reply.kind == "error":
        return json.dumps(reply.error).encode(), "Unhandled", "error", None, None
    if reply.kind == "timeout":
        message = f"Task timed out after {timeout_s:.2f} seconds"
        line = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {request_id} {message}"
        payload = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
        return payload, "Unhandled", "timeout", None, line
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reply.exit_status}"
    payload = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
    return payload, "Unhandled", "error", "Runtime.ExitError", message
