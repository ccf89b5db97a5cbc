"""The fleet report, built from real telemetry lines."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.report import HOUR_MS, ReportContext, build_report
from handlers.cli._args import parse_duration
from handlers.cli._report_html import render_html
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


def test_empty_report_renders_without_legends() -> None:
    report = build_report([])
    assert report.records == 0
    page = render_html(report)
    assert "No data in this window." in page
    assert "No invocations in this window." in page
    assert 'class="legend"' not in page  # no legend where there is no data
    assert 'class="swatch"' not in page


def _at(record: dict[str, Any], stamp_ms: int) -> dict[str, Any]:
    record["_aws"]["Timestamp"] = stamp_ms
    return record


def test_every_rate_has_its_sample_size_and_small_samples_are_marked() -> None:
    context = ReportContext(min_sample=3)
    report = build_report(
        [
            *(runtime_line("big", kind) for kind in ("cold", "warm", "warm")),
            runtime_line("small", "cold"),
            runtime_line("pinged", "warm_ping", found="warm"),
        ],
        context,
    )
    rows = {row.function: row for row in report.starts}
    assert (rows["big"].invocations, rows["big"].low_sample) == (3, False)
    assert (rows["small"].invocations, rows["small"].low_sample) == (1, True)
    assert rows["pinged"].low_sample is False  # no rate at all: nothing to mark
    page = render_html(report)
    assert "33.3% (n = 3)<" in page
    assert "100.0% (n = 1) *" in page
    assert "fewer than 3 invocations: too few to trust the rate" in page
    from handlers.cli.report import rate_text

    assert rate_text(rows["small"]) == "100.0% (n=1)*"
    assert rate_text(rows["big"]) == "33.3% (n=3)"


def test_cold_start_rate_per_hour_and_per_function() -> None:
    hour = HOUR_MS
    base = 1_700_000_000_000 - 1_700_000_000_000 % hour
    records = [
        _at(runtime_line("api", "cold"), base + 10),
        _at(runtime_line("api", "warm"), base + 20),
        _at(runtime_line("api", "warm_ping", found="warm"), base + 30),  # pings are not invocations
        _at(runtime_line("api", "warm"), base + 2 * hour + 5),
        _at(runtime_line("api", "restore"), base + 2 * hour + 6),
    ]
    (row,) = build_report(records).starts
    assert [(b.hour_ms - base, b.invocations, b.cold, b.cold_rate) for b in row.hourly] == [
        (0, 2, 1, 0.5),
        (2 * hour, 2, 1, 0.5),
    ]
    page = render_html(build_report(records, ReportContext(since_ms=base, until_ms=base + 3 * hour)))
    assert "Cold-start rate per hour (UTC)" in page
    assert page.count("of 2 cold") == 2


def test_thermostats_own_functions_are_apart_from_the_users() -> None:
    own = runtime_line("KeepWarmFunction", "cold")
    own["service"] = "thermostat"
    report = build_report([own, runtime_line("orders", "cold")])
    assert [row.function for row in report.user_starts] == ["orders"]
    assert [row.function for row in report.own_starts] == ["KeepWarmFunction"]
    page = render_html(report)
    assert page.index("Your functions") < page.index("orders") < page.index("thermostat&#x27;s own functions")
    assert page.index("thermostat&#x27;s own functions") < page.index("KeepWarmFunction")


def test_warm_coverage_is_proven_of_planned_and_the_context_is_shown() -> None:
    record = emf({"WarmPings": 2, "WarmEnvironments": 2}, 1_000, function="api", qualifier="live", planned=2)
    unknown = emf({"WarmPings": 3}, 1_000, function="legacy", qualifier="live", planned=3)
    context = ReportContext(
        since_ms=0, until_ms=3_600_000, generated_ms=3_600_500, account="123456789012", region="eu-west-1"
    )
    report = build_report([record, unknown], context)
    assert {row.target: row.coverage for row in report.warm} == {"api:live": "2 of 2", "legacy:live": "unknown of 3"}
    assert report.model_dump(mode="json")["warm"][0]["coverage"] == "2 of 2"
    page = render_html(report)
    for text in (
        "1970-01-01 00:00 UTC",
        "1970-01-01 01:00 UTC",
        "1970-01-01 01:00:00 UTC",
        "123456789012",
        "eu-west-1",
    ):
        assert text in page
    assert "2 of 2" in page


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
