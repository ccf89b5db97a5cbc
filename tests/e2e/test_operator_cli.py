"""The operator's day with the CLI (issue 15, items 7-11), against `thermostat local` run as a process.

One stack for the module (it takes a few seconds to start); every command runs as its own
process with the environment `thermostat local env` prints, as a user's shell would after
`eval "$(thermostat local env)"`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.local_process import clean_env, run, serving
from tests.fakes import dead_endpoint

pytestmark = pytest.mark.e2e


def _clean_env() -> dict[str, str]:
    return clean_env(no_aws_config=True)


def thermostat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(*args, env=env)


@pytest.fixture(scope="module")
def stack_env() -> Iterator[dict[str, str]]:
    """A running `thermostat local` and the environment that points at it."""
    with serving(refresh=30, timeout_s=90):
        exported = thermostat(_clean_env(), "local", "env", "--json")
        assert exported.returncode == 0, exported.stderr
        yield {**_clean_env(), **json.loads(exported.stdout)}


def _report(env: dict[str, str]) -> dict[str, Any]:
    done = thermostat(env, "report", "--since", "1h", "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


# -- item 7: --version, --region, --profile --------------------------------------------------


def test_version_prints_the_installed_version() -> None:
    done = thermostat(_clean_env(), "--version")
    assert done.returncode == 0
    from infra.aws import VERSION

    assert done.stdout.strip() == f"thermostat {VERSION}"


def test_region_and_profile_follow_the_aws_cli(stack_env: dict[str, str], tmp_path: Path) -> None:
    # Given a config file whose profile `ops` names eu-west-2, and the stack's keys in the environment
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-2\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = AKIAOPSPROFILE\naws_secret_access_key = secret\n")
    env = {**stack_env, "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    # When the table is created with --profile ops (before the command) and --region (after it)
    by_profile = thermostat(env, "--profile", "ops", "table", "create", "--json")
    by_region = thermostat(env, "table", "create", "--region", "ap-south-1", "--profile", "ops", "--json")
    env_region = thermostat({**env, "AWS_REGION": "eu-central-1"}, "--profile", "ops", "table", "create", "--json")
    # Then the profile's region is used, --region beats it, and AWS_REGION beats the profile's region
    assert by_profile.returncode == 0, by_profile.stderr
    assert json.loads(by_profile.stdout)["region"] == "eu-west-2"
    assert json.loads(by_region.stdout)["region"] == "ap-south-1"
    assert json.loads(env_region.stdout)["region"] == "eu-central-1"
    # And a profile that does not exist is bad input, naming the flag
    missing = thermostat(env, "--profile", "nope", "targets", "list")
    assert missing.returncode == 2
    assert "--profile" in missing.stderr
    assert "nope" in missing.stderr


# -- item 8: what you do by hand is reported ---------------------------------------------------


def test_warm_then_report_shows_the_round(stack_env: dict[str, str]) -> None:
    # Given no keep-warm round recorded yet by hand (the schedule fires every 5 minutes)
    # When the README's one-liner runs
    warmed = thermostat(stack_env, "warm")
    report = _report(stack_env)
    # Then the round's progress went to stderr and the report shows both targets' coverage
    assert warmed.returncode == 0, warmed.stdout + warmed.stderr
    assert "keep-warm round for group 'default'" in warmed.stderr
    assert "recorded in log group /thermostat/cli" in warmed.stderr
    covered = {row["target"]: row for row in report["warm"]}
    assert {"demo-greeter:live", "demo-orders:live"} <= set(covered)
    assert covered["demo-greeter:live"]["last_sent"] == 2
    # And with --json, stdout is one document and stderr holds no progress
    quiet = thermostat(stack_env, "warm", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["group"] == "default"
    assert quiet.stderr == ""


def test_hook_run_then_report_shows_the_verdict(stack_env: dict[str, str]) -> None:
    done = thermostat(stack_env, "hook", "run", "--function", "demo-greeter", "--version", "1", "--concurrency", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    # Progress: the plan, then each invocation as it answers
    assert "warming demo-greeter:1: 2 invocations" in done.stderr
    assert "invocation 2/2 answered" in done.stderr
    hooks = {row["target"]: row for row in _report(stack_env)["hooks"]}
    assert hooks["demo-greeter"]["last_status"] == "Succeeded"
    assert hooks["demo-greeter"]["succeeded"] >= 1


# -- item 9: refuse early what cannot work -----------------------------------------------------


def test_hook_run_on_a_missing_version_checks_once_and_exits_2(stack_env: dict[str, str]) -> None:
    done = thermostat(stack_env, "hook", "run", "--function", "demo-greeter", "--version", "99")
    assert done.returncode == 2, done.stderr
    assert "demo-greeter:99 does not exist" in done.stderr
    assert "invocation" not in done.stderr  # nothing was invoked, no jitter was waited
    missing = thermostat(stack_env, "hook", "run", "--function", "no-such-function", "--version", "1")
    assert missing.returncode == 2
    assert "no-such-function:1 does not exist" in missing.stderr


def test_warm_with_an_unknown_group_or_target_names_the_known_ones(stack_env: dict[str, str]) -> None:
    group = thermostat(stack_env, "warm", "--group", "nightly")
    assert group.returncode == 2
    assert "known groups: default (2 targets)" in group.stderr
    target = thermostat(stack_env, "warm", "--target", "demo-gretter")
    assert target.returncode == 2
    assert "known there: demo-greeter, demo-orders" in target.stderr


def test_targets_add_checks_the_function_and_qualifier(stack_env: dict[str, str]) -> None:
    missing = thermostat(stack_env, "targets", "add", "demo-greeter", "--qualifier", "canary", "--group", "checks")
    assert missing.returncode == 2
    assert "demo-greeter:canary does not exist" in missing.stderr
    assert "--no-check" in missing.stderr
    listed = thermostat(stack_env, "targets", "list", "--group", "checks", "--json")
    assert json.loads(listed.stdout)["targets"] == []  # nothing stored
    skipped = thermostat(
        stack_env, "targets", "add", "demo-greeter", "--qualifier", "canary", "--group", "checks", "--no-check"
    )
    assert skipped.returncode == 0, skipped.stderr
    removed = thermostat(stack_env, "targets", "remove", "demo-greeter", "--qualifier", "canary")
    assert removed.returncode == 0, removed.stderr


def test_a_payload_target_explains_fewer_environments_and_shows_no_hold(stack_env: dict[str, str]) -> None:
    # serverless-plugin-warmup's event: the runtime answers it as a ping, but it holds nothing
    payload = json.dumps({"source": "serverless-plugin-warmup"})
    added = thermostat(
        stack_env,
        *("targets", "add", "demo-greeter", "--qualifier", "live", "--group", "payloads"),
        *("--concurrency", "3", "--payload", payload),
    )
    assert added.returncode == 0, added.stderr
    assert "does not hold its environment" in added.stderr
    listed = thermostat(stack_env, "targets", "list", "--group", "payloads")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("payloads"))
    assert row.split()[4] == "-"  # HOLD_MS: nothing holds a custom payload
    warmed = thermostat(stack_env, "warm", "--group", "payloads", "--json")
    # Fewer environments than pings is not a failure for such a target, and when it happens it says why
    assert warmed.returncode == 0, warmed.stdout + warmed.stderr
    (result,) = json.loads(warmed.stdout)["targets"]
    assert result["holds"] is False
    if result["environments"] < result["planned"]:
        assert any("does not hold its environment" in w for w in result["warnings"])
    thermostat(stack_env, "targets", "remove", "demo-greeter", "--qualifier", "live", "--group", "payloads")


# -- item 10: progress on stderr, quiet with --json ---------------------------------------------


def test_payload_put_of_a_large_file_shows_progress(stack_env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 << 20))
    bucket = thermostat(stack_env, "bucket", "resolve", "--project", "payloads", "--stage", "dev", "--json")
    assert bucket.returncode == 0, bucket.stderr
    name = json.loads(bucket.stdout)["bucket"]
    loud = thermostat(stack_env, "payload", "put", str(big), "--bucket", name)
    assert loud.returncode == 0, loud.stderr
    assert "uploading 2.0 MiB" in loud.stderr
    assert "uploaded in" in loud.stderr
    quiet = thermostat(stack_env, "payload", "put", str(big), "--bucket", name, "--json")
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["size"] == 2 << 20


# -- item 11: an unreachable endpoint is not bad credentials ----------------------------------


def test_an_endpoint_nobody_listens_at_says_so_and_what_to_do() -> None:
    env = {
        **_clean_env(),
        "AWS_ENDPOINT_URL": dead_endpoint(),
        "AWS_ACCESS_KEY_ID": "thermostat-local",
        "AWS_SECRET_ACCESS_KEY": "thermostat-local",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "THERMOSTAT_TABLE": "thermostat-local",
    }
    for command in (("targets", "list"), ("report", "--since", "1h"), ("warm",)):
        done = thermostat(env, *command)
        assert done.returncode == 1, (command, done.stderr)
        assert "nothing is listening" in done.stderr, (command, done.stderr)
        assert "Is `thermostat local` running?" in done.stderr
        assert 'eval "$(thermostat local env)"' in done.stderr
        assert "Traceback" not in done.stderr


def test_missing_credentials_are_named_as_such(tmp_path: Path) -> None:
    env = {**_clean_env(), "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": dead_endpoint(), "AWS_MAX_ATTEMPTS": "1"}
    done = thermostat(env, "report", "--since", "1h")
    assert done.returncode == 1
    assert "no AWS credentials found" in done.stderr
    assert "nothing is listening" not in done.stderr
