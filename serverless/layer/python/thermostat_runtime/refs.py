"""Payload references: large payloads travel as S3 pointers (``fileRef``, ``payloadS3``).

Step Functions state is limited to 256 KiB and Lambda's synchronous payload to 6 MB, so a large
input or output is stored in S3 and only a small reference crosses those limits.

References
    ``{"fileRef": "s3://bucket/key", "sha256": "…", "size": N, "content_type": "…"}`` anywhere in
    an event (``sha256``, ``size`` and ``content_type`` optional, no other keys), and a top-level
    ``{"payloadS3": "s3://bucket/key"}`` (AWS Lambda Power Tuning's spelling; the same optional
    keys) whose content becomes the whole event.

What ``resolve_refs`` puts in place of a reference
    * parsed JSON when the content is JSON: the reference's ``content_type``, else the object's
      Content-Type, is ``application/json``, ``text/json`` or ``*/*+json``; or that type is absent
      or generic (``binary/octet-stream``, ``application/octet-stream``) and the key ends in
      ``.json``. Content is never sniffed: a blob that happens to parse stays a blob.
    * ``bytes`` for anything else (images, archives, text).
    * ``payloadS3`` content is the event itself, so it must be JSON whatever its type says.
    References inside a resolved JSON document are resolved too, at most ``MAX_REF_DEPTH``
    levels deep, at most ``MAX_REFERENCES`` per event; a reference that (directly or not) points
    at itself is refused.

Refusals
    Every refusal raises ``PayloadRefError`` (a ``ValueError``) whose message names the reference
    and the reason; the caller's event is never modified and nothing partial is returned:
    a bucket outside ``THERMOSTAT_PAYLOAD_BUCKETS`` (unset = no bucket at all), a malformed URI,
    a missing object (``PayloadRefNotFound``), a checksum or size mismatch, more bytes than
    ``THERMOSTAT_PAYLOAD_MAX_BYTES`` (default 16 MiB, counted over all the references of one
    event). S3 failures that a retry may cure raise ``PayloadRefUnavailable``.

Offloading (``offload``)
    A result whose compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``) is more than
    ``threshold_bytes`` UTF-8 bytes is stored at ``thermostat/payloads/<sha256>.json``
    (content-addressed: storing the same result twice writes the same object) and replaced by a
    ``fileRef`` of about 200 bytes. At or under the threshold the result is returned unchanged.

This module is standard library only at import; boto3 is imported when a reference is met.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from typing import Any, Final

#: Step Functions' limit on a state's input or output.
STEP_FUNCTIONS_LIMIT_BYTES: Final = 256 * 1024

BUCKETS_ENV: Final = "THERMOSTAT_PAYLOAD_BUCKETS"
MAX_BYTES_ENV: Final = "THERMOSTAT_PAYLOAD_MAX_BYTES"
#: Default cap on the bytes read for one event (all its references together).
DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024
#: Default size above which ``offload`` stores a result; leaves margin under Step Functions' 256 KiB.
DEFAULT_OFFLOAD_THRESHOLD_BYTES: Final = 200_000
#: Where ``offload`` and ``thermostat payload put`` store content-addressed objects.
DEFAULT_PREFIX: Final = "thermostat/payloads/"
#: How many references may be nested inside referenced documents (1 = no nesting).
MAX_REF_DEPTH: Final = 4
#: How many references one event may contain, all levels together.
MAX_REFERENCES: Final = 100

FILE_REF: Final = "fileRef"
PAYLOAD_S3: Final = "payloadS3"
JSON_CONTENT_TYPE: Final = "application/json"
BINARY_CONTENT_TYPE: Final = "application/octet-stream"
_OPTIONAL_FIELDS: Final = frozenset({"sha256", "size", "content_type"})
_GENERIC_TYPES: Final = frozenset({"", "binary/octet-stream", "application/octet-stream"})
_HEX: Final = frozenset("0123456789abcdef")
_MAX_KEY_BYTES: Final = 1024


class PayloadRefError(ValueError):
    """A reference that cannot be honoured; the message names the reference and the reason."""

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        #: The reference concerned (``s3://bucket/key`` as given), when there is one.
        self.uri = uri


class PayloadRefNotFound(PayloadRefError):
    """The object (or its bucket) does not exist."""


class PayloadRefUnavailable(PayloadRefError):
    """S3 failed, timed out or throttled; retrying may help."""


def _refused(uri: object, reason: str, kind: type[PayloadRefError] = PayloadRefError) -> PayloadRefError:
    return kind(f"payload reference {uri!r}: {reason}", uri=uri if isinstance(uri, str) else None)


# -- configuration -----------------------------------------------------------------------------


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def allowed_buckets_from_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The buckets in ``THERMOSTAT_PAYLOAD_BUCKETS`` (comma-separated); empty when unset."""
    env = os.environ if environ is None else environ
    return _csv(env.get(BUCKETS_ENV, ""))


def max_bytes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``THERMOSTAT_PAYLOAD_MAX_BYTES`` (a positive integer), or ``DEFAULT_MAX_BYTES`` when unset."""
    env = os.environ if environ is None else environ
    raw = env.get(MAX_BYTES_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise PayloadRefError(
            f"{MAX_BYTES_ENV} must be a positive number of bytes, e.g. {DEFAULT_MAX_BYTES}, "
            f"got {env.get(MAX_BYTES_ENV)!r}"
        )
    return int(raw)


def _normalise_allowed(allowed_buckets: Collection[str] | str | None) -> frozenset[str]:
    if allowed_buckets is None:
        return allowed_buckets_from_env()
    if isinstance(allowed_buckets, str):
        # A bare string would otherwise allow every substring of itself.
        return _csv(allowed_buckets)
    return frozenset(allowed_buckets)


# -- URIs --------------------------------------------------------------------------------------


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid S3 general-purpose bucket name (its first broken rule), or None.

    S3 (and moto, which accepts anything) would otherwise answer with a confusing error, or
    worse, a malformed name could be read as a different bucket or an access point.
    """
    from .names import bucket_name_problems

    problems = bucket_name_problems(name)
    return f"bucket name {name!r} {problems[0]}" if problems else None


def _key_problem(key: str) -> str | None:
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        return f"the object key is longer than {_MAX_KEY_BYTES} bytes"
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        return "the object key contains a control character"
    for segment in key.split("/"):
        if segment in {"", ".", ".."}:
            # S3 keys are literal, but URL normalisation in proxies and SDKs is not: a key with
            # '..', '.' or empty segments may name a different object than it seems to.
            return (
                "the object key has an empty, '.' or '..' path segment "
                "(leading, trailing or doubled '/', or a '..' trick); name the object plainly"
            )
    return None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); PayloadRefError when malformed.

    The key is taken literally (no percent-decoding). Refused: any other scheme, a missing
    bucket or key, an invalid bucket name, a key with control characters, empty, ``.`` or
    ``..`` segments, or over 1024 bytes.
    """
    if not isinstance(uri, str):
        raise _refused(uri, "expected a string 's3://BUCKET/KEY'")
    if not uri.startswith("s3://"):
        raise _refused(uri, "not an s3:// URI; expected 's3://BUCKET/KEY'")
    bucket, slash, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise _refused(uri, "names no bucket; expected 's3://BUCKET/KEY'")
    if not slash or not key:
        raise _refused(uri, "names no object key; expected 's3://BUCKET/KEY'")
    problem = bucket_name_problem(bucket) or _key_problem(key)
    if problem is not None:
        raise _refused(uri, problem)
    return bucket, key


def _check_allowed(uri: str, bucket: str, allowed: frozenset[str]) -> None:
    if bucket in allowed:
        return
    if not allowed:
        reason = f"{BUCKETS_ENV} is empty, so no bucket may be read; add {bucket!r} to it"
    else:
        reason = (
            f"bucket {bucket!r} is not in {BUCKETS_ENV} ({', '.join(sorted(allowed))}); "
            "add it there to allow reading from it"
        )
    raise _refused(uri, reason)


def _check_sha256(uri: str, sha256: object) -> str:
    if not isinstance(sha256, str) or len(sha256) != 64 or not set(sha256.lower()) <= _HEX:
        raise _refused(uri, f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return sha256.lower()


# -- S3 access ---------------------------------------------------------------------------------

_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = allocate_lock()


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def default_s3_client() -> Any:
    """The process's S3 client, built at first use (boto3 is imported here, not before).

    Cached per process, region and endpoint override, so that ``AWS_ENDPOINT_URL`` (which boto3
    honours by itself) is respected even if it changes, as it does between tests.
    """
    key = (
        str(os.getpid()),
        _region() or "",
        os.environ.get("AWS_ENDPOINT_URL", ""),
        os.environ.get("AWS_ENDPOINT_URL_S3", ""),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3
            from botocore.config import Config

            # A private session: boto3's default one is not safe to build clients from in threads.
            session = boto3.session.Session()
            retries: Any = _retries(session)
            config = Config(retries=retries, connect_timeout=5, read_timeout=60)
            client = session.client("s3", region_name=_region(), config=config)
            _clients[key] = client
        return client


def _retries(session: Any) -> dict[str, Any]:
    """Standard mode and 3 retries, each only where the user set none (botocore's chain decides).

    ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` and the profile's ``max_attempts`` / ``retry_mode``
    win: an explicit client setting would override them.
    """
    core = session._session  # the botocore session behind boto3's: the same configuration chain
    retries: dict[str, Any] = {}
    if core.get_config_variable("max_attempts") is None:
        retries["max_attempts"] = 3
    if not (os.environ.get("AWS_RETRY_MODE") or core.get_scoped_config().get("retry_mode")):
        retries["mode"] = "standard"
    return retries


def clear_client_cache() -> None:
    """Forget the cached S3 clients (tests; credentials rotated)."""
    with _clients_lock:
        _clients.clear()


def _sdk_error(exc: BaseException, uri: str, action: str) -> PayloadRefError | None:
    """Translate an SDK error into ours; None for anything that is not an SDK error (a bug)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
        message = str(error.get("Message") or exc)
        if code in {"NoSuchKey", "404", "NotFound"}:
            return _refused(uri, "the object does not exist", PayloadRefNotFound)
        if code == "NoSuchBucket":
            return _refused(uri, "the bucket does not exist", PayloadRefNotFound)
        if code in {"AccessDenied", "403", "AllAccessDisabled", "Forbidden"}:
            permission = "s3:GetObject" if action == "read" else "s3:PutObject"
            hint = " (S3 also answers so for a missing object when s3:ListBucket is not granted)"
            return _refused(
                uri, f"access denied: the caller needs {permission} on it{hint if action == 'read' else ''}"
            )
        return _refused(uri, f"S3 {action} failed ({code}: {message}); retrying may help", PayloadRefUnavailable)
    module = type(exc).__module__.split(".")[0]
    if module in {"botocore", "boto3", "urllib3", "http", "socket", "ssl"} or isinstance(exc, OSError):
        return _refused(
            uri, f"S3 {action} failed ({type(exc).__name__}: {exc}); retrying may help", PayloadRefUnavailable
        )
    return None


class _Reader:
    """Reads references for one event: one allow-list, one client, one byte budget."""

    def __init__(
        self,
        allowed_buckets: Collection[str] | str | None,
        max_bytes: int | None,
        s3_client: Any,
    ) -> None:
        self._allowed_given = allowed_buckets
        self._allowed: frozenset[str] | None = None
        self._max_given = max_bytes
        self._max: int | None = None
        self._client = s3_client
        self.read_bytes = 0

    # Configuration is read at the first reference, so an event without any costs nothing.
    @property
    def allowed(self) -> frozenset[str]:
        if self._allowed is None:
            self._allowed = _normalise_allowed(self._allowed_given)
        return self._allowed

    @property
    def max_bytes(self) -> int:
        if self._max is None:
            given = self._max_given
            if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 0):
                raise PayloadRefError(f"max_bytes must be a non-negative integer, got {given!r}")
            self._max = given if given is not None else max_bytes_from_env()
        return self._max

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_s3_client()
        return self._client

    def _over(self, uri: str, size: int) -> PayloadRefError:
        limit = self.max_bytes
        source = f" ({MAX_BYTES_ENV})" if self._max_given is None else ""
        if self.read_bytes:
            return _refused(
                uri,
                f"the object is {size} bytes; with the {self.read_bytes} bytes already read for this event "
                f"that is over the maximum of {limit} bytes{source}",
            )
        return _refused(uri, f"the object is {size} bytes, over the maximum of {limit} bytes{source}")

    def read(
        self,
        uri: str,
        *,
        sha256: str | None = None,
        size: int | None = None,
    ) -> tuple[bytes, str | None]:
        """The object's bytes and its Content-Type, after every check."""
        bucket, key = parse_s3_uri(uri)
        _check_allowed(uri, bucket, self.allowed)
        expected = _check_sha256(uri, sha256) if sha256 is not None else None
        budget = self.max_bytes - self.read_bytes
        if size is not None and size > budget:
            raise self._over(uri, size)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            error = _sdk_error(exc, uri, "read")
            if error is None:
                raise
            raise error from exc
        body = response["Body"]
        try:
            length = response.get("ContentLength")
            if isinstance(length, int) and length > budget:
                raise self._over(uri, length)
            # Never trust the header alone: read at most one byte past the budget.
            data = body.read(budget + 1)
        except PayloadRefError:
            raise
        except Exception as exc:
            error = _sdk_error(exc, uri, "read")
            if error is None:
                raise
            raise error from exc
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if len(data) > budget:
            raise self._over(uri, length if isinstance(length, int) and length > len(data) else len(data))
        if size is not None and len(data) != size:
            raise _refused(uri, f"size mismatch: the reference says {size} bytes, the object has {len(data)}")
        if expected is not None:
            import hashlib

            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise _refused(
                    uri,
                    f"sha256 mismatch: the reference says {expected}, the object has {actual}; "
                    "the object changed since the reference was made",
                )
        self.read_bytes += len(data)
        content_type = response.get("ContentType")
        return data, content_type if isinstance(content_type, str) else None


def read_reference(
    uri: str,
    *,
    allowed_buckets: Collection[str] | None = None,
    max_bytes: int | None = None,
    sha256: str | None = None,
    s3_client: Any = None,
) -> bytes:
    """Read the object behind ``uri`` (allow-listed bucket, size-capped, checksum-verified).

    ``allowed_buckets`` defaults to ``THERMOSTAT_PAYLOAD_BUCKETS``, ``max_bytes`` to
    ``THERMOSTAT_PAYLOAD_MAX_BYTES`` (16 MiB); pass ``SYNC_INVOKE_LIMIT_BYTES`` when the bytes
    are to be sent as a synchronous Lambda payload. Raises ``PayloadRefError`` (or its
    subclasses ``PayloadRefNotFound``, ``PayloadRefUnavailable``) naming the reference.
    """
    data, _ = _Reader(allowed_buckets, max_bytes, s3_client).read(uri, sha256=sha256)
    return data


# -- resolving ---------------------------------------------------------------------------------


def is_json_content(content_type: str | None, key: str) -> bool:
    """Whether content of this type under this key is JSON (see the module docstring)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _GENERIC_TYPES:
        return key.lower().endswith(".json")
    return media in {JSON_CONTENT_TYPE, "text/json"} or media.endswith("+json")


def _parse_json(uri: str, data: bytes, why: str) -> Any:
    import json

    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers.
        raise _refused(uri, f"{why}, but it is not valid JSON: {exc}") from exc


class _Resolver:
    def __init__(self, reader: _Reader, max_depth: int, max_references: int) -> None:
        self.reader = reader
        self.max_depth = max_depth
        self.max_references = max_references
        self.count = 0

    def walk(self, value: Any, chain: tuple[str, ...]) -> Any:
        """``value`` with its references replaced; the same object when it holds none."""
        if isinstance(value, dict):
            if FILE_REF in value:
                return self.file_ref(value, chain)
            changed: dict[Any, Any] | None = None
            for name, item in value.items():
                if isinstance(item, dict | list):
                    new = self.walk(item, chain)
                    if new is not item:
                        if changed is None:
                            changed = dict(value)
                        changed[name] = new
            return value if changed is None else changed
        if isinstance(value, list):
            copied: list[Any] | None = None
            for index, item in enumerate(value):
                if isinstance(item, dict | list):
                    new = self.walk(item, chain)
                    if new is not item:
                        if copied is None:
                            copied = list(value)
                        copied[index] = new
            return value if copied is None else copied
        return value

    def _fields(self, ref: dict[Any, Any], name: str) -> tuple[str, str | None, int | None, str | None]:
        uri = ref[name]
        if not isinstance(uri, str):
            raise _refused(uri, f"{name} must be a string 's3://BUCKET/KEY'")
        unexpected = sorted(str(key) for key in ref if key != name and key not in _OPTIONAL_FIELDS)
        if unexpected:
            raise _refused(
                uri,
                f"unexpected key(s) {', '.join(unexpected)} next to {name}; "
                f"a reference may carry only {', '.join(sorted(_OPTIONAL_FIELDS))}",
            )
        size = ref.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise _refused(uri, f"size must be a non-negative integer, got {size!r}")
        content_type = ref.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            raise _refused(uri, f"content_type must be a string, got {content_type!r}")
        sha256 = ref.get("sha256")
        if sha256 is not None:
            _check_sha256(uri, sha256)
        return uri, sha256, size, content_type

    def _fetch(
        self, uri: str, sha256: str | None, size: int | None, chain: tuple[str, ...]
    ) -> tuple[bytes, str | None]:
        if uri in chain:
            raise _refused(uri, "reference cycle: " + " -> ".join((*chain, uri)))
        if len(chain) >= self.max_depth:
            raise _refused(
                uri, f"references nested more than {self.max_depth} levels deep: " + " -> ".join((*chain, uri))
            )
        self.count += 1
        if self.count > self.max_references:
            raise _refused(uri, f"the event holds more than {self.max_references} references")
        return self.reader.read(uri, sha256=sha256, size=size)

    def file_ref(self, ref: dict[Any, Any], chain: tuple[str, ...]) -> Any:
        uri, sha256, size, declared = self._fields(ref, FILE_REF)
        data, stored = self._fetch(uri, sha256, size, chain)
        content_type = declared if declared is not None else stored
        if not is_json_content(content_type, uri):
            return data
        document = _parse_json(uri, data, f"the content is declared JSON ({content_type or '.json key'})")
        return self.walk(document, (*chain, uri))

    def payload_s3(self, event: dict[Any, Any]) -> Any:
        uri, sha256, size, _ = self._fields(event, PAYLOAD_S3)
        data, _ = self._fetch(uri, sha256, size, ())
        document = _parse_json(uri, data, "payloadS3 content becomes the whole event, so it must be JSON")
        return self.walk(document, (uri,))


def holds_reference(value: Any) -> bool:
    """Whether ``value`` contains a ``fileRef`` object anywhere (a top-level ``payloadS3`` aside)."""
    if isinstance(value, dict):
        if FILE_REF in value:
            return True
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return False
    # This runs on every invocation of a wrapped handler: the common scalars are skipped by
    # exact type (cheaper than isinstance), without a call.
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is float or kind is bool or item is None:
            continue
        if isinstance(item, dict | list) and holds_reference(item):
            return True
    return False


def resolve_refs(
    event: Any,
    *,
    allowed_buckets: Collection[str] | None = None,
    s3_client: Any = None,
    max_bytes: int | None = None,
    max_depth: int = MAX_REF_DEPTH,
    max_references: int = MAX_REFERENCES,
) -> Any:
    """Replace ``fileRef`` objects (and a top-level ``payloadS3``) in ``event`` with their content.

    JSON content is parsed (and its own references resolved), other content becomes ``bytes``;
    see the module docstring for the rules. ``event`` is never modified: the containers on the
    way to a reference are copied, and an event without references is returned as is, without
    reading any configuration or importing boto3. ``max_bytes`` bounds all the bytes read for
    this event together. Raises ``PayloadRefError`` naming the reference on any refusal.
    """
    top_level = isinstance(event, dict) and PAYLOAD_S3 in event
    if not top_level and not holds_reference(event):
        return event
    resolver = _Resolver(_Reader(allowed_buckets, max_bytes, s3_client), max_depth, max_references)
    if top_level:
        return resolver.payload_s3(event)
    return resolver.walk(event, ())


# -- storing -----------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    # What Lambda's own marshaller does for DynamoDB's Decimals, so offloading changes nothing.
    import decimal

    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoders: list[Any] = []


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON: the bytes whose length ``offload`` compares."""
    if not _encoders:
        import json

        # Built once: json.dumps with options makes a new encoder on every call.
        _encoders.append(json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default))
        _encoders.append(json.JSONEncoder(separators=(",", ":"), default=_json_default))
    try:
        return str(_encoders[0].encode(value)).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8: escape it (and everything else non-ASCII) instead.
        return str(_encoders[1].encode(value)).encode("ascii")


def json_size(value: Any) -> int:
    """Size in UTF-8 bytes of ``value``'s compact JSON (``é`` counts 2, ``€`` 3, ``😀`` 4)."""
    return len(compact_json(value))


def put_payload(
    data: bytes,
    *,
    bucket: str,
    key: str | None = None,
    content_type: str | None = None,
    suffix: str = "",
    prefix: str = DEFAULT_PREFIX,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Store ``data`` and describe it: ``{"uri", "sha256", "size", "content_type"}``.

    Without ``key`` the object goes to ``<prefix><sha256><suffix>``: content-addressed, so
    storing the same bytes again rewrites the same object and old references stay valid.
    S3 verifies the upload against the SHA-256 we send.
    """
    import base64
    import hashlib

    problem = bucket_name_problem(bucket) if isinstance(bucket, str) else f"bucket must be a string, got {bucket!r}"
    if problem is not None:
        raise _refused(f"s3://{bucket}/", problem)
    digest = hashlib.sha256(data)
    hexdigest = digest.hexdigest()
    uri = f"s3://{bucket}/{key if key is not None else prefix + hexdigest + suffix}"
    _, object_key = parse_s3_uri(uri)
    content_type = content_type or BINARY_CONTENT_TYPE
    client = s3_client if s3_client is not None else default_s3_client()
    try:
        client.put_object(
            Bucket=bucket,
            Key=object_key,
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
            Metadata={"sha256": hexdigest},
        )
    except Exception as exc:
        error = _sdk_error(exc, uri, "write")
        if error is None:
            raise
        raise error from exc
    return {"uri": uri, "sha256": hexdigest, "size": len(data), "content_type": content_type}


def offload(
    result: Any,
    *,
    bucket: str,
    threshold_bytes: int = DEFAULT_OFFLOAD_THRESHOLD_BYTES,
    s3_client: Any = None,
    prefix: str = DEFAULT_PREFIX,
) -> Any:
    """Return ``result`` unchanged when small, else store it in S3 and return a ``fileRef``.

    Small means: its compact JSON is at most ``threshold_bytes`` UTF-8 bytes. Otherwise the
    answer is ``{"fileRef": "s3://bucket/<prefix><sha256>.json", "sha256", "size",
    "content_type": "application/json"}``, which ``resolve_refs`` turns back into ``result``.
    """
    if isinstance(threshold_bytes, bool) or not isinstance(threshold_bytes, int) or threshold_bytes < 0:
        raise PayloadRefError(f"threshold_bytes must be a non-negative integer, got {threshold_bytes!r}")
    try:
        body = compact_json(result)
    except (TypeError, ValueError) as exc:
        raise PayloadRefError(
            f"cannot measure the result for offloading to s3://{bucket}/: it is not JSON-serializable ({exc})"
        ) from exc
    if len(body) <= threshold_bytes:
        return result
    stored = put_payload(
        body, bucket=bucket, content_type=JSON_CONTENT_TYPE, suffix=".json", prefix=prefix, s3_client=s3_client
    )
    return {
        FILE_REF: stored["uri"],
        "sha256": stored["sha256"],
        "size": stored["size"],
        "content_type": stored["content_type"],
    }
