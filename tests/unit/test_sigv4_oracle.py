"""The fast path's requests are signed exactly as botocore signs them (property tests, botocore as the oracle).

For generated requests (function names, full and partial ARNs, qualifiers, payloads, session
tokens, regions, the FIPS and dual-stack endpoints botocore itself resolves, custom endpoints),
the bytes the fast path would send are read back and handed to ``botocore.auth.SigV4Auth`` on an
``AWSRequest`` carrying the same method, URL, headers, body and time: the ``Authorization`` header
must be the one botocore computes, over the headers botocore chooses to sign (every one sent
but ``User-Agent``). A second property checks that the path and query are the ones botocore's
own serializer builds for ``Invoke``. Example counts are fixed and the runs derandomized, so the
tests are deterministic; ``SIGNATURE_EXAMPLES`` is the figure quoted in the note.
"""

from __future__ import annotations

import json
import string
import urllib.parse
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.invocation import InvocationRequest
from infra.lambda_invoker.fast_path import FastPath
from infra.lambda_invoker.sigv4 import UNSIGNED

pytestmark = pytest.mark.unit

SIGNATURE_EXAMPLES = 2_000
SERIALIZER_EXAMPLES = 300

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "ca-central-1", "us-gov-west-1", "cn-north-1")
CUSTOM_ENDPOINTS = ("http://127.0.0.1:4566", "http://localhost", "https://lambda.internal.example:8443/prefix")


@cache
def _endpoints() -> tuple[tuple[str, str], ...]:
    """(region, endpoint URL) pairs: botocore's own resolution, with and without FIPS and dual-stack."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.Session()
    found: list[tuple[str, str]] = []
    for region in REGIONS:
        for fips in (False, True):
            for dualstack in (False, True):
                config = Config(use_fips_endpoint=fips, use_dualstack_endpoint=dualstack)
                try:
                    client = session.create_client(
                        "lambda", region_name=region, config=config, aws_access_key_id="a", aws_secret_access_key="b"
                    )
                except Exception:  # a combination the partition does not offer
                    continue
                found.append((region, client.meta.endpoint_url))
                client.close()
    found += [("us-east-1", url) for url in CUSTOM_ENDPOINTS]
    return tuple(dict.fromkeys(found))


@cache
def _client(region: str, endpoint_url: str) -> Any:
    import botocore.session
    from botocore.config import Config

    return botocore.session.Session().create_client(
        "lambda",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=Config(retries={"max_attempts": 0}, user_agent_extra="thermostat/0.1.0"),
    )


@cache
def _fast_path(region: str, endpoint_url: str) -> FastPath:
    fast = FastPath.from_client(_client(region, endpoint_url), pool_size=1, connect_timeout=1.0)
    assert fast is not None
    return fast


_NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)
_ALIAS = st.from_regex(r"\A[a-zA-Z_-][a-zA-Z0-9_-]{0,40}\Z")
_QUALIFIER = st.one_of(st.none(), st.just("$LATEST"), st.integers(1, 10**6).map(str), _ALIAS)
_ACCOUNT = st.from_regex(r"\A[0-9]{12}\Z")


@st.composite
def _function(draw: st.DrawFn, region: str) -> str:
    name = draw(_NAME)
    kind = draw(st.sampled_from(["name", "arn", "arn-qualified", "partial"]))
    if kind == "name":
        return name
    account = draw(_ACCOUNT)
    if kind == "partial":
        return f"{account}:function:{name}"
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{draw(_ALIAS)}" if kind == "arn-qualified" else arn


_SECRET = st.text(alphabet=string.ascii_letters + string.digits + "/+=", min_size=1, max_size=60)
_TOKEN = st.one_of(st.none(), st.text(alphabet=string.ascii_letters + string.digits + "/+=", min_size=1, max_size=600))
_PAYLOAD = st.one_of(
    st.binary(max_size=2048),
    st.dictionaries(st.text(max_size=10), st.text(max_size=40), max_size=5).map(
        lambda d: json.dumps({"thermostat": {"v": 1, "action": "warm"}, **d}).encode()
    ),
)
_WHEN = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2040, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    region, endpoint_url = draw(st.sampled_from(_endpoints()))
    return {
        "region": region,
        "endpoint_url": endpoint_url,
        "function": draw(_function(region)),
        "qualifier": draw(_QUALIFIER),
        "payload": draw(_PAYLOAD),
        "access_key": draw(st.from_regex(r"\A(AKIA|ASIA)[A-Z0-9]{16}\Z")),
        "secret_key": draw(_SECRET),
        "token": draw(_TOKEN),
        "when": draw(_WHEN),
        "tail_logs": draw(st.booleans()),
    }


def _parse(raw: bytes) -> tuple[str, str, list[tuple[str, str]], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ")
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in header_lines)]
    return method, target, headers, body


def test_the_unsigned_headers_are_botocores() -> None:
    from botocore.auth import SIGNED_HEADERS_BLACKLIST

    assert set(SIGNED_HEADERS_BLACKLIST) == UNSIGNED


@settings(
    max_examples=SIGNATURE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=_requests())
def test_every_generated_request_is_signed_as_botocore_signs_it(case: dict[str, Any]) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    # Given a request as the fast path would send it
    fast = _fast_path(case["region"], case["endpoint_url"])
    credentials = Credentials(case["access_key"], case["secret_key"], case["token"]).get_frozen_credentials()
    amz_date = case["when"].strftime("%Y%m%dT%H%M%SZ")
    request = InvocationRequest(function=case["function"], qualifier=case["qualifier"], payload=case["payload"])
    raw = fast.invoke_request(request, case["tail_logs"], amz_date=amz_date, credentials=credentials)
    assert raw is not None
    method, target, headers, body = _parse(raw)
    sent = dict(headers)
    assert body == case["payload"]
    assert sent["X-Amz-Date"] == amz_date
    assert sent.get("X-Amz-Security-Token") == case["token"]
    assert sent["X-Amz-Invocation-Type"] == "RequestResponse"
    assert sent["X-Amz-Log-Type"] == ("Tail" if case["tail_logs"] else "None")

    # When botocore signs the same method, URL, headers (all but Host and the signature), body and time
    endpoint = urllib.parse.urlsplit(case["endpoint_url"])
    url = f"{endpoint.scheme}://{endpoint.netloc}{target}"
    given_headers = {name: value for name, value in headers if name not in ("Host", "Authorization")}
    oracle = AWSRequest(method=method, url=url, data=body, headers=given_headers)
    oracle.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(case["access_key"], case["secret_key"], case["token"]), "lambda", case["region"])
    signature = auth.signature(auth.string_to_sign(oracle, auth.canonical_request(oracle)), oracle)
    signed = auth.signed_headers(auth.headers_to_sign(oracle))
    scope = auth.scope(oracle)  # ACCESS_KEY/day/region/lambda/aws4_request
    expected = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={signature}"

    # Then the Authorization header is botocore's, over every x-amz-* header sent
    assert sent["Authorization"] == expected
    assert sent["Host"] == auth.headers_to_sign(oracle)["host"]
    assert {"x-amz-invocation-type", "x-amz-log-type", "x-amz-date"} <= set(signed.split(";"))


class _Captured(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _capture(request: Any, **_: Any) -> None:
    raise _Captured(request.url)


@settings(
    max_examples=SERIALIZER_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=_requests())
def test_the_path_and_query_are_the_ones_botocores_serializer_builds(case: dict[str, Any]) -> None:
    # Given the real client for the same endpoint, stopped just before it would send
    client = _client(case["region"], case["endpoint_url"])
    client.meta.events.register("before-send.lambda.Invoke", _capture, unique_id="thermostat-capture")
    options: dict[str, Any] = {"FunctionName": case["function"], "Payload": case["payload"]}
    if case["qualifier"]:
        options["Qualifier"] = case["qualifier"]
    with pytest.raises(_Captured) as captured:
        client.invoke(**options)
    # Then the fast path addresses the very same URL
    request = InvocationRequest(function=case["function"], qualifier=case["qualifier"], payload=case["payload"])
    path, query = FastPath.invoke_target(request)
    fast = _fast_path(case["region"], case["endpoint_url"])
    endpoint = urllib.parse.urlsplit(case["endpoint_url"])
    ours = f"{endpoint.scheme}://{endpoint.netloc}{fast.prefix}{path}{'?' + query if query else ''}"
    assert ours == captured.value.url


def test_a_date_near_midnight_uses_that_days_key() -> None:
    # The signing key is cached per day: the day rolls over with the date, not with the cache
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fast = _fast_path("eu-west-1", "https://lambda.eu-west-1.amazonaws.com")
    credentials = Credentials("AKIDEXAMPLE", "secret", None)
    for moment in (datetime(2025, 1, 1, 23, 59, 59, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)):
        for delta in (timedelta(0), timedelta(days=366)):
            amz_date = (moment + delta).strftime("%Y%m%dT%H%M%SZ")
            raw = fast.invoke_request(
                InvocationRequest(function="api", qualifier="live"),
                False,
                amz_date=amz_date,
                credentials=credentials.get_frozen_credentials(),
            )
            assert raw is not None
            method, target, headers, body = _parse(raw)
            given_headers = {name: value for name, value in headers if name not in ("Host", "Authorization")}
            oracle = AWSRequest(
                method=method, url=f"https://lambda.eu-west-1.amazonaws.com{target}", data=body, headers=given_headers
            )
            oracle.context["timestamp"] = amz_date
            auth = SigV4Auth(credentials, "lambda", "eu-west-1")
            signature = auth.signature(auth.string_to_sign(oracle, auth.canonical_request(oracle)), oracle)
            assert dict(headers)["Authorization"].endswith(f"Signature={signature}")
