"""``--profile`` and ``--region`` mean what they mean to the AWS CLI (botocore's own chain decides)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import aws

pytestmark = pytest.mark.unit


@pytest.fixture
def profiles(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-2\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = AKIAOPSPROFILE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    yield
    aws.use_command_line()


def test_profile_flag_credentials_beat_the_environment_keys(profiles: None) -> None:
    # Without the flag, the environment's keys win (botocore's chain, even with AWS_PROFILE set)
    assert aws.botocore_session().get_credentials().access_key == "AKIAFROMENVIRONMENT"
    # With --profile, as `aws --profile ops`, the profile's keys and region are used
    aws.use_command_line(profile="ops")
    assert aws.botocore_session().get_credentials().access_key == "AKIAOPSPROFILE"
    assert aws.region() == "eu-west-2"


def test_region_flag_beats_the_environment_and_the_profile(profiles: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    aws.use_command_line(profile="ops")
    assert aws.region() == "eu-central-1"  # AWS_REGION beats the profile's region
    aws.use_command_line(profile="ops", region="ap-south-1")
    assert aws.region() == "ap-south-1"
    from infra.settings import load_settings

    assert load_settings().region == "ap-south-1"
    assert aws.client("sts").meta.region_name == "ap-south-1"


def test_a_commands_own_region_keeps_its_meaning(profiles: None) -> None:
    from handlers.cli import build_parser

    args = build_parser().parse_args(["--region", "ap-south-1", "bucket", "resolve", "--project", "p", "--stage", "s"])
    assert (args.aws_region, args.region) == ("ap-south-1", None)
    args = build_parser().parse_args(["bucket", "resolve", "--project", "p", "--stage", "s", "--region", "eu-west-1"])
    assert (args.aws_region, args.region) == (None, "eu-west-1")


def test_main_clears_the_flags_after_the_command(profiles: None, capsys: pytest.CaptureFixture[str]) -> None:
    from handlers.cli import main

    # (a bad --timeout is refused before any call)
    assert main(["--region", "ap-south-1", "--profile", "ops", "warm", "--timeout", "0"]) == 2
    assert aws.command_line_region() is None
    assert aws.botocore_session().get_credentials().access_key == "AKIAFROMENVIRONMENT"
