"""Untrusted request input, read the same way by every server of the local stack.

Two things a client controls and a server must not trust: the ``Content-Length`` header (a
negative or non-numeric one would make ``rfile.read`` raise, or leave the body in the stream to be
parsed as the next request) and the depth of a JSON body (100,000 nested arrays make ``json.loads``
raise ``RecursionError``, which is not a ``ValueError``). Both become :class:`BadRequest`, which
each server answers as a 4xx in its service's error shape.
"""

from __future__ import annotations

import json
from typing import Any


class BadRequest(ValueError):
    """The request cannot be read as sent; ``close`` when its framing is lost (the connection must end)."""

    def __init__(self, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.close = close


def request_length(value: str | None) -> int:
    """The body length a ``Content-Length`` header gives (0 when absent); ``BadRequest`` unless digits."""
    if value is None or value.strip() == "":
        return 0
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise BadRequest(f"Content-Length must be a non-negative integer, got {value!r}", close=True)
    return int(text)


def loads(data: bytes | str) -> Any:
    """``json.loads``, with a too-deep document a ``BadRequest`` (a ``ValueError``) like any other bad JSON."""
    try:
        return json.loads(data)
    except RecursionError:
        raise BadRequest("the JSON document is nested too deeply") from None
