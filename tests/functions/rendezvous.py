"""Rendezvous: wears ``@warmable``; ``{"meet": DIR, "of": N, "hold_s": S}`` waits until N requests
have arrived (each leaves a file in DIR), then holds S more seconds, so that N requests are
certainly in flight together — no guessing how long a sleep must be for them to overlap.

Waits at most until 200 ms before its timeout, then answers ``{"met": false}``. Any other event
answers ``{"ok": true}`` at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from thermostat_runtime import warmable


@warmable
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or "meet" not in event:
        return {"ok": True}
    directory = Path(str(event["meet"]))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(context.aws_request_id)).touch()
    while len(list(directory.iterdir())) < int(event["of"]):
        if context.get_remaining_time_in_millis() < 200:
            return {"met": False}
        time.sleep(0.01)
    time.sleep(float(event.get("hold_s", 0.5)))
    return {"met": True}
