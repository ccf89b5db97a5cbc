"""DynamoDB adapter of the bucket registry (pynamodb records in the single table).

Keys (see ``infra.table``): ``BUCKET#{account}#{region}#{project}#{stage}`` / ``BUCKET`` for a
deployment bucket, ``STRAY`` / ``{bucket}`` for a stray. The claim goes through the plain
DynamoDB client: pynamodb turns a failed condition into an error without the item that
``ReturnValuesOnConditionCheckFailure=ALL_OLD`` sent back, and that item is what makes the
reuse path one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.update import Action

from domain.buckets import BucketKey, BucketRecord, BucketState, StrayRecord, StraySource
from domain.errors import Unavailable
from infra import aws
from infra.table import TableModel, bind_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BUCKET_SK = "BUCKET"
STRAY_PK = "STRAY"
#: A stray record outlives its last sighting by this long (the sweeper reports live strays anyway).
STRAY_TTL = timedelta(days=30)


def bucket_pk(key: BucketKey) -> str:
    """The partition key of ``key``'s record."""
    return f"BUCKET#{key.account}#{key.region}#{key.project}#{key.stage}"


class BucketModel(TableModel):
    """A deployment bucket record."""

    account = UnicodeAttribute()
    region = UnicodeAttribute()
    project = UnicodeAttribute()
    stage = UnicodeAttribute()
    bucket = UnicodeAttribute()
    state = UnicodeAttribute()
    claim_id = UnicodeAttribute()
    claimed_at = NumberAttribute()
    ready_at = NumberAttribute(null=True)
    generated = BooleanAttribute(default=True)
    create_sent = BooleanAttribute(null=True)  # absent on records written before it existed

    @classmethod
    def from_record(cls, record: BucketRecord) -> BucketModel:
        """The item for ``record``."""
        key = record.key
        return cls(
            pk=bucket_pk(key),
            sk=BUCKET_SK,
            account=key.account,
            region=key.region,
            project=key.project,
            stage=key.stage,
            bucket=record.bucket,
            state=record.state.value,
            claim_id=record.claim_id,
            claimed_at=record.claimed_at,
            ready_at=record.ready_at,
            generated=record.generated,
            create_sent=record.create_sent or None,
        )

    def to_record(self) -> BucketRecord:
        """The domain record of this item."""
        return BucketRecord(
            key=BucketKey(account=self.account, region=self.region, project=self.project, stage=self.stage),
            bucket=self.bucket,
            state=BucketState(self.state),
            claim_id=self.claim_id,
            claimed_at=float(self.claimed_at),
            ready_at=None if self.ready_at is None else float(self.ready_at),
            generated=bool(self.generated),
            create_sent=bool(self.create_sent),
        )


class StrayModel(TableModel):
    """A stray bucket record."""

    source = UnicodeAttribute()
    reason = UnicodeAttribute()
    seen_at = NumberAttribute()
    region = UnicodeAttribute(null=True)
    account = UnicodeAttribute(null=True)

    def to_record(self) -> StrayRecord:
        """The domain record of this item."""
        return StrayRecord(
            bucket=self.sk,
            source=StraySource(self.source),
            reason=self.reason,
            seen_at=float(self.seen_at),
            region=self.region,
            account=self.account,
        )


class DynamoBucketRegistry:
    """:class:`domain.buckets.BucketRegistry` on the thermostat table."""

    def __init__(self, table_name: str, region: str | None = None, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.region = region or aws.region()
        self._client = aws.LazyClient(client, lambda: aws.client("dynamodb", region_name=self.region))

    @property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client used for the claim (built at first use)."""
        return self._client.get()

    def _bind(self) -> None:
        bind_table(self.table_name, self.region)

    # -- deployment buckets -----------------------------------------------------------------

    def claim(self, record: BucketRecord) -> BucketRecord | None:
        """Put the record if the key has none; else return the existing one (``ALL_OLD``, one call)."""
        self._bind()
        item = BucketModel.from_record(record)
        request: Any = item.get_save_kwargs_from_instance(
            condition=BucketModel.pk.does_not_exist(), return_values_on_condition_failure="ALL_OLD"
        )
        try:
            self.client.put_item(**request)
        except Exception as exc:
            if aws.error_code(exc) != aws.CONDITION_FAILED:
                raise self._unavailable("claim", record.key, exc) from exc
            old = getattr(exc, "response", {}).get("Item")
            if not old:
                raise self._unavailable("claim", record.key, exc) from exc
            return BucketModel.from_raw_data(old).to_record()
        return None

    def get(self, key: BucketKey) -> BucketRecord | None:
        """The key's record, read consistently."""
        self._bind()
        with self._errors("read", key):
            try:
                return BucketModel.get(bucket_pk(key), BUCKET_SK, consistent_read=True).to_record()
            except BucketModel.DoesNotExist:
                return None

    def replace(self, expected_claim_id: str, record: BucketRecord) -> bool:
        """Overwrite the record if its claim id is still ``expected_claim_id``."""
        self._bind()
        item = BucketModel.from_record(record)
        return self._conditional(
            "replace", record.key, lambda: item.save(condition=BucketModel.claim_id == expected_claim_id)
        )

    def mark_ready(self, record: BucketRecord, now: float) -> bool:
        """Mark the claim ready if it is still ``record.claim_id``."""
        self._bind()
        item = BucketModel(bucket_pk(record.key), BUCKET_SK)
        actions: list[Action] = [BucketModel.state.set(BucketState.READY.value), BucketModel.ready_at.set(now)]
        return self._conditional(
            "mark ready",
            record.key,
            lambda: item.update(
                actions=actions,
                condition=(BucketModel.claim_id == record.claim_id) & (BucketModel.bucket == record.bucket),
            ),
        )

    def release(self, record: BucketRecord) -> None:
        """Delete the record if it is still ``record.claim_id``."""
        self._bind()
        item = BucketModel(bucket_pk(record.key), BUCKET_SK)
        self._conditional("release", record.key, lambda: item.delete(condition=BucketModel.claim_id == record.claim_id))

    def forget(self, key: BucketKey) -> BucketRecord | None:
        """Delete the key's record (the bucket stays); the record it had."""
        current = self.get(key)
        if current is not None:
            self.release(current)
        return current

    def records(self) -> list[BucketRecord]:
        """Every deployment-bucket record (a filtered scan: the CLI and the sweeper, not the hot path)."""
        self._bind()
        with self._errors("scan", None):
            items = BucketModel.scan(filter_condition=BucketModel.pk.startswith("BUCKET#"), consistent_read=True)
            found = [item.to_record() for item in items if item.sk == BUCKET_SK]
        return sorted(found, key=lambda r: (r.key.project, r.key.stage, r.key.region, r.key.account))

    # -- strays -----------------------------------------------------------------------------

    def record_stray(self, stray: StrayRecord) -> None:
        """Upsert the stray (one record per bucket name), expiring 30 days after the last sighting."""
        self._bind()
        item = StrayModel(
            pk=STRAY_PK,
            sk=stray.bucket,
            source=stray.source.value,
            reason=stray.reason,
            seen_at=stray.seen_at,
            region=stray.region,
            account=stray.account,
            ttl=datetime.fromtimestamp(stray.seen_at, tz=UTC) + STRAY_TTL,
        )
        with self._errors("record stray", None):
            item.save()

    def strays(self) -> list[StrayRecord]:
        """Every recorded stray, by name."""
        self._bind()
        with self._errors("query strays", None):
            return [item.to_record() for item in StrayModel.query(STRAY_PK, consistent_read=True)]

    def forget_stray(self, bucket: str) -> None:
        """Drop the stray record of ``bucket``."""
        self._bind()
        with self._errors("forget stray", None):
            StrayModel(STRAY_PK, bucket).delete()

    # -- errors -----------------------------------------------------------------------------

    def _conditional(self, what: str, key: BucketKey, call: Callable[[], object]) -> bool:
        try:
            call()
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return False
            raise self._unavailable(what, key, exc) from exc
        return True

    @contextmanager
    def _errors(self, what: str, key: BucketKey | None) -> Iterator[None]:
        try:
            yield
        except PynamoDBException as exc:
            raise self._unavailable(what, key, exc) from exc

    def _unavailable(self, what: str, key: BucketKey | None, exc: Exception) -> Unavailable:
        code = aws.error_code(exc) or getattr(exc, "cause_response_code", None) or type(exc).__name__
        about = f" for {key.label()}" if key is not None else ""
        hint = " (run `thermostat table create`?)" if code == "ResourceNotFoundException" else ""
        return Unavailable(
            f"DynamoDB {what}{about} failed on table {self.table_name}: {code}: {_first_line(exc)}{hint}"
        )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
