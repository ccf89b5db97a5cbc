"""``concurrency: auto`` in the table and on the command line (moto server, a local Lambda endpoint)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain.targets import make_target
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from handlers import wiring
from handlers.cli import main
from infra.target_store import PK, DynamoTargetStore, TargetRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch, capsys) -> Iterator[Any]:
    with LambdaEndpoint([SimulatedFunction("api")]) as lam:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.url)
        wiring.reset()

        def run(*argv: str) -> tuple[int, str, str]:
            code = main(list(argv))
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        yield run
    wiring.reset()


def test_auto_fields_round_trip_through_the_table(moto_server: str, table: str) -> None:
    # Given an auto target stored, then a round's decision recorded on it
    store = DynamoTargetStore(table)
    target = make_target(function="api", qualifier="live", concurrency="auto", auto_min=2, auto_max=7)
    store.put(target)
    assert store.load("default") == [target]
    assert store.record_sizing("api", "live", "default", 5, "p90 of 4 weekly peaks at this hour = 5", 1_700_000_000_000)
    # When it is read back
    [loaded] = store.load("default")
    # Then the bounds and the decision are there, and the item's number is the N to warm at
    assert loaded.concurrency == "auto"
    assert (loaded.auto_min, loaded.auto_max, loaded.auto_n, loaded.auto_at_ms) == (2, 7, 5, 1_700_000_000_000)
    assert loaded.auto_reason == "p90 of 4 weekly peaks at this hour = 5"
    record = TargetRecord.get(PK, "default#api#live")
    assert (record.auto, int(record.concurrency)) == (True, 5)


def test_a_decision_is_not_recorded_on_a_removed_or_no_longer_auto_target(moto_server: str, table: str) -> None:
    store = DynamoTargetStore(table)
    assert not store.record_sizing("gone", "live", "default", 3, "why", 1)
    store.put(make_target(function="api", qualifier="live", concurrency=4))
    assert not store.record_sizing("api", "live", "default", 3, "why", 1)
    [loaded] = store.load("default")
    assert loaded.concurrency == 4
    assert TargetRecord.get(PK, "default#api#live").auto_n is None
    assert [record.sk for record in TargetRecord.query(PK)] == ["default#api#live"]


def test_targets_add_auto_and_list_show_the_n_and_why(cli, table: str) -> None:
    # When an auto target is added with bounds
    code, out, _ = cli(
        "targets", "add", "api", "--qualifier", "live", "--concurrency", "auto", "--min", "2", "--max", "6"
    )
    assert code == 0
    assert "auto (no round yet, 2..6)" in out
    # And a round's decision is recorded
    DynamoTargetStore(table).record_sizing("api", "live", "default", 4, "p90 of 3 weekly peaks at this hour = 4", 1)
    # Then the table shows the N chosen and why, and the JSON carries the fields
    code, out, _ = cli("targets", "list")
    assert code == 0
    assert "auto (N=4, 2..6)" in out
    assert "p90 of 3 weekly peaks at this hour = 4" in out
    code, out, _ = cli("targets", "list", "--json")
    [document] = json.loads(out)["targets"]
    assert (document["concurrency"], document["auto_min"], document["auto_max"], document["auto_n"]) == (
        "auto",
        2,
        6,
        4,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency", "3", "--min", "2"], "auto_min (--min/--max) apply only to concurrency auto"),
        (["--max", "4"], "apply only to concurrency auto"),
        (["--concurrency", "auto", "--min", "5", "--max", "2"], "auto min 5 is above auto max 2"),
        (["--concurrency", "auto", "--max", "5000"], "auto max 5000 is not valid: use 1 to 1000"),
        (["--concurrency", "some"], "concurrency 'some' is neither a number of environments nor 'auto'"),
    ],
)
def test_bad_auto_input_exits_2_with_the_reason_and_stores_nothing(cli, argv: list[str], message: str) -> None:
    code, _, err = cli("targets", "add", "api", "--qualifier", "live", *argv)
    assert code == 2
    assert message in err
    code, out, _ = cli("targets", "list", "--json")
    assert json.loads(out)["targets"] == []


def test_warm_sizes_an_auto_target_and_keeps_the_decision(cli, table: str, monkeypatch) -> None:
    # Given an auto target with no traffic in its logs (no log group at all)
    cli("targets", "add", "api", "--qualifier", "live", "--concurrency", "auto", "--min", "2")
    # When a round runs
    code, out, _ = cli("warm", "--json")
    assert code == 0, out
    [row] = json.loads(out)["targets"]
    # Then it warmed min environments, said why, and the decision is on the record
    assert row["auto"]["n"] == 2
    assert row["planned"] == 2
    assert row["auto"]["reason"].startswith("no traffic at this hour of the week in the last 4 weeks")
    [stored] = DynamoTargetStore(table).load("default")
    assert stored.auto_n == 2
    assert stored.auto_reason is not None
    assert stored.auto_reason.startswith("no traffic")
