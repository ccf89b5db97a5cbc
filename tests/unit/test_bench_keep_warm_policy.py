"""``bench/keep_warm_policy.py`` in a tiny configuration: it runs as ``python -m bench``, compares the
four policies, and is deterministic (the same seed gives the same figures, another seed others).

No figure is asserted beyond what the model guarantees: no warming sends no pings and costs
nothing, fixed-peak sends peak N pings every round, and every policy replays the same requests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.unit

TINY = {"weeks": 2, "day_rps": 0.3, "batch": 6, "random_size": 4}
POLICIES = {"no warming", "fixed N = peak", "fixed N = median", "auto"}


def test_policies_compared_on_the_same_requests_deterministically(tmp_path: Path) -> None:
    for name in "abc":
        (tmp_path / name).mkdir()
    first = run_bench("keep_warm_policy", workdir=tmp_path / "a", args={**TINY, "seed": 3})
    again = run_bench("keep_warm_policy", workdir=tmp_path / "b", args={**TINY, "seed": 3})
    other = run_bench("keep_warm_policy", workdir=tmp_path / "c", args={**TINY, "seed": 4})
    assert first.returncode == 0, first.stderr
    figures = first.figures["keep_warm_policy"]
    policies = figures["policies"]
    assert set(policies) == POLICIES
    assert len({row["real"] for row in policies.values()}) == 1
    assert policies["no warming"]["pings"] == 0
    assert policies["no warming"]["dollars_month"] == 0
    assert policies["fixed N = peak"]["pings"] == figures["peak_n"] * 7 * 24 * 12
    assert policies["fixed N = peak"]["cold"] <= policies["no warming"]["cold"]
    assert "cost x peak" in first.stdout
    assert "goal: auto cold <= fixed-peak cold:" in first.stdout
    assert again.figures == first.figures
    assert other.figures != first.figures
