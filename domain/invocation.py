"""Invoking a function: the port that keep-warm and the pre-traffic hook share.

Adapters (``infra.lambda_invoker.BotoFunctionInvoker``, test fakes) turn every outcome into an
:class:`InvocationResult`; they never raise for a per-invocation failure (throttle, timeout,
``FunctionError``, unknown function), so one bad invocation never sinks a fan-out.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    """How one invocation ended."""

    OK = "ok"  # 2xx, no FunctionError
    FUNCTION_ERROR = "function_error"  # the function raised (X-Amz-Function-Error)
    THROTTLED = "throttled"  # 429 TooManyRequestsException (reason in `error`)
    TIMEOUT = "timeout"  # no answer within the read timeout
    NOT_FOUND = "not_found"  # ResourceNotFoundException: unknown function or qualifier
    FAILED = "failed"  # anything else (connection refused, 5xx, access denied, bad payload)
    NOT_ATTEMPTED = "not_attempted"  # skipped: deadline near or cap reached


class InvocationRequest(BaseModel):
    """One synchronous invocation to make."""

    model_config = ConfigDict(frozen=True)

    function: str = Field(min_length=1)
    qualifier: str | None = None
    payload: bytes = b"{}"
    read_timeout_s: float | None = Field(default=None, gt=0)


class InvocationResult(BaseModel):
    """What came back. ``payload`` is the parsed JSON reply when there was one."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    status_code: int | None = None
    payload: Any = None
    raw_size: int = 0
    error: str | None = None
    executed_version: str | None = None
    duration_ms: float = 0.0
    log_tail: str | None = None

    @property
    def ok(self) -> bool:
        """True when the function answered without error."""
        return self.outcome is Outcome.OK


class FunctionInvoker(Protocol):
    """Port: invoke a function synchronously (``RequestResponse``)."""

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Invoke once; every failure is reported in the result, never raised."""
        ...
