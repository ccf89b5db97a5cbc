"""One batch of requests over :class:`~infra.lambda_invoker.connections.HttpPool`, from one thread: a burst.

A keep-warm batch must reach its function at once: N pings that arrive spread over more than
the hold reuse each other's environments. A thread per ping pays for starting N threads and for
releasing them together under the GIL (200 threads leave over tens of milliseconds); here the
batch takes its N connections first (idle ones, then the missing ones opened together on one
selector, handshaken over TLS), writes every request back to back from this thread, and then
reads the replies as they arrive on one selector. What leaves is bounded by the cost of N small
``send`` calls, not by the scheduler.

Every reply is read as :meth:`HttpPool.request` reads it (:func:`read_response`, the same
framing and keep-alive rules), so a request fails here exactly as it fails there: a connection
that cannot be opened (:class:`ConnectFailed`), no reply within the read timeout
(``TimeoutError``), a reset, a reply that is not HTTP (``ConnectionError``). A pooled connection
that the server closed before answering is re-sent once on a new one, as :meth:`HttpPool.request`
does.
"""

from __future__ import annotations

import io
import selectors
import ssl
import time

from infra.lambda_invoker.connections import (
    ConnectFailed,
    Connection,
    HttpPool,
    HttpResponse,
    StaleConnection,
    read_response,
)

#: What one request of a burst came to: its reply, or the error :meth:`HttpPool.request` would raise.
Reply = HttpResponse | Exception

_CHUNK = 65536


class _Exchange:
    """One request of the burst on its connection: what is left to send, what was received so far."""

    __slots__ = ("connection", "done_at", "eof", "keep", "outcome", "received", "reused", "unsent")

    def __init__(self, connection: Connection, raw: bytes, reused: bool) -> None:
        self.connection = connection
        self.reused = reused
        self.unsent = memoryview(raw)
        self.received = bytearray()
        self.eof = False
        self.keep = False  # the connection may carry the next request
        self.outcome: Reply | None = None
        self.done_at = 0.0


def exchange_all(pool: HttpPool, raws: list[bytes], read_timeout: float) -> tuple[list[Reply], list[float]]:
    """Send every request of ``raws`` at once and read the replies: each one's outcome, and when it came.

    The times are ``time.perf_counter()`` readings. Never raises for a request's failure: it is
    that request's outcome.
    """
    outcomes, times = _exchange(pool, raws, read_timeout, reuse=True)
    stale = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, StaleConnection)]
    if stale:
        again, again_at = _exchange(pool, [raws[index] for index in stale], read_timeout, reuse=False)
        for index, outcome, at in zip(stale, again, again_at, strict=True):
            outcomes[index], times[index] = outcome, at
    return outcomes, times


def _exchange(
    pool: HttpPool, raws: list[bytes], read_timeout: float, *, reuse: bool
) -> tuple[list[Reply], list[float]]:
    count = len(raws)
    idle = pool.take_idle(count) if reuse else []
    fresh = pool.open_now(count - len(idle))
    connections: list[tuple[Connection, bool] | ConnectFailed] = [(c, True) for c in idle]
    connections += [c if isinstance(c, ConnectFailed) else (c, False) for c in fresh]
    outcomes: list[Reply | None] = [None] * count
    times = [0.0] * count
    exchanges: dict[int, _Exchange] = {}
    for index, (raw, taken) in enumerate(zip(raws, connections, strict=True)):
        if isinstance(taken, ConnectFailed):
            outcomes[index], times[index] = taken, time.perf_counter()
        else:
            exchanges[index] = _Exchange(taken[0], raw, taken[1])
    selector = selectors.DefaultSelector()
    give_up = time.perf_counter() + read_timeout
    try:
        # Every request leaves before any reply is read: the burst is this loop.
        for exchange in exchanges.values():
            exchange.connection.sock.setblocking(False)
            _send(exchange)
        for index, exchange in exchanges.items():
            if exchange.outcome is None:
                selector.register(exchange.connection.sock, _interest(exchange), index)
        while selector.get_map():
            left = give_up - time.perf_counter()
            if left <= 0:
                break
            for key, _ in selector.select(left):
                exchange = exchanges[key.data]
                if exchange.unsent:
                    _send(exchange)
                if not exchange.unsent and exchange.outcome is None:
                    _receive(exchange)
                if exchange.outcome is not None:
                    selector.unregister(key.fileobj)
                elif key.events != _interest(exchange):
                    selector.modify(key.fileobj, _interest(exchange), key.data)
    finally:
        selector.close()
        for index, exchange in exchanges.items():
            if exchange.outcome is None:
                exchange.outcome = TimeoutError(f"no reply within {read_timeout:g} s")
                exchange.done_at = time.perf_counter()
            outcomes[index], times[index] = exchange.outcome, exchange.done_at
            _release(pool, exchange)
    return [outcome if outcome is not None else TimeoutError() for outcome in outcomes], times


def _interest(exchange: _Exchange) -> int:
    return selectors.EVENT_WRITE if exchange.unsent else selectors.EVENT_READ


def _send(exchange: _Exchange) -> None:
    sock = exchange.connection.sock
    try:
        while exchange.unsent:
            sent = sock.send(exchange.unsent)
            exchange.unsent = exchange.unsent[sent:]
    except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
        return  # the rest when the socket is writable again
    except (BrokenPipeError, ConnectionResetError) as exc:
        _fail(exchange, _closed(exchange, exc))
    except OSError as exc:
        _fail(exchange, exc)


def _receive(exchange: _Exchange) -> None:
    sock = exchange.connection.sock
    try:
        while True:  # a TLS socket may hold decrypted bytes the selector does not see
            data = sock.recv(_CHUNK)
            if not data:
                exchange.eof = True
                break
            exchange.received += data
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
        pass
    except ssl.SSLZeroReturnError:
        exchange.eof = True
    except ConnectionResetError as exc:
        _fail(exchange, _closed(exchange, exc))
        return
    except OSError as exc:
        _fail(exchange, exc)
        return
    _try_parse(exchange)


def _try_parse(exchange: _Exchange) -> None:
    """Settle the exchange when its reply is complete, or once the connection ended (whatever came is then read)."""
    data = bytes(exchange.received)
    if not data and exchange.eof:
        _fail(exchange, _closed(exchange, None))
        return
    if not exchange.eof and not _may_be_complete(data):
        return
    reader = io.BytesIO(data)
    try:
        response, keep = read_response(reader.readline(65537), reader)
    except (ConnectionError, ValueError) as exc:
        if exchange.eof or not _is_chunked(data):
            _fail(exchange, exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc)))
        return  # a chunked reply still arriving
    # Bytes beyond the reply (nobody asked for them) or the server's end make the connection unusable.
    exchange.keep = keep and not exchange.eof and reader.tell() == len(data)
    exchange.outcome = response
    exchange.done_at = time.perf_counter()


def _head(data: bytes) -> tuple[int, dict[str, str]] | None:
    """The status and the (lower-case) header fields, once the head has arrived."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    status = lines[0].split(None, 2)
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return code, fields


def _is_chunked(data: bytes) -> bool:
    head = _head(data)
    return head is not None and head[1].get("transfer-encoding", "").lower() == "chunked"


def _may_be_complete(data: bytes) -> bool:
    """True when ``data`` may hold a whole reply: worth reading (a chunked one is found out by reading it)."""
    head = _head(data)
    if head is None:
        return not data.startswith(b"HTTP/"[: len(data)])  # not HTTP at all: the reader says so now
    code, fields = head
    if "content-length" in fields:
        length = fields["content-length"]
        if not length.isdigit():
            return True  # the reader says it is not a length
        return len(data) >= data.find(b"\r\n\r\n") + 4 + int(length)
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return True
    return code in (204, 304) or 100 <= code < 200  # otherwise the body runs to the connection's end


def _closed(exchange: _Exchange, exc: BaseException | None) -> Exception:
    """A connection that ended before any reply: stale when it came from the pool (re-sent once), else an error."""
    if exchange.reused and not exchange.received:
        return StaleConnection()
    if isinstance(exc, ConnectionResetError):
        return exc
    return ConnectionResetError("the server closed the connection without answering")


def _fail(exchange: _Exchange, error: Exception) -> None:
    exchange.outcome = error
    exchange.done_at = time.perf_counter()
    exchange.keep = False


def _release(pool: HttpPool, exchange: _Exchange) -> None:
    connection = exchange.connection
    if exchange.keep:
        try:
            connection.sock.settimeout(pool.connect_timeout)
        except OSError:
            connection.close()
            return
        pool.checkin(connection)
    else:
        connection.close()
