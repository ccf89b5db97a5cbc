"""The AWS account thermostat runs as: from the Lambda context when there is one, else STS, once."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from domain.errors import Unavailable
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

_lock = threading.Lock()
_cached: str | None = None


def account_from_arn(arn: str | None) -> str | None:
    """The account id of an ARN (``arn:aws:lambda:us-east-1:123456789012:function:f`` -> ``123456789012``)."""
    if not arn:
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not (len(parts[4]) == 12 and parts[4].isdigit()):
        return None
    return parts[4]


def current_account(context: Any = None, client: STSClient | None = None) -> str:
    """This process's account id: free from a Lambda context's function ARN, else one STS call per process."""
    from_context = account_from_arn(getattr(context, "invoked_function_arn", None))
    if from_context is not None:
        return from_context
    global _cached
    with _lock:
        if _cached is not None:
            return _cached
        sts = client or aws.client("sts")
        try:
            _cached = str(sts.get_caller_identity()["Account"])
        except Exception as exc:
            code = aws.error_code(exc) or type(exc).__name__
            raise Unavailable(
                f"cannot tell which AWS account this is (STS GetCallerIdentity failed: {code}); check the credentials"
            ) from exc
        return _cached


def forget_account() -> None:
    """Drop the cached account id (tests, or after switching credentials)."""
    global _cached
    with _lock:
        _cached = None
