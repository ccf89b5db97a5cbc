"""The one reading of a Lambda API reply, whichever transport carried it.

An Invoke reply is a status, a few headers (``X-Amz-Function-Error``, ``X-Amz-Log-Result``,
``X-Amz-Executed-Version``, ``x-amzn-ErrorType``) and a body. The fast path hands over the raw
ones; the SDK path hands over the same headers under botocore's names, or the error botocore
already parsed. :func:`invocation_result` turns either into the domain's
:class:`~domain.invocation.InvocationResult`, so both transports classify throttles, function
errors and unknown functions alike.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from domain.invocation import InvocationResult, Outcome
from infra import aws

NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})
FUNCTION_ERROR = "x-amz-function-error"
LOG_RESULT = "x-amz-log-result"
EXECUTED_VERSION = "x-amz-executed-version"
ERROR_TYPE = "x-amzn-errortype"


class ApiError(NamedTuple):
    """A refused call: the error code, its message and (for throttles) the modelled ``Reason``."""

    code: str | None
    message: str | None = None
    reason: str | None = None


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """The body as JSON (None when empty), and a note when it is not JSON."""
    if not body:
        return None, None
    try:
        return json.loads(body), None
    except ValueError:
        return None, "the reply is not JSON"


def api_error(headers: Mapping[str, str], document: Any) -> ApiError:
    """The error of a raw reply: the code from ``x-amzn-ErrorType`` or the body, as botocore reads it."""
    fields = document if isinstance(document, dict) else {}
    code = headers.get(ERROR_TYPE, "").split(":", 1)[0] or None
    if code is None:
        raw_type = fields.get("__type") or fields.get("code")
        code = str(raw_type).rsplit("#", 1)[-1] if raw_type else None
    message = fields.get("message") or fields.get("Message")
    reason = fields.get("Reason")
    return ApiError(code, str(message) if message else None, str(reason) if reason else None)


def _function_error_text(kind: str, payload: Any) -> str:
    if isinstance(payload, dict):
        error_type = payload.get("errorType") or kind
        message = payload.get("errorMessage")
        return f"{error_type}: {message}" if message else str(error_type)
    return kind


def _classify(status: int, error: ApiError) -> tuple[Outcome, str]:
    code = error.code or f"HTTP {status}"
    if code in aws.THROTTLING_CODES or status == 429:
        return Outcome.THROTTLED, error.reason or code
    if code in NOT_FOUND_CODES:
        return Outcome.NOT_FOUND, error.message or code
    return Outcome.FAILED, f"{code}: {error.message}" if error.message else code


def invocation_result(
    status: int, headers: Mapping[str, str], body: bytes = b"", error: ApiError | None = None
) -> InvocationResult:
    """The result of one Invoke reply (``headers`` with lower-case names).

    A 2xx is OK, or FUNCTION_ERROR when ``X-Amz-Function-Error`` is set; anything else is
    classified by its error code (``error`` when the transport parsed it already, else read from
    ``headers`` and ``body``): throttled (by reason), not found, or failed.
    """
    payload, note = parse_json(body)
    if 200 <= status < 300:
        log = headers.get(LOG_RESULT)
        common: dict[str, Any] = {
            "status_code": status,
            "payload": payload,
            "raw_size": len(body),
            "executed_version": headers.get(EXECUTED_VERSION),
            "log_tail": base64.b64decode(log).decode("utf-8", "replace") if log else None,
        }
        function_error = headers.get(FUNCTION_ERROR)
        if function_error:
            return InvocationResult(
                outcome=Outcome.FUNCTION_ERROR, error=_function_error_text(function_error, payload), **common
            )
        return InvocationResult(outcome=Outcome.OK, error=note, **common)
    outcome, text = _classify(status, error or api_error(headers, payload))
    return InvocationResult(outcome=outcome, status_code=status or None, error=text, raw_size=len(body))


class ApiReply:
    """The answer to another Lambda API call (e.g. ``GetFunction``): status, error code and message, JSON document."""

    __slots__ = ("code", "document", "message", "status")

    def __init__(self, status: int, code: str | None, message: str | None, document: Any) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.document = document

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str], body: bytes) -> ApiReply:
        """Read a raw reply (the error fields as :func:`invocation_result` reads them)."""
        document, _ = parse_json(body)
        error = api_error(headers, document)
        return cls(status, error.code, error.message, document)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300
