"""Strays: buckets that deploy tools created outside the registry, found, reported, maybe deleted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from domain.buckets.model import (
    MANAGED_BY,
    MANAGED_BY_TAG,
    PROJECT_TAG,
    STAGE_TAG,
    BucketRecord,
    BucketState,
    StrayRecord,
)
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


#: Actions after which a stray no longer exists.
_ENDED = frozenset({"deleted", "gone already"})


class SweepReport(BaseModel):
    """What a sweep found: the bucket count against the quota, and the strays.

    The counts are those after the sweep: a bucket it deleted (or found gone) is not counted.
    """

    model_config = ConfigDict(frozen=True)

    bucket_count: int
    quota: int
    registered: int
    strays: list[StrayFinding]
    delete_enabled: bool
    deleted: list[str]
    missing_registered: list[str]  # registered READY buckets absent from the listing (repaired at next deploy)

    @property
    def remaining_strays(self) -> list[StrayFinding]:
        """The strays that still exist after the sweep."""
        return [finding for finding in self.strays if finding.action not in _ENDED]

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
            "stray_count": len(self.remaining_strays),
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
    made_here: Mapping[str, Mapping[str, str]] | None = None,
) -> list[StrayFinding]:
    """Strays among the listed buckets: pattern-matched, recorded or made here, never a registered bucket.

    ``made_here`` maps the names of buckets wearing thermostat's tag to their tags. Only
    pattern-matched strays are deletable: a bucket that a deploy merely named may be a person's
    own bucket, and one that thermostat made may hold a deploy's artifacts, so both are reported and kept.
    """
    patterns = tuple(patterns)
    notes = {stray.bucket: stray for stray in recorded}
    made_here = made_here or {}
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
        elif info.name in made_here:
            tags = made_here[info.name]
            owner = f"{tags.get(PROJECT_TAG, '?')}/{tags.get(STAGE_TAG, '?')}"
            findings.append(
                StrayFinding(
                    bucket=info.name,
                    region=info.region,
                    reason=f"created by thermostat for {owner} (tag {MANAGED_BY_TAG}), unknown to the registry",
                    deletable=False,
                    action="kept: not pattern-matched",
                )
            )
    return findings


def _made_here(
    store: BucketStore, listing: Iterable[BucketInfo], known: set[str], patterns: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """The tags of the listed buckets, not otherwise known, that wear thermostat's tag (one read each)."""
    found: dict[str, dict[str, str]] = {}
    for info in listing:
        if info.name in known or matching_pattern(info.name, patterns) is not None:
            continue
        tags = store.tags(info.name)
        if tags is not None and tags.get(MANAGED_BY_TAG) == MANAGED_BY:
            found[info.name] = tags
    return found


class SweepRegistry(Protocol):
    """What a sweep reads and writes of the registry (a :class:`BucketRegistry` is one)."""

    def records(self) -> list[BucketRecord]: ...

    def strays(self) -> list[StrayRecord]: ...

    def forget_stray(self, bucket: str) -> None: ...


def sweep(
    registry: SweepRegistry,
    store: BucketStore,
    *,
    patterns: Iterable[str],
    quota: int,
    delete: bool,
) -> SweepReport:
    """List the account's buckets, find the strays and, when ``delete`` is set, delete the empty ones.

    A registered bucket is never deleted: the registry is read again right before deleting, so
    that a bucket registered during the sweep is spared too. The dry run asks S3 what the delete
    would meet, so that each action it reports is the one ``delete`` would take.
    """
    patterns = tuple(patterns)
    listing = store.list_buckets()
    records = registry.records()
    registered = {record.bucket for record in records}
    recorded = registry.strays()
    made_here = _made_here(store, listing, registered | {stray.bucket for stray in recorded}, patterns)
    findings = find_strays(listing, registered, recorded, patterns, made_here)
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
    elif not delete:
        findings = [
            finding.model_copy(update={"action": _PREVIEWS[store.delete_preview(finding.bucket)]})
            if finding.deletable
            else finding
            for finding in findings
        ]
    ended = sum(1 for finding in findings if finding.action in _ENDED)
    return SweepReport(
        bucket_count=len(listing) - ended,
        quota=quota,
        registered=len(records),
        strays=findings,
        delete_enabled=delete,
        deleted=deleted,
        missing_registered=missing,
    )


class AccountRegistry:
    """The registry as one account's sweep sees it: that account's records and strays only.

    A stray recorded without an account (a record older than multi-account support) belongs to
    ``own_account``. Bucket names are global, so forgetting a stray needs no account.
    """

    def __init__(self, registry: BucketRegistry, account: str, own_account: str) -> None:
        self._registry = registry
        self.account = account
        self._own = account == own_account

    def records(self) -> list[BucketRecord]:
        """The account's registered buckets."""
        return [record for record in self._registry.records() if record.key.account == self.account]

    def strays(self) -> list[StrayRecord]:
        """The account's recorded strays."""
        return [
            stray
            for stray in self._registry.strays()
            if stray.account == self.account or (stray.account is None and self._own)
        ]

    def forget_stray(self, bucket: str) -> None:
        """Forget a deleted stray."""
        self._registry.forget_stray(bucket)


def known_accounts(registry: BucketRegistry, own_account: str) -> list[str]:
    """The own account first, then every other account the registry has a bucket or a stray of."""
    others = {record.key.account for record in registry.records()}
    others |= {stray.account for stray in registry.strays() if stray.account is not None}
    others.discard(own_account)
    return [own_account, *sorted(others)]


_ACTIONS = {
    DeleteOutcome.DELETED: "deleted",
    DeleteOutcome.NOT_EMPTY: "kept: not empty",
    DeleteOutcome.GONE: "gone already",
    DeleteOutcome.NOT_OURS: "kept: not ours",
}
#: The dry run's actions: what the delete would do.
_PREVIEWS = {**_ACTIONS, DeleteOutcome.DELETED: "would delete"}
