"""Small fakes shared by the test layers: a clock that moves only when told to, a Lambda context."""

from __future__ import annotations


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
