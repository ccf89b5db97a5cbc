"""DynamoTargetStore on the thermostat table (moto in-process)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.targets import Target, TargetProblem, make_target
from infra.target_store import PK, DynamoTargetStore, TargetRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def store(moto_aws: None, table: str) -> DynamoTargetStore:
    return DynamoTargetStore(table, "us-east-1")


def test_a_target_round_trips_with_every_field(store: DynamoTargetStore) -> None:
    target = make_target(
        function="orders-api",
        qualifier="live",
        group="office-hours",
        concurrency=5,
        hold_ms=150,
        payload={"warmer": True, "concurrency": 5},
        enabled=False,
    )
    store.put(target)
    assert store.load("office-hours") == [target]
    record = TargetRecord.get(PK, "office-hours#orders-api#live")
    assert record.payload == '{"warmer":true,"concurrency":5}'


def test_load_reads_one_group_or_all_in_key_order(store: DynamoTargetStore) -> None:
    for group, function in [("default", "b"), ("default", "a"), ("nightly", "c"), ("default-2", "d")]:
        store.put(make_target(function=function, qualifier="live", group=group))
    assert [(t.group, t.function) for t in store.load("default")] == [("default", "a"), ("default", "b")]
    assert [t.function for t in store.load(None)] == ["a", "b", "d", "c"]
    assert store.load("empty") == []


def test_put_replaces_the_same_key(store: DynamoTargetStore) -> None:
    store.put(make_target(function="a", qualifier="live", concurrency=2))
    store.put(make_target(function="a", qualifier="live", concurrency=7, payloadS3="s3://payloads/a.json"))
    [only] = store.load("default")
    assert isinstance(only, Target)
    assert (only.concurrency, only.payload_s3) == (7, "s3://payloads/a.json")


def test_delete_reports_whether_there_was_a_target(store: DynamoTargetStore) -> None:
    store.put(make_target(function="a", qualifier="live"))
    assert store.delete("a", "live", "default") is True
    assert store.delete("a", "live", "default") is False
    assert store.load(None) == []


def test_a_stored_record_that_breaks_a_rule_comes_back_as_a_problem(store: DynamoTargetStore) -> None:
    # Given records written around the CLI: $LATEST, a negative concurrency, and a good one
    TargetRecord(
        PK, "default#a#$LATEST", group="default", function="a", qualifier="$LATEST", concurrency=1, hold_ms=0
    ).save()
    TargetRecord(
        PK, "default#b#live", group="default", function="b", qualifier="live", concurrency=-3, hold_ms=0
    ).save()
    store.put(make_target(function="c", qualifier="live"))
    # When the group is loaded
    items = store.load("default")
    # Then the bad ones are problems that say why, and the good one is a target
    problems = [i for i in items if isinstance(i, TargetProblem)]
    assert [(p.function, p.qualifier) for p in problems] == [("a", "$LATEST"), ("b", "live")]
    assert "$LATEST" in problems[0].error
    assert "concurrency" in problems[1].error
    assert "thermostat targets add" in problems[1].error
    assert [i.function for i in items if isinstance(i, Target)] == ["c"]


def test_a_bad_group_name_is_refused_before_any_query(store: DynamoTargetStore) -> None:
    with pytest.raises(InvalidInput, match="group"):
        store.load("Bad#Group")


def test_same_function_in_two_accounts_is_two_targets_and_old_keys_keep_their_meaning(
    store: DynamoTargetStore,
) -> None:
    # Given a target in the own account (stored under the key older versions wrote) and one of the
    # same name and qualifier in another account and region
    own = make_target(function="orders-api", qualifier="live")
    other = make_target(function="orders-api", qualifier="live", account="111111111111", region="eu-west-1")
    store.put(own)
    store.put(other)
    # Then both are stored, the own one under the unchanged key
    assert TargetRecord.get(PK, "default#orders-api#live").account is None
    assert TargetRecord.get(PK, "default#orders-api#live@111111111111@eu-west-1").region == "eu-west-1"
    assert store.load("default") == [own, other]
    assert store.load_keys([other.key, "default#absent#1"]) == [other]
    # When the other account's target is removed, the own one stays
    assert store.delete("orders-api", "live", "default", account="111111111111", region="eu-west-1")
    assert store.load("default") == [own]
    assert not store.delete("orders-api", "live", "default", account="111111111111", region="eu-west-1")
