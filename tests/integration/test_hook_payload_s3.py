"""The hook's user payload from S3: each kind of failure is the right kind of error."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from domain.errors import InvalidInput, NotFound, Unavailable
from infra.s3_payloads import read_payload_s3

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(moto_aws: None) -> str:
    boto3.client("s3").create_bucket(Bucket="hook-payloads")
    boto3.client("s3").put_object(Bucket="hook-payloads", Key="ok.json", Body=json.dumps({"path": "/health"}))
    boto3.client("s3").put_object(Bucket="hook-payloads", Key="bad.json", Body=b"{not json")
    return "hook-payloads"


def test_an_allowed_json_payload_is_read(bucket: str) -> None:
    data = read_payload_s3(f"s3://{bucket}/ok.json", (bucket,), s3_client=boto3.client("s3"))
    assert json.loads(data) == {"path": "/health"}


def test_a_missing_object_is_not_found(bucket: str) -> None:
    with pytest.raises(NotFound, match=r"missing\.json"):
        read_payload_s3(f"s3://{bucket}/missing.json", (bucket,), s3_client=boto3.client("s3"))


@pytest.mark.parametrize(
    ("uri", "allowed", "message"),
    [
        ("s3://hook-payloads/ok.json", (), "THERMOSTAT_PAYLOAD_BUCKETS is empty"),
        ("s3://other-bucket/ok.json", ("hook-payloads",), "other-bucket"),
        ("https://hook-payloads/ok.json", ("hook-payloads",), "https://hook-payloads/ok.json"),
        ("s3://hook-payloads/bad.json", ("hook-payloads",), "is not JSON"),
    ],
)
def test_a_wrong_reference_is_invalid_input(bucket: str, uri: str, allowed: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        read_payload_s3(uri, allowed, s3_client=boto3.client("s3"))


def test_an_unreachable_s3_is_unavailable(aws_env: None) -> None:
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 0}, connect_timeout=1)
    )
    with pytest.raises(Unavailable, match="hook payload"):
        read_payload_s3("s3://hook-payloads/ok.json", ("hook-payloads",), s3_client=client)
