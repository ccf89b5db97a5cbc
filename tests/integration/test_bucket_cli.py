"""``thermostat bucket …`` and ``thermostat zappa pin`` end to end against moto (in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from handlers.cli import main
from infra.accounts import forget_account

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(moto_aws: None, table: str) -> Iterator[str]:
    forget_account()
    yield table
    forget_account()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def test_resolve_prints_only_the_bucket_name_and_reuses_it(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    assert code == 0
    name = out.strip()
    assert out == f"{name}\n"
    assert buckets() == [name]
    code, again, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--json")
    assert code == 0
    assert json.loads(again) == {
        "project": "shop",
        "stage": "prod",
        "region": "us-east-1",
        "bucket": name,
        "reused": True,
    }


def test_resolve_with_bad_input_exits_2_and_writes_nothing(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "my stage")
    assert code == 2
    assert out == ""
    assert "stage: stage must be 1 to 32 letters" in err
    code, _, err = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--bucket", "Bad_Name")
    assert code == 2
    assert "invalid bucket name 'Bad_Name'" in err
    assert buckets() == []
    assert boto3.client("dynamodb").scan(TableName=cli)["Items"] == []


def test_resolve_without_a_table_says_which_variable_to_set(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    assert code == 2
    assert "THERMOSTAT_TABLE is not set" in err


def test_a_named_bucket_that_loses_is_reported_on_stderr(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    code, out, err = run(
        capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--bucket", "zappa-z9x8c7v6b"
    )
    assert code == 0
    assert out == first
    assert "zappa-z9x8c7v6b is recorded as a stray" in err


def test_list_shows_registered_buckets_and_strays(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, name, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--bucket", "zappa-z9x8c7v6b")
    code, out, _ = run(capsys, "bucket", "list")
    assert code == 0
    assert "registered" in out
    assert name.strip() in out
    assert "zappa-z9x8c7v6b" in out
    code, out, _ = run(capsys, "bucket", "list", "--json")
    document = json.loads(out)
    assert [b["bucket"] for b in document["buckets"]] == [name.strip()]
    assert document["buckets"][0]["state"] == "ready"
    assert [s["bucket"] for s in document["strays"]] == ["zappa-z9x8c7v6b"]


def test_sweep_is_a_dry_run_unless_told_to_delete(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="zappa-emptyaaa1")
    s3.create_bucket(Bucket="zappa-fullbbbb2")
    s3.put_object(Bucket="zappa-fullbbbb2", Key="k", Body=b"x")
    _, registered, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    code, out, _ = run(capsys, "bucket", "sweep")
    assert code == 0
    assert "dry run: nothing deleted (use --delete)" in out
    assert "would delete" in out
    assert "3 buckets of a quota of 10000" in out
    assert len(buckets()) == 3
    code, out, _ = run(capsys, "bucket", "sweep", "--delete", "--json")
    summary = json.loads(out)
    assert summary["deleted"] == ["zappa-emptyaaa1"]
    assert buckets() == sorted([registered.strip(), "zappa-fullbbbb2"])


def test_forget_drops_the_record_but_keeps_the_bucket(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, name, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    code, out, _ = run(capsys, "bucket", "forget", "--project", "shop", "--stage", "prod", "--json")
    assert code == 0
    assert json.loads(out)["bucket"] == name.strip()
    assert buckets() == [name.strip()]
    code, _, err = run(capsys, "bucket", "forget", "--project", "shop", "--stage", "prod")
    assert code == 1
    assert "no bucket is registered for shop/prod in us-east-1" in err


def test_zappa_pin_writes_the_registered_bucket_once(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "zappa_settings.json"
    original = {
        "dev": {"app_function": "app.app", "project_name": "shop", "slim_handler": True, "aws_region": "us-east-1"}
    }
    settings.write_text(json.dumps(original, indent=4) + "\n", encoding="utf-8")
    # When the stage is pinned
    code, out, _ = run(capsys, "zappa", "pin", "--settings", str(settings), "--stage", "dev", "--json")
    assert code == 0
    result = json.loads(out)
    # Then the file names the registered bucket, which exists, and the rest is as it was
    written = json.loads(settings.read_text(encoding="utf-8"))
    assert written == {"dev": {**original["dev"], "s3_bucket": result["bucket"]}}
    assert buckets() == [result["bucket"]]
    assert result["changed"] is True
    assert result["slim_handler"] is True
    # And resolving directly gives the same bucket
    _, resolved, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "dev")
    assert resolved.strip() == result["bucket"]
    # When pinned again: nothing changes, and it says so
    code, out, _ = run(capsys, "zappa", "pin", "--settings", str(settings), "--stage", "dev")
    assert code == 0
    assert "already pinned" in out
    assert json.loads(settings.read_text(encoding="utf-8")) == written


def test_zappa_pin_with_an_unknown_stage_exits_2_and_leaves_the_file(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "zappa_settings.json"
    settings.write_text('{"dev": {"project_name": "shop"}}', encoding="utf-8")
    code, _, err = run(capsys, "zappa", "pin", "--settings", str(settings), "--stage", "prod")
    assert code == 2
    assert "no stage 'prod'; stages in the file: dev" in err
    assert settings.read_text(encoding="utf-8") == '{"dev": {"project_name": "shop"}}'
    assert buckets() == []


def _stage_with_profile(tmp_path: Path, profile: str) -> Path:
    settings = tmp_path / "zappa_settings.json"
    stage = {"project_name": "shop", "aws_region": "us-east-1", "profile_name": profile}
    settings.write_text(json.dumps({"dev": stage}, indent=4) + "\n", encoding="utf-8")
    return settings


def test_zappa_pin_uses_the_stages_profile_name(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a config file with the profile the stage names, and a stage naming one that is not there
    config = tmp_path / "config"
    config.write_text("[profile deployer]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    (tmp_path / "missing").mkdir()
    missing = _stage_with_profile(tmp_path / "missing", "nobody")
    before = missing.read_text(encoding="utf-8")
    # When the stage naming a missing profile is pinned: botocore looked for that profile
    code, out, err = run(capsys, "zappa", "pin", "--settings", str(missing), "--stage", "dev")
    assert code == 2
    assert "nobody" in err
    assert out == ""
    assert missing.read_text(encoding="utf-8") == before
    assert buckets() == []
    # When --profile is given, it beats the stage's profile_name
    code, out, err = run(capsys, "--profile", "deployer", "zappa", "pin", "--settings", str(missing), "--stage", "dev")
    assert code == 0, err
    # And a stage naming the profile that exists pins through it
    present = _stage_with_profile(tmp_path, "deployer")
    code, out, err = run(capsys, "zappa", "pin", "--settings", str(present), "--stage", "dev", "--json")
    assert code == 0, err
    assert json.loads(out)["bucket"] in buckets()


# -- other accounts (the registry is keyed by account; their buckets are reached through the spoke role)

SPOKE = "111111111111"


def _deploy_from(capsys: pytest.CaptureFixture[str], account: str, event_id: str) -> str:
    from handlers import deployment_events, wiring

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:thermostat-deployment-events"
        aws_request_id = event_id

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    wiring.reset()
    event = {
        "id": event_id,
        "source": "thermostat.deployments",
        "detail-type": "Deployment Requested",
        "account": account,
        "detail": {"project": "shop", "stage": "prod"},
    }
    bucket = str(deployment_events.lambda_handler(event, Context())["bucket"])
    wiring.reset()
    capsys.readouterr()  # the handler's log and EMF lines
    return bucket


def test_list_shows_one_account_or_all_of_them(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the same key registered in this account and in a spoke account
    own = _deploy_from(capsys, "123456789012", "evt-own")
    spoke = _deploy_from(capsys, SPOKE, "evt-spoke")

    # Then `bucket list` shows this account's only, `--account` the other's, `--all-accounts` both
    _, out, _ = run(capsys, "bucket", "list", "--json")
    assert [(b["account"], b["bucket"]) for b in json.loads(out)["buckets"]] == [("123456789012", own)]
    _, out, _ = run(capsys, "bucket", "list", "--account", SPOKE, "--json")
    assert [(b["account"], b["bucket"]) for b in json.loads(out)["buckets"]] == [(SPOKE, spoke)]
    code, out, _ = run(capsys, "bucket", "list", "--all-accounts")
    assert code == 0
    assert "ACCOUNT" in out.splitlines()[1]  # the table's header row gets an account column
    assert own in out
    assert spoke in out
    assert f"{SPOKE}" in out


def test_list_with_a_bad_account_exits_2_saying_what_an_account_is(
    cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "bucket", "list", "--account", "1234")
    assert code == 2
    assert out == ""
    assert "account must be a 12-digit AWS account id (got '1234')" in err
    with pytest.raises(SystemExit) as usage:
        run(capsys, "bucket", "list", "--account", SPOKE, "--all-accounts")
    assert usage.value.code == 2
    assert "argument --all-accounts: not allowed with argument --account" in capsys.readouterr().err


def test_sweep_of_another_account_lists_that_account_s_buckets(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a spoke account with its registered bucket and a stray, and a stray in this account
    from handlers import wiring

    spoke = _deploy_from(capsys, SPOKE, "evt-spoke")
    wiring.spokes("123456789012").client("s3", SPOKE, "us-east-1").create_bucket(Bucket="zappa-spokestr1")
    boto3.client("s3").create_bucket(Bucket="zappa-ownstray1")

    # When the spoke account is swept from the CLI
    code, out, _ = run(capsys, "bucket", "sweep", "--account", SPOKE, "--json")

    # Then only its buckets are judged: its stray found, its registered bucket kept
    assert code == 0
    summary = json.loads(out)
    assert [s["bucket"] for s in summary["strays"]] == ["zappa-spokestr1"]
    assert summary["registered"] == 1
    assert summary["bucket_count"] == 2
    assert spoke not in [s["bucket"] for s in summary["strays"]]


def test_resolve_for_another_account_makes_its_bucket_there_once_and_forget_drops_only_that_key(
    cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from handlers import wiring

    # Given a deploy of shop/prod in this account
    _, own, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod")
    # When the same key is resolved for a spoke account, twice
    code, first, err = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--account", SPOKE)
    assert code == 0, err
    _, again, _ = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "prod", "--account", SPOKE)
    # Then the spoke got its own bucket, made in the spoke account (through its role), and reuses it
    assert first == again
    assert first != own
    spoke_s3 = wiring.spokes("123456789012").client("s3", SPOKE, "us-east-1")
    assert first.strip() in [b["Name"] for b in spoke_s3.list_buckets()["Buckets"]]
    _, out, _ = run(capsys, "bucket", "list", "--account", SPOKE, "--json")
    assert [(b["account"], b["bucket"]) for b in json.loads(out)["buckets"]] == [(SPOKE, first.strip())]
    # When the spoke's key is forgotten
    code, out, _ = run(capsys, "bucket", "forget", "--project", "shop", "--stage", "prod", "--account", SPOKE, "--json")
    # Then only its record went; this account's key and both buckets are kept
    assert code == 0
    assert json.loads(out)["bucket"] == first.strip()
    _, out, _ = run(capsys, "bucket", "list", "--all-accounts", "--json")
    assert [(b["account"], b["bucket"]) for b in json.loads(out)["buckets"]] == [("123456789012", own.strip())]
    # And a bad account is refused before anything is written
    code, out, err = run(capsys, "bucket", "resolve", "--project", "shop", "--stage", "dev", "--account", "12ab")
    assert code == 2
    assert out == ""
    assert "account must be a 12-digit AWS account id (got '12ab')" in err
    _, out, _ = run(capsys, "bucket", "list", "--all-accounts", "--json")
    assert len(json.loads(out)["buckets"]) == 1
