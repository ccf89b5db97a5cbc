"""``BotoFunctionInvoker``: the :class:`~domain.invocation.FunctionInvoker` port over Lambda's Invoke API.

Synchronous (``RequestResponse``) invocations that never raise: every outcome (throttle by
reason, ``FunctionError``, timeout, unknown function, connection failure) comes back as an
:class:`~domain.invocation.InvocationResult` with the reply parsed from JSON.

Two transports, same behaviour (the integration tests run both against one endpoint):

* ``"fast"`` (default): the request is signed here (SigV4, checked against botocore's signer in
  the tests) and sent over a small keep-alive connection pool sized to the fan-out. botocore's
  full request pipeline costs ~0.7 ms of CPU per invoke; at a fan-out of 200 on 2 cores that
  CPU, under the GIL, is what stretches the fan-out to ~2-3x its ideal wall time. This path
  costs ~0.05 ms and parses only what a ping needs.
* ``"sdk"``: ``boto3``'s ``lambda.invoke``, for environments the fast path does not cover (a
  proxy, from the environment or the client's ``proxies``; a client certificate): the fast path
  then falls back to it by itself.

Both use the endpoint, region and credentials of a boto3 client (``AWS_ENDPOINT_URL[_LAMBDA]``
honoured, never hard-coded), a per-request read timeout, and the same retry policy: few
attempts, only for transient failures (connection errors, 5xx), full-jitter backoff, and a
retry quota shared by the whole fan-out as in botocore's standard mode (the attempts are the
user's ``AWS_MAX_ATTEMPTS`` / profile ``max_attempts`` when set). Throttles are not
retried by default: a retry storm on ``TooManyRequestsException`` makes throttling worse, so
they are counted by reason instead. Timeouts are never retried (the first call may still run).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra import aws
from infra.lambda_invoker.connections import HttpResponse
from infra.lambda_invoker.fast_path import FastPath
from infra.lambda_invoker.replies import (
    EXECUTED_VERSION,
    FUNCTION_ERROR,
    LOG_RESULT,
    ApiError,
    ApiReply,
    invocation_result,
)
from infra.lambda_invoker.retries import StandardRetries

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

Transport = Literal["fast", "sdk"]

DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 3.0
#: Status codes worth a second attempt: the service, not the request, failed.
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
DEFAULT_MAX_ATTEMPTS = 2
DEFAULT_POOL_SIZE = 10


def _attempts_of(client: Any) -> int:
    """Total attempts configured on a botocore client (its retries dict counts retries or attempts)."""
    retries = getattr(getattr(getattr(client, "meta", None), "config", None), "retries", None) or {}
    if "total_max_attempts" in retries:
        return max(1, int(retries["total_max_attempts"]))
    if "max_attempts" in retries:
        return max(1, int(retries["max_attempts"]) + 1)
    return DEFAULT_MAX_ATTEMPTS


class _RetryQuota:
    """botocore standard mode's retry quota: retries spend tokens, successes refund them.

    Shared by every invocation of one invoker, so a failing fan-out stops retrying quickly
    instead of doubling its own load.
    """

    def __init__(self, capacity: int = 500, cost: int = 5) -> None:
        self._capacity = capacity
        self._tokens = capacity
        self._cost = cost
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self._tokens < self._cost:
                return False
            self._tokens -= self._cost
            return True

    def refund(self) -> None:
        with self._lock:
            self._tokens = min(self._capacity, self._tokens + 1)


class _Once:
    """Call ``action`` at most once, however often called (None: nothing to call)."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], object] | None) -> None:
        self._action = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


def _retryable(result: InvocationResult, retry_throttles: bool) -> bool:
    if result.outcome is Outcome.THROTTLED:
        return retry_throttles
    if result.outcome is not Outcome.FAILED:
        return False
    return result.status_code is None or result.status_code in RETRYABLE_STATUS


def _timed(result: InvocationResult, started: float, ended: float) -> InvocationResult:
    return result.model_copy(update={"duration_ms": round((ended - started) * 1000.0, 3)})


def _on_threads(calls: list[Callable[[], InvocationResult]]) -> list[InvocationResult]:
    """Run ``calls`` together, one thread each (the last on this one); their results in order."""
    results: list[InvocationResult | None] = [None] * len(calls)

    def run(index: int) -> None:
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(len(calls) - 1)]
    for thread in threads:
        thread.start()
    if calls:
        run(len(calls) - 1)
    for thread in threads:
        thread.join()
    return [r if r is not None else InvocationResult(outcome=Outcome.FAILED, error="no result") for r in results]


class BotoFunctionInvoker:
    """Invoke Lambda functions synchronously; every failure is a result, never an exception.

    ``client``: a boto3 Lambda client (endpoint, region and credentials come from it); built by
    ``infra.aws.client`` when None. ``pool_size``: the largest fan-out that will share this
    invoker (``THERMOSTAT_MAX_IN_FLIGHT`` for keep-warm); by default the injected client's
    ``max_pool_connections``, else 10. ``max_attempts``: total attempts for a
    transient failure; by default the injected client's own retry setting (botocore's
    ``max_attempts=0`` means one attempt), else the user's (``AWS_MAX_ATTEMPTS`` or the profile's
    ``max_attempts``), else 2. ``read_timeout_s``: when a request gives none.
    """

    def __init__(
        self,
        client: LambdaClient | None = None,
        *,
        pool_size: int | None = None,
        max_attempts: int | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        transport: Transport = "fast",
        retry_throttles: bool = False,
        tail_logs: bool = False,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts is None and client is not None:
            max_attempts = _attempts_of(client)
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._injected_client = client
        self._client: LambdaClient | None = client
        self._sdk_clients: dict[int, LambdaClient] = {}
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        if pool_size is None:
            configured = getattr(getattr(getattr(client, "meta", None), "config", None), "max_pool_connections", None)
            pool_size = int(configured) if isinstance(configured, int) else DEFAULT_POOL_SIZE
        self.pool_size = max(1, pool_size)
        self._max_attempts = max_attempts  # None: read from the user's configuration at first use
        self._api_retries: StandardRetries | None = None
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retry_throttles = retry_throttles
        self.tail_logs = tail_logs
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._quota = _RetryQuota()
        self._requested: Transport = transport
        self._fast: FastPath | None = None
        self._ready = threading.Event()

    # -- set-up, lazily at the first invocation (never at import or construction)

    @property
    def max_attempts(self) -> int:
        """Total attempts of an invocation that fails transiently."""
        if self._max_attempts is None:
            self._max_attempts = aws.user_max_attempts() or DEFAULT_MAX_ATTEMPTS
        return self._max_attempts

    def _base_client(self) -> LambdaClient:
        with self._lock:
            if self._client is None:
                self._client = aws.client(
                    "lambda",
                    max_attempts=0,  # botocore counts retries: 0 = one attempt; retries are ours (module docstring)
                    max_pool_connections=self.pool_size,
                    connect_timeout=self.connect_timeout_s,
                    read_timeout=self.read_timeout_s,
                )
            return self._client

    def _prepare(self) -> None:
        if self._ready.is_set():
            return
        # The first calls of a fan-out arrive together: one of them builds the path, once.
        with self._setup_lock:
            if self._ready.is_set():
                return
            client = self._base_client()
            if self._requested == "fast":
                self._fast = FastPath.from_client(client, self.pool_size, self.connect_timeout_s)
            if self._fast is not None and aws.retry_mode() == "standard":
                # The client's own retry settings are 0 (ours, for invocations): look-ups get the
                # attempts any other client of thermostat gets.
                total = aws.user_max_attempts() or aws.DEFAULT_MAX_ATTEMPTS + 1
                self._api_retries = StandardRetries(total, sleep=self._sleep, rng=self._rng)
            self._ready.set()

    @property
    def transport(self) -> Transport:
        """The transport in use (``fast`` falls back to ``sdk`` behind an HTTP proxy)."""
        self._prepare()
        return "fast" if self._fast is not None else "sdk"

    def close(self) -> None:
        """Close pooled connections (the invoker stays usable: they reopen on demand)."""
        if self._fast is not None:
            self._fast.pool.close()
        with self._lock:
            clients = list(self._sdk_clients.values())
            if self._client is not None and self._client is not self._injected_client:
                clients.append(self._client)
        for client in clients:
            client.close()

    def call_api(
        self, operation: str, method: str, path: str, query: str = "", read_timeout_s: float = 5.0
    ) -> ApiReply | None:
        """A signed call to another Lambda API operation (e.g. ``GetFunction``) over the same pool.

        Retried as botocore's standard mode retries ``operation`` (:mod:`.retries`). None when the
        fast path is not in use, or the user chose another retry mode (``AWS_RETRY_MODE``): the
        caller then uses botocore. Raises ``OSError`` on a connection failure or timeout once the
        retries are spent. ``path`` starts with the API version, ``/2015-03-31/…``.
        """
        self._prepare()
        fast, retries = self._fast, self._api_retries
        if fast is None or retries is None:
            return None

        def send() -> HttpResponse:
            try:
                return fast.call(method, path, query, read_timeout_s)
            except ValueError as exc:  # a status line that is not one
                raise ConnectionError(f"not an HTTP response: {exc}") from exc

        def error_of(response: HttpResponse) -> tuple[str | None, str | None]:
            reply = ApiReply.of(response.status, response.headers, response.body)
            return reply.code, reply.message

        model = fast.client.meta.service_model.operation_model(operation)
        response = retries.call(send, error_of, operation_model=model, endpoint_url=fast.endpoint_url)
        return ApiReply.of(response.status, response.headers, response.body)

    # -- connections ahead of a burst

    #: :class:`infra.fanout.ThreadDispatcher` may pass ``before_send`` to :meth:`invoke`.
    supports_before_send = True

    def idle_connections(self) -> int:
        """Drop the pooled connections the service closed meanwhile; how many open ones are left.

        0 on the SDK transport (botocore's pool is its own business).
        """
        self._prepare()
        return self._fast.pool.discard_closed() if self._fast is not None else 0

    def open_connections(self, count: int) -> int:
        """Open (and handshake) up to ``count`` more pooled connections at once; how many were opened.

        0 on the SDK transport. Never raises: a connection that cannot be opened now is opened by
        the ping that needs it.
        """
        self._prepare()
        if self._fast is None:
            return 0
        try:
            return self._fast.pool.open_many(count)
        except OSError:
            return 0

    # -- the port

    def invoke(
        self, request: InvocationRequest, *, before_send: Callable[[], object] | None = None
    ) -> InvocationResult:
        """Invoke once (``RequestResponse``), retrying transient failures; never raises.

        ``before_send``: called once, just before the first attempt leaves (after signing and
        taking a connection): a fan-out's barrier. It must not raise.
        """
        started = time.perf_counter()
        gate = _Once(before_send)
        try:
            self._prepare()
            result = self._retried(request, self._attempt(request, gate))
        except Exception as exc:  # noqa: BLE001 - the port's promise: a result, never an exception
            result = InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            gate()  # whatever failed, the others at the barrier are not kept waiting
        return _timed(result, started, time.perf_counter())

    def _retried(self, request: InvocationRequest, result: InvocationResult) -> InvocationResult:
        """``result`` of a first attempt, after the retries it is owed (transient failures, within the quota)."""
        attempt = 1
        # An injected client on the SDK path retries by its own configuration: not twice over.
        own_retries = self._fast is not None or self._injected_client is None
        while own_retries and attempt < self.max_attempts and _retryable(result, self.retry_throttles):
            if not self._quota.acquire():
                break
            self._sleep(self._rng.uniform(0.0, min(2.0, 0.1 * 2**attempt)))
            result = self._attempt(request)
            attempt += 1
        if result.outcome is Outcome.OK:
            self._quota.refund()
        return result

    def sends_batches(self) -> bool:
        """True when :meth:`invoke_many` sends a batch from one thread (the fast transport); else use threads."""
        self._prepare()
        return self._fast is not None

    def invoke_many(
        self, requests: list[InvocationRequest], *, before_send: Callable[[], object] | None = None
    ) -> list[InvocationResult]:
        """Invoke every request of a batch at once; each one's result, in order; never raises.

        On the fast transport the first attempts leave together from this thread
        (:meth:`FastPath.invoke_many`), and the ones that failed transiently are retried as
        :meth:`invoke` retries them, each on a thread of its own (they back off independently).
        On the SDK transport each request is :meth:`invoke` on a thread of its own. The read
        timeout is the first request's (a batch shares one). ``duration_ms`` is each one's time
        from the batch's start to its reply. ``before_send``: called once, after signing and
        before the first request leaves; it must not raise.
        """
        started = time.perf_counter()
        try:
            fast = self._fast if self.sends_batches() else None
            if fast is None or not requests:
                if before_send is not None:
                    before_send()
                return _on_threads([functools.partial(self.invoke, request) for request in requests])
            timeout = requests[0].read_timeout_s or self.read_timeout_s
            first = fast.invoke_many(requests, timeout, self.tail_logs, before_send)
        except Exception as exc:  # noqa: BLE001 - the port's promise: a result, never an exception
            failed = InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
            return [_timed(failed, started, time.perf_counter())] * len(requests)
        results = [_timed(result, started, at) for result, at in first]
        again = [index for index, result in enumerate(results) if _retryable(result, self.retry_throttles)]
        if again and self.max_attempts > 1:

            def retry(index: int) -> InvocationResult:
                try:
                    result = self._retried(requests[index], results[index])
                except Exception as exc:  # noqa: BLE001 - as in invoke
                    result = InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
                return _timed(result, started, time.perf_counter())

            retried = _on_threads([functools.partial(retry, index) for index in again])
            for index, result in zip(again, retried, strict=True):
                results[index] = result
        return results

    def _attempt(self, request: InvocationRequest, gate: Callable[[], object] | None = None) -> InvocationResult:
        timeout = request.read_timeout_s or self.read_timeout_s
        if self._fast is not None:
            return self._fast.invoke(request, timeout, self.tail_logs, gate)
        if gate is not None:
            gate()
        return self._sdk_invoke(request, timeout)

    # -- the SDK transport

    def _sdk_client(self, read_timeout: float) -> LambdaClient:
        if self._injected_client is not None:
            return self._injected_client  # its own configuration wins
        bucket = max(1, int(read_timeout + 0.999))
        with self._lock:
            client = self._sdk_clients.get(bucket)
        if client is None:
            client = aws.client(
                "lambda",
                max_attempts=0,
                max_pool_connections=self.pool_size,
                connect_timeout=self.connect_timeout_s,
                read_timeout=bucket,
            )
            with self._lock:
                client = self._sdk_clients.setdefault(bucket, client)
        return client

    def _sdk_invoke(self, request: InvocationRequest, read_timeout: float) -> InvocationResult:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        options: dict[str, Any] = {
            "FunctionName": request.function,
            "InvocationType": "RequestResponse",
            "LogType": "Tail" if self.tail_logs else "None",
            "Payload": request.payload,
        }
        if request.qualifier:
            options["Qualifier"] = request.qualifier
        try:
            response = self._sdk_client(read_timeout).invoke(**options)
            body = response["Payload"].read()
        except ReadTimeoutError:
            return InvocationResult(outcome=Outcome.TIMEOUT, error=f"no reply within {read_timeout:g} s")
        except ConnectTimeoutError as exc:
            return InvocationResult(outcome=Outcome.FAILED, error=f"could not connect: {exc}")
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = exc.response.get("Error", {}).get("Message")
            reason = exc.response.get("Reason")  # modelled field of TooManyRequestsException
            error = ApiError(aws.error_code(exc), message, str(reason) if reason else None)
            return invocation_result(status, {}, error=error)
        except BotoCoreError as exc:
            return InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        # botocore's names for the reply's headers, read back into them: both transports share one reading.
        named = {
            FUNCTION_ERROR: response.get("FunctionError"),
            LOG_RESULT: response.get("LogResult"),
            EXECUTED_VERSION: response.get("ExecutedVersion"),
        }
        headers = {name: value for name, value in named.items() if value is not None}
        return invocation_result(int(response.get("StatusCode") or 200), headers, body)
