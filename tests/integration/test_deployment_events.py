"""handlers.deployment_events end to end against moto: answers, publication, dedupe, strays, bad input, races."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from domain.buckets import resolution_id
from domain.errors import InvalidInput, Unavailable
from handlers import deployment_events, wiring
from infra.accounts import forget_account
from tests.fakes import dead_endpoint

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thermostat-deployment-events"


class Context:
    invoked_function_arn = ARN
    function_name = "thermostat-deployment-events"

    def __init__(self, request_id: str = "req-1") -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def requested(detail: Any, event_id: str = "evt-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "source": "thermostat.deployments",
        "detail-type": "Deployment Requested",
        "account": ACCOUNT,
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def create_bucket_call(name: str, event_id: str = "ct-1", **extra: Any) -> dict[str, Any]:
    detail = {
        "eventVersion": "1.09",
        "eventSource": "s3.amazonaws.com",
        "eventName": "CreateBucket",
        "awsRegion": "us-east-1",
        "requestParameters": {"bucketName": name, "Host": f"{name}.s3.amazonaws.com"},
        "responseElements": None,
        **extra,
    }
    return {
        "version": "0",
        "id": event_id,
        "source": "aws.s3",
        "detail-type": "AWS API Call via CloudTrail",
        "account": ACCOUNT,
        "region": "us-east-1",
        "detail": detail,
    }


def emf_metrics(output: str) -> Counter[str]:
    """Sum of every EMF metric printed (Powertools' documents and the runtime's telemetry lines)."""
    totals: Counter[str] = Counter()
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                totals[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    return totals


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    wiring.reset()
    forget_account()
    yield
    wiring.reset()
    forget_account()


@pytest.fixture
def resolved_queue(moto_aws: None, table: str) -> str:
    """An SQS queue receiving every ``Deployment Bucket Resolved`` event of the default bus."""
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


def table_items(table: str) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=table)["Items"]


def our_buckets() -> list[str]:
    return sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"])


# -- Deployment Requested ---------------------------------------------------------------------


def test_a_deploy_gets_a_bucket_and_the_answer_is_published(
    resolved_queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the first Deployment Requested of a key arrives
    answer = deployment_events.lambda_handler(requested({"project": "shop", "stage": "prod"}), Context())
    # Then the answer follows the contract and names a bucket that exists
    assert set(answer) == {"project", "stage", "region", "bucket", "reused"}
    assert answer["reused"] is False
    assert (answer["project"], answer["stage"], answer["region"]) == ("shop", "prod", "us-east-1")
    assert our_buckets() == [answer["bucket"]]
    # And it was published as Deployment Bucket Resolved
    (event,) = published(resolved_queue)
    assert event["detail-type"] == "Deployment Bucket Resolved"
    assert event["source"] == "thermostat.deployments"
    # with ids that stay the same on every delivery of this request, for consumers to deduplicate on
    assert event["detail"] == {**answer, "resolution_id": resolution_id("evt-1"), "requested_event_id": "evt-1"}
    assert emf_metrics(capsys.readouterr().out)["BucketsCreated"] == 1


def test_the_next_deploy_reuses_the_bucket(resolved_queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = deployment_events.lambda_handler(requested({"project": "shop", "stage": "prod"}, "e1"), Context())
    second = deployment_events.lambda_handler(requested({"project": "shop", "stage": "prod"}, "e2"), Context())
    assert second == {**first, "reused": True}
    assert len(our_buckets()) == 1
    assert [e["detail"]["reused"] for e in published(resolved_queue)] == [False, True]
    metrics = emf_metrics(capsys.readouterr().out)
    assert (metrics["BucketsCreated"], metrics["BucketsReused"]) == (1, 1)


def test_a_duplicate_delivery_has_one_effect(resolved_queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = requested({"project": "shop", "stage": "prod"}, "same-id")
    first = deployment_events.lambda_handler(event, Context("r1"))
    again = deployment_events.lambda_handler(event, Context("r2"))
    assert again == first
    assert len(published(resolved_queue)) == 1
    assert emf_metrics(capsys.readouterr().out)["BucketsCreated"] == 1


def test_a_named_bucket_loses_to_the_registered_one_and_becomes_a_stray(resolved_queue: str, table: str) -> None:
    first = deployment_events.lambda_handler(requested({"project": "shop", "stage": "prod"}, "e1"), Context())
    answer = deployment_events.lambda_handler(
        requested({"project": "shop", "stage": "prod", "bucket": "zappa-q1w2e3r4t"}, "e2"), Context()
    )
    assert answer["bucket"] == first["bucket"]
    assert answer["reused"] is True
    strays = wiring.bucket_registry().strays()
    assert [s.bucket for s in strays] == ["zappa-q1w2e3r4t"]
    assert "zappa-q1w2e3r4t" not in our_buckets()


def test_an_explicit_region_creates_the_bucket_there(resolved_queue: str) -> None:
    answer = deployment_events.lambda_handler(
        requested({"project": "shop", "stage": "prod", "region": "eu-west-1"}), Context()
    )
    assert answer["region"] == "eu-west-1"
    location = boto3.client("s3").get_bucket_location(Bucket=answer["bucket"])["LocationConstraint"]
    assert location == "eu-west-1"


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (requested({"stage": "prod"}), "detail.project: Field required"),
        (requested({"project": "shop", "stage": "my stage"}), "detail.stage: stage must be 1 to 32 letters"),
        (requested({"project": "p" * 10_240, "stage": "prod"}), "detail.project: project must be 1 to 63"),
        (requested({"project": "shop", "stage": "prod", "bucket": "My_Bucket"}), "detail.bucket: invalid bucket name"),
        (requested({"project": "shop", "stage": "prod", "bucket": "10.0.0.1"}), "formatted as an IP address"),
        (requested({"project": "shop", "stage": "prod", "bucket": "my.-bucket"}), "hyphen next to a period"),
        (requested({"project": "shop", "stage": "prod", "bucket": "my-.bucket"}), "hyphen next to a period"),
        (requested("not an object"), "detail: Input should be a valid dictionary"),
        ({"detail-type": "Deployment Requested", "source": "x", "detail": {}}, "id: Field required"),
        ("just a string", "expected an EventBridge event"),
        ({**requested({}), "detail-type": "Something Else"}, "unsupported event"),
    ],
)
def test_malformed_events_are_refused_clearly_and_write_nothing(
    resolved_queue: str, table: str, event: Any, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        deployment_events.lambda_handler(event, Context())
    message = str(caught.value)
    assert words in message
    assert len(message) < 600  # a 10 KB project name is not echoed back
    assert table_items(table) == []
    assert our_buckets() == []
    assert published(resolved_queue) == []


def test_its_own_answers_are_ignored(resolved_queue: str, table: str) -> None:
    event = {**requested({"bucket": "x"}), "detail-type": "Deployment Bucket Resolved"}
    assert "own answer" in deployment_events.lambda_handler(event, Context())["ignored"]
    assert table_items(table) == []


def test_a_warm_ping_is_answered_without_touching_aws(resolved_queue: str, table: str) -> None:
    reply = deployment_events.lambda_handler({"thermostat": {"v": 1, "action": "warm"}}, Context())
    assert reply["thermostat"]["warm"] is True
    assert table_items(table) == []


# -- CloudTrail CreateBucket ------------------------------------------------------------------


def test_a_throwaway_create_bucket_is_recorded_once(
    resolved_queue: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = create_bucket_call("zappa-a1s2d3f4g")
    outcome = deployment_events.lambda_handler(event, Context())
    again = deployment_events.lambda_handler(event, Context())
    assert outcome["stray"] is True
    assert again == outcome
    (stray,) = wiring.bucket_registry().strays()
    assert (stray.bucket, stray.source.value, stray.account) == ("zappa-a1s2d3f4g", "cloudtrail", ACCOUNT)
    assert emf_metrics(capsys.readouterr().out)["StrayBuckets"] == 1


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (create_bucket_call("zappa-a1s2d3f4g", errorCode="BucketAlreadyExists"), "the call failed"),
        (create_bucket_call("acme-artifacts"), "matches no stray pattern"),
    ],
)
def test_failed_or_ordinary_create_bucket_calls_change_nothing(
    resolved_queue: str, table: str, event: dict[str, Any], why: str
) -> None:
    assert why in deployment_events.lambda_handler(event, Context())["ignored"]
    assert table_items(table) == []


def test_stray_patterns_come_from_the_environment(
    resolved_queue: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.settings import get_settings

    monkeypatch.setenv("THERMOSTAT_STRAY_PATTERNS", r"^tmp-deploy-\d+$,^zappa-[a-z0-9]{9}$")
    get_settings.cache_clear()
    assert deployment_events.lambda_handler(create_bucket_call("tmp-deploy-42"), Context())["stray"] is True


def test_a_create_bucket_record_without_a_name_is_malformed(resolved_queue: str, table: str) -> None:
    event = create_bucket_call("x")
    event["detail"]["requestParameters"] = {"Host": "s3.amazonaws.com"}
    with pytest.raises(InvalidInput, match=r"detail\.requestParameters: .*bucketName"):
        deployment_events.lambda_handler(event, Context())
    assert table_items(table) == []


# -- over HTTP: concurrency and a dead DynamoDB -------------------------------------------------


def test_32_concurrent_deployment_events_make_one_bucket(
    moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools' metric set is per process; 32 threads stand in for 32 Lambda environments here.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    creates: list[str] = []
    lock = threading.Lock()

    def count(params: dict[str, Any], **_: Any) -> None:
        with lock:
            creates.append(params["Bucket"])

    wiring.s3_client("us-east-1").meta.events.register("before-parameter-build.s3.CreateBucket", count)
    start = threading.Barrier(32)

    def deliver(index: int) -> dict[str, Any]:
        start.wait(timeout=60)
        event = requested({"project": "shop", "stage": "prod"}, f"evt-{index}")
        return deployment_events.lambda_handler(event, Context(f"req-{index}"))

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = [f.result(timeout=120) for f in [pool.submit(deliver, i) for i in range(32)]]
    assert len(creates) == 1
    assert {a["bucket"] for a in answers} == set(creates)
    assert our_buckets() == creates
    assert len(wiring.bucket_registry().records()) == 1
    assert sum(1 for a in answers if not a["reused"]) == 1


def test_dynamodb_unavailable_surfaces_through_the_handler(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dead_endpoint())
    monkeypatch.setenv("THERMOSTAT_TABLE", "thermostat-unreachable")
    from infra.settings import get_settings

    get_settings.cache_clear()
    with pytest.raises(Unavailable, match="DynamoDB"):
        deployment_events.lambda_handler(requested({"project": "shop", "stage": "prod"}), Context())
    assert our_buckets() == []
