"""Odd probe: wears ``@warmable``; its probe (and, on ``{"return": KIND}``, its handler) returns a value
that plain JSON cannot carry.

``PROBE_RETURNS`` (a function variable) picks the probe's value; the kinds are in ``VALUES``.
"""

from __future__ import annotations

import datetime
import decimal
import os
import uuid
from typing import Any

from thermostat_runtime import warmable


class Connection:
    """What a probe might return by mistake: the client it just used."""


def _cycle() -> list[object]:
    loop: list[object] = ["head"]
    loop.append(loop)
    return loop


VALUES: dict[str, Any] = {
    "datetime": lambda: {
        "checked_at": datetime.datetime(2026, 12, 2, 7, 53, 45, 120000, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 12, 2),
        "at": datetime.time(7, 53),
    },
    "bytes": lambda: {"digest": b"\x00\xffthermostat", "buffer": bytearray(b"ab")},
    "set": lambda: {"tables": {"users", "orders"}, "pair": (1, 2), "frozen": frozenset({3})},
    "decimal": lambda: {"count": decimal.Decimal("3"), "ratio": decimal.Decimal("0.25")},
    "uuid": lambda: {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    "object": lambda: {"db": "ok", "connection": Connection()},
    "cycle": _cycle,
    "tuple-key": lambda: {("orders", 1): "row"},
}


def _probe() -> object:
    return VALUES[os.environ["PROBE_RETURNS"]]()


@warmable(probe=_probe)
def handler(event: Any, context: Any) -> Any:
    if isinstance(event, dict) and "return" in event:
        return VALUES[event["return"]]()
    return {"ok": True}
