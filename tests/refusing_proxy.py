"""A 127.0.0.1 HTTP proxy that answers chosen Lambda API calls as IAM refuses them, and forwards the rest.

It stands on the network path in front of a real local server (moto's threaded server, the
simulated Lambda endpoint), so the adapters under test are the production ones, unchanged: only
what comes back over the wire differs. A refusal is Lambda's ``AccessDeniedException`` as AWS sends
it: HTTP 403, the code in ``x-amzn-ErrorType`` (with the service suffix AWS appends) and a JSON
``Message`` naming the action and the resource.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

#: ``(method, path pattern, IAM action)`` of the Lambda reads keep-warm makes (service-2.json's routes).
ACTIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/2015-03-31/functions/[^/]+/configuration/?$"), "lambda:GetFunctionConfiguration"),
    ("GET", re.compile(r"^/2015-03-31/functions/[^/]+/?$"), "lambda:GetFunction"),
    ("GET", re.compile(r"^/2019-09-30/functions/[^/]+/concurrency/?$"), "lambda:GetFunctionConcurrency"),
    (
        "GET",
        re.compile(r"^/2019-09-30/functions/[^/]+/provisioned-concurrency/?$"),
        "lambda:GetProvisionedConcurrencyConfig",
    ),
    ("POST", re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$"), "lambda:InvokeFunction"),
)
ROLE = "arn:aws:sts::123456789012:assumed-role/thermostat-KeepWarmFunctionRole/thermostat-keep-warm"


def action_of(method: str, path: str) -> str | None:
    """The IAM action of a Lambda API request, None for one this proxy does not know."""
    return next((action for m, pattern, action in ACTIONS if m == method and pattern.match(path)), None)


#: What an intercepted request gets back: status, headers, body, and the label it is counted under.
Answer = tuple[int, dict[str, str], bytes, str]


class InterceptingProxy:
    """Forwards every request to ``upstream``, except those :meth:`intercept` answers itself.

    ``refused`` counts the intercepted requests by label, ``forwarded`` the others (by
    :meth:`label`). Bound to 127.0.0.1, serves on daemon threads, stops at ``__exit__``.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.refused: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                answer = proxy.intercept(self.command, self.path, body)
                if answer is not None:
                    status, headers, data, label = answer
                    with proxy._lock:
                        proxy.refused[label] += 1
                    self._send(status, list(headers.items()), data)
                    return
                with proxy._lock:
                    proxy.forwarded[proxy.label(self.command, self.path, body)] += 1
                self._send(*proxy._forward(self.command, self.path, dict(self.headers), body))

            def _send(self, status: int, headers: Any, data: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)

    def intercept(self, method: str, target: str, body: bytes) -> Answer | None:
        """The answer to give instead of forwarding (None: forward)."""
        return None

    def label(self, method: str, target: str, body: bytes) -> str:
        """What a forwarded request is counted under."""
        return method

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
        try:
            # The signature covers the Host header: keep the client's.
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class RefusingProxy(InterceptingProxy):
    """Forwards to ``upstream`` except the requests whose IAM action is in ``refuse``."""

    def __init__(self, upstream: str, refuse: Iterable[str]) -> None:
        super().__init__(upstream)
        self.refuse = frozenset(refuse)

    def label(self, method: str, target: str, body: bytes) -> str:
        return action_of(method, urllib.parse.urlsplit(target).path) or method

    def intercept(self, method: str, target: str, body: bytes) -> Answer | None:
        path = urllib.parse.urlsplit(target).path
        action = action_of(method, path)
        if action is None or action not in self.refuse:
            return None
        function = urllib.parse.unquote(path.split("/")[3])
        resource = (
            function if function.startswith("arn:") else f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        )
        message = (
            f"User: {ROLE} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        }
        return 403, headers, json.dumps({"Message": message}).encode(), action
