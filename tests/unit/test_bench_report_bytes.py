"""The report-bytes benchmark runs end to end in a tiny configuration (no figures asserted but its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.unit


def test_report_bytes_reads_the_same_documents_both_ways_and_fewer_bytes_filtered(tmp_path: Path) -> None:
    # Given the benchmark on 400 lines, one in twenty thermostat's
    done = run_bench("report_bytes", workdir=tmp_path, args={"lines": 400, "share": 0.05, "platform_lines": 400})

    # Then it ran, both reads found the same 20 thermostat documents, and the filtered one received fewer bytes
    assert done.returncode == 0, done.stderr
    figures = done.figures["report_bytes"]
    assert (figures["telemetry_lines"], figures["after_events"], figures["before_events"]) == (20, 20, 400)
    assert figures["same_documents"] is True
    assert 0 < figures["after_bytes"] < figures["before_bytes"]
    # And the fleet section's read: 200 lines per group, 40 text and 50 JSON invocations (with 50 platform.start)
    assert (figures["platform_before_events"], figures["platform_after_events"]) == (400, 140)
    assert figures["platform_records"] == 90
    assert figures["platform_same_records"] is True
    assert 0 < figures["platform_after_bytes"] < figures["platform_before_bytes"]
