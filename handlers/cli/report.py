"""``thermostat report [--since DURATION] [--html FILE]``: the fleet's telemetry, as tables or a page.

``thermostat report --account A [--group G]``: the latest sharded keep-warm round of the group, per
account and region (``--account all``: every account).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from domain.report import DEFAULT_MIN_SAMPLE, START_KINDS, FleetReport, FunctionStarts, ReportContext, build_report
from handlers import wiring
from handlers.cli._args import parse_duration
from handlers.cli._output import emit, print_table
from handlers.cli._report_fleet import print_fleet, read_fleet, with_fleet, with_section
from handlers.cli._report_html import render_html

#: Lambda's default log groups, and the named ones the SAM template gives thermostat's own functions.
DEFAULT_PREFIXES = ("/aws/lambda/", "/thermostat/")


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
        "--advise",
        action="store_true",
        help="with --html: add `thermostat advise`'s section (a week of the targets' records, their costs)",
    )
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
    report.add_argument(
        "--min-sample",
        type=int,
        default=DEFAULT_MIN_SAMPLE,
        metavar="N",
        help=f"mark rates from fewer than N invocations as too few to trust (default {DEFAULT_MIN_SAMPLE})",
    )
    report.add_argument(
        "--account",
        metavar="ACCOUNT",
        help="instead: the latest sharded keep-warm round for this account (12 digits, or 'all'), per region",
    )
    report.add_argument("--group", default="default", help="the keep-warm group of --account (default: default)")
    report.set_defaults(run=run)


def _utc(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def describe_context(report: FleetReport, since: str) -> str:
    """One line: the window, when it was generated, the account and the region."""
    context = report.context
    return (
        f"window {_utc(context.since_ms)} to {_utc(context.until_ms)} (last {since}); "
        f"generated {_utc(context.generated_ms)}; account {context.account or 'unknown'}; "
        f"region {context.region or 'unknown'}"
    )


def rate_text(row: FunctionStarts) -> str:
    """``50.0% (n=2)*``: the rate, its sample size, and a mark when the sample is below the threshold."""
    if row.cold_rate is None:
        return "- (n=0)"
    return f"{row.cold_rate * 100:.1f}% (n={row.invocations}){'*' if row.low_sample else ''}"


def _account() -> str | None:
    from domain.errors import ThermostatError
    from infra.accounts import current_account

    try:
        return current_account()
    except ThermostatError:
        return None  # the report stands without it; it says "unknown"


def run(args: argparse.Namespace) -> int:
    """Read the telemetry, print the report, optionally write the page."""
    if getattr(args, "account", None) is not None:
        from handlers.cli._report_rounds import run_rounds

        return run_rounds(args)
    if args.min_sample < 1:
        raise InvalidInput(f"--min-sample {args.min_sample}: give a whole number of invocations, at least 1")
    if getattr(args, "advise", False) and args.html is None:
        raise InvalidInput("--advise adds a section to the HTML page: give --html FILE too (or run thermostat advise)")
    now_ms = int(time.time() * 1000)
    since_ms = now_ms - parse_duration(args.since) * 1000
    prefixes = args.prefixes or list(DEFAULT_PREFIXES)
    records = [r for prefix in prefixes for r in wiring.telemetry(prefix).records(since_ms=since_ms)]
    from infra import aws

    context = ReportContext(
        since_ms=since_ms,
        until_ms=now_ms,
        generated_ms=int(time.time() * 1000),
        account=_account(),
        region=aws.region(),
        min_sample=args.min_sample,
        own_service=wiring.settings().service_name,
    )
    report = build_report(records, context)
    # The fleet section reads Lambda's default groups unless the prefixes were named.
    fleet = read_fleet(since_ms, records, args.functions, args.prefixes or ["/aws/lambda/"])
    if args.html is not None:
        page = with_fleet(render_html(report), fleet)
        if getattr(args, "advise", False):
            from handlers.cli.advise import advice_fragment

            page = with_section(page, advice_fragment(now_ms))
        args.html.write_text(page, encoding="utf-8")
    if getattr(args, "json", False):
        emit(args, {**report.model_dump(mode="json"), "fleet": fleet.model_dump(mode="json")})
        return 0

    def starts(rows: list[FunctionStarts]) -> list[dict[str, Any]]:
        return [
            {
                "function": row.function,
                "invocations": row.invocations,
                "pings": row.pings,
                **{kind: row.kinds.get(kind, 0) for kind in START_KINDS if kind != "warm_ping"},
                "cold_rate": rate_text(row),
                "init_ms": row.mean_init_ms,
            }
            for row in rows
        ]

    print(f"thermostat report: {describe_context(report, args.since)}; {report.records} telemetry records")
    print()
    print_table(starts(report.user_starts), title="Cold starts: your functions")
    print()
    print_table(starts(report.own_starts), title="Cold starts: thermostat's own functions")
    if any(row.low_sample for row in report.starts):
        print(f"* fewer than {args.min_sample} invocations: too few to trust the rate (--min-sample)")
    print()
    warm = [
        {
            "target": row.target,
            "proven": row.coverage,
            "rounds": row.rounds,
            "last_sent": row.last_sent,
            "last_cold_hits": row.last_cold_hits,
            "errors": row.errors,
            "throttles": row.throttles,
        }
        for row in report.warm
    ]
    print_table(
        [_whole(row) for row in warm], title="Warm coverage: environments proven of planned (last round per target)"
    )
    print()
    hooks = [{**row.model_dump(), "last_reason": _short(row.last_reason)} for row in report.hooks]
    print_table(hooks, title="Pre-traffic hook verdicts (--json for full reasons)")
    print()
    print_fleet(fleet)
    if args.html is not None:
        print(f"\nHTML report written to {args.html}")
    return 0
