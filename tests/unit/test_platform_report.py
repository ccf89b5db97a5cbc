"""Platform records in both log formats, parsed and aggregated into the fleet's cold-start report.

Fixtures are AWS's own documented examples:

- text ``REPORT`` with ``Init Duration``: "Log and monitor Python Lambda functions",
  https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html (example log output; the page
  renders Lambda's tabs as spaces, which the parser must accept too);
- ``Restore Duration`` / ``Billed Restore Duration`` on a restored environment's ``REPORT`` and
  ``Init Duration`` moving to ``INIT_REPORT``: "Monitoring for Lambda SnapStart",
  https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html (fields named there; the
  page gives no whole line, so the line is built from those fields in the python-logging layout);
- JSON records: "Lambda Telemetry API Event schema reference",
  https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html — the examples of
  ``platform.initStart``, ``platform.initReport``, ``platform.restoreReport`` and ``platform.report``
  (the documented ``platform.report`` example has a trailing comma after ``requestId``, which is
  not JSON; it is removed here, nothing else changed), with the ``Status`` values
  ``success | failure | error | timeout`` and ``errorType`` of the same page for errors and timeouts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.platform_report import (
    NOT_DISTINGUISHABLE,
    TargetRounds,
    build_platform_report,
    parse_platform_message,
    percentile,
    version_from_stream,
)
from infra.telemetry_source import parse_emf_line
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.unit

#: python-logging.html, "Example log output" (spaces as the page shows them).
DOC_TEXT_REPORT = (
    "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95  Duration: 15.74 ms  Billed Duration: 16 ms "
    "Memory Size: 128 MB Max Memory Used: 56 MB  Init Duration: 130.49 ms\n"
    "XRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1   SegmentId: 07f5xmpl2d1f6f85 Sampled: true"
)
#: snapstart-monitoring.html: a restored environment's REPORT has Restore Duration and Billed Restore Duration.
DOC_TEXT_RESTORE = (
    "REPORT RequestId: 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa\tDuration: 20.02 ms\tBilled Duration: 21 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 60 MB\tRestore Duration: 474.16 ms\tBilled Restore Duration: 213 ms"
)
DOC_INIT_START = """{
"time": "2022-10-12T00:00:15.064Z",
"type": "platform.initStart",
"record": {
"initializationType": "on-demand",
"phase": "init",
"runtimeVersion": "nodejs-14.v3",
"runtimeVersionArn": "arn",
"functionName": "myFunction",
"functionVersion": "$LATEST",
"instanceId": "82561ce0-53dd-47d1-90e0-c8f5e063e62e",
"instanceMaxMemory": 256
}
}"""
DOC_INIT_REPORT = """{
"time": "2022-10-12T00:01:15.000Z",
"type": "platform.initReport",
"record": {
"initializationType": "on-demand",
"status": "success",
"phase": "init",
"metrics": {
"durationMs": 125.33
},
"spans": [
{
"name": "someTimeSpan",
"start": "2022-06-02T12:02:33.913Z",
"durationMs": 90.1
}
]
}
}"""
DOC_RESTORE_REPORT = """{
"time": "2022-10-12T00:00:15.064Z",
"type": "platform.restoreReport",
"record": {
"status": "success",
"metrics": {
"durationMs": 15.19
},
"spans": [
{
"name": "someTimeSpan",
"start": "2022-08-02T12:01:23:521Z",
"durationMs": 30.0
}
]
}
}"""
DOC_REPORT = """{
"time": "2022-10-12T00:01:15.000Z",
"type": "platform.report",
"record": {
"metrics": {
"billedDurationMs": 694,
"durationMs": 693.92,
"initDurationMs": 397.68,
"maxMemoryUsedMB": 84,
"memorySizeMB": 128
},
"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"
}
}"""


def json_record(kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": "2022-10-12T00:01:15.000Z", "type": kind, "record": record}, separators=(",", ":"))


def text_report(request_id: str, init_ms: float | None = None, status: str = "") -> str:
    cold = f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""
    return (
        f"REPORT RequestId: {request_id}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
        f"\tMax Memory Used: 40 MB{cold}{status}"
    )


def own_line(function: str, request_id: str, kind: str, init_ms: float | None = None) -> dict[str, Any]:
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = function
    line = telemetry.line(
        kind=kind,
        found="cold" if kind == "warm_ping" and init_ms else kind,
        init_type="on-demand",
        init_ms=init_ms,
        environment_id="e",
        request_id=request_id,
        duration_ms=1.0,
    )
    document = parse_emf_line(line)
    assert document is not None
    return document


def test_the_documented_text_report_gives_its_request_duration_and_init_duration() -> None:
    record = parse_platform_message(DOC_TEXT_REPORT, "my-function", stream="2020/01/31/[$LATEST]3893xmpl7fac4485")
    assert record is not None
    assert (record.kind, record.log_format, record.version) == ("report", "text", "$LATEST")
    assert record.request_id == "8f507cfc-xmpl-4697-b07a-ac58fc914c95"
    assert (record.duration_ms, record.init_ms, record.restore_ms) == (15.74, 130.49, None)


def test_a_restored_environment_reports_restore_duration_not_billed_restore_duration() -> None:
    record = parse_platform_message(DOC_TEXT_RESTORE, "snappy", stream="2026/12/02/[3]abc")
    assert record is not None
    assert (record.init_ms, record.restore_ms, record.duration_ms, record.version) == (None, 474.16, 20.02, "3")


def test_every_documented_json_record_is_read() -> None:
    start = parse_platform_message(DOC_INIT_START, "myFunction")
    init = parse_platform_message(DOC_INIT_REPORT, "myFunction")
    restore = parse_platform_message(DOC_RESTORE_REPORT, "myFunction")
    report = parse_platform_message(DOC_REPORT, "myFunction")
    assert start is not None
    assert init is not None
    assert restore is not None
    assert report is not None
    assert (start.kind, start.init_type, start.phase, start.version) == ("init_start", "on-demand", "init", "$LATEST")
    assert (init.kind, init.init_ms, init.status) == ("init_report", 125.33, "success")
    assert (restore.kind, restore.restore_ms, restore.status) == ("restore_report", 15.19, "success")
    assert (report.kind, report.request_id, report.init_ms, report.duration_ms) == (
        "report",
        "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
        397.68,
        693.92,
    )
    assert {r.log_format for r in (start, init, restore, report)} == {"json"}


def test_init_errors_and_timeouts_keep_their_status_in_both_formats() -> None:
    # Given an init that failed and an invocation that timed out, in each format
    text_init = parse_platform_message(
        "INIT_REPORT Init Duration: 150.79 ms\tPhase: init\tStatus: error\tError Type: Runtime.Unknown", "f"
    )
    text_timeout = parse_platform_message(text_report("r1", status="\tStatus: timeout"), "f")
    json_init = parse_platform_message(
        json_record(
            "platform.initReport",
            {
                "initializationType": "on-demand",
                "phase": "init",
                "status": "error",
                "errorType": "Runtime.Unknown",
                "metrics": {"durationMs": 150.79},
            },
        ),
        "f",
    )
    json_timeout = parse_platform_message(
        json_record("platform.report", {"requestId": "r2", "status": "timeout", "metrics": {"durationMs": 3000.0}}),
        "f",
    )
    # Then each says what happened
    assert text_init is not None
    assert json_init is not None
    assert (text_init.kind, text_init.status, text_init.error_type, text_init.phase) == (
        "init_report",
        "error",
        "Runtime.Unknown",
        "init",
    )
    assert (json_init.status, json_init.error_type, json_init.init_ms) == ("error", "Runtime.Unknown", 150.79)
    assert text_timeout is not None
    assert text_timeout.status == "timeout"
    assert json_timeout is not None
    assert (json_timeout.status, json_timeout.init_ms) == ("timeout", None)

    # And the report counts them
    report = build_platform_report([text_init, text_timeout, json_init, json_timeout])
    [row] = report.functions
    assert (row.init_errors, row.timeouts, row.invocations, row.formats) == (2, 2, 2, ["json", "text"])


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: r Version: $LATEST",
        "END RequestId: r",
        "the REPORT is ready",  # the text pattern matches it on AWS's side; it is not a record
        '{"level": "INFO", "message": "platform.report is a nice name"}',
        '{"time": "x", "type": "platform.start", "record": {"requestId": "r"}}',  # not one we count
        '{"type": "platform.report", "record": "a string"}',
        "{not json",
        "",
    ],
)
def test_lines_that_are_not_platform_records_are_ignored(line: str) -> None:
    assert parse_platform_message(line, "f") is None


def test_the_version_comes_from_the_stream_name() -> None:
    assert version_from_stream("2026/12/02/[$LATEST]0a1b") == "$LATEST"
    assert version_from_stream("2026/12/02/[17]0a1b") == "17"
    assert version_from_stream("local") is None
    assert version_from_stream(None) is None


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_both_formats_of_one_function_land_in_one_row_per_version() -> None:
    # Given a function mid-migration: version 1 in text, version 2 in JSON, 10 invocations each, 3 and 1 cold
    records = []
    for i in range(10):
        line = text_report(f"t{i}", init_ms=100.0 + i if i < 3 else None)
        records.append(parse_platform_message(line, "orders", stream="2026/12/02/[1]a"))
        metrics: dict[str, Any] = {"durationMs": 2.0}
        if i == 0:
            metrics["initDurationMs"] = 300.0
        records.append(
            parse_platform_message(
                json_record("platform.report", {"requestId": f"j{i}", "metrics": metrics, "status": "success"}),
                "orders",
                stream="2026/12/02/[2]b",
            )
        )
    # When aggregated
    report = build_platform_report([r for r in records if r is not None])
    # Then one row per version, each with its own counts and durations
    one, two = report.functions
    assert (one.function, one.formats, one.invocations, one.cold_starts) == ("orders:1", ["text"], 10, 3)
    assert (one.init_ms.p50, one.init_ms.max, one.init_ms.n) == (101.0, 102.0, 3)
    assert (two.function, two.formats, two.invocations, two.cold_starts) == ("orders:2", ["json"], 10, 1)
    # Without the runtime module, pings cannot be told apart: no rate is claimed
    assert one.cold_rate is None
    assert one.pings is None
    assert one.note == NOT_DISTINGUISHABLE
    assert one.platform_cold_rate == pytest.approx(0.3)


def test_the_runtime_modules_lines_take_pings_out_and_give_start_kinds() -> None:
    # Given 6 invocations of a layered function: a cold ping, 2 warm pings, a cold request, 2 warm requests
    plan = [
        ("p0", "warm_ping", 200.0, 150.0),
        ("p1", "warm_ping", None, None),
        ("p2", "warm_ping", None, None),
        ("r0", "cold", 180.0, 120.0),
        ("r1", "warm", None, None),
        ("r2", "warm", None, None),
    ]
    records = [
        parse_platform_message(text_report(rid, init_ms=platform_init), "api") for rid, _, platform_init, _ in plan
    ]
    own = [own_line("api", rid, kind, init_ms=mine) for rid, kind, _, mine in plan]
    # When joined by request id
    report = build_platform_report([r for r in records if r is not None], own)
    [row] = report.functions
    # Then pings leave the rate: 1 cold of 3 real requests (the platform alone would say 2 of 6)
    assert (row.layer, row.invocations, row.pings, row.requests, row.cold_starts) == (True, 6, 3, 3, 1)
    assert row.cold_rate == pytest.approx(1 / 3)
    assert row.platform_cold_rate == pytest.approx(2 / 6)
    assert row.kinds == {"cold": 1, "warm": 2, "warm_ping": 3}
    # And the in-process init sits beside the platform's; their difference is the runtime's own start-up
    assert row.in_process_init_ms == pytest.approx(135.0)
    assert row.runtime_startup_ms == pytest.approx(55.0)
    assert row.note is None


def test_provisioned_starts_are_not_cold_and_come_from_thermostat_or_init_start() -> None:
    # Given a provisioned environment's first invocation (no Init Duration on the REPORT, as Lambda writes it)
    records = [
        parse_platform_message(
            json_record(
                "platform.initStart",
                {"initializationType": "provisioned-concurrency", "phase": "init", "functionVersion": "4"},
            ),
            "pc",
        ),
        parse_platform_message(
            json_record("platform.report", {"requestId": "x", "metrics": {"durationMs": 1.0}}),
            "pc",
            stream="2026/12/02/[4]z",
        ),
    ]
    telemetry = [own_line("pc", "x", "provisioned")]
    report = build_platform_report([r for r in records if r is not None], telemetry)
    [row] = report.functions
    assert (row.function, row.provisioned_inits, row.kinds, row.cold_starts, row.cold_rate) == (
        "pc:4",
        1,
        {"provisioned": 1},
        0,
        0.0,
    )


def test_keep_warm_effect_compares_real_cold_starts_before_and_after_the_first_round() -> None:
    # Given a layered target with 4 real requests before its first round (2 cold) and 4 after (none cold)
    # plus pings after the first round (never counted) and another function's cold starts
    records, own = [], []
    for i in range(8):
        at = 1_000 + i * 1_000
        cold = i in (0, 2)
        records.append(parse_platform_message(text_report(f"r{i}", 90.0 if cold else None), "api", timestamp_ms=at))
        own.append(own_line("api", f"r{i}", "cold" if cold else "warm", 60.0 if cold else None))
    for i in range(3):
        records.append(parse_platform_message(text_report(f"p{i}", 90.0), "api", timestamp_ms=6_000 + i))
        own.append(own_line("api", f"p{i}", "warm_ping", 60.0))
    records.append(parse_platform_message(text_report("o", 90.0), "other", timestamp_ms=7_000))
    targets = [
        TargetRounds(function="api", qualifier="live", first_round_ms=5_000, last_round_ms=8_000, rounds=4),
        TargetRounds(function="other", qualifier="live"),
    ]
    # When the effect is measured
    report = build_platform_report([r for r in records if r is not None], own, targets)
    api, other = report.warm_effect
    # Then before: 2 of 4 cold; after: 0 of 4
    assert (api.before_cold, api.before_requests, api.after_cold, api.after_requests) == (2, 4, 0, 4)
    assert (api.before_rate, api.after_rate, api.rounds, api.note) == (0.5, 0.0, 4, None)
    # And a target never warmed, without the layer, says why its figures are weak
    assert (other.after_requests, other.before_requests) == (0, 1)
    assert other.note is not None
    assert NOT_DISTINGUISHABLE in other.note


def test_a_version_qualifier_counts_only_that_version() -> None:
    records = [
        parse_platform_message(text_report("a", 50.0), "api", stream="2026/12/02/[3]x", timestamp_ms=10),
        parse_platform_message(text_report("b", 50.0), "api", stream="2026/12/02/[4]x", timestamp_ms=10),
    ]
    targets = [TargetRounds(function="arn:aws:lambda:us-east-1:123456789012:function:api", qualifier="4")]
    [effect] = build_platform_report([r for r in records if r is not None], (), targets).warm_effect
    assert (effect.before_requests, effect.before_cold) == (1, 1)


def test_the_page_gets_the_fleet_section_before_its_end() -> None:
    from domain.report import build_report
    from handlers.cli._report_fleet import fleet_rows, with_fleet
    from handlers.cli._report_html import render_html

    # Given a fleet of one function without the layer, and the rest of the report empty
    record = parse_platform_message(text_report("a", 120.0), "orders")
    assert record is not None
    fleet = build_platform_report([record], notes=["THERMOSTAT_TABLE is not set"])

    # When the page is rendered with the section
    page = with_fleet(render_html(build_report([])), fleet)

    # Then the section sits inside the body, with the row and the note, and the table row says why no rate
    assert page.index("<section id='fleet'>") < page.rindex("</body>")
    assert "<td>orders</td>" in page
    assert "THERMOSTAT_TABLE is not set" in page
    [row] = fleet_rows(fleet)
    assert (row["cold_rate"], row["pings"], row["init_p50/p95/max"]) == (NOT_DISTINGUISHABLE, "?", "120/120/120")
