"""CodeDeploy adapters for the lifecycle hook: the status reporter and the AppSpec reader.

* :class:`CodeDeployReporter` sends ``PutLifecycleEventHookExecutionStatus`` once, retrying only
  what is safe to retry (throttling, 5xx, a dropped connection, a timeout) with full-jitter backoff
  inside the caller's deadline, each attempt's connect and read timeouts cut to the time left.
  ``LifecycleEventAlreadyCompletedException`` means CodeDeploy already has a verdict for this
  execution: that is success, not an error.
* :class:`CodeDeployAppSpecReader` reads ``GetDeployment`` → revision → AppSpec content (JSON or
  YAML, parsed by :mod:`infra.appspec`) → the Lambda function, alias, versions and hooks.

The SDK client is built with a single attempt: this module owns the retries, so that a throttled
report is not multiplied by botocore's own retry loop.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from domain.deadline import Deadline
from domain.errors import DeadlineExceeded, InvalidInput, NotFound, Unavailable
from domain.hook import AppSpecTarget, HookStatus, ReportOutcome
from infra import aws
from infra.appspec import appspec_content, parse_appspec

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient

ALREADY_COMPLETED: Final = "LifecycleEventAlreadyCompletedException"
_NOT_FOUND_CODES: Final = frozenset({"DeploymentDoesNotExistException"})
_BAD_INPUT_CODES: Final = frozenset(
    {
        "InvalidDeploymentIdException",
        "DeploymentIdRequiredException",
        "InvalidLifecycleEventHookExecutionIdException",
        "InvalidLifecycleEventHookExecutionStatusException",
        "UnsupportedActionForDeploymentTypeException",
    }
)
_CONNECTION_ERRORS: Final = (
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "ProxyConnectionError",
)


#: One report attempt at most: connecting, then waiting for the answer (CodeDeploy answers in well
#: under a second). With less time left, an attempt gets what is left (:func:`infra.aws.bounded_client`).
REPORT_CONNECT_CAP_S: Final = 0.5
REPORT_READ_CAP_S: Final = 1.5


def default_client() -> CodeDeployClient:
    """A CodeDeploy client with one attempt per call (the callers here own the retries), full-attempt timeouts."""
    # botocore counts retries, not attempts: 0 = a single attempt.
    client: CodeDeployClient = aws.client(
        "codedeploy", max_attempts=0, connect_timeout=REPORT_CONNECT_CAP_S, read_timeout=REPORT_READ_CAP_S
    )
    return client


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(code) if isinstance(code, int) else None
    return None


def _retryable(exc: BaseException) -> bool:
    if aws.is_throttling(exc):
        return True
    status = _status_code(exc)
    if status is not None and status >= 500:
        return True
    return type(exc).__name__ in _CONNECTION_ERRORS


class CodeDeployReporter:
    """Reports a hook execution's status exactly once (``StatusReporter`` port).

    Every attempt ends before the deadline: without an injected client, each attempt uses a
    client whose connect and read timeouts fit :meth:`attempt_budget_s` (a full attempt is
    ``connect_cap_s`` + ``read_cap_s``; with less time left, half of it while a retry could still
    follow: :func:`infra.aws.bounded_client`), and a retry starts only when at least ``margin_s``
    is left after its pause. An injected client (tests) keeps its own timeouts.
    """

    def __init__(
        self,
        client: CodeDeployClient | None = None,
        *,
        sleeper: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        max_attempts: int = 8,
        base_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
        margin_s: float = 0.1,
        connect_cap_s: float = REPORT_CONNECT_CAP_S,
        read_cap_s: float = REPORT_READ_CAP_S,
    ) -> None:
        self._client = client
        self._given = client
        self._sleeper = sleeper
        self._rng = rng or random.Random()
        self._max_attempts = max(1, max_attempts)
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._margin_s = max(margin_s, aws.BOUNDED_RUNGS[0])
        self._connect_cap_s = connect_cap_s
        self._read_cap_s = read_cap_s
        #: The attempts of the latest report, as (attempt number, error code or "ok"): for logs and tests.
        self.attempts: list[tuple[int, str]] = []

    @property
    def client(self) -> CodeDeployClient:
        """The injected SDK client, else one with the full attempt's timeouts (built at first use)."""
        if self._client is None:
            self._client = default_client()
        return self._client

    def attempt_budget_s(self, left_s: float, *, last: bool = False) -> float:
        """How long one attempt may take with ``left_s`` left: a full attempt at most, and half of
        what is left while a retry could still follow (a hung attempt then leaves room for one more)."""
        full = self._connect_cap_s + self._read_cap_s
        if last or left_s <= 2 * self._margin_s:
            return min(full, left_s)
        return min(full, max(left_s / 2.0, 2 * self._margin_s))

    def client_within(self, budget_s: float) -> CodeDeployClient | None:
        """The client for one attempt that must end within ``budget_s`` (None: too little time for any)."""
        if self._given is not None:
            return self._given
        bounded: CodeDeployClient | None = aws.bounded_client(
            "codedeploy", budget_s, connect_cap_s=self._connect_cap_s, read_cap_s=self._read_cap_s
        )
        return bounded

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1`` (attempt counts from 1)."""
        ceiling = min(self._max_delay_s, self._base_delay_s * (2 ** (attempt - 1)))
        return self._rng.uniform(0.0, ceiling)

    def report(
        self,
        deployment_id: str,
        execution_id: str,
        status: HookStatus,
        deadline: Deadline | None = None,
    ) -> ReportOutcome:
        """Send the status; retry throttling within ``deadline``; already-completed counts as done.

        Raises InvalidInput for ids CodeDeploy rejects, NotFound for an unknown deployment,
        DeadlineExceeded when the deadline leaves no room for another attempt, and Unavailable
        when the attempts run out.
        """
        deadline = deadline or Deadline.never(time.monotonic)
        self.attempts = []
        attempt = 0
        while True:
            attempt += 1
            client = self.client_within(
                self.attempt_budget_s(deadline.remaining_s(), last=attempt >= self._max_attempts)
            )
            if client is None:
                raise DeadlineExceeded(
                    f"reporting {status.value} for {execution_id}: only {max(deadline.remaining_s(), 0):.2f}s left, "
                    "too little for an attempt; raise the hook function's timeout"
                )
            try:
                client.put_lifecycle_event_hook_execution_status(
                    deploymentId=deployment_id,
                    lifecycleEventHookExecutionId=execution_id,
                    status=status.value,
                )
            except Exception as exc:
                code = aws.error_code(exc) or type(exc).__name__
                self.attempts.append((attempt, code))
                if code == ALREADY_COMPLETED:
                    return ReportOutcome.ALREADY_COMPLETED
                if code in _NOT_FOUND_CODES:
                    raise NotFound(f"CodeDeploy has no deployment {deployment_id!r}: {exc}") from exc
                if code in _BAD_INPUT_CODES:
                    raise InvalidInput(
                        f"CodeDeploy refused the report for {deployment_id}/{execution_id}: {code}: {exc}"
                    ) from exc
                if not _retryable(exc):
                    raise Unavailable(f"reporting {status.value} for {execution_id} failed: {code}: {exc}") from exc
                if attempt >= self._max_attempts:
                    raise Unavailable(
                        f"reporting {status.value} for {execution_id} failed after {attempt} attempts: {code}"
                    ) from exc
                pause = self.backoff_s(attempt)
                left = deadline.remaining_s() - self._margin_s
                if not math.isinf(left) and left <= pause:
                    # At the deadline a verdict is sent now or never: a shorter last pause, half of
                    # what is left, leaves the other half to one more attempt if that half can hold one.
                    if left / 2.0 < aws.BOUNDED_RUNGS[0]:
                        raise DeadlineExceeded(
                            f"reporting {status.value} for {execution_id}: {code} and only {max(left, 0):.2f}s left"
                        ) from exc
                    pause = left / 2.0
                self._sleeper(pause)
                continue
            self.attempts.append((attempt, "ok"))
            return ReportOutcome.REPORTED


# --------------------------------------------------------------------------- the AppSpec


class CodeDeployAppSpecReader:
    """Reads a Lambda deployment's AppSpec (``DeploymentReader`` port)."""

    def __init__(self, client: CodeDeployClient | None = None) -> None:
        self._client = client
        self._client_given = client

    @property
    def client(self) -> CodeDeployClient:
        """The SDK client, built at first use (standard retries: reading is idempotent)."""
        if self._client is None:
            self._client = aws.client("codedeploy", connect_timeout=3, read_timeout=10)
        return self._client

    def read_target(self, deployment_id: str, *, timeout_s: float | None = None) -> AppSpecTarget:
        """The function, alias, versions and hooks named by the deployment's AppSpec.

        With ``timeout_s`` (and no injected client): one attempt whose timeouts fit in it.
        """
        if timeout_s is None or self._client_given is not None:
            client = self.client
        else:
            client = aws.bounded_client("codedeploy", timeout_s, connect_cap_s=1.0, read_cap_s=5.0)
            if client is None:
                raise DeadlineExceeded(
                    f"reading deployment {deployment_id}: only {timeout_s:.2f}s left; raise the hook function's timeout"
                )
        try:
            response = client.get_deployment(deploymentId=deployment_id)
        except Exception as exc:
            code = aws.error_code(exc)
            if code in _NOT_FOUND_CODES:
                raise NotFound(f"CodeDeploy has no deployment {deployment_id!r}") from exc
            if code in _BAD_INPUT_CODES:
                raise InvalidInput(f"CodeDeploy refused deployment id {deployment_id!r}: {code}") from exc
            raise Unavailable(
                f"reading deployment {deployment_id} failed: {code or type(exc).__name__}: {exc}"
            ) from exc
        info: dict[str, Any] = dict(response.get("deploymentInfo") or {})
        return parse_appspec(appspec_content(info, deployment_id))
