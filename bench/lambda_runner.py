"""The local Lambda runner: what a cold start, a warm invocation and a fan-out cost through boto3.

Same run, interleaved, medians:

* cold start through boto3 (a new worker process importing ``tests.functions.echo``) against the
  irreducible baseline, a fresh ``python -P -c "import thermostat_runtime"`` subprocess;
* warm invocation through boto3 (HTTP + private pipe + the worker) against the runner's own Python
  API (pipe + worker, no HTTP) and against calling the handler in-process;
* a fan-out of N concurrent warm pings holding 100 ms each, against the ideal (100 ms).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench._common import REPO_ROOT, format_table, interleaved, machine_note, median, ratio, subprocess_ms

REPEATS = 15
FAN_OUT = (5, 20)
HOLD_MS = 100


def _client(url: str, pool: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=pool),
    )


def main() -> dict[str, Any]:
    """Run the cases and print a side-by-side table; return the figures."""
    sys.path[:0] = [str(REPO_ROOT)]
    from emulator.lambda_runner import FunctionSpec, LambdaRunner
    from tests.functions import echo
    from thermostat_runtime import build_request

    figures: dict[str, Any] = {}
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    with LambdaRunner(parent_env=env, account_concurrency=max(FAN_OUT) + 5) as runner:
        runner.add_function(
            FunctionSpec(name="echo", handler="tests.functions.echo.handler", code_paths=[str(REPO_ROOT)])
        )
        lam = _client(runner.url, max(FAN_OUT))
        event = json.dumps({"n": 1}).encode()
        counter = iter(range(1_000_000))

        def cold() -> float:
            runner.update_function("echo", description=f"cold {next(counter)}")  # retires the warm environment
            started = time.perf_counter()
            lam.invoke(FunctionName="echo", Payload=event)["Payload"].read()
            return (time.perf_counter() - started) * 1000.0

        def baseline_process() -> float:
            return subprocess_ms([sys.executable, "-P", "-c", "import thermostat_runtime"], env=env, cwd=str(REPO_ROOT))

        cold_samples = interleaved({"cold": cold, "process": baseline_process}, REPEATS)
        cold_ms, process_ms = median(cold_samples["cold"]), median(cold_samples["process"])

        lam.invoke(FunctionName="echo", Payload=event)["Payload"].read()  # one warm environment

        def warm_boto3() -> float:
            started = time.perf_counter()
            lam.invoke(FunctionName="echo", Payload=event)["Payload"].read()
            return (time.perf_counter() - started) * 1000.0

        def warm_api() -> float:
            started = time.perf_counter()
            runner.invoke("echo", event)
            return (time.perf_counter() - started) * 1000.0

        class Context:
            function_name = "echo"
            function_version = "$LATEST"
            invoked_function_arn = "arn"
            aws_request_id = "r"
            memory_limit_in_mb = "128"
            log_group_name = "g"
            log_stream_name = "s"
            client_context = None

            class identity:  # noqa: N801 - mimics the attribute
                cognito_identity_id = None

            @staticmethod
            def get_remaining_time_in_millis() -> int:
                return 3000

        devnull = open(os.devnull, "w")  # noqa: SIM115 - the handler's telemetry line goes nowhere
        real_stdout = sys.stdout

        def in_process() -> float:
            sys.stdout = devnull
            try:
                started = time.perf_counter()
                echo.handler({"n": 1}, Context())
                return (time.perf_counter() - started) * 1000.0
            finally:
                sys.stdout = real_stdout

        warm_samples = interleaved({"boto3": warm_boto3, "api": warm_api, "in_process": in_process}, REPEATS * 4)
        devnull.close()
        warm_ms = {name: median(values) for name, values in warm_samples.items()}

        fan: dict[int, float] = {}
        ping = json.dumps(build_request(hold_ms=HOLD_MS)).encode()
        for size in FAN_OUT:
            with ThreadPoolExecutor(max_workers=size) as executor:
                # First round starts the environments; the measured ones find them warm.
                list(executor.map(lambda _: lam.invoke(FunctionName="echo", Payload=ping), range(size)))
                rounds = []
                for _ in range(3):
                    started = time.perf_counter()
                    list(executor.map(lambda _: lam.invoke(FunctionName="echo", Payload=ping), range(size)))
                    rounds.append((time.perf_counter() - started) * 1000.0)
            fan[size] = median(rounds)
        environments = len(runner.environments("echo"))

    rows = [
        ["cold start, boto3 → new worker", cold_ms, "fresh python + import thermostat_runtime", process_ms],
        ["", "", "ratio", ratio(cold_ms, process_ms)],
        ["warm invoke, boto3 → runner", warm_ms["boto3"], "runner.invoke() (no HTTP)", warm_ms["api"]],
        ["", "", "ratio", ratio(warm_ms["boto3"], warm_ms["api"])],
        ["warm invoke, runner.invoke()", warm_ms["api"], "handler called in-process", warm_ms["in_process"]],
        ["", "", "ratio", ratio(warm_ms["api"], warm_ms["in_process"])],
    ]
    rows.extend(
        [f"fan-out {size} warm pings (hold {HOLD_MS} ms)", wall, "ideal", float(HOLD_MS)] for size, wall in fan.items()
    )
    print(format_table(["case (ms, median)", "value", "baseline", "value"], rows))
    print(f"environments after the fan-outs: {environments} (largest fan-out: {max(FAN_OUT)})")
    print(machine_note())
    figures.update(
        {
            "cold_start_ms": round(cold_ms, 2),
            "process_baseline_ms": round(process_ms, 2),
            "cold_vs_process": round(ratio(cold_ms, process_ms), 2),
            "warm_boto3_ms": round(warm_ms["boto3"], 3),
            "warm_api_ms": round(warm_ms["api"], 3),
            "warm_in_process_ms": round(warm_ms["in_process"], 4),
            "boto3_vs_api": round(ratio(warm_ms["boto3"], warm_ms["api"]), 2),
            "fan_out_ms": {str(size): round(wall, 1) for size, wall in fan.items()},
            "fan_out_vs_ideal": {str(size): round(ratio(wall, HOLD_MS), 2) for size, wall in fan.items()},
            "environments": environments,
        }
    )
    return figures


if __name__ == "__main__":
    main()
