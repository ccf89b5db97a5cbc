"""boto3 clients built one way everywhere.

Endpoints are never hard-coded: botocore itself honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. ``AWS_ENDPOINT_URL_CODEDEPLOY``), which is how the local
stack and the tests reach moto and the project's own fakes. Retries use the standard mode with
few attempts: a retry storm on throttling makes the throttling worse.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

DEFAULT_MAX_ATTEMPTS = 3

_lock = threading.Lock()
_sessions: dict[int, boto3.session.Session] = {}


def region() -> str:
    """The region the function runs in (``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then us-east-1)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _session() -> boto3.session.Session:
    # boto3's default session is not thread-safe to create clients from; one per process.
    import boto3

    pid = os.getpid()
    with _lock:
        session = _sessions.get(pid)
        if session is None:
            session = boto3.session.Session()
            _sessions[pid] = session
        return session


def client(
    service: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    region_name: str | None = None,
) -> Any:
    """Build a client for ``service`` with thermostat's defaults (standard retries, few attempts).

    ``max_attempts`` is botocore's: the number of RETRIES after the first attempt (3 → up to 4
    requests; 0 → exactly one request, for callers that own their retries).

    ``max_pool_connections`` should match the fan-out that will use the client: the default pool
    of 10 makes urllib3 open and discard extra connections (a new TLS handshake each on AWS).
    """
    from botocore.config import Config

    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": max_attempts}}
    if max_pool_connections is not None:
        options["max_pool_connections"] = max_pool_connections
    if connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    with _lock:
        session = _sessions.get(os.getpid())
    session = session or _session()
    with _lock:
        factory: Any = session  # boto3-stubs overloads on literal names; callers annotate the client
        return factory.client(service, region_name=region_name or region(), config=Config(**options))


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "EC2ThrottledException",
    }
)


def is_throttling(exc: BaseException) -> bool:
    """True when an SDK error is a throttle (any service's spelling of it)."""
    code = error_code(exc)
    return code in THROTTLING_CODES if code is not None else False
