"""Env dump: answers with the process environment (and its pid), to check what Lambda variables are set."""

from __future__ import annotations

import os
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"environ": dict(os.environ), "pid": os.getpid(), "cwd": os.getcwd()}
