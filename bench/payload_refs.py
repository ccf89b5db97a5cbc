"""What payload references cost, side by side with their baselines measured in the same run.

1. Import: ``import thermostat_runtime.refs`` against ``thermostat_runtime``, ``pass`` and ``import boto3`` (fresh
   interpreters, median of several): references must not put boto3 on the cold path.
2. Per invocation, on an ordinary ~2 KB event without references and a small result: a bare
   handler, ``@warmable``, and ``@warmable(resolve_refs=True, offload_to=…)`` (the walk of the
   event and the JSON measure of the result are the extra work).
3. Sizes: a 4 MiB image sent inline as base64 JSON against the same image by reference; a 1 MB
   output against its offloaded reference (moto S3 in-process, so bytes, not latency).

Run: ``.venv/bin/python -m bench.payload_refs``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "serverless" / "layer" / "python"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))


def _import_ms(statement: str, pycache: str, runs: int = 7) -> float:
    # Compiled bytecode, as a deployed layer ships it, in a private cache (the tree is left alone);
    # the first, compiling, run is not counted.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(LAYER), PYTHONPYCACHEPREFIX=pycache)
    subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)
        times.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(times)


def _per_call_us(function: Any, event: Any, calls: int = 20_000, repeats: int = 5) -> float:
    best = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(calls):
            function(event, None)
        best.append((time.perf_counter() - began) / calls * 1e6)
    return statistics.median(best)


def _typical_event() -> dict[str, Any]:
    return {
        "resource": "/orders/{id}",
        "path": "/orders/42",
        "httpMethod": "POST",
        "headers": {f"X-Header-{index}": "v" * 20 for index in range(20)},
        "queryStringParameters": {"expand": "items", "page": "1"},
        "pathParameters": {"id": "42"},
        "requestContext": {"accountId": "123456789012", "stage": "prod", "identity": {"sourceIp": "203.0.113.9"}},
        "body": json.dumps({"items": [{"sku": f"sku-{index}", "qty": index} for index in range(20)]}),
        "isBase64Encoded": False,
    }


def _import_figures() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        return {
            "pass": _import_ms("pass", pycache),
            "runtime": _import_ms("import thermostat_runtime", pycache),
            "runtime+refs": _import_ms("import thermostat_runtime.refs", pycache),
            "boto3": _import_ms("import boto3", pycache),
        }


def _invocation_figures() -> dict[str, float]:
    from thermostat_runtime import Environment, Telemetry, warmable

    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "body": '{"ok":true}'}

    def quiet() -> Telemetry:
        return Telemetry(sink=lambda line: None)

    plain = warmable(environment=Environment(), telemetry=quiet())(handler)
    with_refs = warmable(resolve_refs=True, offload_to="bench-out", environment=Environment(), telemetry=quiet())(
        handler
    )
    event = _typical_event()
    return {
        "bare": _per_call_us(handler, event),
        "warmable": _per_call_us(plain, event),
        "warmable+refs": _per_call_us(with_refs, event),
    }


def _size_figures() -> dict[str, float]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    from thermostat_runtime import refs

    image = bytearray()
    counter = 0
    while len(image) < 4 * 1024 * 1024:
        image += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    blob = bytes(image)
    output = {"rows": [{"id": index, "text": "ü" * 250} for index in range(2000)]}
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bench-in")
        stored = refs.put_payload(blob, bucket="bench-in", content_type="image/png", s3_client=client)
        by_reference = {"image": {"fileRef": stored["uri"], "sha256": stored["sha256"]}}
        began = time.perf_counter()
        resolved = refs.resolve_refs(by_reference, allowed_buckets={"bench-in"}, s3_client=client)
        resolve_ms = (time.perf_counter() - began) * 1000.0
        assert resolved["image"] == blob
        reference = refs.offload(output, bucket="bench-in", s3_client=client)
    inline = {"image": base64.b64encode(blob).decode("ascii")}
    return {
        "image_raw": len(blob),
        "image_inline_json": refs.json_size(inline),
        "image_reference": refs.json_size(by_reference),
        "image_resolve_ms_moto": resolve_ms,
        "output_json": refs.json_size(output),
        "output_reference": refs.json_size(reference),
    }


def main() -> dict[str, Any]:
    """Run the three comparisons, print them side by side, return the figures."""
    imports = _import_figures()
    calls = _invocation_figures()
    sizes = _size_figures()
    print("import (fresh interpreter, median ms)        ratio to `pass`")
    for name, value in imports.items():
        print(f"  {name:<13} {value:8.1f} ms   {value / imports['pass']:5.2f}x")
    refs_adds = imports["runtime+refs"] - imports["runtime"]
    boto3_adds = imports["boto3"] - imports["pass"]
    print(f"  refs adds {refs_adds:.1f} ms to the runtime module; boto3 would add {boto3_adds:.1f} ms")
    print("per invocation, ~2 KB event, no references   ratio to @warmable")
    for name, value in calls.items():
        print(f"  {name:<14} {value:7.2f} us   {value / calls['warmable']:5.2f}x")
    print("sizes (bytes)                                 ratio")
    print(
        f"  4 MiB image inline as base64 JSON {sizes['image_inline_json']:>10,}   "
        f"{sizes['image_inline_json'] / sizes['image_raw']:.3f}x the image"
    )
    print(
        f"  the same image by reference       {sizes['image_reference']:>10,}   "
        f"{sizes['image_reference'] / sizes['image_inline_json']:.6f}x inline "
        f"(resolved in {sizes['image_resolve_ms_moto']:.0f} ms from moto in-process)"
    )
    print(
        f"  1 MB output                       {sizes['output_json']:>10,}   "
        f"offloaded reference {sizes['output_reference']} bytes = "
        f"{sizes['output_reference'] / sizes['output_json']:.6f}x"
    )
    return {"import_ms": imports, "per_call_us": calls, "sizes": sizes}


if __name__ == "__main__":
    main()
