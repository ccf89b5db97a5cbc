"""Payload references against S3 (moto): round trips, nesting, the offload threshold, every refusal.

The runtime module builds its own client: these tests use it (through ``AWS_ENDPOINT_URL`` for
the moto server, through moto's in-process patch otherwise) except where a client is passed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import boto3
import pytest

from thermostat_runtime import Environment, Telemetry, warmable
from thermostat_runtime.refs import (
    DEFAULT_OFFLOAD_THRESHOLD_BYTES,
    STEP_FUNCTIONS_LIMIT_BYTES,
    PayloadRefError,
    PayloadRefNotFound,
    json_size,
    offload,
    put_payload,
    read_reference,
    resolve_refs,
)

# Every test here starts without cached S3 clients.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_ref_clients")]

IN = "thermostat-payloads-in"
OUT = "thermostat-payloads-out"
OTHER = "someone-elses-bucket"


@pytest.fixture
def s3(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Three buckets; the first two allowed by THERMOSTAT_PAYLOAD_BUCKETS."""
    client = boto3.client("s3", region_name="us-east-1")
    for bucket in (IN, OUT, OTHER):
        client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_BUCKETS", f"{IN},{OUT}")
    return client


def put(s3: Any, key: str, data: bytes, content_type: str | None = None, bucket: str = IN) -> str:
    extra = {"ContentType": content_type} if content_type else {}
    s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return f"s3://{bucket}/{key}"


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def image_like_blob(size: int) -> bytes:
    """A PNG header followed by incompressible bytes, deterministic."""
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


# -- round trips --------------------------------------------------------------------------------


def test_json_round_trip_through_a_reference(s3: Any) -> None:
    # Given a JSON document stored with its reference
    document = {"name": "Zoë", "values": list(range(1000)), "nested": {"ok": True, "none": None}}
    stored = put_payload(json.dumps(document).encode(), bucket=IN, content_type="application/json")
    # When an event carrying the reference is resolved
    event = {"input": {"fileRef": stored["uri"], "sha256": stored["sha256"], "size": stored["size"]}, "n": 1}
    resolved = resolve_refs(event)
    # Then the document takes its place
    assert resolved == {"input": document, "n": 1}


def test_binary_round_trip_of_an_image_sized_blob(s3: Any) -> None:
    # Given a 3 MiB image-like blob uploaded with its checksum
    blob = image_like_blob(3 * 1024 * 1024)
    stored = put_payload(blob, bucket=IN, content_type="image/png", suffix=".png")
    assert stored["uri"] == f"s3://{IN}/thermostat/payloads/{hashlib.sha256(blob).hexdigest()}.png"
    # When resolved / Then the very bytes come back, verified
    resolved = resolve_refs({"image": {"fileRef": stored["uri"], "sha256": stored["sha256"]}})
    assert isinstance(resolved["image"], bytes)
    assert resolved["image"] == blob
    # And read_reference gives the same bytes, under the synchronous-invoke cap
    assert read_reference(stored["uri"], sha256=stored["sha256"], max_bytes=6 * 1024 * 1024) == blob
    assert s3.head_object(Bucket=IN, Key=stored["uri"].split("/", 3)[3])["Metadata"] == {"sha256": stored["sha256"]}


def test_nested_references_are_resolved_across_buckets(s3: Any) -> None:
    # Given a document that refers to a blob and to another document that refers to a blob
    blob = image_like_blob(10_000)
    blob_uri = put(s3, "leaf.bin", blob)
    inner_uri = put(s3, "inner.json", json.dumps({"blob": {"fileRef": blob_uri}, "k": "v"}).encode(), bucket=OUT)
    outer = {"inner": {"fileRef": inner_uri}, "list": [{"fileRef": blob_uri, "size": len(blob)}]}
    outer_uri = put(s3, "outer", json.dumps(outer).encode(), "application/json")
    # When the top reference is resolved / Then every level is replaced
    assert resolve_refs({"payloadS3": outer_uri}) == {"inner": {"blob": blob, "k": "v"}, "list": [blob]}


# -- refusals -----------------------------------------------------------------------------------


def _refused(event: Any, message: str, kind: type[PayloadRefError] = PayloadRefError, **options: Any) -> None:
    """Resolving ``event`` fails with ``message`` and leaves ``event`` exactly as it was."""
    before = copy.deepcopy(event)
    with pytest.raises(kind, match=message):
        resolve_refs(event, **options)
    assert event == before


def test_a_bucket_outside_the_allow_list_is_refused(s3: Any) -> None:
    uri = put(s3, "k.json", b"{}", bucket=OTHER)
    _refused(
        {"a": {"fileRef": uri}},
        rf"payload reference 's3://{OTHER}/k.json': bucket '{OTHER}' is not in THERMOSTAT_PAYLOAD_BUCKETS "
        rf"\({IN}, {OUT}\); add it there",
    )


def test_nothing_is_allowed_when_the_allow_list_is_unset(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = put(s3, "k.json", b"{}")
    monkeypatch.delenv("THERMOSTAT_PAYLOAD_BUCKETS")
    _refused({"fileRef": uri}, rf"'{uri}': THERMOSTAT_PAYLOAD_BUCKETS is empty, so no bucket may be read; add '{IN}'")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3:/x", "not an s3:// URI"),
        (f"https://{IN}.s3.amazonaws.com/k.json", "not an s3:// URI"),
        ("s3://", "names no bucket"),
        (f"s3://{IN}", "names no object key"),
        (f"s3://{IN}/", "names no object key"),
        (f"s3://{IN}/a/../k.json", r"'\.\.'"),
        (f"s3://{IN}//k.json", "empty"),
        ("s3://Thermostat_Payloads/k.json", "only lowercase letters"),
    ],
)
def test_a_malformed_uri_is_refused(s3: Any, uri: str, reason: str) -> None:
    put(s3, "k.json", b"{}")
    _refused({"list": [{"fileRef": uri}]}, reason)


def test_a_missing_object_is_refused(s3: Any) -> None:
    _refused(
        {"ok": {"fileRef": put(s3, "there", b"x")}, "missing": {"fileRef": f"s3://{IN}/not-there"}},
        rf"payload reference 's3://{IN}/not-there': the object does not exist",
        PayloadRefNotFound,
    )


def test_a_missing_bucket_is_refused(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_BUCKETS", f"{IN},never-created")
    _refused({"fileRef": "s3://never-created/k"}, "the bucket does not exist", PayloadRefNotFound)


def test_a_checksum_mismatch_is_refused(s3: Any) -> None:
    # Given a reference made for some content, and the object overwritten since
    stored = put_payload(b'{"version": 1}', bucket=IN, key="config.json", content_type="application/json")
    put(s3, "config.json", b'{"version": 2}', "application/json")
    # When resolved / Then it is refused, saying both digests
    actual = hashlib.sha256(b'{"version": 2}').hexdigest()
    _refused(
        {"config": {"fileRef": stored["uri"], "sha256": stored["sha256"]}},
        rf"'s3://{IN}/config.json': sha256 mismatch: the reference says {stored['sha256']}, the object has {actual}",
    )


def test_an_object_over_the_configured_maximum_is_refused(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = put(s3, "big.bin", b"x" * 2048)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_MAX_BYTES", "2047")
    _refused(
        {"fileRef": uri},
        rf"'{uri}': the object is 2048 bytes, over the maximum of 2047 bytes \(THERMOSTAT_PAYLOAD_MAX_BYTES\)",
    )
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_MAX_BYTES", "2048")
    assert resolve_refs({"fileRef": uri}) == b"x" * 2048


def test_nested_references_share_one_byte_budget(s3: Any) -> None:
    leaf = put(s3, "leaf.bin", b"y" * 600)
    top = put(s3, "top.json", json.dumps({"a": {"fileRef": leaf}, "b": {"fileRef": leaf}}).encode())
    _refused({"fileRef": top}, "already read for this event that is over the maximum of 1200 bytes", max_bytes=1200)
    assert resolve_refs({"fileRef": top}, max_bytes=2000) == {"a": b"y" * 600, "b": b"y" * 600}


# -- offload: the threshold boundary -------------------------------------------------------------


def sized(total: int, char: str) -> dict[str, str]:
    """A result whose compact JSON is exactly ``total`` UTF-8 bytes, mostly ``char``."""
    overhead = json_size({"d": ""})
    width = len(char.encode())
    count = (total - overhead) // width
    value = char * count + "a" * (total - overhead - count * width)
    result = {"d": value}
    assert json_size(result) == total
    return result


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_the_threshold_boundary_is_measured_in_utf8_bytes(s3: Any, char: str, delta: int) -> None:
    # Given a result of exactly threshold + delta UTF-8 bytes, made of 1-4 byte characters
    limit = DEFAULT_OFFLOAD_THRESHOLD_BYTES
    result = sized(limit + delta, char)
    if char != "a":
        # (in characters it is far smaller: counting characters would not offload it)
        assert len(json.dumps(result, ensure_ascii=False, separators=(",", ":"))) < limit * 0.6
    # When offloaded with the default threshold
    answer = offload(result, bucket=OUT)
    # Then only what is over the threshold leaves, and it comes back identical
    if delta <= 0:
        assert answer is result
        assert objects(s3, OUT) == {}
    else:
        assert answer["size"] == limit + 1
        assert answer["content_type"] == "application/json"
        assert resolve_refs(answer) == result
        assert list(objects(s3, OUT).values()) == [
            json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
        ]


def test_a_one_megabyte_output_offloads_to_a_reference_under_one_kilobyte(s3: Any) -> None:
    # Given a 1 MB output, four times what a Step Functions state may hold
    output = {"rows": [{"id": index, "text": "ü" * 250} for index in range(2000)]}
    assert json_size(output) > 1_000_000 > STEP_FUNCTIONS_LIMIT_BYTES
    # When offloaded
    reference = offload(output, bucket=OUT)
    # Then what is left is a reference under 1 KB that resolves to the very output
    assert json_size(reference) < 1024
    assert set(reference) == {"fileRef", "sha256", "size", "content_type"}
    assert resolve_refs({"previous": reference}) == {"previous": output}


# -- the wrapper, end to end --------------------------------------------------------------------


def test_warmable_resolves_references_in_and_offloads_the_result_out(s3: Any) -> None:
    # Given a handler wearing @warmable(resolve_refs=True, offload_to=OUT), and an event by reference
    blob = image_like_blob(2 * 1024 * 1024)
    image = put_payload(blob, bucket=IN, content_type="image/png")
    config_uri = put(s3, "config.json", b'{"thumbnails": 3}')
    lines: list[str] = []
    seen: list[Any] = []

    @warmable(resolve_refs=True, offload_to=OUT, environment=Environment(), telemetry=Telemetry(sink=lines.append))
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        seen.append(event)
        size = len(event["image"])
        return {"size": size, "config": event["config"], "thumbnails": ["t" * 400_000] * event["config"]["thumbnails"]}

    event = {"image": {"fileRef": image["uri"], "sha256": image["sha256"]}, "config": {"fileRef": config_uri}}
    # When invoked
    answer = handler(event, None)
    # Then the handler saw the content, and the caller gets a small reference to the large result
    assert seen == [{"image": blob, "config": {"thumbnails": 3}}]
    assert json_size(answer) < 1024
    assert resolve_refs(answer) == {"size": len(blob), "config": {"thumbnails": 3}, "thumbnails": ["t" * 400_000] * 3}
    assert json.loads(lines[-1])["start_kind"] == "cold"
    assert "error" not in json.loads(lines[-1])


def test_warmable_refuses_a_bad_reference_before_the_handler_runs(s3: Any) -> None:
    lines: list[str] = []
    calls: list[Any] = []

    @warmable(resolve_refs=True, offload_to=OUT, environment=Environment(), telemetry=Telemetry(sink=lines.append))
    def handler(event: Any, context: object) -> Any:
        calls.append(event)
        return event

    with pytest.raises(PayloadRefError, match=f"bucket '{OTHER}' is not in THERMOSTAT_PAYLOAD_BUCKETS"):
        handler({"fileRef": put(s3, "k", b"x", bucket=OTHER)}, None)
    assert calls == []
    assert json.loads(lines[-1])["error"] == "PayloadRefError"
    # And a small answer passes through untouched
    assert handler({"small": True}, None) == {"small": True}
    assert objects(s3, OUT) == {}


# -- over HTTP ----------------------------------------------------------------------------------


def test_the_default_client_honours_aws_endpoint_url(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given S3 reachable only through the moto server named by AWS_ENDPOINT_URL
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    client.create_bucket(Bucket=OUT)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_BUCKETS", OUT)
    # When a large result is offloaded and resolved with the module's own client
    result = {"blob": "z" * 300_000}
    reference = offload(result, bucket=OUT)
    # Then both went over HTTP to that endpoint
    assert client.get_object(Bucket=OUT, Key=reference["fileRef"].split("/", 3)[3])["ContentLength"] == 300_011
    assert resolve_refs(reference) == result
