"""A small HTTP/1.1 server: one asyncio loop on a daemon thread, bound to 127.0.0.1 on a free port.

The simulated Lambda endpoint serves fan-outs of hundreds of concurrent requests. A
thread-per-connection ``http.server`` costs ~0.2 ms of CPU per request, which at a fan-out of 200
made the endpoint itself, not the client under test, the bottleneck (a near-free raw-socket client
measured 1.16-1.37x the ideal against it); one loop with a minimal parser does not.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable

from emulator.lambda_http import Response, content_length

_START_WAIT_S = 10.0
_STOP_WAIT_S = 10.0
#: A fan-out of hundreds connects at once: a small backlog would drop SYNs.
_BACKLOG = 1024


class Request:
    """One parsed request; header names in lower case."""

    __slots__ = ("body", "headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body

    @property
    def keep_alive(self) -> bool:
        """True when the client keeps the connection open after the reply."""
        return self.version == "HTTP/1.1" and self.headers.get("connection", "").lower() != "close"


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection, or None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = content_length(headers)
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, version, headers, body)


Handler = Callable[[Request], Awaitable[Response]]


class AsyncHTTPServer:
    """Serves ``handle`` on keep-alive connections; ``start``/``stop`` from any thread."""

    def __init__(
        self,
        handle: Handler,
        *,
        close_connections: bool = False,
        on_connection: Callable[[], None] | None = None,
        name: str = "async-http",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._handle = handle
        #: serve HTTPS with this server context (benchmarks: TLS handshakes cost what they cost on AWS)
        self._tls = tls
        #: close every connection after one reply, without saying so (as an idle timeout would)
        self.close_connections = close_connections
        self._on_connection = on_connection
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with TLS) once started."""
        assert self._server is not None, "start the server first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread (returns once listening)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve_connection, "127.0.0.1", 0, backlog=_BACKLOG, ssl=self._tls)
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of start(), which raises it
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        started.wait(timeout=_START_WAIT_S)
        if failure:
            raise RuntimeError(f"the server did not start: {failure[0]}") from failure[0]

    def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        loop.stop()

    def stop(self) -> None:
        """Stop serving and close the socket and every connection (idempotent)."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._shutdown, loop)
        if thread is not None:
            thread.join(timeout=_STOP_WAIT_S)
        self._server = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests in order, until the client or the server closes it."""
        if self._on_connection is not None:
            self._on_connection()
        self._writers.add(writer)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                response = await self._handle(request)
                writer.write(response.encode())
                await writer.drain()
                if not request.keep_alive or self.close_connections:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # a client that gave up (its read timeout) is not news
        except asyncio.CancelledError:
            # Cancelled by stop(): ending quietly keeps Python 3.11's stream callback from logging a
            # traceback per open connection (it asks a cancelled task for its exception).
            return
        finally:
            self._writers.discard(writer)
            writer.close()
