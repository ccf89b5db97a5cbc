"""One keep-warm round in a fresh process, as a cold keep-warm container runs its first one (``bench.fanout`` part 3).

Run as a script (``python bench/_burst_child.py CONFIG_JSON``), so that the code under test is
whatever tree ``PYTHONPATH`` names first: the working tree, or an exported baseline commit. It
imports only names both have (``infra.fanout.run_round``, ``BotoFunctionInvoker``,
``BotoLambdaConfig``, ``make_target``, ``RoundPolicy``).

Before the clock starts: modules imported and the Lambda client built (cold init is measured by
``bench.cold_init``); no worker thread started, no connection open. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def main(config: dict[str, Any]) -> dict[str, Any]:
    """Build the adapters, run one round of one target of ``config["n"]`` pings, report it."""
    from domain.keep_warm import RoundPolicy
    from domain.targets import make_target
    from infra.fanout import run_round
    from infra.lambda_config import BotoLambdaConfig
    from infra.lambda_invoker import BotoFunctionInvoker

    n, cap = config["n"], config["cap"]
    invoker = BotoFunctionInvoker(pool_size=cap)
    assert invoker.transport == "fast", "the fast path must be in use (no proxy, a readable verify setting)"
    executor = ThreadPoolExecutor(cap, thread_name_prefix="keep-warm")
    target = make_target(function=config["function"], qualifier="live", concurrency=n, hold_ms=config["hold_ms"])
    options: dict[str, Any] = {}
    if config.get("burst") is not None:
        options["burst"] = config["burst"]
    started = time.perf_counter()
    report = run_round(
        "bench",
        [target],
        invoker=invoker,
        config=BotoLambdaConfig(invoker=invoker),
        load_payload=lambda uri: b"",
        executor=executor,
        clock=time.monotonic,
        round_id=uuid.uuid4().hex[:8],
        policy=RoundPolicy(max_in_flight=cap),
        **options,
    )
    elapsed = time.perf_counter() - started
    executor.shutdown()
    invoker.close()
    [row] = report.targets
    return {
        "round_s": elapsed,
        "sent": row.sent,
        "environments": row.environments,
        "top_up": row.top_up,
        "errors": row.errors,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
