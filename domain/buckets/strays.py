"""Strays: buckets that deploy tools created outside the registry, found, reported, maybe deleted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from domain.buckets.model import BucketState, StrayRecord
from domain.buckets.ports import BucketInfo, BucketRegistry, BucketStore, DeleteOutcome

#: Quota use from which the summary flags the account as near its bucket quota.
NEAR_QUOTA = 0.8


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matching_pattern(name: str, patterns: Iterable[str]) -> str | None:
    """The first stray pattern that ``name`` matches (``re.search``, so anchor your patterns)."""
    for pattern in patterns:
        if _compiled(pattern).search(name):
            return pattern
    return None


class StrayFinding(BaseModel):
    """One stray bucket found in the account's listing, and what the sweep did with it."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    region: str | None
    reason: str
    deletable: bool  # pattern-matched and not registered: deleted when empty and deletion is enabled
    action: str  # "would delete", "deleted", "kept: not empty", "kept: not pattern-matched", …


class SweepReport(BaseModel):
    """What a sweep found: the bucket count against the quota, and the strays."""

    model_config = ConfigDict(frozen=True)

    bucket_count: int
    quota: int
    registered: int
    strays: list[StrayFinding]
    delete_enabled: bool
    deleted: list[str]
    missing_registered: list[str]  # registered READY buckets absent from the listing (repaired at next deploy)

    @property
    def quota_used(self) -> float:
        """Fraction of the bucket quota in use."""
        return self.bucket_count / self.quota if self.quota else 0.0

    def summary(self) -> dict[str, object]:
        """The structured summary the sweeper logs and returns."""
        return {
            "bucket_count": self.bucket_count,
            "quota": self.quota,
            "quota_used_pct": round(self.quota_used * 100, 2),
            "near_quota": self.quota_used >= NEAR_QUOTA,
            "registered": self.registered,
            "stray_count": len(self.strays),
            "strays": [finding.model_dump() for finding in self.strays],
            "delete_enabled": self.delete_enabled,
            "deleted": self.deleted,
            "missing_registered": self.missing_registered,
        }


def find_strays(
    listing: Iterable[BucketInfo],
    registered: set[str],
    recorded: Iterable[StrayRecord],
    patterns: Iterable[str],
) -> list[StrayFinding]:
    """Strays among the listed buckets: pattern-matched or recorded, and never a registered bucket.

    Only pattern-matched strays are deletable: a bucket that a deploy merely named may be a
    person's own bucket, so it is reported and kept.
    """
    patterns = tuple(patterns)
    notes = {stray.bucket: stray for stray in recorded}
    findings: list[StrayFinding] = []
    for info in sorted(listing, key=lambda item: item.name):
        if info.name in registered:
            continue
        pattern = matching_pattern(info.name, patterns)
        note = notes.get(info.name)
        if pattern is not None:
            reason = f"matches {pattern!r}" + (f"; {note.reason}" if note else "")
            findings.append(
                StrayFinding(bucket=info.name, region=info.region, reason=reason, deletable=True, action="would delete")
            )
        elif note is not None:
            findings.append(
                StrayFinding(
                    bucket=info.name,
                    region=info.region,
                    reason=note.reason,
                    deletable=False,
                    action="kept: not pattern-matched",
                )
            )
    return findings


def sweep(
    registry: BucketRegistry,
    store: BucketStore,
    *,
    patterns: Iterable[str],
    quota: int,
    delete: bool,
) -> SweepReport:
    """List the account's buckets, find the strays and, when ``delete`` is set, delete the empty ones.

    A registered bucket is never deleted: the registry is read again right before deleting, so
    that a bucket registered during the sweep is spared too.
    """
    listing = store.list_buckets()
    records = registry.records()
    registered = {record.bucket for record in records}
    findings = find_strays(listing, registered, registry.strays(), patterns)
    listed = {info.name for info in listing}
    missing = sorted(r.bucket for r in records if r.state is BucketState.READY and r.bucket not in listed)
    deleted: list[str] = []
    if delete and any(finding.deletable for finding in findings):
        registered_now = {record.bucket for record in registry.records()}
        done: list[StrayFinding] = []
        for finding in findings:
            if not finding.deletable:
                done.append(finding)
                continue
            if finding.bucket in registered_now:
                done.append(finding.model_copy(update={"deletable": False, "action": "kept: registered meanwhile"}))
                continue
            outcome = store.delete_if_empty(finding.bucket)
            if outcome is DeleteOutcome.DELETED:
                deleted.append(finding.bucket)
                registry.forget_stray(finding.bucket)
            done.append(finding.model_copy(update={"action": _ACTIONS[outcome]}))
        findings = done
    return SweepReport(
        bucket_count=len(listing),
        quota=quota,
        registered=len(records),
        strays=findings,
        delete_enabled=delete,
        deleted=deleted,
        missing_registered=missing,
    )


_ACTIONS = {
    DeleteOutcome.DELETED: "deleted",
    DeleteOutcome.NOT_EMPTY: "kept: not empty",
    DeleteOutcome.GONE: "gone already",
    DeleteOutcome.NOT_OURS: "kept: not ours",
}
