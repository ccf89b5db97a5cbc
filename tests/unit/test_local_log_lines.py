"""`thermostat local logs` / `invoke`: how a log line is shown (telemetry as key=value, the rest as is)."""

from __future__ import annotations

import json

import pytest

from handlers.cli._local_tools import render_log_line
from thermostat_runtime.telemetry import Telemetry

pytestmark = pytest.mark.unit


def _telemetry_line(**overrides: object) -> str:
    """A line exactly as the runtime module writes it (its own formatter, not a copy)."""
    lines: list[str] = []
    telemetry = Telemetry(sink=lines.append)
    arguments: dict[str, object] = {
        "kind": "cold",
        "found": "cold",
        "init_type": "on-demand",
        "init_ms": 143.25,
        "environment_id": "0cf3330831f3e381",
        "request_id": "req-1",
        "duration_ms": 1.5,
    }
    arguments.update(overrides)
    return telemetry.line(**arguments)  # type: ignore[arg-type]


def test_a_telemetry_line_is_shown_as_key_value_pairs() -> None:
    line = _telemetry_line()
    assert json.loads(line)["_aws"]  # really an EMF document
    shown = render_log_line(line)
    assert shown.startswith("[telemetry] start_kind=cold found_state=cold init_ms=143.2")
    assert "environment_id=0cf3330831f3e381" in shown
    assert "(ColdStart)" in shown
    assert "{" not in shown


def test_an_error_in_a_telemetry_line_is_shown() -> None:
    shown = render_log_line(_telemetry_line(error="RuntimeError: boom"))
    assert "error=RuntimeError: boom" in shown


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 1 Version: $LATEST",
        '{"level": "INFO", "message": "a Powertools line, not EMF"}',
        "{not json",
        "[1, 2]",
    ],
)
def test_other_lines_are_shown_as_they_are(line: str) -> None:
    assert render_log_line(line + "\n") == line
