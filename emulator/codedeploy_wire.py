"""CodeDeploy's two wire protocols, as botocore may speak either: Smithy RPC v2 CBOR (newer botocore)
and JSON 1.1 (older botocore, such as Lambda's bundled one).

A request becomes ``(operation, params, protocol)``; an answer (or a :class:`CodeDeployError`)
becomes a body and its headers in the same protocol. CBOR is encoded and decoded by cbor2.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from emulator.http_input import loads

TARGET_PREFIX: Final = "CodeDeploy_20141006"
RPC_PATH_PREFIX: Final = f"/service/{TARGET_PREFIX}/operation/"
CBOR: Final = "rpc-v2-cbor"
JSON: Final = "json"


class CodeDeployError(Exception):
    """An error answered in CodeDeploy's wire format."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def protocol_of(path: str) -> str:
    """The protocol a request speaks (and its answer, errors included, must speak)."""
    return CBOR if path.startswith(RPC_PATH_PREFIX) else JSON


def decode_request(path: str, amz_target: str, body: bytes) -> tuple[str, dict[str, Any], str]:
    """``(operation, params, protocol)`` of one request; raises :class:`CodeDeployError` or ``ValueError``.

    RPC v2 names the operation in the path, JSON 1.1 in the ``X-Amz-Target`` header (``amz_target``).
    """
    protocol = protocol_of(path)
    if protocol == CBOR:
        operation = path[len(RPC_PATH_PREFIX) :].split("?", 1)[0]
    else:
        operation = amz_target.split(".", 1)[1] if amz_target.startswith(TARGET_PREFIX + ".") else ""
    params = (cbor_decode(body) if protocol == CBOR else loads(body)) if body else {}
    if not isinstance(params, dict):
        raise CodeDeployError("SerializationException", "the request body must be an object")
    return operation, params, protocol


def error_answer(exc: CodeDeployError) -> dict[str, Any]:
    """The body CodeDeploy answers an error with (botocore reads ``__type``)."""
    return {"__type": exc.code, "message": exc.message}


def encode_answer(answer: Mapping[str, Any], protocol: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an answer in ``protocol``."""
    if protocol == CBOR:
        payload = cbor_encode(dict(answer))
        headers = {"Content-Type": "application/cbor", "smithy-protocol": CBOR}
    else:
        payload = json.dumps(answer, default=_json_default).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1"}
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return payload, headers


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- CBOR, by cbor2 (RFC 8949) ----------------------------------------------------------------------


def cbor_encode(value: Any) -> bytes:
    """Encode an answer as definite-length CBOR; datetimes as tag 1 (epoch seconds), as botocore reads them."""
    import cbor2

    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=UTC)


def _plain(value: Any) -> Any:
    """Decoded CBOR as the JSON protocol would give it: tag-1 times as epoch seconds, ``undefined`` as None."""
    import cbor2

    if isinstance(value, datetime):
        return value.timestamp()
    if value is cbor2.undefined:
        return None
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def cbor_decode(data: bytes) -> Any:
    """Decode exactly one CBOR data item (definite or indefinite lengths); ``ValueError`` when it is not one."""
    import cbor2

    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except cbor2.CBORError as exc:
        raise ValueError(f"bad CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise ValueError("trailing bytes after the CBOR item")
    return _plain(value)
