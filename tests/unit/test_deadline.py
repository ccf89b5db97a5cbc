"""One deadline shape, built from the Lambda context."""

from __future__ import annotations

import math

import pytest

from domain.deadline import Deadline

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Context:
    def __init__(self, remaining_ms: object) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> object:
        return self._remaining_ms


def test_a_context_gives_the_invocation_deadline() -> None:
    # Given a context with 3 s left
    clock = FakeClock()
    deadline = Deadline.from_context(Context(3000), clock)
    # When 1 s passes, Then 2 s are left, and keeping 0.5 s back leaves 1.5 s
    clock.now += 1.0
    assert deadline.remaining_s() == pytest.approx(2.0)
    assert deadline.earlier_by(0.5).remaining_s() == pytest.approx(1.5)
    assert not deadline.expired()
    clock.now += 2.0
    assert deadline.expired()


@pytest.mark.parametrize("context", [None, object(), Context("soon"), Context(None)])
def test_no_usable_context_means_no_deadline(context: object) -> None:
    deadline = Deadline.from_context(context, FakeClock())
    assert not deadline.bounded
    assert deadline.remaining_s() == math.inf
    assert deadline.remaining_or_none() is None
    assert deadline.earlier_by(5).remaining_s() == math.inf
