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

The endpoint is the simulated Lambda of ``emulator/simulated_lambda.py``, whose function here
answers probes with a passing probe result: 50 ms before taking an environment and 50 ms after
releasing it, honouring ``hold_ms``, one environment per concurrent request.
Run: ``.venv/bin/python -m bench.hook_wall``.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from bench._common import offline_aws

LATENCY_MS = 100.0
N = 5
REPEATS = 7


def main() -> dict[str, Any]:
    """Measure and print the side-by-side table; return the figures."""
    from domain.hook import HookConfig, HookStatus, make_target, run_warmup
    from domain.invocation import InvocationRequest
    from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
    from infra.lambda_invoker import BotoFunctionInvoker

    orders = SimulatedFunction("orders", probe={"ok": True, "duration_ms": 0.1})
    endpoint = LambdaEndpoint([orders], latency_ms=LATENCY_MS).start()
    saved = dict(os.environ)
    offline_aws(AWS_ENDPOINT_URL_LAMBDA=endpoint.url)
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
        endpoint.stop()
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
