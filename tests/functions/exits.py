"""Exits: the process dies mid-invocation (``{"code": N}``, default 3), as a segfault or ``os._exit`` would."""

from __future__ import annotations

import os
from typing import Any


def handler(event: Any, context: Any) -> None:
    print("exiting now", flush=True)
    os._exit(int(event.get("code", 3)) if isinstance(event, dict) else 3)
