"""The hook never overruns its own deadline: faults injected on the network path, the verdict still in time.

The whole handler runs with its production adapters (``handlers.wiring``): the CodeDeploy reporter
and AppSpec reader against the local CodeDeploy, the ledger in DynamoDB (moto's server), the
warm-up against the simulated Lambda endpoint — each behind a :class:`tests.hook_faults.FaultProxy`
that hangs, answers 500s, throttles, answers late, or drops answers. Nothing of ours is mocked.

The deadline is the hook's own: the Lambda context's remaining time runs down on
``time.monotonic`` (:class:`tests.fakes.RemainingTimeContext`), and the local CodeDeploy stamps
each report with the moment it received it on that same clock. "Reported in time" compares those
two instants; no elapsed time is measured against a guess. The last figure, the handler's return
against the same deadline, is the hook not overrunning it at all.

``test_worst_margin_across_the_fault_matrix`` (marker ``bench``: ``pytest -m bench -s``) sweeps every
fault mode over budgets of 1-20 s and prints the worst margins (recorded in bench/README.md).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from domain.errors import Unavailable
from emulator.codedeploy import LocalCodeDeploy
from emulator.codedeploy_model import Deployment, StatusCall
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from handlers import pre_traffic, wiring
from infra.idempotency import HOOK_EXECUTIONS, DynamoIdempotencyStore
from tests.fakes import RemainingTimeContext
from tests.hook_faults import FaultProxy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOOK = "thermostat-pre-traffic"
PUT = "PutLifecycleEventHookExecutionStatus"
ACCEPTED = ("ok", "LifecycleEventAlreadyCompletedException")


@dataclass
class World:
    """The local CodeDeploy, moto's DynamoDB and the simulated Lambda, each behind its own fault proxy."""

    codedeploy: LocalCodeDeploy
    codedeploy_faults: FaultProxy
    dynamodb_faults: FaultProxy
    lambda_faults: FaultProxy
    table: str


@dataclass
class Run:
    """One delivery of the hook event: its deadline, when it ended, and what CodeDeploy received."""

    budget_s: float
    deadline_at: float
    ended_at: float
    calls: list[StatusCall]
    document: dict[str, Any] | None = None
    raised: BaseException | None = None

    @property
    def reported(self) -> StatusCall | None:
        """The first report CodeDeploy accepted (or answered already-completed) in this delivery."""
        return next((call for call in self.calls if call.answer in ACCEPTED), None)

    @property
    def report_margin_s(self) -> float:
        """How long before the deadline CodeDeploy had the verdict (``-inf``: never)."""
        reported = self.reported
        return -math.inf if reported is None else self.deadline_at - reported.at

    @property
    def end_margin_s(self) -> float:
        """How long before the deadline the handler returned (or raised)."""
        return self.deadline_at - self.ended_at


@dataclass
class Mode:
    """One fault mode: how to break the world, and how many deliveries it takes."""

    name: str
    inject: Callable[[World, Deployment], None]
    #: True when the verdict must reach CodeDeploy in the (last) delivery; False: it must not report again.
    reports: bool = True
    deliveries: int = 1
    notes: list[str] = field(default_factory=list)


@pytest.fixture
def world(moto_server: str, table: str, fresh_observability: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    target = SimulatedFunction("orders", qualifiers={"6": "6", "7": "7"}, probe={"ok": True, "duration_ms": 0.1})
    with (
        LocalCodeDeploy() as codedeploy,
        LambdaEndpoint([target]) as endpoint,
        FaultProxy(codedeploy.url) as codedeploy_faults,
        FaultProxy(moto_server) as dynamodb_faults,
        FaultProxy(endpoint.url) as lambda_faults,
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", codedeploy_faults.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_faults.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_faults.url)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", HOOK)
        monkeypatch.setenv("THERMOSTAT_HOOK_JITTER", "0.05,0.1")
        wiring.reset()
        try:
            yield World(codedeploy, codedeploy_faults, dynamodb_faults, lambda_faults, table)
        finally:
            wiring.reset()


def new_deployment(world: World) -> Deployment:
    """orders 6 → 7, this hook as its BeforeAllowTraffic (the target comes from the AppSpec)."""
    return world.codedeploy.add_deployment("orders", "live", "6", "7", hooks={"BeforeAllowTraffic": HOOK})


def event_of(deployment: Deployment) -> dict[str, str]:
    return {
        "DeploymentId": deployment.deployment_id,
        "LifecycleEventHookExecutionId": deployment.execution_id("BeforeAllowTraffic"),
    }


def deliver(world: World, deployment: Deployment, budget_s: float) -> Run:
    """One delivery of the hook event with ``budget_s`` left in its Lambda context."""
    execution_id = deployment.execution_id("BeforeAllowTraffic")
    before = len(world.codedeploy.reports(execution_id))
    context = RemainingTimeContext(budget_s * 1000.0, clock=time.monotonic)
    assert context.deadline_at is not None
    document: dict[str, Any] | None = None
    raised: BaseException | None = None
    try:
        document = pre_traffic.handle(event_of(deployment), context)
    except Unavailable as exc:  # the report could not be delivered: Lambda's retry will report
        raised = exc
    ended_at = time.monotonic()
    calls = world.codedeploy.reports(execution_id)[before:]
    return Run(budget_s, context.deadline_at, ended_at, calls, document, raised)


# --------------------------------------------------------------------------- the fault modes


def codedeploy_hangs(world: World, deployment: Deployment) -> None:
    # The first call of each operation is held open for good: the AppSpec read and the first report.
    world.codedeploy_faults.script("GetDeployment", "hang")
    world.codedeploy_faults.script(PUT, "hang")


def codedeploy_500s(world: World, deployment: Deployment) -> None:
    world.codedeploy_faults.script(PUT, "500", "500")


def codedeploy_throttles(world: World, deployment: Deployment) -> None:
    world.codedeploy_faults.script(PUT, "throttle", "throttle", "throttle")


def already_completed(world: World, deployment: Deployment) -> None:
    # Someone (an earlier delivery whose answer was lost) already reported: CodeDeploy itself refuses a second one.
    client = boto3.client("codedeploy", endpoint_url=world.codedeploy.url, region_name="us-east-1")
    client.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment.deployment_id,
        lifecycleEventHookExecutionId=deployment.execution_id("BeforeAllowTraffic"),
        status="Succeeded",
    )


def dynamodb_throttled(world: World, deployment: Deployment) -> None:
    world.dynamodb_faults.script("UpdateItem", then="throttle")


def slow_target(world: World, deployment: Deployment) -> None:
    world.lambda_faults.script("Invoke", then="hang")


def timeouts(world: World, deployment: Deployment) -> None:
    # Every dependency answers, but only after its caller's timeout: DynamoDB always, CodeDeploy the first time.
    world.dynamodb_faults.script("UpdateItem", then="slow:30")
    world.codedeploy_faults.script("GetDeployment", "slow:30")
    world.codedeploy_faults.script(PUT, "slow:30")


def lost_answer(world: World, deployment: Deployment) -> None:
    # CodeDeploy takes the first report, then the connection dies before its answer comes back.
    world.codedeploy_faults.script(PUT, "lose_answer")


def healthy(world: World, deployment: Deployment) -> None:
    """No fault."""


MODES = {
    mode.name: mode
    for mode in (
        Mode("healthy", healthy),
        Mode("codedeploy-hangs", codedeploy_hangs),
        Mode("codedeploy-500s", codedeploy_500s),
        Mode("codedeploy-throttles", codedeploy_throttles),
        Mode("already-completed", already_completed),
        Mode("dynamodb-throttled", dynamodb_throttled),
        Mode("slow-target", slow_target),
        Mode("timeouts", timeouts),
        Mode("lost-answer", lost_answer),
        Mode("re-delivery", healthy, reports=False, deliveries=2),
    )
}


def run_mode(world: World, mode: Mode, budget_s: float) -> Run:
    """Inject the mode's faults into a new deployment and deliver its hook event (the last run is returned)."""
    for proxy in (world.codedeploy_faults, world.dynamodb_faults, world.lambda_faults):
        proxy.clear()  # the previous mode's faults end here
    deployment = new_deployment(world)
    mode.inject(world, deployment)
    run = deliver(world, deployment, budget_s)
    for _ in range(mode.deliveries - 1):
        assert run.reported is not None, "the first delivery must report"
        run = deliver(world, deployment, budget_s)
    return run


def assert_in_time(run: Run, mode: Mode) -> None:
    if mode.reports:
        assert run.reported is not None, f"{mode.name}: nothing reported ({run.raised or run.document})"
        assert run.reported.at < run.deadline_at, f"{mode.name}: reported {-run.report_margin_s:.3f}s late"
    else:
        assert run.calls == [], f"{mode.name}: reported again: {run.calls}"
        assert run.document is not None
        assert run.document["delivery"] == "duplicate"
    assert run.ended_at < run.deadline_at, f"{mode.name}: the handler overran its deadline by {-run.end_margin_s:.3f}s"


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("mode", list(MODES), ids=list(MODES))
def test_the_verdict_reaches_codedeploy_before_the_hooks_deadline(world: World, mode: str) -> None:
    # Given a 3 s budget (the Lambda default timeout) and the fault on the network path
    chosen = MODES[mode]
    # When the hook event is delivered
    run = run_mode(world, chosen, 3.0)
    # Then CodeDeploy had the verdict before the hook's own deadline, and the handler ended before it too
    assert_in_time(run, chosen)
    # And the hook knew itself (AWS_LAMBDA_FUNCTION_NAME) among the AppSpec's hooks: no lifecycle was guessed
    if run.document is not None:
        assert not [w for w in run.document.get("warnings", ()) if "is not among the AppSpec hooks" in w]


def test_a_hung_codedeploy_call_costs_at_most_its_share_of_the_reserve(world: World) -> None:
    # Given a 20 s budget: the old client waited 3 s to connect and 10 s to read, the reserve was 5 s
    deployment = new_deployment(world)
    codedeploy_hangs(world, deployment)
    # When the first AppSpec read and the first report hang
    run = deliver(world, deployment, 20.0)
    # Then the verdict (Failed: the AppSpec could not be read) still reached CodeDeploy in time, on the second try
    assert run.reported is not None
    assert run.reported.status == "Failed"
    assert run.reported.at < run.deadline_at
    assert [seen.action for seen in world.codedeploy_faults.requests(PUT)] == ["hang", "forward"]
    assert run.ended_at < run.deadline_at


#: The smallest budget is this many times what a healthy delivery takes on this machine right now.
SMALLEST_BUDGET_FACTOR = 5.0


def smallest_budget_s(world: World) -> float:
    """1 s, or more on a machine too busy to do a healthy delivery in a fifth of that.

    The hook's own time management is what is under test, not the machine's speed: every service
    of this world shares the test's process (and its GIL), so on two shared cores under load a
    1 s budget can be used up by the world before the hook has a say. Measured in the same run,
    right before the faulty deliveries, so the budget follows the load the test is under.
    """
    healthy = run_mode(world, MODES["healthy"], 20.0)
    assert healthy.reported is not None
    took_s = healthy.ended_at - (healthy.deadline_at - healthy.budget_s)
    return max(1.0, SMALLEST_BUDGET_FACTOR * took_s)


@pytest.mark.parametrize("size", ["smallest", "largest"])
def test_the_smallest_and_largest_budgets(world: World, size: str) -> None:
    budget_s = smallest_budget_s(world) if size == "smallest" else 20.0
    for mode in ("dynamodb-throttled", "codedeploy-throttles"):
        run = run_mode(world, MODES[mode], budget_s)
        assert_in_time(run, MODES[mode])


_KILLABLE = """
import json, sys, time
from handlers import pre_traffic
from tests.fakes import RemainingTimeContext
event = json.loads(sys.argv[1])
pre_traffic.handle(event, RemainingTimeContext(float(sys.argv[2]), clock=time.monotonic))
"""


def test_a_delivery_killed_mid_report_is_reported_by_the_next_one_in_time(world: World) -> None:
    # Given a first delivery, in its own process, killed while its report hangs (the runtime's kill at the deadline)
    deployment = new_deployment(world)
    world.codedeploy_faults.script(PUT, "hang")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "serverless" / "layer" / "python")])}
    first = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, json.dumps(event_of(deployment)), "4000"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # until the report is on the wire (bounded: 600 polls of at most 0.05 s)
            if world.codedeploy_faults.requests(PUT) or first.poll() is not None:
                break
            world.codedeploy_faults.stopped.wait(0.05)
        assert world.codedeploy_faults.requests(PUT), f"the first delivery never reported: {first.communicate()[1]!r}"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=30)
    # And its claim still held until its own deadline, with the verdict recorded
    store = DynamoIdempotencyStore(world.table, "us-east-1", namespace=HOOK_EXECUTIONS)
    record = store.get(deployment.execution_id("BeforeAllowTraffic"))
    assert record is not None
    assert record.state == "decided"
    # When Lambda retries the event after that deadline (the lease), Then the retry reports the recorded verdict in time
    world.codedeploy_faults.stopped.wait(max(0.0, record.lease_until - time.time()) + 0.05)
    run = deliver(world, deployment, 3.0)
    assert run.reported is not None
    assert run.reported.status == "Succeeded"
    assert run.reported.at < run.deadline_at
    assert run.document is not None
    assert run.ended_at < run.deadline_at


# --------------------------------------------------------------------------- the measurement

BUDGETS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)


@pytest.mark.bench
def test_worst_margin_across_the_fault_matrix(world: World) -> None:
    rows: list[tuple[str, float, float, float, str]] = []
    for name, mode in MODES.items():
        for budget_s in BUDGETS:
            run = run_mode(world, mode, budget_s)
            assert_in_time(run, mode)
            outcome = run.document["delivery"] if run.document else f"raised {type(run.raised).__name__}"
            rows.append((name, budget_s, run.report_margin_s, run.end_margin_s, outcome))
    print("\nmode                  budget  report margin  end margin  delivery")
    for name, budget_s, report, end, outcome in rows:
        shown = "-" if math.isinf(report) else f"{report:.3f}s"
        print(f"{name:<21} {budget_s:>5.0f}s  {shown:>13}  {end:>9.3f}s  {outcome}")
    reported = [row for row in rows if not math.isinf(row[2])]
    worst_report = min(reported, key=lambda row: row[2])
    worst_end = min(rows, key=lambda row: row[3])
    print(f"worst report margin {worst_report[2]:.3f}s ({worst_report[0]}, {worst_report[1]:.0f}s budget)")
    print(f"worst end margin {worst_end[3]:.3f}s ({worst_end[0]}, {worst_end[1]:.0f}s budget)")
    figures = {
        "worst_report_margin_s": round(worst_report[2], 4),
        "worst_end_margin_s": round(worst_end[3], 4),
        "rows": [list(row) for row in rows],
    }
    print(json.dumps({"hook_deadline": figures}, default=str))
