"""What counting Lambda's ``AWS/Lambda`` metrics costs the local runner's invocations.

Same run, interleaved, medians:

* a warm ``runner.invoke()`` (pipe + worker, no HTTP) on a runner that counts metrics
  (:class:`emulator.runner_metrics.LambdaMetrics`, never flushed here: the put happens on its own
  thread, off the invocation path) against the same on a runner that counts nothing;
* the recording itself (``begin`` + ``end`` of an alias invocation: four dimension sets) in µs,
  against the warm invocation it rides on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench._common import REPO_ROOT, format_table, interleaved, machine_note, median, per_call_us, ratio

REPEATS = 60
RECORD_CALLS = 20_000


def main(repeats: int = REPEATS, record_calls: int = RECORD_CALLS) -> dict[str, Any]:
    """Run the cases and print a side-by-side table; return the figures."""
    sys.path[:0] = [str(REPO_ROOT)]
    from emulator.lambda_runner import FunctionSpec, LambdaRunner
    from emulator.runner_metrics import LambdaMetrics

    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    metrics = LambdaMetrics(interval_s=600)
    event = json.dumps({"n": 1}).encode()
    spec = FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[str(REPO_ROOT)])
    with LambdaRunner(parent_env=env) as plain, LambdaRunner(parent_env=env, metrics=metrics) as counting:
        for runner in (plain, counting):
            runner.add_function(spec)
            runner.create_alias("echo", "live", runner.publish_version("echo"))

        def timed(runner: LambdaRunner) -> float:
            started = time.perf_counter()
            runner.invoke("echo", event, qualifier="live")
            return (time.perf_counter() - started) * 1000.0

        samples = interleaved({"plain": lambda: timed(plain), "counting": lambda: timed(counting)}, repeats)
    warm_ms = {name: median(values) for name, values in samples.items()}
    counted = sum(d["Value"] for d in metrics.drain() if d["MetricName"] == "Invocations" and not d["Dimensions"])

    recorder = LambdaMetrics(interval_s=600)

    def record() -> None:
        recorder.end(recorder.begin("echo", "live", "1"), duration_ms=1.0, error=False)

    record_us = per_call_us(record, (), record_calls)
    rows = [
        ["warm runner.invoke(), counting metrics (ms)", warm_ms["counting"], "not counting", warm_ms["plain"]],
        ["", "", "ratio", ratio(warm_ms["counting"], warm_ms["plain"])],
        ["begin + end of one alias invocation (µs)", record_us, "warm invoke (µs)", warm_ms["plain"] * 1000.0],
        ["", "", "share", ratio(record_us, warm_ms["plain"] * 1000.0)],
    ]
    print(format_table(["case (median)", "value", "baseline", "value"], rows))
    print(f"invocations counted by the counting runner: {counted:.0f} (warm-up included)")
    print(machine_note())
    return {
        "warm_invoke_counting_ms": warm_ms["counting"],
        "warm_invoke_plain_ms": warm_ms["plain"],
        "ratio": ratio(warm_ms["counting"], warm_ms["plain"]),
        "record_us": record_us,
        "record_share_of_warm_invoke": ratio(record_us, warm_ms["plain"] * 1000.0),
        "invocations_counted": counted,
    }


if __name__ == "__main__":
    main()
