"""The HTTP server of the local runner: threads, keep-alive connections, body limits.

It reads one request and hands it to :class:`~emulator.runner_api.LambdaAPI`; the routes, replies
and error shapes it shares with the simulated endpoint live in :mod:`emulator.lambda_http`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from emulator.http_input import BadRequest, request_length
from emulator.lambda_http import Response, is_invoke
from emulator.runner_api import LambdaAPI
from emulator.runner_model import MAX_SYNC_PAYLOAD, RequestTooLarge
from emulator.threaded_http import QuietHandler

if TYPE_CHECKING:
    from emulator.lambda_runner import LambdaRunner

_log = logging.getLogger(__name__)

#: Bodies above this are not even read: the connection is closed after the 413.
_DISCARD_LIMIT = 64 * 1024 * 1024
_CONTROL_BODY_LIMIT = 1024 * 1024
_IDLE_CONNECTION_S = 300.0


# -- the server ----------------------------------------------------------------------------------


class _Handler(QuietHandler):
    server_version = "thermostat-local-lambda"
    timeout = _IDLE_CONNECTION_S
    server: LambdaHTTPServer

    def version_string(self) -> str:
        """The ``Server`` header, without the Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _body(self, limit: int) -> bytes | None:
        """The request body, or None (after discarding it) when it exceeds ``limit``."""
        length = request_length(self.headers.get("Content-Length"))
        if length <= limit:
            return self.rfile.read(length) if length else b""
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return None
        remaining = length
        while remaining:  # read it anyway, so the client sees our 413 and not a reset connection
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        return None

    def _serve(self) -> None:
        limit = MAX_SYNC_PAYLOAD if is_invoke(self.command, self.path) else _CONTROL_BODY_LIMIT
        try:
            body = self._body(limit)
        except BadRequest as exc:
            # The body's end is unknown: answer, then close, rather than read the rest as a request.
            self.close_connection = True
            response = Response.failure(400, "InvalidRequestContentException", str(exc))
            self.reply(response.status, response.body, {**response.headers, "Connection": "close"})
            return
        if body is None:
            response = Response.error(
                RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
            )
        else:
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                response = self.server.api.handle(self.command, self.path, headers, body)
            except Exception:  # noqa: BLE001 - one failed request must not take the server down
                _log.exception("local Lambda runner failed on %s %s", self.command, self.path)
                response = Response.json(
                    500,
                    {"Type": "Service", "Message": "internal error in the local Lambda runner (see its log)"},
                    {"x-amzn-ErrorType": "ServiceException"},
                )
        self.reply(response.status, response.body, response.headers)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - the names BaseHTTPRequestHandler looks up


class LambdaHTTPServer(ThreadingHTTPServer):
    """A threaded server on daemon threads, with a bounded number of open connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], runner: LambdaRunner, *, max_connections: int = 256) -> None:
        self.api = LambdaAPI(runner)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a thread, or refuse it with a 429 when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            body = json.dumps(
                {"Type": "User", "message": "Too many open connections", "Reason": "CallerRateLimitExceeded"}
            )
            head = (
                "HTTP/1.1 429 Too Many Requests\r\nx-amzn-ErrorType: TooManyRequestsException\r\n"
                f"Content-Type: application/json\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            try:
                request.sendall((head + body).encode())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Run one connection; its slot is freed when it closes."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection (so that :meth:`close_connections` can end it)."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a closed connection."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """End every open keep-alive connection (their threads then exit)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - base signature
        """Connections reset by clients are normal; anything else is logged, never printed."""
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)
