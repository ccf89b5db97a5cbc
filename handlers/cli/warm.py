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
from domain.targets import DEFAULT_GROUP
from handlers.cli._output import emit

COLUMNS = (
    "function",
    "qualifier",
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
    warm.set_defaults(run=run_warm)


def _row(target: dict[str, Any]) -> dict[str, Any]:
    row = dict(target)
    if row.get("environments") is None and row.get("unknown_environments"):
        row["environments"] = "unknown"
    if not row.get("error") and row.get("warnings"):
        row["error"] = "; ".join(row["warnings"])
    return row


def run_warm(args: argparse.Namespace) -> int:
    """Run the round, print the report, fail when a target needs a look."""
    if args.timeout is not None and args.timeout <= 0:
        raise InvalidInput(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    from handlers.keep_warm import run_keep_warm

    deadline = None if args.timeout is None else Deadline.after(time.monotonic, args.timeout)
    report = run_keep_warm(args.group, function=args.target, deadline=deadline)
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
