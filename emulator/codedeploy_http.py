"""The local CodeDeploy's HTTP server: threads on 127.0.0.1, one POST per call, either wire protocol."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from emulator.codedeploy_wire import CodeDeployError, decode_request, encode_answer, error_answer, protocol_of


class Dispatcher(Protocol):
    """What serves the operations (``LocalCodeDeploy``)."""

    def dispatch(self, operation: str, params: dict[str, Any], protocol: str) -> dict[str, Any]:
        """Run one operation and return its answer."""
        ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    service: Dispatcher


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded calls, not the access log."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        protocol = protocol_of(self.path)
        try:
            operation, params, protocol = decode_request(self.path, self.headers.get("X-Amz-Target", ""), body)
            status, answer = 200, self.server.service.dispatch(operation, params, protocol)
        except CodeDeployError as exc:
            status, answer = exc.status, error_answer(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            status, answer = 400, {"__type": "SerializationException", "message": str(exc)}
        payload, headers = encode_answer(answer, protocol)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class CodeDeployServer:
    """Serves ``service`` on 127.0.0.1 (a free port) from a daemon thread."""

    def __init__(self, service: Dispatcher) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.service = service
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-codedeploy", daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve from the daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
