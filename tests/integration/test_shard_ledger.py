"""DynamoShardLedger on the thermostat table (moto in-process): a shard counted once, one aggregate per round."""

from __future__ import annotations

import pytest

from domain.keep_warm.reports import RoundReport, TargetReport
from domain.keep_warm.shard_reports import ShardReport, ShardStatus
from domain.keep_warm.shards import ShardPolicy, plan_round
from domain.targets import make_target
from infra.shard_ledger import DynamoShardLedger

pytestmark = pytest.mark.integration

OWN = ("123456789012", "us-east-1")
OTHER = "111111111111"


@pytest.fixture
def ledger(moto_aws: None, table: str) -> DynamoShardLedger:
    return DynamoShardLedger(table, "us-east-1")


def _plan(round_id: str = "0000000000001-aaaa"):
    targets = [make_target(function=f"own-{i}", qualifier="live", concurrency=2) for i in range(4)]
    targets += [make_target(function=f"far-{i}", qualifier="live", concurrency=2, account=OTHER) for i in range(2)]
    return plan_round(round_id, "default", targets, ShardPolicy(max_targets=2, max_in_flight=8), own=OWN)


def _ran(shard, sent: int = 2, not_attempted: int = 0) -> ShardReport:
    report = RoundReport(
        group="default",
        targets=[
            TargetReport(
                function=key.split("#")[1],
                qualifier="live",
                group="default",
                concurrency=2,
                planned=2,
                sent=sent,
                environments=sent,
                not_attempted=not_attempted,
                account=shard.account,
            )
            for key in shard.keys
        ],
        sent=sent * len(shard.keys),
    )
    return ShardReport.of_round(shard, report)


def test_a_shard_delivered_twice_is_counted_once_and_the_round_is_aggregated_once(ledger: DynamoShardLedger) -> None:
    # Given a round of three shards (two in the own account, one in another)
    plan = _plan()
    assert [s.place for s in plan.shards] == [(OTHER, "us-east-1"), OWN, OWN]
    ledger.open(plan, at_ms=1_000, finalise_after_ms=900_000)
    first, second, third = plan.shards
    # When the first shard reports twice (a duplicate delivery), the second one differently
    assert ledger.record(_ran(first), at_ms=1_100) == 1
    assert ledger.record(_ran(first, sent=0), at_ms=1_200) is None
    assert ledger.is_recorded(plan.round_id, first.index)
    assert ledger.record(_ran(second), at_ms=1_300) == 2
    # Then the round is not final while a shard is out and its time has not passed
    assert ledger.finalise("default", plan.round_id, now_ms=2_000) is None
    assert ledger.record(_ran(third), at_ms=1_400) == 3
    report = ledger.finalise("default", plan.round_id, now_ms=2_000)
    assert report is not None
    assert report.complete
    # The first report was kept: 2 pings per target, 6 targets
    assert report.sent == 12
    assert [(p.account, p.shards, p.targets, p.sent) for p in report.places] == [
        (OTHER, 1, 2, 4),
        (OWN[0], 2, 4, 8),
    ]
    # And a second finaliser (a late duplicate, the next scheduled round) does nothing
    assert ledger.finalise("default", plan.round_id, now_ms=3_000, force=True) is None
    latest = ledger.latest("default")
    assert latest is not None
    assert (latest.round_id, latest.sent) == (plan.round_id, 12)
    assert latest.targets == []  # the aggregate item keeps the totals; the shards keep the targets
    assert ledger.unfinished("default") == []


def test_lost_failed_and_timed_out_shards_are_listed_in_the_one_round_report(ledger: DynamoShardLedger) -> None:
    plan = _plan("0000000000002-bbbb")
    ledger.open(plan, at_ms=1_000, finalise_after_ms=60_000)
    far, own_a, _own_lost = plan.shards
    refused = "cannot assume the spoke role arn:aws:iam::111111111111:role/thermostat-spoke (AccessDenied)"
    ledger.record(ShardReport.failure(far, refused, attempts=1), at_ms=1_100)
    ledger.record(_ran(own_a, sent=1, not_attempted=1), at_ms=1_200)
    assert ledger.unfinished("default") == [plan.round_id]
    # Before the deadline: the lost shard may still come
    assert ledger.finalise("default", plan.round_id, now_ms=59_999) is None
    report = ledger.finalise("default", plan.round_id, now_ms=60_000)
    assert report is not None
    assert not report.complete
    assert [(line.index, line.status) for line in report.shards] == [
        (0, ShardStatus.FAILED),
        (1, ShardStatus.TIMED_OUT),
        (2, ShardStatus.MISSING),
    ]
    assert [line.index for line in report.failed] == [0, 1, 2]
    far_place, own_place = report.places
    assert (far_place.shards_failed, far_place.error) == (1, refused)
    assert (own_place.shards_timed_out, own_place.shards_missing, own_place.sent) == (1, 1, 2)
    # A shard that reports after the round was finalised is kept, but the round is not reopened
    assert ledger.record(_ran(plan.shards[2]), at_ms=70_000) == 3
    assert ledger.finalise("default", plan.round_id, now_ms=70_001) is None
