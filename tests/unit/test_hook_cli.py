"""``thermostat hook run``: bad input is refused with exit code 2 before anything is invoked."""

from __future__ import annotations

import pytest

from handlers.cli import EXIT_USAGE, main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--version", "$LATEST"], "never invokes $LATEST or an alias"),
        (["--version", "live"], "not a published version number"),
        (["--version", "3", "--jitter", "0.4"], "expected two numbers in seconds"),
        (["--version", "3", "--jitter", "0.5,0.1"], "need 0 <= MIN <= MAX <= 60"),
        (["--version", "3", "--concurrency", "0"], "--concurrency 0: choose 1 to 100"),
        (["--version", "3", "--timeout", "0"], "--timeout 0.0"),
        (["--version", "3", "--expect", "statusCode = 200"], "expected an operator"),
        (["--version", "3", "--payload", "{oops"], "--payload is not JSON"),
        (["--version", "3", "--payload-s3", "s3://b/k"], "THERMOSTAT_PAYLOAD_BUCKETS is empty"),
        (["--version", "3", "--after-traffic", "--payload", "{}"], "--after-traffic runs the probe only"),
    ],
)
def test_bad_input_exits_2_saying_what_to_fix(
    aws_env: None, capsys: pytest.CaptureFixture[str], arguments: list[str], fragment: str
) -> None:
    # Given no Lambda endpoint at all: a bad flag must be refused before any call
    code = main(["hook", "run", "--function", "orders", *arguments])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert fragment in captured.err
    assert captured.out == ""


def test_bad_environment_defaults_exit_2_naming_the_variable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.settings import get_settings

    monkeypatch.setenv("THERMOSTAT_HOOK_CONCURRENCY", "lots")
    get_settings.cache_clear()
    try:
        assert main(["hook", "run", "--function", "orders", "--version", "3"]) == EXIT_USAGE
    finally:
        get_settings.cache_clear()
    assert "THERMOSTAT_HOOK_CONCURRENCY" in capsys.readouterr().err


def test_both_payload_sources_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["hook", "run", "--function", "f", "--version", "1", "--payload", "{}", "--payload-s3", "s3://b/k"])
    assert caught.value.code == EXIT_USAGE
    assert "not allowed with argument" in capsys.readouterr().err
