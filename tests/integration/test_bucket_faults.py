"""Deployment buckets under faults injected on the wire: nothing lost, nothing doubled.

A fault proxy (``tests.faultproxy``) sits on 127.0.0.1 in front of moto's threaded server; the
control plane's S3, DynamoDB or EventBridge client is pointed at it with
``AWS_ENDPOINT_URL_<SERVICE>``, exactly as a deployment points it at AWS. The proxy forwards a
request and then loses its answer (a 500 or a reset), or answers a throttle without forwarding.
The test itself reads the world directly from moto.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from domain.buckets import resolution_id
from domain.errors import Unavailable
from handlers import deployment_events, wiring
from infra.accounts import forget_account
from infra.settings import get_settings
from tests.faultproxy import Fault, FaultProxy, Rule

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
#: CreateBucket is a PUT on the bucket itself, without a query (PutBucketTagging & co. carry one).
CREATE_BUCKET = {"method": "PUT", "path": r"^/[^/]+/?$", "query": ""}
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }
).encode()


class Context:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thermostat-deployment-events"
    function_name = "thermostat-deployment-events"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def requested(detail: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "source": "thermostat.deployments",
        "detail-type": "Deployment Requested",
        "account": ACCOUNT,
        "region": "us-east-1",
        "detail": detail,
    }


@pytest.fixture
def proxy(moto_server: str, table: str, fresh_observability: None) -> Iterator[FaultProxy]:
    """A fault proxy in front of moto; each test points the services it attacks at it."""
    with FaultProxy(moto_server) as running:
        wiring.reset()
        forget_account()
        get_settings.cache_clear()
        yield running
    wiring.reset()
    forget_account()


def through(proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, *services: str) -> None:
    for service in services:
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", proxy.url)
    wiring.reset()


def all_buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


def tags_of(bucket: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in boto3.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]}


def receipt(table: str, event_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}}, ConsistentRead=True
    )
    return item["Item"]


def end_the_lease(table: str, event_id: str) -> None:
    """What the passing of the invocation's deadline does to its receipt (written straight into moto)."""
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
        UpdateExpression="SET lease_until = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )


@pytest.fixture
def resolved_queue(proxy: FaultProxy) -> str:
    """An SQS queue receiving every ``Deployment Bucket Resolved`` of the default bus (in moto)."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="resolved")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="resolved", EventPattern=json.dumps({"detail-type": ["Deployment Bucket Resolved"]}))
    events.put_targets(Rule="resolved", Targets=[{"Id": "q", "Arn": arn}])
    return url


def published(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    for _ in range(10):  # bounded: moto delivers synchronously, this only drains
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        found.extend(json.loads(message["Body"]) for message in batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


# -- 1. CreateBucket's answers lost ---------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "fault"),
    [("us-east-1", Fault.FORWARD_THEN_500), ("eu-west-1", Fault.FORWARD_THEN_RESET)],
)
def test_lost_create_bucket_answers_leave_one_bucket_registered_and_tagged(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch, region: str, fault: Fault
) -> None:
    # Given S3 applies every CreateBucket but every answer is lost (each of botocore's attempts)
    through(proxy, monkeypatch, "S3")
    lost = proxy.add(Rule(fault=fault, **CREATE_BUCKET))
    detail = {"project": "shop", "stage": "prod", "region": region}
    with pytest.raises(Unavailable, match="CreateBucket"):
        deployment_events.lambda_handler(requested(detail, "e1"), Context())
    assert lost.taken == 4  # the first attempt and botocore's three retries
    (made,) = all_buckets()
    # When Lambda retries the event, and another deploy comes, CreateBucket's answers still lost
    retried = deployment_events.lambda_handler(requested(detail, "e1"), Context())
    later = deployment_events.lambda_handler(requested(detail, "e2"), Context())
    # Then there is still one bucket: the one made first, finished (no CreateBucket needed), reused
    assert lost.taken == 4
    assert all_buckets() == [made]
    assert retried["bucket"] == later["bucket"] == made
    assert (retried["reused"], later["reused"]) == (False, True)
    (record,) = wiring.bucket_registry().records()
    assert (record.bucket, record.state.value) == (made, "ready")
    assert tags_of(made)["thermostat:managed-by"] == "thermostat"


def test_a_retry_answered_bucket_already_owned_by_you_is_our_own_create(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a named bucket in eu-west-1 whose first CreateBucket answer is lost: botocore's retry
    # then meets BucketAlreadyOwnedByYou (the bucket our own first attempt made)
    through(proxy, monkeypatch, "S3")
    lost = proxy.add(Rule(fault=Fault.FORWARD_THEN_RESET, times=1, **CREATE_BUCKET))
    detail = {"project": "shop", "stage": "prod", "region": "eu-west-1", "bucket": "acme-shop-artifacts"}
    answer = deployment_events.lambda_handler(requested(detail, "e1"), Context())
    # Then that is success, and thermostat configures the bucket it made (tags, encryption, no public access)
    assert lost.taken == 1
    assert len(proxy.seen(method="PUT")) >= 2  # the retry went out
    assert answer["bucket"] == "acme-shop-artifacts"
    assert all_buckets() == ["acme-shop-artifacts"]
    assert tags_of("acme-shop-artifacts")["thermostat:project"] == "shop"
    block = boto3.client("s3").get_public_access_block(Bucket="acme-shop-artifacts")
    assert all(block["PublicAccessBlockConfiguration"].values())


# -- 2. one event, one announcement ---------------------------------------------------------


def test_a_failed_receipt_completion_does_not_announce_twice(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # Given DynamoDB throttles every write that completes a receipt (after the answer was announced)
    through(proxy, monkeypatch, "DYNAMODB")
    throttled = proxy.add(
        Rule(
            fault=Fault.ANSWER,
            target="UpdateItem",
            body=b'"completed"',
            status=400,
            reply=THROTTLED,
            content_type="application/x-amz-json-1.0",
        )
    )
    event = requested({"project": "shop", "stage": "prod"}, "e1")
    with pytest.raises(Unavailable, match="completing"):
        deployment_events.lambda_handler(event, Context())
    assert throttled.taken == 4
    first = published(resolved_queue)
    assert len(first) == 1
    # When the event is delivered again after the lease, DynamoDB well again
    proxy.clear()
    end_the_lease(table, "e1")
    again = deployment_events.lambda_handler(event, Context())
    # Then it answers from the receipt, announces nothing more, and completes the receipt
    assert published(resolved_queue) == []
    assert again == {k: v for k, v in first[0]["detail"].items() if k not in ("resolution_id", "requested_event_id")}
    assert receipt(table, "e1")["state"]["S"] == "completed"
    assert len(all_buckets()) == 1


def test_a_failed_announcement_is_made_once_by_the_retry(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # Given EventBridge refuses PutEvents (nothing applied) for the first delivery
    through(proxy, monkeypatch, "EVENTBRIDGE")
    proxy.add(Rule(fault=Fault.ANSWER, target="PutEvents", status=500, reply=b'{"__type":"InternalException"}'))
    event = requested({"project": "shop", "stage": "prod"}, "e1")
    with pytest.raises(Unavailable, match="PutEvents"):
        deployment_events.lambda_handler(event, Context())
    assert published(resolved_queue) == []
    # When Lambda retries it (the failure gave the receipt back at once)
    proxy.clear()
    answer = deployment_events.lambda_handler(event, Context())
    # Then the recorded answer is announced, once; the bucket was resolved once
    (announced,) = published(resolved_queue)
    assert announced["detail"]["bucket"] == answer["bucket"]
    assert answer["reused"] is False
    assert announced["detail"]["resolution_id"] == resolution_id("e1")
    assert len(all_buckets()) == 1


class ShortContext(Context):
    """An invocation with 9 s left: 4 s for the announcement once ``SAFETY_S`` is kept back."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + 9.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def test_a_hanging_eventbridge_fails_the_delivery_before_its_deadline_and_the_retry_announces(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # Given EventBridge answers PutEvents only after a minute (nothing applied), and 9 s left
    through(proxy, monkeypatch, "EVENTBRIDGE")
    hang = proxy.add(Rule(fault=Fault.ANSWER, target="PutEvents", delay_s=60.0, status=500, reply=b"{}"))
    event = requested({"project": "shop", "stage": "prod"}, "e1")
    context = ShortContext()
    # When the deployment is resolved and announced
    with pytest.raises(Unavailable, match="PutEvents") as failed:
        deployment_events.lambda_handler(event, context)
    # Then the delivery failed with a clear error before the invocation's deadline (not killed by
    # Lambda's timeout, which would leave the receipt held until its lease ends)
    assert context.get_remaining_time_in_millis() > 0, failed.value
    assert "ReadTimeoutError" in str(failed.value) or "not attempted" in str(failed.value)
    assert 1 <= hang.taken <= 3
    # And nothing was announced, the receipt says so, and the bucket was resolved once
    assert published(resolved_queue) == []
    assert receipt(table, "e1")["state"]["S"] != "completed"
    # When Lambda retries it against a healthy EventBridge
    proxy.clear()
    answer = deployment_events.lambda_handler(event, Context())
    # Then the recorded answer is announced, once
    (announced,) = published(resolved_queue)
    assert announced["detail"]["bucket"] == answer["bucket"]
    assert len(all_buckets()) == 1


def test_an_accepted_announcement_whose_answer_was_lost_repeats_with_the_same_id(
    proxy: FaultProxy, resolved_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given EventBridge accepts PutEvents but every answer is lost: thermostat cannot know it went
    # out, so the retry announces again (the one double announcement left), with the same id
    through(proxy, monkeypatch, "EVENTBRIDGE")
    proxy.add(Rule(fault=Fault.FORWARD_THEN_500, target="PutEvents", times=4))
    event = requested({"project": "shop", "stage": "prod"}, "e1")
    with pytest.raises(Unavailable, match="PutEvents"):
        deployment_events.lambda_handler(event, Context())
    deployment_events.lambda_handler(event, Context())
    announcements = published(resolved_queue)
    assert len(announcements) >= 2
    assert {a["detail"]["resolution_id"] for a in announcements} == {resolution_id("e1")}
    assert {a["detail"]["bucket"] for a in announcements} == set(all_buckets())


def test_the_proxy_forwards_untouched_when_no_rule_matches(proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    through(proxy, monkeypatch, "S3")
    client = wiring.s3_client("us-east-1")
    client.create_bucket(Bucket="plain-bucket")
    client.put_object(Bucket="plain-bucket", Key="k", Body=b"v" * 70_000)
    assert client.get_object(Bucket="plain-bucket", Key="k")["Body"].read() == b"v" * 70_000
    assert [s.fault for s in proxy.seen()] == [None, None, None]
    with urllib.request.urlopen(f"{proxy.url}/moto-api/data.json", timeout=10) as reply:
        assert reply.status == 200
