"""Spawner: starts a long-sleeping child process and answers with its pid (orphan checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

_children: list[subprocess.Popen[bytes]] = []


def handler(event: Any, context: Any) -> dict[str, Any]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    _children.append(child)
    return {"pid": os.getpid(), "child_pid": child.pid}
