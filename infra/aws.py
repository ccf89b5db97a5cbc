"""AWS SDK clients built one way everywhere.

Endpoints are never hard-coded: botocore itself honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. ``AWS_ENDPOINT_URL_CODEDEPLOY``), which is how the local
stack and the tests reach moto and the project's own fakes.

Configuration follows botocore's own chain, and thermostat fills only the gaps it leaves: the
region is ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the selected profile's ``region`` in the config
file (``AWS_PROFILE`` / ``AWS_CONFIG_FILE``), and only then us-east-1; the retry mode and attempts
are the user's (``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``, the profile's ``retry_mode`` and
``max_attempts``), and only where none is set does thermostat ask for the standard mode and few
attempts (a retry storm on throttling makes the throttling worse).

Clients come from one botocore session per process, not from a boto3 session: a boto3 client
is that same botocore client, but ``import boto3`` (with s3transfer) and boto3's session cost
~25 ms of every cold start, for resources and S3 transfer helpers that thermostat never uses.
pynamodb (``infra.table``) builds its DynamoDB clients from this session too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import botocore.session

#: Retries (botocore's client-config meaning: after the first attempt) when the user configured none.
DEFAULT_MAX_ATTEMPTS = 3
#: The region when neither the environment nor the config file names one.
DEFAULT_REGION = "us-east-1"
#: The version thermostat reports in its user agent (the package's, kept equal by a test).
VERSION = "0.1.0"
#: Appended to botocore's user agent on every client built here, and sent by the fast path.
USER_AGENT_EXTRA = f"thermostat/{VERSION}"

C = TypeVar("C")

#: Held while the session is created and while a client is built from it: botocore's
#: ``create_client`` is not thread-safe on one session. Reentrant, because pynamodb's client
#: property (``infra.table``) reads the session while holding it.
_lock = threading.RLock()
_sessions: dict[int, botocore.session.Session] = {}
#: The command line's ``--profile`` and ``--region`` (the AWS CLI's meaning), set by the CLI only.
_command_line: dict[str, str | None] = {"profile": None, "region": None}


def use_command_line(*, profile: str | None = None, region: str | None = None) -> None:
    """Apply the CLI's global ``--profile`` / ``--region`` (None clears them), as the AWS CLI does.

    ``--region`` beats every other source of the region. ``--profile`` selects the profile as an
    explicit session setting, so botocore's credential chain drops the environment's keys and
    reads the profile's, as ``aws --profile`` does (``AWS_PROFILE`` alone would lose to
    ``AWS_ACCESS_KEY_ID``). Sessions built before are forgotten.
    """
    with _lock:
        _command_line["profile"] = profile or None
        _command_line["region"] = region or None
        forget_sessions()


def command_line_profile() -> str | None:
    """The CLI's ``--profile`` (or a profile a command chose the same way), if given."""
    return _command_line["profile"]


def command_line_region() -> str | None:
    """The CLI's ``--region``, if given."""
    return _command_line["region"]


def region() -> str:
    """The region: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``, then us-east-1.

    The CLI's ``--region`` comes first. The same chain as the settings model's ``region`` field,
    read alone (no other variable), so that a client can still be built (to report a verdict,
    say) when some other variable is malformed. Raises ``InvalidInput`` naming ``AWS_PROFILE``
    when the profile does not exist.
    """
    return (
        command_line_region()
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or profile_region()
        or DEFAULT_REGION
    )


def profile_region() -> str | None:
    """The ``region`` of the profile selected in the config file (botocore's own reading), if any."""
    value = configured("region")
    return str(value) if value else None


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
            if _command_line["profile"]:
                session.set_config_variable("profile", _command_line["profile"])
            _sessions[pid] = session
        return session


def configured(name: str) -> Any:
    """A value of botocore's configuration chain (environment, then the selected profile in the
    config file), e.g. ``region``, ``max_attempts``, ``retry_mode``; None when nothing sets it.

    Raises ``InvalidInput`` naming the variables to fix for a missing profile or a malformed
    config file (where creating any client would raise botocore's ``ProfileNotFound`` /
    ``ConfigParseError``).
    """
    with _lock, _config_errors():
        return botocore_session().get_config_variable(name)


@contextmanager
def _config_errors() -> Iterator[None]:
    from botocore.exceptions import ConfigNotFound, ConfigParseError, ProfileNotFound

    try:
        yield
    except (ProfileNotFound, ConfigParseError, ConfigNotFound) as exc:
        from domain.errors import InvalidInput

        raise InvalidInput(
            f"--profile / AWS_PROFILE / AWS_CONFIG_FILE: {exc}; name a profile that exists in the config file "
            "(or unset AWS_PROFILE), and check the file's syntax"
        ) from exc


def user_max_attempts() -> int | None:
    """The TOTAL attempts the user configured (``AWS_MAX_ATTEMPTS`` or the profile's ``max_attempts``), if any."""
    try:
        value = configured("max_attempts")
    except ValueError as exc:  # botocore's int() of the variable
        from domain.errors import InvalidInput

        raise InvalidInput(
            f"AWS_MAX_ATTEMPTS (or max_attempts in the config file's profile) must be a whole number "
            f"of attempts, e.g. 3: {exc}"
        ) from exc
    return int(value) if value is not None else None


def user_retry_mode() -> str | None:
    """The retry mode the user chose (``AWS_RETRY_MODE``, else the profile's ``retry_mode``), if any.

    Asked apart from :func:`configured` because botocore's chain ends in a default of its own
    (``legacy`` in older releases, ``standard`` in newer ones), which is not the user's choice.
    """
    with _lock, _config_errors():
        session = botocore_session()
        value = os.environ.get("AWS_RETRY_MODE") or session.get_scoped_config().get("retry_mode")
    return str(value) if value else None


def retry_mode() -> str:
    """The retry mode thermostat's clients use: the user's, else ``standard``."""
    return user_retry_mode() or "standard"


def forget_sessions() -> None:
    """Drop the process's botocore session: the next client is built from a new one.

    A session reads its configuration (profile, config file, credentials chain) and picks up
    moto's interception when it is created, so a test that changes the environment starts
    from a new one. Clients already built keep working; the bounded clients are forgotten too.
    """
    with _lock:
        _sessions.clear()
        _bounded.clear()
        hooks = list(_on_forget)
    for hook in hooks:
        hook()


#: What else holds clients of the forgotten session process-wide (``infra.table``'s models).
_on_forget: list[Callable[[], None]] = []


def on_forget(hook: Callable[[], None]) -> None:
    """Call ``hook`` whenever :func:`forget_sessions` runs (for clients held in module or class state)."""
    with _lock:
        if hook not in _on_forget:
            _on_forget.append(hook)


def client_lock() -> threading.RLock:
    """The lock to hold while building a client from :func:`botocore_session`."""
    return _lock


def client(
    service: str,
    *,
    max_attempts: int | None = None,
    max_pool_connections: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    region_name: str | None = None,
    credentials: Any = None,
) -> Any:
    """Build a client for ``service``: botocore's configuration chain, thermostat's defaults in its gaps.

    ``credentials`` (an object with ``access_key_id``, ``secret_access_key``, ``session_token``,
    e.g. :class:`infra.spokes.SpokeCredentials`) replaces the chain's credentials, for another
    account; everything else (endpoints, retries, region) still comes from the chain.

    ``max_attempts`` is botocore's client-config value: the number of RETRIES after the first
    attempt (0 → exactly one request, for callers that own their retries); given, it is used
    as is. None: the user's ``AWS_MAX_ATTEMPTS`` / profile ``max_attempts`` when set, else
    :data:`DEFAULT_MAX_ATTEMPTS`. The retry mode is the user's (``AWS_RETRY_MODE`` / the
    profile's ``retry_mode``, read by botocore), else ``standard``.

    ``max_pool_connections`` should match the fan-out that will use the client: the default pool
    of 10 makes urllib3 open and discard extra connections (a new TLS handshake each on AWS).
    """
    from botocore.config import Config

    options: dict[str, Any] = {"user_agent_extra": USER_AGENT_EXTRA}
    if max_pool_connections is not None:
        options["max_pool_connections"] = max_pool_connections
    if connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    with _lock:
        retries: dict[str, Any] = {}
        if max_attempts is not None:
            retries["max_attempts"] = max_attempts
        elif user_max_attempts() is None:
            retries["max_attempts"] = DEFAULT_MAX_ATTEMPTS
        if user_retry_mode() is None:
            retries["mode"] = "standard"
        if retries:
            options["retries"] = retries
        factory: Any = botocore_session()  # the stubs overload on literal names; callers annotate the client
        keys: dict[str, Any] = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token,
            }
        return factory.create_client(service, region_name=region_name or region(), config=Config(**options), **keys)


#: The totals (connect + read, seconds) a bounded client's timeouts are rounded down to: a
#: handful of clients per service and process, each reused by every call that fits it.
BOUNDED_RUNGS = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)
_bounded: dict[tuple[Any, ...], Any] = {}


def bounded_timeouts(budget_s: float, *, connect_cap_s: float, read_cap_s: float) -> tuple[float, float] | None:
    """``(connect, read)`` timeouts whose sum fits in ``budget_s``, or None when not even the smallest rung does.

    The sum is the largest rung not above the budget (and not above both caps together); a third
    of it, at most ``connect_cap_s``, goes to connecting, the rest to waiting for the answer.
    """
    ceiling = min(budget_s, connect_cap_s + read_cap_s)
    fitting = [rung for rung in BOUNDED_RUNGS if rung <= ceiling]
    total = fitting[-1] if fitting else None
    if total is None:
        return None
    connect = min(connect_cap_s, round(total / 3.0, 4))
    return connect, round(total - connect, 4)


def bounded_client(
    service: str,
    budget_s: float,
    *,
    connect_cap_s: float = 1.0,
    read_cap_s: float = 2.0,
    region_name: str | None = None,
) -> Any:
    """A client for ``service`` whose one attempt (connect + read) cannot outlast ``budget_s``; None when too little.

    botocore takes timeouts when a client is built, not per call: a caller with a deadline asks
    for a client that fits the time it has left. The timeouts are rounded down to a rung of
    :data:`BOUNDED_RUNGS`, so the few clients built are kept (per process, until
    :func:`forget_sessions`) and their connections reused. Such a client makes exactly one
    attempt: whoever owns the deadline owns the retries. (A server that drips its answer a byte at
    a time can still stretch one read; nothing in the SDK bounds a whole response.)
    """
    timeouts = bounded_timeouts(budget_s, connect_cap_s=connect_cap_s, read_cap_s=read_cap_s)
    if timeouts is None:
        return None
    connect, read = timeouts
    chosen_region = region_name or region()
    key = (os.getpid(), service, chosen_region, connect, read)
    with _lock:
        built = _bounded.get(key)
        if built is None:
            built = client(
                service, max_attempts=0, connect_timeout=connect, read_timeout=read, region_name=chosen_region
            )
            _bounded[key] = built
        return built


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
