"""``DynamoShardLedger``: a sharded round's plan, its shards' reports and its aggregate, in the thermostat table.

Records (the key design in ``infra/table.py``):

| record | pk | sk |
|---|---|---|
| round plan | ``ROUNDS#{group}`` | ``{round_id}`` (time-ordered: the latest round is the last) |
| shard report | ``ROUND#{round_id}`` | ``SHARD#{index:05d}`` |
| aggregate | ``ROUND#{round_id}`` | ``AGGREGATE`` |

A shard's report is a conditional put (``attribute_not_exists``): a duplicate delivery's report is
refused, so the shard is counted once, with its first report. The round is finalised once
(a conditional update of the plan claims it): by the worker whose report completes the round, or,
for a round with missing shards, by the next scheduled round once ``finalise_after_ms`` has passed.
Reports are stored zlib-compressed (a shard of 200 targets is about 140 KB of JSON; an item holds 400 KB).
Every record expires with the table's TTL after :data:`KEEP_S`.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from typing import Any, Final

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from domain.errors import Unavailable
from domain.keep_warm.shard_reports import ShardedRoundReport, ShardReport, aggregate
from domain.keep_warm.shards import RoundPlan, ShardSummary
from infra import aws
from infra.table import TableModel, bind_table

#: How long a round's records are kept (the report command reads recent rounds).
KEEP_S: Final = 7 * 86_400
AGGREGATE: Final = "AGGREGATE"


def _expiry(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000 + KEEP_S, UTC)


def _pack(document: object) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":"), default=str).encode(), 6)


def _unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(data))


def _summaries(data: bytes) -> list[ShardSummary]:
    return [ShardSummary.model_validate(item) for item in _unpack(data)]


class RoundPlanRecord(TableModel):
    """One sharded round's plan (pk ``ROUNDS#{group}``, sk ``{round_id}``)."""

    group = UnicodeAttribute()
    shards = BinaryAttribute(legacy_encoding=False)  # zlib JSON: ShardSummary list
    planned_at_ms = NumberAttribute()
    finalise_after_ms = NumberAttribute()
    reported = NumberAttribute(default=0)
    aggregated_at_ms = NumberAttribute(null=True)


class ShardRecord(TableModel):
    """One shard's report, or the round's aggregate (pk ``ROUND#{round_id}``)."""

    body = BinaryAttribute(legacy_encoding=False)  # zlib JSON
    status = UnicodeAttribute(null=True)
    account = UnicodeAttribute(null=True)
    recorded_at_ms = NumberAttribute(null=True)


def _shard_sk(index: int) -> str:
    return f"SHARD#{index:05d}"


def _unavailable(what: str, exc: PynamoDBException) -> Unavailable:
    return Unavailable(f"could not {what}: {exc.cause_response_code or exc}")


class DynamoShardLedger:
    """The rounds' ledger on the thermostat table (pynamodb)."""

    def __init__(self, table_name: str, region: str | None = None) -> None:
        bind_table(table_name, region)

    def open(self, plan: RoundPlan, *, at_ms: int, finalise_after_ms: int) -> None:
        """Record ``plan`` before its shards are sent (a round id is used once)."""
        summaries = [shard.summary().model_dump(mode="json") for shard in plan.shards]
        record = RoundPlanRecord(
            f"ROUNDS#{plan.group}",
            plan.round_id,
            group=plan.group,
            shards=_pack(summaries),
            planned_at_ms=at_ms,
            finalise_after_ms=finalise_after_ms,
            reported=0,
            ttl=_expiry(at_ms),
        )
        try:
            record.save(condition=RoundPlanRecord.pk.does_not_exist())
        except PynamoDBException as exc:
            raise _unavailable(f"record the plan of round {plan.round_id}", exc) from exc

    def planned(self, group: str, round_id: str) -> list[ShardSummary] | None:
        """The round's planned shards (None: no such round)."""
        try:
            record = RoundPlanRecord.get(f"ROUNDS#{group}", round_id)
        except RoundPlanRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise _unavailable(f"read the plan of round {round_id}", exc) from exc
        return _summaries(record.shards)

    def is_recorded(self, round_id: str, index: int) -> bool:
        """True when shard ``index`` of ``round_id`` already has a report (a redelivery need not run)."""
        try:
            return ShardRecord.count(f"ROUND#{round_id}", ShardRecord.sk == _shard_sk(index)) > 0
        except PynamoDBException as exc:
            raise _unavailable(f"read shard {index} of round {round_id}", exc) from exc

    def record(self, report: ShardReport, *, at_ms: int) -> int | None:
        """Keep ``report`` unless the shard already has one; how many shards of the round have reported
        now, or None when this one had (a duplicate delivery: not counted again)."""
        record = ShardRecord(
            f"ROUND#{report.round_id}",
            _shard_sk(report.index),
            body=_pack(report.model_dump(mode="json")),
            status=report.status.value,
            account=report.account,
            recorded_at_ms=at_ms,
            ttl=_expiry(at_ms),
        )
        try:
            record.save(condition=ShardRecord.pk.does_not_exist())
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return None
            raise _unavailable(f"record shard {report.index} of round {report.round_id}", exc) from exc
        plan = RoundPlanRecord(f"ROUNDS#{report.group}", report.round_id)
        try:
            plan.update(actions=[RoundPlanRecord.reported.add(1)], condition=RoundPlanRecord.pk.exists())
        except PynamoDBException as exc:
            raise _unavailable(f"count shard {report.index} of round {report.round_id}", exc) from exc
        return int(plan.reported)

    def reports(self, round_id: str) -> dict[int, ShardReport]:
        """Every recorded shard report of the round, by index."""
        try:
            records = list(ShardRecord.query(f"ROUND#{round_id}", ShardRecord.sk.startswith("SHARD#")))
        except PynamoDBException as exc:
            raise _unavailable(f"read the shards of round {round_id}", exc) from exc
        found = [ShardReport.model_validate(_unpack(record.body)) for record in records]
        return {report.index: report for report in found}

    def finalise(self, group: str, round_id: str, *, now_ms: int, force: bool = False) -> ShardedRoundReport | None:
        """Aggregate the round once: when every shard has reported, or (missing shards listed as such)
        once ``finalise_after_ms`` has passed or ``force``. None when it is not time yet or another
        invocation finalised it."""
        key = f"ROUNDS#{group}"
        try:
            plan = RoundPlanRecord.get(key, round_id)
        except RoundPlanRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise _unavailable(f"read the plan of round {round_id}", exc) from exc
        if plan.attribute_values.get("aggregated_at_ms") is not None:
            return None
        planned = _summaries(plan.shards)
        reports = self.reports(round_id)
        complete = all(shard.index in reports for shard in planned)
        if not (complete or force or now_ms >= int(plan.finalise_after_ms)):
            return None
        try:
            plan.update(
                actions=[RoundPlanRecord.aggregated_at_ms.set(now_ms)],
                condition=RoundPlanRecord.aggregated_at_ms.does_not_exist(),
            )
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return None  # another invocation finalised it
            raise _unavailable(f"finalise round {round_id}", exc) from exc
        report = aggregate(round_id, group, planned, reports)
        summary = report.model_dump(mode="json", exclude={"targets"})
        try:
            ShardRecord(
                f"ROUND#{round_id}", AGGREGATE, body=_pack(summary), recorded_at_ms=now_ms, ttl=_expiry(now_ms)
            ).save()
        except PynamoDBException as exc:
            raise _unavailable(f"record the report of round {round_id}", exc) from exc
        return report

    def unfinished(self, group: str, limit: int = 20) -> list[str]:
        """The latest rounds of ``group`` (up to ``limit``) not finalised yet, oldest first."""
        try:
            records = RoundPlanRecord.query(
                f"ROUNDS#{group}",
                filter_condition=RoundPlanRecord.aggregated_at_ms.does_not_exist(),
                scan_index_forward=False,
                limit=limit,
            )
            return sorted(record.sk for record in records)
        except PynamoDBException as exc:
            raise _unavailable(f"read the rounds of group {group}", exc) from exc

    def latest(self, group: str) -> ShardedRoundReport | None:
        """The latest finalised round of ``group`` (its aggregate, without the target lines)."""
        try:
            for record in RoundPlanRecord.query(
                f"ROUNDS#{group}",
                filter_condition=RoundPlanRecord.aggregated_at_ms.exists(),
                scan_index_forward=False,
                limit=20,
            ):
                stored = ShardRecord.get(f"ROUND#{record.sk}", AGGREGATE)
                return ShardedRoundReport.model_validate(_unpack(stored.body))
        except ShardRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise _unavailable(f"read the rounds of group {group}", exc) from exc
        return None
