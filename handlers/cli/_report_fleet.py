"""The fleet section of ``thermostat report``: every function's cold starts from Lambda's own records.

Kept apart from ``report.py`` and ``_report_html.py`` so that the rest of the report can change its
presentation without touching this section: ``report.py`` calls :func:`read_fleet`, then
:func:`print_fleet`, :func:`fleet_html` or puts ``fleet.model_dump()`` in its JSON document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from domain.platform_report import Durations, PlatformReport, build_platform_report
from handlers import wiring
from handlers.cli._output import print_table
from infra.platform_source import DEFAULT_PREFIX, PlatformRead


def read_fleet(
    since_ms: int,
    telemetry: Iterable[Mapping[str, Any]],
    functions: Sequence[str] = (),
    prefixes: Sequence[str] = (DEFAULT_PREFIX,),
) -> PlatformReport:
    """Read the platform records under ``prefixes`` and the targets' round times, and build the section."""
    reads = [wiring.platform_records(tuple(functions), prefix).read(since_ms=since_ms) for prefix in prefixes]
    read = PlatformRead(
        records=[record for one in reads for record in one.records],
        log_groups=sum(one.log_groups for one in reads),
        events=sum(one.events for one in reads),
        bytes=sum(one.bytes for one in reads),
    )
    notes = []
    rounds = wiring.target_rounds()
    if rounds is None:
        notes.append("THERMOSTAT_TABLE is not set: keep-warm effectiveness needs the targets' round times")
    return build_platform_report(
        read.records,
        telemetry,
        rounds or [],
        log_groups=read.log_groups,
        events_read=read.events,
        bytes_read=read.bytes,
        notes=notes,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _triple(summary: Durations) -> str:
    if not summary.n:
        return "-"
    return f"{summary.p50:.0f}/{summary.p95:.0f}/{summary.max:.0f}"


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def fleet_rows(fleet: PlatformReport) -> list[dict[str, Any]]:
    """One table row per function and version."""
    return [
        {
            "function": row.function,
            "log": "+".join(row.formats),
            "invocations": row.invocations,
            "pings": "?" if row.pings is None else row.pings,
            "cold": row.cold_starts,
            "restores": row.restores,
            "provisioned": row.kinds.get("provisioned", 0) or row.provisioned_inits,
            "cold_rate": row.note if row.cold_rate is None else _pct(row.cold_rate),
            "init_p50/p95/max": _triple(row.init_ms),
            "restore_p50/p95/max": _triple(row.restore_ms),
            "in_process_init": row.in_process_init_ms,
            "errors": row.errors + row.init_errors,
            "timeouts": row.timeouts,
        }
        for row in fleet.functions
    ]


def effect_rows(fleet: PlatformReport) -> list[dict[str, Any]]:
    """One table row per keep-warm target."""
    return [
        {
            "target": row.target,
            "rounds": row.rounds,
            "warmed_since": _when(row.first_round_ms),
            "before": f"{row.before_cold}/{row.before_requests} ({_pct(row.before_rate)})",
            "after": f"{row.after_cold}/{row.after_requests} ({_pct(row.after_rate)})",
            "note": row.note,
        }
        for row in fleet.warm_effect
    ]


def print_fleet(fleet: PlatformReport) -> None:
    """The section as two text tables."""
    print_table(
        fleet_rows(fleet),
        title=(
            f"Fleet cold starts from Lambda's records ({fleet.records} platform records in {fleet.events_read} "
            f"events, {fleet.bytes_read} bytes, from {fleet.log_groups} log groups; durations in ms)"
        ),
    )
    print()
    print_table(effect_rows(fleet), title="Keep-warm effect (cold starts / real requests, before and after warming)")
    for note in fleet.notes:
        print(f"note: {note}")


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='empty'>No data.</p>"
    head = "".join(f"<th>{escape(str(key))}</th>" for key in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('-' if value is None else str(value))}</td>" for value in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fleet_html(fleet: PlatformReport) -> str:
    """The section as an HTML fragment (tables, no scripts)."""
    notes = "".join(f"<p class='empty'>{escape(note)}</p>" for note in fleet.notes)
    return (
        "<section id='fleet'><h2>Fleet cold starts from Lambda's records</h2>"
        f"<p>{fleet.records} platform records in {fleet.events_read} events ({fleet.bytes_read} bytes) "
        f"from {fleet.log_groups} log groups.</p>"
        f"{_html_table(fleet_rows(fleet))}"
        "<h2>Keep-warm effect</h2>"
        f"{_html_table(effect_rows(fleet))}{notes}</section>"
    )


def with_fleet(page: str, fleet: PlatformReport) -> str:
    """``page`` (the report's HTML) with the fleet section before ``</body>``."""
    return with_section(page, fleet_html(fleet))


def with_section(page: str, section: str) -> str:
    """``page`` with ``section`` (an HTML fragment) before ``</body>``."""
    marker = "</body>"
    index = page.rfind(marker)
    if index < 0:
        return page + section
    return page[:index] + section + "\n" + page[index:]
