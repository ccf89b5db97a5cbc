"""The keep-warm handler's edges: the event, the time budget, metrics and logs (no network)."""

from __future__ import annotations

import json

import pytest

from domain.errors import InvalidInput
from domain.keep_warm import RoundReport, TargetReport
from handlers import keep_warm as handler
from infra.settings import load_settings
from tests.emf import emf_documents, emf_problems
from tests.fakes import RemainingTimeContext
from tests.unit.test_keep_warm import FakeClock, FakeFleet, FakeFunction, FakeStore, target

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("fresh_wiring")]


def test_the_schedule_input_is_parsed() -> None:
    assert handler.parse_event({"group": "office-hours"}).group == "office-hours"
    assert handler.parse_event({}).group == "default"
    assert handler.parse_event({"group": "default", "target": "api"}).target == "api"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"group": "Office"}, "group"),
        ({"group": "default", "extra": 1}, "extra"),
        (
            {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"},
            'constant input {"group": "…"}',
        ),
        ("default", "constant input"),
        (None, "constant input"),
    ],
)
def test_a_wrong_event_says_what_the_schedule_must_send(event: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        handler.parse_event(event)
    assert message in str(caught.value)


def test_the_time_budget_keeps_a_margin_for_the_report() -> None:
    clock = FakeClock()
    assert handler._deadline(RemainingTimeContext(60_000), clock).remaining_s() == pytest.approx(58.0)
    assert handler._deadline(RemainingTimeContext(3_000), clock).remaining_s() == pytest.approx(2.7)
    assert handler._deadline(RemainingTimeContext(1_000), clock).remaining_s() == pytest.approx(0.8)
    assert handler._deadline(object(), clock).remaining_or_none() is None


def test_run_keep_warm_wires_settings_into_the_round() -> None:
    # Given settings with a cap of 3 and fakes for the store, the invoker and the configuration
    settings = load_settings({"THERMOSTAT_MAX_IN_FLIGHT": "3", "THERMOSTAT_PAYLOAD_BUCKETS": "payloads"})
    fleet = FakeFleet(FakeFunction("api"), FakeFunction("b"))
    store = FakeStore(
        target("api", concurrency=5),
        target("b", payloadS3="s3://other/p.json"),
    )
    # When a round runs
    report = handler.run_keep_warm(
        "default", settings=settings, store=store, invoker=fleet, config=fleet, clock=FakeClock(), round_id="r1"
    )
    # Then the cap applies, and the bucket allow-list comes from THERMOSTAT_PAYLOAD_BUCKETS
    api, b = report.targets
    assert (api.sent, api.capped_by, report.max_in_flight) == (3, "max_in_flight", 3)
    assert "(allowed: payloads)" in (b.error or "")


def _report() -> RoundReport:
    return RoundReport(
        group="default",
        targets=[
            TargetReport(function="api", qualifier="live", group="default", concurrency=3, sent=3, environments=3),
            TargetReport(
                function="legacy",
                qualifier="7",
                group="default",
                concurrency=2,
                sent=2,
                environments=None,
                unknown_environments=2,
            ),
            TargetReport(function="off", qualifier="live", group="default", concurrency=1, skipped="disabled"),
            TargetReport(
                function="hot", qualifier="live", group="default", concurrency=2, sent=2, environments=0, throttled=2
            ),
        ],
    )


def test_metrics_one_valid_emf_document_per_pinged_target(capsys) -> None:
    handler.publish_report_metrics(_report())
    documents = emf_documents(capsys.readouterr().out.splitlines())
    assert all(emf_problems(d) == [] for d in documents)
    per_target = {d["function"]: d for d in documents if "function" in d}
    assert set(per_target) == {"api", "legacy", "hot"}  # a disabled target sends nothing
    assert per_target["api"]["WarmEnvironments"] == [3.0]
    assert "WarmEnvironments" not in per_target["legacy"]  # unknown is no data point, not zero
    assert per_target["hot"]["WarmThrottles"] == [2.0]
    assert {(d["group"], d["qualifier"]) for d in per_target.values()} == {("default", "live"), ("default", "7")}
    assert len(documents) == 3  # no group totals: a SUM over the namespace would count every ping twice


def test_a_large_report_is_logged_in_parts_under_the_log_event_limit(capsys, monkeypatch) -> None:
    monkeypatch.setattr(handler, "MAX_LOG_LINE_BYTES", 600)
    handler.log_report(_report())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"keep-warm round"' in line]
    assert len(lines) > 1
    assert {line["parts"] for line in lines} == {len(lines)}
    functions = [t["function"] for line in lines for t in line["report"]["targets"]]
    assert functions == ["api", "legacy", "off", "hot"]  # every target once, in order
    assert all(line["report"]["group"] == "default" for line in lines)


# -- configuration changes forget the container's facts ------------------------------------------


def _config_change(**detail: object) -> dict[str, object]:
    from pathlib import Path

    sample = Path(__file__).parents[2] / "serverless/events/cloudtrail-put-function-concurrency.json"
    event: dict[str, object] = json.loads(sample.read_text(encoding="utf-8"))
    event["detail"] = {**event["detail"], **detail}  # type: ignore[dict-item]
    return event


def test_a_configuration_change_event_forgets_that_functions_facts_in_this_container(monkeypatch) -> None:
    from domain.keep_warm import FunctionFacts
    from handlers import wiring

    # Given facts cached for two qualifiers of orders-api and one of another function (a burst of 3 fetches)
    monkeypatch.setenv("THERMOSTAT_LOOKUP_BURST", "9")
    cache = wiring.container_facts()
    assert cache.bucket.burst == 9
    source = FakeFleet(FakeFunction("orders-api"), FakeFunction("billing"))
    lookups = cache.for_round(source, 0.0)
    for function, qualifier in (("orders-api", "live"), ("orders-api", "7"), ("billing", "live")):
        assert isinstance(lookups.describe(function, qualifier), FunctionFacts)

    # When CloudTrail's PutFunctionConcurrency event for orders-api arrives (through EventBridge)
    answer = handler.lambda_handler(_config_change(), RemainingTimeContext(10_000))

    # Then both of its entries are forgotten and the other function's stay
    assert answer == {"invalidated": "orders-api", "entries": 2}
    assert cache.cached("orders-api", "live") is None
    assert cache.cached("billing", "live") is not None


@pytest.mark.parametrize(
    ("event_name", "expected"),
    [
        ("PutProvisionedConcurrencyConfig", "orders-api"),
        ("DeleteProvisionedConcurrencyConfig", "orders-api"),
        ("DeleteFunctionConcurrency20171031", "orders-api"),
        ("UpdateFunctionConfiguration20150331v2", "orders-api"),
        ("PublishVersion20150331", "orders-api"),
        ("GetFunctionConcurrency20171031", None),  # a read changes nothing
    ],
)
def test_the_config_changes_recognised_are_the_ones_the_rule_routes(event_name: str, expected: str | None) -> None:
    assert handler.config_change_of(_config_change(eventName=event_name)) == expected


def test_a_failed_change_is_ignored_and_a_change_naming_no_function_is_an_error() -> None:
    assert handler.config_change_of(_config_change(errorCode="ResourceConflictException")) is None
    assert handler.config_change_of({"group": "default"}) is None
    with pytest.raises(InvalidInput, match=r"names no requestParameters\.functionName"):
        handler.config_change_of(_config_change(requestParameters={}))


class SizingStore(FakeStore):
    """A store that keeps round decisions (as the table's does), or fails to."""

    def __init__(self, *targets: object, fail: bool = False) -> None:
        super().__init__(*targets)  # type: ignore[arg-type]
        self.decisions: list[tuple[str, str, str, int, str, int]] = []
        self.fail = fail

    def record_sizing(self, function: str, qualifier: str, group: str, n: int, reason: str, at_ms: int) -> bool:
        if self.fail:
            raise RuntimeError("table unreachable")
        self.decisions.append((function, qualifier, group, n, reason, at_ms))
        return True


def _auto_round(store: SizingStore) -> RoundReport:
    from domain.keep_warm.auto import AutoSizer
    from tests.unit.test_keep_warm_auto import NOW, FakeHistory, WallClock

    settings = load_settings({"THERMOSTAT_MAX_IN_FLIGHT": "8"})
    fleet = FakeFleet(FakeFunction("api"))
    sizer = AutoSizer(FakeHistory({"api": [3, 2]}), WallClock(NOW))
    return handler.run_keep_warm(
        "default", settings=settings, store=store, invoker=fleet, config=fleet, clock=FakeClock(), sizer=sizer
    )


def test_an_auto_decision_is_kept_on_the_target_and_published_as_warm_auto_n(capsys) -> None:
    from tests.unit.test_keep_warm_auto import NOW

    # Given an auto target whose history says 3
    store = SizingStore(target("api", concurrency="auto"))
    # When the handler runs a round
    report = _auto_round(store)
    # Then the decision is stored for the next round and `targets list`
    reason = "p90 of 2 weekly peaks at this hour = 3 (cloudwatch)"
    assert store.decisions == [("api", "live", "default", 3, reason, NOW)]
    # And the EMF document carries the N as WarmAutoN and the reason as a field
    handler.publish_report_metrics(report)
    [document] = emf_documents(capsys.readouterr().out.splitlines())
    assert emf_problems(document) == []
    assert (document["WarmAutoN"], document["auto_reason"]) == ([3.0], reason)


def test_a_failure_to_keep_the_decision_is_logged_not_fatal() -> None:
    report = _auto_round(SizingStore(target("api", concurrency="auto"), fail=True))
    [row] = report.targets
    assert row.auto is not None
    assert (row.auto.n, row.environments) == (3, 3)
