"""Sharded keep-warm rounds against one invocation: planner CPU, round wall time, slowest shard, pings/s/core.

For each size (1k, 5k, 20k targets x 5 pings by default) against the simulated Lambda endpoint in
its own process (no latency, no hold: the client's cost is what is measured):

* **planner**: CPU of :func:`domain.keep_warm.shards.plan_round` (median of 3), and per target;
* **one invocation** (the baseline, measured in the same run): one process runs the whole round
  with the production cap (64 pings in flight);
* **sharded**: the plan's shards (200 targets / 1,000 pings each, a budget of ``shard_budget`` in
  flight across them) run in ``workers`` processes at once, as Lambda would run the worker with
  that much concurrency (this machine has 2 cores: more workers than cores only share them).
  Wall time from the first shard to the last, the slowest shard, and pings per CPU-second over
  every worker process.

``python -m bench keep_warm_shards --args '{"sizes": [1000], "round_sizes": [1000]}'`` for a quick run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any

from bench._common import REPO_ROOT, format_table, median, offline_aws

PINGS = 5
DEFAULT_SIZES = (1_000, 5_000, 20_000)


def _environment(url: str) -> None:
    offline_aws(AWS_ENDPOINT_URL_LAMBDA=url)
    for path in (str(REPO_ROOT), str(REPO_ROOT / "serverless/layer/python")):
        if path not in sys.path:
            sys.path.insert(0, path)


def _targets(count: int) -> list[Any]:
    from domain.targets import make_target

    return [make_target(function=f"f-{i:05d}", qualifier="live", concurrency=PINGS, hold_ms=0) for i in range(count)]


_state: dict[str, Any] = {}


def _worker_init(url: str) -> None:
    _environment(url)


def _run(keys: list[str], cap: int, label: str) -> dict[str, float]:
    """One invocation's round over ``keys`` (in this process), with ``cap`` pings in flight."""
    from concurrent.futures import ThreadPoolExecutor

    from domain.keep_warm import FunctionFacts, RoundPolicy
    from domain.targets import make_target, split_target_key
    from infra.fanout import run_round
    from infra.lambda_invoker import BotoFunctionInvoker

    if _state.get("cap") != cap:
        # A container keeps its invoker and pool across rounds, as the worker's does.
        _state.update(cap=cap, invoker=BotoFunctionInvoker(pool_size=cap), executor=ThreadPoolExecutor(cap))

    class KnownFacts:
        def describe(self, function: str, qualifier: str) -> FunctionFacts:
            return FunctionFacts(timeout_s=3.0)

    targets = [
        make_target(function=split_target_key(key)[1], qualifier="live", concurrency=PINGS, hold_ms=0) for key in keys
    ]
    cpu, wall = time.process_time(), time.perf_counter()
    report = run_round(
        "bench",
        targets,
        invoker=_state["invoker"],
        executor=_state["executor"],
        clock=time.monotonic,
        config=KnownFacts(),
        load_payload=lambda uri: b"",
        round_id=label,
        policy=RoundPolicy(max_in_flight=cap, top_up=False),
    )
    return {
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "pings": float(sum(t.sent for t in report.targets)),
        "errors": float(sum(t.errors + t.throttled for t in report.targets)),
    }


def _shard_task(args: tuple[list[str], int, str]) -> dict[str, float]:
    return _run(*args)


def _planner(size: int) -> dict[str, float]:
    from domain.keep_warm.shards import ShardPolicy, plan_round

    targets = _targets(size)
    samples = []
    for _ in range(3):
        cpu = time.process_time()
        plan = plan_round("bench", "default", targets, ShardPolicy(max_in_flight=1_000), own=("123456789012", "x"))
        samples.append(time.process_time() - cpu)
    cpu_s = median(samples)
    return {"cpu_ms": cpu_s * 1000.0, "us_per_target": cpu_s / size * 1e6, "shards": float(len(plan.shards))}


def _rounds(size: int, url: str, workers: int, cap: int, shard_budget: int) -> dict[str, Any]:
    from domain.keep_warm.shards import ShardPolicy, plan_round

    targets = _targets(size)
    keys = [target.key for target in targets]
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, initializer=_worker_init, initargs=(url,)) as single:
        one = single.apply(_run, (keys, cap, "one"))
    plan = plan_round(
        "bench", "default", targets, ShardPolicy(max_in_flight=shard_budget), own=("123456789012", "us-east-1")
    )
    tasks = [(list(shard.keys), shard.max_in_flight, shard.id) for shard in plan.shards]
    with context.Pool(workers, initializer=_worker_init, initargs=(url,)) as pool:
        pool.map(_shard_task, tasks[: min(len(tasks), workers)])  # each worker's first round: its container starts
        wall = time.perf_counter()
        shards = pool.map(_shard_task, tasks, chunksize=1)
        sharded_wall = time.perf_counter() - wall
    pings = sum(s["pings"] for s in shards)
    cpu = sum(s["cpu_s"] for s in shards)
    return {
        "one": {**one, "pings_per_cpu_s": one["pings"] / one["cpu_s"]},
        "sharded": {
            "shards": len(shards),
            "slice": max(shard.max_in_flight for shard in plan.shards),
            "wall_s": sharded_wall,
            "slowest_shard_s": max(s["wall_s"] for s in shards),
            "pings": pings,
            "errors": sum(s["errors"] for s in shards),
            "cpu_s": cpu,
            "pings_per_cpu_s": pings / cpu if cpu else None,
        },
    }


def main(
    sizes: list[int] | tuple[int, ...] = DEFAULT_SIZES,
    round_sizes: list[int] | tuple[int, ...] | None = None,
    workers: int = 4,
    cap: int = 64,
    shard_budget: int = 1_000,
) -> dict[str, Any]:
    """Plan and run sharded rounds at each size; print the tables; return the figures."""
    saved = dict(os.environ)
    try:
        return _main(list(sizes), round_sizes, workers, cap, shard_budget)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _main(
    sizes: list[int], round_sizes: list[int] | tuple[int, ...] | None, workers: int, cap: int, shard_budget: int
) -> dict[str, Any]:
    from emulator.simulated_lambda import SimulatedFunction
    from emulator.simulated_lambda_process import endpoint_process

    _environment("http://127.0.0.1:1")
    figures: dict[str, Any] = {"planner": {}, "rounds": {}}
    rows = []
    for size in sizes:
        planned = _planner(size)
        figures["planner"][str(size)] = planned
        rows.append((size, f"{planned['cpu_ms']:.1f}", f"{planned['us_per_target']:.2f}", int(planned["shards"])))
    print("planner CPU (plan_round, median of 3)")
    print(format_table(("targets", "CPU ms", "µs/target", "shards"), rows))
    round_sizes = list(round_sizes if round_sizes is not None else sizes)
    if round_sizes:
        functions = [SimulatedFunction(f"f-{i:05d}") for i in range(max(round_sizes))]
        with endpoint_process(functions, latency_ms=0.0, hold_ms_max=0) as url:
            rows = []
            for size in round_sizes:
                result = _rounds(size, url, workers, cap, shard_budget)
                figures["rounds"][str(size)] = result
                one, sharded = result["one"], result["sharded"]
                rows.append(
                    (
                        f"{size} x {PINGS}",
                        f"{one['wall_s']:.2f}",
                        f"{sharded['wall_s']:.2f}",
                        f"{sharded['wall_s'] / one['wall_s']:.2f}",
                        f"{sharded['slowest_shard_s']:.2f}",
                        sharded["shards"],
                        f"{one['pings_per_cpu_s']:.0f}",
                        f"{sharded['pings_per_cpu_s']:.0f}",
                        int(one["errors"] + sharded["errors"]),
                    )
                )
        print(
            f"\nrounds: one invocation (cap {cap}) vs sharded ({workers} worker processes, budget {shard_budget} "
            "across shards); simulated endpoint in its own process, no latency, no hold"
        )
        print(
            format_table(
                (
                    "round",
                    "one: wall s",
                    "sharded: wall s",
                    "x one",
                    "slowest shard s",
                    "shards",
                    "one: pings/s/core",
                    "sharded: pings/s/core",
                    "errors",
                ),
                rows,
            )
        )
    return figures


if __name__ == "__main__":
    print(json.dumps(main()))
