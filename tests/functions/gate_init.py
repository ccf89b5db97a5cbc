"""Gate at init: the module's import waits until the file named by ``GATE_INIT`` exists (at most 20 s).

So a test holds environments in their init phase (a cold start in progress) for as long as it needs.
"""

from __future__ import annotations

import os
import time
from typing import Any

_path = os.environ.get("GATE_INIT", "")
for _ in range(2000):  # bounded: 20 s
    if not _path or os.path.exists(_path):
        break
    time.sleep(0.01)


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"pid": os.getpid()}
