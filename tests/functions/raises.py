"""Raises: the handler fails with ``ValueError`` (a nested call, so the stack trace has frames)."""

from __future__ import annotations

from typing import Any


def _explode(detail: str) -> None:
    raise ValueError(f"boom: {detail}")


def handler(event: Any, context: Any) -> None:
    print("about to fail")
    _explode(str(event.get("detail", "no detail")) if isinstance(event, dict) else "no detail")
