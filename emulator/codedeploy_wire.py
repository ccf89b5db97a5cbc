"""CodeDeploy's two wire protocols, as botocore may speak either: Smithy RPC v2 CBOR (newer botocore)
and JSON 1.1 (older botocore, such as Lambda's bundled one).

A request becomes ``(operation, params, protocol)``; an answer (or a :class:`CodeDeployError`)
becomes a body and its headers in the same protocol. CBOR is the RFC 8949 subset botocore uses.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

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
    params = (cbor_decode(body) if protocol == CBOR else json.loads(body)) if body else {}
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


# -- CBOR (RFC 8949 subset) ------------------------------------------------------------------------


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([(major << 5) | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([(major << 5) | info]) + value.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def cbor_encode(value: Any) -> bytes:
    """Encode JSON-like values (plus bytes and datetimes as tag 1) as definite-length CBOR."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, bytes | bytearray):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, datetime):
        return b"\xc1" + cbor_encode(value.timestamp())
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(cbor_encode(item) for item in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor_encode(str(k)) + cbor_encode(v) for k, v in value.items())
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        chunk = self.data[self.position : self.position + count]
        if len(chunk) != count:
            raise ValueError("truncated CBOR")
        self.position += count
        return chunk

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise ValueError(f"bad CBOR additional info {info}")
        return int.from_bytes(self.take(sizes[info]), "big")

    def at_break(self) -> bool:
        if self.data[self.position : self.position + 1] == b"\xff":
            self.position += 1
            return True
        return False

    def item(self) -> Any:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 0:
            return self.argument(info)
        if major == 1:
            return -1 - self.argument(info)
        if major in (2, 3):
            if info == 31:
                chunks = []
                while not self.at_break():
                    chunk = self.item()
                    chunks.append(chunk.encode() if isinstance(chunk, str) else chunk)
                raw = b"".join(chunks)
            else:
                raw = self.take(self.argument(info))
            return raw.decode() if major == 3 else raw
        if major == 4:
            if info == 31:
                items = []
                while not self.at_break():
                    items.append(self.item())
                return items
            return [self.item() for _ in range(self.argument(info))]
        if major == 5:
            result: dict[Any, Any] = {}
            if info == 31:
                while not self.at_break():
                    key = self.item()
                    result[key] = self.item()
            else:
                for _ in range(self.argument(info)):
                    key = self.item()
                    result[key] = self.item()
            return result
        if major == 6:
            self.argument(info)  # tag 1 (epoch time) is the only one botocore sends: keep the number
            return self.item()
        simple = {20: False, 21: True, 22: None, 23: None}
        if info in simple:
            return simple[info]
        formats = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}
        if info in formats:
            fmt, size = formats[info]
            return struct.unpack(fmt, self.take(size))[0]
        raise ValueError(f"unsupported CBOR simple value {info}")


def cbor_decode(data: bytes) -> Any:
    """Decode one CBOR data item (definite or indefinite lengths)."""
    reader = _Reader(data)
    value = reader.item()
    if reader.position != len(data):
        raise ValueError("trailing bytes after the CBOR item")
    return value
