"""The simulated Lambda endpoint in a child process (its own GIL), for benchmarks; and its admin calls.

``python -m emulator.simulated_lambda_process --config FILE|-`` serves until terminated and prints
its URL first; :func:`endpoint_process` runs it so and always stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction

_ADMIN_TIMEOUT_S = 10.0
_STOP_WAIT_S = 10.0


@contextlib.contextmanager
def endpoint_process(
    functions: list[SimulatedFunction],
    *,
    latency_ms: float = 0.0,
    hold_ms_max: int = 1_000,
    tls: tuple[str, str] | None = None,
) -> Iterator[str]:
    """Run the endpoint in a child process; yields its URL; always stops it.

    ``tls``: (certificate, key) PEM paths: serve HTTPS with them.
    """
    config = json.dumps(
        {
            "functions": [asdict(spec) for spec in functions],
            "latency_ms": latency_ms,
            "hold_ms_max": hold_ms_max,
            "tls": list(tls) if tls else None,
        }
    )
    process = subprocess.Popen(  # noqa: S603 - this module, run by the current interpreter
        [sys.executable, "-m", __name__, "--config", "-"],
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
        if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
            raise RuntimeError(f"endpoint process did not start (said {url!r})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_WAIT_S)
        if process.stdout is not None:
            process.stdout.close()


def _admin_context(url: str) -> ssl.SSLContext | None:
    if not url.startswith("https:"):
        return None
    # Our own endpoint on 127.0.0.1, with a throw-away certificate: the admin calls need no check.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch_stats(url: str) -> dict[str, Any]:
    """The counters of an endpoint (in this process or another)."""
    with urllib.request.urlopen(  # noqa: S310 - our URL
        f"{url}/_endpoint/stats", timeout=_ADMIN_TIMEOUT_S, context=_admin_context(url)
    ) as response:
        stats: dict[str, Any] = json.loads(response.read())
        return stats


def reset(url: str) -> None:
    """Reset an endpoint's environments and counters."""
    request = urllib.request.Request(f"{url}/_endpoint/reset", data=b"", method="POST")  # noqa: S310 - our URL
    with urllib.request.urlopen(request, timeout=_ADMIN_TIMEOUT_S, context=_admin_context(url)):  # noqa: S310
        pass


def main(argv: list[str] | None = None) -> None:
    """Serve until terminated; prints the URL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None, help="JSON {functions, latency_ms, hold_ms_max}; '-' for stdin")
    args = parser.parse_args(argv)
    raw: dict[str, Any] = {}
    if args.config == "-":
        raw = json.loads(sys.stdin.read() or "{}")
    elif args.config:
        with open(args.config, encoding="utf-8") as handle:
            raw = json.load(handle)
    specs = [SimulatedFunction(**item) for item in raw.get("functions", [])]
    tls = None
    if raw.get("tls"):
        certificate, key = raw["tls"]
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certificate, key)
    endpoint = LambdaEndpoint(
        specs, latency_ms=raw.get("latency_ms", 0.0), hold_ms_max=raw.get("hold_ms_max", 1000), tls=tls
    )
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
