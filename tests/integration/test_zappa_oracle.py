"""thermostat against Zappa itself: its settings loader names the project, its callback runner calls ours.

The oracle is Zappa's own ``ZappaCLI`` (the ``zappa`` package in the dev extra): ``load_settings``
computes the default ``project_name`` from the directory it runs in, and ``callback("settings")``
is the step ``ZappaCLI.dispatch_command`` runs right after it, before every command. moto stands
in for AWS; Zappa's loader builds its clients without calling them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from domain.errors import InvalidInput
from handlers.cli import main
from handlers.cli.zappa import default_project
from infra.accounts import forget_account

zappa_cli_module = pytest.importorskip("zappa.cli")
click = pytest.importorskip("click")

pytestmark = pytest.mark.integration

CALLBACK = "thermostat_zappa.settings"

# Directory names a project may well sit in: accents, spaces, capitals, long names, dots,
# underscores, leading digits, emoji, other scripts, ligatures, HTML entities, symbols.
AWKWARD_NAMES = [
    "orders-service-api",
    "Café Orders",
    "My Shop",
    "UPPER_case",
    "a.b.c",
    "v1.2.3",
    "snake_case_name",
    "2fast",
    "007-agents",
    "über-straße-service",
    "São Paulo",
    "Łódź",
    "Ærø",
    "Ωmega",
    "日本語",
    "ﬁle",
    "½ half",
    "emoji-🚀-app",
    "it's-mine",
    "a&amp;b",
    "copy &#169; &#x41;",
    "1,000 users",
    "100%",
    "  spaced  ",
    "tab\tname",
    "-lead",
    "my--double",
    "hello world again",
    "proj-name-1234567890",
    "x" * 60,
]
EMPTY_SLUGS = ["🚀🚀", "!!!", "___", "---", "..."]


@pytest.fixture
def registry(moto_aws: None, table: str) -> Iterator[str]:
    forget_account()
    yield table
    forget_account()


def write_settings(directory: Path, stages: dict[str, dict[str, object]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "zappa_settings.json"
    path.write_text(json.dumps(stages, indent=4), encoding="utf-8")
    return path


def zappa_loads(stage: str) -> object:
    """What ``zappa <command> <stage>`` does first, in the current directory: Zappa's own loader."""
    cli = zappa_cli_module.ZappaCLI()
    cli.api_stage = stage
    cli.load_settings("zappa_settings.json")
    return cli


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_the_default_project_name_is_the_one_zappas_loader_computes(
    name: str, tmp_path: Path, moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stage without project_name in a directory named awkwardly
    directory = tmp_path / name
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "s3_bucket": "fixed-bucket"}})
    monkeypatch.chdir(directory)
    # When Zappa loads it, and thermostat names the project of that settings file
    zappas = zappa_loads("dev").project_name  # type: ignore[attr-defined]
    ours = default_project(directory)
    # Then both name it the same
    assert zappas
    assert ours == zappas


@pytest.mark.parametrize("name", EMPTY_SLUGS)
def test_a_directory_name_with_nothing_to_slug_is_refused_where_zappa_would_go_on_empty(
    name: str, tmp_path: Path, moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / name
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "s3_bucket": "fixed-bucket"}})
    monkeypatch.chdir(directory)
    # Zappa carries on with an empty project name (its function would be called after the stage alone)
    assert zappa_loads("dev").project_name == ""  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match=r"empty project name.*project_name"):
        default_project(directory)


def buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def resolve_with_thermostat(capsys: pytest.CaptureFixture[str], project: str, stage: str) -> str:
    capsys.readouterr()
    code = main(["bucket", "resolve", "--project", project, "--stage", stage])
    out, _ = capsys.readouterr()
    assert code == 0
    return out.strip()


def test_zappas_settings_callback_deploys_every_stage_to_its_registered_bucket(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a project that never ran `thermostat zappa pin`, with the callback in its base stage
    directory = tmp_path / "orders-service-api"
    stages = {
        "dev": {"aws_region": "us-east-1", "slim_handler": True, "callbacks": {"settings": CALLBACK}},
        "prod": {"extends": "dev"},
    }
    settings = write_settings(directory, stages)
    before = settings.read_text(encoding="utf-8")
    monkeypatch.chdir(directory)

    # When Zappa loads the dev stage, it invents a bucket; then it runs the settings callback
    dev = zappa_loads("dev")
    assert dev.s3_bucket_name.startswith("zappa-")  # type: ignore[attr-defined]
    dev.callback("settings")  # type: ignore[attr-defined]

    # Then the bucket Zappa uses is the one thermostat registered for Zappa's own project name
    registered = resolve_with_thermostat(capsys, "orders-service-", "dev")
    assert dev.s3_bucket_name == registered  # type: ignore[attr-defined]
    assert dev.stage_config["s3_bucket"] == registered  # type: ignore[attr-defined]
    assert buckets() == [registered]

    # And a second Zappa command gets the same bucket again
    again = zappa_loads("dev")
    again.callback("settings")  # type: ignore[attr-defined]
    assert again.s3_bucket_name == registered  # type: ignore[attr-defined]

    # And another stage gets its own, just as stable
    prod = zappa_loads("prod")
    prod.callback("settings")  # type: ignore[attr-defined]
    prod_bucket = prod.s3_bucket_name  # type: ignore[attr-defined]
    assert prod_bucket != registered
    assert resolve_with_thermostat(capsys, "orders-service-", "prod") == prod_bucket
    assert buckets() == sorted([registered, prod_bucket])
    # And the settings file is never written
    assert settings.read_text(encoding="utf-8") == before


def test_a_bucket_named_in_the_stage_is_adopted_by_the_callback(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "shop"
    write_settings(
        directory,
        {"dev": {"aws_region": "us-east-1", "s3_bucket": "shop-artifacts-1", "callbacks": {"settings": CALLBACK}}},
    )
    monkeypatch.chdir(directory)
    cli = zappa_loads("dev")
    cli.callback("settings")  # type: ignore[attr-defined]
    assert cli.s3_bucket_name == "shop-artifacts-1"  # type: ignore[attr-defined]
    assert resolve_with_thermostat(capsys, "shop", "dev") == "shop-artifacts-1"


def test_without_thermostat_table_the_callback_stops_zappa(
    moto_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "shop"
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "callbacks": {"settings": CALLBACK}}})
    monkeypatch.chdir(directory)
    cli = zappa_loads("dev")
    invented = cli.s3_bucket_name  # type: ignore[attr-defined]
    with pytest.raises(click.ClickException, match="THERMOSTAT_TABLE is not set"):
        cli.callback("settings")  # type: ignore[attr-defined]
    assert cli.s3_bucket_name == invented  # type: ignore[attr-defined]  # and Zappa exits on the exception
    assert buckets() == []


def test_an_unreachable_aws_stops_zappa(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given every endpoint where nothing listens (port 9, discard, refused on 127.0.0.1), one attempt
    monkeypatch.setenv("THERMOSTAT_TABLE", "thermostat")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    forget_account()
    directory = tmp_path / "shop"
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "callbacks": {"settings": CALLBACK}}})
    monkeypatch.chdir(directory)
    cli = zappa_loads("dev")
    invented = cli.s3_bucket_name  # type: ignore[attr-defined]
    with pytest.raises(
        click.ClickException, match=r"cannot resolve the deployment bucket of shop/dev: .*EndpointConnectionError"
    ):
        cli.callback("settings")  # type: ignore[attr-defined]
    assert cli.s3_bucket_name == invented  # type: ignore[attr-defined]
    forget_account()


def test_an_unreachable_registry_table_stops_zappa(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given STS and S3 (moto) answering, but DynamoDB where nothing listens, one attempt
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    directory = tmp_path / "shop"
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "callbacks": {"settings": CALLBACK}}})
    monkeypatch.chdir(directory)
    cli = zappa_loads("dev")
    with pytest.raises(click.ClickException, match=r"thermostat: .*(unreachable|127\.0\.0\.1:9)"):
        cli.callback("settings")  # type: ignore[attr-defined]
    assert buckets() == []


def test_an_empty_zappa_project_name_stops_zappa(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "!!!"
    write_settings(directory, {"dev": {"aws_region": "us-east-1", "callbacks": {"settings": CALLBACK}}})
    monkeypatch.chdir(directory)
    cli = zappa_loads("dev")
    with pytest.raises(click.ClickException, match=r'empty.*"project_name"'):
        cli.callback("settings")  # type: ignore[attr-defined]
    assert buckets() == []


def test_the_callback_reaches_the_registry_with_the_stages_profile_name(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a profile whose DynamoDB endpoint is where nothing listens (botocore's own config chain:
    # a profile's `endpoint_url` per service), and two stages, one naming that profile
    config = tmp_path / "config"
    config.write_text(
        "[profile elsewhere]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "services = dead-dynamodb\nmax_attempts = 1\n\n[services dead-dynamodb]\ndynamodb =\n"
        "  endpoint_url = http://127.0.0.1:9\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    directory = tmp_path / "shop"
    base = {"aws_region": "us-east-1", "callbacks": {"settings": CALLBACK}}
    write_settings(directory, {"dev": base, "ops": {**base, "profile_name": "elsewhere"}})
    monkeypatch.chdir(directory)
    # When Zappa loads the stage with profile_name, the callback goes where that profile points
    ops = zappa_loads("ops")
    assert ops.profile_name == "elsewhere"  # type: ignore[attr-defined]  # Zappa's own reading of the stage
    with pytest.raises(click.ClickException, match=r"127\.0\.0\.1:9"):
        ops.callback("settings")  # type: ignore[attr-defined]
    assert buckets() == []
    # And the stage without one still uses the environment's credentials and endpoints
    dev = zappa_loads("dev")
    dev.callback("settings")  # type: ignore[attr-defined]
    assert dev.s3_bucket_name == resolve_with_thermostat(capsys, "shop", "dev")  # type: ignore[attr-defined]
