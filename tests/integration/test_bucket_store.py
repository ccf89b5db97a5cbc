"""S3BucketStore against moto (and botocore's Stubber where moto is too lenient)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from domain.buckets import BucketNameUnavailable, CreateOutcome, DeleteOutcome, InvalidBucketName, ProbeStatus
from domain.errors import Unavailable
from infra.s3_buckets import DEFAULT_ENCRYPTION, PUBLIC_ACCESS_BLOCK, S3BucketStore, create_bucket_arguments

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


def _other_account_s3() -> Any:
    """An S3 client acting as another account (moto derives the account from assumed-role credentials)."""
    creds = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="other")
    c = creds["Credentials"]
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


@pytest.fixture
def store(moto_aws: None) -> S3BucketStore:
    return S3BucketStore(ACCOUNT, region="us-east-1")


def test_location_constraint_rules() -> None:
    assert create_bucket_arguments("b-1", "us-east-1") == {"Bucket": "b-1"}
    assert create_bucket_arguments("b-1", "eu-west-1") == {
        "Bucket": "b-1",
        "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
    }


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_create_puts_the_bucket_in_the_right_region(store: S3BucketStore, region: str) -> None:
    assert store.create(f"api-{region}", region) is CreateOutcome.CREATED
    location = boto3.client("s3").get_bucket_location(Bucket=f"api-{region}")["LocationConstraint"]
    assert (location or "us-east-1") == region
    probe = store.probe(f"api-{region}")
    assert probe.status is ProbeStatus.OURS
    assert probe.region == region


def test_a_bucket_we_own_is_not_new_outside_us_east_1(store: S3BucketStore) -> None:
    store.create("api-eu", "eu-west-1")
    assert store.create("api-eu", "eu-west-1") is CreateOutcome.ALREADY_OURS


def test_a_name_taken_by_another_account_is_unavailable(store: S3BucketStore) -> None:
    _other_account_s3().create_bucket(Bucket="taken-elsewhere")
    with pytest.raises(BucketNameUnavailable, match="taken by another AWS account"):
        store.create("taken-elsewhere", "us-east-1")
    assert "taken-elsewhere" not in [b.name for b in store.list_buckets()]


def test_probe_says_missing_for_an_unknown_bucket(store: S3BucketStore) -> None:
    assert store.probe("never-created-here").status is ProbeStatus.MISSING


def test_configure_tags_blocks_public_access_and_encrypts(store: S3BucketStore) -> None:
    store.create("api-prod-cfg", "us-east-1")
    store.configure("api-prod-cfg", {"thermostat:project": "api", "thermostat:stage": "prod"})
    s3 = boto3.client("s3")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="api-prod-cfg")["TagSet"]}
    assert tags == {"thermostat:project": "api", "thermostat:stage": "prod"}
    block = s3.get_public_access_block(Bucket="api-prod-cfg")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    rules = s3.get_bucket_encryption(Bucket="api-prod-cfg")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_configure_on_a_missing_bucket_is_unavailable(store: S3BucketStore) -> None:
    with pytest.raises(Unavailable, match="S3 configuring nope-missing failed: NoSuchBucket"):
        store.configure("nope-missing", {"a": "b"})


def test_list_and_delete_only_empty_buckets(store: S3BucketStore) -> None:
    store.create("zappa-empty0001", "us-east-1")
    store.create("zappa-full00001", "eu-west-1")
    boto3.client("s3", region_name="eu-west-1").put_object(Bucket="zappa-full00001", Key="k", Body=b"x")
    assert sorted(b.name for b in store.list_buckets()) == ["zappa-empty0001", "zappa-full00001"]
    assert store.delete_if_empty("zappa-full00001") is DeleteOutcome.NOT_EMPTY
    assert store.delete_if_empty("zappa-empty0001") is DeleteOutcome.DELETED
    assert store.delete_if_empty("zappa-empty0001") is DeleteOutcome.GONE
    assert [b.name for b in store.list_buckets()] == ["zappa-full00001"]


# -- what moto does not model: ExpectedBucketOwner ------------------------------------------


def _stubbed(aws_env: None) -> tuple[S3BucketStore, Stubber]:
    client = boto3.client("s3", region_name="us-east-1")
    return S3BucketStore(ACCOUNT, client=client), Stubber(client)


def test_probe_sends_the_expected_owner_and_reads_403_as_foreign(aws_env: None) -> None:
    store, stub = _stubbed(aws_env)
    stub.add_client_error(
        "head_bucket",
        service_error_code="403",
        http_status_code=403,
        expected_params={"Bucket": "their-bucket", "ExpectedBucketOwner": ACCOUNT},
    )
    with stub:
        assert store.probe("their-bucket").status is ProbeStatus.FOREIGN
    stub.assert_no_pending_responses()


def test_every_configuring_call_and_the_delete_are_pinned_to_the_owner(aws_env: None) -> None:
    store, stub = _stubbed(aws_env)
    owned = {"Bucket": "b-owned", "ExpectedBucketOwner": ACCOUNT}
    stub.add_response("put_bucket_tagging", {}, {**owned, "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}})
    stub.add_response("put_public_access_block", {}, {**owned, "PublicAccessBlockConfiguration": PUBLIC_ACCESS_BLOCK})
    stub.add_response("put_bucket_encryption", {}, {**owned, "ServerSideEncryptionConfiguration": DEFAULT_ENCRYPTION})
    stub.add_response("delete_bucket", {}, owned)
    with stub:
        store.configure("b-owned", {"k": "v"})
        assert store.delete_if_empty("b-owned") is DeleteOutcome.DELETED
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("InvalidBucketName", InvalidBucketName),
        ("TooManyBuckets", Unavailable),
        ("OperationAborted", BucketNameUnavailable),
        ("InternalError", Unavailable),
    ],
)
def test_create_errors_become_domain_errors(aws_env: None, code: str, error: type[Exception]) -> None:
    store, stub = _stubbed(aws_env)
    stub.add_client_error("create_bucket", service_error_code=code, http_status_code=400)
    with stub, pytest.raises(error) as caught:
        store.create("some-bucket", "us-east-1")
    assert isinstance(caught.value.__cause__, Exception)


def test_a_throttled_probe_is_unavailable_not_missing(aws_env: None) -> None:
    store, stub = _stubbed(aws_env)
    stub.add_client_error("head_bucket", service_error_code="SlowDown", http_status_code=503)
    with stub, pytest.raises(Unavailable, match="HeadBucket"):
        store.probe("busy-bucket")
