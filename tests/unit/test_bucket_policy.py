"""ensure_bucket with in-memory fakes: reuse, create, adoption, strays, races, leases, repairs, failures."""

from __future__ import annotations

import random

import pytest

from domain.buckets import (
    BucketNameUnavailable,
    BucketRecord,
    BucketState,
    InvalidBucketName,
    Resolution,
    StraySource,
    ensure_bucket,
    generate_bucket_name,
)
from domain.errors import Conflict, InvalidInput, Unavailable
from tests.unit.test_bucket_fakes import (
    ACCOUNT,
    OTHER_ACCOUNT,
    FakeBucket,
    FakeClock,
    FakeRegistry,
    FakeStore,
    key,
)

pytestmark = pytest.mark.unit

ZAPPA = (r"^zappa-[a-z0-9]{9}$",)


class World:
    def __init__(self, seed: int = 42) -> None:
        self.registry = FakeRegistry()
        self.store = FakeStore()
        self.clock = FakeClock()
        self.seed = seed
        self.rng = random.Random(seed)

    def ensure(self, k=None, **options) -> Resolution:  # type: ignore[no-untyped-def]
        options.setdefault("stray_patterns", ZAPPA)
        return ensure_bucket(
            k or key(), self.registry, self.store, self.clock, sleep=self.clock.sleep, rng=self.rng, **options
        )

    def record(self, k=None) -> BucketRecord | None:  # type: ignore[no-untyped-def]
        return self.registry.items.get(k or key())


@pytest.fixture
def world() -> World:
    return World()


# -- the two everyday paths -----------------------------------------------------------------


def test_first_deploy_creates_configures_and_registers_a_bucket(world: World) -> None:
    # When the first deploy of a key asks for its bucket
    answer = world.ensure()
    # Then a readable bucket was created, configured, and registered ready
    assert answer.created
    assert not answer.reused
    assert answer.bucket.startswith("api-prod-")
    bucket = world.store.buckets[answer.bucket]
    assert bucket.region == "us-east-1"
    assert bucket.tags == {
        "thermostat:managed-by": "thermostat",
        "thermostat:project": "api",
        "thermostat:stage": "prod",
    }
    assert bucket.public_access_block
    assert bucket.encrypted
    record = world.record()
    assert record is not None
    assert record.state is BucketState.READY
    assert record.bucket == answer.bucket
    # And a fresh random name was not probed first
    assert world.store.calls["probe"] == 0
    assert world.store.calls["create"] == 1


def test_later_deploys_reuse_the_registered_bucket(world: World) -> None:
    first = world.ensure()
    # When the same key deploys again, twice
    second = world.ensure()
    third = world.ensure()
    # Then the same bucket comes back, and nothing else was created
    assert second.bucket == third.bucket == first.bucket
    assert second.reused
    assert third.reused
    assert not second.created
    assert world.store.calls["create"] == 1
    assert len(world.store.buckets) == 1


def test_keys_differ_by_stage_and_region(world: World) -> None:
    prod = world.ensure(key(stage="prod"))
    dev = world.ensure(key(stage="dev"))
    ireland = world.ensure(key(stage="prod", region="eu-west-1"))
    assert len({prod.bucket, dev.bucket, ireland.bucket}) == 3
    assert world.store.buckets[ireland.bucket].region == "eu-west-1"


# -- the bucket the deploy tool names -------------------------------------------------------


def test_a_named_bucket_is_adopted_when_the_key_has_none(world: World) -> None:
    answer = world.ensure(requested="acme-api-deploys")
    assert answer.bucket == "acme-api-deploys"
    assert answer.created
    record = world.record()
    assert record is not None
    assert not record.generated
    assert answer.stray is None


def test_an_existing_bucket_of_ours_is_adopted_as_is(world: World) -> None:
    # Given the team's own bucket, with its own tags
    world.store.buckets["acme-artifacts"] = FakeBucket(owner=ACCOUNT, region="us-east-1", tags={"team": "a"})
    # When a deploy names it
    answer = world.ensure(requested="acme-artifacts")
    # Then it is registered, not created (us-east-1 would have answered 200), and its configuration is untouched
    assert answer.bucket == "acme-artifacts"
    assert not answer.created
    assert not answer.reused
    assert world.store.calls["create"] == 0
    assert world.store.buckets["acme-artifacts"].tags == {"team": "a"}


def test_a_throwaway_zappa_name_is_never_adopted_but_recorded_as_a_stray(world: World) -> None:
    answer = world.ensure(requested="zappa-abc123xyz")
    assert answer.bucket != "zappa-abc123xyz"
    assert answer.bucket.startswith("api-prod-")
    assert answer.stray == "zappa-abc123xyz"
    stray = world.registry.stray_items["zappa-abc123xyz"]
    assert stray.source is StraySource.DEPLOYMENT
    assert "matches the stray pattern" in stray.reason
    assert "zappa-abc123xyz" not in world.store.buckets


def test_the_registered_bucket_wins_over_a_named_one(world: World) -> None:
    registered = world.ensure().bucket
    # When a later deploy names another bucket
    answer = world.ensure(requested="someone-elses-idea")
    # Then it gets the registered one, and the named one is a stray
    assert answer.bucket == registered
    assert answer.reused
    assert answer.stray == "someone-elses-idea"
    assert "is registered to another bucket" in world.registry.stray_items["someone-elses-idea"].reason
    assert "someone-elses-idea" not in world.store.buckets


def test_an_invalid_named_bucket_is_refused_before_anything_is_written(world: World) -> None:
    with pytest.raises(InvalidBucketName) as caught:
        world.ensure(requested="My_Bucket")
    assert "may contain only lowercase letters" in str(caught.value)
    assert world.registry.items == {}
    assert world.registry.stray_items == {}
    assert sum(world.registry.calls.values()) == 0
    assert sum(world.store.calls.values()) == 0


def test_a_foreign_named_bucket_is_refused_and_no_record_is_left(world: World) -> None:
    world.store.buckets["their-bucket"] = FakeBucket(owner=OTHER_ACCOUNT, region="us-east-1")
    with pytest.raises(InvalidInput) as caught:
        world.ensure(requested="their-bucket")
    assert "belongs to another AWS account" in str(caught.value)
    assert world.registry.items == {}
    assert world.store.calls["create"] == 0


def test_a_named_bucket_in_another_region_is_refused(world: World) -> None:
    world.store.buckets["acme-eu"] = FakeBucket(owner=ACCOUNT, region="eu-west-1")
    with pytest.raises(InvalidInput) as caught:
        world.ensure(requested="acme-eu")
    assert "is in eu-west-1, but the deploy is for us-east-1" in str(caught.value)
    assert world.registry.items == {}


# -- S3 and DynamoDB failures ---------------------------------------------------------------


def test_bucket_already_exists_is_a_clear_error_and_leaves_no_record(world: World) -> None:
    # Given another account owns exactly the name the generator will pick
    doomed = generate_bucket_name("api", "prod", random.Random(world.seed))
    world.store.buckets[doomed] = FakeBucket(owner=OTHER_ACCOUNT, region="us-east-1")
    # When the first deploy asks
    with pytest.raises(BucketNameUnavailable) as caught:
        world.ensure()
    # Then it fails clearly, and the key is free again
    assert "taken by another AWS account" in str(caught.value)
    assert world.registry.items == {}


def test_dynamodb_down_surfaces_and_touches_nothing(world: World) -> None:
    world.registry.down = Unavailable("DynamoDB claim failed: connection refused")
    with pytest.raises(Unavailable, match="connection refused"):
        world.ensure()
    assert world.store.buckets == {}
    assert sum(world.store.calls.values()) == 0
    assert world.registry.items == {}


def test_a_failed_create_keeps_its_name_and_the_next_deploy_creates_that_name(world: World) -> None:
    # Given CreateBucket fails without an answer saying whether it was applied
    world.store.fail_on["create"] = Unavailable("S3 CreateBucket failed: SlowDown")
    with pytest.raises(Unavailable):
        world.ensure()
    # Then the claim keeps the name, marked as sent, with its lease ended
    record = world.record()
    assert record is not None
    assert (record.state, record.create_sent, record.claimed_at) == (BucketState.CLAIMED, True, 0.0)
    # And the next deploy creates that very name
    del world.store.fail_on["create"]
    answer = world.ensure()
    assert (answer.bucket, answer.created) == (record.bucket, True)
    assert list(world.store.buckets) == [record.bucket]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_a_create_whose_answer_was_lost_is_finished_not_doubled(world: World, region: str) -> None:
    # Given S3 creates the bucket but the answer never comes back
    world.store.answer_lost["create"] = Unavailable("S3 CreateBucket failed: ConnectionClosedError")
    with pytest.raises(Unavailable):
        world.ensure(key(region=region))
    (made,) = world.store.buckets
    assert world.store.buckets[made].tags == {}
    # When the next deploy of the key comes (the answers are back)
    del world.store.answer_lost["create"]
    answer = world.ensure(key(region=region))
    # Then it finishes that bucket: the same name, configured and registered; no second bucket
    assert answer.bucket == made
    assert answer.created
    assert list(world.store.buckets) == [made]
    assert world.store.buckets[made].tags["thermostat:managed-by"] == "thermostat"
    assert world.store.buckets[made].encrypted
    record = world.record(key(region=region))
    assert record is not None
    assert record.state is BucketState.READY


def test_an_adopted_name_whose_create_answer_was_lost_is_configured_by_the_next_deploy(world: World) -> None:
    # Given the deploy names a bucket that does not exist yet, and CreateBucket's answer is lost
    world.store.answer_lost["create"] = Unavailable("S3 CreateBucket failed: 500")
    with pytest.raises(Unavailable):
        world.ensure(requested="acme-api-deploys")
    del world.store.answer_lost["create"]
    # When the next deploy comes, naming no bucket
    answer = world.ensure()
    # Then thermostat made that bucket, so it configures it (tags, public-access block, encryption)
    assert (answer.bucket, answer.created) == ("acme-api-deploys", True)
    assert world.store.buckets["acme-api-deploys"].encrypted
    assert world.store.buckets["acme-api-deploys"].tags["thermostat:project"] == "api"


def test_a_failure_after_create_ends_the_lease_so_the_next_deploy_finishes_the_job(world: World) -> None:
    # Given configuring fails right after the bucket was created
    world.store.fail_on["configure"] = Unavailable("S3 configuring failed: InternalError")
    with pytest.raises(Unavailable):
        world.ensure()
    record = world.record()
    assert record is not None
    assert record.state is BucketState.CLAIMED
    assert record.claimed_at == 0.0
    created_name = record.bucket
    # When the next deploy comes, without waiting for any lease
    del world.store.fail_on["configure"]
    answer = world.ensure()
    # Then it finishes the same bucket: no second CreateBucket, configured, ready
    assert answer.bucket == created_name
    assert answer.repaired
    assert world.store.calls["create"] == 1
    assert world.store.buckets[created_name].encrypted
    assert world.clock.slept == []


def test_a_lost_mark_ready_answers_the_winner_when_it_is_the_same_bucket(world: World) -> None:
    # Given the claim is marked ready by someone else before we mark it
    original = world.registry.mark_ready

    def sneaky(record: BucketRecord, now: float) -> bool:
        original(record, now)
        return False

    world.registry.mark_ready = sneaky  # type: ignore[method-assign]
    answer = world.ensure()
    assert answer.reused


# -- concurrency, leases and crash recovery -------------------------------------------------


def _crashed_claim(world: World, bucket: str, age_s: float, generated: bool = True) -> BucketRecord:
    record = BucketRecord(
        key=key(),
        bucket=bucket,
        state=BucketState.CLAIMED,
        claim_id="crashed",
        claimed_at=world.clock() - age_s,
        generated=generated,
    )
    world.registry.items[key()] = record
    return record


def test_a_loser_waits_for_the_winner_and_gets_its_bucket(world: World) -> None:
    # Given another deploy claimed the key a moment ago and finishes while we wait
    _crashed_claim(world, "api-prod-winner01", age_s=1)
    polls = {"n": 0}

    def winner_finishes(registry: FakeRegistry) -> None:
        polls["n"] += 1
        if polls["n"] == 3:
            current = registry.items[key()]
            registry.items[key()] = current.model_copy(update={"state": BucketState.READY, "ready_at": 1.0})

    world.registry.on_get.append(winner_finishes)
    # When we ask
    answer = world.ensure(poll_s=0.5)
    # Then we waited (bounded, with the injected sleeper) and got the winner's bucket without creating one
    assert answer.bucket == "api-prod-winner01"
    assert answer.reused
    assert world.clock.slept == [0.5, 0.5, 0.5]
    assert world.store.calls["create"] == 0


def test_waiting_is_bounded_and_ends_in_a_clear_error(world: World) -> None:
    _crashed_claim(world, "api-prod-slowpoke", age_s=1)
    with pytest.raises(Unavailable) as caught:
        world.ensure(wait_s=3, poll_s=0.5, lease_s=120)
    assert "still being created by another deploy" in str(caught.value)
    assert "retry" in str(caught.value)
    assert len(world.clock.slept) == 6
    assert world.store.calls["create"] == 0


def test_waiting_is_bounded_by_count_even_if_the_clock_stands_still(world: World) -> None:
    _crashed_claim(world, "api-prod-slowpoke", age_s=1)
    frozen = FakeClock(world.clock())
    with pytest.raises(Unavailable):
        ensure_bucket(
            key(), world.registry, world.store, frozen, sleep=lambda s: None, rng=world.rng, wait_s=2, poll_s=0.5
        )
    assert world.registry.calls["get"] == 4


def test_a_claim_left_by_a_crash_is_completed_after_the_lease(world: World) -> None:
    # Given a claim whose holder crashed before creating anything, older than the lease
    _crashed_claim(world, "api-prod-crashed1", age_s=121)
    # When the next deploy comes
    answer = world.ensure(lease_s=120)
    # Then it takes the claim over and completes it under the same name
    assert answer.bucket == "api-prod-crashed1"
    assert answer.created
    assert answer.repaired
    assert not answer.reused
    record = world.record()
    assert record is not None
    assert record.state is BucketState.READY
    assert record.claim_id != "crashed"
    assert world.store.buckets["api-prod-crashed1"].encrypted


def test_a_claim_inside_its_lease_is_not_taken_over(world: World) -> None:
    _crashed_claim(world, "api-prod-crashed1", age_s=119)
    with pytest.raises(Unavailable):
        world.ensure(lease_s=120, wait_s=0.5, poll_s=0.5)
    assert world.record().claim_id == "crashed"  # type: ignore[union-attr]
    # But once the lease runs out while we wait, we take over
    answer = world.ensure(lease_s=120, wait_s=5, poll_s=0.5)
    assert answer.bucket == "api-prod-crashed1"
    assert answer.created


def test_a_crash_after_create_is_completed_without_a_second_bucket(world: World) -> None:
    # Given the crashed holder had created the bucket (in us-east-1, where CreateBucket would answer 200 again)
    _crashed_claim(world, "api-prod-crashed2", age_s=500)
    world.store.buckets["api-prod-crashed2"] = FakeBucket(owner=ACCOUNT, region="us-east-1")
    # When the next deploy takes over
    answer = world.ensure()
    # Then it probes, sees the bucket is ours, configures it, and does not call it new
    assert answer.bucket == "api-prod-crashed2"
    assert not answer.created
    assert world.store.calls["create"] == 0
    assert world.store.buckets["api-prod-crashed2"].encrypted


def test_a_crashed_adoption_is_completed_without_touching_the_adopted_bucket(world: World) -> None:
    _crashed_claim(world, "acme-artifacts", age_s=500, generated=False)
    world.store.buckets["acme-artifacts"] = FakeBucket(owner=ACCOUNT, region="us-east-1", tags={"team": "a"})
    answer = world.ensure(requested="acme-artifacts")
    assert answer.bucket == "acme-artifacts"
    assert not answer.created
    assert world.store.buckets["acme-artifacts"].tags == {"team": "a"}


def test_losing_a_take_over_race_reads_again(world: World) -> None:
    # Given an expired claim that another caller takes over (and finishes) just before us
    stale = _crashed_claim(world, "api-prod-crashed3", age_s=500)
    original = world.registry.replace

    def someone_else_first(expected: str, record: BucketRecord) -> bool:
        if expected == "crashed":
            world.registry.items[key()] = stale.model_copy(
                update={"claim_id": "other", "state": BucketState.READY, "ready_at": 2.0}
            )
            world.store.buckets["api-prod-crashed3"] = FakeBucket(owner=ACCOUNT, region="us-east-1")
        return original(expected, record)

    world.registry.replace = someone_else_first  # type: ignore[method-assign]
    answer = world.ensure()
    assert answer.bucket == "api-prod-crashed3"
    assert answer.reused
    assert world.store.calls["create"] == 0


# -- repairs --------------------------------------------------------------------------------


def test_a_bucket_deleted_out_of_band_is_recreated_never_answered_dead(world: World) -> None:
    first = world.ensure()
    # Given someone deletes the registered bucket
    del world.store.buckets[first.bucket]
    # When the next deploy comes
    answer = world.ensure()
    # Then the bucket exists again (same name, so pinned settings stay right) and is recorded ready
    assert answer.bucket == first.bucket
    assert answer.repaired
    assert answer.created
    assert not answer.reused
    assert answer.bucket in world.store.buckets
    assert world.record().state is BucketState.READY  # type: ignore[union-attr]


def test_a_deleted_bucket_whose_name_cannot_be_reused_gets_a_new_recorded_name(world: World) -> None:
    first = world.ensure()
    del world.store.buckets[first.bucket]
    world.store.fail_on["create"] = BucketNameUnavailable("S3 is still releasing the bucket name (OperationAborted)")
    calls = {"n": 0}
    original = FakeStore.create

    def create_once_refused(store: FakeStore, bucket: str, region: str):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise BucketNameUnavailable("S3 is still releasing the bucket name (OperationAborted)")
        return original(store, bucket, region)

    world.store.fail_on.clear()
    world.store.create = create_once_refused.__get__(world.store)  # type: ignore[method-assign]
    answer = world.ensure()
    assert answer.bucket != first.bucket
    assert answer.repaired
    assert answer.bucket in world.store.buckets
    record = world.record()
    assert record is not None
    assert record.bucket == answer.bucket
    assert record.state is BucketState.READY


def test_a_registered_name_now_owned_by_another_account_is_a_conflict_not_a_new_bucket(world: World) -> None:
    first = world.ensure()
    world.store.buckets[first.bucket] = FakeBucket(owner=OTHER_ACCOUNT, region="us-east-1")
    with pytest.raises(Conflict) as caught:
        world.ensure()
    assert "thermostat bucket forget --project api --stage prod --region us-east-1" in str(caught.value)
    assert world.record().bucket == first.bucket  # type: ignore[union-attr]
    assert world.store.calls["create"] == 1
