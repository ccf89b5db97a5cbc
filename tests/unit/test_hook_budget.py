"""How the hook shares its time out: bounded clients, the report's attempts, the ledger's calls.

The network-path proof is ``tests/integration/test_hook_deadline.py``; these pin the arithmetic
(on a clock that moves only when told to) and that every adapter builds clients that fit.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.deadline import Deadline
from domain.errors import DeadlineExceeded, Unavailable
from domain.hook import HookStatus, ReportOutcome
from domain.hook.delivery import FINISH_S, LEDGER_CALL_S, LEDGER_SHARE, claim_execution, deliver
from domain.hook.verdict import failed
from infra import aws
from infra.codedeploy import REPORT_CONNECT_CAP_S, REPORT_READ_CAP_S, CodeDeployAppSpecReader, CodeDeployReporter
from infra.idempotency import HOOK_EXECUTIONS, DynamoIdempotencyStore
from tests.fakes import ManualClock
from tests.unit.test_idempotency import InMemoryIdempotencyStore

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("budget_s", [0.05, 0.07, 0.1, 0.32, 0.5, 0.99, 1.5, 2.0, 2.7, 3.0, 12.0, 1e9])
def test_a_bounded_clients_timeouts_never_add_up_to_more_than_its_budget(budget_s: float) -> None:
    connect, read = aws.bounded_timeouts(budget_s, connect_cap_s=0.5, read_cap_s=1.5) or (None, None)
    assert connect is not None
    assert read is not None
    assert connect + read <= budget_s
    assert connect <= 0.5
    assert read <= 1.5
    assert connect > 0
    assert read > 0


def test_below_the_smallest_rung_there_is_no_client(aws_env: None) -> None:
    assert aws.bounded_timeouts(0.049, connect_cap_s=1.0, read_cap_s=2.0) is None
    assert aws.bounded_client("codedeploy", 0.0) is None


def test_bounded_clients_make_one_attempt_and_are_reused(aws_env: None) -> None:
    first = aws.bounded_client("dynamodb", 0.34, connect_cap_s=0.5, read_cap_s=1.0)
    again = aws.bounded_client("dynamodb", 0.31, connect_cap_s=0.5, read_cap_s=1.0)
    assert first is again  # both round down to the 0.3 s rung
    config = first.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.1, 0.2)
    assert config.retries["total_max_attempts"] == 1


# --------------------------------------------------------------------------- the report


def test_a_full_report_attempt_with_time_to_spare_and_half_of_what_is_left_otherwise(aws_env: None) -> None:
    reporter = CodeDeployReporter()
    full = REPORT_CONNECT_CAP_S + REPORT_READ_CAP_S
    assert reporter.attempt_budget_s(float("inf")) == full
    assert reporter.attempt_budget_s(10.0) == full
    assert reporter.attempt_budget_s(3.0) == 1.5  # a hung attempt leaves room for one more
    assert reporter.attempt_budget_s(3.0, last=True) == full
    assert reporter.attempt_budget_s(0.15) == 0.15  # too little to split: all of it
    config = reporter.client_within(reporter.attempt_budget_s(0.64)).meta.config
    assert config.connect_timeout + config.read_timeout <= 0.32


def test_no_time_left_means_no_attempt_and_a_clear_error(aws_env: None) -> None:
    clock = ManualClock(100.0)
    reporter = CodeDeployReporter()
    with pytest.raises(DeadlineExceeded, match="too little for an attempt; raise the hook function's timeout"):
        reporter.report("d-ABCDEFGH1", "exec", HookStatus.FAILED, Deadline.after(clock, 0.04))
    assert reporter.attempts == []


def test_the_appspec_read_fits_its_timeout(aws_env: None) -> None:
    with pytest.raises(DeadlineExceeded, match=r"only 0\.01s left"):
        CodeDeployAppSpecReader().read_target("d-ABCDEFGH1", timeout_s=0.01)


def test_the_ledgers_bounded_calls(aws_env: None) -> None:
    store = DynamoIdempotencyStore("table", "us-east-1", namespace=HOOK_EXECUTIONS)
    config = store.client_within("claiming", "k", 0.2).meta.config
    assert config.connect_timeout + config.read_timeout <= 0.2
    assert config.retries["total_max_attempts"] == 1
    with pytest.raises(Unavailable, match=r"claiming k skipped on table: only 0\.01s left before the deadline"):
        store.claim("k", 10.0, timeout_s=0.01)


# --------------------------------------------------------------------------- the delivery's shares


class TimedStore(InMemoryIdempotencyStore):
    """The in-memory store, noting the timeout each call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[tuple[str, float | None]] = []

    def claim(self, key: str, lease_s: float, *, subject: str | None = None, timeout_s: float | None = None) -> Any:
        self.timeouts.append(("claim", timeout_s))
        return super().claim(key, lease_s, subject=subject)

    def record(self, key: str, outcome: Any, *, timeout_s: float | None = None) -> None:
        self.timeouts.append(("record", timeout_s))
        super().record(key, outcome)

    def complete(self, key: str, outcome: Any = None, *, timeout_s: float | None = None) -> None:
        self.timeouts.append(("complete", timeout_s))
        super().complete(key, outcome)

    def release(self, key: str, *, timeout_s: float | None = None) -> None:
        self.timeouts.append(("release", timeout_s))
        super().release(key)


class DeadlineReporter:
    """Accepts the report, noting the deadline it was given (or fails, when told to)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.deadlines: list[Deadline] = []

    def report(self, deployment_id: str, execution_id: str, status: HookStatus, deadline: Deadline) -> ReportOutcome:
        self.deadlines.append(deadline)
        if self.error is not None:
            raise self.error
        return ReportOutcome.REPORTED


@pytest.mark.parametrize(("budget_s", "reserve_s", "expected"), [(1.0, 0.5, 0.1), (10.0, 2.5, 1.0), (3.0, 0.75, 0.45)])
def test_the_claim_takes_a_fifth_of_the_time_before_the_reserve_at_most(
    budget_s: float, reserve_s: float, expected: float
) -> None:
    store = TimedStore()
    deadline = Deadline.after(ManualClock(0.0), budget_s)
    claim_execution(store, "d-ABCDEFGH1", "exec", deadline, reserve_s=reserve_s)
    assert store.timeouts == [("claim", pytest.approx(expected))]
    assert expected <= LEDGER_CALL_S


def test_the_report_keeps_most_of_the_reserve_and_everything_ends_before_the_deadline() -> None:
    # Given 0.5 s left (the smallest reserve) when the verdict is delivered
    store = TimedStore()
    clock = ManualClock(0.0)
    deadline = Deadline.after(clock, 0.5)
    store.claim("exec", 0.5)
    store.timeouts.clear()
    reporter = DeadlineReporter()
    # When it is delivered
    deliver(failed("x"), "d-ABCDEFGH1", "exec", reporter=reporter, ledger=store, deadline=deadline)
    # Then the record took at most a fifth, the report got the rest but FINISH_S, completing what was left
    assert store.timeouts == [
        ("record", pytest.approx((0.5 - FINISH_S) * LEDGER_SHARE)),
        ("complete", pytest.approx(0.5 - FINISH_S)),
    ]
    assert reporter.deadlines[0].expires_at == pytest.approx(0.5 - FINISH_S)


def test_a_failed_report_releases_within_what_is_left() -> None:
    store = TimedStore()
    deadline = Deadline.after(ManualClock(0.0), 2.0)
    store.claim("exec", 2.0)
    store.timeouts.clear()
    execution = deliver(
        failed("x"),
        "d-ABCDEFGH1",
        "exec",
        reporter=DeadlineReporter(Unavailable("down")),
        ledger=store,
        deadline=deadline,
    )
    assert execution.delivery.value == "report_failed"
    assert store.timeouts[-1] == ("release", pytest.approx(min(LEDGER_CALL_S, 2.0 - FINISH_S)))
