"""One keep-warm round in a fresh process, as a cold keep-warm container runs its first one (``bench.fanout`` part 3).

Run as a script (``python bench/_burst_child.py CONFIG_JSON``), so that the code under test is
whatever tree ``PYTHONPATH`` names first: the working tree, or an exported baseline commit. It
imports only names both have (``infra.fanout.run_round``, ``BotoFunctionInvoker``,
``BotoLambdaConfig``, ``make_target``, ``RoundPolicy``).

Before the clock starts: modules imported and the Lambda client built (cold init is measured by
``bench.cold_init``); no worker thread started, no connection open. Prints one JSON line.

With ``"floor": true`` it is the endpoint's own limit from cold instead: the same N pings
unsigned, from raw non-blocking sockets on one selector (connect, over TLS handshake, send all,
read all), no look-ups and no retries: what the endpoint and this machine allow at best.
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


def floor(config: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's floor from cold: N raw pings on N new connections (see the module docstring)."""
    import os
    import selectors
    import socket
    import ssl
    import urllib.parse

    n, function = config["n"], config["function"]
    endpoint = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL_LAMBDA"])
    address = (endpoint.hostname, endpoint.port)
    tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE")) if endpoint.scheme == "https" else None
    from thermostat_runtime import build_request, parse_reply

    requests = []
    for index in range(n):
        ping = build_request("warm", correlation_id=uuid.uuid4().hex, index=index, of=n, hold_ms=config["hold_ms"])
        body = json.dumps(ping).encode()
        head = f"POST /2015-03-31/functions/{function}/invocations?Qualifier=live HTTP/1.1\r\nHost: x\r\n"
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    started = time.perf_counter()
    selector = selectors.DefaultSelector()
    ready: list[Any] = []
    for _ in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex(address)
        selector.register(sock, selectors.EVENT_WRITE, "connect")
    while len(ready) < n:
        for key, _ in selector.select(10):
            sock = key.fileobj
            selector.unregister(sock)
            if key.data == "connect" and tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=endpoint.hostname, do_handshake_on_connect=False)
            if tls is None:
                ready.append(sock)
                continue
            try:
                sock.do_handshake()
                ready.append(sock)
            except ssl.SSLWantReadError:
                selector.register(sock, selectors.EVENT_READ, "handshake")
            except ssl.SSLWantWriteError:
                selector.register(sock, selectors.EVENT_WRITE, "handshake")
    for sock, request in zip(ready, requests, strict=True):
        sock.send(request)
        selector.register(sock, selectors.EVENT_READ, b"")
    replies: dict[Any, bytes] = {}
    done = []
    while len(done) < n:
        for key, _ in selector.select(10):
            sock = key.fileobj
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            replies[sock] = replies.get(sock, b"") + data
            head, _, body = replies[sock].partition(b"\r\n\r\n")
            length = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
            if length and len(body) >= int(length[0]):
                selector.unregister(sock)
                done.append(body)
    elapsed = time.perf_counter() - started
    for sock in ready:
        sock.close()
    environments = {parse_reply(json.loads(body)).environment_id for body in done}
    return {"round_s": elapsed, "sent": n, "environments": len(environments - {None}), "top_up": 0, "errors": 0}


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    print(json.dumps(floor(settings) if settings.get("floor") else main(settings)))
