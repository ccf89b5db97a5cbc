"""Spoke sessions on moto: another account's clients act in that account (moto derives the account
from assumed-role credentials), the own account needs no role, and credentials are cached until
shortly before they expire."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from domain.errors import InvalidInput
from infra.spokes import REFRESH_MARGIN_S, SpokeSessions, spoke_role_arn

pytestmark = pytest.mark.integration

OWN = "123456789012"
OTHER = "111111111111"


class _CountingSts:
    """moto's STS, counting AssumeRole calls (the real client, wrapped only to count)."""

    def __init__(self) -> None:
        self.client = boto3.client("sts", region_name="us-east-1")
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **arguments: Any) -> Any:
        self.calls.append(arguments)
        return self.client.assume_role(**arguments)


def test_other_account_clients_act_in_that_account(moto_aws: None) -> None:
    sts = _CountingSts()
    sessions = SpokeSessions(OWN, external_id="xid-1", sts=sts)
    sessions.client("s3", OTHER, "us-east-1").create_bucket(Bucket="in-other-account")
    sessions.client("s3", OWN, "us-east-1").create_bucket(Bucket="in-own-account")

    own_names = {b["Name"] for b in boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]}
    other = sessions.client("s3", OTHER, "us-east-1").list_buckets()["Buckets"]
    assert own_names == {"in-own-account"}
    assert {b["Name"] for b in other} == {"in-other-account"}
    # One AssumeRole for the other account, with the role of the naming scheme and the external id.
    assert [call["RoleArn"] for call in sts.calls] == [spoke_role_arn(OTHER)]
    assert sts.calls[0]["ExternalId"] == "xid-1"


def test_credentials_are_renewed_near_expiry(moto_aws: None) -> None:
    sts = _CountingSts()
    now = [1_000.0]
    sessions = SpokeSessions(OWN, sts=sts, clock=lambda: now[0])
    first = sessions.credentials(OTHER)
    assert sessions.credentials(OTHER) is first
    assert len(sts.calls) == 1
    now[0] = first.expires_at - REFRESH_MARGIN_S + 1
    second = sessions.credentials(OTHER)
    assert len(sts.calls) == 2
    assert second is not first
    assert "ExternalId" not in sts.calls[0]  # none configured: none sent


@pytest.mark.parametrize("account", ["12345", "abcdefghijkl", "", "1234567890123"])
def test_bad_account_ids_are_refused_before_any_call(moto_aws: None, account: str) -> None:
    sts = _CountingSts()
    with pytest.raises(InvalidInput, match="is not an AWS account id"):
        SpokeSessions(OWN, sts=sts).client("s3", account)
    assert sts.calls == []
