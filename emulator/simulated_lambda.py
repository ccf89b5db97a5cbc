"""A simulated Lambda endpoint: enough of the Lambda API to test and benchmark fan-outs, with no code run.

Not a Lambda (that is :mod:`emulator.lambda_runner`). Each function is a pool of simulated
*environments*. A request takes an idle environment (or starts a new one: a cold start), keeps it
busy for the ping's ``hold_ms``, and answers a warm-ping protocol reply carrying that
environment's id, so N overlapping requests are answered by N distinct environments exactly as
Lambda would route them.

Served operations (the routes of :mod:`emulator.lambda_http`, which the runner serves too):
Invoke (RequestResponse), GetFunction (timeout, reserved concurrency), GetFunctionConfiguration,
GetFunctionConcurrency, GetProvisionedConcurrencyConfig.

Behaviour per function (:class:`SimulatedFunction`, in ``simulated_lambda_model``): reserved
concurrency (the next concurrent request gets 429 ``ReservedFunctionConcurrentInvocationLimitExceeded``),
a forced throttle reason, ``FunctionError``, a reply that does not speak the protocol, known
qualifiers, provisioned concurrency, transient 503s, a probe result. Endpoint-wide: ``latency_ms``
(half before the environment is taken, half after it is released, like network and front-end
time) and a cap on hold.

Admin: ``GET /_endpoint/stats`` (requests per function, peak concurrency, environments),
``POST /_endpoint/reset``. In-process: :class:`LambdaEndpoint` (``with LambdaEndpoint(...) as ep``);
in a separate process (so that the server does not share the client's GIL in benchmarks):
:func:`emulator.simulated_lambda_process.endpoint_process`. Binds 127.0.0.1 on a free port only.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from emulator.async_http import AsyncHTTPServer, Request
from emulator.lambda_http import Response, route, split_target
from emulator.simulated_lambda_model import (
    ACCOUNT,
    REGION,
    SimulatedEnvironment,
    SimulatedFunction,
    SimulatedFunctionState,
    configuration,
    ping_of,
    warm_reply,
)
from thermostat_runtime import names

__all__ = ["LambdaEndpoint", "SimulatedFunction"]

_SERVED = frozenset({"invoke", "get_function", "get_configuration", "get_concurrency", "get_provisioned"})


def _not_found(message: str) -> Response:
    return Response.failure(404, "ResourceNotFoundException", message)


class LambdaEndpoint:
    """The simulated Lambda front end. Thread-safe; start it as a context manager."""

    def __init__(
        self,
        functions: Mapping[str, SimulatedFunction] | list[SimulatedFunction] | None = None,
        *,
        latency_ms: float = 0.0,
        hold_ms_max: int = 1_000,
        close_connections: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        specs = list(functions.values()) if isinstance(functions, Mapping) else list(functions or [])
        self.latency_ms = latency_ms
        self.hold_ms_max = hold_ms_max
        self._lock = threading.Lock()
        self._functions: dict[str, SimulatedFunctionState] = {spec.name: SimulatedFunctionState(spec) for spec in specs}
        self._server = AsyncHTTPServer(
            self._serve,
            close_connections=close_connections,
            on_connection=self._count_connection,
            name="lambda-endpoint",
            tls=tls,
        )
        self.total_requests = 0
        self.connections = 0
        self.operations: Counter[str] = Counter()
        #: per function, when each Invoke arrived (monotonic seconds, in order): a burst's send spread
        self.arrivals: dict[str, list[float]] = {}
        #: environments busy at once across every function, now and at most (a fleet-wide in-flight cap)
        self.busy = 0
        self.peak_busy = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return self._server.url

    @property
    def close_connections(self) -> bool:
        """Whether every connection is closed after one reply, without saying so."""
        return self._server.close_connections

    @close_connections.setter
    def close_connections(self, value: bool) -> None:
        self._server.close_connections = value

    def start(self) -> LambdaEndpoint:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and every connection (idempotent)."""
        self._server.stop()

    def __enter__(self) -> LambdaEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration and inspection --------------------------------------------------------

    def add(self, spec: SimulatedFunction) -> None:
        """Add or replace a function."""
        with self._lock:
            self._functions[spec.name] = SimulatedFunctionState(spec)

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
                "peak_busy": self.peak_busy,
                "operations": dict(self.operations),
                "functions": {
                    name: {
                        "arrivals": list(self.arrivals.get(name, ())),
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
            self._functions = {name: SimulatedFunctionState(state.spec) for name, state in self._functions.items()}
            self.total_requests = 0
            self.connections = 0
            self.operations.clear()
            self.arrivals.clear()
            self.busy = self.peak_busy = 0

    # -- routing -----------------------------------------------------------------------------

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    async def _serve(self, request: Request) -> Response:
        path, query = split_target(request.target)
        if path.startswith("/_endpoint/"):
            return self._admin(request.method, path)
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[1] != "functions":
            return Response.failure(404, "UnknownOperationException", f"unknown path {request.target}")
        operation = f"{request.method} {'/'.join(parts[3:]) or 'function'}"
        with self._lock:
            self.operations[operation] += 1
        found = route(request.method, path, _SERVED)
        if found is None:
            return Response.failure(
                404, "UnknownOperationException", f"not simulated: {request.method} {request.target}"
            )
        name, params = found
        # A qualifier in the name (NAME:QUALIFIER, or a qualified ARN) wins, as Lambda takes it.
        ref = names.parse_function_ref(params["fn"])
        function = ref.name if ref is not None else params["fn"]
        qualifier = ref.qualifier if ref is not None and ref.qualifier is not None else query.get("Qualifier")
        if name == "invoke":
            invocation_type = request.headers.get("x-amz-invocation-type") or "RequestResponse"
            if invocation_type != "RequestResponse":
                return Response.failure(400, "InvalidParameterValueException", "only RequestResponse is simulated")
            return await self.invoke(function, qualifier, request.body)
        if name == "get_concurrency":
            return self.get_concurrency(function)
        handler = {
            "get_function": self.get_function,
            "get_configuration": self.get_configuration,
            "get_provisioned": self.get_provisioned,
        }[name]
        return handler(function, qualifier)

    def _admin(self, method: str, path: str) -> Response:
        if path == "/_endpoint/stats":
            return Response.json(200, self.stats())
        if path == "/_endpoint/reset" and method == "POST":
            self.reset()
            return Response.json(200, {})
        return Response.failure(404, "UnknownOperationException", path)

    # -- the simulation ----------------------------------------------------------------------

    def _resolve(self, name: str, qualifier: str | None) -> tuple[SimulatedFunctionState, str] | tuple[None, str]:
        state = self._functions.get(name)
        if state is None:
            return None, f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if qualifier in (None, "", names.LATEST):
            return state, names.LATEST
        assert qualifier is not None
        version = state.spec.qualifiers.get(qualifier)
        if version is None:
            return None, f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{qualifier}"
        return state, version

    def _count_request(self, state: SimulatedFunctionState | None, *, throttled: bool = False) -> None:
        with self._lock:
            self.total_requests += 1
            if state is not None:
                state.requests += 1
                state.throttled += int(throttled)

    def _acquire(self, state: SimulatedFunctionState, version: str) -> tuple[SimulatedEnvironment | None, bool]:
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
                env = SimulatedEnvironment(uuid.uuid4().hex[:16], version)
                state.environments.append(env.env_id)
                cold = True
            state.busy += 1
            state.peak_busy = max(state.peak_busy, state.busy)
            self.busy += 1
            self.peak_busy = max(self.peak_busy, self.busy)
            state.invocations += 1
            env.invocations += 1
            return env, cold

    def _release(self, state: SimulatedFunctionState, env: SimulatedEnvironment) -> None:
        with self._lock:
            state.busy -= 1
            self.busy -= 1
            state.idle.setdefault(env.version, []).append(env)

    async def invoke(self, name: str, qualifier: str | None, body: bytes) -> Response:
        """Serve one Invoke."""
        arrived = time.monotonic()
        with self._lock:
            self.arrivals.setdefault(name, []).append(arrived)
        half_latency = self.latency_ms / 2000.0
        if half_latency:
            await asyncio.sleep(half_latency)
        state, version = self._resolve(name, qualifier)
        if state is None:
            self._count_request(None)
            return _not_found(version)
        spec = state.spec
        with self._lock:
            failing = spec.fail_first > 0
            if failing:
                spec.fail_first -= 1
        if failing:
            self._count_request(state)
            return Response.failure(503, "ServiceException", "the service is unavailable, try again")
        if spec.throttle_reason:
            self._count_request(state, throttled=True)
            return Response.throttle(spec.throttle_reason)
        env, cold = self._acquire(state, version)
        if env is None:
            return Response.throttle("ReservedFunctionConcurrentInvocationLimitExceeded")
        try:
            ping = ping_of(body)
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
            payload = warm_reply(spec, env, version, cold=cold, ping=ping, hold_ms=hold_ms)
        else:
            payload = {"statusCode": 200, "body": "ok"}
        return Response.json(200, payload, headers)

    def get_function(self, name: str, qualifier: str | None) -> Response:
        """Serve GetFunction (configuration and reserved concurrency)."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _not_found(version)
        document: dict[str, Any] = {"Configuration": configuration(state.spec, version)}
        if state.spec.reserved is not None:
            document["Concurrency"] = {"ReservedConcurrentExecutions": state.spec.reserved}
        return Response.json(200, document)

    def get_configuration(self, name: str, qualifier: str | None) -> Response:
        """Serve GetFunctionConfiguration."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _not_found(version)
        return Response.json(200, configuration(state.spec, version))

    def get_concurrency(self, name: str) -> Response:
        """Serve GetFunctionConcurrency."""
        state, message = self._resolve(name, None)
        if state is None:
            return _not_found(message)
        reserved = state.spec.reserved
        return Response.json(200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    def get_provisioned(self, name: str, qualifier: str | None) -> Response:
        """Serve GetProvisionedConcurrencyConfig."""
        state, version = self._resolve(name, qualifier)
        if state is None:
            return _not_found(version)
        amount = state.spec.provisioned.get(qualifier or "")
        if not amount:
            return Response.failure(
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
        return Response.json(200, document)
