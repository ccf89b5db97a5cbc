"""The HTTP layer both local Lambda endpoints share: the runner (``runner_http``) and the simulation
(``simulated_lambda``).

It holds what is Lambda's, not the server's: the REST routes botocore uses
(``botocore/data/lambda/2015-03-31/service-2.json``), the request target split into path and
query, JSON replies, Lambda's error shape (a JSON body plus the ``x-amzn-ErrorType`` header, which
is where botocore reads the error code from), the ``Content-Length`` of a request, and one reply
serialised for servers that write raw HTTP/1.1.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from emulator.http_input import loads
from emulator.runner_model import InvalidRequestContent, RequestTooLarge, RunnerError

_FN = r"(?P<fn>[^/]+)"
_ALIAS = r"(?P<alias>[^/]+)"

Route = tuple[str, re.Pattern[str], str]
#: ``(method, path pattern, operation)``: the operation is the name of the method that serves it.
ROUTES: tuple[Route, ...] = (
    ("POST", re.compile(rf"^/2015-03-31/functions/{_FN}/invocations/?$"), "invoke"),
    ("GET", re.compile(rf"^/2015-03-31/functions/{_FN}/configuration/?$"), "get_configuration"),
    ("PUT", re.compile(rf"^/2015-03-31/functions/{_FN}/configuration/?$"), "update_configuration"),
    ("GET", re.compile(r"^/2015-03-31/functions/?$"), "list_functions"),
    ("GET", re.compile(rf"^/2015-03-31/functions/{_FN}/?$"), "get_function"),
    ("GET", re.compile(rf"^/2019-09-30/functions/{_FN}/concurrency/?$"), "get_concurrency"),
    ("PUT", re.compile(rf"^/2017-10-31/functions/{_FN}/concurrency/?$"), "put_concurrency"),
    ("DELETE", re.compile(rf"^/2017-10-31/functions/{_FN}/concurrency/?$"), "delete_concurrency"),
    ("GET", re.compile(rf"^/2019-09-30/functions/{_FN}/provisioned-concurrency/?$"), "get_provisioned"),
    ("PUT", re.compile(rf"^/2019-09-30/functions/{_FN}/provisioned-concurrency/?$"), "put_provisioned"),
    ("DELETE", re.compile(rf"^/2019-09-30/functions/{_FN}/provisioned-concurrency/?$"), "delete_provisioned"),
    ("POST", re.compile(rf"^/2015-03-31/functions/{_FN}/versions/?$"), "publish_version"),
    ("GET", re.compile(rf"^/2015-03-31/functions/{_FN}/versions/?$"), "list_versions"),
    ("POST", re.compile(rf"^/2015-03-31/functions/{_FN}/aliases/?$"), "create_alias"),
    ("GET", re.compile(rf"^/2015-03-31/functions/{_FN}/aliases/?$"), "list_aliases"),
    ("GET", re.compile(rf"^/2015-03-31/functions/{_FN}/aliases/{_ALIAS}/?$"), "get_alias"),
    ("PUT", re.compile(rf"^/2015-03-31/functions/{_FN}/aliases/{_ALIAS}/?$"), "update_alias"),
    ("DELETE", re.compile(rf"^/2015-03-31/functions/{_FN}/aliases/{_ALIAS}/?$"), "delete_alias"),
    ("GET", re.compile(r"^/2017-03-31/tags/(?P<resource>[^/]+)/?$"), "list_tags"),
)


def route(method: str, path: str, served: frozenset[str] | None = None) -> tuple[str, dict[str, str]] | None:
    """``(operation, path parameters)`` of a request, or None when no route (of ``served``) matches."""
    for route_method, pattern, operation in ROUTES:
        if route_method != method or (served is not None and operation not in served):
            continue
        match = pattern.match(path)
        if match is not None:
            return operation, {key: unquote(value) for key, value in match.groupdict().items()}
    return None


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """A request target as ``(path, query)``; a repeated query parameter keeps its last value."""
    parts = urlsplit(target)
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    return parts.path, query


def is_invoke(method: str, target: str) -> bool:
    """True for an Invoke request (whose body limit is the payload limit, not the control-plane one)."""
    return method == "POST" and target.split("?", 1)[0].rstrip("/").endswith("/invocations")


def content_length(headers: Mapping[str, str]) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number); ``headers`` keys in lower case."""
    try:
        return max(0, int(headers.get("content-length") or 0))
    except ValueError:
        return 0


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is ``{}``)."""
    if not body.strip():
        return {}
    try:
        document = loads(body)
    except ValueError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidRequestContent("Could not parse request body into json: expected an object")
    return document


class Response:
    """A status, headers and a body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def lambda_error(cls, status: int, code: str, document: Mapping[str, Any]) -> Response:
        """Lambda's error shape: ``document`` as the body, the code in ``x-amzn-ErrorType``."""
        headers = {"x-amzn-ErrorType": code}
        if status == RequestTooLarge.http_status:
            headers["Connection"] = "close"  # the rest of an oversized body is not read
        return cls.json(status, dict(document), headers)

    @classmethod
    def error(cls, exc: RunnerError) -> Response:
        """The response a :class:`RunnerError` is served as."""
        return cls.lambda_error(exc.http_status, exc.aws_code, exc.document())

    @classmethod
    def failure(cls, status: int, code: str, message: str, **extra: Any) -> Response:
        """An error by code and message (``Type`` is ``User`` below 500, ``Service`` from 500)."""
        return cls.lambda_error(
            status, code, {"Type": "User" if status < 500 else "Service", "message": message, **extra}
        )

    @classmethod
    def throttle(cls, reason: str) -> Response:
        """429 ``TooManyRequestsException`` with its ``Reason`` (reserved or account concurrency)."""
        return cls.failure(429, "TooManyRequestsException", "Rate Exceeded.", Reason=reason, retryAfterSeconds="1")

    def encode(self) -> bytes:
        """The whole reply as HTTP/1.1 bytes, headers and body in one buffer.

        One write: headers and body in separate segments would meet Nagle and delayed ACKs.
        """
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **self.headers}
        lines = [
            f"HTTP/1.1 {self.status} {phrase}",
            f"Content-Length: {len(self.body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body
