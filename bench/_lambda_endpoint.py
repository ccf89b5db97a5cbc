"""A local HTTP endpoint that speaks enough of the Lambda API to test and benchmark fan-outs.

Not a Lambda: no code runs. Each function is a pool of simulated *environments*. A request takes
an idle environment (or starts a new one: a cold start), keeps it busy for the ping's
``hold_ms``, and answers a warm-ping protocol reply carrying that environment's id, so N
overlapping requests are answered by N distinct environments exactly as Lambda would route them.

Served operations (the paths botocore uses):

* ``POST /2015-03-31/functions/{name}/invocations[?Qualifier=Q]`` (Invoke, RequestResponse)
* ``GET  /2015-03-31/functions/{name}[?Qualifier=Q]`` (GetFunction: timeout, reserved concurrency)
* ``GET  /2015-03-31/functions/{name}/configuration[?Qualifier=Q]`` (GetFunctionConfiguration)
* ``GET  /2019-09-30/functions/{name}/concurrency`` (GetFunctionConcurrency)
* ``GET  /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=Q``

Behaviour per function (:class:`FunctionSpec`): reserved concurrency (the next concurrent request
gets 429 ``ReservedFunctionConcurrentInvocationLimitExceeded``), a forced throttle reason,
``FunctionError``, a reply that does not speak the protocol, known qualifiers, provisioned
concurrency. Endpoint-wide: ``latency_ms`` (half before the environment is taken, half after it
is released, like network and front-end time) and a cap on hold.

Admin: ``GET /_endpoint/stats`` (requests per function, peak concurrency, environments),
``POST /_endpoint/reset``. In-process: :class:`LambdaEndpoint` (``with LambdaEndpoint(...) as ep``);
in a separate process (so that the server does not share the client's GIL in benchmarks):
:func:`endpoint_process`. Binds 127.0.0.1 on a free port only.

The server is one asyncio loop in a background thread, with a minimal HTTP/1.1 parser: a
thread-per-connection ``http.server`` costs ~0.2 ms of CPU per request, which at a fan-out of 200
made the endpoint itself, not the client under test, the bottleneck (a near-free raw-socket
client measured 1.16-1.37x the ideal against it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class FunctionSpec:
    """How one simulated function behaves."""

    name: str
    #: qualifier -> version. ``$LATEST`` always exists; an unknown qualifier is a 404.
    qualifiers: dict[str, str] = field(default_factory=lambda: {"live": "1", "1": "1"})
    reserved: int | None = None
    provisioned: dict[str, int] = field(default_factory=dict)
    timeout_s: int = 3
    throttle_reason: str | None = None
    function_error: bool = False
    speaks_protocol: bool = True
    #: extra busy time per request, on top of the requested hold (a slow function)
    busy_ms: float = 0.0
    #: answer the first N invokes with 503 ServiceException (a transient service failure)
    fail_first: int = 0


@dataclass
class _Environment:
    env_id: str
    version: str
    invocations: int = 0


@dataclass
class _FunctionState:
    spec: FunctionSpec
    idle: dict[str, list[_Environment]] = field(default_factory=dict)
    busy: int = 0
    peak_busy: int = 0
    environments: list[str] = field(default_factory=list)
    requests: int = 0
    invocations: int = 0
    throttled: int = 0


def _env_id() -> str:
    return uuid.uuid4().hex[:16]


class LambdaEndpoint:
    """The simulated Lambda front end. Thread-safe; start it as a context manager."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec] | list[FunctionSpec] | None = None,
        *,
        latency_ms: float = 0.0,
        hold_ms_max: int = 1_000,
        close_connections: bool = False,
    ) -> None:
        specs = list(functions.values()) if isinstance(functions, Mapping) else list(functions or [])
        self.latency_ms = latency_ms
        self.hold_ms_max = hold_ms_max
        self._lock = threading.Lock()
        self._functions: dict[str, _FunctionState] = {spec.name: _FunctionState(spec) for spec in specs}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.total_requests = 0
        self.connections = 0
        #: close every connection after one reply, without saying so (as an idle timeout would)
        self.close_connections = close_connections
        self.operations: Counter[str] = Counter()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        assert self._server is not None, "start the endpoint first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LambdaEndpoint:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                # A fan-out of hundreds connects at once: a small backlog would drop SYNs.
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve_connection, "127.0.0.1", 0, backlog=1024)
                )
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="lambda-endpoint", daemon=True)
        self._thread.start()
        started.wait(timeout=10)
        if failure:
            raise RuntimeError(f"the endpoint did not start: {failure[0]}") from failure[0]
        return self

    def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        loop.stop()

    def stop(self) -> None:
        """Stop serving and close the socket and every connection (idempotent)."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._shutdown, loop)
        if thread is not None:
            thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> LambdaEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration and inspection --------------------------------------------------------

    def add(self, spec: FunctionSpec) -> None:
        """Add or replace a function."""
        with self._lock:
            self._functions[spec.name] = _FunctionState(spec)

    def requests(self, name: str) -> int:
        """Invoke requests received for ``name`` (throttled ones included)."""
        with self._lock:
            state = self._functions.get(name)
            return state.requests if state else 0

    def stats(self) -> dict[str, Any]:
        """Counters for every function."""
        with self._lock:
            return {
                "total_requests": self.total_requests,
                "connections": self.connections,
                "operations": dict(self.operations),
                "functions": {
                    name: {
                        "requests": state.requests,
                        "invocations": state.invocations,
                        "throttled": state.throttled,
                        "peak_busy": state.peak_busy,
                        "environments": len(state.environments),
                    }
                    for name, state in self._functions.items()
                },
            }

    def reset(self) -> None:
        """Forget environments and counters; keep the function specs."""
        with self._lock:
            self._functions = {name: _FunctionState(state.spec) for name, state in self._functions.items()}
            self.total_requests = 0
            self.connections = 0
            self.operations.clear()

    # -- serving ---------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests in order, until the client or the test closes it."""
        with self._lock:
            self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                reply = await _route(self, request)
                writer.write(_response(*reply))
                await writer.drain()
                keep = (
                    request.version == "HTTP/1.1"
                    and request.headers.get("connection", "").lower() != "close"
                    and not self.close_connections
                )
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # a client that gave up (its read timeout) is not news
        finally:
            self._writers.discard(writer)
            writer.close()

    # -- the simulation ----------------------------------------------------------------------

    def _resolve(self, name: str, qualifier: str | None) -> tuple[_FunctionState, str] | tuple[None, str]:
        name = _function_name(name)
        state = self._functions.get(name)
        if state is None:
            return None, f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if qualifier in (None, "", "$LATEST"):
            return state, "$LATEST"
        assert qualifier is not None
        version = state.spec.qualifiers.get(qualifier)
        if version is None:
            return None, f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{qualifier}"
        return state, version

    def _acquire(self, state: _FunctionState, version: str) -> tuple[_Environment | None, bool]:
        with self._lock:
            state.requests += 1
            self.total_requests += 1
            idle = state.idle.setdefault(version, [])
            if idle:
                env = idle.pop()  # the most recently used first, as Lambda tends to
                cold = False
            else:
                reserved = state.spec.reserved
                if reserved is not None and state.busy >= reserved:
                    state.throttled += 1
                    return None, False
                env = _Environment(_env_id(), version)
                state.environments.append(env.env_id)
                cold = True
            state.busy += 1
            state.peak_busy = max(state.peak_busy, state.busy)
            state.invocations += 1
            env.invocations += 1
            return env, cold

    def _release(self, state: _FunctionState, env: _Environment) -> None:
        with self._lock:
            state.busy -= 1
            state.idle.setdefault(env.version, []).append(env)

    async def invoke(self, name: str, qualifier: str | None, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Serve one Invoke: (status, headers, body)."""
        half_latency = self.latency_ms / 2000.0
        if half_latency:
            await asyncio.sleep(half_latency)
        state, version = self._resolve(name, qualifier)
        if state is None:
            with self._lock:
                self.total_requests += 1
            return _error(404, "ResourceNotFoundException", version)
        spec = state.spec
        with self._lock:
            failing = spec.fail_first > 0
            if failing:
                spec.fail_first -= 1
                state.requests += 1
                self.total_requests += 1
        if failing:
            return _error(503, "ServiceException", "the service is unavailable, try again")
        if spec.throttle_reason:
            with self._lock:
                state.requests += 1
                state.throttled += 1
                self.total_requests += 1
            return _throttle(spec.throttle_reason)
        env, cold = self._acquire(state, version)
        if env is None:
            return _throttle("ReservedFunctionConcurrentInvocationLimitExceeded")
        try:
            ping = _ping_of(body)
            hold_ms = min(int(ping.get("hold_ms") or 0), self.hold_ms_max) if ping is not None else 0
            busy_s = (hold_ms + spec.busy_ms) / 1000.0
            if busy_s:
                await asyncio.sleep(busy_s)
        finally:
            self._release(state, env)
        if half_latency:
            await asyncio.sleep(half_latency)
        headers = {"X-Amz-Executed-Version": version}
        if spec.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
            payload: Any = {"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": []}
        elif spec.speaks_protocol and ping is not None:
            payload = {
                "thermostat": {
                    "v": 1,
                    "warm": True,
                    "environment_id": env.env_id,
                    "start_kind": "cold" if cold else "warm",
                    "init_type": "on-demand",
                    "init_ms": 120.0 if cold else None,
                    "function_name": spec.name,
                    "function_version": version,
                    "correlation_id": ping.get("correlation_id"),
                    "probe": None,
                    "index": ping.get("index"),
                    "of": ping.get("of"),
                    "held_ms": hold_ms,
                }
            }
        else:
            payload = {"statusCode": 200, "body": "ok"}
        return 200, headers, json.dumps(payload).encode()

    def get_function(self, name: str, qualifier: str | None) -> tuple[int, dict[str, str], bytes]:
        """Serve GetFunction (configuration and reserved concurrency)."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _error(404, "ResourceNotFoundException", version)
        document: dict[str, Any] = {"Configuration": _configuration(state.spec, version)}
        if state.spec.reserved is not None:
            document["Concurrency"] = {"ReservedConcurrentExecutions": state.spec.reserved}
        return 200, {}, json.dumps(document).encode()

    def get_configuration(self, name: str, qualifier: str | None) -> tuple[int, dict[str, str], bytes]:
        """Serve GetFunctionConfiguration."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _error(404, "ResourceNotFoundException", version)
        return 200, {}, json.dumps(_configuration(state.spec, version)).encode()

    def get_concurrency(self, name: str) -> tuple[int, dict[str, str], bytes]:
        """Serve GetFunctionConcurrency."""
        state, message = self._resolve(name, None)
        if state is None:
            return _error(404, "ResourceNotFoundException", message)
        document = {} if state.spec.reserved is None else {"ReservedConcurrentExecutions": state.spec.reserved}
        return 200, {}, json.dumps(document).encode()

    def get_provisioned(self, name: str, qualifier: str | None) -> tuple[int, dict[str, str], bytes]:
        """Serve GetProvisionedConcurrencyConfig."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _error(404, "ResourceNotFoundException", version)
        amount = state.spec.provisioned.get(qualifier or "")
        if not amount:
            return _error(
                404,
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
            )
        document = {
            "RequestedProvisionedConcurrentExecutions": amount,
            "AvailableProvisionedConcurrentExecutions": amount,
            "AllocatedProvisionedConcurrentExecutions": amount,
            "Status": "READY",
        }
        return 200, {}, json.dumps(document).encode()


def _function_name(name: str) -> str:
    # Accept a full ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]) or a bare name.
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    return name


def _configuration(spec: FunctionSpec, version: str) -> dict[str, Any]:
    return {
        "FunctionName": spec.name,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{spec.name}",
        "Version": version,
        "Timeout": spec.timeout_s,
        "MemorySize": 128,
        "Runtime": "python3.11",
        "State": "Active",
    }


def _ping_of(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body or b"null")
    except ValueError:
        return None
    if isinstance(event, dict) and len(event) == 1 and isinstance(event.get("thermostat"), dict):
        ping: dict[str, Any] = event["thermostat"]
        return ping
    return None


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    body = {"Type": "User", "message": message, **extra}
    return status, {"x-amzn-ErrorType": code}, json.dumps(body).encode()


def _throttle(reason: str) -> tuple[int, dict[str, str], bytes]:
    return _error(429, "TooManyRequestsException", "Rate Exceeded.", Reason=reason, retryAfterSeconds="1")


def _response(status: int, headers: Mapping[str, str], body: bytes) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"x-amzn-RequestId: {uuid.uuid4()}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    # One write: headers and body in separate segments would meet Nagle and delayed ACKs.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _split_target(target: str) -> tuple[list[str], str | None]:
    parsed = urllib.parse.urlsplit(target)
    qualifier = urllib.parse.parse_qs(parsed.query).get("Qualifier", [None])[0]
    parts = [urllib.parse.unquote(part) for part in parsed.path.strip("/").split("/")]
    return parts, qualifier


class _Request:
    __slots__ = ("body", "headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return _Request(method, target, version, headers, body)


async def _route(endpoint: LambdaEndpoint, request: _Request) -> tuple[int, dict[str, str], bytes]:
    method = request.method
    parts, qualifier = _split_target(request.target)
    if parts[:1] == ["_endpoint"]:
        if parts[1:] == ["stats"]:
            return 200, {}, json.dumps(endpoint.stats()).encode()
        if parts[1:] == ["reset"] and method == "POST":
            endpoint.reset()
            return 200, {}, b"{}"
        return _error(404, "UnknownOperationException", request.target)
    if len(parts) < 3 or parts[1] != "functions":
        return _error(404, "UnknownOperationException", f"unknown path {request.target}")
    name, rest = parts[2], parts[3:]
    # A qualifier in the name (NAME:QUALIFIER, or a qualified ARN) is accepted as Lambda does.
    if ":" in name and not name.startswith("arn:"):
        name, qualifier = name.split(":", 1)
    elif name.startswith("arn:") and len(name.split(":")) > 7:
        qualifier = name.split(":")[7]
    operation = f"{method} {'/'.join(rest) or 'function'}"
    with endpoint._lock:
        endpoint.operations[operation] += 1
    if method == "POST" and rest == ["invocations"]:
        invocation_type = request.headers.get("x-amz-invocation-type") or "RequestResponse"
        if invocation_type != "RequestResponse":
            return _error(400, "InvalidParameterValueException", "only RequestResponse is simulated")
        return await endpoint.invoke(name, qualifier, request.body)
    if method == "GET" and rest == []:
        return endpoint.get_function(name, qualifier)
    if method == "GET" and rest == ["configuration"]:
        return endpoint.get_configuration(name, qualifier)
    if method == "GET" and rest == ["concurrency"]:
        return endpoint.get_concurrency(name)
    if method == "GET" and rest == ["provisioned-concurrency"]:
        return endpoint.get_provisioned(name, qualifier)
    return _error(404, "UnknownOperationException", f"not simulated: {method} {request.target}")


# -- a separate process, for benchmarks ---------------------------------------------------------


@contextlib.contextmanager
def endpoint_process(
    functions: list[FunctionSpec], *, latency_ms: float = 0.0, hold_ms_max: int = 1_000
) -> Iterator[str]:
    """Run the endpoint in a child process (its own GIL); yields its URL; always stops it."""
    config = json.dumps(
        {"functions": [asdict(spec) for spec in functions], "latency_ms": latency_ms, "hold_ms_max": hold_ms_max}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._lambda_endpoint", "--config", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(config)
        process.stdin.close()
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"endpoint process did not start (said {url!r})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def fetch_stats(url: str) -> dict[str, Any]:
    """The counters of an endpoint (in this process or another)."""
    with urllib.request.urlopen(f"{url}/_endpoint/stats", timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())
        return stats


def reset(url: str) -> None:
    """Reset an endpoint's environments and counters."""
    request = urllib.request.Request(f"{url}/_endpoint/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def main(argv: list[str] | None = None) -> None:
    """``python -m bench._lambda_endpoint --config FILE|-``: serve until terminated; prints the URL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None, help="JSON {functions, latency_ms, hold_ms_max}; '-' for stdin")
    args = parser.parse_args(argv)
    raw: dict[str, Any] = {}
    if args.config == "-":
        raw = json.loads(sys.stdin.read() or "{}")
    elif args.config:
        with open(args.config, encoding="utf-8") as handle:
            raw = json.load(handle)
    specs = [FunctionSpec(**item) for item in raw.get("functions", [])]
    endpoint = LambdaEndpoint(specs, latency_ms=raw.get("latency_ms", 0.0), hold_ms_max=raw.get("hold_ms_max", 1000))
    endpoint.start()
    print(endpoint.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
