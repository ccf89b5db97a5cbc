"""Response expectations: the small syntax, its JSON forms, and the messages when they fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.expectations import MISSING, check_all, json_equal, parse_expectation, parse_expectations, resolve

pytestmark = pytest.mark.unit

API_GATEWAY_REPLY = {
    "statusCode": 200,
    "headers": {"content-type": "application/json; charset=utf-8"},
    "body": json.dumps({"ok": True, "items": [{"id": "a-1", "price": 9.5}, {"id": "a-2", "price": 12}]}),
    "odd key.with dots": "yes",
}


@pytest.mark.parametrize(
    "text",
    [
        "statusCode == 200",
        "$.statusCode == 200",
        "statusCode != 500",
        "statusCode >= 200",
        "statusCode < 300",
        'headers["content-type"] =~ "^application/json"',
        "body.ok == true",
        'body.items[0].id == "a-1"',
        "body.items[-1].price > 10",
        "body.items[1].price == 12.0",
        '$["odd key.with dots"] == "yes"',
        "body.items exists",
        "errorMessage absent",
        'body.items[0] == {"id": "a-1", "price": 9.5}',
    ],
)
def test_expectations_that_hold_report_nothing(text: str) -> None:
    # Given an API Gateway style reply whose body is a JSON string
    expectation = parse_expectation(text)
    # When it is checked, Then nothing is reported
    assert expectation.check(API_GATEWAY_REPLY) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("statusCode == 500", "expected statusCode == 500, got 200"),
        ("body.ok == 1", "expected body.ok == 1, got true"),  # JSON equality: true is not 1
        ('statusCode == "200"', 'expected statusCode == "200", got 200'),
        ("body.missing == 1", "expected body.missing == 1, got nothing (the path does not exist)"),
        ("body.items exists", None),
        ("statusCode absent", "expected statusCode absent, got 200"),
        ("body.items[0].id < 3", 'expected body.items[0].id < 3, got "a-1"'),  # string vs number never compare
        ('statusCode =~ "^2"', 'expected statusCode =~ "^2", got 200'),  # a regex needs a string
        ("body.items[5] exists", "expected body.items[5] exists, got nothing (the path does not exist)"),
    ],
)
def test_failed_expectations_say_what_was_expected_and_what_came(text: str, message: str | None) -> None:
    assert parse_expectation(text).check(API_GATEWAY_REPLY) == message


def test_a_list_of_expectations_reports_every_failure() -> None:
    # Given three expectations separated by ';' and a newline, two of them failing
    expectations = parse_expectations("statusCode == 201; body.ok == true\nbody.items[0].price >= 10")
    # When checked, Then both failures are listed, in order
    assert check_all(expectations, API_GATEWAY_REPLY) == [
        "expected statusCode == 201, got 200",
        "expected body.items[0].price >= 10, got 9.5",
    ]


def test_semicolons_inside_quoted_values_do_not_split() -> None:
    expectations = parse_expectations('message == "a;b"; code == 1')
    assert [e.value for e in expectations] == ["a;b", 1]
    assert check_all(expectations, {"message": "a;b", "code": 1}) == []


def test_json_forms_list_and_object() -> None:
    as_list = parse_expectations('["statusCode == 200", "body.ok == true"]')
    as_object = parse_expectations('{"statusCode": 200, "body.ok": true, "odd key.with dots": "yes"}')
    assert [e.text for e in as_list] == ["statusCode == 200", "body.ok == true"]
    assert [e.text for e in as_object][:2] == ["statusCode == 200", "body.ok == true"]
    assert check_all(as_list, API_GATEWAY_REPLY) == []
    assert check_all(as_object, API_GATEWAY_REPLY) == []


def test_nothing_to_expect() -> None:
    assert parse_expectations(None) == ()
    assert parse_expectations("  \n ") == ()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("== 3", "must start with a path"),
        ("a =", "expected an operator"),
        ("a == ok", "is not a JSON literal; quote strings"),
        ("a ~ 3", "expected an operator"),
        ("a[x] == 1", "neither an index nor a quoted key"),
        ("a[0 == 1", "unclosed '['"),
        ("a =~ 3", "=~ needs a quoted regular expression"),
        ('a =~ "("', "not a valid regular expression"),
        ("a < null", "< compares numbers or strings"),
        ("a ==", "missing the value after '=='"),
        ("a..b == 1", "empty key"),
        ('["x", 1]', "must hold strings"),
        ("[1", "look like JSON but do not parse"),
    ],
)
def test_bad_expectations_are_refused_with_a_message(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_expectations(text)
    assert fragment in str(caught.value)


def test_resolve_distinguishes_missing_from_null() -> None:
    assert resolve({"a": None}, ("a",)) is None
    assert resolve({"a": None}, ("b",)) is MISSING
    assert resolve({"a": "not json"}, ("a", "b")) is MISSING
    assert resolve([1, 2], (5,)) is MISSING


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


@given(value=json_values)
def test_any_json_value_equals_itself_through_the_syntax(value: Any) -> None:
    # Given a document holding any JSON value under a key
    expectation = parse_expectation(f"field == {json.dumps(value)}")
    # Then the equality expectation built from that value holds, and != does not
    assert expectation.check({"field": value}) is None
    assert parse_expectation(f"field != {json.dumps(value)}").check({"field": value}) is not None


@given(left=json_scalars, right=json_scalars)
def test_json_equal_never_mixes_booleans_and_numbers(left: Any, right: Any) -> None:
    if isinstance(left, bool) != isinstance(right, bool):
        assert not json_equal(left, right)
