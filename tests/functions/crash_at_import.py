"""Crash at import: the module raises while it is imported, so every init fails."""

from __future__ import annotations

from typing import Any

print("crash_at_import: importing")
raise RuntimeError("crashed at import on purpose")


def handler(event: Any, context: Any) -> None:  # pragma: no cover - never reached
    return None
