"""The demo scenario of ``thermostat local --demo``: every job of the control plane, end to end.

Every step goes through boto3 to the local endpoints, exactly as it would against AWS:

1. three ``Deployment Requested`` events for one project/stage (two of them concurrent) →
   one bucket, created once and reused;
1b. a ``Deployment Requested`` sent from another account of the local Organization (111111111111,
   credentials from AssumeRole: moto serves many accounts) → its bucket is created in THAT account,
   through the spoke role, and not in the control plane's;
2. a keep-warm round at concurrency 5 → 5 distinct environments proven; a second round → all warm;
3. a pre-traffic hook on a good new version → Succeeded, the alias moves; on a broken version →
   Failed, the alias stays;
4. the cold-start telemetry summary by start kind, read back from CloudWatch Logs.

Each step returns what it saw; :func:`run_demo` checks the expectations and says which failed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.stack import ACCOUNT, DEMO_TARGETS, REGION, TABLE, LocalStack
from infra import aws

Say = Callable[[str], None]
Table = Callable[[list[dict[str, Any]], str], None]

PROJECT = "shop"
STAGE = "dev"
GROUP = "default"
WARM_CONCURRENCY = 5
WAIT_S = 90.0


@dataclass
class DemoResult:
    """What the demo proved, and what it did not."""

    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record one expectation."""
        self.checks.append((name, ok, detail))
        return ok

    @property
    def ok(self) -> bool:
        """True when every expectation held."""
        return all(ok for _, ok, _ in self.checks)


def _wait(condition: Callable[[], bool], timeout_s: float = WAIT_S, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def _resolved_events(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.router is not None
    return [e for e in list(stack.router.state.received) if e.get("detail-type") == "Deployment Bucket Resolved"]


def step_buckets(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """Three deploys of one project/stage, two at once → one bucket, reused."""
    say(f"1. Deployment buckets: 3 x `Deployment Requested` for {PROJECT}/{STAGE} (two of them concurrent)")
    events = aws.client("events")
    entry = {
        "Source": "thermostat.deployments",
        "DetailType": "Deployment Requested",
        "Detail": json.dumps({"project": PROJECT, "stage": STAGE}),
    }

    def send() -> None:
        answer = events.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents refused the entry: {answer['Entries']}")

    send()
    say("   sent #1, waiting for `Deployment Bucket Resolved` ...")
    _wait(lambda: len(_resolved_events(stack)) >= 1)
    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    say("   sent #2 and #3 at the same time, waiting ...")
    _wait(lambda: len(_resolved_events(stack)) >= 3)
    resolved = [e["detail"] for e in _resolved_events(stack)]
    table(
        [
            {
                "#": i + 1,
                "project": d.get("project"),
                "stage": d.get("stage"),
                "bucket": d.get("bucket"),
                "reused": d.get("reused"),
            }
            for i, d in enumerate(resolved)
        ],
        "Deployment Bucket Resolved events",
    )
    buckets = {d.get("bucket") for d in resolved}
    s3_names = [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    project_buckets = [name for name in s3_names if name in buckets]
    result.check("3 deploys resolved", len(resolved) == 3, f"{len(resolved)} resolved")
    result.check(
        "one bucket for all of them",
        len(buckets) == 1 and len(project_buckets) == 1,
        f"buckets={sorted(map(str, buckets))}",
    )
    result.check(
        "created once, then reused",
        sorted(bool(d.get("reused")) for d in resolved) == [False, True, True],
        f"reused flags={[d.get('reused') for d in resolved]}",
    )


SPOKE_ACCOUNT = "111111111111"


def spoke_client(service: str, account: str = SPOKE_ACCOUNT) -> Any:
    """A client acting in ``account`` of the local Organization (moto: assumed-role credentials select it)."""
    from infra.spokes import SpokeSessions

    # The deploy tool over there is just a client with that account's credentials.
    return SpokeSessions(ACCOUNT, role_name="deployer").client(service, account, REGION)


def step_other_account(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """A deploy in another account of the Organization gets its bucket in that account."""
    say(f"1b. Another account: `Deployment Requested` for {PROJECT}/{STAGE} sent from account {SPOKE_ACCOUNT}")
    before = len(_resolved_events(stack))
    answer = spoke_client("events").put_events(
        Entries=[
            {
                "Source": "thermostat.deployments",
                "DetailType": "Deployment Requested",
                "Detail": json.dumps({"project": PROJECT, "stage": STAGE}),
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the entry: {answer['Entries']}")
    say("   sent, waiting for `Deployment Bucket Resolved` ...")
    _wait(lambda: len(_resolved_events(stack)) > before)
    resolved = [e["detail"] for e in _resolved_events(stack)[before:]]
    bucket = resolved[0].get("bucket") if resolved else None
    theirs = [b["Name"] for b in spoke_client("s3").list_buckets().get("Buckets", [])]
    ours = [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    table(
        [{"account": SPOKE_ACCOUNT, "bucket": bucket, "in that account": bucket in theirs, "in ours": bucket in ours}],
        "the other account's deployment bucket",
    )
    result.check("another account's deploy resolved", len(resolved) == 1, f"{len(resolved)} resolved")
    result.check(
        "its bucket is in that account, not ours",
        bucket is not None and bucket in theirs and bucket not in ours,
        f"bucket={bucket}, {SPOKE_ACCOUNT}: {theirs}",
    )


def _warm_round(stack: LocalStack, group: str = GROUP) -> dict[str, Any]:
    assert stack.router is not None
    function = stack.function_by_handler("handlers.keep_warm.lambda_handler")
    response = aws.client("lambda", read_timeout=120).invoke(
        FunctionName=function, Payload=json.dumps({"group": group}).encode()
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise RuntimeError(f"keep-warm failed: {payload}")
    return dict(payload)


def step_keep_warm(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """Two keep-warm rounds at concurrency 5 for each demo target."""
    from domain.targets import make_target
    from infra.target_store import DynamoTargetStore

    say(f"2. Keep-warm: {len(DEMO_TARGETS)} targets at concurrency {WARM_CONCURRENCY}, group {GROUP!r}")
    store = DynamoTargetStore(TABLE, REGION)
    for target in DEMO_TARGETS:
        store.put(make_target(function=target.name, qualifier="live", concurrency=WARM_CONCURRENCY, group=GROUP))
    columns = ("function", "qualifier", "sent", "environments", "cold", "errors", "throttled", "skipped")
    for round_number in (1, 2):
        report = _warm_round(stack)
        rows = [{key: row.get(key) for key in columns} for row in report.get("targets", [])]
        table(rows, f"keep-warm round {round_number}")
        for row in rows:
            result.check(
                f"round {round_number}: {row['function']} proved {WARM_CONCURRENCY} distinct environments",
                row.get("environments") == WARM_CONCURRENCY,
                f"environments={row.get('environments')}",
            )
            if round_number == 2:
                result.check(
                    f"round 2: {row['function']} was all warm", row.get("cold") == 0, f"cold={row.get('cold')}"
                )


def _alias_version(function: str) -> str:
    return str(aws.client("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"])


def _deploy(stack: LocalStack, function: str, environment: dict[str, str]) -> tuple[str, str, str, str]:
    """Publish a new version with ``environment`` and run a CodeDeploy deployment with the hook."""
    assert stack.runner is not None
    assert stack.codedeploy is not None
    current = _alias_version(function)
    stack.runner.update_function(function, environment=environment)
    target = stack.runner.publish_version(function)
    hook = stack.function_by_handler("handlers.pre_traffic.lambda_handler")
    deployment_id = stack.codedeploy.create_deployment(
        function, "live", current, target, hooks={"BeforeAllowTraffic": hook}
    )
    deployment = stack.codedeploy.wait(deployment_id, timeout_s=WAIT_S)
    return current, target, str(deployment.status), _alias_version(function)


def step_hook(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """A good version gets traffic; a broken one does not."""
    function = "demo-orders"
    say(f"3. Pre-traffic hook on {function}: a good new version, then a broken one")
    good_env = {"DEMO_TABLE": TABLE, "DEMO_BUILD": "2"}
    broken_env = {"DEMO_TABLE": "thermostat-table-that-does-not-exist", "DEMO_BUILD": "3"}
    rows = []
    for label, environment, expected in (("good", good_env, "Succeeded"), ("broken", broken_env, "Failed")):
        say(f"   deploying the {label} version ...")
        current, target, status, alias_now = _deploy(stack, function, environment)
        rows.append({"version": label, "from": current, "to": target, "verdict": status, "alias live ->": alias_now})
        result.check(f"{label} version: hook verdict {expected}", status == expected, f"verdict={status}")
        expected_alias = target if expected == "Succeeded" else current
        result.check(
            f"{label} version: alias {'moved' if expected == 'Succeeded' else 'stayed'}",
            alias_now == expected_alias,
            f"alias at {alias_now}",
        )
    for row, reason in zip(rows, _hook_reasons(stack, len(rows)), strict=False):
        row["hook's reason"] = reason
    table(rows, "CodeDeploy deployments through the pre-traffic hook")


def _hook_reasons(stack: LocalStack, count: int) -> list[str]:
    """The reasons of the last ``count`` hook verdicts, from the hook's EMF lines in CloudWatch Logs."""
    from infra.telemetry_source import CloudWatchLogsTelemetry

    stack.logs.flush()
    verdicts = [
        record
        for record in CloudWatchLogsTelemetry(prefix="/aws/lambda/").records()
        if record.get("reason") is not None and "HookVerdict" in json.dumps(record.get("_aws"))
    ]
    verdicts.sort(key=lambda record: record["_aws"].get("Timestamp", 0))
    return [str(record["reason"])[:100] for record in verdicts[-count:]]


def step_telemetry(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """The cold-start summary by start kind, from the EMF lines in CloudWatch Logs."""
    from domain.report import build_report
    from infra.telemetry_source import CloudWatchLogsTelemetry

    say("4. Cold-start telemetry, read back from CloudWatch Logs")
    stack.logs.flush()
    report = build_report(CloudWatchLogsTelemetry(prefix="/aws/lambda/").records())
    rows = [
        {
            "function": row.function,
            "invocations": row.invocations,
            "pings": row.pings,
            **row.kinds,
            "cold_rate": "-" if row.cold_rate is None else f"{row.cold_rate * 100:.0f}%",
        }
        for row in report.starts
    ]
    table(rows, "start kinds by function (warm_ping = pings, never counted as cold)")
    result.check("telemetry recorded", report.records > 0, f"{report.records} records")


AUTO_GROUP = "auto"
BURST = 4


def step_auto(stack: LocalStack, say: Say, table: Table, result: DemoResult) -> None:
    """An auto target follows a burst of real traffic: min before it, the burst's peak after it."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from domain.targets import make_target
    from emulator.stack import DemoTarget
    from infra.target_store import DynamoTargetStore

    say(f"5. Adaptive keep-warm: an auto target (min 1, max 8) before and after a burst of {BURST} real requests")
    burst = DemoTarget("demo-burst", "burst.lambda_handler", "requests of one burst wait for each other")
    stack.add_target_function(burst)
    DynamoTargetStore(TABLE, REGION).put(
        make_target(function=burst.name, qualifier="live", concurrency="auto", auto_min=1, auto_max=8, group=AUTO_GROUP)
    )
    columns = ("function", "planned", "environments", "cold")

    def warm(title: str) -> dict[str, Any]:
        # The keep-warm function's round (the local stack reads the history afresh every round).
        [row] = _warm_round(stack, AUTO_GROUP)["targets"]
        auto = row.get("auto") or {}
        table([{**{key: row.get(key) for key in columns}, "n": auto.get("n"), "why": auto.get("reason")}], title)
        return dict(row)

    before = warm("auto round before the burst")
    lam = aws.client("lambda", read_timeout=60)
    event = json.dumps({"burst": uuid.uuid4().hex, "of": BURST}).encode()

    def call(_: int) -> Any:
        answer = lam.invoke(FunctionName=burst.name, Qualifier="live", Payload=event)
        return json.loads(answer["Payload"].read())

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        met = list(pool.map(call, range(BURST)))
    stack.logs.flush()
    after = warm(f"auto round after {BURST} requests at once")
    first, second = before.get("auto") or {}, after.get("auto") or {}
    result.check("auto: no traffic yet, min", first.get("n") == 1, f"N={first.get('n')}")
    result.check(
        "auto: the burst's requests overlapped",
        met == [{"met": True}] * BURST,
        f"{sum(1 for answer in met if answer == {'met': True})} of {BURST} met",
    )
    result.check(
        f"auto: N followed the burst to {BURST}",
        second.get("n") == BURST and after.get("environments") == BURST,
        f"N={second.get('n')} ({second.get('source')}), environments={after.get('environments')}",
    )


def run_demo(stack: LocalStack, say: Say, table: Table) -> DemoResult:
    """Run every step; an exception in one step is recorded and the next still runs."""
    result = DemoResult()
    for step in (step_buckets, step_other_account, step_keep_warm, step_hook, step_telemetry, step_auto):
        try:
            step(stack, say, table, result)
        except Exception as exc:  # noqa: BLE001 - the demo reports every step, whatever breaks
            result.check(step.__name__, False, f"{type(exc).__name__}: {exc}")
        say("")
    return result
