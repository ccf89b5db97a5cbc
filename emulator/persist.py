"""``thermostat local --state DIR``: what thermostat keeps in moto, saved to a directory and loaded back.

Chosen over moto's own request recorder (``/moto-api/recorder``), which replays every request ever
made — deletes, failed calls and telemetry included, growing without bound — and over pickling
moto's backends, which ties the files to one moto version. What is saved is what thermostat's
functions read and write, through the same APIs they use:

* the DynamoDB table (the bucket registry and the keep-warm targets): every item, as DynamoDB's
  typed JSON;
* S3: every bucket and its objects (``objects/<n>`` files, an index maps keys to files);
* CloudWatch Logs: every ``/aws/lambda/…`` group, its streams and their events.

A snapshot is written to ``snapshot.json`` (plus ``s3/``) atomically: a new directory is
written, then swapped in by renames, so a crash while saving leaves the previous snapshot. What is
not kept: function versions and aliases (the template and demo targets are recreated at start),
deployments, and log events CloudWatch itself would refuse (older than 14 days).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from infra import aws

SNAPSHOT = "snapshot.json"
FORMAT = 1
_MAX_AGE_MS = 14 * 24 * 3600 * 1000
_BATCH = 1000


def _scan(table: str) -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page.get("Items", []))
    return items


def _buckets(directory: Path) -> list[dict[str, Any]]:
    s3 = aws.client("s3")
    saved = []
    for index, bucket in enumerate(s3.list_buckets().get("Buckets", [])):
        name = bucket["Name"]
        folder = directory / "s3" / str(index)
        folder.mkdir(parents=True)
        objects: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=name, Key=entry["Key"])
                path = folder / str(len(objects))
                path.write_bytes(body["Body"].read())
                objects.append({"key": entry["Key"], "file": path.name, "content_type": body.get("ContentType")})
        saved.append({"name": name, "folder": folder.name, "objects": objects})
    return saved


def _logs() -> list[dict[str, Any]]:
    logs = aws.client("logs")
    groups = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/"):
        for group in page.get("logGroups", []):
            name = group["logGroupName"]
            streams = []
            for stream_page in logs.get_paginator("describe_log_streams").paginate(logGroupName=name):
                for stream in stream_page.get("logStreams", []):
                    answer = logs.get_log_events(
                        logGroupName=name, logStreamName=stream["logStreamName"], startFromHead=True
                    )
                    events = [{"timestamp": e["timestamp"], "message": e["message"]} for e in answer.get("events", [])]
                    streams.append({"name": stream["logStreamName"], "events": events})
            groups.append({"name": name, "streams": streams})
    return groups


def save(directory: Path, table: str) -> dict[str, int]:
    """Write a snapshot of the running stack's moto state to ``directory``; returns what it counted."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = directory / ".snapshot.new"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    document = {
        "format": FORMAT,
        "saved_at": time.time(),
        "table": table,
        "items": _scan(table),
        "buckets": _buckets(fresh),
        "log_groups": _logs(),
    }
    (fresh / SNAPSHOT).write_text(json.dumps(document))
    old = directory / ".snapshot.old"
    shutil.rmtree(old, ignore_errors=True)
    current = directory / "current"
    if current.exists():
        current.rename(old)
    fresh.rename(current)
    shutil.rmtree(old, ignore_errors=True)
    return _counts(document)


def _counts(document: dict[str, Any]) -> dict[str, int]:
    return {
        "items": len(document["items"]),
        "buckets": len(document["buckets"]),
        "objects": sum(len(b["objects"]) for b in document["buckets"]),
        "log_events": sum(len(s["events"]) for g in document["log_groups"] for s in g["streams"]),
    }


def read(directory: Path) -> dict[str, Any] | None:
    """The snapshot in ``directory`` (None when there is none yet); ``InvalidInput`` when it is unreadable."""
    path = directory / "current" / SNAPSHOT
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"--state {directory}: not a directory")
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"--state {directory}: {path} is unreadable ({exc}); move it away to start empty") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidInput(f"--state {directory}: {path} is not a thermostat local snapshot (format {FORMAT})")
    return document


def load(directory: Path, document: dict[str, Any], table: str) -> dict[str, int]:
    """Put a snapshot back into a fresh stack (the table and the payload bucket already exist)."""
    dynamodb = aws.client("dynamodb")
    for item in document.get("items", []):
        dynamodb.put_item(TableName=table, Item=item)
    s3 = aws.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in document.get("buckets", []):
        if bucket["name"] not in existing:
            s3.create_bucket(Bucket=bucket["name"])
        folder = directory / "current" / "s3" / bucket["folder"]
        for entry in bucket["objects"]:
            extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
            s3.put_object(Bucket=bucket["name"], Key=entry["key"], Body=(folder / entry["file"]).read_bytes(), **extra)
    logs = aws.client("logs")
    oldest = int(time.time() * 1000) - _MAX_AGE_MS
    for group in document.get("log_groups", []):
        _create(logs, "create_log_group", logGroupName=group["name"])
        for stream in group["streams"]:
            _create(logs, "create_log_stream", logGroupName=group["name"], logStreamName=stream["name"])
            events = sorted(
                (e for e in stream["events"] if e["timestamp"] >= oldest), key=lambda e: int(e["timestamp"])
            )
            for start in range(0, len(events), _BATCH):
                logs.put_log_events(
                    logGroupName=group["name"], logStreamName=stream["name"], logEvents=events[start : start + _BATCH]
                )
    return _counts(document)


def _create(client: Any, call: str, **arguments: str) -> None:
    try:
        getattr(client, call)(**arguments)
    except Exception as exc:
        if aws.error_code(exc) != "ResourceAlreadyExistsException":
            raise
