"""The local CodeDeploy's HTTP server: threads on 127.0.0.1, one POST per call, either wire protocol."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any, Protocol

from emulator.codedeploy_wire import CodeDeployError, decode_request, encode_answer, error_answer, protocol_of
from emulator.http_input import BadRequest, request_length
from emulator.threaded_http import QuietHandler


class CodeDeployApi(Protocol):
    """What serves the operations (``LocalCodeDeploy``)."""

    def dispatch(self, operation: str, params: dict[str, Any], protocol: str) -> dict[str, Any]:
        """Run one operation and return its answer."""
        ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    service: CodeDeployApi


class _Handler(QuietHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler looks up
        protocol = protocol_of(self.path)
        try:
            length = request_length(self.headers.get("Content-Length"))
        except BadRequest as exc:
            # The body's end is unknown: answer, then close, rather than read the rest as a request.
            self.close_connection = True
            payload, headers = encode_answer({"__type": "SerializationException", "message": str(exc)}, protocol)
            self.reply(400, payload, {**headers, "Connection": "close"})
            return
        body = self.rfile.read(length) if length else b""
        try:
            operation, params, protocol = decode_request(self.path, self.headers.get("X-Amz-Target", ""), body)
            status, answer = 200, self.server.service.dispatch(operation, params, protocol)
        except CodeDeployError as exc:
            status, answer = exc.status, error_answer(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            status, answer = 400, {"__type": "SerializationException", "message": str(exc)}
        payload, headers = encode_answer(answer, protocol)
        self.reply(status, payload, headers)


class CodeDeployServer:
    """Serves ``service`` on 127.0.0.1 (a free port) from a daemon thread."""

    def __init__(self, service: CodeDeployApi) -> None:
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
