"""bench/fanout.py runs end to end in a tiny configuration (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.integration


def test_the_fanout_benchmark_measures_every_case(tmp_path: Path) -> None:
    tiny = {
        "sizes": [3],
        "repeats": 1,
        "latency_ms": 10.0,
        "hold_ms": 20,
        "serial_sizes": [3],
        "scale_targets": 6,
        "scale_pings": 2,
        "scale_cap": 4,
        "floor_calls": 10,
        "scale_hold_ms": 0,
        "burst_sizes": [4],
        "burst_repeats": 1,
        "baseline": None,  # the same tree with burst=False: no git archive in a test
    }
    done = run_bench("fanout", workdir=tmp_path, args=tiny)

    assert done.returncode == 0, done.stderr
    assert "left the environment changed" not in done.stderr  # the benchmark leaves it as it found it
    figures = done.figures["fanout"]
    case = figures["fan_out"]["cases"]["3"]
    assert case["ours_environments_worst"] == 3
    for key in ("endpoint_floor_x_ideal", "ours_x_ideal", "boto3_default_x_ideal", "boto3_sized_x_ideal"):
        assert case[key] > 0
    burst = figures["burst"]["cases"]
    for scheme in ("http", "https"):
        for code in ("after", "lazy"):
            assert burst[f"{scheme}/4/{code}"]["environments_worst"] == 4
            assert burst[f"{scheme}/4/{code}"]["spread_ms"] >= 0
    scale = figures["scale"]
    assert scale["with_lookups"]["pings"] == scale["pings_only"]["pings"] == 12
    assert scale["with_lookups"]["errors"] == 0
    assert scale["sdk_floor_cpu_ms"] > 0
    assert scale["peak_rss_mb"] > 0
    assert "endpoint floor" in done.stdout
    assert "x SDK floor" in done.stdout
