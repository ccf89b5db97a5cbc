"""A fault-injecting HTTP proxy on 127.0.0.1, in front of a real endpoint (moto's server, a local stack).

Point a client at it with ``AWS_ENDPOINT_URL_<SERVICE>`` (or ``AWS_ENDPOINT_URL``); every request is
forwarded to ``upstream`` unless a rule says otherwise. A rule matches requests (method, path, query,
a header such as DynamoDB's ``X-Amz-Target``, a piece of the body) and does one thing to them:

* ``Fault.FORWARD_THEN_500`` — forward (the upstream applies it), then answer 500 instead of its reply;
* ``Fault.FORWARD_THEN_RESET`` — forward, then reset the connection (the reply is lost);
* ``Fault.ANSWER`` — answer ``status``/``body`` without forwarding (a throttle, a 503);
* ``Fault.RESET`` — reset without forwarding (nothing applied);
* ``delay_s`` — wait that long before forwarding (combined with any of the above, or alone).

``times`` bounds how many requests a rule takes (None: all of them). Every request is recorded in
``requests`` (with the rule that took it, if any), so a test asserts on what reached the wire.

    with FaultProxy(moto_url) as proxy:
        proxy.add(Rule(method="PUT", path=r"^/[^/]+/?$", query="", fault=Fault.FORWARD_THEN_500))
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)

The server runs in daemon threads and stops when the ``with`` block ends.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

#: Headers that belong to one hop, never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "expect"}
)
#: A forwarded request never waits longer than this for the upstream (the proxy must not hang a test).
UPSTREAM_TIMEOUT_S = 30.0
INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


class Fault(Enum):
    """What a rule does to the requests it takes."""

    FORWARD = "forward"  # forward untouched (with ``delay_s``: a slow upstream)
    FORWARD_THEN_500 = "forward_then_500"
    FORWARD_THEN_RESET = "forward_then_reset"
    ANSWER = "answer"
    RESET = "reset"


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str
    query: str
    target: str | None  # ``X-Amz-Target`` (DynamoDB, EventBridge, …)
    body: bytes
    fault: Fault | None  # what a rule did to it (None: forwarded untouched)


@dataclass
class Rule:
    """Which requests to take (every given criterion must hold) and what to do to them."""

    fault: Fault
    method: str | None = None
    path: str | None = None  # regular expression, searched in the path (without the query)
    query: str | None = None  # regular expression searched in the raw query; "" means "no query at all"
    target: str | None = None  # substring of X-Amz-Target
    body: bytes | None = None  # substring of the body
    times: int | None = None  # how many requests this rule takes; None: every matching one
    status: int = 500
    reply: bytes = INTERNAL_ERROR
    content_type: str = "application/xml"
    delay_s: float = 0.0
    taken: int = field(default=0, init=False)

    def matches(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> bool:
        """True when every given criterion holds for this request."""
        if self.times is not None and self.taken >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.query is not None and (query != "" if self.query == "" else not re.search(self.query, query)):
            return False
        if self.target is not None and self.target not in headers.get("x-amz-target", ""):
            return False
        return self.body is None or self.body in body


class FaultProxy:
    """A threaded forwarding proxy on 127.0.0.1 with programmable faults (a context manager)."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname is None or parsed.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.rules: list[Rule] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint to give the clients."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, rule: Rule) -> Rule:
        """Add a rule (the first matching rule takes a request); returns it, to read ``taken`` later."""
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule: from now on everything is forwarded untouched."""
        with self._lock:
            self.rules.clear()

    def seen(self, *, method: str | None = None, target: str | None = None) -> list[Seen]:
        """The requests recorded so far, optionally only those of one method or X-Amz-Target."""
        with self._lock:
            found = list(self.requests)
        return [
            r
            for r in found
            if (method is None or r.method == method) and (target is None or (r.target or "").endswith(target))
        ]

    def _take(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, query, headers, body):
                    rule.taken += 1
                    chosen: Rule | None = rule
                    break
            else:
                chosen = None
            self.requests.append(
                Seen(method, path, query, headers.get("x-amz-target"), body, chosen.fault if chosen else None)
            )
        return chosen

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a test's output is its own."""

        def _serve(self) -> None:
            body = self._read_body()
            split = urllib.parse.urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            rule = proxy._take(self.command, split.path, split.query, headers, body)
            if rule is not None and rule.delay_s > 0:
                time.sleep(rule.delay_s)
            fault = rule.fault if rule is not None else Fault.FORWARD
            if fault is Fault.RESET:
                self._reset()
                return
            if fault is Fault.ANSWER:
                assert rule is not None
                self._answer(rule.status, rule.reply, rule.content_type)
                return
            status, reply_headers, reply = self._forward(body)
            if fault is Fault.FORWARD_THEN_RESET:
                self._reset()
            elif fault is Fault.FORWARD_THEN_500:
                assert rule is not None
                self._answer(rule.status, rule.reply, rule.content_type)
            else:
                self._relay(status, reply_headers, reply)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                for _ in range(1_000_000):  # bounded: a chunked body ends with a zero-size chunk
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_S
            )
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                reply = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                return response.status, kept, reply
            finally:
                connection.close()

        def _relay(self, status: int, headers: list[tuple[str, str]], reply: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply)

        def _answer(self, status: int, reply: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply)

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout: close() sends RST, so the client sees a reset, not a clean end.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler
