"""One shape of deadline for every job: keep-warm rounds, the hook and deployment events.

A :class:`Deadline` is an instant on a monotonic clock (or none at all, for the CLI). Lambda
tells each invocation how long it has left (``context.get_remaining_time_in_millis()``);
:meth:`Deadline.from_context` turns that into a deadline once, at the edge, and the domain only
asks how much is left or keeps some back for its own reporting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: A clock in seconds: ``time.monotonic`` for deadlines, ``time.time`` where an instant is stored
#: (bucket leases); a fake in tests.
Clock = Callable[[], float]


class Deadline:
    """The instant ``expires_at`` on ``clock``; ``expires_at=None`` means unbounded."""

    __slots__ = ("_clock", "expires_at")

    def __init__(self, clock: Clock, expires_at: float | None) -> None:
        self._clock = clock
        self.expires_at = expires_at

    @classmethod
    def never(cls, clock: Clock) -> Deadline:
        """No deadline (the CLI, a test without a Lambda context)."""
        return cls(clock, None)

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock, clock() + seconds)

    @classmethod
    def from_context(cls, context: Any, clock: Clock) -> Deadline:
        """The invocation's deadline from the Lambda context; unbounded when there is no usable context."""
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if getter is None:
            return cls.never(clock)
        try:
            remaining_ms = float(getter())
        except (TypeError, ValueError):
            return cls.never(clock)
        return cls.after(clock, remaining_ms / 1000.0)

    @property
    def bounded(self) -> bool:
        """True when there is a deadline at all."""
        return self.expires_at is not None

    def remaining_s(self) -> float:
        """Seconds left (``math.inf`` when unbounded; negative once passed)."""
        if self.expires_at is None:
            return math.inf
        return self.expires_at - self._clock()

    def remaining_or_none(self) -> float | None:
        """Seconds left, or None when unbounded."""
        return None if self.expires_at is None else self.expires_at - self._clock()

    def timeout_s(self) -> float | None:
        """What a call made now may take: None when unbounded, never negative."""
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - self._clock())

    def expired(self) -> bool:
        """True once the instant has passed."""
        return self.remaining_s() <= 0

    def earlier_by(self, seconds: float) -> Deadline:
        """The same deadline ``seconds`` earlier (time kept back for reports, logs and metrics)."""
        if self.expires_at is None:
            return self
        return Deadline(self._clock, self.expires_at - seconds)
