"""Keep-warm in place of a peer's warmer: each ping shaped as the peer's own fan-out shapes it.

A target whose payload is a peer's warming event (its function still runs the peer's code, or
wears ``@warmable``, which answers both) is pinged ``concurrency`` times at once. Sending the
schedule's event unchanged would not keep the environment count the peer kept: lambda-warmer's
``{"warmer": true, "concurrency": 3}`` makes every receiver fan out again (3 pings become 9
invocations) and none of them waits, and OpenNext's servers need ``index``/``concurrency`` to
describe the batch. So each ping is the event the peer's own fan-out would have sent:

* lambda-warmer: ``{"warmer": true, "__WARMER_INVOCATION__": i, "__WARMER_CONCURRENCY__": n, …}``
  with ``i`` from 2: keep-warm plays the part of invocation 1 (the scheduled one), so every ping is
  an invocation of the fan-out, which lambda-warmer's receiver holds for its ``delay`` (75 ms).
* OpenNext: ``{"type": "warmer", "warmerId", "index", "concurrency", "delay"}``, as its warmer
  function sends them (``delay`` from the stored payload, 75 ms when absent).

Anything else (a ``target`` or ``test`` key, a custom flag, an array) is the user's own payload
and is sent unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from thermostat_runtime.protocol import LAMBDA_WARMER_DELAY_MS

#: OpenNext's warmer function sends ``delay: 75``.
OPENNEXT_DELAY_MS = 75
_LAMBDA_WARMER_KEYS = frozenset(
    {
        "warmer",
        "concurrency",
        "__WARMER_INVOCATION__",
        "__WARMER_CONCURRENCY__",
        "__WARMER_CORRELATIONID__",
        "__WARMER_CORRELATION_ID__",
    }
)
_OPENNEXT_KEYS = frozenset({"type", "warmerId", "index", "concurrency", "delay"})


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def peer_fan_out(payload: bytes, size: int, correlation: str) -> tuple[list[bytes], int] | None:
    """The ``size`` payloads a peer's own fan-out would send, and the hold (ms) each asks for.

    None when ``payload`` is not a peer's plain warming event (it is then sent as it is).
    """
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if type(event) is not dict:
        return None
    if event.get("warmer") is True and set(event) <= _LAMBDA_WARMER_KEYS:
        total = size + 1
        pings = [
            _encode(
                {
                    "warmer": True,
                    "__WARMER_INVOCATION__": index + 2,
                    "__WARMER_CONCURRENCY__": total,
                    # lambda-warmer spells it without the underscore, lambda-warmer-py with it.
                    "__WARMER_CORRELATIONID__": correlation,
                    "__WARMER_CORRELATION_ID__": correlation,
                }
            )
            for index in range(size)
        ]
        return pings, LAMBDA_WARMER_DELAY_MS
    if event.get("type") == "warmer" and set(event) <= _OPENNEXT_KEYS:
        delay = event.get("delay", OPENNEXT_DELAY_MS)
        if type(delay) is not int or delay < 0:
            return None
        pings = [
            _encode({"type": "warmer", "warmerId": correlation, "index": index, "concurrency": size, "delay": delay})
            for index in range(size)
        ]
        return pings, delay
    return None
