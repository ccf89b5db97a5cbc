"""Faults on the network path, for the hook's deadline tests: a small forwarding proxy on 127.0.0.1.

``FaultProxy(upstream)`` forwards every request to ``upstream`` (the local CodeDeploy, moto's
server, the simulated Lambda endpoint) unless a script says otherwise for its operation (the
``X-Amz-Target`` header's or the RPC path's operation name, e.g. ``UpdateItem``,
``PutLifecycleEventHookExecutionStatus``; ``Invoke`` for any Lambda call). Actions:

* ``forward``: pass it on; ``slow:S``: pass it on after S seconds;
* ``hang``: read the request and never answer (until the proxy stops);
* ``500``: answer ``InternalFailure`` (HTTP 500); ``throttle``: answer the service's throttling
  error (HTTP 400); ``already_completed``: answer ``LifecycleEventAlreadyCompletedException``;
* ``reset``: close the connection with a TCP reset before forwarding anything;
* ``lose_answer``: forward it (the service acts on it), then reset instead of answering.

Every request is logged with the moment it arrived (``time.monotonic``) and the action taken.
The errors are encoded in the protocol the request spoke (CodeDeploy: CBOR or JSON; DynamoDB:
JSON 1.0), so that botocore parses them as it would parse AWS's.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulator.codedeploy_wire import CodeDeployError, encode_answer, error_answer, protocol_of

#: The longest a hanging request is held (the proxy's stop ends it sooner): a liveness bound only.
HANG_LIMIT_S = 60.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass(frozen=True)
class Seen:
    """One request the proxy received: when (monotonic), which operation, and what it did."""

    at: float
    operation: str
    action: str


def operation_of(path: str, headers: Any) -> str:
    """The API operation of a request: RPC v2's path, JSON's ``X-Amz-Target``, or ``Invoke`` for Lambda's REST paths."""
    if "/operation/" in path:
        return path.rsplit("/operation/", 1)[1].split("?", 1)[0]
    target = headers.get("X-Amz-Target", "")
    if target:
        return str(target).rsplit(".", 1)[-1]
    return "Invoke" if "/functions/" in path else path


class FaultProxy:
    """A threaded 127.0.0.1 proxy in front of one upstream URL, faults scripted per operation."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.seen: list[Seen] = []
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._then: dict[str, str] = {}
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, operation: str, *actions: str, then: str = "forward") -> None:
        """The next requests of ``operation`` get ``actions`` in turn, every later one ``then``."""
        with self._lock:
            self._scripts[operation].extend(actions)
            self._then[operation] = then

    def clear(self) -> None:
        """Forget every script: every request is forwarded again."""
        with self._lock:
            self._scripts.clear()
            self._then.clear()

    def action_for(self, operation: str) -> str:
        """What to do with the next request of ``operation`` (and log it)."""
        with self._lock:
            queue = self._scripts.get(operation)
            action = queue.popleft() if queue else self._then.get(operation, "forward")
            self.seen.append(Seen(time.monotonic(), operation, action))
            return action

    def requests(self, operation: str) -> list[Seen]:
        """The requests of ``operation`` received so far."""
        with self._lock:
            return [seen for seen in self.seen if seen.operation == operation]

    def start(self) -> FaultProxy:
        """Serve from a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A reset or abandoned connection is the point of the exercise, not an error to print."""


def _error_body(operation: str, path: str, headers: Any, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    target = str(headers.get("X-Amz-Target", ""))
    if target.startswith("DynamoDB_"):
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        return body, {"Content-Type": "application/x-amz-json-1.0"}
    if operation == "Invoke":
        return json.dumps({"Type": "Service", "message": message}).encode(), {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": code,
        }
    return encode_answer(error_answer(CodeDeployError(code, message)), protocol_of(path))


def _injected_error(action: str, operation: str, headers: Any) -> tuple[str, int]:
    if action == "500":
        return "InternalFailure", 500
    if action == "already_completed":
        return "LifecycleEventAlreadyCompletedException", 400
    if str(headers.get("X-Amz-Target", "")).startswith("DynamoDB_"):
        return "ProvisionedThroughputExceededException", 400
    return ("TooManyRequestsException", 429) if operation == "Invoke" else ("ThrottlingException", 400)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        proxy = self.server.proxy
        operation = operation_of(self.path, self.headers)
        action = proxy.action_for(operation)
        if action == "hang":
            proxy.stopped.wait(HANG_LIMIT_S)
            self._reset()
            return
        if action == "reset":
            self._reset()
            return
        if action in ("500", "throttle", "already_completed"):
            code, status = _injected_error(action, operation, self.headers)
            payload, headers = _error_body(operation, self.path, self.headers, code, f"injected {action}")
            self._answer(status, headers, payload)
            return
        if action.startswith("slow:") and proxy.stopped.wait(float(action.split(":", 1)[1])):
            self._reset()
            return
        status, headers, payload = self._forward(body)
        if action == "lose_answer":
            self._reset()
            return
        self._answer(status, headers, payload)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=30)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            answer = {name: value for name, value in response.getheaders() if name.lower() not in _HOP_BY_HOP}
            return response.status, answer, payload
        finally:
            connection.close()

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP reset, as a dropped load balancer or a dying peer does.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
