"""``thermostat import``: peers' configuration files become keep-warm targets in the real store (moto server).

The fixtures in ``tests/fixtures/peers/`` are in the shapes the peers document:

* serverless-plugin-warmup: https://github.com/juanjoDiaz/serverless-plugin-warmup/blob/main/README.md
  ("Configuration": several warmers, ``events`` schedules, ``enabled`` as a boolean, a stage or a list of
  stages, per-function overrides) and, for the legacy single-warmer form, the README at
  https://github.com/juanjoDiaz/serverless-plugin-warmup/blob/01960331fe5e1f5128612b4f1d4643e5bccff028/README.md;
* Zappa: https://github.com/zappa/Zappa/blob/master/README.md ("Advanced Settings": ``keep_warm``, default
  true; ``keep_warm_expression``, default ``rate(4 minutes)``; ``extends``);
* lambda-warmer: https://github.com/jeremydaly/lambda-warmer/blob/master/README.md ("Warming your Lambda
  functions": the rule's constant input ``{ "warmer":true,"concurrency":3 }``; "Setting multiple targets":
  an array of such events, each with its ``target``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers import wiring
from handlers.cli import main

pytestmark = pytest.mark.integration

PEERS = Path(__file__).resolve().parents[1] / "fixtures" / "peers"
SERVERLESS = PEERS / "serverless-warmup.yml"


@pytest.fixture
def cli(moto_server: str, table: str, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    wiring.reset()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    wiring.reset()


def stored(cli: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    code, out, err = cli("targets", "list", "--json")
    assert code == 0, err
    return {(t["group"], t["function"], t["qualifier"]): t for t in json.loads(out)["targets"]}


def imported(cli: Any, *argv: str) -> dict[str, Any]:
    code, out, err = cli("import", *argv, "--json")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


# ---------------------------------------------------------------------------------------------
# serverless-plugin-warmup


def test_serverless_dry_run_writes_nothing_and_apply_writes_the_stage_s_targets(cli) -> None:
    # Given serverless-plugin-warmup's documented warmers and overrides, for stage dev (provider.stage's default)
    # When imported without --apply
    plan = imported(cli, "serverless", str(SERVERLESS))

    # Then the plan names the targets, and the store is still empty
    assert plan["applied"] is False
    assert stored(cli) == {}
    assert {t["action"] for t in plan["targets"]} == {"create"}

    # When applied
    plan = imported(cli, "serverless", str(SERVERLESS), "--apply")

    # Then exactly the functions the plugin would warm on dev are targets, with its settings
    targets = stored(cli)
    assert set(targets) == {
        ("office-hours-warmer", "orders-dev-myColdfunction", "live"),
        ("office-hours-warmer", "orders-dev-myLowConcurrencyFunction", "live"),
        ("office-hours-warmer", "orders-dev-devstaging", "live"),  # name: ${self:service}-${sls:stage}-devstaging
        ("default", "orders-dev-myLowConcurrencyFunction", "live"),
        ("default", "orders-dev-devstaging", "live"),
    }
    office = targets[("office-hours-warmer", "orders-dev-myColdfunction", "live")]
    assert office["concurrency"] == 10
    # the plugin's default payload is kept: the peer's code and @warmable both answer it during the move
    assert office["payload"] == {"source": "serverless-plugin-warmup"}
    low = targets[("default", "orders-dev-myLowConcurrencyFunction", "live")]
    assert (low["concurrency"], low["payload"]) == (1, {"source": "different-source-only-for-this-lambda"})
    devstaging = targets[("default", "orders-dev-devstaging", "live")]
    assert (devstaging["concurrency"], devstaging["payload"]) == (5, {"source": "my-custom-source", "other": 20})

    # And what did not become a target says why
    skipped = {(s["function"], s["reason"]) for s in plan["skipped"]}
    assert ("orders-dev-myColdfunction", "warmer default is not enabled for stage 'dev'") in skipped
    assert ("orders-dev-myProductionOnlyFunction", "warmer officeHoursWarmer is not enabled for stage 'dev'") in skipped
    assert ("orders-dev-reports", "functions.reports.warmup is false") in skipped
    dropped = {n["source"]: n["reason"] for n in plan["not_carried_over"]}
    for option in ("memorySize", "name", "role", "vpc", "timeout", "verbose", "logRetentionInDays"):
        assert any(source.endswith(f".{option}") for source in dropped), option
    assert "thermostat warm --group default" in dropped["custom.warmup.default.prewarm"]
    assert "client context" in dropped["custom.warmup.default.clientContext"]
    # And the schedules are reported per group; none of them is one the stack already runs for its group
    schedules = {(s["group"], s["expression"]): s for s in plan["schedules"]}
    assert ("office-hours-warmer", "cron(0/5 8-17 ? * MON-FRI *)") in schedules
    assert len([key for key in schedules if key[0] == "out-of-office-hours-warmer"]) == 3
    assert schedules[("default", "rate(5 minutes)")]["stack_schedule"] is True


def test_serverless_stage_specific_warmers_and_enabled_by_stage(cli) -> None:
    # Given the same file, for stage prod
    imported(cli, "serverless", str(SERVERLESS), "--stage", "prod", "--apply")

    # Then the prod-only warmer warms every function it is not switched off for, the dev/staging function is out
    targets = stored(cli)
    groups: dict[str, set[str]] = {}
    for group, function, _ in targets:
        groups.setdefault(group, set()).add(function)
    assert groups["out-of-office-hours-warmer"] == {
        "orders-prod-myColdfunction",
        "orders-prod-myLowConcurrencyFunction",
        "orders-prod-myProductionOnlyFunction",
        "orders-prod-devstaging",  # the function's override does not name this warmer: the warmer's own enabled
    }
    assert "orders-prod-myProductionOnlyFunction" in groups["default"]
    assert "orders-prod-devstaging" not in groups["default"]
    assert "orders-prod-reports" not in {f for _, f, _ in targets}


def test_serverless_apply_twice_is_unchanged_and_a_changed_file_replaces(cli, tmp_path: Path) -> None:
    imported(cli, "serverless", str(SERVERLESS), "--apply")
    again = imported(cli, "serverless", str(SERVERLESS), "--apply")
    assert {t["action"] for t in again["targets"]} == {"unchanged"}

    changed = tmp_path / "serverless.yml"
    changed.write_text(SERVERLESS.read_text().replace("concurrency: 10", "concurrency: 12"))
    plan = imported(cli, "serverless", str(changed))
    actions = {(t["group"], t["function"]): t["action"] for t in plan["targets"]}
    assert actions[("office-hours-warmer", "orders-dev-myColdfunction")] == "replace"
    assert actions[("default", "orders-dev-devstaging")] == "unchanged"


def test_serverless_legacy_single_warmer_form(cli) -> None:
    plan = imported(cli, "serverless", str(PEERS / "serverless-warmup-legacy.yml"), "--qualifier", "live", "--apply")
    assert set(stored(cli)) == {("default", "shop-prod-api", "live")}
    assert stored(cli)[("default", "shop-prod-api", "live")]["concurrency"] == 3
    assert [(s["group"], s["expression"]) for s in plan["schedules"]] == [("default", "rate(10 minutes)")]
    assert ("shop-prod-admin", "warmer default is not enabled for stage 'prod'") in {
        (s["function"], s["reason"]) for s in plan["skipped"]
    }


def test_serverless_group_option_puts_every_target_in_one_group(cli) -> None:
    legacy = str(PEERS / "serverless-warmup-legacy.yml")
    imported(cli, "serverless", legacy, "--qualifier", "live", "--group", "office-hours", "--apply")
    assert set(stored(cli)) == {("office-hours", "shop-prod-api", "live")}


def test_serverless_one_group_for_two_warmers_that_disagree_is_refused_whole(cli) -> None:
    # Given two warmers warming one function with different settings, both sent to one group
    code, _, err = cli("import", "serverless", str(SERVERLESS), "--group", "office-hours", "--apply")

    # Then the clash is named and nothing at all is written
    assert code == 2
    assert "orders-dev-myLowConcurrencyFunction:live in group 'office-hours' is also set by" in err
    assert stored(cli) == {}


def test_serverless_unqualified_warmer_needs_a_qualifier_and_nothing_is_half_imported(cli) -> None:
    # Given a file where one warmer names an alias and another warms $LATEST
    code, _, err = cli("import", "serverless", str(PEERS / "serverless-warmup-legacy.yml"), "--apply")

    # Then the whole import is refused with what to do, and no target was written
    assert code == 2
    assert "$LATEST" in err
    assert "--qualifier" in err
    assert stored(cli) == {}


def test_serverless_bad_input_exits_2_with_every_problem_and_writes_nothing(cli, tmp_path: Path) -> None:
    broken = tmp_path / "serverless.yml"
    broken.write_text(
        "service: svc\n"
        "custom:\n  warmup:\n    default:\n      enabled: true\n      alias: live\n"
        "      events:\n        - schedule: rate(5 minutez)\n"
        "    second:\n      enabled: true\n      alias: live\n      concurrency: 5000\n"
        "functions:\n  ok:\n    handler: h\n"
        "  typo:\n    handler: h\n    warmup:\n      nosuchwarmer:\n        enabled: true\n"
        "  fromssm:\n    name: ${ssm:/names/fn}\n    handler: h\n"
    )
    code, _, err = cli("import", "serverless", str(broken), "--apply")
    assert code == 2
    assert "rate(5 minutez)" in err
    assert "concurrency" in err
    assert "nosuchwarmer" in err
    assert "${ssm:/names/fn}" in err
    assert stored(cli) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service: [unclosed\n", "not valid YAML"),
        ("- a list\n", "mapping at the top level"),
        ("service: svc\nfunctions: {}\n", "no custom.warmup"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_serverless_unreadable_files_exit_2(cli, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "serverless.yml"
    path.write_text(text)
    code, _, err = cli("import", "serverless", str(path))
    assert code == 2
    assert message in err
    code, _, err = cli("import", "serverless", str(tmp_path / "missing.yml"))
    assert (code, "no such file" in err) == (2, True)


def test_serverless_human_output_lists_schedules_and_what_does_not_carry_over(cli) -> None:
    code, out, err = cli("import", "serverless", str(SERVERLESS))
    assert code == 0, err
    assert "dry run (--apply writes)" in out
    assert "would create" in out
    assert 'add a rule with input {"group": "office-hours-warmer"}' in out
    assert "not carried over" in out
    assert "not warmed by the peer" in out


# ---------------------------------------------------------------------------------------------
# Zappa


def test_zappa_keep_warm_becomes_one_target_with_zappa_s_own_event(cli, tmp_path: Path) -> None:
    from zappa.core import Zappa

    settings = tmp_path / "orders-api" / "zappa_settings.json"
    settings.parent.mkdir()
    shutil.copy(PEERS / "zappa_settings.json", settings)
    plan = imported(cli, "zappa", str(settings), "--stage", "production", "--qualifier", "live", "--apply")

    [(key, target)] = stored(cli).items()
    assert key == ("default", "orders-api-production", "live")
    assert target["concurrency"] == 1
    # The rule name is Zappa's own (its Zappa.get_scheduled_event_name, as `zappa schedule` names the rule)
    rule = Zappa(load_credentials=False).get_scheduled_event_name(
        {"name": "zappa-keep-warm"}, "handler.keep_warm_callback", "orders-api-production"
    )
    assert target["payload"]["resources"] == [f"arn:aws:events:eu-central-1:123456789012:rule/{rule}"]
    assert target["payload"]["detail-type"] == "Scheduled Event"
    assert [(s["group"], s["expression"]) for s in plan["schedules"]] == [("default", "rate(4 minutes)")]
    assert [n["source"] for n in plan["not_carried_over"]] == ["production.events"]


def test_zappa_payload_is_recognised_as_a_ping_by_the_runtime_module(cli, tmp_path: Path) -> None:
    from thermostat_runtime.protocol import detect_ping

    imported(cli, "zappa", str(PEERS / "zappa_settings.json"), "--stage", "staging", "--qualifier", "7", "--apply")
    [target] = stored(cli).values()
    assert target["function"] == "orders-api-staging"
    ping = detect_ping(target["payload"])
    assert ping is not None
    assert ping.peer == "zappa"


def test_zappa_long_names_are_hashed_as_zappa_hashes_them(cli, tmp_path: Path) -> None:
    from zappa.core import Zappa

    settings = tmp_path / "zappa_settings.json"
    settings.write_text(json.dumps({"production": {"project_name": "a-very-long-project-name-for-orders"}}))
    imported(cli, "zappa", str(settings), "--stage", "production", "--qualifier", "live", "--apply")
    [target] = stored(cli).values()
    lambda_name = "a-very-long-project-name-for-orders-production"
    rule = Zappa(load_credentials=False).get_scheduled_event_name(
        {"name": "zappa-keep-warm"}, "handler.keep_warm_callback", lambda_name
    )
    assert target["payload"]["resources"][0].endswith(f":rule/{rule}")
    assert not rule.startswith("a-very")  # too long for a rule name: Zappa hashes the function's name


def test_zappa_keep_warm_false_imports_nothing_and_says_so(cli) -> None:
    plan = imported(cli, "zappa", str(PEERS / "zappa_settings.json"), "--stage", "dev", "--apply")
    assert plan["targets"] == []
    assert "keep_warm is false" in plan["skipped"][0]["reason"]
    assert stored(cli) == {}


def test_zappa_without_a_qualifier_or_with_an_unknown_stage_exits_2(cli) -> None:
    code, _, err = cli("import", "zappa", str(PEERS / "zappa_settings.json"), "--stage", "production", "--apply")
    assert code == 2
    assert "--qualifier" in err
    code, _, err = cli("import", "zappa", str(PEERS / "zappa_settings.json"), "--stage", "qa")
    assert code == 2
    assert "no stage 'qa'" in err
    assert stored(cli) == {}


# ---------------------------------------------------------------------------------------------
# lambda-warmer


def test_lambda_warmer_array_file_warms_each_target(cli) -> None:
    plan = imported(
        cli,
        "lambda-warmer",
        str(PEERS / "lambda-warmer-targets.json"),
        "--function",
        "myFunction",
        "--qualifier",
        "live",
        "--schedule",
        "rate(5 minutes)",
        "--apply",
    )
    targets = stored(cli)
    assert {(f, q): t["concurrency"] for (_, f, q), t in targets.items()} == {
        ("myOtherFunction", "live"): 1,
        ("myOtherFunction2", "live"): 2,
        ("myOtherFunction3", "live"): 2,
    }
    assert {t["payload"] == {"warmer": True} for t in targets.values()} == {True}
    assert plan["schedules"][0]["stack_schedule"] is True


def test_lambda_warmer_rule_read_from_eventbridge(cli, moto_server: str) -> None:
    # Given lambda-warmer's rule, as its README sets it up: a schedule with a constant input per target
    events = boto3.client("events", endpoint_url=moto_server)
    events.put_rule(Name="warm-orders", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    events.put_targets(
        Rule="warm-orders",
        Targets=[
            {"Id": "orders", "Arn": f"{arn}:live", "Input": '{ "warmer":true,"concurrency":3 }'},
            {"Id": "reports", "Arn": f"{arn.replace('orders', 'reports')}", "Input": '{"warmer": true}'},
        ],
    )

    # When imported from the rule with a qualifier for the unqualified target
    plan = imported(cli, "lambda-warmer", "--rule", "warm-orders", "--qualifier", "7", "--apply")

    # Then each target of the rule is a keep-warm target (the ARN's qualifier wins over --qualifier)
    targets = stored(cli)
    assert set(targets) == {("default", arn, "live"), ("default", arn.replace("orders", "reports"), "7")}
    assert targets[("default", arn, "live")]["concurrency"] == 3
    assert plan["schedules"] == [
        {
            "group": "default",
            "expression": "rate(5 minutes)",
            "enabled": True,
            "source": "rule warm-orders",
            "stack_schedule": True,
        }
    ]


def test_lambda_warmer_bad_inputs_exit_2_and_write_nothing(cli, tmp_path: Path, moto_server: str) -> None:
    custom = tmp_path / "input.json"
    custom.write_text('{"warmer": true, "concurrency": 2, "myFlag": 1}')
    code, _, err = cli("import", "lambda-warmer", str(custom), "--function", "f", "--qualifier", "live")
    assert code == 2
    assert "myFlag" in err

    unqualified = tmp_path / "plain.json"
    unqualified.write_text('{"warmer": true}')
    code, _, err = cli("import", "lambda-warmer", str(unqualified), "--function", "f", "--apply")
    assert code == 2
    assert "$LATEST" in err

    code, _, err = cli("import", "lambda-warmer", "--rule", "no-such-rule")
    assert code == 1
    assert "no EventBridge rule 'no-such-rule'" in err
    assert stored(cli) == {}
