"""Payload references, the logic: URIs, configuration, resolution rules, offload sizing.

S3 is an in-memory fake here; tests/integration/test_refs.py proves the same against moto S3.
"""

from __future__ import annotations

import copy
import decimal
import hashlib
import io
import json
import os
import string
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st

from thermostat_runtime.refs import (
    DEFAULT_MAX_BYTES,
    PayloadRefError,
    PayloadRefNotFound,
    PayloadRefUnavailable,
    allowed_buckets_from_env,
    bucket_name_problem,
    holds_reference,
    is_json_content,
    json_size,
    max_bytes_from_env,
    offload,
    parse_s3_uri,
    read_reference,
    resolve_refs,
)

pytestmark = pytest.mark.unit

LAYER = Path(__file__).resolve().parents[2] / "serverless" / "layer" / "python"
BUCKET = "payloads-in"


class FakeBody:
    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        return self._buffer.read() if amt is None else self._buffer.read(amt)

    def close(self) -> None:
        self.closed = True


class FakeS3:
    """Just enough of an S3 client: objects in a dict, errors shaped like botocore's."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.requests = 0
        self.bodies: list[FakeBody] = []
        self.lie_about_length: int | None = None
        self.fail_with: BaseException | None = None

    def add(self, key: str, data: bytes, content_type: str = "binary/octet-stream", bucket: str = BUCKET) -> str:
        self.objects[(bucket, key)] = (data, content_type)
        return f"s3://{bucket}/{key}"

    def add_json(self, key: str, document: Any, bucket: str = BUCKET) -> str:
        return self.add(key, json.dumps(document).encode(), "application/json", bucket)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self.requests += 1
        if self.fail_with is not None:
            raise self.fail_with
        if (Bucket, Key) not in self.objects:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}}, "GetObject"
            )
        data, content_type = self.objects[(Bucket, Key)]
        body = FakeBody(data)
        self.bodies.append(body)
        length = self.lie_about_length if self.lie_about_length is not None else len(data)
        return {"Body": body, "ContentLength": length, "ContentType": content_type}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str, **_: Any) -> dict[str, Any]:
        self.requests += 1
        self.objects[(Bucket, Key)] = (Body, ContentType)
        return {}


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3()


def resolve(event: Any, s3: FakeS3, **options: Any) -> Any:
    options.setdefault("allowed_buckets", {BUCKET})
    return resolve_refs(event, s3_client=s3, **options)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- URIs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://my-bucket/payload.json", ("my-bucket", "payload.json")),
        ("s3://my.bucket.1/a/b/c.png", ("my.bucket.1", "a/b/c.png")),
        ("s3://abc/ä ö €.json", ("abc", "ä ö €.json")),
        ("s3://abc/literal%2F?x=1#frag", ("abc", "literal%2F?x=1#frag")),
        ("s3://abc/a..b/...", ("abc", "a..b/...")),
    ],
)
def test_a_well_formed_uri_splits_into_bucket_and_literal_key(uri: str, expected: tuple[str, str]) -> None:
    # Given a well-formed reference / When parsed / Then bucket and key come back, key taken literally
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3:/x", "not an s3:// URI"),
        ("https://bucket.s3.amazonaws.com/key", "not an s3:// URI"),
        ("S3://abc/key", "not an s3:// URI"),
        (" s3://abc/key", "not an s3:// URI"),
        ("s3://", "names no bucket"),
        ("s3:///key", "names no bucket"),
        ("s3://abc", "names no object key"),
        ("s3://abc/", "names no object key"),
        ("s3://abc//etc/passwd", "empty, '.' or '..' path segment"),
        ("s3://abc/a/../b", "'..'"),
        ("s3://abc/../b", "'..'"),
        ("s3://abc/a/..", "'..'"),
        ("s3://abc/./b", "'.'"),
        ("s3://abc/dir/", "empty"),
        ("s3://abc/key\n", "control character"),
        ("s3://abc/" + "k" * 1025, "longer than 1024 bytes"),
        ("s3://abc/" + "€" * 342, "longer than 1024 bytes"),
        ("s3://My_Bucket/key", "only lowercase letters"),
        ("s3://ab/key", "3 to 63 characters"),
        ("s3://" + "a" * 64 + "/key", "3 to 63 characters"),
        ("s3://-abc/key", "must begin with a lowercase letter or a digit"),
        ("s3://abc-/key", "must end with a lowercase letter or a digit"),
        ("s3://a..b/key", "two adjacent periods"),
        ("s3://192.168.5.4/key", "IP address"),
        ("s3://xn--abc/key", "reserved prefix 'xn--'"),
        ("s3://sthree-x/key", "reserved prefix 'sthree-'"),
        ("s3://x--ol-s3/key", "reserved suffix '--ol-s3'"),
        ("s3://abc-s3alias/key", "reserved suffix '-s3alias'"),
        ("s3://b:80/key", "only lowercase letters"),
    ],
)
def test_a_malformed_uri_is_refused_naming_it_and_the_reason(uri: str, reason: str) -> None:
    # Given a malformed reference / When parsed / Then the error names the reference and why
    with pytest.raises(PayloadRefError) as caught:
        parse_s3_uri(uri)
    assert repr(uri) in str(caught.value)
    assert reason in str(caught.value)
    assert caught.value.uri == uri


def test_a_uri_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(PayloadRefError, match=r"payload reference 42: expected a string"):
        parse_s3_uri(42)  # type: ignore[arg-type]


_RULE_ALPHABET = string.ascii_lowercase + string.digits + ".-_A"


@given(st.text(alphabet=_RULE_ALPHABET, min_size=0, max_size=70))
def test_every_accepted_bucket_name_follows_the_s3_rules(name: str) -> None:
    # Given any name / When judged / Then acceptance implies every documented rule holds
    if bucket_name_problem(name) is None:
        assert 3 <= len(name) <= 63
        assert set(name) <= set(string.ascii_lowercase + string.digits + ".-")
        assert name[0].isalnum()
        assert name[-1].isalnum()
        assert ".." not in name
        assert not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        assert not name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))


@given(st.from_regex(r"[a-z0-9][a-z0-9-]{1,40}[a-z0-9]", fullmatch=True))
def test_ordinary_bucket_names_are_accepted(name: str) -> None:
    if not name.startswith(("xn--", "sthree-")) and not name.endswith(("-s3alias", "--ol-s3", "--x-s3", "--table-s3")):
        assert bucket_name_problem(name) is None


# -- configuration -------------------------------------------------------------------------------


def test_no_bucket_is_allowed_when_the_variable_is_unset() -> None:
    assert allowed_buckets_from_env({}) == frozenset()
    assert allowed_buckets_from_env({"THERMOSTAT_PAYLOAD_BUCKETS": " , "}) == frozenset()


def test_allowed_buckets_are_comma_separated_and_trimmed() -> None:
    env = {"THERMOSTAT_PAYLOAD_BUCKETS": " alpha , beta,,gamma "}
    assert allowed_buckets_from_env(env) == {"alpha", "beta", "gamma"}


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, DEFAULT_MAX_BYTES), ("", DEFAULT_MAX_BYTES), ("1024", 1024), ("1_000_000", 1_000_000)]
)
def test_the_maximum_size_comes_from_the_environment(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"THERMOSTAT_PAYLOAD_MAX_BYTES": raw}
    assert max_bytes_from_env(env) == expected


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1.5", "10MB"])
def test_a_malformed_maximum_names_the_variable(raw: str) -> None:
    with pytest.raises(
        PayloadRefError, match=rf"THERMOSTAT_PAYLOAD_MAX_BYTES must be a positive number of bytes.*{raw!r}"
    ):
        max_bytes_from_env({"THERMOSTAT_PAYLOAD_MAX_BYTES": raw})


def test_a_bare_string_allow_list_is_not_read_as_characters(s3: FakeS3) -> None:
    # Given an allow-list passed as one string by mistake / When a bucket whose name is a substring is read
    uri = s3.add("k", b"x", bucket="payloads")
    # Then it is refused: a string is a comma-separated list, not a set of substrings
    with pytest.raises(PayloadRefError, match="not in THERMOSTAT_PAYLOAD_BUCKETS"):
        read_reference(uri, allowed_buckets="payloads-in,other", s3_client=s3)  # type: ignore[arg-type]
    assert read_reference(uri, allowed_buckets="other, payloads", s3_client=s3) == b"x"  # type: ignore[arg-type]


# -- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"s": "a"}, 9),
        ({"s": "é"}, 10),
        ({"s": "€"}, 11),
        ({"s": "😀"}, 12),
        ([1, 2, {"a": None}], 16),
        ({"n": decimal.Decimal("1.5"), "m": decimal.Decimal("3")}, 15),
    ],
)
def test_sizes_are_utf8_bytes_of_compact_json(value: Any, expected: int) -> None:
    assert json_size(value) == expected


def test_a_lone_surrogate_is_measured_escaped_rather_than_failing() -> None:
    assert json_size({"s": "\ud800"}) == len(b'{"s":"\\ud800"}')


# -- content types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "key", "is_json"),
    [
        ("application/json", "blob.bin", True),
        ("application/json; charset=utf-8", "x", True),
        ("Application/JSON", "x", True),
        ("application/vnd.api+json", "x", True),
        ("text/json", "x", True),
        (None, "doc.json", True),
        ("binary/octet-stream", "doc.JSON", True),
        ("application/octet-stream", "doc.json", True),
        (None, "doc.bin", False),
        ("binary/octet-stream", "doc", False),
        ("image/png", "pic.json", False),
        ("text/plain", "notes.json", False),
        ("application/jsonl", "x", False),
    ],
)
def test_json_is_decided_by_declared_type_then_by_json_key(content_type: str | None, key: str, is_json: bool) -> None:
    assert is_json_content(content_type, key) is is_json


# -- resolving -----------------------------------------------------------------------------------


def test_an_event_without_references_is_returned_as_is_without_any_request(
    s3: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an event with no references, and configuration that would be refused if it were read
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_MAX_BYTES", "garbage")
    monkeypatch.delenv("THERMOSTAT_PAYLOAD_BUCKETS", raising=False)
    event = {"a": [1, {"b": "s3://payloads-in/k"}], "payloadS3x": "s3://x/y", "ref": {"fileref": 1}}
    # When resolved / Then the very same object comes back, and S3 was never asked
    assert resolve_refs(event, s3_client=s3) is event
    assert s3.requests == 0


@pytest.mark.parametrize(
    ("value", "holds"),
    [
        ({"a": 1, "b": "s3://x/y", "c": [1.5, None, True]}, False),
        ({"fileRef": "anything"}, True),
        ({"a": [1, {"b": [{"fileRef": "s3://x/y"}]}]}, True),
        ([[[[{"fileRef": 1}]]]], True),
        (OrderedDict(a=OrderedDict(fileRef="s3://x/y")), True),
        ({"a": ({"fileRef": "s3://x/y"},)}, False),
        ({"payloadS3": "s3://x/y"}, False),
        ("fileRef", False),
    ],
)
def test_references_are_found_in_dicts_and_lists_at_any_depth(value: Any, holds: bool) -> None:
    # Only what JSON produces (dicts, lists) is searched; payloadS3 counts at the top level only
    assert holds_reference(value) is holds


def test_json_content_is_parsed_and_other_content_stays_bytes(s3: FakeS3) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    event = {
        "config": {"fileRef": s3.add_json("config", {"depth": 3})},
        "by_key": {"fileRef": s3.add("doc.json", b'[1, "two"]')},
        "image": {"fileRef": s3.add("img.png", image, "image/png"), "sha256": sha(image), "size": len(image)},
        "text": {"fileRef": s3.add("n.txt", b'{"looks": "json"}', "text/plain")},
        "untouched": [1, "s3://payloads-in/config"],
    }
    resolved = resolve(event, s3)
    assert resolved == {
        "config": {"depth": 3},
        "by_key": [1, "two"],
        "image": image,
        "text": b'{"looks": "json"}',
        "untouched": [1, "s3://payloads-in/config"],
    }
    assert resolved["untouched"] is event["untouched"]
    assert all(body.closed for body in s3.bodies)


def test_the_references_content_type_overrides_the_stored_one(s3: FakeS3) -> None:
    uri = s3.add("data", b'{"a": 1}', "binary/octet-stream")
    assert resolve({"fileRef": uri}, s3) == b'{"a": 1}'
    assert resolve({"fileRef": uri, "content_type": "application/json"}, s3) == {"a": 1}
    json_uri = s3.add_json("j", {"a": 1})
    assert resolve({"fileRef": json_uri, "content_type": "application/octet-stream"}, s3) == b'{"a": 1}'


def test_the_input_event_is_never_modified(s3: FakeS3) -> None:
    event = {"outer": {"list": [{"fileRef": s3.add_json("k", {"x": 1})}, 2]}, "keep": {"n": 1}}
    before = copy.deepcopy(event)
    resolved = resolve(event, s3)
    assert event == before
    assert resolved == {"outer": {"list": [{"x": 1}, 2]}, "keep": {"n": 1}}
    assert resolved["keep"] is event["keep"]


def test_references_inside_referenced_documents_are_resolved(s3: FakeS3) -> None:
    leaf = s3.add("leaf.bin", b"\x00\x01")
    middle = s3.add_json("middle.json", {"leaf": {"fileRef": leaf}, "n": 2})
    top = s3.add_json("top.json", {"middle": {"fileRef": middle}, "again": [{"fileRef": leaf}]})
    assert resolve({"fileRef": top}, s3) == {"middle": {"leaf": b"\x00\x01", "n": 2}, "again": [b"\x00\x01"]}


def test_a_reference_cycle_is_refused(s3: FakeS3) -> None:
    s3.add_json("a.json", {"next": {"fileRef": f"s3://{BUCKET}/b.json"}})
    s3.add_json("b.json", {"next": {"fileRef": f"s3://{BUCKET}/a.json"}})
    with pytest.raises(
        PayloadRefError,
        match=r"reference cycle: s3://payloads-in/a.json -> s3://payloads-in/b.json -> s3://payloads-in/a.json",
    ):
        resolve({"fileRef": f"s3://{BUCKET}/a.json"}, s3)


def test_nesting_deeper_than_the_bound_is_refused(s3: FakeS3) -> None:
    for level in range(6):
        s3.add_json(f"{level}.json", {"next": {"fileRef": f"s3://{BUCKET}/{level + 1}.json"}})
    s3.add_json("6.json", {"end": True})
    with pytest.raises(PayloadRefError, match=r"'s3://payloads-in/4.json': references nested more than 4 levels deep"):
        resolve({"fileRef": f"s3://{BUCKET}/0.json"}, s3)
    assert resolve({"fileRef": f"s3://{BUCKET}/4.json"}, s3) == {"next": {"next": {"end": True}}}


def test_too_many_references_are_refused(s3: FakeS3) -> None:
    uri = s3.add("k", b"x")
    assert resolve([{"fileRef": uri}] * 3, s3, max_references=3) == [b"x"] * 3
    with pytest.raises(PayloadRefError, match="more than 3 references"):
        resolve([{"fileRef": uri}] * 4, s3, max_references=3)


def test_payload_s3_replaces_the_whole_event(s3: FakeS3) -> None:
    body = json.dumps({"body": {"fileRef": s3.add("b.bin", b"raw")}, "n": 1}).encode()
    uri = s3.add("event.txt", body, "text/plain")
    assert resolve({"payloadS3": uri}, s3) == {"body": b"raw", "n": 1}
    assert resolve({"payloadS3": uri, "sha256": sha(body), "size": len(body)}, s3) == {"body": b"raw", "n": 1}


def test_payload_s3_content_must_be_json(s3: FakeS3) -> None:
    uri = s3.add("event.png", b"\x89PNG", "image/png")
    with pytest.raises(
        PayloadRefError,
        match=(
            r"'s3://payloads-in/event.png': payloadS3 content becomes the whole event, so it must be JSON, "
            r"but it is not valid JSON"
        ),
    ):
        resolve({"payloadS3": uri}, s3)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({"fileRef": 7}, r"payload reference 7: fileRef must be a string"),
        ({"fileRef": "s3://payloads-in/k", "name": "x"}, r"unexpected key\(s\) name next to fileRef"),
        ({"payloadS3": "s3://payloads-in/k", "lambdaARN": "x"}, r"unexpected key\(s\) lambdaARN next to payloadS3"),
        ({"fileRef": "s3://payloads-in/k", "size": "3"}, r"size must be a non-negative integer, got '3'"),
        ({"fileRef": "s3://payloads-in/k", "size": True}, r"size must be a non-negative integer, got True"),
        ({"fileRef": "s3://payloads-in/k", "size": -1}, r"size must be a non-negative integer"),
        ({"fileRef": "s3://payloads-in/k", "sha256": "abc"}, r"sha256 must be 64 hexadecimal characters, got 'abc'"),
        ({"fileRef": "s3://payloads-in/k", "sha256": "g" * 64}, r"sha256 must be 64 hexadecimal characters"),
        ({"fileRef": "s3://payloads-in/k", "content_type": 3}, r"content_type must be a string"),
        ({"fileRef": "s3:/payloads-in/k"}, r"not an s3:// URI"),
    ],
)
def test_a_malformed_reference_is_refused_before_any_request(
    s3: FakeS3, reference: dict[str, Any], message: str
) -> None:
    s3.add("k", b"x")
    event = {"wrapper": [reference]} if "fileRef" in reference else reference
    before = copy.deepcopy(event)
    with pytest.raises(PayloadRefError, match=message):
        resolve(event, s3)
    assert s3.requests == 0
    assert event == before


def test_a_size_mismatch_is_refused(s3: FakeS3) -> None:
    uri = s3.add("k", b"12345")
    with pytest.raises(PayloadRefError, match=r"size mismatch: the reference says 4 bytes, the object has 5"):
        resolve({"fileRef": uri, "size": 4}, s3)


def test_the_byte_budget_covers_all_references_of_one_event(s3: FakeS3) -> None:
    first = s3.add("first", b"a" * 60)
    second = s3.add("second", b"b" * 60)
    assert resolve({"fileRef": first}, s3, max_bytes=100) == b"a" * 60
    with pytest.raises(
        PayloadRefError,
        match=(
            r"'s3://payloads-in/second': the object is 60 bytes; with the 60 bytes already read for this event "
            r"that is over the maximum of 100 bytes"
        ),
    ):
        resolve([{"fileRef": first}, {"fileRef": second}], s3, max_bytes=100)


def test_a_declared_size_over_the_budget_is_refused_before_downloading(s3: FakeS3) -> None:
    uri = s3.add("k", b"x" * 10)
    with pytest.raises(PayloadRefError, match="the object is 500 bytes, over the maximum of 100 bytes"):
        resolve({"fileRef": uri, "size": 500}, s3, max_bytes=100)
    assert s3.requests == 0


def test_an_understated_content_length_does_not_let_a_large_body_through(s3: FakeS3) -> None:
    uri = s3.add("k", b"x" * 200)
    s3.lie_about_length = 10
    with pytest.raises(PayloadRefError, match="over the maximum of 100 bytes"):
        read_reference(uri, allowed_buckets={BUCKET}, max_bytes=100, s3_client=s3)
    assert all(body.closed for body in s3.bodies)


def test_the_maximum_defaults_to_the_environment_variable(s3: FakeS3, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = s3.add("k", b"x" * 11)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_MAX_BYTES", "10")
    with pytest.raises(
        PayloadRefError, match=r"the object is 11 bytes, over the maximum of 10 bytes \(THERMOSTAT_PAYLOAD_MAX_BYTES\)"
    ):
        read_reference(uri, allowed_buckets={BUCKET}, s3_client=s3)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_MAX_BYTES", "11")
    assert read_reference(uri, allowed_buckets={BUCKET}, s3_client=s3) == b"x" * 11


def test_invalid_json_declared_as_json_is_refused(s3: FakeS3) -> None:
    uri = s3.add_json("k.json", {"a": 1})
    s3.objects[(BUCKET, "k.json")] = (b'{"a": ', "application/json")
    with pytest.raises(
        PayloadRefError,
        match=r"'s3://payloads-in/k.json': the content is declared JSON \(application/json\), but it is not valid JSON",
    ):
        resolve({"fileRef": uri}, s3)


# -- S3 errors -----------------------------------------------------------------------------------


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "GetObject")


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (_client_error("NoSuchKey"), PayloadRefNotFound, "the object does not exist"),
        (_client_error("NoSuchBucket"), PayloadRefNotFound, "the bucket does not exist"),
        (_client_error("AccessDenied"), PayloadRefError, "access denied: the caller needs s3:GetObject"),
        (
            _client_error("SlowDown"),
            PayloadRefUnavailable,
            r"S3 read failed \(SlowDown: SlowDown happened\); retrying may help",
        ),
        (EndpointConnectionError(endpoint_url="http://x"), PayloadRefUnavailable, "EndpointConnectionError"),
    ],
)
def test_sdk_errors_become_reference_errors(
    s3: FakeS3, error: BaseException, kind: type[PayloadRefError], message: str
) -> None:
    s3.fail_with = error
    with pytest.raises(kind, match=message) as caught:
        read_reference(f"s3://{BUCKET}/k", allowed_buckets={BUCKET}, s3_client=s3)
    assert caught.value.uri == f"s3://{BUCKET}/k"
    assert caught.value.__cause__ is error


def test_a_bug_is_not_disguised_as_a_reference_error(s3: FakeS3) -> None:
    s3.fail_with = TypeError("a bug in the caller")
    with pytest.raises(TypeError, match="a bug in the caller"):
        read_reference(f"s3://{BUCKET}/k", allowed_buckets={BUCKET}, s3_client=s3)


# -- offload -------------------------------------------------------------------------------------


def test_a_small_result_is_returned_unchanged(s3: FakeS3) -> None:
    result = {"ok": True, "items": list(range(10))}
    assert offload(result, bucket="out-bucket", threshold_bytes=1000, s3_client=s3) is result
    assert s3.objects == {}


def test_offloading_is_content_addressed_and_idempotent(s3: FakeS3) -> None:
    result = {"items": ["x" * 100] * 20}
    first = offload(result, bucket="out-bucket", threshold_bytes=100, s3_client=s3)
    second = offload(copy.deepcopy(result), bucket="out-bucket", threshold_bytes=100, s3_client=s3)
    body = json.dumps(result, separators=(",", ":")).encode()
    assert (
        first
        == second
        == {
            "fileRef": f"s3://out-bucket/thermostat/payloads/{sha(body)}.json",
            "sha256": sha(body),
            "size": len(body),
            "content_type": "application/json",
        }
    )
    assert list(s3.objects.values()) == [(body, "application/json")]
    assert resolve(first, s3, allowed_buckets={"out-bucket"}) == result


@pytest.mark.parametrize(
    ("threshold", "message"), [(-1, "non-negative"), (1.5, "non-negative"), (True, "non-negative")]
)
def test_a_bad_threshold_is_refused(s3: FakeS3, threshold: Any, message: str) -> None:
    with pytest.raises(PayloadRefError, match=message):
        offload({"a": 1}, bucket="out-bucket", threshold_bytes=threshold, s3_client=s3)
    assert s3.objects == {}


def test_a_result_that_is_not_json_is_refused_clearly(s3: FakeS3) -> None:
    with pytest.raises(
        PayloadRefError,
        match=r"cannot measure the result for offloading to s3://out-bucket/: it is not JSON-serializable \(.*set",
    ):
        offload({"a": {1, 2}}, bucket="out-bucket", s3_client=s3)
    assert s3.objects == {}


def test_offloading_to_an_invalid_bucket_name_is_refused(s3: FakeS3) -> None:
    with pytest.raises(PayloadRefError, match=r"'s3://Out_Bucket/': bucket name 'Out_Bucket' may contain only"):
        offload({"a": "x" * 50}, bucket="Out_Bucket", threshold_bytes=10, s3_client=s3)
    assert s3.objects == {}


# -- import cost ---------------------------------------------------------------------------------

_PROBE = """
import json, sys
from thermostat_runtime import refs, warmable, Environment, Telemetry
event = {"records": [{"body": "s3://payloads-in/k", "n": i} for i in range(100)]}
assert refs.resolve_refs(event) is event
lines = []
wrap = warmable(
    resolve_refs=True, offload_to="out-bucket", environment=Environment(), telemetry=Telemetry(sink=lines.append)
)
handler = wrap(lambda e, c: {"ok": True})
assert handler(event, None) == {"ok": True}
before = sorted(m for m in ("boto3", "botocore") if m in sys.modules)
if "--positive-control" in sys.argv:
    refs.default_s3_client()
after = sorted(m for m in ("boto3", "botocore") if m in sys.modules)
print(json.dumps({"before": before, "after": after}))
"""


@pytest.mark.parametrize("control", [False, True])
def test_boto3_is_imported_only_when_a_reference_is_met(control: bool) -> None:
    # Given a fresh interpreter that imports the runtime module and resolves an event without references
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "THERMOSTAT_"))}
    env.update(PYTHONPATH=str(LAYER), AWS_DEFAULT_REGION="us-east-1")
    argv = [sys.executable, "-c", _PROBE] + (["--positive-control"] if control else [])
    # When it runs
    completed = subprocess.run(argv, capture_output=True, text=True, env=env, check=True, timeout=120)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # Then boto3 and botocore were never imported; the control shows that the check can see them
    assert report["before"] == []
    assert report["after"] == (["boto3", "botocore"] if control else [])
