"""S3 adapter of the bucket store: one account's buckets, every call pinned to that owner.

``ExpectedBucketOwner`` on every bucket-level call means a bucket name that another account has
taken (for instance after ours was deleted) answers 403 instead of silently becoming the place
our artifacts are uploaded to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from domain.buckets import (
    BucketInfo,
    BucketNameUnavailable,
    BucketProbe,
    CreateOutcome,
    DeleteOutcome,
    InvalidBucketName,
    ProbeStatus,
)
from domain.errors import Unavailable
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PublicAccessBlockConfigurationTypeDef, ServerSideEncryptionConfigurationTypeDef

US_EAST_1 = "us-east-1"
_MISSING = frozenset({"404", "NoSuchBucket", "NotFound"})
_FORBIDDEN = frozenset({"403", "AccessDenied", "Forbidden", "AllAccessDisabled"})
PUBLIC_ACCESS_BLOCK: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
DEFAULT_ENCRYPTION: ServerSideEncryptionConfigurationTypeDef = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
}


def create_bucket_arguments(bucket: str, region: str) -> dict[str, Any]:
    """``CreateBucket`` arguments: no ``LocationConstraint`` in us-east-1 (S3 refuses it), required elsewhere."""
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != US_EAST_1:
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    return arguments


class S3BucketStore:
    """:class:`domain.buckets.BucketStore` for the buckets of account ``expected_owner``."""

    def __init__(self, expected_owner: str, client: S3Client | None = None, region: str | None = None) -> None:
        self.expected_owner = expected_owner
        self.region = region or aws.region()
        self._client = aws.LazyClient(client, lambda: aws.client("s3", region_name=self.region))

    @property
    def client(self) -> S3Client:
        """The S3 client (built at first use, in the store's region)."""
        return self._client.get()

    def probe(self, bucket: str) -> BucketProbe:
        """``HeadBucket`` with ``ExpectedBucketOwner``: ours (with its region), missing, or foreign."""
        try:
            response = self.client.head_bucket(Bucket=bucket, ExpectedBucketOwner=self.expected_owner)
        except Exception as exc:
            code = aws.error_code(exc)
            if code in _MISSING:
                return BucketProbe(status=ProbeStatus.MISSING)
            if code in _FORBIDDEN:
                return BucketProbe(status=ProbeStatus.FOREIGN)
            raise _unavailable("HeadBucket", bucket, exc) from exc
        region = response.get("BucketRegion") or response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
        return BucketProbe(status=ProbeStatus.OURS, region=region)

    def create(self, bucket: str, region: str) -> CreateOutcome:
        """``CreateBucket`` in ``region``.

        us-east-1 answers 200 for a bucket this account already owns, so CREATED there means
        "created or already ours": the policy probes first whenever that matters.
        """
        try:
            self.client.create_bucket(**create_bucket_arguments(bucket, region))
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return CreateOutcome.ALREADY_OURS
            if code == "BucketAlreadyExists":
                raise BucketNameUnavailable(
                    f"bucket name {bucket} is taken by another AWS account (S3 BucketAlreadyExists): bucket names "
                    "are global; name another bucket, or omit it and thermostat will generate one"
                ) from exc
            if code == "OperationAborted":
                raise BucketNameUnavailable(
                    f"S3 is still releasing the bucket name {bucket} (OperationAborted); retry in a minute"
                ) from exc
            if code == "InvalidBucketName":
                raise InvalidBucketName(bucket, ["S3 refused it (InvalidBucketName)"]) from exc
            if code == "TooManyBuckets":
                raise Unavailable(
                    "the account has reached its bucket quota (TooManyBuckets): run `thermostat bucket sweep` "
                    "to find stray buckets, or ask AWS for a higher quota"
                ) from exc
            raise _unavailable("CreateBucket", bucket, exc) from exc
        return CreateOutcome.CREATED

    def configure(self, bucket: str, tags: Mapping[str, str]) -> None:
        """Tags, a full public-access block and SSE-S3 default encryption (three calls, all idempotent)."""
        owner = self.expected_owner
        try:
            self.client.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
                ExpectedBucketOwner=owner,
            )
            self.client.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK, ExpectedBucketOwner=owner
            )
            self.client.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION, ExpectedBucketOwner=owner
            )
        except Exception as exc:
            raise _unavailable("configuring", bucket, exc) from exc

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket of the account (paginated ``ListBuckets``)."""
        found: list[BucketInfo] = []
        try:
            for page in self.client.get_paginator("list_buckets").paginate():
                for entry in page.get("Buckets", []):
                    created = entry.get("CreationDate")
                    found.append(
                        BucketInfo(
                            name=entry["Name"],
                            region=entry.get("BucketRegion"),
                            created_at=created.timestamp() if created is not None else None,
                        )
                    )
        except Exception as exc:
            raise _unavailable("ListBuckets", "(all)", exc) from exc
        return found

    def delete_if_empty(self, bucket: str) -> DeleteOutcome:
        """``DeleteBucket``: S3 itself refuses a non-empty bucket, so there is no list-then-delete race."""
        try:
            self.client.delete_bucket(Bucket=bucket, ExpectedBucketOwner=self.expected_owner)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "BucketNotEmpty":
                return DeleteOutcome.NOT_EMPTY
            if code in _MISSING:
                return DeleteOutcome.GONE
            if code in _FORBIDDEN:
                return DeleteOutcome.NOT_OURS
            raise _unavailable("DeleteBucket", bucket, exc) from exc
        return DeleteOutcome.DELETED

    def delete_preview(self, bucket: str) -> DeleteOutcome:
        """``ListObjectVersions`` of one entry: a version or a delete marker is what makes DeleteBucket refuse."""
        try:
            page = self.client.list_object_versions(Bucket=bucket, MaxKeys=1, ExpectedBucketOwner=self.expected_owner)
        except Exception as exc:
            code = aws.error_code(exc)
            if code in _MISSING:
                return DeleteOutcome.GONE
            if code in _FORBIDDEN:
                return DeleteOutcome.NOT_OURS
            raise _unavailable("ListObjectVersions", bucket, exc) from exc
        if page.get("Versions") or page.get("DeleteMarkers"):
            return DeleteOutcome.NOT_EMPTY
        return DeleteOutcome.DELETED

    def tags(self, bucket: str) -> dict[str, str] | None:
        """``GetBucketTagging``: {} for an untagged bucket, None for one gone or whose tags this role may not read."""
        try:
            response = self.client.get_bucket_tagging(Bucket=bucket, ExpectedBucketOwner=self.expected_owner)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "NoSuchTagSet":
                return {}
            if code in _MISSING or code in _FORBIDDEN:
                return None
            raise _unavailable("GetBucketTagging", bucket, exc) from exc
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}


def _unavailable(what: str, bucket: str, exc: Exception) -> Unavailable:
    code = aws.error_code(exc) or type(exc).__name__
    return Unavailable(f"S3 {what} {bucket} failed: {code}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
