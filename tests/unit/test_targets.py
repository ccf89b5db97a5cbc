"""Target rules: qualifier required, $LATEST refused, bounds, group names, payload xor payloadS3."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.targets import (
    MAX_CONCURRENCY,
    Target,
    check_payload_bucket,
    make_target,
    parse_s3_uri,
    validate_group,
)

pytestmark = pytest.mark.unit


def test_a_minimal_target_gets_the_documented_defaults() -> None:
    # Given a function and a qualifier only
    target = make_target(function="orders-api", qualifier="live")
    # Then the defaults apply and the key is the table's sort key
    assert (target.group, target.concurrency, target.hold_ms, target.enabled) == ("default", 1, 100, True)
    assert target.key == "default#orders-api#live"
    assert target.payload_bytes() is None


def test_latest_is_refused_with_a_message_that_says_what_to_do() -> None:
    with pytest.raises(InvalidInput) as caught:
        make_target(function="orders-api", qualifier="$LATEST")
    message = str(caught.value)
    assert "$LATEST" in message
    assert "publish" in message
    assert "alias" in message


def test_an_unqualified_target_is_refused() -> None:
    with pytest.raises(InvalidInput, match="qualifier is required"):
        make_target(function="orders-api", qualifier="")
    with pytest.raises(InvalidInput, match="qualifier"):
        make_target(function="orders-api")


@pytest.mark.parametrize(
    ("function", "hint"),
    [
        ("orders-api:live", "--qualifier live"),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders-api:7", "--qualifier 7"),
    ],
)
def test_a_qualifier_inside_the_function_name_is_refused_with_the_fix(function: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_target(function=function, qualifier="live")
    assert hint in str(caught.value)


@pytest.mark.parametrize("concurrency", [0, -1, MAX_CONCURRENCY + 1])
def test_concurrency_out_of_bounds_is_refused(concurrency: int) -> None:
    with pytest.raises(InvalidInput, match="concurrency"):
        make_target(function="f", qualifier="live", concurrency=concurrency)


@pytest.mark.parametrize("hold_ms", [-1, 1_001])
def test_hold_out_of_bounds_is_refused(hold_ms: int) -> None:
    with pytest.raises(InvalidInput, match="hold_ms"):
        make_target(function="f", qualifier="live", hold_ms=hold_ms)


@pytest.mark.parametrize("group", ["Office", "a#b", "", "-x", "x" * 64])
def test_bad_group_names_are_refused(group: str) -> None:
    with pytest.raises(InvalidInput, match="group"):
        make_target(function="f", qualifier="live", group=group)
    with pytest.raises(InvalidInput, match="group"):
        validate_group(group)


@pytest.mark.parametrize("qualifier", ["live", "7", "blue_green-2"])
def test_versions_and_aliases_are_accepted(qualifier: str) -> None:
    assert make_target(function="f", qualifier=qualifier).qualifier == qualifier


def test_bad_qualifier_characters_are_refused() -> None:
    with pytest.raises(InvalidInput, match="neither a version"):
        make_target(function="f", qualifier="li ve")


def test_an_unqualified_arn_is_accepted_and_named() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api"
    target = make_target(function=arn, qualifier="live")
    assert target.function_name == "orders-api"


def test_a_bad_function_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a Lambda function name"):
        make_target(function="orders api", qualifier="live")


def test_payload_and_payload_s3_are_exclusive() -> None:
    with pytest.raises(InvalidInput, match="either payload or payloadS3"):
        make_target(function="f", qualifier="live", payload={"warmer": True}, payloadS3="s3://bucket-a/k.json")


def test_payload_s3_must_be_an_s3_uri() -> None:
    with pytest.raises(InvalidInput, match="s3://BUCKET/KEY"):
        make_target(function="f", qualifier="live", payloadS3="https://bucket-a/k.json")
    assert parse_s3_uri("s3://bucket-a/dir/k.json") == ("bucket-a", "dir/k.json")


def test_an_inline_payload_too_big_for_the_table_is_refused() -> None:
    with pytest.raises(InvalidInput, match="payloadS3 instead"):
        make_target(function="f", qualifier="live", payload={"blob": "x" * 300_000})


def test_an_inline_payload_is_sent_as_compact_json() -> None:
    target = make_target(function="f", qualifier="live", payload={"warmer": True, "concurrency": 2})
    assert target.payload_bytes() == b'{"warmer":true,"concurrency":2}'


def test_a_non_json_payload_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not JSON-serialisable"):
        make_target(function="f", qualifier="live", payload={1, 2})


def test_a_bucket_outside_the_allow_list_is_refused_with_the_variable_to_set() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_payload_bucket("s3://other/k.json", frozenset({"payloads"}))
    assert "THERMOSTAT_PAYLOAD_BUCKETS" in str(caught.value)
    assert "'other'" in str(caught.value)
    check_payload_bucket("s3://payloads/k.json", frozenset({"payloads"}))  # allowed: no error


def test_targets_are_frozen_values() -> None:
    target = make_target(function="f", qualifier="live")
    with pytest.raises(ValueError, match="frozen"):
        target.concurrency = 3  # type: ignore[misc]


def test_the_record_round_trips_through_the_model() -> None:
    target = make_target(function="f", qualifier="7", group="office-hours", concurrency=4, payloadS3="s3://b-1/k")
    assert Target.model_validate(target.to_record()) == target


_names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
_qualifiers = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
_groups = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@given(function=_names, qualifier=_qualifiers, group=_groups)
def test_the_key_always_splits_back_into_its_parts(function: str, qualifier: str, group: str) -> None:
    # Given any valid target, When its sort key is split on '#', Then the parts come back unchanged
    target = make_target(function=function, qualifier=qualifier, group=group)
    assert target.key.split("#") == [group, function, qualifier]


def test_account_and_region_are_part_of_the_key_only_when_set() -> None:
    from domain.targets import split_target_key

    own = make_target(function="api", qualifier="live")
    assert own.key == "default#api#live"
    other = make_target(function="api", qualifier="live", account="111111111111", region="eu-west-1")
    assert other.key == "default#api#live@111111111111@eu-west-1"
    assert split_target_key(other.key) == ("default", "api", "live", "111111111111", "eu-west-1")
    assert split_target_key(own.key) == ("default", "api", "live", None, None)
    only_region = make_target(function="api", qualifier="live", region="eu-west-1")
    assert split_target_key(only_region.key) == ("default", "api", "live", None, "eu-west-1")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"account": "12345"}, "account '12345' is not an AWS account id (12 digits"),
        ({"account": "abcdefghijkl"}, "is not an AWS account id"),
        ({"region": "Europe"}, "region 'Europe' is not an AWS region name"),
        (
            {"function": "arn:aws:lambda:us-east-1:222222222222:function:api", "account": "111111111111"},
            "differs from the account 222222222222 in the function's ARN",
        ),
        (
            {"function": "arn:aws:lambda:us-east-1:222222222222:function:api", "region": "eu-west-1"},
            "differs from the region us-east-1",
        ),
    ],
)
def test_a_bad_account_or_region_is_refused_with_the_rule(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        make_target(**{"function": "api", "qualifier": "live", **fields})
