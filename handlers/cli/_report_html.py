"""A self-contained HTML page for ``thermostat report --html``: inline SVG, no network."""

from __future__ import annotations

from html import escape

from domain.report import START_KINDS, FleetReport

_KIND_COLOURS = {
    "cold": "#d62728",
    "restore": "#ff7f0e",
    "provisioned": "#2ca02c",
    "warm": "#1f77b4",
    "warm_ping": "#9467bd",
}
_BAR_HEIGHT = 22
_LABEL_WIDTH = 260
_CHART_WIDTH = 420


def _stacked_bars(
    rows: list[tuple[str, list[tuple[str, float, str]]]], title: str, unit: str = "", scale_max: float | None = None
) -> str:
    """Horizontal stacked bars: rows of (label, [(segment name, value, colour)]).

    ``scale_max`` fixes the full width (100 for percentages); otherwise the longest bar fills it.
    """
    if not rows:
        return f"<h2>{escape(title)}</h2><p class='empty'>No data.</p>"
    top = scale_max or max((sum(value for _, value, _ in segments) for _, segments in rows), default=0.0) or 1.0
    height = _BAR_HEIGHT * len(rows) + 10
    parts = [
        f"<h2>{escape(title)}</h2>",
        f'<svg role="img" aria-label="{escape(title)}" width="{_LABEL_WIDTH + _CHART_WIDTH + 80}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
    ]
    for index, (label, segments) in enumerate(rows):
        y = index * _BAR_HEIGHT + 4
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
        )
        x = float(_LABEL_WIDTH)
        total = 0.0
        for name, value, colour in segments:
            width = _CHART_WIDTH * value / top
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BAR_HEIGHT - 6}" fill="{colour}">'
                    f"<title>{escape(name)}: {value:g}{unit}</title></rect>"
                )
            x += width
            total += value
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="12">{total:g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{colour}"></span>{escape(name)}</span>'
        for name, colour in names
    )
    return f'<p class="legend">{items}</p>'


def render_html(report: FleetReport, title: str = "thermostat report") -> str:
    """The whole page as a string."""
    starts = [
        (
            row.function,
            [(kind, float(row.kinds.get(kind, 0)), _KIND_COLOURS[kind]) for kind in START_KINDS],
        )
        for row in report.starts
    ]
    rates = [
        (row.function, [("cold-start rate", round(row.cold_rate * 100, 1), "#d62728")])
        for row in report.starts
        if row.cold_rate is not None  # functions that only received pings have no rate
    ]
    warm = [
        (
            row.target,
            [
                ("environments proven", row.last_environments or 0.0, "#1f77b4"),
                (
                    "pings without a distinct environment",
                    max(0.0, (row.last_sent or 0.0) - (row.last_environments or 0.0)),
                    "#bbbbbb",
                ),
            ],
        )
        for row in report.warm
    ]
    hooks = [
        (row.target, [("Succeeded", float(row.succeeded), "#2ca02c"), ("Failed", float(row.failed), "#d62728")])
        for row in report.hooks
    ]
    table_rows = "".join(
        "<tr>"
        f"<td>{escape(row.function)}</td><td>{row.invocations}</td><td>{row.pings}</td>"
        + "".join(f"<td>{row.kinds.get(kind, 0)}</td>" for kind in START_KINDS)
        + f"<td>{'-' if row.cold_rate is None else f'{row.cold_rate * 100:.1f}%'}</td>"
        f"<td>{'-' if row.mean_init_ms is None else f'{row.mean_init_ms:.1f}'}</td></tr>"
        for row in report.starts
    )
    kind_headers = "".join(f"<th>{kind}</th>" for kind in START_KINDS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.legend .key {{ margin-right: 1rem; font-size: 12px; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
.empty {{ color: #888; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{report.records} telemetry records.</p>
{_stacked_bars(starts, "Invocations by start kind")}
{_legend([(kind, _KIND_COLOURS[kind]) for kind in START_KINDS])}
{_stacked_bars(rates, "Cold-start rate (cold + restore, pings excluded)", "%", scale_max=100.0)}
<table><thead><tr><th>function</th><th>invocations</th><th>pings</th>{kind_headers}<th>cold rate</th>
<th>mean init ms</th></tr></thead><tbody>{table_rows}</tbody></table>
{_stacked_bars(warm, "Warm environments proven (last keep-warm round)")}
{_legend([("environments proven", "#1f77b4"), ("pings without a distinct environment", "#bbbbbb")])}
{_stacked_bars(hooks, "Pre-traffic hook verdicts")}
{_legend([("Succeeded", "#2ca02c"), ("Failed", "#d62728")])}
</body></html>
"""
