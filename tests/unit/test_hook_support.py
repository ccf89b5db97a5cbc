"""Fakes for the hook's tests (no tests here): an invoker, a reporter, a reader, a context.

The ledger is the shared in-memory idempotency store (``tests.unit.test_idempotency``).

Each fake implements its port honestly and keeps state that tests assert on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.deadline import Deadline
from domain.hook import AppSpecTarget, HookStatus, ReportOutcome
from domain.invocation import InvocationRequest, InvocationResult, Outcome

Behaviour = Callable[[InvocationRequest, int], InvocationResult]


def probe_reply(
    environment_id: str,
    *,
    ok: bool = True,
    error: str | None = None,
    start_kind: str = "cold",
    result: Any = None,
) -> dict[str, Any]:
    """What a target wearing ``@warmable(probe=…)`` answers to a probe."""
    probe: dict[str, Any] = {"ok": ok, "duration_ms": 1.5}
    if error is not None:
        probe["error"] = error
    if result is not None:
        probe["result"] = result
    return {
        "thermostat": {
            "v": 1,
            "warm": True,
            "environment_id": environment_id,
            "start_kind": start_kind,
            "init_type": "on-demand",
            "init_ms": 120.0,
            "function_name": "orders",
            "function_version": "7",
            "correlation_id": None,
            "probe": probe,
        }
    }


def healthy(request: InvocationRequest, call: int) -> InvocationResult:
    """A new environment per call, the probe passes, the executed version is the qualifier."""
    return InvocationResult(
        outcome=Outcome.OK,
        status_code=200,
        payload=probe_reply(f"env-{call}"),
        executed_version=request.qualifier,
        duration_ms=10.0,
    )


class FakeInvoker:
    """Records every request; answers with ``behaviour(request, call_number)`` (calls count from 1)."""

    def __init__(self, behaviour: Behaviour = healthy) -> None:
        self.behaviour = behaviour
        self.requests: list[InvocationRequest] = []
        self._lock = threading.Lock()

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        with self._lock:
            self.requests.append(request)
            call = len(self.requests)
        return self.behaviour(request, call)

    @property
    def events(self) -> list[Any]:
        return [json.loads(request.payload) for request in self.requests]


class BlockingInvoker:
    """Never answers until released: a straggler that outlives the deadline."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        with self._lock:
            self.started += 1
        self.release.wait(timeout=30)
        return healthy(request, 1)


class RecordingSleeper:
    """Records the delays asked for; sleeps for none of them."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


@dataclass
class Report:
    deployment_id: str
    execution_id: str
    status: HookStatus


@dataclass
class FakeReporter:
    """Accepts the first report per execution, answers already-completed after that."""

    fail_with: Exception | None = None
    reports: list[Report] = field(default_factory=list)

    def report(self, deployment_id: str, execution_id: str, status: HookStatus, deadline: Deadline) -> ReportOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        already = any(report.execution_id == execution_id for report in self.reports)
        self.reports.append(Report(deployment_id, execution_id, status))
        return ReportOutcome.ALREADY_COMPLETED if already else ReportOutcome.REPORTED


@dataclass
class FakeReader:
    """Answers one AppSpec (or raises)."""

    target: AppSpecTarget | None = None
    error: Exception | None = None
    reads: list[str] = field(default_factory=list)

    def read_target(self, deployment_id: str, *, timeout_s: float | None = None) -> AppSpecTarget:
        self.reads.append(deployment_id)
        if self.error is not None:
            raise self.error
        assert self.target is not None
        return self.target


@dataclass
class FakeContext:
    """The parts of a Lambda context the hook reads."""

    remaining_ms: int = 30_000
    function_name: str = "thermostat-pre-traffic"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


DEPLOYMENT_ID = "d-ABCDEFGH1"
EXECUTION_ID = "exec-0001"


def hook_event(deployment_id: str = DEPLOYMENT_ID, execution_id: str = EXECUTION_ID) -> dict[str, str]:
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id}


@dataclass(frozen=True)
class HookSettingsValue:
    """The hook's settings (``domain.hook.HookSettings``) without the environment: orders:7 before traffic."""

    hook_target: str | None = "orders"
    hook_version: str | None = "7"
    hook_lifecycle: str | None = "BeforeAllowTraffic"
    hook_concurrency: int = 5
    hook_jitter: tuple[float, float] = (0.25, 0.4)
    hook_payload: str | None = None
    hook_payload_s3: str | None = None
    hook_payload_sha256: str | None = None
    hook_expectations: tuple[Any, ...] = ()
    hook_hold_margin_ms: int = 25
    hook_timeout_s: float | None = None
    payload_buckets: tuple[str, ...] = ()


class NoPayloads:
    """A payload reader for tests that configure none: any read is a bug."""

    def read(
        self, uri: str, *, allowed_buckets: tuple[str, ...], sha256: str | None = None, timeout_s: float | None = None
    ) -> bytes:
        raise AssertionError(f"unexpected payload read of {uri}")
