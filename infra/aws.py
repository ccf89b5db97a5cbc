"""AWS SDK clients built one way everywhere.

Endpoints are never hard-coded: botocore itself honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. ``AWS_ENDPOINT_URL_CODEDEPLOY``), which is how the local
stack and the tests reach moto and the project's own fakes. Retries use the standard mode with
few attempts: a retry storm on throttling makes the throttling worse.

Clients come from one botocore session per process, not from a boto3 session: a boto3 client
is that same botocore client, but ``import boto3`` (with s3transfer) and boto3's session cost
~25 ms of every cold start, for resources and S3 transfer helpers that thermostat never uses.
pynamodb (``infra.table``) builds its DynamoDB clients from this session too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import botocore.session

DEFAULT_MAX_ATTEMPTS = 3

C = TypeVar("C")

#: Held while the session is created and while a client is built from it: botocore's
#: ``create_client`` is not thread-safe on one session. Reentrant, because pynamodb's client
#: property (``infra.table``) reads the session while holding it.
_lock = threading.RLock()
_sessions: dict[int, botocore.session.Session] = {}


def region() -> str:
    """The region the function runs in (``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then us-east-1).

    Read through the settings model's one field for it, alone, so that a client can still be
    built (to report a verdict, say) when some other variable is malformed.
    """
    from infra.settings import load_settings

    return load_settings(only=("region",)).region


def botocore_session() -> botocore.session.Session:
    """The process's botocore session, behind every client of this module (one per process).

    A client built from it reuses the endpoint and service data already loaded, where a new
    session loads them again (~40 ms). Build clients from it only while holding :func:`client_lock`.
    """
    import botocore.session

    pid = os.getpid()  # a forked child builds its own: sessions and clients are not fork-safe
    with _lock:
        session = _sessions.get(pid)
        if session is None:
            session = botocore.session.get_session()
            _sessions[pid] = session
        return session


def forget_sessions() -> None:
    """Drop the process's botocore session: the next client is built from a new one.

    A session reads its configuration (profile, config file, credentials chain) and picks up
    moto's interception when it is created, so a test that changes the environment starts
    from a new one. Clients already built keep working.
    """
    with _lock:
        _sessions.clear()


def client_lock() -> threading.RLock:
    """The lock to hold while building a client from :func:`botocore_session`."""
    return _lock


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
        factory: Any = botocore_session()  # the stubs overload on literal names; callers annotate the client
        return factory.create_client(service, region_name=region_name or region(), config=Config(**options))


class LazyClient(Generic[C]):
    """An adapter's client: the one it was given, or one built by ``build`` at first use (once, under a lock).

    Adapters take their client in the constructor (tests pass a fake or a Stubber) but build no
    default there: building a client costs milliseconds that a warm ping never needs.
    """

    def __init__(self, client: C | None, build: Callable[[], C]) -> None:
        self._client = client
        self._build = build
        self._lock = threading.Lock()

    def get(self) -> C:
        """The client (built now if it was neither given nor built yet)."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client


#: DynamoDB's error code for a failed condition (a conditional put that found an item).
CONDITION_FAILED = "ConditionalCheckFailedException"


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
