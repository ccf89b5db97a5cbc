"""Slow: logs its pid, then sleeps ``{"seconds": N}`` (default 30): a timeout target."""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    seconds = float(event.get("seconds", 30)) if isinstance(event, dict) else 30.0
    print(f"slow pid={os.getpid()} sleeping {seconds}s", flush=True)
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}
