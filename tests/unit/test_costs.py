"""The cost model against figures computed by hand here from the shipped price table.

Each expected figure is written out as the arithmetic a reader would do with the pricing page
open: 730 hours a month, GB = MB / 1024, prices read from the table (not from domain/costs.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain import costs
from domain.errors import InvalidInput
from infra.prices import load_price_table, shipped_price_table

pytestmark = pytest.mark.unit

TABLE = json.loads((Path(__file__).parents[2] / "domain" / "prices" / "lambda-prices.json").read_text())
X86 = TABLE["regions"]["us-east-1"]["x86_64"]
ARM = TABLE["regions"]["us-east-1"]["arm64"]
MONTH_S = 730 * 3600


@pytest.fixture
def table() -> costs.PriceTable:
    return shipped_price_table()


def test_shipped_table_is_dated_and_sourced(table: costs.PriceTable) -> None:
    assert table.source == "https://aws.amazon.com/lambda/pricing/"
    assert str(table.as_of) == TABLE["as_of"]
    assert table.unconfirmed  # the file says what could not be confirmed
    assert table.prices("us-east-1", "x86_64").duration_gb_s == X86["duration_gb_s"]


def test_keep_warm_fixed_n_by_hand(table: costs.PriceTable) -> None:
    # Given 512 MB x86_64, N = 5, 100 ms holds, every 5 minutes, a 1024 MB arm64 warmer of 800 ms per round shared by 4
    rounds = MONTH_S / 300  # 8,760
    pings = rounds * 5
    expected_requests = pings * X86["request"]
    expected_holds = pings * 0.1 * 0.5 * X86["duration_gb_s"]
    expected_share = rounds * (ARM["request"] + 0.8 * 1.0 * ARM["duration_gb_s"]) / 4
    # When
    cost = costs.keep_warm_cost(
        table.prices("us-east-1", "x86_64"),
        memory_mb=512,
        hold_ms=100,
        pings_per_month=pings,
        warmer=costs.WarmerShare(round_ms=800, targets=4),
        warmer_prices=table.prices("us-east-1", "arm64"),
    )
    # Then
    assert cost.requests == pytest.approx(expected_requests)
    assert cost.holds == pytest.approx(expected_holds)
    assert cost.warmer_share == pytest.approx(expected_share)
    assert cost.total == pytest.approx(expected_requests + expected_holds + expected_share)
    # by hand: 43,800 pings x $0.0000002; 43,800 x 0.05 GB-s x $0.0000166667;
    # 8,760 x ($0.0000002 + 0.8 GB-s x $0.0000133334) / 4
    assert cost.total == pytest.approx(0.00876 + 0.0365 + 0.0238, abs=1e-4)


def test_schedule_pings_scale_a_week_to_a_month() -> None:
    schedule = [0] * 168
    schedule[9] = 4  # Monday 09:00: four environments, 12 rounds
    assert costs.pings_for_schedule(schedule) == pytest.approx(4 * 12 * 730 / 168)


def test_provisioned_always_on_and_scheduled_by_hand(table: costs.PriceTable) -> None:
    # Given a schedule of 3 environments for 10 hours a day on weekdays, 0 otherwise, at 2048 MB arm64
    schedule = [0] * 168
    for day in range(5):
        for hour in range(8, 18):
            schedule[day * 24 + hour] = 3
    real = [0.0] * 168
    real[9] = 1000.0  # 1,000 GB-s of real requests on Monday 09:00, 0 on Sunday (not covered)
    real[160] = 500.0
    prices = table.prices("us-east-1", "arm64")
    weeks = 730 / 168
    # When
    always = costs.provisioned_cost(prices, memory_mb=2048, n_by_hour=schedule, scheduled=False, real_gb_s_by_hour=real)
    hours = costs.provisioned_cost(prices, memory_mb=2048, n_by_hour=schedule, scheduled=True, real_gb_s_by_hour=real)
    # Then: always on is 3 x 2 GB all month; scheduled is 50 hours a week of 3 x 2 GB
    assert always.charge == pytest.approx(3 * 2 * MONTH_S * ARM["provisioned_gb_s"])
    assert hours.charge == pytest.approx(50 * 3 * 3600 * 2 * weeks * ARM["provisioned_gb_s"])
    discount = ARM["duration_gb_s"] - ARM["provisioned_duration_gb_s"]
    assert always.duration_credit == pytest.approx(1500 * weeks * discount)
    assert hours.duration_credit == pytest.approx(1000 * weeks * discount)
    assert hours.total == pytest.approx(hours.charge - hours.duration_credit)
    assert always.environments == 3


@pytest.mark.parametrize(
    ("runtime", "family"),
    [
        ("python3.12", "python"),
        ("python3.13", "python"),
        ("python3.11", None),
        ("java11", "java"),
        ("java21", "java"),
        ("java8.al2", None),
        ("dotnet8", "dotnet"),
        ("dotnet6", None),
        ("nodejs22.x", None),
        ("provided.al2023", None),
        (None, None),
    ],
)
def test_snapstart_runtimes(runtime: str | None, family: str | None) -> None:
    assert costs.snapstart_family(runtime) == family


def test_snapstart_python_pays_cache_and_restores_java_pays_nothing(table: costs.PriceTable) -> None:
    prices = table.prices("us-east-1", "x86_64")
    python = costs.snapstart_cost(prices, memory_mb=1024, runtime="python3.12", restores_per_month=3000)
    java = costs.snapstart_cost(prices, memory_mb=1024, runtime="java21", restores_per_month=3000)
    assert python is not None
    assert java is not None
    assert python.cache == pytest.approx(1.0 * MONTH_S * X86["snapstart_cache_gb_s"])
    assert python.restore == pytest.approx(3000 * 1.0 * X86["snapstart_restore_gb"])
    assert python.total == pytest.approx(3.95 + 0.42, abs=0.01)  # by hand: 2,628,000 GB-s cached + 3,000 GB restored
    assert java.total == 0
    assert costs.snapstart_cost(prices, memory_mb=1024, runtime="nodejs22.x", restores_per_month=1) is None


def test_unknown_region_names_what_the_table_has(table: costs.PriceTable) -> None:
    with pytest.raises(InvalidInput, match=r"no prices for region 'mars-1'.*us-east-1.*THERMOSTAT_PRICES_FILE"):
        table.prices("mars-1", "x86_64")


def test_schedule_of_the_wrong_length_is_refused(table: costs.PriceTable) -> None:
    with pytest.raises(InvalidInput, match="168 hourly values"):
        costs.provisioned_cost(table.prices("us-east-1", "x86_64"), memory_mb=128, n_by_hour=[1] * 24, scheduled=True)


def test_override_file_is_used(tmp_path: Path) -> None:
    own = json.loads(json.dumps(TABLE))
    own["as_of"] = "2030-01-01"
    own["regions"] = {"eu-west-3": {"arm64": {**ARM, "request": 0.0000003}}}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(own))
    loaded = load_price_table(path)
    assert str(loaded.as_of) == "2030-01-01"
    assert loaded.prices("eu-west-3", "arm64").request == 0.0000003


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"source": "x", "regions": {}}', r"as_of: Field required"),
        (
            json.dumps({**TABLE, "regions": {"us-east-1": {"x86_64": {**X86, "request": -1}}}}),
            r"regions\.us-east-1\.x86_64\.request: Input should be greater than or equal to 0",
        ),
        (json.dumps({**TABLE, "regions": {"us-east-1": {"sparc": X86}}}), r"regions\.us-east-1\.sparc"),
    ],
)
def test_bad_override_file_says_what_is_wrong_and_changes_nothing(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message) as caught:
        load_price_table(path)
    assert str(path) in str(caught.value)
    assert path.read_text() == content  # the user's file is left as it was
    assert shipped_price_table().prices("us-east-1", "x86_64").request == X86["request"]


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_price_table(tmp_path / "nope.json")
