"""Deployment buckets across the Organization, against moto: another account's event creates its bucket
there (through the spoke role), once; a refusing spoke role fails that event only and records nothing;
the sweeper sweeps every account the registry knows of.

moto derives the account from assumed-role credentials, so "the bucket is in account B" is checked
by listing B's buckets with B's credentials, and the own account's with the own ones.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from domain.buckets import BucketKey, BucketRecord, BucketState, StrayRecord, StraySource
from domain.errors import AccessDenied, InvalidInput
from handlers import deployment_events, sweeper, wiring
from infra.accounts import forget_account
from infra.bucket_registry import DynamoBucketRegistry
from tests.sts_refusing_proxy import StsRefusingProxy

pytestmark = pytest.mark.integration

OWN = "123456789012"
SPOKE = "111111111111"
REFUSING = "222222222222"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail" / "create-bucket-account-111111111111.json"


class Context:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{OWN}:function:thermostat-deployment-events"
    function_name = "thermostat-deployment-events"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def requested(account: str, event_id: str, project: str = "shop", stage: str = "prod") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "source": "thermostat.deployments",
        "detail-type": "Deployment Requested",
        "account": account,
        "time": "2026-12-03T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"project": project, "stage": stage},
    }


def buckets_of(account: str) -> list[str]:
    """The buckets account ``account`` owns, listed with its own (assumed-role) credentials."""
    if account == OWN:
        return sorted(b["Name"] for b in boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"])
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/inspector", RoleSessionName="test"
    )["Credentials"]
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("THERMOSTAT_SPOKE_EXTERNAL_ID", "xid-test")
    wiring.reset()
    forget_account()
    yield
    wiring.reset()
    forget_account()


# -- Deployment Requested from another account --------------------------------------------------


def test_another_account_s_deploy_gets_its_bucket_in_that_account(moto_aws: None, table: str) -> None:
    # When a Deployment Requested forwarded from the spoke account arrives
    answer = deployment_events.lambda_handler(requested(SPOKE, "evt-spoke-1"), Context())

    # Then the bucket exists in the spoke account, not in the control plane's
    assert buckets_of(SPOKE) == [answer["bucket"]]
    assert buckets_of(OWN) == []
    # And the registry records it under the spoke account's key
    registry = DynamoBucketRegistry(table, "us-east-1")
    record = registry.get(BucketKey(account=SPOKE, region="us-east-1", project="shop", stage="prod"))
    assert record is not None
    assert record.bucket == answer["bucket"]
    assert record.state is BucketState.READY
    assert registry.get(BucketKey(account=OWN, region="us-east-1", project="shop", stage="prod")) is None
    # And the bucket is configured there as in the own account (the spoke role's calls)
    creds = wiring.spokes(OWN).credentials(SPOKE)
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=answer["bucket"])["TagSet"]}
    assert tags["thermostat:managed-by"] == "thermostat"
    assert s3.get_public_access_block(Bucket=answer["bucket"])["PublicAccessBlockConfiguration"]["BlockPublicAcls"]


def test_the_same_key_in_two_accounts_gets_one_bucket_each_however_often_and_concurrently_delivered(
    moto_aws: None, table: str
) -> None:
    # Given the same project/stage deployed from both accounts: each event delivered twice, and
    # three different events per account, all at once
    events = [requested(account, f"evt-{account}-{n}") for account in (OWN, SPOKE) for n in range(3)]
    deliveries = [copy.deepcopy(event) for event in events for _ in range(2)]
    start = threading.Barrier(len(deliveries))

    def deliver(event: dict[str, Any]) -> dict[str, Any] | Exception:
        start.wait(timeout=30)
        try:
            return deployment_events.lambda_handler(event, Context())
        except Exception as exc:  # a redelivery racing its first delivery is refused (Lambda retries it)
            return exc

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        outcomes = list(pool.map(deliver, deliveries))

    # Then each account owns exactly one bucket, and every answer of an account names it
    own_buckets, spoke_buckets = buckets_of(OWN), buckets_of(SPOKE)
    assert len(own_buckets) == 1
    assert len(spoke_buckets) == 1
    assert own_buckets != spoke_buckets
    answers = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert all(type(o).__name__ == "Conflict" for o in refused), refused
    for event, outcome in zip(deliveries, outcomes, strict=True):
        if isinstance(outcome, dict):
            expected = own_buckets if event["account"] == OWN else spoke_buckets
            assert [outcome["bucket"]] == expected
    assert answers
    # And the redeliveries that were refused while the first ran get the same answer afterwards
    for event, outcome in zip(deliveries, outcomes, strict=True):
        if not isinstance(outcome, dict):
            again = deployment_events.lambda_handler(event, Context())
            assert [again["bucket"]] == (own_buckets if event["account"] == OWN else spoke_buckets)
    # And the registry holds one record per account
    records = DynamoBucketRegistry(table, "us-east-1").records()
    assert sorted((r.key.account, r.bucket) for r in records) == sorted(
        [(OWN, own_buckets[0]), (SPOKE, spoke_buckets[0])]
    )


def test_a_malformed_account_is_refused_and_nothing_is_recorded(moto_aws: None, table: str) -> None:
    event = requested(SPOKE, "evt-bad")
    event["account"] = "11111111111x"
    with pytest.raises(InvalidInput, match=r"account must be a 12-digit AWS account id \(got '11111111111x'\)"):
        deployment_events.lambda_handler(event, Context())
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []
    assert buckets_of(OWN) == []


def test_an_event_without_an_account_is_the_own_account_s(moto_aws: None, table: str) -> None:
    event = requested(OWN, "evt-no-account")
    del event["account"]
    answer = deployment_events.lambda_handler(event, Context())
    assert buckets_of(OWN) == [answer["bucket"]]


# -- a spoke role that refuses, on the network path ---------------------------------------------


@pytest.fixture
def refusing_sts(moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StsRefusingProxy]:
    """moto's server for everything; STS through a proxy refusing AssumeRole into account REFUSING."""
    with StsRefusingProxy(moto_server, refuse=[REFUSING]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        wiring.reset()
        yield proxy


def test_a_refusing_spoke_role_fails_that_event_clearly_and_records_nothing(
    refusing_sts: StsRefusingProxy, table: str
) -> None:
    # When a deploy from the account whose spoke role refuses arrives
    with pytest.raises(AccessDenied) as refused:
        deployment_events.lambda_handler(requested(REFUSING, "evt-refused"), Context())

    # Then the error names the role, the account and what to deploy there
    message = str(refused.value)
    assert f"cannot assume the spoke role arn:aws:iam::{REFUSING}:role/thermostat-spoke (AccessDenied)" in message
    assert f"deploy serverless/spoke.yaml in account {REFUSING}" in message
    assert refusing_sts.refused[f"arn:aws:iam::{REFUSING}:role/thermostat-spoke"] >= 1
    # And nothing was recorded: no bucket record, no receipt held (a retry may run at once)
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert [item for item in items if "BUCKET" in json.dumps(item)] == []
    assert [item for item in items if item.get("status", {}).get("S") == "IN_PROGRESS"] == []

    # And another account's deploy, through the same proxy, still works
    answer = deployment_events.lambda_handler(requested(SPOKE, "evt-fine"), Context())
    assert answer["bucket"] in buckets_of(SPOKE)
    assert refusing_sts.forwarded["AssumeRole"] >= 1


# -- CloudTrail CreateBucket from another account -------------------------------------------------


def _fixture() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return event


def test_a_forwarded_create_bucket_call_is_recorded_as_that_account_s_stray(moto_aws: None, table: str) -> None:
    # Given AWS's sample CreateBucket call, as the spoke's forwarding rule delivers it
    outcome = deployment_events.lambda_handler(_fixture(), Context())

    # Then the stray is recorded for the spoke account, in the call's region
    assert outcome["stray"] is True
    [stray] = DynamoBucketRegistry(table, "us-east-1").strays()
    assert (stray.bucket, stray.account, stray.region) == ("zappa-k2x9q7m4p", SPOKE, "us-west-2")


def test_a_create_bucket_call_whose_accounts_disagree_is_refused(moto_aws: None, table: str) -> None:
    event = _fixture()
    event["account"] = OWN  # the envelope says one account, CloudTrail's recipient another
    with pytest.raises(InvalidInput, match="the event's account '123456789012' and its CloudTrail recipientAccountId"):
        deployment_events.lambda_handler(event, Context())
    assert DynamoBucketRegistry(table, "us-east-1").strays() == []


# -- the sweeper, per account ---------------------------------------------------------------------


def _register(registry: DynamoBucketRegistry, account: str, bucket: str) -> None:
    key = BucketKey(account=account, region="us-east-1", project="shop", stage="prod")
    claim = BucketRecord(key=key, bucket=bucket, state=BucketState.CLAIMED, claim_id="c", claimed_at=time.time())
    registry.claim(claim)
    registry.mark_ready(claim, time.time())


def _spoke_s3(account: str) -> Any:
    return wiring.spokes(OWN).client("s3", account, "us-east-1")


def test_the_sweeper_reports_strays_per_account_it_knows_of(
    refusing_sts: StsRefusingProxy, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a registered bucket and a stray in the own account and in the spoke account, and a
    # third account (known from a recorded stray) whose spoke role refuses
    registry = DynamoBucketRegistry(table, "us-east-1")
    own_s3 = boto3.client("s3", region_name="us-east-1")
    for name in ("shop-prod-own00001", "zappa-ownstray1"):
        own_s3.create_bucket(Bucket=name)
    for name in ("shop-prod-spoke001", "zappa-spokestr1"):
        _spoke_s3(SPOKE).create_bucket(Bucket=name)
    _register(registry, OWN, "shop-prod-own00001")
    _register(registry, SPOKE, "shop-prod-spoke001")
    registry.record_stray(
        StrayRecord(
            bucket="zappa-refused01",
            source=StraySource.CLOUDTRAIL,
            reason="seen",
            seen_at=1.0,
            account=REFUSING,
        )
    )
    wiring.reset()

    # When the scheduled sweep runs
    summary = sweeper.lambda_handler({"detail": {}}, Context())

    # Then the own account's summary is the top level, as before
    assert [s["bucket"] for s in summary["strays"]] == ["zappa-ownstray1"]
    assert summary["registered"] == 1
    assert summary["missing_registered"] == []
    # And each known account has its own summary: the spoke's stray is the spoke's only
    accounts = summary["accounts"]
    assert set(accounts) == {OWN, SPOKE, REFUSING}
    assert [s["bucket"] for s in accounts[SPOKE]["strays"]] == ["zappa-spokestr1"]
    assert accounts[SPOKE]["registered"] == 1
    assert accounts[SPOKE]["missing_registered"] == []
    # And the refusing account is an error for that account only
    assert (
        "cannot assume the spoke role arn:aws:iam::222222222222:role/thermostat-spoke" in (accounts[REFUSING]["error"])
    )
    # And nothing was deleted anywhere (a dry run), and StrayBuckets counts every account swept
    assert "zappa-spokestr1" in {b["Name"] for b in _spoke_s3(SPOKE).list_buckets()["Buckets"]}
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"CloudWatchMetrics"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    totals[metric["Name"]] = sum(value) if isinstance(value, list) else value
    assert totals["StrayBuckets"] == 2
