"""Progress for long work: one line per step on stderr, nothing with ``--json`` (stdout stays the document)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def progress(args: argparse.Namespace, message: str) -> None:
    """Say what is happening now on stderr, unless ``--json`` (or ``--quiet``) asked for quiet."""
    if getattr(args, "json", False) or getattr(args, "quiet", False):
        return
    sys.stderr.write(f"thermostat: {message}\n")
    sys.stderr.flush()


def record(args: argparse.Namespace, documents: list[dict[str, Any]], what: str) -> None:
    """Put a round's EMF documents in CloudWatch Logs (``/thermostat/cli``), as a scheduled function's go to its own.

    Skipped with ``--no-telemetry``. A failure to record is said on stderr and does not change
    the exit code: the round itself happened and its report was printed.
    """
    if getattr(args, "no_telemetry", False) or not documents:
        return
    from domain.errors import ThermostatError
    from infra.telemetry_sink import CloudWatchLogsTelemetrySink

    sink = CloudWatchLogsTelemetrySink()
    try:
        written = sink.write(documents)
    except ThermostatError as exc:
        sys.stderr.write(f"thermostat: warning: {what} not recorded for `thermostat report`: {exc}\n")
        return
    progress(args, f"{what} recorded in log group {sink.group} ({written} telemetry documents)")
