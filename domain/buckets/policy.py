"""The reuse policy: one bucket per key, created once, handed to every later deploy.

The claim is a conditional put that also reads: when the key already has a record, DynamoDB
returns it (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so the reuse path is that put plus
one ``HeadBucket`` and the create path is six calls (claim, create, tags, public-access block,
encryption, ready).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from domain.buckets.model import BucketKey, BucketRecord, BucketState, Resolution, StrayRecord, StraySource
from domain.buckets.names import generate_bucket_name, validate_bucket_name
from domain.buckets.ports import (
    BucketNameUnavailable,
    BucketRegistry,
    BucketStore,
    CreateOutcome,
    ProbeStatus,
    Sleeper,
)
from domain.buckets.strays import matching_pattern
from domain.deadline import Clock
from domain.errors import Conflict, InvalidInput, ThermostatError, Unavailable

DEFAULT_LEASE_S = 120.0
DEFAULT_WAIT_S = 30.0
DEFAULT_POLL_S = 0.5
#: Claim, settle, take over: a livelock guard, far above what real contention needs.
MAX_ROUNDS = 8


def ensure_bucket(
    key: BucketKey,
    registry: BucketRegistry,
    store: BucketStore,
    clock: Clock,
    *,
    sleep: Sleeper,
    rng: random.Random,
    requested: str | None = None,
    stray_patterns: tuple[str, ...] = (),
    lease_s: float = DEFAULT_LEASE_S,
    wait_s: float = DEFAULT_WAIT_S,
    poll_s: float = DEFAULT_POLL_S,
) -> Resolution:
    """The bucket ``key`` deploys to: the registered one if it is alive and ours, else a new one.

    ``requested`` is the bucket the deploy tool would otherwise use. When the key has no bucket
    yet it is adopted (created if missing) unless it matches a stray pattern (a throw-away name
    such as Zappa's ``zappa-xxxxxxxxx``), in which case thermostat names the bucket; when the key
    already has another bucket, the registered one wins and ``requested`` is recorded as a stray.

    Concurrent callers for one key converge on one bucket: the loser of the claim waits (at most
    ``wait_s``, polling every ``poll_s`` with ``sleep``) for the winner to mark it ready; a claim
    left ``lease_s`` seconds without becoming ready (its holder crashed) is taken over.
    """
    if requested is not None:
        validate_bucket_name(requested)
    adopt = requested if requested is not None and matching_pattern(requested, stray_patterns) is None else None
    run = _Run(
        key=key,
        registry=registry,
        store=store,
        clock=clock,
        sleep=sleep,
        rng=rng,
        lease_s=lease_s,
        poll_s=poll_s,
        deadline=clock() + wait_s,
        max_polls=max(1, math.ceil(wait_s / poll_s)) if poll_s > 0 else 1,
    )
    resolution = run.resolve(adopt)
    if requested is not None and requested != resolution.bucket:
        pattern = matching_pattern(requested, stray_patterns)
        why = f"matches the stray pattern {pattern!r}" if pattern else f"{key.label()} is registered to another bucket"
        registry.record_stray(
            StrayRecord(
                bucket=requested,
                source=StraySource.DEPLOYMENT,
                reason=f"named by a deploy of {key.project}/{key.stage}, which uses {resolution.bucket} ({why})",
                seen_at=clock(),
                region=key.region,
                account=key.account,
            )
        )
        resolution = resolution.model_copy(update={"stray": requested})
    return resolution


@dataclass
class _Run:
    key: BucketKey
    registry: BucketRegistry
    store: BucketStore
    clock: Clock
    sleep: Sleeper
    rng: random.Random
    lease_s: float
    poll_s: float
    deadline: float
    max_polls: int

    def resolve(self, adopt: str | None) -> Resolution:
        for _ in range(MAX_ROUNDS):
            name = adopt or self._new_name()
            claim = BucketRecord(
                key=self.key,
                bucket=name,
                state=BucketState.CLAIMED,
                claim_id=self._token(),
                claimed_at=self.clock(),
                generated=adopt is None,
            )
            existing = self.registry.claim(claim)
            if existing is None:
                # A fresh random name cannot exist yet: skip the probe (one call fewer on the create path).
                return self._build(claim, known=ProbeStatus.MISSING if adopt is None else None, first=True)
            settled = self._settle(existing)
            if settled is not None:
                return settled
            # The record vanished (its claimant gave up) or changed hands: claim again.
        raise Unavailable(f"could not settle the deployment bucket of {self.key.label()}: too much contention; retry")

    # -- an existing record -------------------------------------------------------------------

    def _settle(self, record: BucketRecord) -> Resolution | None:
        polls = 0
        waited = False
        while True:
            if record.state is BucketState.READY:
                if waited:
                    # It just became ready under our eyes: its builder checked it, no need to probe.
                    return Resolution(key=self.key, bucket=record.bucket, reused=True)
                return self._reuse(record)
            if record.lease_expired(self.clock(), self.lease_s):
                return self._take_over(record, record.bucket, repaired=True)
            if polls >= self.max_polls or self.clock() >= self.deadline:
                age = max(0.0, self.clock() - record.claimed_at)
                raise Unavailable(
                    f"the deployment bucket of {self.key.label()} ({record.bucket}) is still being created by "
                    f"another deploy (claimed {age:.0f} s ago); retry in a few seconds"
                )
            self.sleep(self.poll_s)
            polls += 1
            waited = True
            current = self.registry.get(self.key)
            if current is None:
                return None
            record = current

    def _reuse(self, record: BucketRecord) -> Resolution | None:
        probe = self.store.probe(record.bucket)
        if probe.status is ProbeStatus.OURS and probe.region in (None, self.key.region):
            return Resolution(key=self.key, bucket=record.bucket, reused=True)
        if probe.status is ProbeStatus.MISSING:
            # Deleted out of band: rebuild under the same name, so that pinned settings stay right.
            return self._take_over(record, record.bucket, repaired=True, known=ProbeStatus.MISSING)
        if probe.status is ProbeStatus.FOREIGN:
            # Never re-point automatically: a 403 is as likely a missing permission as a taken name, and
            # creating a new bucket on every deploy is exactly the pile-up this registry prevents.
            raise self._foreign(record)
        return self._take_over(record, self._new_name(), repaired=True, known=ProbeStatus.MISSING)

    def _take_over(
        self, record: BucketRecord, name: str, *, repaired: bool, known: ProbeStatus | None = None
    ) -> Resolution | None:
        claim = record.model_copy(
            update={
                "bucket": name,
                "state": BucketState.CLAIMED,
                "claim_id": self._token(),
                "claimed_at": self.clock(),
                "ready_at": None,
                "generated": record.generated or name != record.bucket,
                "create_sent": record.create_sent and name == record.bucket,
            }
        )
        if not self.registry.replace(record.claim_id, claim):
            return None  # someone else got there first: read again
        return self._build(claim, known=known, first=False, repaired=repaired)

    # -- a claim we hold ----------------------------------------------------------------------

    def _build(
        self, claim: BucketRecord, *, known: ProbeStatus | None, first: bool, repaired: bool = False
    ) -> Resolution:
        created = False
        sent = False
        try:
            status = known
            if status is None:
                probe = self.store.probe(claim.bucket)
                status = probe.status
                if status is ProbeStatus.FOREIGN:
                    raise self._foreign(claim)
                if status is ProbeStatus.OURS and probe.region not in (None, self.key.region):
                    raise InvalidInput(
                        f"bucket {claim.bucket} is in {probe.region}, but the deploy is for {self.key.region}: "
                        "Lambda reads code only from a bucket in its own region"
                    )
                # An earlier holder's CreateBucket lost its answer but did create the bucket: finish its job.
                created = status is ProbeStatus.OURS and claim.create_sent
            if status is ProbeStatus.MISSING:
                sent = True
                claim, created = self._create(claim, rename=repaired)
            if claim.generated or created:
                self.store.configure(claim.bucket, self.key.tags())
            if not self.registry.mark_ready(claim, self.clock()):
                return self._lost(claim)
        except BaseException as exc:
            # A CreateBucket whose answer was lost may have created the bucket: keep the claim (and its
            # name) for the next caller, never release it to a fresh name that would orphan this one.
            unknown = sent and not isinstance(exc, (BucketNameUnavailable, InvalidInput))
            self._give_up(claim, keep=created or unknown or not first, create_sent=unknown)
            raise
        return Resolution(key=self.key, bucket=claim.bucket, reused=False, created=created, repaired=repaired)

    def _create(self, claim: BucketRecord, *, rename: bool) -> tuple[BucketRecord, bool]:
        try:
            outcome = self.store.create(claim.bucket, self.key.region)
        except BucketNameUnavailable:
            if not rename:
                raise
            # The old name went to someone else (or S3 is still releasing it): record a fresh name.
            renamed = claim.model_copy(update={"bucket": self._new_name(), "generated": True})
            if not self.registry.replace(claim.claim_id, renamed):
                raise Conflict(f"the claim on {self.key.label()} was taken over while renaming; retry") from None
            return renamed, self.store.create(renamed.bucket, self.key.region) in (
                CreateOutcome.CREATED,
                CreateOutcome.ALREADY_OURS,
            )
        # The probe (or a fresh random name) said missing: BucketAlreadyOwnedByYou now means a retry of
        # our own CreateBucket, whose first answer was lost, made it.
        return claim, outcome in (CreateOutcome.CREATED, CreateOutcome.ALREADY_OURS)

    def _foreign(self, record: BucketRecord) -> ThermostatError:
        if not record.generated and record.state is BucketState.CLAIMED:
            return InvalidInput(
                f"bucket {record.bucket} belongs to another AWS account (or this role may not use it): "
                "name a bucket this account owns, or omit the bucket and thermostat will create one"
            )
        return Conflict(
            f"the registered bucket {record.bucket} of {self.key.label()} is not accessible as a bucket of "
            f"account {self.key.account} (HeadBucket answered 403): grant this role s3:ListBucket on it, or, if "
            "another account now owns that name, forget the record (`thermostat bucket forget --project "
            f"{self.key.project} --stage {self.key.stage} --region {self.key.region}`) so that a new bucket is created"
        )

    def _lost(self, claim: BucketRecord) -> Resolution:
        current = self.registry.get(self.key)
        if current is not None and current.state is BucketState.READY and current.bucket == claim.bucket:
            return Resolution(key=self.key, bucket=current.bucket, reused=True)
        raise Conflict(f"the claim on {self.key.label()} was taken over by another deploy before it was ready; retry")

    def _give_up(self, claim: BucketRecord, *, keep: bool, create_sent: bool = False) -> None:
        """Leave the key usable after a failure. Best effort: the original error is what matters."""
        try:
            if keep:
                # A bucket may exist (or an old record must survive): end the lease now, so that the
                # next caller takes over at once and finishes the job instead of waiting.
                update: dict[str, object] = {"claimed_at": 0.0}
                if create_sent:
                    update["create_sent"] = True
                self.registry.replace(claim.claim_id, claim.model_copy(update=update))
            else:
                self.registry.release(claim)
        except ThermostatError:
            pass

    def _new_name(self) -> str:
        return generate_bucket_name(self.key.project, self.key.stage, self.rng)

    def _token(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"
