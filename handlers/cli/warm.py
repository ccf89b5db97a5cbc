"""``thermostat warm [--group G] [--target FUNCTION] [--timeout S]``: one keep-warm round now.

The same round the scheduled Lambda runs (same table, same limits from the environment), with
its report printed. Exit code 1 when a target had errors, throttles, unsent pings or fewer
environments than planned, so a script can tell.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from domain.deadline import Deadline
from domain.errors import InvalidInput, ThermostatError
from domain.targets import DEFAULT_GROUP, validate_group
from handlers import wiring
from handlers.cli._output import emit
from handlers.cli._progress import progress, record

COLUMNS = (
    "function",
    "qualifier",
    "auto",
    "planned",
    "sent",
    "environments",
    "cold",
    "errors",
    "throttled",
    "not_attempted",
    "skipped",
    "error",
)


def register(commands: Any) -> None:
    """Add the ``warm`` command."""
    warm = commands.add_parser("warm", help="run one keep-warm round now and print its report")
    warm.add_argument("--group", default=DEFAULT_GROUP, help=f"targets of this group (default {DEFAULT_GROUP})")
    warm.add_argument("--target", metavar="FUNCTION", help="only this function's targets")
    warm.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop launching pings after this long (default: no limit)"
    )
    warm.add_argument(
        "--no-telemetry",
        action="store_true",
        help="do not record the round in CloudWatch Logs (/thermostat/cli) for `thermostat report`",
    )
    warm.set_defaults(run=run_warm)


def _row(target: dict[str, Any]) -> dict[str, Any]:
    row = dict(target)
    auto = row.get("auto")
    row["auto"] = f"N={auto['n']}: {auto['reason']}" if isinstance(auto, dict) else None
    if row.get("environments") is None and row.get("unknown_environments"):
        row["environments"] = "unknown"
    if not row.get("error") and row.get("warnings"):
        row["error"] = "; ".join(row["warnings"])
    return row


def _known(args: argparse.Namespace) -> int:
    """Refuse (exit 2) a group with no targets, or a function with no target in the group, naming the known ones.

    Returns the number of targets the round will load.
    """
    from handlers import wiring

    group = validate_group(args.group)
    items = wiring.target_store().load(None)
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item.function)
    if group not in groups:
        known = ", ".join(f"{name} ({len(functions)} targets)" for name, functions in sorted(groups.items()))
        raise InvalidInput(
            f"--group {group!r}: no keep-warm targets in that group; known groups: {known or '(none)'}. "
            "Add one with `thermostat targets add FUNCTION --qualifier Q --group G`"
        )
    functions = groups[group]
    if args.target is None:
        return len(functions)
    matching = [f for f in functions if args.target in (f, f.rsplit(":", 1)[-1])]
    if not matching:
        raise InvalidInput(
            f"--target {args.target!r}: no keep-warm target for that function in group {group!r}; "
            f"known there: {', '.join(sorted(set(functions)))}"
        )
    return len(matching)


def _run_sharded(args: argparse.Namespace, targets: list[Any], deadline: Deadline | None) -> int:
    from handlers import keep_warm_shards as sharded
    from handlers.keep_warm import report_metric_documents, run_keep_warm

    rounds = sharded.Rounds(run=run_keep_warm, target_documents=report_metric_documents)
    result = sharded.plan_and_send(args.group, targets, rounds, deadline=deadline, publish=False)
    round_report = result.get("report")
    if round_report is not None:
        from domain.keep_warm.shard_reports import ShardedRoundReport

        documents = sharded.round_metric_documents(ShardedRoundReport.model_validate(round_report), rounds)
        record(args, documents, "keep-warm round")
    progress(args, f"sharded round {result['round_id']}: {result['shards']} shard(s) of {result['targets']} target(s)")
    rows = round_report["places"] if round_report else []
    emit(args, result, rows=rows, title=f"sharded keep-warm round {result['round_id']} per account and region")
    if result.get("error"):
        raise ThermostatError(str(result["error"]))
    failed = [line for line in (round_report or {}).get("shards", []) if line["status"] != "ok"]
    if failed:
        raise ThermostatError(
            f"{len(failed)} of {result['shards']} shards did not finish: "
            + "; ".join(
                f"shard {line['index']} ({line['account']}): {line['status']} {line['error'] or ''}".strip()
                for line in failed
            )
        )
    return 0


def run_warm(args: argparse.Namespace) -> int:
    """Run the round, print the report, record its telemetry, fail when a target needs a look."""
    if args.timeout is not None and args.timeout <= 0:
        raise InvalidInput(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    from handlers.keep_warm import report_metric_documents, run_keep_warm

    count = _known(args)
    which = f" ({args.target})" if args.target else ""
    progress(args, f"keep-warm round for group {args.group!r}{which}: pinging {count} target(s)…")
    deadline = None if args.timeout is None else Deadline.after(time.monotonic, args.timeout)
    from handlers.keep_warm_sharding import load_round

    settings = wiring.settings()
    targets = load_round(args.group, args.target, settings)
    if any(target.account or target.region for target in targets):
        # Other accounts or regions need their own clients: the sharded round (its shards here,
        # one after the other, unless THERMOSTAT_SHARD_QUEUE hands them to the workers).
        return _run_sharded(args, targets, deadline)
    report = run_keep_warm(args.group, function=args.target, deadline=deadline)
    progress(args, f"round done: {report.sent} pings in {report.duration_ms / 1000:.2f} s")
    record(args, report_metric_documents(report), "keep-warm round")
    document = report.to_dict()
    emit(
        args,
        document,
        rows=[_row(target) for target in document["targets"]],
        columns=COLUMNS,
        title=f"keep-warm round for group {report.group!r}: {report.sent} pings in {report.duration_ms / 1000:.2f} s",
    )
    unhealthy = report.unhealthy
    if unhealthy:
        names = ", ".join(f"{t.function}:{t.qualifier}" for t in unhealthy)
        raise ThermostatError(f"{len(unhealthy)} of {len(report.targets)} targets need a look: {names}")
    return 0
