"""``thermostat payload put FILE --bucket B [--key K]``: upload a payload, print its reference.

The printed ``s3://`` URI is ready to paste as a Power Tuning ``payloadS3``, a warm target's
``--payload-s3``, or a ``{"fileRef": …, "sha256": …}`` inside an event.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput, NotFound, ThermostatError, Unavailable
from handlers.cli._args import command_group
from handlers.cli._output import emit
from handlers.cli._progress import progress
from thermostat_runtime.refs import (
    DEFAULT_PREFIX,
    JSON_CONTENT_TYPE,
    PayloadRefError,
    PayloadRefNotFound,
    PayloadRefUnavailable,
    bucket_name_problem,
    is_json_content,
    parse_s3_uri,
    put_payload,
)

_SAFE_SUFFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def register(commands: Any) -> None:
    """Add the ``payload`` command group."""
    actions = command_group(commands, "payload", "store large payloads in S3 and reference them")
    put = actions.add_parser(
        "put",
        help="upload FILE and print its s3:// reference and sha256",
        description="Upload FILE ('-' for stdin) and print its s3:// reference, sha256, size and content type. "
        f"Without --key the object is content-addressed: {DEFAULT_PREFIX}<sha256><suffix>.",
    )
    put.add_argument("file", metavar="FILE", help="the file to upload, or '-' for standard input")
    put.add_argument("--bucket", required=True, help="the bucket to upload to (readers must allow it)")
    put.add_argument("--key", help=f"object key (default: {DEFAULT_PREFIX}<sha256><suffix of FILE>)")
    put.add_argument(
        "--content-type",
        help="Content-Type to store (default: guessed from FILE's name; JSON is parsed when resolved)",
    )
    put.set_defaults(run=run_put)


#: From this size on, ``payload put`` says on stderr that it is uploading, and when it is done.
PROGRESS_FROM_BYTES = 1 << 20


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    path = Path(file)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InvalidInput(f"{file}: no such file; give the path of the payload to upload") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"{file}: is a directory; give the path of one file") from exc
    except OSError as exc:
        raise InvalidInput(f"{file}: cannot be read ({exc.strerror or exc})") from exc


def _suffix(file: str) -> str:
    suffix = Path(file).suffix.lower() if file != "-" else ""
    # Only a plain extension is kept: it must not make the key ambiguous (Power Tuning
    # percent-decodes payloadS3 keys) and '.json' is what marks JSON for resolve_refs.
    if 1 < len(suffix) <= 10 and set(suffix[1:]) <= _SAFE_SUFFIX_CHARS:
        return suffix
    return ""


def _content_type(file: str, given: str | None) -> str:
    if given is not None:
        if not given.strip() or any(ord(char) < 32 for char in given):
            raise InvalidInput(f"--content-type {given!r} is not a media type, e.g. application/json")
        return given.strip()
    if file == "-":
        return "application/octet-stream"
    if Path(file).suffix.lower() == ".json":
        # Not left to mimetypes: its answer depends on the machine's mime.types.
        return JSON_CONTENT_TYPE
    guessed, encoding = mimetypes.guess_type(file, strict=False)
    if guessed is None or encoding is not None:
        # A compressed file is stored as what it is, a blob.
        return "application/octet-stream"
    return guessed


def run_put(args: argparse.Namespace) -> int:
    """Upload the file and print ``{"uri", "sha256", "size", "content_type"}``."""
    problem = bucket_name_problem(args.bucket)
    if problem is not None:
        raise InvalidInput(f"--bucket: {problem}")
    if args.key is not None:
        try:
            parse_s3_uri(f"s3://{args.bucket}/{args.key}")
        except PayloadRefError as exc:
            raise InvalidInput(f"--key {args.key!r}: {exc}") from exc
    content_type = _content_type(args.file, args.content_type)
    suffix = _suffix(args.file)
    if suffix == ".json" and not is_json_content(content_type, ""):
        # A '.json' key would make readers parse what the user asked to keep as a blob.
        suffix = ""
    data = _read(args.file)
    key = args.key if args.key is not None else f"{DEFAULT_PREFIX}<sha256>{suffix}"
    if is_json_content(content_type, key):
        # Refuse now what every reader would refuse later.
        try:
            json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(
                f"{args.file}: would be stored as JSON ({content_type}, key {key}) but is not valid JSON: {exc}; "
                "fix it, or store it as a blob: --content-type application/octet-stream and no '.json' key"
            ) from exc

    from handlers import wiring

    large = len(data) >= PROGRESS_FROM_BYTES
    if large:
        progress(args, f"uploading {len(data) / 1048576:.1f} MiB to s3://{args.bucket}/…")
    started = time.monotonic()
    try:
        stored = put_payload(
            data,
            bucket=args.bucket,
            key=args.key,
            content_type=content_type,
            suffix=suffix,
            s3_client=wiring.s3_client(wiring.settings().region),
        )
    except PayloadRefNotFound as exc:
        raise NotFound(f"{exc}; create the bucket first") from exc
    except PayloadRefUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    except PayloadRefError as exc:
        raise ThermostatError(str(exc)) from exc
    if large:
        progress(args, f"uploaded in {time.monotonic() - started:.1f} s")
    emit(args, stored)
    return 0
