"""bench/keep_warm_shards.py runs end to end in a tiny configuration (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.integration


def test_the_shards_benchmark_plans_and_runs_both_ways(tmp_path: Path) -> None:
    done = run_bench("keep_warm_shards", workdir=tmp_path, args={"sizes": [450], "round_sizes": [450], "workers": 2})

    assert done.returncode == 0, done.stderr
    assert "left the environment changed" not in done.stderr
    figures = done.figures["keep_warm_shards"]
    # 450 targets: three shards of at most 200 targets (1,000 pings), planned and run
    assert figures["planner"]["450"]["shards"] == 3
    rounds = figures["rounds"]["450"]
    assert (rounds["one"]["pings"], rounds["one"]["errors"]) == (2250, 0)
    assert (rounds["sharded"]["shards"], rounds["sharded"]["pings"], rounds["sharded"]["errors"]) == (3, 2250, 0)
    assert rounds["sharded"]["slowest_shard_s"] > 0
