"""A 127.0.0.1 HTTP proxy in front of STS (moto's server) that refuses ``AssumeRole`` into chosen accounts.

It stands on the network path (``AWS_ENDPOINT_URL_STS``), so :class:`infra.spokes.SpokeSessions`
is the production code, unchanged: only what comes back over the wire differs. The refusal is
what STS sends when a role is missing or does not trust the caller (it does not tell them apart):
HTTP 403 with the Query protocol's XML ``ErrorResponse``, code ``AccessDenied``, type ``Sender``,
and a message naming the caller, the action and the role (shape from the STS API reference,
"Common Errors", and what ``aws sts assume-role`` prints for a role that does not trust you).
Every other request is forwarded untouched.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CALLER = "arn:aws:sts::123456789012:assumed-role/thermostat-DeploymentEventsFunctionRole/thermostat-deployment-events"

DENIED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}</Message>
  </Error>
  <RequestId>4c1e3b0f-9a51-4c0e-8d7e-2f0c5a6b7d11</RequestId>
</ErrorResponse>
"""


def _role_account(role_arn: str) -> str | None:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 else None


class StsRefusingProxy:
    """Forwards to ``upstream`` except ``AssumeRole`` into a role of one of the ``refuse`` accounts."""

    def __init__(self, upstream: str, refuse: Iterable[str]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.refuse = frozenset(refuse)
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
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                action = (form.get("Action") or ["?"])[0]
                role = (form.get("RoleArn") or [""])[0]
                if action == "AssumeRole" and _role_account(role) in proxy.refuse:
                    with proxy._lock:
                        proxy.refused[role] += 1
                    data = DENIED.format(caller=CALLER, role=role).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("x-amzn-RequestId", "4c1e3b0f-9a51-4c0e-8d7e-2f0c5a6b7d11")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                with proxy._lock:
                    proxy.forwarded[action] += 1
                status, headers, data = proxy._forward(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sts-refusing-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
        try:
            connection.request(method, target, body=body, headers=headers)  # the signature covers Host: kept
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> StsRefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
