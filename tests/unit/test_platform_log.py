"""The local runner's platform records read back as Lambda's: the same parser, both formats, every start kind."""

from __future__ import annotations

import json

import pytest

from domain.platform_report import parse_platform_message
from emulator.platform_log import end_records, start_records

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_cold_start_reads_back_with_its_init_duration(log_format: str) -> None:
    lines = start_records(
        log_format, function="f", version="3", request_id="r", start_kind="cold", init_type="on-demand", init_ms=81.5
    )
    lines += end_records(log_format, request_id="r", duration_ms=2.5, memory_mb=128, max_memory_mb=40, init_ms=81.5)
    records = [r for r in (parse_platform_message(line, "f", stream="2026/12/02/[3]e") for line in lines) if r]
    [report] = [r for r in records if r.kind == "report"]
    assert (report.request_id, report.init_ms, report.duration_ms, report.version) == ("r", 81.5, 2.5, "3")
    if log_format == "JSON":
        assert all(json.loads(line)["type"].startswith("platform.") for line in lines)
        [start] = [r for r in records if r.kind == "init_start"]
        assert (start.init_type, start.version) == ("on-demand", "3")
    else:
        assert lines[0] == "START RequestId: r Version: 3"
        assert lines[-2] == "END RequestId: r"


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_restore_reads_back_with_its_restore_duration_and_no_init(log_format: str) -> None:
    lines = start_records(
        log_format,
        function="f",
        version="2",
        request_id="r",
        start_kind="restore",
        init_type="snap-start",
        restore_ms=12.0,
    )
    lines += end_records(log_format, request_id="r", duration_ms=1.0, memory_mb=128, restore_ms=12.0)
    [report] = [r for r in (parse_platform_message(line, "f") for line in lines) if r and r.kind == "report"]
    assert (report.restore_ms, report.init_ms) == (12.0, None)


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_timeouts_and_failed_inits_keep_their_status(log_format: str) -> None:
    timeout = end_records(log_format, request_id="t", duration_ms=1000.0, memory_mb=128, status="timeout")
    failed = start_records(
        log_format,
        function="f",
        version="1",
        request_id="i",
        start_kind="cold",
        init_type="on-demand",
        init_ms=5.0,
        init_error="Runtime.ImportModuleError",
    )
    [timed_out] = [r for r in (parse_platform_message(line, "f") for line in timeout) if r]
    [init] = [r for r in (parse_platform_message(line, "f") for line in failed) if r and r.kind == "init_report"]
    assert timed_out.status == "timeout"
    assert (init.status, init.error_type) == ("error", "Runtime.ImportModuleError")


def test_a_warm_invocation_has_no_start_records_but_start() -> None:
    lines = start_records("JSON", function="f", version="1", request_id="w", start_kind="warm", init_type="on-demand")
    assert [json.loads(line)["type"] for line in lines] == ["platform.start"]
