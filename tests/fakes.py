"""Small fakes shared by the test layers: a clock that moves only when told to, a Lambda context, a dead endpoint."""

from __future__ import annotations

import socket
from collections.abc import Callable


class ManualClock:
    """Monotonic (or wall) seconds that move only when a test sets or advances ``now``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RemainingTimeContext:
    """The one part of a Lambda context that deadlines read: ``get_remaining_time_in_millis``.

    With a ``clock`` the time left runs down on it, as Lambda's does, towards ``deadline_at``
    (``clock()`` at construction plus ``remaining_ms``): the deadline the code computes from this
    context is that instant on that clock, which a test can compare other moments on it with.
    """

    def __init__(self, remaining_ms: object, clock: Callable[[], float] | None = None) -> None:
        self.remaining_ms = remaining_ms
        self.clock = clock
        self.deadline_at = None if clock is None else clock() + float(remaining_ms) / 1000.0  # type: ignore[arg-type]

    def get_remaining_time_in_millis(self) -> object:
        if self.clock is None or self.deadline_at is None:
            return self.remaining_ms
        return (self.deadline_at - self.clock()) * 1000.0


def dead_endpoint() -> str:
    """An ``http://127.0.0.1:PORT`` URL that refuses connections (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
