"""Gate: holds its environment until a file exists (``{"gate": PATH}``), so tests control when it ends.

Waits at most until 200 ms before its timeout, then answers ``{"opened": false}``.
"""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    gate = str(event["gate"])
    while not os.path.exists(gate):
        if context.get_remaining_time_in_millis() < 200:
            return {"opened": False, "pid": os.getpid()}
        time.sleep(0.01)
    return {"opened": True, "pid": os.getpid()}
