"""A self-contained HTML page for ``thermostat report --html``: inline SVG, no network, no scripts.

Made to be read in a 900 px window: the page is at most 860 px wide, the SVG charts scale to
their column (``viewBox``), long function names wrap in the tables and are cut (with the full
name as a tooltip) in the charts. A legend is drawn only for the series that have data.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from domain.advice import TargetAdvice
from domain.report import START_KINDS, FleetReport, FunctionStarts

_KIND_COLOURS = {
    "cold": "#d62728",
    "restore": "#ff7f0e",
    "provisioned": "#2ca02c",
    "warm": "#1f77b4",
    "warm_ping": "#9467bd",
}
_BAR_HEIGHT = 22
_LABEL_WIDTH = 230
_CHART_WIDTH = 480
_END_WIDTH = 150
_WIDTH = _LABEL_WIDTH + _CHART_WIDTH + _END_WIDTH  # 860: the page's content width
_LABEL_CHARS = 30
_LOW = "#f2b8b8"

Segment = tuple[str, float, str]


def _label(text: str) -> str:
    """A chart label cut to fit its column; the full text stays in a tooltip."""
    shown = text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
    return f"<title>{escape(text)}</title>{escape(shown)}"


def _svg_open(title: str, height: int) -> str:
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    )


def _stacked_bars(
    rows: list[tuple[str, list[Segment], str]],
    title: str,
    *,
    scale_max: float | None = None,
    empty: str = "No data in this window.",
) -> str:
    """Horizontal stacked bars: rows of (label, [(segment name, value, colour)], text at the bar's end).

    ``scale_max`` fixes the full width (100 for percentages); otherwise the longest bar fills it.
    """
    if not rows:
        return f"<h3>{escape(title)}</h3><p class='empty'>{escape(empty)}</p>"
    top = scale_max or max((sum(value for _, value, _ in segments) for _, segments, _ in rows), default=0.0) or 1.0
    height = _BAR_HEIGHT * len(rows) + 10
    parts = [f"<h3>{escape(title)}</h3>", _svg_open(title, height)]
    for index, (label, segments, end) in enumerate(rows):
        y = index * _BAR_HEIGHT + 4
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_label(label)}</text>'
        )
        x = float(_LABEL_WIDTH)
        for name, value, colour in segments:
            width = _CHART_WIDTH * value / top
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BAR_HEIGHT - 6}" fill="{colour}">'
                    f"<title>{escape(name)}: {value:g}</title></rect>"
                )
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="12">{escape(end)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[tuple[str, str]]) -> str:
    """The keys of the series drawn; nothing at all when none was."""
    if not names:
        return ""
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{colour}"></span>{escape(name)}</span>'
        for name, colour in names
    )
    return f'<p class="legend">{items}</p>'


def _utc(ms: int | None, pattern: str = "%Y-%m-%d %H:%M UTC") -> str:
    return "unknown" if ms is None else time.strftime(pattern, time.gmtime(ms / 1000))


def _rate(row: FunctionStarts) -> str:
    if row.cold_rate is None:
        return "- (n = 0)"
    mark = " *" if row.low_sample else ""
    return f"{row.cold_rate * 100:.1f}% (n = {row.invocations}){mark}"


def _heat(rate: float) -> str:
    """White (0 %) to red (100 %)."""
    level = int(255 - 215 * max(0.0, min(1.0, rate)))
    return f"rgb(255,{level},{level})"


def _hourly(rows: list[FunctionStarts], since_ms: int | None, until_ms: int | None, title: str) -> str:
    """One strip per function, one cell per clock hour of the window, shaded by that hour's cold-start rate."""
    series = [row for row in rows if row.hourly]
    if not series:
        return f"<h3>{escape(title)}</h3><p class='empty'>No invocations in this window.</p>"
    hour = 3_600_000
    first = min(bucket.hour_ms for row in series for bucket in row.hourly)
    last = max(bucket.hour_ms for row in series for bucket in row.hourly)
    if since_ms is not None:
        first = min(first, since_ms - since_ms % hour)
    if until_ms is not None:
        last = max(last, until_ms - until_ms % hour)
    count = (last - first) // hour + 1
    cell = _CHART_WIDTH / count
    height = _BAR_HEIGHT * len(series) + 26
    parts = [f"<h3>{escape(title)}</h3>", _svg_open(title, height)]
    for index, row in enumerate(series):
        y = index * _BAR_HEIGHT + 4
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_label(row.function)}</text>'
        )
        parts.append(
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{_CHART_WIDTH}" height="{_BAR_HEIGHT - 6}" fill="#f4f4f4"/>'
        )
        for bucket in row.hourly:
            x = _LABEL_WIDTH + (bucket.hour_ms - first) // hour * cell
            rate = bucket.cold_rate or 0.0
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(cell, 1.0):.1f}" height="{_BAR_HEIGHT - 6}" '
                f'fill="{_heat(rate)}" stroke="#ccc" stroke-width="0.5">'
                f"<title>{escape(_utc(bucket.hour_ms))}: {bucket.cold} of {bucket.invocations} cold "
                f"({rate * 100:.0f}%, n = {bucket.invocations})</title></rect>"
            )
        parts.append(
            f'<text x="{_LABEL_WIDTH + _CHART_WIDTH + 6}" y="{y + 15}" font-size="12">{escape(_rate(row))}</text>'
        )
    axis_y = len(series) * _BAR_HEIGHT + 18
    parts.append(f'<text x="{_LABEL_WIDTH}" y="{axis_y}" font-size="11">{escape(_utc(first))}</text>')
    parts.append(
        f'<text x="{_LABEL_WIDTH + _CHART_WIDTH}" y="{axis_y}" font-size="11" text-anchor="end">'
        f"{escape(_utc(last + hour))}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _starts_section(rows: list[FunctionStarts], heading: str, report: FleetReport) -> str:
    if not rows:
        return f"<h2>{escape(heading)}</h2><p class='empty'>No invocations in this window.</p>"
    bars = [
        (
            row.function,
            [(kind, float(row.kinds.get(kind, 0)), _KIND_COLOURS[kind]) for kind in START_KINDS],
            f"{row.invocations + row.pings:g}",
        )
        for row in rows
    ]
    drawn = [(kind, _KIND_COLOURS[kind]) for kind in START_KINDS if any(row.kinds.get(kind, 0) for row in rows)]
    rated = [row for row in rows if row.cold_rate is not None]  # functions that only received pings have no rate
    rates = [
        (
            row.function,
            [("cold-start rate", round((row.cold_rate or 0.0) * 100, 1), _LOW if row.low_sample else "#d62728")],
            _rate(row),
        )
        for row in rated
    ]
    rate_keys = []
    if any(not row.low_sample for row in rated):
        rate_keys.append((f"n ≥ {report.context.min_sample} invocations", "#d62728"))
    if any(row.low_sample for row in rated):
        rate_keys.append((f"* n < {report.context.min_sample}: too few to trust", _LOW))
    context = report.context
    kind_headers = "".join(f"<th>{kind.replace('_', ' ')}</th>" for kind in START_KINDS)
    table_rows = "".join(
        f"<tr{' class=low' if row.low_sample else ''}>"
        f"<td>{escape(row.function)}</td><td>{row.invocations}</td><td>{row.pings}</td>"
        + "".join(f"<td>{row.kinds.get(kind, 0)}</td>" for kind in START_KINDS)
        + f"<td>{escape(_rate(row))}</td>"
        f"<td>{'-' if row.mean_init_ms is None else f'{row.mean_init_ms:.1f}'}</td></tr>"
        for row in rows
    )
    return (
        f"<h2>{escape(heading)}</h2>"
        + _stacked_bars(bars, "Invocations by start kind")
        + _legend(drawn)
        + _stacked_bars(rates, "Cold-start rate (cold + restore, pings excluded)", scale_max=100.0)
        + _legend(rate_keys)
        + _hourly(rows, context.since_ms, context.until_ms, "Cold-start rate per hour (UTC)")
        + ("<p class='legend'>Shade: 0 % (white) to 100 % (red) of that hour's invocations.</p>" if rated else "")
        + '<table class="starts"><colgroup><col class="name">'
        + "<col>" * (len(START_KINDS) + 4)
        + "</colgroup>"
        + f"<thead><tr><th>function</th><th>invo&shy;cations</th><th>pings</th>{kind_headers}"
        + "<th>cold rate</th><th>mean init ms</th></tr></thead>"
        + f"<tbody>{table_rows}</tbody></table>"
    )


def render_html(report: FleetReport, title: str = "thermostat report") -> str:
    """The whole page as a string."""
    context = report.context
    warm = [
        (
            row.target,
            [
                ("environments proven", row.last_environments or 0.0, "#1f77b4"),
                (
                    "planned but not proven",
                    max(0.0, (row.last_planned or row.last_sent or 0.0) - (row.last_environments or 0.0)),
                    "#bbbbbb",
                ),
            ],
            row.coverage,
        )
        for row in report.warm
    ]
    warm_keys = []
    if any(row.last_environments for row in report.warm):
        warm_keys.append(("environments proven", "#1f77b4"))
    if any(segments[1][1] > 0 for _, segments, _ in warm):
        warm_keys.append(("planned but not proven", "#bbbbbb"))
    hooks = [
        (
            row.target,
            [("Succeeded", float(row.succeeded), "#2ca02c"), ("Failed", float(row.failed), "#d62728")],
            f"{row.succeeded} ok, {row.failed} failed",
        )
        for row in report.hooks
    ]
    hook_keys = []
    if any(row.succeeded for row in report.hooks):
        hook_keys.append(("Succeeded", "#2ca02c"))
    if any(row.failed for row in report.hooks):
        hook_keys.append(("Failed", "#d62728"))
    low = any(row.low_sample for row in report.starts)
    note = (
        f"<p class='note'>* fewer than {context.min_sample} invocations: too few to trust the rate.</p>" if low else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
*, *::before, *::after {{ box-sizing: border-box; }}
body {{ font-family: system-ui, sans-serif; margin: 0 auto; padding: 12px 20px; max-width: 900px; color: #222; }}
main {{ max-width: {_WIDTH}px; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 18px; margin: 24px 0 4px; border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 14px; margin: 14px 0 4px; }}
svg {{ display: block; max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin: 10px 0; width: 100%; table-layout: fixed; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 4px; text-align: right; overflow-wrap: anywhere; }}
td:first-child, th:first-child {{ text-align: left; }}
col.name {{ width: 26%; }}
tr.low td {{ color: #8a5a00; }}
dl.meta {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; font-size: 13px; }}
dl.meta dt {{ color: #666; }} dl.meta dd {{ margin: 0; overflow-wrap: anywhere; }}
.legend .key {{ margin-right: 1rem; font-size: 12px; display: inline-block; }}
.legend {{ font-size: 12px; margin: 2px 0 8px; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
.empty, .note {{ color: #777; font-size: 13px; }}
</style></head><body><main>
<h1>{escape(title)}</h1>
<dl class="meta">
<dt>window</dt><dd>{escape(_utc(context.since_ms))} to {escape(_utc(context.until_ms))}</dd>
<dt>generated</dt><dd>{escape(_utc(context.generated_ms, "%Y-%m-%d %H:%M:%S UTC"))}</dd>
<dt>account</dt><dd>{escape(context.account or "unknown")}</dd>
<dt>region</dt><dd>{escape(context.region or "unknown")}</dd>
<dt>records</dt><dd>{report.records} telemetry records</dd>
</dl>
{_starts_section(report.user_starts, "Your functions", report)}
{_starts_section(report.own_starts, "thermostat's own functions", report)}
{note}
<h2>Keep-warm and hooks</h2>
{_stacked_bars(warm, "Warm coverage: environments proven of planned (last keep-warm round)")}
{_legend(warm_keys)}
{_stacked_bars(hooks, "Pre-traffic hook verdicts")}
{_legend(hook_keys)}
</main></body></html>
"""


# -- thermostat advise --html ----------------------------------------------------------------------


def _money(option: Any) -> str:
    from domain.costs import dollars

    return "-" if option is None else dollars(option.total)


def _profile_svg(per_hour: list[float], title: str) -> str:
    """24 vertical bars: real requests per hour of the day (UTC)."""
    height, base, bar = 90, 70, _WIDTH // 24
    top = max(per_hour, default=0.0) or 1.0
    bars = []
    for hour, value in enumerate(per_hour):
        tall = round(value / top * (base - 10))
        x = hour * bar
        bars.append(
            f'<rect x="{x + 2}" y="{base - tall}" width="{bar - 4}" height="{tall}" fill="#1f77b4">'
            f"<title>{hour:02d}:00 UTC: {value:.2f} requests/hour</title></rect>"
            f'<text x="{x + bar / 2}" y="{base + 14}" font-size="10" text-anchor="middle">{hour:02d}</text>'
        )
    return _svg_open(title, height) + "".join(bars) + "</svg>"


def advice_section(advices: list[TargetAdvice]) -> str:
    """The advice as an HTML fragment: one table, then per target its reason and traffic profile."""
    if not advices:
        return "<section id='advice'><h2>Advice</h2><p class='empty'>No targets to advise on.</p></section>"
    head = (
        "<tr><th>target</th><th>requests</th><th>cold rate</th><th>p95 init ms</th><th>keep-warm auto</th>"
        "<th>keep-warm fixed</th><th>provisioned (hours)</th><th>provisioned (always)</th><th>SnapStart</th>"
        "<th>advice</th></tr>"
    )
    body = "".join(
        "<tr>"
        f"<td>{escape(a.target)}</td><td>{a.requests}</td>"
        f"<td>{'-' if a.cold_rate is None else f'{a.cold_rate * 100:.1f}%'}</td>"
        f"<td>{'-' if a.p95_init_ms is None else f'{a.p95_init_ms:.0f}'}</td>"
        + "".join(
            f"<td>{escape(_money(a.costs[key]))}</td>"
            for key in (
                "keep_warm_auto",
                "keep_warm_fixed",
                "provisioned_scheduled",
                "provisioned_always_on",
                "snapstart",
            )
        )
        + f"<td>{escape(a.recommendation)}</td></tr>"
        for a in advices
    )
    details = "".join(
        f"<h3>{escape(a.target)}: {escape(a.recommendation)}</h3><p>{escape(a.reason)}</p>"
        f"<p class='note'>auto: {escape(a.auto_reason)}</p>"
        + "".join(f"<p class='note'>{escape(note)}</p>" for note in a.notes)
        + _profile_svg(a.requests_per_hour, f"{a.target}: real requests per hour of the day (UTC)")
        for a in advices
    )
    return (
        "<section id='advice'><h2>Advice: cold starts and what each remedy costs a month</h2>"
        f"<table><thead>{head}</thead><tbody>{body}</tbody></table>{details}</section>"
    )


def render_advice_html(advices: list[TargetAdvice], document: dict[str, Any]) -> str:
    """``thermostat advise --html``: a page with the advice section and where the prices came from."""
    prices = document["prices"]
    window = document["window"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>thermostat advise</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; padding: 12px 20px; max-width: 900px; color: #222; }}
h2 {{ font-size: 18px; border-bottom: 1px solid #ddd; }} h3 {{ font-size: 14px; margin: 14px 0 4px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 4px; text-align: right; overflow-wrap: anywhere; }}
td:first-child, th:first-child {{ text-align: left; }}
svg {{ display: block; max-width: 100%; height: auto; }} .empty, .note {{ color: #777; font-size: 13px; }}
</style></head><body><main>
<h1>thermostat advise</h1>
<p class="note">{escape(_utc(window["since_ms"]))} to {escape(_utc(window["until_ms"]))}; region
{escape(str(document["region"]))}; prices as of {escape(str(prices["as_of"]))} from {escape(str(prices["source"]))}
({escape(", ".join(prices["unconfirmed"]) or "nothing")} not confirmed);
months of {document["month_hours"]} h.</p>
{advice_section(advices)}
</main></body></html>
"""
