"""The demo's burst: a target whose requests of one burst wait for each other before they answer.

``{"burst": ID, "of": N}`` leaves a mark for ``ID`` in the environment's temporary directory
(shared by every local environment, as a real burst shares nothing: this is a stand-in), waits
until N marks are there, holds 200 ms more and answers ``{"met": true}``; so N requests are
certainly in flight at once, whatever the machine's speed — the burst an auto target must follow.
Waits at most until 300 ms before its timeout (then ``{"met": false}``). Any other event answers at once.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from thermostat_runtime import warmable

HOLD_S = 0.2


@warmable
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The function's entry point."""
    if not isinstance(event, dict) or "burst" not in event:
        return {"ok": True}
    burst = str(event["burst"])
    if not burst.isascii() or not burst.isalnum() or len(burst) > 64:
        return {"met": False, "error": "burst must be 1 to 64 ASCII letters and digits"}
    marks = Path(tempfile.gettempdir()) / f"thermostat-burst-{burst}"
    marks.mkdir(exist_ok=True)
    (marks / str(context.aws_request_id)).touch()
    while len(list(marks.iterdir())) < int(event["of"]):
        if context.get_remaining_time_in_millis() < 300:
            return {"met": False}
        time.sleep(0.01)
    time.sleep(HOLD_S)
    return {"met": True}
