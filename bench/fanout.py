"""Keep-warm fan-out: wall time against the ideal, and CPU per ping against the SDK floor.

Against the local endpoint of ``emulator/simulated_lambda.py``, run in a separate process (so the
server does not share this process's GIL), with 100 ms of latency per invoke and a 100 ms hold:
the ideal wall time of one overlapping fan-out is latency + hold = 0.2 s, whatever N.

1. **Fan-out**, N = 5, 50, 200 pings of one target, cases interleaved, warm pools (as in a warm
   keep-warm container): a keep-warm round (``run_round`` with ``BotoFunctionInvoker``, config
   look-ups included) vs boto3 threads with a default client (pool of 10) vs boto3 threads with
   the pool sized to N vs a serial ``RequestResponse`` loop (lambda-warmer-py's approach; N = 5
   and 50 measured, larger N extrapolated from the measured per-call time). Goal: <= 1.15x ideal.
2. **Burst from cold**, each sample a fresh process (``bench/_burst_child.py``) with new
   connections, as a keep-warm container's first round: one target of N = 200 and 500 pings, over
   plain HTTP and over TLS (the endpoint's self-signed certificate trusted through
   ``AWS_CA_BUNDLE``), the working tree against a baseline commit (``main`` by default, exported
   with ``git archive``) and the endpoint's floor from cold (raw sockets, ``_burst_child.floor``)
   measured in the same run. The endpoint records when each Invoke arrived:
   the first batch's send spread is the time between its first and its N-th arrival. Goals:
   spread <= 25 ms (N = 200) / 60 ms (N = 500); round <= 1.2x / 1.3x ideal, with no top-up.
3. **Scale**, in a fresh process (for an honest peak RSS), endpoint without latency: 1,000
   targets x 5 pings under the default in-flight cap of 64, CPU seconds of the whole process;
   against a bare botocore ``invoke`` loop on the same endpoint (the SDK floor). Goals: CPU per
   ping <= 1.2x the floor; peak RSS <= 256 MB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._common import (
    REPO_ROOT,
    format_table,
    last_json_line,
    machine_note,
    median,
    offline_aws,
    ratio,
    run_child,
    verdict,
)
from emulator.simulated_lambda import SimulatedFunction
from emulator.simulated_lambda_process import endpoint_process, fetch_stats, reset

GOAL_IDEAL = 1.15
GOAL_FLOOR = 1.20
GOAL_RSS_MB = 256.0
FUNCTION = "fan"
#: Burst from cold: N -> (send spread goal in ms, round goal x ideal).
BURST_GOALS = {200: (25.0, 1.2), 500: (60.0, 1.3)}


def _ping(hold_ms: int, index: int = 0, of: int = 1) -> bytes:
    from thermostat_runtime import build_request

    event = build_request("warm", correlation_id=uuid.uuid4().hex, index=index, of=of, hold_ms=hold_ms)
    return json.dumps(event).encode()


def _environment_of(payload: Any) -> str | None:
    from thermostat_runtime import parse_reply

    return parse_reply(payload).environment_id


# -- part 1: fan-out wall time -------------------------------------------------------------------


class _FanOut:
    """The cases of part 1, sharing warm pools across samples."""

    def __init__(self, sizes: tuple[int, ...], hold_ms: int) -> None:
        import boto3
        from botocore.config import Config

        from infra.lambda_invoker import BotoFunctionInvoker

        self.hold_ms = hold_ms
        self.cap = max(sizes)
        self.invoker = BotoFunctionInvoker(pool_size=self.cap)
        self.executor = ThreadPoolExecutor(self.cap)
        self.default_client = boto3.client("lambda")
        self.sized = {
            n: boto3.client("lambda", config=Config(max_pool_connections=n, retries={"mode": "standard"}))
            for n in sizes
        }
        self.threads = {n: ThreadPoolExecutor(n) for n in sizes}
        self.environments: dict[str, list[int]] = {}

    def close(self) -> None:
        self.invoker.close()
        self.executor.shutdown()
        for pool in self.threads.values():
            pool.shutdown()
        for client in (self.default_client, *self.sized.values()):
            client.close()

    def _note(self, case: str, environments: int) -> None:
        self.environments.setdefault(case, []).append(environments)

    def ours(self, n: int) -> float:
        from domain.keep_warm import RoundPolicy
        from domain.targets import make_target
        from infra.fanout import run_round
        from infra.lambda_config import BotoLambdaConfig

        target = make_target(function=FUNCTION, qualifier="live", concurrency=n, hold_ms=self.hold_ms)
        started = time.perf_counter()
        report = run_round(
            "bench",
            [target],
            invoker=self.invoker,
            config=BotoLambdaConfig(self.default_client, invoker=self.invoker),
            load_payload=lambda uri: b"",
            executor=self.executor,
            clock=time.monotonic,
            round_id=uuid.uuid4().hex[:8],
            policy=RoundPolicy(max_in_flight=self.cap),
        )
        elapsed = time.perf_counter() - started
        [row] = report.targets
        self._note(f"ours/{n}", row.environments or 0)
        self._note(f"ours-top-up/{n}", row.top_up)
        return elapsed

    def _threads(self, case: str, client: Any, n: int) -> float:
        payloads = [_ping(self.hold_ms, i, n) for i in range(n)]

        def call(payload: bytes) -> str | None:
            response = client.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=payload)
            return _environment_of(json.loads(response["Payload"].read()))

        started = time.perf_counter()
        environments = list(self.threads[n].map(call, payloads))
        elapsed = time.perf_counter() - started
        self._note(f"{case}/{n}", len(set(environments)))
        return elapsed

    def boto_default(self, n: int) -> float:
        return self._threads("boto3-default", self.default_client, n)

    def boto_sized(self, n: int) -> float:
        return self._threads("boto3-sized", self.sized[n], n)

    def serial(self, n: int) -> float:
        started = time.perf_counter()
        environments = set()
        for i in range(n):
            response = self.default_client.invoke(
                FunctionName=FUNCTION, Qualifier="live", Payload=_ping(self.hold_ms, i, n)
            )
            environments.add(_environment_of(json.loads(response["Payload"].read())))
        elapsed = time.perf_counter() - started
        self._note(f"serial/{n}", len(environments))
        return elapsed


def _endpoint_floor(url: str, n: int, hold_ms: int) -> float:
    """The endpoint's own limit: N requests on pre-opened connections, sent from one thread in a
    tight loop and read back with a selector (no signing, no threads): ~1 µs of client work each."""
    import selectors
    import socket
    import urllib.parse

    endpoint = urllib.parse.urlsplit(url)
    sockets = [socket.create_connection((endpoint.hostname, endpoint.port)) for _ in range(n)]
    try:
        for sock in sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        requests = []
        for index in range(n):
            body = _ping(hold_ms, index, n)
            head = f"POST /2015-03-31/functions/{FUNCTION}/invocations?Qualifier=live HTTP/1.1\r\n"
            requests.append(f"{head}Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        selector = selectors.DefaultSelector()
        buffers = dict.fromkeys(sockets, b"")
        started = time.perf_counter()
        for sock, request in zip(sockets, requests, strict=True):
            sock.sendall(request)
            selector.register(sock, selectors.EVENT_READ)
        pending = len(sockets)
        while pending:
            for key, _ in selector.select(timeout=10):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                buffers[sock] += sock.recv(65536)
                head, _, rest = buffers[sock].partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    selector.unregister(sock)
                    pending -= 1
        elapsed = time.perf_counter() - started
        selector.close()
        return elapsed
    finally:
        for sock in sockets:
            sock.close()


def _fan_out(
    sizes: tuple[int, ...], repeats: int, latency_ms: float, hold_ms: int, serial_sizes: tuple[int, ...]
) -> dict[str, Any]:
    ideal = (latency_ms + hold_ms) / 1000.0
    with endpoint_process([SimulatedFunction(FUNCTION)], latency_ms=latency_ms) as url:
        offline_aws(AWS_ENDPOINT_URL_LAMBDA=url)
        cases = _FanOut(sizes, hold_ms)
        try:
            samples: dict[str, dict[int, list[float]]] = {}
            for n in sizes:
                runs: dict[str, Callable[[int], float]] = {
                    "floor": lambda n: _endpoint_floor(url, n, hold_ms),
                    "ours": cases.ours,
                    "boto3-default": cases.boto_default,
                    "boto3-sized": cases.boto_sized,
                }
                for run in runs.values():
                    run(n)  # warm-up: threads started, connections open, as in a warm container
                for _ in range(repeats):
                    for name, run in runs.items():
                        samples.setdefault(name, {}).setdefault(n, []).append(run(n))
            for n in serial_sizes:
                samples.setdefault("serial", {})[n] = [cases.serial(n)]
            # Warm-up excluded; the worst sample: a claim about distinct environments must hold every time.
            measured = {case: values[1:] or values for case, values in cases.environments.items()}
        finally:
            cases.close()
    medians = {case: {n: median(values) for n, values in by_n.items()} for case, by_n in samples.items()}
    serial_per_call = median(medians["serial"][n] / n for n in medians.get("serial", {})) if serial_sizes else None
    rows = []
    figures: dict[str, Any] = {"ideal_s": ideal, "repeats": repeats, "cases": {}}
    for n in sizes:
        serial_s = medians.get("serial", {}).get(n)
        serial_estimated = serial_s is None and serial_per_call is not None
        if serial_estimated:
            assert serial_per_call is not None
            serial_s = serial_per_call * n
        ours = medians["ours"][n]
        entry = {
            "endpoint_floor_x_ideal": ratio(medians["floor"][n], ideal),
            "ours_s": ours,
            "ours_x_ideal": ratio(ours, ideal),
            "ours_x_ideal_worst": ratio(max(samples["ours"][n]), ideal),
            "ours_environments_worst": min(measured[f"ours/{n}"]),
            "ours_samples_with_top_up": sum(1 for value in measured[f"ours-top-up/{n}"] if value),
            "boto3_default_x_ideal": ratio(medians["boto3-default"][n], ideal),
            "boto3_default_environments_worst": min(measured[f"boto3-default/{n}"]),
            "boto3_sized_x_ideal": ratio(medians["boto3-sized"][n], ideal),
            "boto3_sized_environments_worst": min(measured[f"boto3-sized/{n}"]),
            "serial_x_ideal": ratio(serial_s, ideal) if serial_s else None,
            "serial_estimated": serial_estimated,
            "ours_vs_boto3_default": ratio(ours, medians["boto3-default"][n]),
            "goal_met": ratio(ours, ideal) <= GOAL_IDEAL,
        }
        figures["cases"][n] = entry
        rows.append(
            (
                n,
                f"{entry['endpoint_floor_x_ideal']:.2f}x",
                f"{entry['ours_x_ideal']:.2f}x ({entry['ours_environments_worst']} env)",
                f"{entry['boto3_default_x_ideal']:.2f}x ({entry['boto3_default_environments_worst']} env)",
                f"{entry['boto3_sized_x_ideal']:.2f}x ({entry['boto3_sized_environments_worst']} env)",
                f"{entry['serial_x_ideal']:.1f}x{' (est.)' if serial_estimated else ''}",
                f"{entry['ours_vs_boto3_default']:.2f}",
                verdict(entry["goal_met"]),
            )
        )
    print(
        f"fan-out of N pings, latency {latency_ms:.0f} ms + hold {hold_ms} ms (ideal {ideal:.2f} s); "
        f"medians of {repeats}; (env) = fewest distinct environments in any sample"
    )
    print(
        format_table(
            (
                "N",
                "endpoint floor",
                "keep-warm",
                "boto3 default",
                "boto3 pool=N",
                "serial loop",
                "ours/default",
                f"<= {GOAL_IDEAL}x",
            ),
            rows,
        )
    )
    figures["goal_met"] = all(entry["goal_met"] for entry in figures["cases"].values())
    return figures


# -- part 2: a burst from cold, each sample a fresh process -----------------------------------------


@contextmanager
def _baseline_tree(ref: str | None) -> Iterator[Path | None]:
    """``ref`` exported with ``git archive`` into a temporary directory (None: no baseline, or no git)."""
    if not ref:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="thermostat-baseline-") as directory:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref],
            cwd=REPO_ROOT,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            print(f"(no baseline: git archive {ref} failed: {archive.stderr.decode(errors='replace').strip()})")
            yield None
            return
        subprocess.run(["tar", "-x", "-C", directory], input=archive.stdout, check=True)
        yield Path(directory)


def _burst_sample(url: str, tree: Path, config: dict[str, Any], ca_bundle: str | None) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "THERMOSTAT_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_LAMBDA": url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "serverless/layer/python")]),
        }
    )
    if ca_bundle:
        env["AWS_CA_BUNDLE"] = ca_bundle
    reset(url)
    child = str(REPO_ROOT / "bench" / "_burst_child.py")
    done = run_child([sys.executable, child, json.dumps(config)], env=env)
    if done.returncode != 0:
        raise RuntimeError(f"burst child failed: {done.stderr[-2000:]}")
    figures = last_json_line(done.stdout)
    arrivals = fetch_stats(url)["functions"][config["function"]]["arrivals"]
    n = config["n"]
    first = arrivals[:n]
    figures["spread_ms"] = (first[-1] - first[0]) * 1000.0 if len(first) == n else float("inf")
    return figures


def _burst(
    sizes: tuple[int, ...], repeats: int, latency_ms: float, hold_ms: int, baseline: str | None
) -> dict[str, Any]:
    from tests.fault_server import self_signed_tls

    ideal = (latency_ms + hold_ms) / 1000.0
    cap = max(sizes)
    figures: dict[str, Any] = {"ideal_s": ideal, "repeats": repeats, "baseline": baseline, "cases": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="thermostat-tls-") as directory, _baseline_tree(baseline) as before:
        trees = {"after": REPO_ROOT} | ({"before": before} if before is not None else {})
        if before is None:
            # No baseline tree: the same code with the burst preparation turned off.
            trees = {"after": REPO_ROOT, "lazy": REPO_ROOT}
        trees["floor"] = REPO_ROOT  # raw sockets from cold: the endpoint's and the machine's own limit
        with self_signed_tls(Path(directory)) as (_, cert):
            key = str(Path(directory) / "key.pem")
            for scheme, tls in (("http", None), ("https", (str(cert), key))):
                with endpoint_process([SimulatedFunction(FUNCTION)], latency_ms=latency_ms, tls=tls) as url:
                    for n in sizes:
                        samples: dict[str, list[dict[str, Any]]] = {}
                        for _ in range(repeats):
                            for label, tree in trees.items():  # interleaved: the machine's noise hits both
                                config = {"n": n, "cap": cap, "hold_ms": hold_ms, "function": FUNCTION}
                                if label == "lazy":
                                    config["burst"] = False
                                if label == "floor":
                                    config["floor"] = True
                                sample = _burst_sample(url, tree, config, str(cert) if tls else None)
                                samples.setdefault(label, []).append(sample)
                        floor_s = median(run["round_s"] for run in samples["floor"])
                        for label, runs in samples.items():
                            spread_goal, round_goal = BURST_GOALS.get(n, (float("inf"), float("inf")))
                            entry = {
                                "spread_ms": median(run["spread_ms"] for run in runs),
                                "spread_ms_worst": max(run["spread_ms"] for run in runs),
                                "round_x_ideal": ratio(median(run["round_s"] for run in runs), ideal),
                                "round_x_ideal_worst": ratio(max(run["round_s"] for run in runs), ideal),
                                "environments_worst": min(run["environments"] or 0 for run in runs),
                                "pings_worst": max(run["sent"] for run in runs),
                                "samples_with_top_up": sum(1 for run in runs if run["top_up"]),
                                "round_x_floor": ratio(median(run["round_s"] for run in runs), floor_s),
                            }
                            entry["goal_met"] = (
                                entry["spread_ms"] <= spread_goal
                                and entry["round_x_ideal"] <= round_goal
                                and not entry["samples_with_top_up"]
                            )
                            figures["cases"][f"{scheme}/{n}/{label}"] = entry
                            rows.append(
                                (
                                    scheme,
                                    n,
                                    label,
                                    f"{entry['spread_ms']:.0f} ms (worst {entry['spread_ms_worst']:.0f})",
                                    f"{entry['round_x_ideal']:.2f}x (worst {entry['round_x_ideal_worst']:.2f})",
                                    f"{entry['round_x_floor']:.2f}x",
                                    f"{entry['environments_worst']}/{n}",
                                    f"{entry['pings_worst']}",
                                    f"{entry['samples_with_top_up']}/{repeats}",
                                    verdict(entry["goal_met"]) if label == "after" else "-",
                                )
                            )
    print(
        f"\nburst from cold: one round per fresh process, new connections, latency {latency_ms:.0f} ms + hold "
        f"{hold_ms} ms (ideal {ideal:.2f} s), medians of {repeats}; before = {baseline or 'burst=False'}"
    )
    print(
        format_table(
            ("scheme", "N", "code", "spread", "round", "x floor", "env (worst)", "pings", "top-ups", "goal"),
            rows,
        )
    )
    figures["goal_met"] = all(entry["goal_met"] for case, entry in figures["cases"].items() if case.endswith("after"))
    return figures


# -- part 3: scale, in a fresh process ------------------------------------------------------------


def _cpu() -> float:
    # CPU of every thread of this process, user + system, at nanosecond resolution.
    return time.process_time()


def _scale_child(config: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own process: the SDK floor, our transport's floor, then the big round."""
    import boto3
    from botocore.config import Config

    from domain.invocation import InvocationRequest
    from domain.keep_warm import FunctionFacts, RoundPolicy
    from domain.targets import make_target
    from infra.fanout import run_round
    from infra.lambda_config import BotoLambdaConfig
    from infra.lambda_invoker import BotoFunctionInvoker

    offline_aws(AWS_ENDPOINT_URL_LAMBDA=config["url"])
    calls, targets, pings, cap = config["floor_calls"], config["targets"], config["pings"], config["cap"]
    payload = _ping(0)
    figures: dict[str, Any] = {}

    client = boto3.client("lambda", config=Config(retries={"mode": "standard", "max_attempts": 0}))
    for _ in range(20):
        client.invoke(FunctionName="f-0000", Qualifier="live", Payload=payload)["Payload"].read()
    cpu, wall = _cpu(), time.perf_counter()
    for _ in range(calls):
        client.invoke(FunctionName="f-0000", Qualifier="live", Payload=payload)["Payload"].read()
    figures["sdk_floor_cpu_ms"] = (_cpu() - cpu) / calls * 1000.0
    figures["sdk_floor_wall_ms"] = (time.perf_counter() - wall) / calls * 1000.0

    invoker = BotoFunctionInvoker(pool_size=cap)
    request = InvocationRequest(function="f-0000", qualifier="live", payload=payload, read_timeout_s=5.0)
    for _ in range(20):
        invoker.invoke(request)
    cpu = _cpu()
    for _ in range(calls):
        invoker.invoke(request)
    figures["transport_floor_cpu_ms"] = (_cpu() - cpu) / calls * 1000.0

    fleet = [
        make_target(function=f"f-{i:04d}", qualifier="live", concurrency=pings, hold_ms=config["hold_ms"])
        for i in range(targets)
    ]
    executor = ThreadPoolExecutor(cap)
    policy = RoundPolicy(max_in_flight=cap, top_up=False)

    class KnownFacts:
        def describe(self, function: str, qualifier: str) -> FunctionFacts:
            return FunctionFacts(timeout_s=3.0)

    for label, lookups in (("pings_only", KnownFacts()), ("with_lookups", None)):
        lookup_client = boto3.client("lambda", config=Config(max_pool_connections=cap))
        cpu, wall = _cpu(), time.perf_counter()
        report = run_round(
            "scale",
            fleet,
            invoker=invoker,
            config=lookups or BotoLambdaConfig(lookup_client, invoker=invoker),
            load_payload=lambda uri: b"",
            executor=executor,
            clock=time.monotonic,
            round_id=label,
            policy=policy,
        )
        spent, elapsed = _cpu() - cpu, time.perf_counter() - wall
        sent = sum(t.sent for t in report.targets)
        figures[label] = {
            "pings": sent,
            "errors": sum(t.errors + t.throttled for t in report.targets),
            "cpu_s": spent,
            "wall_s": elapsed,
            "cpu_ms_per_ping": spent / sent * 1000.0 if sent else None,
            "pings_per_cpu_s": sent / spent if spent else None,
            "environments": sum(t.environments or 0 for t in report.targets),
        }
    executor.shutdown()
    invoker.close()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return figures


def _scale(targets: int, pings: int, cap: int, floor_calls: int, hold_ms: int) -> dict[str, Any]:
    functions = [SimulatedFunction(f"f-{i:04d}") for i in range(targets)]
    with endpoint_process(functions, latency_ms=0.0) as url:
        config = {
            "url": url,
            "targets": targets,
            "pings": pings,
            "cap": cap,
            "floor_calls": floor_calls,
            "hold_ms": hold_ms,
        }
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "serverless/layer/python")]),
        }
        done = run_child([sys.executable, "-m", "bench.fanout", "--scale-child", json.dumps(config)], env=env)
    if done.returncode != 0:
        raise RuntimeError(f"scale run failed: {done.stderr[-2000:]}")
    figures = last_json_line(done.stdout)
    floor = figures["sdk_floor_cpu_ms"]
    rows = [("bare botocore invoke loop (SDK floor)", f"{floor:.3f}", f"{1000.0 / floor:.0f}", "1.00")]
    transport = figures["transport_floor_cpu_ms"]
    rows.append(
        ("BotoFunctionInvoker.invoke loop", f"{transport:.3f}", f"{1000.0 / transport:.0f}", f"{transport / floor:.2f}")
    )
    for label in ("pings_only", "with_lookups"):
        run = figures[label]
        per_ping = run["cpu_ms_per_ping"]
        rows.append(
            (
                f"round {targets}x{pings}, cap {cap}, {label.replace('_', ' ')}",
                f"{per_ping:.3f}",
                f"{run['pings_per_cpu_s']:.0f}",
                f"{per_ping / floor:.2f}",
            )
        )
        run["x_sdk_floor"] = per_ping / floor
    figures["goal_floor_met"] = figures["with_lookups"]["x_sdk_floor"] <= GOAL_FLOOR
    figures["goal_rss_met"] = figures["peak_rss_mb"] <= GOAL_RSS_MB
    print(
        f"\nscale: {targets} targets x {pings} pings (hold {hold_ms} ms, no latency), in-flight cap {cap}; "
        "CPU of the client process only"
    )
    print(format_table(("case", "CPU ms/ping", "pings/s/core", "x SDK floor"), rows))
    print(
        f"round wall time: {figures['with_lookups']['wall_s']:.2f} s with look-ups, "
        f"{figures['pings_only']['wall_s']:.2f} s pings only; "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB (goal <= {GOAL_RSS_MB:.0f}: {verdict(figures['goal_rss_met'])}); "
        f"CPU goal <= {GOAL_FLOOR}x floor: {verdict(figures['goal_floor_met'])}"
    )
    return figures


def main(
    sizes: tuple[int, ...] = (5, 50, 200),
    repeats: int = 5,
    latency_ms: float = 100.0,
    hold_ms: int = 100,
    serial_sizes: tuple[int, ...] = (5, 50),
    scale_targets: int = 1000,
    scale_pings: int = 5,
    scale_cap: int = 64,
    floor_calls: int = 1000,
    scale_hold_ms: int = 50,
    burst_sizes: tuple[int, ...] = (200, 500),
    burst_repeats: int = 3,
    baseline: str | None = "main",
) -> dict[str, Any]:
    """Run the three parts, print the tables, return the figures.

    ``baseline``: the commit the burst part compares with (None: the same tree with ``burst=False``).
    """
    print(machine_note())
    saved = dict(os.environ)
    try:
        fan_out = _fan_out(sizes, repeats, latency_ms, hold_ms, serial_sizes)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    burst = _burst(tuple(burst_sizes), burst_repeats, latency_ms, hold_ms, baseline) if burst_sizes else None
    scale = _scale(scale_targets, scale_pings, scale_cap, floor_calls, scale_hold_ms)
    return {"fan_out": fan_out, "burst": burst, "scale": scale}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--scale-child":
        print(json.dumps(_scale_child(json.loads(sys.argv[2]))))
    else:
        main()
