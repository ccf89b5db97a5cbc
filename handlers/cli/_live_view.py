"""``thermostat local``'s live view on a terminal: one screen redrawn in place (``rich.Live``).

The same sections as the plain view (:func:`emulator.status.collect_status`), under a header that
keeps the endpoints visible. Every table is drawn to the console's width, so it fits 80 columns:
rich folds long cells instead of widening the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

#: Rows shown per section: the screen must fit a terminal, the plain view shows everything.
MAX_ROWS = 5


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _section(title: str, rows: list[dict[str, Any]], error: str | None) -> RenderableType:
    if error is not None:
        return Text(f"{title}: unavailable ({error})", style="red", overflow="fold")
    if not rows:
        return Text(f"{title}: (none)", style="dim")
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        header_style="bold underline cyan",
        pad_edge=False,
        padding=(0, 1),
    )
    columns = list(rows[0].keys())
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows[-MAX_ROWS:]:
        cells = [_cell(row.get(column)) for column in columns]
        failed = any(cell in ("Failed", "FAILED") for cell in cells) or (row.get("failed") or 0) > 0
        table.add_row(*cells, style="red" if failed else None)
    if len(rows) > MAX_ROWS:
        table.caption = f"(last {MAX_ROWS} of {len(rows)})"
    return table


def render(stack: Any) -> RenderableType:
    """The whole screen, as one renderable (the console's width decides how it wraps)."""
    from emulator.status import collect_status

    kept = "in memory" if stack.state_dir is None else f"state in {stack.state_dir}"
    header = Text(f"thermostat local — {time.strftime('%H:%M:%S')} — {kept} — Ctrl-C stops", style="bold")
    endpoints = Table(box=None, show_header=False, pad_edge=False)
    endpoints.add_column("service", style="cyan", no_wrap=True)
    endpoints.add_column("endpoint", overflow="fold")
    for name, url in sorted(stack.endpoints.items()):
        service = name.removeprefix("AWS_ENDPOINT_URL").removeprefix("_").lower() or "moto (default)"
        endpoints.add_row(service, url)
    parts: list[RenderableType] = [header, endpoints]
    parts.extend(_section(s.title, s.rows, s.error) for s in collect_status(stack))
    return Group(*parts)


def serve_live(stack: Any, refresh_s: float, stopping: Callable[[], bool], tick: Callable[[], None]) -> None:
    """Redraw every ``refresh_s`` seconds until ``stopping()``; ``tick`` runs once per redraw."""
    # 80 columns at most: the view must fit a default terminal (and wider ones gain nothing).
    console = Console(width=min(Console().width, 80))
    with Live(render(stack), console=console, auto_refresh=False, screen=False) as live:
        while not stopping():
            deadline = time.monotonic() + max(0.5, refresh_s)
            while time.monotonic() < deadline and not stopping():
                time.sleep(0.1)
            tick()
            live.update(render(stack), refresh=True)
