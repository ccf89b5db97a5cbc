"""``thermostat report [--since DURATION] [--html FILE]``: the fleet's telemetry, as tables or a page."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from domain.report import START_KINDS, build_report
from handlers import wiring
from handlers.cli._output import emit, print_table
from handlers.cli._report_fleet import print_fleet, read_fleet, with_fleet
from handlers.cli._report_html import render_html

#: Lambda's default log groups, and the named ones the SAM template gives thermostat's own functions.
DEFAULT_PREFIXES = ("/aws/lambda/", "/thermostat/")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``6h``, ``2d``, ``1w`` → seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise InvalidInput(f"--since {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 6h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _whole(row: dict[str, Any]) -> dict[str, Any]:
    """Counts read from EMF are floats; show 5, not 5.0."""
    return {key: int(value) if isinstance(value, float) and value.is_integer() else value for key, value in row.items()}


def _short(text: str | None, limit: int = 110) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def register(commands: Any) -> None:
    """Add the ``report`` command."""
    report = commands.add_parser("report", help="cold-start rates, warm coverage and hook verdicts from telemetry")
    report.add_argument("--since", default="24h", help="how far back to read (default 24h)")
    report.add_argument("--html", type=Path, help="also write a self-contained HTML page with charts")
    report.add_argument(
        "--log-group-prefix",
        action="append",
        dest="prefixes",
        metavar="PREFIX",
        help=f"log groups to read (repeatable; default {' and '.join(DEFAULT_PREFIXES)})",
    )
    report.add_argument(
        "--function",
        action="append",
        dest="functions",
        default=[],
        metavar="FUNCTION",
        help="the fleet section covers only these functions (repeatable; default every /aws/lambda/ group)",
    )
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the telemetry, print the report, optionally write the page."""
    since_ms = int((time.time() - parse_duration(args.since)) * 1000)
    prefixes = args.prefixes or list(DEFAULT_PREFIXES)
    records = [r for prefix in prefixes for r in wiring.telemetry(prefix).records(since_ms=since_ms)]
    report = build_report(records)
    # The fleet section reads Lambda's default groups unless the prefixes were named.
    fleet = read_fleet(since_ms, records, args.functions, args.prefixes or ["/aws/lambda/"])
    if args.html is not None:
        args.html.write_text(with_fleet(render_html(report), fleet), encoding="utf-8")
    if getattr(args, "json", False):
        emit(args, {**report.model_dump(mode="json"), "fleet": fleet.model_dump(mode="json")})
        return 0
    starts = [
        {
            "function": row.function,
            "invocations": row.invocations,
            "pings": row.pings,
            **{kind: row.kinds.get(kind, 0) for kind in START_KINDS if kind != "warm_ping"},
            "cold_rate": "-" if row.cold_rate is None else f"{row.cold_rate * 100:.1f}%",
            "init_ms": row.mean_init_ms,
        }
        for row in report.starts
    ]
    print_table(starts, title=f"Cold starts ({report.records} telemetry records since {args.since})")
    print()
    print_table([_whole(row.model_dump()) for row in report.warm], title="Warm coverage (last round per target)")
    print()
    hooks = [{**row.model_dump(), "last_reason": _short(row.last_reason)} for row in report.hooks]
    print_table(hooks, title="Pre-traffic hook verdicts (--json for full reasons)")
    print()
    print_fleet(fleet)
    if args.html is not None:
        print(f"\nHTML report written to {args.html}")
    return 0
