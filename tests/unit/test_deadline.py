"""One deadline shape, built from the Lambda context."""

from __future__ import annotations

import math

import pytest

from domain.deadline import Deadline
from tests.fakes import ManualClock, RemainingTimeContext

pytestmark = pytest.mark.unit


def test_a_context_gives_the_invocation_deadline() -> None:
    # Given a context with 3 s left
    clock = ManualClock(100.0)
    deadline = Deadline.from_context(RemainingTimeContext(3000), clock)
    # When 1 s passes, Then 2 s are left, and keeping 0.5 s back leaves 1.5 s
    clock.now += 1.0
    assert deadline.remaining_s() == pytest.approx(2.0)
    assert deadline.earlier_by(0.5).remaining_s() == pytest.approx(1.5)
    assert not deadline.expired()
    clock.now += 2.0
    assert deadline.expired()


@pytest.mark.parametrize("context", [None, object(), RemainingTimeContext("soon"), RemainingTimeContext(None)])
def test_no_usable_context_means_no_deadline(context: object) -> None:
    deadline = Deadline.from_context(context, ManualClock(100.0))
    assert not deadline.bounded
    assert deadline.remaining_s() == math.inf
    assert deadline.remaining_or_none() is None
    assert deadline.earlier_by(5).remaining_s() == math.inf
