"""``thermostat advise``: per target, its cold starts, what each remedy costs, and one recommendation.

    thermostat advise [--since 1w] [--function NAME[:QUALIFIER] ...] [--group G] [--prices FILE]
                      [--warmer-round-ms MS] [--min N] [--max N] [--html FILE] [--json]

The targets are the table's (``THERMOSTAT_TABLE``), or the functions named by ``--function``
(which also narrows the table's). Lambda's platform records of the window give the measured
figures; ``GetFunctionConfiguration`` gives memory, architecture and runtime; the price table
gives the dollars (see ``domain/advice.py`` for the rules).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from domain import costs
from domain.advice import (
    AdviceTarget,
    TargetAdvice,
    Thresholds,
    advise,
    warm_ping_ids,
)
from domain.errors import InvalidInput
from domain.targets import DEFAULT_HOLD_MS, Target
from handlers import wiring
from handlers.cli._args import parse_duration
from handlers.cli._output import emit, print_table

DEFAULT_SINCE = "1w"
DEFAULT_WARMER_ROUND_MS = 1000.0


def register(commands: Any) -> None:
    """Add the ``advise`` command."""
    parser = commands.add_parser(
        "advise", help="per target: cold starts, the cost of keep-warm, provisioned concurrency and SnapStart, advice"
    )
    parser.add_argument(
        "--since", default=DEFAULT_SINCE, help=f"how far back to read (default {DEFAULT_SINCE}; a week or more)"
    )
    parser.add_argument(
        "--function",
        action="append",
        dest="functions",
        default=[],
        metavar="NAME[:QUALIFIER]",
        help="advise on this function (repeatable); with a table, only the targets of these functions",
    )
    parser.add_argument("--group", help="only the table's targets of this group")
    parser.add_argument("--prices", metavar="FILE", help="a price table of your own (beats THERMOSTAT_PRICES_FILE)")
    parser.add_argument(
        "--warmer-round-ms",
        type=float,
        default=DEFAULT_WARMER_ROUND_MS,
        metavar="MS",
        help=f"the keep-warm function's time per round, shared by its group (default {DEFAULT_WARMER_ROUND_MS:.0f})",
    )
    parser.add_argument(
        "--min", type=int, default=0, dest="auto_min", metavar="N", help="auto sizing's lower bound (default 0)"
    )
    parser.add_argument(
        "--max", type=int, default=1000, dest="auto_max", help="auto sizing's upper bound (default 1000)"
    )
    parser.add_argument("--html", type=Path, help="also write the advice as a self-contained HTML page")
    parser.set_defaults(run=run)


def _split(value: str) -> tuple[str, str | None]:
    name, _, qualifier = value.partition(":")
    from thermostat_runtime import names

    if not names.is_function_name(name):
        raise InvalidInput(
            f"--function {value!r}: expected a Lambda function name (1-64 letters, digits, '-' or '_'), "
            "optionally with :QUALIFIER"
        )
    return name, qualifier or None


Row = tuple[str, str | None, int, int | None, str]


def _targets(args: argparse.Namespace) -> list[Row]:
    """(function, qualifier, hold_ms, concurrency, group) of every target to advise on, shapes not read yet."""
    named = [_split(value) for value in args.functions]
    from infra.settings import load_settings

    table = load_settings(only=("table",)).table
    found: list[Row] = []
    if table:
        for item in wiring.target_store().load(args.group):
            if not isinstance(item, Target) or not item.enabled:
                continue
            if named and item.function_name not in {name for name, _ in named}:
                continue
            if any(name == item.function_name and q not in {None, item.qualifier} for name, q in named):
                continue
            found.append((item.function, item.qualifier, item.hold_ms, item.planned_concurrency, item.group))
    elif not named:
        raise InvalidInput(
            "advise needs targets: set THERMOSTAT_TABLE to advise on the keep-warm targets, "
            "or name functions with --function NAME[:QUALIFIER]"
        )
    covered = {(row[0].rsplit(":function:", 1)[-1], row[1]) for row in found}
    for name, qualifier in named:
        if not any(n == name and (qualifier is None or q == qualifier) for n, q in covered):
            found.append((name, qualifier, DEFAULT_HOLD_MS, None, "-"))
    return found


def collect(args: argparse.Namespace, now_ms: int) -> tuple[list[TargetAdvice], costs.PriceTable, str, int]:
    """Read everything and advise on every target (the command's work, without the printing)."""
    if args.warmer_round_ms < 0:
        raise InvalidInput(f"--warmer-round-ms {args.warmer_round_ms}: give a duration in ms, 0 or more")
    if args.auto_min < 0 or args.auto_max < max(args.auto_min, 1):
        raise InvalidInput(f"--min {args.auto_min} --max {args.auto_max}: need 0 <= min <= max and max >= 1")
    since_ms = now_ms - parse_duration(args.since) * 1000
    table = wiring.price_table(args.prices)
    from infra import aws

    region = aws.region()
    targets = _targets(args)
    names = tuple(sorted({row[0].rsplit(":function:", 1)[-1] for row in targets}))
    if not targets:
        return [], table, region, since_ms
    read = wiring.platform_records(names).read(since_ms=since_ms, until_ms=now_ms)
    pings, layered = warm_ping_ids(wiring.telemetry("/aws/lambda/").records(since_ms=since_ms))
    shapes = wiring.function_shapes()
    per_group = Counter(row[4] for row in targets)
    warmer_prices = table.prices(region, costs.WARMER_ARCHITECTURE)
    advices = []
    for function, qualifier, hold_ms, concurrency, group in targets:
        shape = shapes.describe(function, qualifier)
        target = AdviceTarget(
            function=function, qualifier=qualifier, shape=shape, hold_ms=hold_ms, concurrency=concurrency
        )
        advices.append(
            advise(
                target,
                read.records,
                since_ms=since_ms,
                until_ms=now_ms,
                prices=table.prices(region, shape.architecture),
                warmer_prices=warmer_prices,
                warmer=costs.WarmerShare(round_ms=args.warmer_round_ms, targets=per_group[group]),
                pings=pings,
                layered=target.name in layered,
                minimum=args.auto_min,
                maximum=args.auto_max,
                thresholds=Thresholds(),
            )
        )
    return advices, table, region, since_ms


def _money(option: Any) -> str:
    return "-" if option is None else costs.dollars(option.total)


def rows(advices: list[TargetAdvice]) -> list[dict[str, Any]]:
    """One table row per target."""
    return [
        {
            "target": a.target,
            "requests": a.requests,
            "cold_rate": "-" if a.cold_rate is None else f"{a.cold_rate * 100:.1f}%",
            "p95_init_ms": "-" if a.p95_init_ms is None else f"{a.p95_init_ms:.0f}",
            "peak": a.peak_concurrency,
            "keep_warm_auto": _money(a.costs["keep_warm_auto"]),
            "keep_warm_fixed": _money(a.costs["keep_warm_fixed"]),
            "provisioned_hours": _money(a.costs["provisioned_scheduled"]),
            "provisioned_always": _money(a.costs["provisioned_always_on"]),
            "snapstart": _money(a.costs["snapstart"]),
            "advice": a.recommendation,
        }
        for a in advices
    ]


def profile_text(advice: TargetAdvice) -> str:
    """``00h 0.1 | 01h 0 | …``: real requests per hour of the day, only the hours with traffic."""
    busy = [f"{hour:02d}h {value:.1f}" for hour, value in enumerate(advice.requests_per_hour) if value > 0]
    return ", ".join(busy) or "no real requests"


def advice_fragment(now_ms: int) -> str:
    """The advice section for ``thermostat report --html --advise``: the table's targets, over
    ``advise``'s own defaults (a week, the shipped or THERMOSTAT_PRICES_FILE prices)."""
    from handlers.cli._report_html import advice_section

    defaults = argparse.Namespace(
        since=DEFAULT_SINCE,
        functions=[],
        group=None,
        prices=None,
        warmer_round_ms=DEFAULT_WARMER_ROUND_MS,
        auto_min=0,
        auto_max=1000,
    )
    advices, *_ = collect(defaults, now_ms)
    return advice_section(advices)


def run(args: argparse.Namespace) -> int:
    """Advise on every target; print the table (or JSON) and optionally write the page."""
    now_ms = int(time.time() * 1000)
    advices, table, region, since_ms = collect(args, now_ms)
    document = {
        "window": {"since_ms": since_ms, "until_ms": now_ms, "since": args.since},
        "region": region,
        "prices": {
            "source": table.source,
            "as_of": str(table.as_of),
            "currency": table.currency,
            "unconfirmed": list(table.unconfirmed),
        },
        "month_hours": costs.HOURS_PER_MONTH,
        "warmer_round_ms": args.warmer_round_ms,
        "targets": [advice.model_dump(mode="json") for advice in advices],
    }
    if args.html is not None:
        from handlers.cli._report_html import render_advice_html

        args.html.write_text(render_advice_html(advices, document), encoding="utf-8")
    if getattr(args, "json", False):
        emit(args, document)
        return 0
    print(
        f"thermostat advise: last {args.since}, region {region}; prices as of {table.as_of} ({table.source}); "
        f"monthly costs ({costs.HOURS_PER_MONTH} h) in {table.currency}"
    )
    print()
    print_table(rows(advices), title="Cold starts and what each remedy costs a month")
    for advice in advices:
        print()
        print(f"{advice.target}: {advice.recommendation} - {advice.reason}")
        print(f"  real requests per hour of day (UTC): {profile_text(advice)}")
        print(f"  auto: {advice.auto_reason}")
        for note in advice.notes:
            print(f"  note: {note}")
    if table.unconfirmed:
        print(f"\nnote: price figures not confirmed from the source: {', '.join(table.unconfirmed)}")
    if args.html is not None:
        print(f"\nHTML advice written to {args.html}")
    return 0
