"""``thermostat payload put``: upload, print the reference, refuse bad input (moto S3)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers.cli import main
from thermostat_runtime.refs import resolve_refs

# Every test here starts without cached S3 clients.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_ref_clients")]

BUCKET = "thermostat-payloads"


@pytest.fixture
def s3(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("THERMOSTAT_PAYLOAD_BUCKETS", BUCKET)
    return client


def stored(s3: Any) -> dict[str, tuple[bytes, str]]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    out = {}
    for item in listed:
        response = s3.get_object(Bucket=BUCKET, Key=item["Key"])
        out[item["Key"]] = (response["Body"].read(), response["ContentType"])
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_put_prints_the_reference_and_its_sha256(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a JSON payload on disk
    path = tmp_path / "event.json"
    data = json.dumps({"user": "Zoë", "items": [1, 2, 3]}).encode()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    # When uploaded
    code, out, err = run(capsys, "payload", "put", str(path), "--bucket", BUCKET)
    # Then the table shows the reference and its sha256, and the object is in S3, typed as JSON
    uri = f"s3://{BUCKET}/thermostat/payloads/{digest}.json"
    assert (code, err) == (0, "")
    assert uri in out
    assert digest in out
    assert stored(s3) == {f"thermostat/payloads/{digest}.json": (data, "application/json")}
    # And the reference resolves to the document, as payloadS3 and as a fileRef
    assert resolve_refs({"payloadS3": uri}) == {"user": "Zoë", "items": [1, 2, 3]}
    assert resolve_refs({"fileRef": uri, "sha256": digest}) == {"user": "Zoë", "items": [1, 2, 3]}


def test_put_json_output_and_a_chosen_key(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "photo.png"
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    path.write_bytes(data)
    code, out, _ = run(capsys, "payload", "put", str(path), "--bucket", BUCKET, "--key", "inputs/photo.png", "--json")
    assert code == 0
    assert json.loads(out) == {
        "uri": f"s3://{BUCKET}/inputs/photo.png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/png",
    }
    assert resolve_refs({"fileRef": f"s3://{BUCKET}/inputs/photo.png"}) == data


def test_putting_the_same_content_twice_gives_the_same_reference(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text('{"same": true}')
    second.write_text('{"same": true}')
    _, out_a, _ = run(capsys, "--json", "payload", "put", str(first), "--bucket", BUCKET)
    _, out_b, _ = run(capsys, "--json", "payload", "put", str(second), "--bucket", BUCKET)
    assert json.loads(out_a) == json.loads(out_b)
    assert len(stored(s3)) == 1


def test_put_reads_standard_input(s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\x00binary\xff"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "payload", "put", "-", "--bucket", BUCKET, "--json")
    assert code == 0
    document = json.loads(out)
    assert document["content_type"] == "application/octet-stream"
    assert resolve_refs({"fileRef": document["uri"]}) == data


def test_a_json_file_can_be_stored_as_a_blob(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a '.json' file that is not JSON, stored explicitly as a blob
    path = tmp_path / "almost.json"
    path.write_bytes(b"{not json")
    code, out, _ = run(
        capsys, "payload", "put", str(path), "--bucket", BUCKET, "--content-type", "application/octet-stream", "--json"
    )
    # Then its key drops '.json' so that readers keep it as bytes
    assert code == 0
    uri = json.loads(out)["uri"]
    assert not uri.endswith(".json")
    assert resolve_refs({"fileRef": uri}) == b"{not json"


# -- bad input: exit 2, a message, nothing stored ------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bucket", "My_Bucket"], "--bucket: bucket name 'My_Bucket' may contain only lowercase letters"),
        (["--bucket", "192.168.5.4"], "must not be formatted as an IP address"),
        (["--bucket", BUCKET, "--key", "../escape.json"], "--key '../escape.json': .*'..' path segment"),
        (["--bucket", BUCKET, "--key", "dir/"], "--key 'dir/': .*empty"),
        (["--bucket", BUCKET, "--content-type", " "], "--content-type ' ' is not a media type"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_stored(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text("{}")
    code, out, err = run(capsys, "payload", "put", str(path), *extra)
    assert code == 2
    assert out == ""
    assert err.startswith("thermostat: error: ")
    assert re.search(message, err), err
    assert stored(s3) == {}
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == [BUCKET]


def test_a_missing_file_is_refused(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "payload", "put", str(tmp_path / "nope.json"), "--bucket", BUCKET)
    assert code == 2
    assert f"{tmp_path / 'nope.json'}: no such file" in err
    assert stored(s3) == {}


def test_a_directory_is_refused(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "payload", "put", str(tmp_path), "--bucket", BUCKET)
    assert code == 2
    assert "is a directory" in err
    assert stored(s3) == {}


def test_invalid_json_is_refused_before_upload(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"a": 1,')
    code, _, err = run(capsys, "payload", "put", str(path), "--bucket", BUCKET)
    assert code == 2
    assert "broken.json: would be stored as JSON (application/json" in err
    assert "is not valid JSON" in err
    assert "--content-type application/octet-stream" in err
    assert stored(s3) == {}


# -- failed operations: exit 1 -------------------------------------------------------------------


def test_a_missing_bucket_fails_the_operation(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "event.json"
    path.write_text("{}")
    code, out, err = run(capsys, "payload", "put", str(path), "--bucket", "not-created-yet")
    assert code == 1
    assert out == ""
    assert "thermostat: failed: payload reference 's3://not-created-yet/thermostat/payloads/" in err
    assert "the bucket does not exist; create the bucket first" in err
    assert stored(s3) == {}
