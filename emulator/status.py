"""The live status view of ``thermostat local``: targets, warm environments, hook verdicts, buckets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulator.stack import REGION, TABLE, LocalStack


def _rows_environments(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.runner is not None
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for env in stack.runner.environments():
        key = (str(env.get("function")), str(env.get("version")))
        row = rows.setdefault(
            key, {"function": key[0], "version": key[1], "environments": 0, "busy": 0, "invocations": 0}
        )
        row["environments"] += 1
        row["busy"] += 1 if env.get("state") == "busy" else 0
        row["invocations"] += int(env.get("invocations") or 0)
    return sorted(rows.values(), key=lambda r: (r["function"], r["version"]))


def _rows_targets() -> list[dict[str, Any]]:
    from domain.targets import Target
    from infra.target_store import DynamoTargetStore

    return [
        {
            "group": target.group,
            "function": target.function,
            "qualifier": target.qualifier,
            "concurrency": target.concurrency,
            "enabled": target.enabled,
        }
        for target in DynamoTargetStore(TABLE, REGION).load()
        if isinstance(target, Target)
    ]


def _rows_buckets() -> list[dict[str, Any]]:
    from infra.bucket_registry import DynamoBucketRegistry

    return [
        {
            "project": r.key.project,
            "stage": r.key.stage,
            "region": r.key.region,
            "bucket": r.bucket,
            "state": r.state.value,
        }
        for r in DynamoBucketRegistry(TABLE, REGION).records()
    ]


def _rows_deployments(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.codedeploy is not None
    rows = []
    for deployment in stack.codedeploy.deployments():
        verdicts = {run.lifecycle_event: run.status for run in deployment.executions.values()}
        rows.append(
            {
                "deployment": deployment.deployment_id,
                "function": f"{deployment.function}:{deployment.alias}",
                "versions": f"{deployment.current_version}->{deployment.target_version}",
                "before": verdicts.get("BeforeAllowTraffic", "-"),
                "after": verdicts.get("AfterAllowTraffic", "-"),
                "status": deployment.status,
            }
        )
    return rows[-5:]


def _rows_events(stack: LocalStack, count: int = 5) -> list[dict[str, Any]]:
    """The last events the router received, each with its deliveries so far."""
    if stack.router is None:
        return []
    state = stack.router.state
    rows = []
    for event in list(state.received)[-count:]:
        deliveries = [d for d in list(state.deliveries) if d.event_id == event.get("id")]
        failed = sum(1 for d in deliveries if d.error is not None)
        rows.append(
            {
                "time": str(event.get("time", ""))[11:19],
                "event": f"{event.get('detail-type')} ({event.get('source')})",
                "delivered": len(deliveries) - failed,
                "failed": failed,
            }
        )
    return rows


def _rows_errors(stack: LocalStack, count: int = 5) -> list[dict[str, Any]]:
    """The last failed deliveries (schedules included), failed deployments, log forwarding and metric puts."""
    rows: list[dict[str, Any]] = []
    if stack.router is not None:
        rows.extend(
            {"where": f"rule {d.rule} -> {d.target}", "error": d.error}
            for d in list(stack.router.state.deliveries)
            if d.error is not None
        )
    if stack.codedeploy is not None:
        rows.extend(
            {"where": f"deployment {d.deployment_id}", "error": d.error}
            for d in stack.codedeploy.deployments()
            if d.error is not None
        )
    rows.extend({"where": "log forwarder", "error": error} for error in list(stack.logs.errors))
    if stack.metrics is not None:
        rows.extend({"where": "AWS/Lambda metrics", "error": error} for error in list(stack.metrics.errors))
    return rows[-count:]


def _until(moment: datetime) -> str:
    seconds = max(0, int((moment - datetime.now(UTC)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"in {hours}h{rest // 60:02d}m" if hours else f"in {rest // 60}m{rest % 60:02d}s"


@dataclass(frozen=True)
class StatusSection:
    """One titled table of the live view; ``error`` instead of rows when it could not be read."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def collect_status(stack: LocalStack) -> list[StatusSection]:
    """The live view's sections, as data: the CLI decides how to draw them."""
    sections: tuple[tuple[str, Callable[[], list[dict[str, Any]]]], ...] = (
        ("Execution environments", lambda: _rows_environments(stack)),
        ("Keep-warm targets", _rows_targets),
        ("Deployment buckets", _rows_buckets),
        ("Recent deployments (hook verdicts)", lambda: _rows_deployments(stack)),
        ("Recent events", lambda: _rows_events(stack)),
        ("Recent errors", lambda: _rows_errors(stack)),
    )
    collected: list[StatusSection] = []
    for title, rows in sections:
        try:
            collected.append(StatusSection(title, rows()))
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            collected.append(StatusSection(title, error=f"{type(exc).__name__}: {exc}"))
    if stack.router is not None:
        schedules = [
            {"rule": name, "schedule": expression, "next": f"{when:%m-%d %H:%M:%S} UTC ({_until(when)})"}
            for name, expression, when in stack.router.schedules
        ]
        collected.append(StatusSection("Schedules", schedules))
    return collected
