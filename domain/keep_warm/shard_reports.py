"""What a shard reports, and the one round report built from every shard's.

A shard's worker records one :class:`ShardReport` (``ok``, ``failed`` when it could not run, e.g.
its account's spoke role refused us, or ``timed_out`` when its deadline stopped pings). The round
report lists every planned shard: a shard with no report by the time the round is finalised is
``missing`` (lost, still failing on the queue, or in the dead-letter queue). A shard recorded
twice (a duplicate delivery) is counted once: the ledger keeps the first report.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.keep_warm.reports import RoundReport, TargetReport
from domain.keep_warm.shards import Shard, ShardSummary


class ShardStatus(StrEnum):
    """How a shard ended."""

    OK = "ok"
    FAILED = "failed"  # it could not run (no credentials for its account, targets unreadable, ...)
    TIMED_OUT = "timed_out"  # its deadline left pings not attempted
    MISSING = "missing"  # no report when the round was finalised


class ShardReport(BaseModel):
    """One shard's outcome, as its worker recorded it."""

    round_id: str
    index: int
    group: str
    account: str | None = None
    region: str | None = None
    status: ShardStatus
    error: str | None = None
    #: How many deliveries of the shard's message the worker saw (SQS ``ApproximateReceiveCount``).
    attempts: int = 1
    report: RoundReport | None = None

    @classmethod
    def of_round(cls, shard: Shard, report: RoundReport, attempts: int = 1) -> ShardReport:
        """The report of a shard that ran: ``timed_out`` when its deadline left pings unsent."""
        timed_out = any(target.not_attempted for target in report.targets)
        return cls(
            round_id=shard.round_id,
            index=shard.index,
            group=shard.group,
            account=shard.account,
            region=shard.region,
            status=ShardStatus.TIMED_OUT if timed_out else ShardStatus.OK,
            error="the deadline left pings not attempted" if timed_out else None,
            attempts=attempts,
            report=report,
        )

    @classmethod
    def failure(cls, shard: Shard, error: str, attempts: int = 1) -> ShardReport:
        """The report of a shard that could not run at all."""
        return cls(
            round_id=shard.round_id,
            index=shard.index,
            group=shard.group,
            account=shard.account,
            region=shard.region,
            status=ShardStatus.FAILED,
            error=error,
            attempts=attempts,
        )


class PlaceSummary(BaseModel):
    """One (account, region) of a round: its shards and its targets' totals."""

    account: str | None = None
    region: str | None = None
    shards: int = 0
    shards_failed: int = 0
    shards_timed_out: int = 0
    shards_missing: int = 0
    targets: int = 0
    sent: int = 0
    environments: int = 0
    cold: int = 0
    errors: int = 0
    throttled: int = 0
    unhealthy: int = 0
    #: The first failure's message (a refused spoke role says what to deploy).
    error: str | None = None


class ShardLine(BaseModel):
    """One planned shard in the round report."""

    index: int
    account: str | None = None
    region: str | None = None
    targets: int
    status: ShardStatus
    error: str | None = None
    attempts: int = 0


class ShardedRoundReport(BaseModel):
    """The round, aggregated from its shards' reports."""

    round_id: str
    group: str
    shards: list[ShardLine]
    places: list[PlaceSummary]
    #: Every shard's target reports (not kept in the ledger's aggregate item: the shards' items hold them).
    targets: list[TargetReport] = Field(default_factory=list)
    sent: int = 0
    #: True when every planned shard reported (none missing).
    complete: bool = False

    @property
    def failed(self) -> list[ShardLine]:
        """Shards that failed, timed out or are missing."""
        return [line for line in self.shards if line.status is not ShardStatus.OK]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document logged and returned."""
        return self.model_dump(mode="json")

    def as_round(self) -> RoundReport:
        """Every shard's targets as one :class:`RoundReport` (for the per-target EMF documents)."""
        return RoundReport(group=self.group, targets=self.targets, sent=self.sent)


def aggregate(
    round_id: str,
    group: str,
    planned: list[ShardSummary] | tuple[ShardSummary, ...],
    reports: dict[int, ShardReport],
) -> ShardedRoundReport:
    """One report for the round: every planned shard (missing ones included), per place, and every target."""
    lines: list[ShardLine] = []
    places: dict[tuple[str | None, str | None], PlaceSummary] = {}
    targets: list[TargetReport] = []
    for shard in planned:
        got = reports.get(shard.index)
        status = got.status if got is not None else ShardStatus.MISSING
        error = got.error if got is not None else "no report: the shard was lost, is still retried, or went to the DLQ"
        lines.append(
            ShardLine(
                index=shard.index,
                account=shard.account,
                region=shard.region,
                targets=shard.targets,
                status=status,
                error=error,
                attempts=got.attempts if got is not None else 0,
            )
        )
        place = places.setdefault(shard.place, PlaceSummary(account=shard.account, region=shard.region))
        place.shards += 1
        place.targets += shard.targets
        place.shards_failed += status is ShardStatus.FAILED
        place.shards_timed_out += status is ShardStatus.TIMED_OUT
        place.shards_missing += status is ShardStatus.MISSING
        if status is not ShardStatus.OK and place.error is None:
            place.error = error
        if got is None or got.report is None:
            continue
        for target in got.report.targets:
            place.sent += target.sent
            place.environments += target.environments or 0
            place.cold += target.cold
            place.errors += target.errors
            place.throttled += target.throttled
            place.unhealthy += not target.healthy
            targets.append(target)
    return ShardedRoundReport(
        round_id=round_id,
        group=group,
        shards=lines,
        places=list(places.values()),
        targets=targets,
        sent=sum(place.sent for place in places.values()),
        complete=all(line.status is not ShardStatus.MISSING for line in lines),
    )
