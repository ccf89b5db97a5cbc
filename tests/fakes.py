"""Small fakes shared by the test layers: a clock that moves only when told to, a Lambda context, a dead endpoint."""

from __future__ import annotations

import socket


class ManualClock:
    """Monotonic (or wall) seconds that move only when a test sets or advances ``now``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RemainingTimeContext:
    """The one part of a Lambda context that deadlines read: ``get_remaining_time_in_millis``."""

    def __init__(self, remaining_ms: object) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> object:
        return self.remaining_ms


def dead_endpoint() -> str:
    """An ``http://127.0.0.1:PORT`` URL that refuses connections (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
