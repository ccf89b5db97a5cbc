"""A minimal keep-alive HTTP/1.1 client for the fast path: raw sockets (TLS when https), one pool per endpoint.

It speaks just what the Lambda API answers: a status line, headers, and a body framed by
``Content-Length``, chunked encoding, or the connection's end. A pooled connection that the server
closed while idle is replaced once, silently; anything else is an error for the caller to classify.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from typing import Any

_MAX_HEADER_LINES = 200


class HttpResponse:
    """A status, the headers (lower-case names) and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class ConnectFailed(ConnectionError):
    """The connection could not be opened (refused, unreachable, connect timeout): safe to retry."""


class _StaleConnection(Exception):
    """A pooled connection was closed by the server before it answered: retry on a fresh one."""


class _Connection:
    __slots__ = ("reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=65536)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class HttpPool:
    """Keep-alive connections to one endpoint; at most ``size`` are kept idle.

    More concurrent requests than ``size`` open extra connections that are closed after use,
    so the pool must be sized to the fan-out (on AWS each extra one is a new TLS handshake).
    """

    def __init__(
        self, scheme: str, host: str, port: int, size: int, connect_timeout: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.size = size
        self.connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._tls = tls if tls is not None or scheme != "https" else tls_context(True)

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            # Requests leave in one write anyway; no Nagle delay on the reply's ACKs either.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(sock)

    def _checkout(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the idle connections (the pool stays usable: new ones open on demand)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def request(self, raw: bytes, read_timeout: float) -> HttpResponse:
        """Send ``raw`` (a complete request) and read the reply; one silent retry on a stale connection."""
        connection, reused = self._checkout()
        try:
            return self._exchange(connection, raw, read_timeout)
        except _StaleConnection:
            if not reused:
                raise ConnectionResetError("the server closed the connection without answering") from None
            return self._exchange(self._connect(), raw, read_timeout)

    def _exchange(self, connection: _Connection, raw: bytes, read_timeout: float) -> HttpResponse:
        keep = False
        try:
            connection.sock.settimeout(read_timeout)
            try:
                connection.sock.sendall(raw)
                status_line = connection.reader.readline(65537)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise _StaleConnection from exc
            if not status_line:
                raise _StaleConnection
            response, keep = _read_response(status_line, connection.reader)
            return response
        finally:
            if keep:
                self._checkin(connection)
            else:
                connection.close()


def _read_response(status_line: bytes, reader: Any) -> tuple[HttpResponse, bool]:
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ConnectionError("too many response headers")
    keep = parts[0] == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        length = int(headers["content-length"])
        body = reader.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("the connection closed in the middle of the reply")
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = _read_chunked(reader)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body, keep = reader.read(), False
    return HttpResponse(status, headers, body), keep


def _read_chunked(reader: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = reader.readline(65537)
        if not size_line:
            raise ConnectionError("the connection closed in the middle of a chunked reply")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(reader.read(size))
        reader.readline(65537)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context for a client's ``verify`` value, as botocore reads it.

    ``False``: no certificate check; a path: that CA bundle (a file, or a directory of
    certificates); ``True``: botocore's default bundle (``botocore.httpsession.get_cert_path``).
    """
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        verify = _default_ca_bundle() or ""
    if verify and os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify or None)


def _default_ca_bundle() -> str | None:
    try:
        from botocore.httpsession import get_cert_path

        path = get_cert_path(True)
        return path if isinstance(path, str) else None
    except Exception:  # noqa: BLE001 - fall back to the system's trust store
        return None
