"""Sharded keep-warm rounds end to end: the scheduled handler plans and sends shards to a real (moto)
SQS queue, the local SQS event source hands them to the worker (batch size 1, partial batch
responses, a DLQ after maxReceiveCount), the worker pings a simulated Lambda endpoint with the
spoke role's credentials for other accounts (moto's STS), and the ledger (moto's DynamoDB) keeps one
round report. Faults are injected on the network path (tests/faultproxy.py): STS refusing a spoke
role, DynamoDB throttling a shard's reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from domain.keep_warm.shard_reports import ShardStatus
from domain.targets import make_target
from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction
from emulator.sqs_source import SqsEventSource
from handlers import keep_warm, keep_warm_shards, keep_warm_worker, wiring
from handlers.cli import main
from infra.accounts import forget_account
from infra.shard_ledger import DynamoShardLedger
from infra.table import create_table
from infra.target_store import DynamoTargetStore
from tests.faultproxy import Fault, FaultProxy, Rule

pytestmark = pytest.mark.integration

OWN = "123456789012"  # moto's default account
FAR = "111111111111"
DENIED = "222222222222"
MAX_RECEIVES = 3

#: STS's Query API error response for a refused AssumeRole (the documented shape of AWS's
#: "Common Errors" / "Query API error responses", with the AccessDenied message STS sends).
STS_ACCESS_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<Error><Type>Sender</Type><Code>AccessDenied</Code>"
    b"<Message>User: arn:aws:sts::123456789012:assumed-role/thermostat-keep-warm/worker is not authorized to "
    b"perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/thermostat-spoke</Message></Error>"
    b"<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
)
DYNAMODB_THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()


@dataclass
class Context:
    """What the worker reads of a Lambda context."""

    remaining_ms: int = 60_000
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{OWN}:function:thermostat-keep-warm-worker"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name: str = "thermostat-keep-warm-worker"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Stack:
    queue_url: str
    dlq_url: str
    lam: LambdaEndpoint
    proxy: FaultProxy
    store: DynamoTargetStore
    ledger: DynamoShardLedger
    sqs: Any

    def add(self, prefix: str, count: int, concurrency: int = 2, account: str | None = None) -> None:
        for index in range(count):
            self.lam.add(SimulatedFunction(f"{prefix}-{index}"))
            self.store.put(
                make_target(
                    function=f"{prefix}-{index}",
                    qualifier="live",
                    concurrency=concurrency,
                    hold_ms=100,
                    account=account,
                )
            )

    def plan(self) -> dict[str, Any]:
        result: dict[str, Any] = keep_warm.lambda_handler({"group": "default"}, Context())
        return result

    def source(self, **options: Any) -> SqsEventSource:
        context = options.pop("context", None) or Context()
        return SqsEventSource(
            self.queue_url, keep_warm_worker.lambda_handler, context_factory=lambda: context, client=self.sqs, **options
        )

    def invocations(self, prefix: str) -> int:
        functions = self.lam.stats()["functions"]
        return sum(f["invocations"] for name, f in functions.items() if name.startswith(prefix))


@pytest.fixture
def stack(moto_server: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server)
    dlq_url = sqs.create_queue(QueueName="keep-warm-shards-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="keep-warm-shards",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
        },
    )["QueueUrl"]
    with LambdaEndpoint([], hold_ms_max=1_000) as lam, FaultProxy(moto_server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("THERMOSTAT_SHARD_QUEUE", queue_url)
        monkeypatch.setenv("THERMOSTAT_SHARD_TARGETS", "2")
        monkeypatch.setenv("THERMOSTAT_MAX_IN_FLIGHT", "64")
        monkeypatch.setenv("THERMOSTAT_SHARD_MAX_RECEIVES", str(MAX_RECEIVES))
        monkeypatch.setenv("THERMOSTAT_SPOKE_EXTERNAL_ID", "xid-test")
        wiring.reset()
        forget_account()
        # Created now, so that the table's clients (pynamodb's, kept per model) go through the proxy.
        create_table(table_name, "us-east-1")
        yield Stack(
            queue_url,
            dlq_url,
            lam,
            proxy,
            DynamoTargetStore(table_name, "us-east-1"),
            DynamoShardLedger(table_name),
            sqs,
        )
        wiring.reset()
        forget_account()


def _finalised(stack: Stack, result: dict[str, Any]):
    report = stack.ledger.latest("default")
    assert report is not None, "no round was finalised"
    assert report.round_id == result["round_id"]
    return report


def test_a_multi_account_round_warms_every_account_whose_spoke_answers(stack: Stack, capsys) -> None:
    def cli(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    # Given targets in the own account, in a spoke account, and in an account whose spoke role refuses us
    stack.add("own", 5)
    stack.add("far", 3, account=FAR)
    stack.add("deny", 2, account=DENIED)
    stack.proxy.add(
        # AssumeRole's form body names the role (URL-encoded): DynamoDB's JSON bodies never match
        Rule(
            Fault.ANSWER,
            body=b"RoleArn=arn%3Aaws%3Aiam%3A%3A" + DENIED.encode(),
            status=403,
            reply=STS_ACCESS_DENIED,
            content_type="text/xml",
        )
    )
    # When the schedule fires, and the event source hands the shards to workers, three at a time
    result = stack.plan()
    assert (result["shards"], result["targets"], result["sent"]) == (6, 10, 6)
    stats = stack.source(concurrency=3).drain()
    # Then every shard ran once (batch size 1, none retried), and one round report says so
    assert (stats.invocations, stats.deleted, stats.failed, set(stats.batches)) == (6, 6, 0, {1})
    report = _finalised(stack, result)
    assert report.complete
    places = {place.account: place for place in report.places}
    assert set(places) == {OWN, FAR, DENIED}
    assert (places[OWN].shards, places[OWN].sent, places[OWN].environments) == (3, 10, 10)
    assert (places[FAR].shards, places[FAR].sent, places[FAR].environments) == (2, 6, 6)
    # The refusing account's shard failed with a message saying what to deploy; nothing was pinged there
    assert (places[DENIED].shards_failed, places[DENIED].sent) == (1, 0)
    assert places[DENIED].error is not None
    assert "cannot assume the spoke role arn:aws:iam::222222222222:role/thermostat-spoke" in places[DENIED].error
    assert "deploy serverless/spoke.yaml" in places[DENIED].error
    assert (stack.invocations("own"), stack.invocations("far"), stack.invocations("deny")) == (10, 6, 0)
    # The spoke account's role was assumed with the external id, by the workers (not the planner)
    assume = [seen for seen in stack.proxy.seen(method="POST") if b"Action=AssumeRole" in seen.body]
    assert {FAR.encode() in seen.body or DENIED.encode() in seen.body for seen in assume} == {True}
    assert all(b"ExternalId=xid-test" in seen.body for seen in assume)

    # And `thermostat report --account` shows that account's part of the round, as a table or JSON
    capsys.readouterr()  # the handlers' log lines so far
    code, out, err = cli("report", "--account", DENIED, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert [(p["account"], p["shards_failed"]) for p in document["places"]] == [(DENIED, 1)]
    assert [s["status"] for s in document["shards"]] == ["failed"]
    code, out, _ = cli("report", "--account", FAR)
    assert code == 0
    assert "Per account and region" in out
    assert FAR in out
    assert DENIED not in out
    code, _, err = cli("report", "--account", "333333333333")
    assert code == 1
    assert "has no shard in account 333333333333 (accounts: 111111111111, 123456789012, 222222222222)" in err
    code, _, err = cli("report", "--account", "12")
    assert code == 2
    assert "account '12' is not an AWS account id" in err


def test_a_shard_delivered_twice_runs_and_counts_once(stack: Stack) -> None:
    stack.add("own", 4)
    result = stack.plan()
    assert result["shards"] == 2
    # Given a duplicate of the first shard's message (SQS delivers at least once)
    [message] = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1)["Messages"]
    stack.sqs.change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=message["Body"])
    # When the three messages are handled, one after the other
    stats = stack.source().drain()
    # Then the duplicate is consumed without pinging again, and the round counts each shard once
    assert (stats.invocations, stats.deleted) == (3, 3)
    assert stack.invocations("own") == 8
    report = _finalised(stack, result)
    assert report.complete
    assert (report.sent, [line.status for line in report.shards]) == (8, [ShardStatus.OK, ShardStatus.OK])


def test_a_lost_shard_is_listed_missing_by_the_next_round_after_the_deadline(stack: Stack) -> None:
    stack.add("own", 4)
    result = stack.plan()
    # Given one shard's message lost (deleted unread: a mis-set retention, a purge)
    [message] = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1)["Messages"]
    stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    stack.source().drain()
    # Then the round stays open: the lost shard might still come
    assert stack.ledger.latest("default") is None
    assert stack.ledger.unfinished("default") == [result["round_id"]]
    # When the next scheduled round looks, past the deadline (THERMOSTAT_SHARD_DEADLINE, 900 s)
    lost = json.loads(message["Body"])["index"]
    deadline_ms = int(result["round_id"].split("-")[0]) + 900_000
    assert keep_warm_shards.finalise_overdue("default", deadline_ms - 1, keep_warm_worker.ROUNDS) == []
    [report] = keep_warm_shards.finalise_overdue("default", deadline_ms, keep_warm_worker.ROUNDS)
    # Then one report lists it missing, with the other shard's pings counted
    assert not report.complete
    assert [(line.index, line.status) for line in report.shards if line.status is not ShardStatus.OK] == [
        (lost, ShardStatus.MISSING)
    ]
    assert report.sent == 4
    assert stack.ledger.unfinished("default") == []


def test_a_throttled_shard_is_retried_then_reports_failed_at_its_last_delivery(stack: Stack) -> None:
    stack.add("own", 2)
    stack.add("far", 2, account=FAR)
    # Given DynamoDB throttling every read of the far shard's targets (on the network path)
    stack.proxy.add(
        Rule(
            Fault.ANSWER,
            target="BatchGetItem",
            body=b"far-",
            status=400,
            reply=DYNAMODB_THROTTLED,
            content_type="application/x-amz-json-1.0",
        )
    )
    result = stack.plan()
    stats = stack.source().drain()
    # Then the far shard was returned as a batch item failure until its last delivery, then reported failed
    assert (stats.failed, stats.deleted) == (MAX_RECEIVES - 1, 2)
    report = _finalised(stack, result)
    far = next(line for line in report.shards if line.account == FAR)
    assert (far.status, far.attempts) == (ShardStatus.FAILED, MAX_RECEIVES)
    assert far.error is not None
    assert "ProvisionedThroughputExceededException" in far.error
    assert f"after {MAX_RECEIVES} deliveries" in far.error
    assert stack.invocations("own") == 4
    assert stack.invocations("far") == 0


def test_a_shard_cut_short_by_its_deadline_is_listed_timed_out(stack: Stack) -> None:
    stack.add("own", 3)
    result = stack.plan()
    # When the worker has 300 ms left (less the report margin: too little for a 100 ms hold and its margin)
    stack.source(context=Context(remaining_ms=300)).drain()
    report = _finalised(stack, result)
    assert [line.status for line in report.shards] == [ShardStatus.TIMED_OUT, ShardStatus.TIMED_OUT]
    assert report.targets == []  # the latest aggregate keeps totals; the shards kept their targets
    shards = stack.ledger.reports(result["round_id"])
    lines = [t for shard in shards.values() if shard.report for t in shard.report.targets]
    # Nothing was sent: every target has pings not attempted (a look-up that did not finish, or a batch
    # the deadline kept back)
    assert len(lines) == 3
    assert [(t.sent, t.not_attempted > 0) for t in lines] == [(0, True)] * 3
    assert stack.invocations("own") == 0


def test_a_message_that_is_not_a_shard_ends_in_the_dlq(stack: Stack) -> None:
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody='{"not": "a shard"}')
    stats = stack.source().drain()
    # Retried until the queue's redrive policy moved it (moto, like SQS, after maxReceiveCount receives)
    assert stats.failed == MAX_RECEIVES
    kept = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in kept] == ['{"not": "a shard"}']


def test_concurrent_shards_never_exceed_the_in_flight_budget_at_the_endpoint(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three targets that each want 4 overlapping pings, one per shard, and a budget of 6
    monkeypatch.setenv("THERMOSTAT_SHARD_TARGETS", "1")
    monkeypatch.setenv("THERMOSTAT_MAX_IN_FLIGHT", "6")
    wiring.reset()
    stack.add("own", 3, concurrency=4)
    result = stack.plan()
    assert result["shards"] == 3
    # When the three shards run at once (each alone would send 4 at once: 12 in all)
    stack.source(concurrency=3).drain()
    # Then at no time were more than 6 pings in flight at the endpoint, and each target was capped
    assert 1 <= stack.lam.stats()["peak_busy"] <= 6
    [shard_reports] = [stack.ledger.reports(result["round_id"])]
    capped = [t for r in shard_reports.values() if r.report for t in r.report.targets]
    assert [(t.planned, t.capped_by) for t in capped] == [(2, "max_in_flight")] * 3


def test_thermostat_warm_runs_the_shards_itself_without_a_queue(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Given targets in two accounts and no shard queue (the CLI's environment)
    monkeypatch.delenv("THERMOSTAT_SHARD_QUEUE")
    stack.add("own", 1)
    stack.add("far", 1, account=FAR)
    capsys.readouterr()
    # When a round is run from the command line
    code = main(["warm", "--json"])
    out = capsys.readouterr().out
    # Then both accounts were warmed in this process, with the far one's spoke credentials
    assert code == 0
    document = json.loads(out)  # one document: the round's log lines and EMF are not on stdout
    assert document["queue"] is None
    assert document["report"]["complete"]
    assert sorted((p["account"], p["sent"]) for p in document["report"]["places"]) == [(FAR, 2), (OWN, 2)]
    assert (stack.invocations("own"), stack.invocations("far")) == (2, 2)
    assert stack.sqs.receive_message(QueueUrl=stack.queue_url).get("Messages") is None
