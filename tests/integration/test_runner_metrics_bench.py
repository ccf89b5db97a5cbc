"""``python -m bench runner_metrics`` in a tiny configuration: it runs, measures both cases, counts every invocation.

No timing is asserted (the machines are shared and noisy).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.integration


def test_the_metrics_bench_measures_both_cases_and_counts_every_invocation(tmp_path: Path) -> None:
    # When the benchmark runs with 3 interleaved invocations per runner (and one warm-up each)
    done = run_bench("runner_metrics", workdir=tmp_path, args={"repeats": 3, "record_calls": 100})

    # Then it exits cleanly with the table and every figure
    assert done.returncode == 0, done.stderr
    figures = done.figures["runner_metrics"]
    for name in ("warm_invoke_counting_ms", "warm_invoke_plain_ms", "ratio", "record_us"):
        assert math.isfinite(figures[name])
        assert figures[name] > 0
    assert "begin + end of one alias invocation" in done.stdout
    # And the counting runner counted each of its invocations once (3 measured + 1 warm-up)
    assert figures["invocations_counted"] == 4
