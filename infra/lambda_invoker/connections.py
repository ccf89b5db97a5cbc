"""A minimal keep-alive HTTP/1.1 client for the fast path: raw sockets (TLS when https), one pool per endpoint.

It speaks just what the Lambda API answers: a status line, headers, and a body framed by
``Content-Length``, chunked encoding, or the connection's end. A pooled connection that the server
closed while idle is replaced once, silently; anything else is an error for the caller to classify.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
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


class StaleConnection(Exception):
    """A pooled connection was closed by the server before it answered: retry on a fresh one."""


class Connection:
    __slots__ = ("_reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader: Any = None

    @property
    def reader(self) -> Any:
        """A buffered reader on the socket, made at its first use (a burst reads the socket directly)."""
        if self._reader is None:
            self._reader = self.sock.makefile("rb", buffering=65536)
        return self._reader

    def close(self) -> None:
        try:
            if self._reader is not None:
                self._reader.close()
        finally:
            self.sock.close()

    def closed_by_peer(self) -> bool:
        """True when the server closed (or wrote to) this idle connection: it cannot carry a request.

        An idle keep-alive connection has nothing to read; anything readable is the server's FIN
        (an idle timeout), a TLS close_notify, or bytes nobody asked for.
        """
        sock = self.sock
        try:
            poller = select.poll()  # not select(): it refuses descriptors >= 1024, and a fan-out has more
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
        except (OSError, ValueError):
            return True
        timeout = sock.gettimeout()
        try:
            sock.setblocking(False)
            # TLS 1.3 servers send session tickets after the handshake: records that make the socket
            # readable and carry no data. Reading processes them; only data or the end count.
            if isinstance(sock, ssl.SSLSocket):
                sock.recv(1)
            else:
                sock.recv(1, socket.MSG_PEEK)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass
        return True  # the end (no data), or bytes nobody asked for: unusable either way


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
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._tls = tls if tls is not None or scheme != "https" else tls_context(True)

    def _connect(self) -> Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            # Requests leave in one write anyway; no Nagle delay on the reply's ACKs either.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return Connection(sock)

    def _checkout(self) -> tuple[Connection, bool]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection = self._idle.pop()
            # One poll per request: a connection the server closed while idle is dropped here,
            # not found out after the request was sent.
            if not connection.closed_by_peer():
                return connection, True
            connection.close()
        return self._connect(), False

    def take_idle(self, count: int) -> list[Connection]:
        """Up to ``count`` idle connections, checked out; the ones the server closed meanwhile are dropped.

        One ``poll`` looks at all of them (an idle connection has nothing to read); only the
        readable ones are looked at closer, one by one (:meth:`Connection.closed_by_peer`).
        """
        with self._lock:
            split = max(0, len(self._idle) - count)
            taken, self._idle = self._idle[split:], self._idle[:split]
        if not taken:
            return taken
        poller = select.poll()
        for connection in taken:
            poller.register(connection.sock, select.POLLIN)
        try:
            readable = {fd for fd, _ in poller.poll(0)}
        except OSError:
            readable = {connection.sock.fileno() for connection in taken}
        alive = []
        for connection in taken:
            if connection.sock.fileno() in readable and connection.closed_by_peer():
                connection.close()
            else:
                alive.append(connection)
        return alive

    def idle_count(self) -> int:
        """How many connections are open and idle."""
        with self._lock:
            return len(self._idle)

    def discard_closed(self) -> int:
        """Close the idle connections the server closed meanwhile; how many open idle ones are left."""
        with self._lock:
            idle, self._idle = self._idle, []
        alive = []
        for connection in idle:
            if connection.closed_by_peer():
                connection.close()
            else:
                alive.append(connection)
        with self._lock:
            self._idle.extend(alive)
            return len(self._idle)

    def open_many(self, count: int, timeout: float | None = None) -> int:
        """Open (and, over TLS, handshake) up to ``count`` connections at once, from this thread; keep them idle.

        Non-blocking sockets on one selector: the round trips of every connect and handshake
        overlap, with no thread per connection (threads contend for the GIL and spread the work).
        Never more than the pool keeps idle; a connection that fails or is not ready within
        ``timeout`` (default: the connect timeout) is dropped. Returns how many were opened.
        """
        with self._lock:
            count = min(count, self.size - len(self._idle))
        opened = 0
        for connection in self.open_now(count, timeout, ready=self.checkin):
            if isinstance(connection, Connection):
                opened += 1
        return opened

    def open_now(
        self, count: int, timeout: float | None = None, ready: Callable[[Connection], object] | None = None
    ) -> list[Connection | ConnectFailed]:
        """``count`` new connections opened together on one selector (see :meth:`open_many`); each one, or why not.

        ``ready`` is given each connection as soon as it is ready (:meth:`open_many` checks it in
        there, so that a request waiting for one can go before the others are open).
        """
        import selectors

        if count <= 0:
            return []
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
        except OSError as exc:
            return [ConnectFailed(f"{type(exc).__name__}: {exc}")] * count
        within = self.connect_timeout if timeout is None else timeout
        give_up = time.monotonic() + within
        selector = selectors.DefaultSelector()
        pending: dict[socket.socket, str] = {}  # socket -> "connect" | "handshake"
        done: list[Connection | ConnectFailed] = []
        try:
            for _ in range(count):
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                code = sock.connect_ex(address)
                if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                    sock.close()
                    done.append(ConnectFailed(f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"))
                    continue
                pending[sock] = "connect"
                selector.register(sock, selectors.EVENT_WRITE)
            while pending:
                left = give_up - time.monotonic()
                if left <= 0:
                    break
                for key, _ in selector.select(left):
                    sock = key.fileobj  # type: ignore[assignment]
                    assert isinstance(sock, socket.socket)
                    step = self._advance(selector, pending, sock)
                    if step is not None:
                        done.append(step)
                        if ready is not None and isinstance(step, Connection):
                            ready(step)
        finally:
            for sock in pending:
                selector.unregister(sock)
                sock.close()
                done.append(ConnectFailed(f"not connected within {within:g} s"))
            selector.close()
        return done

    def _advance(
        self, selector: Any, pending: dict[socket.socket, str], sock: socket.socket
    ) -> Connection | ConnectFailed | None:
        """One step of one socket's connect or handshake: the connection once ready, why not once failed, else None."""
        import selectors

        state = pending.pop(sock)
        selector.unregister(sock)
        if state == "connect":
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code != 0:
                sock.close()
                return ConnectFailed(f"{errno.errorcode.get(code, code)}: {os.strerror(code)}")
            if self._tls is None:
                sock.settimeout(self.connect_timeout)
                return Connection(sock)
            sock = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            pending[sock] = "handshake"
            selector.register(sock, selectors.EVENT_READ)
            return None
        except ssl.SSLWantWriteError:
            pending[sock] = "handshake"
            selector.register(sock, selectors.EVENT_WRITE)
            return None
        except OSError as exc:
            sock.close()
            return ConnectFailed(f"{type(exc).__name__}: {exc}")
        sock.settimeout(self.connect_timeout)
        return Connection(sock)

    def checkin(self, connection: Connection) -> None:
        """Keep ``connection`` idle for the next request (closed when the pool is full)."""
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

    def request(self, raw: bytes, read_timeout: float, before_send: Callable[[], object] | None = None) -> HttpResponse:
        """Send ``raw`` (a complete request) and read the reply; one silent retry on a stale connection.

        ``before_send`` is called once the connection is in hand, just before the request leaves
        (also when no connection could be opened, before the error is raised): a fan-out's barrier,
        so that its requests leave together whatever each one's connection cost.
        """
        try:
            connection, reused = self._checkout()
        finally:
            if before_send is not None:
                before_send()
        try:
            return self._exchange(connection, raw, read_timeout)
        except StaleConnection:
            if reused:
                try:
                    return self._exchange(self._connect(), raw, read_timeout)
                except StaleConnection:
                    pass  # the new connection too: not stale, the server's answer
            raise ConnectionResetError("the server closed the connection without answering") from None

    def _exchange(self, connection: Connection, raw: bytes, read_timeout: float) -> HttpResponse:
        keep = False
        try:
            connection.sock.settimeout(read_timeout)
            try:
                connection.sock.sendall(raw)
                status_line = connection.reader.readline(65537)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise StaleConnection from exc
            if not status_line:
                raise StaleConnection
            response, keep = read_response(status_line, connection.reader)
            return response
        finally:
            if keep:
                self.checkin(connection)
            else:
                connection.close()


def read_response(status_line: bytes, reader: Any) -> tuple[HttpResponse, bool]:
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
