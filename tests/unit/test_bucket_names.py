"""The S3 bucket naming rules (the only real check: moto accepts invalid names) and the generator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.buckets import InvalidBucketName, generate_bucket_name, is_valid_bucket_name, validate_bucket_name
from domain.buckets.names import MAX_LENGTH
from domain.errors import InvalidInput

pytestmark = pytest.mark.unit

GOOD = [
    "abc",
    "a" * 63,
    "my-bucket",
    "my.bucket.example",
    "123bucket",
    "bucket123",
    "0-0",
    "zappa-abc123xyz",
    "a.b-c",
    "192.168.5.4x",  # not an IP address once it has a letter
    "1.2.3",  # three parts: not an IP address
    "x-n--bucket",  # the reserved prefix is only reserved at the start
    "bucket-s3alias-not-at-end",
    "s3alias",
]

BAD = [
    ("ab", "must be 3 to 63 characters long (it has 2)"),
    ("", "must be 3 to 63 characters long (it has 0)"),
    ("a" * 64, "must be 3 to 63 characters long (it has 64)"),
    ("My-Bucket", "may contain only lowercase letters, digits, '.' and '-' (found 'BM')"),
    ("my_bucket", "may contain only lowercase letters, digits, '.' and '-' (found '_')"),
    ("my bucket", "may contain only lowercase letters, digits, '.' and '-' (found ' ')"),
    ("-bucket", "must begin with a lowercase letter or a digit"),
    (".bucket", "must begin with a lowercase letter or a digit"),
    ("bucket-", "must end with a lowercase letter or a digit"),
    ("bucket.", "must end with a lowercase letter or a digit"),
    ("my..bucket", "must not contain two adjacent periods"),
    (
        "my.-bucket",
        "must not have a hyphen next to a period ('.-' or '-.'): it is invalid for virtual-hosted-style addressing",
    ),
    (
        "my-.bucket",
        "must not have a hyphen next to a period ('.-' or '-.'): it is invalid for virtual-hosted-style addressing",
    ),
    ("192.168.5.4", "must not be formatted as an IP address"),
    ("10.0.0.1", "must not be formatted as an IP address"),
    ("xn--bucket", "must not start with the reserved prefix 'xn--'"),
    ("sthree-bucket", "must not start with the reserved prefix 'sthree-'"),
    ("amzn-s3-demo-bucket", "must not start with the reserved prefix 'amzn-s3-demo-'"),
    ("bucket-s3alias", "must not end with the reserved suffix '-s3alias'"),
    ("bucket--ol-s3", "must not end with the reserved suffix '--ol-s3'"),
    ("bucket.mrap", "must not end with the reserved suffix '.mrap'"),
    ("bucket--x-s3", "must not end with the reserved suffix '--x-s3'"),
    ("bucket--table-s3", "must not end with the reserved suffix '--table-s3'"),
]


@pytest.mark.parametrize("name", GOOD)
def test_valid_names_pass(name: str) -> None:
    assert validate_bucket_name(name) == name
    assert is_valid_bucket_name(name)


@pytest.mark.parametrize(("name", "reason"), BAD)
def test_each_broken_rule_is_named_in_the_error(name: str, reason: str) -> None:
    # When an invalid name is validated
    with pytest.raises(InvalidBucketName) as caught:
        validate_bucket_name(name)
    # Then the error is bad input, and says which rule was broken
    assert isinstance(caught.value, InvalidInput)
    assert reason in caught.value.reasons
    assert reason in str(caught.value)


def test_every_broken_rule_is_listed_not_just_the_first() -> None:
    with pytest.raises(InvalidBucketName) as caught:
        validate_bucket_name("-My..Bucket_")
    assert len(caught.value.reasons) == 4  # characters, start, end, adjacent periods


def test_a_huge_name_is_not_echoed_in_full() -> None:
    name = "a" * 10_000
    with pytest.raises(InvalidBucketName) as caught:
        validate_bucket_name(name)
    message = str(caught.value)
    assert "(10000 characters)" in message
    assert len(message) < 300


def test_generated_names_are_readable_and_valid() -> None:
    name = generate_bucket_name("My_Project.Name", "Prod", random.Random(7))
    assert name.startswith("my-project-name-prod-")
    assert len(name.rsplit("-", 1)[1]) == 8
    assert is_valid_bucket_name(name)


def test_generated_names_differ_between_calls() -> None:
    rng = random.Random(1)
    assert len({generate_bucket_name("api", "prod", rng) for _ in range(50)}) == 50


@pytest.mark.parametrize(
    ("project", "stage", "prefix"),
    [
        ("sthree", "x", "b-sthree-x-"),
        ("amzn-s3-demo", "x", "b-amzn-s3-demo-x-"),
        ("xn--punycode", "x", "xn-punycode-x-"),
        ("___", "---", "bucket-"),
    ],
)
def test_generated_names_avoid_reserved_prefixes(project: str, stage: str, prefix: str) -> None:
    name = generate_bucket_name(project, stage, random.Random(3))
    assert name.startswith(prefix)
    assert is_valid_bucket_name(name)


@settings(max_examples=300, deadline=None)
@given(
    project=st.text(min_size=1, max_size=80),
    stage=st.text(min_size=1, max_size=40),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_any_project_and_stage_give_a_valid_name_of_at_most_63(project: str, stage: str, seed: int) -> None:
    name = generate_bucket_name(project, stage, random.Random(seed))
    assert len(name) <= MAX_LENGTH
    assert is_valid_bucket_name(name), name
