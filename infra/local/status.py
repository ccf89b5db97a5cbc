"""The live status view of ``thermostat local``: targets, warm environments, hook verdicts, buckets."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from infra.local.stack import REGION, TABLE, LocalStack


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
        info = deployment.info()
        rows.append(
            {
                "deployment": deployment.deployment_id,
                "status": info.get("status"),
                "error": info.get("errorInformation", {}).get("message"),
            }
        )
    return rows[-5:]


def _until(moment: datetime) -> str:
    seconds = max(0, int((moment - datetime.now(UTC)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"in {hours}h{rest // 60:02d}m" if hours else f"in {rest // 60}m{rest % 60:02d}s"


def render_status(stack: LocalStack) -> str:
    """One screen of status (plain text, so it logs and pipes cleanly)."""
    from handlers.cli._output import print_table

    out = io.StringIO()
    out.write(f"\n=== thermostat local — {time.strftime('%H:%M:%S')} ===\n")
    sections: tuple[tuple[str, Callable[[], list[dict[str, Any]]]], ...] = (
        ("Execution environments", lambda: _rows_environments(stack)),
        ("Keep-warm targets", _rows_targets),
        ("Deployment buckets", _rows_buckets),
        ("Recent deployments (hook verdicts)", lambda: _rows_deployments(stack)),
    )
    for title, rows in sections:
        try:
            print_table(rows(), title=title, stream=out)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            out.write(f"{title}: unavailable ({type(exc).__name__}: {exc})\n")
        out.write("\n")
    if stack.router is not None:
        schedules = [
            {"rule": name, "schedule": expression, "next": f"{when:%Y-%m-%d %H:%M:%S} UTC ({_until(when)})"}
            for name, expression, when in stack.router.schedules
        ]
        print_table(schedules, title="Schedules", stream=out)
    return out.getvalue()
