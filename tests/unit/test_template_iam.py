"""The template's IAM parameters against thermostat's own behaviour (issue 12, items 4 and 5).

The deployment function's bucket permissions are a glob parameter, ``DeploymentBucketPattern``:
its default must cover every name thermostat generates (``domain.buckets.names`` is the oracle),
and the template's own check (its ``AllowedPattern``) must refuse a glob of wildcards only. IAM
matches ``*`` and ``?`` in ARNs as ``fnmatch.fnmatchcase`` does for these characters.
"""

from __future__ import annotations

import fnmatch
import random
import re
from typing import Any

import pytest

from domain.buckets.names import generate_bucket_name
from tests.unit.test_template import template

pytestmark = pytest.mark.unit


def _parameter(name: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Parameters"][name]
    return found


def test_the_default_bucket_glob_covers_every_generated_name() -> None:
    # Given the names thermostat generates, for short, long, odd and reserved-looking projects
    rng = random.Random(12)
    projects = ["shop", "a", "x" * 70, "Orders Service", "xn--punycode", "a" * 54, "b-" * 30]
    stages = ["prod", "dev", "s" * 40, "Stage_1"]
    names = [generate_bucket_name(project, stage, rng) for project in projects for stage in stages]

    # When each is matched against the template's default glob
    glob = _parameter("DeploymentBucketPattern")["Default"]
    unmatched = [name for name in names if not fnmatch.fnmatchcase(name, glob)]

    # Then every one is covered, and the glob is not every bucket
    assert unmatched == []
    assert glob.strip("*?") != ""
    assert not fnmatch.fnmatchcase("customer-uploads", glob)


@pytest.mark.parametrize("name", ["DeploymentBucketPattern", "StrayBucketGlob"])
@pytest.mark.parametrize("value", ["*", "**", "?*", "*?*", "", "A-*", "a" * 64])
def test_the_template_refuses_a_bucket_glob_of_every_bucket(name: str, value: str) -> None:
    # Given one of the bucket globs the template grants S3 actions on
    parameter = _parameter(name)

    # When a value that is every bucket (or not a bucket glob) is checked as CloudFormation checks it
    accepted = re.fullmatch(parameter["AllowedPattern"], value) is not None and len(value) <= parameter["MaxLength"]

    # Then it is refused, with a description that says why
    assert not accepted
    assert "every bucket" in parameter["ConstraintDescription"]


@pytest.mark.parametrize("value", ["*-????????", "shop-*", "zappa-*", "deploy.example.com", "a"])
def test_the_template_accepts_narrow_bucket_globs(value: str) -> None:
    parameter = _parameter("DeploymentBucketPattern")
    assert re.fullmatch(parameter["AllowedPattern"], value)
    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])


def test_keep_warm_reads_only_what_its_look_ups_need_scoped_like_its_pings() -> None:
    # Given keep-warm's role statements
    statements = template()["Resources"]["KeepWarmFunction"]["Properties"]["Policies"][0]["Statement"]
    by_sid = {}
    for statement in statements:
        if "Fn::If" in statement:
            statement = statement["Fn::If"][1]
        by_sid[statement["Sid"]] = statement

    # Then the look-ups are the three least-privileged reads, never GetFunction, and the tagged
    # statement carries the same tag condition as the pings
    look_ups = sorted(
        action for sid in ("InspectTaggedTargets", "InspectListedTargets") for action in by_sid[sid]["Action"]
    )
    assert look_ups == sorted(
        2
        * ["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency", "lambda:GetProvisionedConcurrencyConfig"]
    )
    assert by_sid["InspectTaggedTargets"]["Condition"] == by_sid["PingTaggedFunctions"]["Condition"]
    assert by_sid["InspectTaggedTargets"]["Resource"] == by_sid["PingTaggedFunctions"]["Resource"]
