"""bench/fanout.py runs end to end in a tiny configuration (no timing is asserted)."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def test_the_fanout_benchmark_measures_every_case(capsys) -> None:
    from bench import fanout

    before = dict(os.environ)
    figures = fanout.main(
        sizes=(3,),
        repeats=1,
        latency_ms=10.0,
        hold_ms=20,
        serial_sizes=(3,),
        scale_targets=6,
        scale_pings=2,
        scale_cap=4,
        floor_calls=10,
        scale_hold_ms=0,
    )
    assert dict(os.environ) == before  # the benchmark leaves the environment as it found it
    case = figures["fan_out"]["cases"][3]
    assert case["ours_environments_worst"] == 3
    for key in ("endpoint_floor_x_ideal", "ours_x_ideal", "boto3_default_x_ideal", "boto3_sized_x_ideal"):
        assert case[key] > 0
    scale = figures["scale"]
    assert scale["with_lookups"]["pings"] == scale["pings_only"]["pings"] == 12
    assert scale["with_lookups"]["errors"] == 0
    assert scale["sdk_floor_cpu_ms"] > 0
    assert scale["peak_rss_mb"] > 0
    printed = capsys.readouterr().out
    assert "endpoint floor" in printed
    assert "x SDK floor" in printed
