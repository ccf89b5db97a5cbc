"""Pre-traffic hook wall time: N = 5 jittered probes against a 100 ms endpoint, against the ideal.

The ideal is what no implementation can beat: the largest planned delay plus one invocation's
latency (the last invocation cannot start earlier nor answer faster). The hook also makes every
probe hold its environment until the last one has started plus a margin (so that the five land
on five environments), which is the only work on top of the ideal; the figures show its share.

Cases, measured in the same run, interleaved:

* ``hook``: ``domain.hook.run_warmup`` as the handler runs it (real threads, real sleeps, the
  real ``BotoFunctionInvoker``), default jitter 0.25-0.4 s and default hold margin;
* ``hook, margin 0``: the same without the margin (the cost of the threads and the SDK alone);
* ``serial``: the naive loop, each delay then each invocation one after the other.

The endpoint is a small local Lambda front end written here (``bench/_lambda_endpoint.py``
answers probes with ``"probe": null``, which the hook rightly judges a failure): 50 ms before
taking an environment and 50 ms after releasing it, honouring ``hold_ms``, one environment per
concurrent request. Run: ``.venv/bin/python -m bench.hook_wall``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LATENCY_MS = 100.0
N = 5
REPEATS = 7


class _Endpoint(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.idle: list[str] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Endpoint
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        half = LATENCY_MS / 2000.0
        time.sleep(half)
        event = json.loads(body or b"{}")
        ping = event.get("thermostat") if isinstance(event, dict) else None
        with self.server.lock:
            cold = not self.server.idle
            environment = uuid.uuid4().hex[:12] if cold else self.server.idle.pop()
        try:
            hold_ms = int(ping.get("hold_ms") or 0) if isinstance(ping, dict) else 0
            if hold_ms:
                time.sleep(min(hold_ms, 1_000) / 1000.0)
        finally:
            with self.server.lock:
                self.server.idle.append(environment)
        time.sleep(half)
        reply: dict[str, Any] = {
            "thermostat": {
                "v": 1,
                "warm": True,
                "environment_id": environment,
                "start_kind": "cold" if cold else "warm",
                "probe": {"ok": True, "duration_ms": 0.1},
            }
        }
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Amz-Executed-Version", "1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _environment(url: str) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_LAMBDA=url,
        AWS_EC2_METADATA_DISABLED="true",
    )


def main() -> dict[str, Any]:
    """Measure and print the side-by-side table; return the figures."""
    from domain.hook import HookConfig, HookStatus, make_target, run_warmup
    from domain.invocation import InvocationRequest
    from infra.lambda_invoker import BotoFunctionInvoker

    endpoint = _Endpoint()
    thread = threading.Thread(target=endpoint.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    saved = dict(os.environ)
    _environment(endpoint.url)
    invoker = BotoFunctionInvoker(pool_size=10)
    rng = random.Random(20)
    target = make_target("orders", "1")
    try:
        config = HookConfig(target=target, concurrency=N, correlation_id="bench")
        bare = config.model_copy(update={"hold_margin_ms": 0})

        def latency_s() -> float:
            began = time.perf_counter()
            result = invoker.invoke(InvocationRequest(function="orders", qualifier="1", payload=b"{}"))
            assert result.ok, result.error
            return time.perf_counter() - began

        def hook(cfg: HookConfig) -> tuple[float, float, int, bool]:
            began = time.perf_counter()
            verdict = run_warmup(cfg, invoker, rng=rng, clock=time.monotonic, sleeper=time.sleep)
            wall = time.perf_counter() - began
            max_delay = max(i.delay_ms for i in verdict.invocations) / 1000.0
            return wall, max_delay, verdict.environments, verdict.status is HookStatus.SUCCEEDED

        def serial() -> tuple[float, float]:
            delays = [rng.uniform(*config.jitter) for _ in range(N)]
            began = time.perf_counter()
            for delay in delays:
                time.sleep(delay)
                invoker.invoke(InvocationRequest(function="orders", qualifier="1", payload=b"{}"))
            return time.perf_counter() - began, max(delays)

        for _ in range(2):  # warm the connection pool and the endpoint's environments
            latency_s()
            hook(config)
        latencies: list[float] = []
        rows: dict[str, list[float]] = {"hook": [], "hook, margin 0": [], "serial": []}
        environments: list[int] = []
        bare_environments: list[int] = []
        succeeded = True
        for _ in range(REPEATS):
            latency = statistics.median(latency_s() for _ in range(3))
            latencies.append(latency)
            wall, max_delay, envs, ok = hook(config)
            rows["hook"].append(wall / (max_delay + latency))
            environments.append(envs)
            succeeded = succeeded and ok
            wall, max_delay, envs, ok = hook(bare)
            rows["hook, margin 0"].append(wall / (max_delay + latency))
            bare_environments.append(envs)
            succeeded = succeeded and ok
            wall, max_delay = serial()
            rows["serial"].append(wall / (max_delay + latency))
    finally:
        invoker.close()
        endpoint.shutdown()
        endpoint.server_close()
        os.environ.clear()
        os.environ.update(saved)

    figures: dict[str, Any] = {
        "n": N,
        "latency_ms_median": round(statistics.median(latencies) * 1000.0, 1),
        "hold_margin_ms": config.hold_margin_ms,
        "environments_min": min(environments),
        "environments_min_margin_0": min(bare_environments),
        "all_succeeded": succeeded,
    }
    print(f"hook wall time / ideal (max delay + one invocation's latency), N={N}, endpoint latency {LATENCY_MS:.0f} ms")
    print(f"measured latency (median) {figures['latency_ms_median']} ms; {REPEATS} rounds, interleaved")
    print(f"{'case':<18} {'median':>8} {'best':>8} {'worst':>8}")
    for name, ratios in rows.items():
        median = statistics.median(ratios)
        figures[f"{name.replace(', ', '_').replace(' ', '_')}_ratio"] = round(median, 3)
        print(f"{name:<18} {median:>7.2f}x {min(ratios):>7.2f}x {max(ratios):>7.2f}x")
    print(
        f"distinct environments per run: min {min(environments)} of {N} "
        f"(margin 0: {min(bare_environments)}); every verdict Succeeded: {succeeded}"
    )
    return figures


if __name__ == "__main__":
    main()
