"""The fleet report, built from real telemetry lines."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.report import build_report
from handlers.cli._report_html import render_html
from handlers.cli.report import parse_duration
from infra.telemetry_source import parse_emf_line
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.unit


def runtime_line(function: str, kind: str, found: str | None = None, init_ms: float | None = None) -> dict[str, Any]:
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = function
    line = telemetry.line(
        kind=kind,
        found=found or kind,
        init_type="on-demand",
        init_ms=init_ms,
        environment_id="e",
        request_id="r",
        duration_ms=1.0,
    )
    document = parse_emf_line(line)
    assert document is not None
    return document


def emf(metrics: dict[str, float], timestamp: int, **fields: Any) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {"Namespace": "Thermostat", "Dimensions": [["service"]], "Metrics": [{"Name": n} for n in metrics]}
            ],
        },
        "service": "thermostat",
        **metrics,
        **fields,
    }


def test_cold_rate_excludes_pings_and_counts_restores() -> None:
    records = [
        runtime_line("orders", "cold", init_ms=120.0),
        runtime_line("orders", "warm"),
        runtime_line("orders", "warm"),
        runtime_line("orders", "warm_ping", found="warm"),
        runtime_line("orders", "restore", init_ms=None),
        runtime_line("billing", "provisioned"),
    ]
    report = build_report(records)
    orders = next(row for row in report.starts if row.function == "orders")
    assert orders.invocations == 4
    assert orders.pings == 1
    assert orders.cold_rate == pytest.approx(0.5)
    assert orders.mean_init_ms == pytest.approx(120.0)
    billing = next(row for row in report.starts if row.function == "billing")
    assert billing.cold_rate == 0.0


def test_warm_coverage_takes_the_last_round_and_hooks_are_counted() -> None:
    records = [
        emf({"WarmPings": 5, "WarmEnvironments": 3}, 1, function="orders", qualifier="live"),
        emf({"WarmPings": 5, "WarmEnvironments": 5, "WarmThrottles": 1}, 2, function="orders", qualifier="live"),
        emf({"HookVerdict": 1}, 3, function="orders", status="Succeeded"),
        emf({"HookVerdict": 1}, 4, function="orders", status="Failed", reason="invocation 2: probe not ok"),
    ]
    report = build_report(records)
    assert [(w.target, w.rounds, w.last_environments, w.throttles) for w in report.warm] == [
        ("orders:live", 2, 5.0, 1.0)
    ]
    hook = report.hooks[0]
    assert (hook.succeeded, hook.failed, hook.last_status) == (1, 1, "Failed")
    assert hook.last_reason == "invocation 2: probe not ok"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def test_html_is_self_contained_with_charts() -> None:
    report = build_report([runtime_line("orders", "cold", init_ms=50.0), runtime_line("orders", "warm")])
    page = render_html(report)
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("svg") >= 2
    assert parser.urls == []  # nothing fetched from the network
    assert "orders" in page
    assert "50.0%" in page


def test_empty_report_renders() -> None:
    report = build_report([])
    assert report.records == 0
    assert "No data." in render_html(report)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("2d", 172800), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6", "h", "-1h", "1y", "one hour"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected a number and a unit"):
        parse_duration(text)


def test_parse_emf_line_tolerates_prefixes_and_ignores_plain_logs() -> None:
    document = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "x": 1}
    assert parse_emf_line("2026-01-01T00:00:00Z\treq\t" + json.dumps(document)) == document
    assert parse_emf_line("START RequestId: abc") is None
    assert parse_emf_line('{"message": "plain"}') is None
    assert parse_emf_line("{broken") is None
