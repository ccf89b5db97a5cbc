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
* ``"sdk"``: ``boto3``'s ``lambda.invoke``, for environments the fast path does not cover (an
  HTTP proxy is configured for the endpoint; the fast path then falls back to it by itself).

Both use the endpoint, region and credentials of a boto3 client (``AWS_ENDPOINT_URL[_LAMBDA]``
honoured, never hard-coded), a per-request read timeout, and the same retry policy: few
attempts, only for transient failures (connection errors, 5xx), full-jitter backoff, and a
retry quota shared by the whole fan-out as in botocore's standard mode. Throttles are not
retried by default: a retry storm on ``TooManyRequestsException`` makes throttling worse, so
they are counted by reason instead. Timeouts are never retried (the first call may still run).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

Transport = Literal["fast", "sdk"]

API_VERSION = "2015-03-31"
USER_AGENT = "thermostat/0.1 (keep-warm; +https://github.com/)"
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 3.0
#: Status codes worth a second attempt: the service, not the request, failed.
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})
_MAX_HEADER_LINES = 200
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


# -- SigV4 -----------------------------------------------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SigV4Signer:
    """Signs one request with AWS Signature Version 4 (headers ``host`` and ``x-amz-date``).

    The same canonical form as botocore's ``SigV4Auth`` (paths quoted once more, query sorted),
    with the day's signing key cached: signing costs a few microseconds instead of botocore's
    request-object pipeline.
    """

    def __init__(self, region: str, service: str = "lambda") -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def _key(self, secret: str, day: str) -> bytes:
        cache_key = (secret, day)
        key = self._keys.get(cache_key)
        if key is None:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:
                if len(self._keys) > 8:
                    self._keys.clear()
                self._keys[cache_key] = key
        return key

    def headers(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        body: bytes,
        access_key: str,
        secret_key: str,
        token: str | None,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """The headers to add (``X-Amz-Date``, ``Authorization``, ``X-Amz-Security-Token``)."""
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = amz_date[:8]
        signed: list[tuple[str, str]] = [("host", host), ("x-amz-date", amz_date)]
        if token:
            signed.append(("x-amz-security-token", token))
        names = ";".join(name for name, _ in signed)
        canonical = "\n".join(
            (
                method,
                urllib.parse.quote(path, safe="/~"),
                _canonical_query(query),
                "".join(f"{name}:{value}\n" for name, value in signed),
                names,
                _sha256_hex(body),
            )
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{_sha256_hex(canonical.encode())}"
        signature = hmac.new(self._key(secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        out = {
            "X-Amz-Date": amz_date,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
            ),
        }
        if token:
            out["X-Amz-Security-Token"] = token
        return out


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = [pair.partition("=") for pair in query.split("&")]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs))


# -- a minimal keep-alive HTTP/1.1 client --------------------------------------------------------


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class ConnectFailed(ConnectionError):
    """The connection could not be opened (refused, unreachable, connect timeout): safe to retry."""


class _StaleConnection(Exception):
    """A pooled connection was closed by the server before it answered: retry on a fresh one."""


class _Connection:
    __slots__ = ("reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=65536)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class _HttpPool:
    """Keep-alive connections to one endpoint; at most ``size`` are kept idle.

    More concurrent requests than ``size`` open extra connections that are closed after use,
    so the pool must be sized to the fan-out (on AWS each extra one is a new TLS handshake).
    """

    def __init__(self, scheme: str, host: str, port: int, size: int, connect_timeout: float) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.size = size
        self.connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if scheme == "https":
            cafile = os.environ.get("AWS_CA_BUNDLE") or _default_ca_bundle()
            self._tls = ssl.create_default_context(cafile=cafile)

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            # Requests leave in one write anyway; no Nagle delay on the reply's ACKs either.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(sock)

    def _checkout(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def request(self, raw: bytes, read_timeout: float) -> _Response:
        """Send ``raw`` (a complete request) and read the reply; one silent retry on a stale connection."""
        connection, reused = self._checkout()
        try:
            return self._exchange(connection, raw, read_timeout)
        except _StaleConnection:
            if not reused:
                raise ConnectionResetError("the server closed the connection without answering") from None
            return self._exchange(self._connect(), raw, read_timeout)

    def _exchange(self, connection: _Connection, raw: bytes, read_timeout: float) -> _Response:
        keep = False
        try:
            connection.sock.settimeout(read_timeout)
            try:
                connection.sock.sendall(raw)
                status_line = connection.reader.readline(65537)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise _StaleConnection from exc
            if not status_line:
                raise _StaleConnection
            response, keep = _read_response(status_line, connection.reader)
            return response
        finally:
            if keep:
                self._checkin(connection)
            else:
                connection.close()


def _read_response(status_line: bytes, reader: Any) -> tuple[_Response, bool]:
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ConnectionError("too many response headers")
    keep = parts[0] == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        length = int(headers["content-length"])
        body = reader.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("the connection closed in the middle of the reply")
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = _read_chunked(reader)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body, keep = reader.read(), False
    return _Response(status, headers, body), keep


def _read_chunked(reader: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = reader.readline(65537)
        if not size_line:
            raise ConnectionError("the connection closed in the middle of a chunked reply")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(reader.read(size))
        reader.readline(65537)


def _default_ca_bundle() -> str | None:
    try:
        from botocore.httpsession import get_cert_path

        path = get_cert_path(True)
        return path if isinstance(path, str) else None
    except Exception:  # noqa: BLE001 - fall back to the system's trust store
        return None


# -- classification --------------------------------------------------------------------------


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    if not body:
        return None, None
    try:
        return json.loads(body), None
    except ValueError:
        return None, "the reply is not JSON"


def _function_error_text(kind: str, payload: Any) -> str:
    if isinstance(payload, dict):
        error_type = payload.get("errorType") or kind
        message = payload.get("errorMessage")
        return f"{error_type}: {message}" if message else str(error_type)
    return kind


def _classify_error(status: int, code: str | None, message: str | None, reason: str | None) -> tuple[Outcome, str]:
    code = code or f"HTTP {status}"
    if code in aws.THROTTLING_CODES or status == 429:
        return Outcome.THROTTLED, reason or code
    if code in NOT_FOUND_CODES:
        return Outcome.NOT_FOUND, message or code
    return Outcome.FAILED, f"{code}: {message}" if message else code


def _retryable(result: InvocationResult, retry_throttles: bool) -> bool:
    if result.outcome is Outcome.THROTTLED:
        return retry_throttles
    if result.outcome is not Outcome.FAILED:
        return False
    return result.status_code is None or result.status_code in RETRYABLE_STATUS


# -- the adapter -----------------------------------------------------------------------------


class ApiReply:
    """The answer to :meth:`BotoFunctionInvoker.call_api`: status, error code and message, JSON document."""

    __slots__ = ("code", "document", "message", "status")

    def __init__(self, status: int, code: str | None, message: str | None, document: Any) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.document = document

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


class BotoFunctionInvoker:
    """Invoke Lambda functions synchronously; every failure is a result, never an exception.

    ``client``: a boto3 Lambda client (endpoint, region and credentials come from it); built by
    ``infra.aws.client`` when None. ``pool_size``: the largest fan-out that will share this
    invoker (``THERMOSTAT_MAX_IN_FLIGHT`` for keep-warm); by default the injected client's
    ``max_pool_connections``, else 10. ``max_attempts``: total attempts for a
    transient failure; by default the injected client's own retry setting (botocore's
    ``max_attempts=0`` means one attempt), else 2. ``read_timeout_s``: when a request gives none.
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
        if max_attempts is None:
            max_attempts = _attempts_of(client) if client is not None else DEFAULT_MAX_ATTEMPTS
        if max_attempts < 1:
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
        self.max_attempts = max_attempts
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retry_throttles = retry_throttles
        self.tail_logs = tail_logs
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._quota = _RetryQuota()
        self._requested: Transport = transport
        self._fast: _FastPath | None = None
        self._ready = threading.Event()

    # -- set-up, lazily at the first invocation (never at import or construction)

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
                self._fast = _FastPath.from_client(client, self.pool_size, self.connect_timeout_s)
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

    def call_api(self, method: str, path: str, query: str = "", read_timeout_s: float = 5.0) -> ApiReply | None:
        """A signed call to another Lambda API operation (e.g. ``GetFunction``) over the same pool.

        None when the fast path is not in use (the caller then uses boto3); raises ``OSError`` on
        a connection failure or timeout. ``path`` starts with the API version, ``/2015-03-31/…``.
        """
        self._prepare()
        if self._fast is None:
            return None
        response = self._fast.call(method, path, query, read_timeout_s)
        document, _ = _parse_json(response.body)
        code = response.headers.get("x-amzn-errortype", "").split(":", 1)[0] or None
        if code is None and isinstance(document, dict) and document.get("__type"):
            code = str(document["__type"]).rsplit("#", 1)[-1]
        message = document.get("message") or document.get("Message") if isinstance(document, dict) else None
        return ApiReply(response.status, code, str(message) if message else None, document)

    # -- the port

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Invoke once (``RequestResponse``), retrying transient failures; never raises."""
        started = time.perf_counter()
        try:
            self._prepare()
            result = self._attempt(request)
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
        except Exception as exc:  # noqa: BLE001 - the port's promise: a result, never an exception
            result = InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        return result.model_copy(update={"duration_ms": round((time.perf_counter() - started) * 1000.0, 3)})

    def _attempt(self, request: InvocationRequest) -> InvocationResult:
        timeout = request.read_timeout_s or self.read_timeout_s
        if self._fast is not None:
            return self._fast.invoke(request, timeout, self.tail_logs)
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
            meta = exc.response.get("ResponseMetadata", {})
            status = int(meta.get("HTTPStatusCode") or 0)
            error = exc.response.get("Error", {})
            raw_reason = exc.response.get("Reason")  # modelled field of TooManyRequestsException
            reason = str(raw_reason) if raw_reason else None
            outcome, text = _classify_error(status, aws.error_code(exc), error.get("Message"), reason)
            return InvocationResult(outcome=outcome, status_code=status or None, error=text)
        except BotoCoreError as exc:
            return InvocationResult(outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        payload, note = _parse_json(body)
        status = int(response.get("StatusCode") or 200)
        function_error = response.get("FunctionError")
        log = response.get("LogResult")
        common: dict[str, Any] = {
            "status_code": status,
            "payload": payload,
            "raw_size": len(body),
            "executed_version": response.get("ExecutedVersion"),
            "log_tail": base64.b64decode(log).decode("utf-8", "replace") if log else None,
        }
        if function_error:
            return InvocationResult(
                outcome=Outcome.FUNCTION_ERROR, error=_function_error_text(function_error, payload), **common
            )
        return InvocationResult(outcome=Outcome.OK, error=note, **common)


class _FastPath:
    """Invoke over :class:`_HttpPool`, signing with the client's own credentials."""

    def __init__(self, client: Any, endpoint: urllib.parse.SplitResult, pool_size: int, connect_timeout: float) -> None:
        self.client = client
        self.region: str = client.meta.region_name
        self.signer = SigV4Signer(self.region)
        scheme = endpoint.scheme
        port = endpoint.port or (443 if scheme == "https" else 80)
        host = endpoint.hostname or ""
        self.prefix = endpoint.path.rstrip("/")
        default_port = (scheme, port) in {("https", 443), ("http", 80)}
        self.host_header = host if default_port else f"{host}:{port}"
        if ":" in host and not default_port:  # IPv6 literal
            self.host_header = f"[{host}]:{port}"
        self.pool = _HttpPool(scheme, host, port, pool_size, connect_timeout)
        self.endpoint_url = endpoint.geturl()

    @classmethod
    def from_client(cls, client: Any, pool_size: int, connect_timeout: float) -> _FastPath | None:
        """The fast path for ``client``'s endpoint, or None when only the SDK can reach it."""
        endpoint = urllib.parse.urlsplit(client.meta.endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            return None
        proxies = urllib.request.getproxies()
        if proxies.get(endpoint.scheme) and not urllib.request.proxy_bypass(endpoint.hostname):
            return None  # the SDK knows how to tunnel through a proxy; this path does not
        return cls(client, endpoint, pool_size, connect_timeout)

    def _credentials(self) -> Any:
        # The client's own credential provider (refreshes itself); private in botocore but the
        # only way to sign with exactly what the client would use.
        signer = getattr(self.client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None
        return credentials.get_frozen_credentials()

    def _raw(self, method: str, path: str, query: str, body: bytes, extra: tuple[str, ...] = ()) -> bytes | None:
        """The signed request's bytes, or None without credentials."""
        credentials = self._credentials()
        if credentials is None or not credentials.access_key:
            return None
        path = f"{self.prefix}{path}"
        headers = self.signer.headers(
            method,
            self.host_header,
            path,
            query,
            body,
            credentials.access_key,
            credentials.secret_key,
            credentials.token,
        )
        lines = [
            f"{method} {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {self.host_header}",
            f"User-Agent: {USER_AGENT}",
            "Content-Type: application/x-amz-json-1.0",
            f"Content-Length: {len(body)}",
            *extra,
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def call(self, method: str, path: str, query: str, read_timeout: float) -> _Response:
        """Another Lambda API operation (a GET without body) over the same pool; raises on I/O errors."""
        raw = self._raw(method, path, query, b"")
        if raw is None:
            raise PermissionError("no AWS credentials found for the Lambda client")
        return self.pool.request(raw, read_timeout)

    def invoke(self, request: InvocationRequest, read_timeout: float, tail_logs: bool) -> InvocationResult:
        path = f"/{API_VERSION}/functions/{urllib.parse.quote(request.function, safe='')}/invocations"
        query = f"Qualifier={urllib.parse.quote(request.qualifier, safe='-_.~')}" if request.qualifier else ""
        extra = ("X-Amz-Invocation-Type: RequestResponse", f"X-Amz-Log-Type: {'Tail' if tail_logs else 'None'}")
        raw = self._raw("POST", path, query, request.payload, extra)
        if raw is None:
            return InvocationResult(outcome=Outcome.FAILED, error="no AWS credentials found for the Lambda client")
        try:
            response = self.pool.request(raw, read_timeout)
        except ConnectFailed as exc:
            return InvocationResult(outcome=Outcome.FAILED, error=f"could not connect to {self.endpoint_url}: {exc}")
        except TimeoutError:
            return InvocationResult(outcome=Outcome.TIMEOUT, error=f"no reply within {read_timeout:g} s")
        except (OSError, ConnectionError, ValueError) as exc:
            return InvocationResult(
                outcome=Outcome.FAILED, error=f"could not reach {self.endpoint_url}: {type(exc).__name__}: {exc}"
            )
        return _result_of(response)


def _result_of(response: _Response) -> InvocationResult:
    status, headers, body = response.status, response.headers, response.body
    payload, note = _parse_json(body)
    if 200 <= status < 300:
        log = headers.get("x-amz-log-result")
        common: dict[str, Any] = {
            "status_code": status,
            "payload": payload,
            "raw_size": len(body),
            "executed_version": headers.get("x-amz-executed-version"),
            "log_tail": base64.b64decode(log).decode("utf-8", "replace") if log else None,
        }
        function_error = headers.get("x-amz-function-error")
        if function_error:
            return InvocationResult(
                outcome=Outcome.FUNCTION_ERROR, error=_function_error_text(function_error, payload), **common
            )
        return InvocationResult(outcome=Outcome.OK, error=note, **common)
    document = payload if isinstance(payload, dict) else {}
    code = headers.get("x-amzn-errortype", "").split(":", 1)[0] or None
    if code is None:
        raw_type = document.get("__type") or document.get("code")
        code = str(raw_type).rsplit("#", 1)[-1] if raw_type else None
    message = document.get("message") or document.get("Message")
    reason = document.get("Reason")
    outcome, text = _classify_error(status, code, str(message) if message else None, str(reason) if reason else None)
    return InvocationResult(outcome=outcome, status_code=status, error=text, raw_size=len(body))
