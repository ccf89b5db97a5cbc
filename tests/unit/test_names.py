"""AWS names, defined once (thermostat_runtime.names), matched whole.

Grammar from the Lambda API reference (Invoke: FunctionName, Qualifier; CreateAlias: Name;
PublishVersion: Version) and S3's "General purpose bucket naming rules".
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.buckets.names import is_valid_bucket_name
from domain.errors import InvalidInput
from domain.hook import make_target
from domain.targets import make_target as make_warm_target
from domain.targets import validate_group
from thermostat_runtime import names
from thermostat_runtime.refs import bucket_name_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "name", "qualifier"),
    [
        ("orders", "orders", None),
        ("orders:live", "orders", "live"),
        ("orders:$LATEST", "orders", "$LATEST"),
        ("123456789012:function:orders", "orders", None),
        ("arn:aws:lambda:eu-west-1:123456789012:function:orders:7", "orders", "7"),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:orders", "orders", None),
    ],
)
def test_function_references_in_every_documented_form_are_read(text: str, name: str, qualifier: str | None) -> None:
    # Given a function named as Lambda's FunctionName parameter allows, When parsed
    ref = names.parse_function_ref(text)
    # Then the bare name and the qualifier come out
    assert ref is not None
    assert (ref.name, ref.qualifier) == (name, qualifier)


@pytest.mark.parametrize("text", ["orders\n", "orders:live\n", " orders", "a" * 65, "orders:", "or ders", ""])
def test_names_are_matched_whole(text: str) -> None:
    # Given a name with a trailing newline, a space, or too long, Then it is no function reference
    assert names.parse_function_ref(text) is None


@pytest.mark.parametrize(
    ("text", "version", "alias"),
    [
        ("1", True, False),
        ("42", True, False),
        ("0", False, False),
        ("007", False, False),
        ("live", False, True),
        ("live\n", False, False),
        ("1\n", False, False),
        ("$LATEST", False, False),
        ("a" * 129, False, False),
    ],
)
def test_versions_and_aliases(text: str, version: bool, alias: bool) -> None:
    assert names.is_published_version(text) is version
    assert names.is_alias_name(text) is alias


def test_every_layer_refuses_a_trailing_newline() -> None:
    # Given names that differ from valid ones only by a trailing newline
    # Then keep-warm targets and groups refuse them (the hook strips its environment values first)
    with pytest.raises(InvalidInput):
        make_warm_target(function="orders\n", qualifier="live")
    with pytest.raises(InvalidInput):
        make_warm_target(function="orders", qualifier="live\n")
    with pytest.raises(InvalidInput):
        validate_group("default\n")
    with pytest.raises(InvalidInput):
        make_target("orders", "0")


@pytest.mark.parametrize("bucket", ["my-bucket", "a.b.c", "abc"])
def test_valid_bucket_names_pass_in_both_layers(bucket: str) -> None:
    assert is_valid_bucket_name(bucket)
    assert bucket_name_problem(bucket) is None


@pytest.mark.parametrize("bucket", ["My_Bucket", "192.168.5.4", "sthree-x", "x--ol-s3", "ab", "a..b", "abc\n"])
def test_bucket_rules_agree_between_the_domain_and_the_runtime_layer(bucket: str) -> None:
    # Given a name S3 refuses, Then both the domain and the runtime's reference parser refuse it, for one reason
    problems = names.bucket_name_problems(bucket)
    assert problems
    assert not is_valid_bucket_name(bucket)
    assert bucket_name_problem(bucket) == f"bucket name {bucket!r} {problems[0]}"


def _virtual_hostable(bucket: str) -> bool:
    """The SDK's own rule (botocore's ``aws.isVirtualHostableS3Bucket``, dots allowed): the oracle."""
    from botocore.endpoint_provider import RuleSetStandardLibrary

    return bool(RuleSetStandardLibrary({}).aws_is_virtual_hostable_s3_bucket(bucket, True))


@pytest.mark.parametrize("bucket", ["my.-bucket", "my-.bucket", "a-.b.c", "a.b.-c", "x.-.y"])
def test_a_hyphen_next_to_a_period_is_refused_with_the_reason(bucket: str) -> None:
    # Given a name that S3's virtual-hosted addressing cannot serve (botocore says so too)
    assert not _virtual_hostable(bucket)
    # Then both layers refuse it, and say why
    problems = names.bucket_name_problems(bucket)
    assert any("hyphen next to a period" in problem for problem in problems)
    assert not is_valid_bucket_name(bucket)
    assert bucket_name_problem(bucket) is not None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1.-", min_size=3, max_size=12))
def test_every_accepted_bucket_name_is_virtual_hostable(bucket: str) -> None:
    # Whatever the mix of dots and hyphens, a name thermostat accepts is one the SDK can address virtual-hosted
    if is_valid_bucket_name(bucket):
        assert _virtual_hostable(bucket), bucket
