"""``concurrency: auto`` targets: bounds, defaults, and the messages a wrong one gets."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.targets import MAX_CONCURRENCY, make_target

pytestmark = pytest.mark.unit


def test_auto_gets_default_bounds_and_warms_at_min_before_any_round() -> None:
    target = make_target(function="orders", qualifier="live", concurrency="auto")
    assert target.auto
    assert (target.auto_min, target.auto_max) == (1, 10)
    assert target.bounds == (1, 10)
    assert target.planned_concurrency == 1
    record = target.to_record()
    assert (record["concurrency"], record["auto_min"], record["auto_max"], record["auto_n"]) == ("auto", 1, 10, None)


def test_auto_warms_at_the_last_n_chosen_within_the_bounds() -> None:
    target = make_target(function="orders", qualifier="live", concurrency="AUTO", auto_min=2, auto_max=6, auto_n=4)
    assert target.planned_concurrency == 4
    # A last N outside bounds changed since is brought back inside them
    assert (
        make_target(function="o", qualifier="live", concurrency="auto", auto_max=3, auto_n=9).planned_concurrency == 3
    )


def test_a_min_above_the_default_max_raises_the_max_with_it() -> None:
    target = make_target(function="orders", qualifier="live", concurrency="auto", auto_min=15)
    assert target.bounds == (15, 15)


def test_a_fixed_target_has_no_auto_fields_in_its_record() -> None:
    target = make_target(function="orders", qualifier="live", concurrency="3")
    assert (target.concurrency, target.auto, target.bounds) == (3, False, (3, 3))
    assert "auto_min" not in target.to_record()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"concurrency": 3, "auto_min": 2}, "auto_min (--min/--max) apply only to concurrency auto"),
        ({"auto_max": 5}, "auto_max (--min/--max) apply only to concurrency auto"),
        ({"concurrency": "auto", "auto_min": 5, "auto_max": 2}, "auto min 5 is above auto max 2: give --min <= --max"),
        ({"concurrency": "auto", "auto_min": 0}, f"auto min 0 is not valid: use 1 to {MAX_CONCURRENCY}"),
        ({"concurrency": "auto", "auto_max": MAX_CONCURRENCY + 1}, "auto max 1001 is not valid"),
        ({"concurrency": "lots"}, "concurrency 'lots' is neither a number of environments nor 'auto'"),
        ({"concurrency": 0}, "concurrency 0 is not valid: use 1 to 1000 environments, or 'auto'"),
        ({"concurrency": True}, "neither a number"),
    ],
)
def test_bad_auto_input_is_refused_with_what_to_do(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_target(function="orders", qualifier="live", **fields)
    assert message in str(caught.value)
    assert str(caught.value).startswith("target orders:live is not valid:")
