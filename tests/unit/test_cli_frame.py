"""The command line's frame: discovery, --json anywhere, exit codes."""

from __future__ import annotations

import json

import pytest

from handlers.cli import EXIT_USAGE, build_parser, main

pytestmark = pytest.mark.unit


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["no-such-command"])
    assert caught.value.code == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_missing_table_variable_exits_2_with_what_to_fix(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "create"]) == EXIT_USAGE
    assert "THERMOSTAT_TABLE is not set" in capsys.readouterr().err


def test_table_create_is_idempotent_and_speaks_json(
    moto_aws: None, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["table", "create", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["--json", "table", "create"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["created"], second["created"]) == (True, False)
    assert first["table"] == table_name


def test_every_command_accepts_json_after_it() -> None:
    parser = build_parser()
    args = parser.parse_args(["table", "create", "--json"])
    assert args.json is True
