"""``thermostat targets add|list|remove`` and ``thermostat warm``, on moto server and a local Lambda endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from handlers import wiring
from handlers.cli import main
from infra.settings import get_settings
from infra.target_store import PK, TargetRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch, capsys) -> Iterator[Any]:
    functions = [
        SimulatedFunction("api"),
        SimulatedFunction("legacy", speaks_protocol=False),
        SimulatedFunction("broken", function_error=True),
    ]
    with LambdaEndpoint(functions) as lam:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.url)
        monkeypatch.setenv("THERMOSTAT_PAYLOAD_BUCKETS", "allowed-payloads")
        wiring.reset()

        def run(*argv: str) -> tuple[int, str, str]:
            code = main(list(argv))
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        yield run
    wiring.reset()


def stored(cli: Any) -> list[dict[str, Any]]:
    code, out, _ = cli("targets", "list", "--json")
    assert code == 0
    targets: list[dict[str, Any]] = json.loads(out)["targets"]
    return targets


def test_add_list_and_remove_a_target(cli) -> None:
    code, out, _ = cli("targets", "add", "api", "--qualifier", "live", "--concurrency", "3", "--group", "office-hours")
    assert code == 0
    assert "api" in out
    assert "office-hours" in out
    [target] = stored(cli)
    assert (target["function"], target["qualifier"], target["concurrency"], target["group"]) == (
        "api",
        "live",
        3,
        "office-hours",
    )
    code, out, _ = cli("targets", "list", "--group", "office-hours")
    assert code == 0
    assert "CONCURRENCY" in out
    assert cli("targets", "list", "--group", "default")[1].strip().endswith("(none)")
    code, out, _ = cli("targets", "remove", "api", "--qualifier", "live")
    assert code == 0
    assert "office-hours" in out
    assert stored(cli) == []


def test_add_with_a_payload_and_json_output(cli) -> None:
    code, out, _ = cli(
        "targets", "add", "legacy", "--qualifier", "7", "--payload", '{"warmer": true}', "--json", "--no-check"
    )
    assert code == 0
    assert json.loads(out)["payload"] == {"warmer": True}
    code, _, _ = cli(
        "targets", "add", "legacy", "--qualifier", "8", "--payload-s3", "s3://allowed-payloads/w.json", "--no-check"
    )
    assert code == 0
    assert {t["qualifier"]: t["payloadS3"] for t in stored(cli)} == {"7": None, "8": "s3://allowed-payloads/w.json"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["api", "--qualifier", "$LATEST"], "$LATEST"),
        (["api", "--qualifier", "live", "--concurrency", "-1"], "concurrency"),
        (["api", "--qualifier", "live", "--hold-ms", "5000"], "hold_ms"),
        (["api", "--qualifier", "live", "--group", "Office Hours"], "group"),
        (["api:live", "--qualifier", "live"], "--qualifier live"),
        (["api", "--qualifier", "live", "--payload", "{not json"], "--payload is not JSON"),
        (["api", "--qualifier", "live", "--payload", "null"], "--payload null sends nothing"),
        (["api", "--qualifier", ""], "qualifier is required"),
        (["api", "--qualifier", "live", "--payload-s3", "s3://elsewhere/w.json"], "THERMOSTAT_PAYLOAD_BUCKETS"),
        (["api", "--qualifier", "live", "--payload-s3", "https://x/y"], "s3://BUCKET/KEY"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_stores_nothing(cli, argv: list[str], message: str) -> None:
    code, out, err = cli("targets", "add", *argv)
    assert code == 2
    assert message in err
    assert out == ""
    assert stored(cli) == []


def test_payload_and_payload_s3_are_mutually_exclusive(cli) -> None:
    with pytest.raises(SystemExit) as caught:
        cli("targets", "add", "api", "--qualifier", "live", "--payload", "{}", "--payload-s3", "s3://a-b/c")
    assert caught.value.code == 2
    assert stored(cli) == []


def test_removing_a_missing_target_fails_with_a_hint(cli) -> None:
    cli("targets", "add", "api", "--qualifier", "live")
    code, _, err = cli("targets", "remove", "api", "--qualifier", "blue", "--group", "default")
    assert code == 1
    assert "thermostat targets list" in err
    assert len(stored(cli)) == 1


def test_an_invalid_stored_record_is_listed_with_its_error(cli) -> None:
    TargetRecord(
        PK, "default#api#$LATEST", group="default", function="api", qualifier="$LATEST", concurrency=1, hold_ms=0
    ).save()
    [item] = stored(cli)
    assert "$LATEST" in item["error"]
    code, out, _ = cli("targets", "list")
    assert code == 0
    assert "is not valid" in out


def test_warm_runs_a_round_and_prints_its_report(cli) -> None:
    cli("targets", "add", "api", "--qualifier", "live", "--concurrency", "3", "--hold-ms", "200")
    cli("targets", "add", "legacy", "--qualifier", "live", "--concurrency", "2")
    code, out, err = cli("warm", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    by_name = {t["function"]: t for t in report["targets"]}
    assert (by_name["api"]["sent"], by_name["api"]["environments"]) == (3, 3)
    assert by_name["legacy"]["environments"] is None
    code, out, _ = cli("warm", "--target", "legacy")
    assert code == 0
    assert "unknown" in out  # a target outside the protocol: environments unknown, not 0
    assert "api" not in out.split("\n", 1)[1]


def test_warm_exits_1_when_a_target_needs_a_look_but_still_prints_the_report(cli) -> None:
    cli("targets", "add", "broken", "--qualifier", "live", "--concurrency", "2")
    cli("targets", "add", "api", "--qualifier", "live")
    code, out, err = cli("warm")
    assert code == 1
    assert "broken:live" in err
    assert "function_error" in out
    assert "api" in out


def test_warm_for_an_unknown_function_or_a_bad_timeout(cli) -> None:
    # Nothing stored: the group has no targets, which is the user's to fix (exit 2), not a failed round
    code, _, err = cli("warm", "--target", "nobody")
    assert code == 2
    assert "known groups: (none)" in err
    code, _, err = cli("warm", "--timeout", "0")
    assert code == 2
    assert "--timeout" in err
    code, _, err = cli("warm", "--group", "NOPE")
    assert code == 2
    assert "group" in err


def test_without_a_table_the_variable_is_named(cli, monkeypatch) -> None:
    monkeypatch.delenv("THERMOSTAT_TABLE")
    get_settings.cache_clear()
    code, _, err = cli("targets", "list")
    assert code == 2
    assert "THERMOSTAT_TABLE" in err


def test_a_target_in_another_account_and_region(cli) -> None:
    # Given the same function in the own account and in another one
    assert cli("targets", "add", "api", "--qualifier", "live")[0] == 0
    code, out, err = cli(
        "targets", "add", "api", "--qualifier", "live", "--account", "111111111111", "--region", "eu-west-1"
    )
    assert code == 0, err
    assert "checked by its first round" in err
    # Then both are listed, with where they live; --account lists one account's
    places = [(t["account"], t["region"]) for t in stored(cli)]
    assert places == [(None, None), ("111111111111", "eu-west-1")]  # key order: the own one first
    code, out, _ = cli("targets", "list", "--account", "111111111111", "--json")
    assert [(t["function"], t["account"]) for t in json.loads(out)["targets"]] == [("api", "111111111111")]
    code, out, _ = cli("targets", "list")
    assert "111111111111" in out
    assert "eu-west-1" in out
    # When the other account's is removed, the own one stays
    code, _, err = cli(
        "targets", "remove", "api", "--qualifier", "live", "--account", "111111111111", "--region", "eu-west-1"
    )
    assert code == 0, err
    assert [(t["account"], t["region"]) for t in stored(cli)] == [(None, None)]


def test_a_bad_account_is_refused_and_nothing_is_stored(cli) -> None:
    code, _, err = cli("targets", "add", "api", "--qualifier", "live", "--account", "1234")
    assert code == 2
    assert "account '1234' is not an AWS account id (12 digits" in err
    assert stored(cli) == []
