"""The ``REPORT`` fields that say how an environment started (one place: ``platform_log.start_fields``).

Formats from https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html: a restored
SnapStart environment's first ``REPORT`` has ``Restore Duration`` and ``Billed Restore Duration``
and no ``Init Duration``; a cold start has ``Init Duration``; a warm invocation neither.
"""

from __future__ import annotations

import pytest

from emulator.platform_log import start_fields

pytestmark = pytest.mark.unit


def test_a_cold_start_reports_its_init_duration() -> None:
    assert start_fields(123.456, None, None) == "\tInit Duration: 123.46 ms"


def test_a_restore_reports_restore_and_billed_restore_durations_and_no_init_duration() -> None:
    assert start_fields(None, 215.071, 0.4) == "\tRestore Duration: 215.07 ms\tBilled Restore Duration: 1 ms"


def test_billed_restore_duration_is_rounded_up_to_whole_milliseconds() -> None:
    assert start_fields(None, 30.0, 12.0).endswith("Billed Restore Duration: 12 ms")
    assert start_fields(None, 30.0, 12.001).endswith("Billed Restore Duration: 13 ms")
    assert start_fields(None, 30.0, None).endswith("Billed Restore Duration: 0 ms")


def test_a_warm_invocation_reports_neither() -> None:
    assert start_fields(None, None, None) == ""
