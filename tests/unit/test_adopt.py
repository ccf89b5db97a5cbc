"""The pure mapping of ``thermostat import`` (domain/adopt.py): variables, group names, Zappa's rule names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.adopt import Unresolved, from_serverless_warmup, group_name, resolve_variables, zappa_rule_name
from domain.errors import InvalidInput

pytestmark = pytest.mark.unit

DOCUMENT = {"service": "orders", "provider": {"stage": "${opt:stage, 'qa'}"}, "custom": {"prefix": "${self:service}"}}


@pytest.mark.parametrize(
    ("text", "stage", "expected"),
    [
        ("${self:service}-${sls:stage}-api", "prod", "orders-prod-api"),
        ("${opt:stage, self:provider.stage}", "prod", "prod"),
        ("${self:provider.stage}", None, "qa"),  # no --stage: opt:stage falls through to its default
        ("${self:custom.prefix}-x", "dev", "orders-x"),
        ('${self:custom.missing, "fallback"}', "dev", "fallback"),
        ("plain", "dev", "plain"),
    ],
)
def test_variables_the_importer_resolves(text: str, stage: str | None, expected: str) -> None:
    assert resolve_variables(text, DOCUMENT, stage) == expected


@pytest.mark.parametrize("text", ["${ssm:/a/b}", "${env:NAME}", "${file(./x.yml):name}", "${self:custom.nope}"])
def test_variables_that_need_the_deploying_machine_are_reported(text: str) -> None:
    with pytest.raises(Unresolved) as caught:
        resolve_variables(text, DOCUMENT, "dev")
    assert caught.value.variable.startswith("${")


@pytest.mark.parametrize(
    ("warmer", "group"),
    [
        ("default", "default"),
        ("officeHoursWarmer", "office-hours-warmer"),
        ("night_shift", "night_shift"),
        ("Warm Me!", "warm-me"),
        ("!!!", "default"),
    ],
)
def test_group_names_from_warmer_names(warmer: str, group: str) -> None:
    assert group_name(warmer) == group


@settings(deadline=None, max_examples=300)  # no wall-clock bound: Zappa's import is slow the first time
@given(st.from_regex(r"[a-z0-9][a-z0-9-]{0,70}", fullmatch=True))
def test_zappa_rule_names_match_zappa_s_own(lambda_name: str) -> None:
    from zappa.core import Zappa

    expected = Zappa(load_credentials=False).get_scheduled_event_name(
        {"name": "zappa-keep-warm"}, "handler.keep_warm_callback", lambda_name
    )
    assert zappa_rule_name(lambda_name) == expected


def test_a_warmer_that_is_not_a_mapping_is_bad_input() -> None:
    with pytest.raises(InvalidInput, match=r"custom\.warmup must be a mapping"):
        from_serverless_warmup({"service": "s", "custom": {"warmup": ["x"]}})
