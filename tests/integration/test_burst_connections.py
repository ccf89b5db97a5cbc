"""Connections opened ahead of a burst: all at once, over TLS too, and re-opened when the service closed them.

Against :class:`tests.fault_server.FaultServer` on 127.0.0.1 (plain, and TLS with a self-signed
certificate the client trusts): it counts the connections it accepted and can drop them all
while it keeps listening, as a service's idle timeout does.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.invocation import InvocationRequest, Outcome
from infra.lambda_invoker import BotoFunctionInvoker
from infra.lambda_invoker.connections import HttpPool, tls_context
from tests.fault_server import FaultServer, self_signed_tls

pytestmark = pytest.mark.integration


@pytest.fixture(params=["http", "https"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FaultServer, ssl.SSLContext | None]]:
    if request.param == "http":
        with FaultServer() as plain:
            yield plain, None
        return
    with self_signed_tls(tmp_path) as (context, cert), FaultServer(tls=context) as secure:
        yield secure, tls_context(str(cert))


def _accepted(server: FaultServer, count: int) -> int:
    # The server's accept loop runs on its own thread: wait (bounded) until it has seen them.
    for _ in range(200):
        if server.accepted >= count:
            break
        time.sleep(0.01)
    return server.accepted


def test_open_many_opens_the_connections_at_once_and_keeps_them_idle(server) -> None:  # type: ignore[no-untyped-def]
    faults, tls = server
    pool = HttpPool("https" if tls else "http", "127.0.0.1", faults.port, 6, 3.0, tls)
    try:
        # When six connections are asked for (eight: the pool keeps six)
        opened = pool.open_many(8)

        # Then six were opened (handshaken over TLS), are idle, and the server accepted six
        assert opened == 6
        assert pool.idle_count() == 6
        assert _accepted(faults, 6) == 6
        # And none is taken for closed: TLS 1.3 session tickets make a socket readable, not closed
        assert pool.discard_closed() == 6
        # And a request goes out on one of them without a new connection
        raw = b"GET /2015-03-31/functions/ok/configuration HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        assert pool.request(raw, 3.0).status == 200
        assert faults.accepted == 6
    finally:
        pool.close()


def test_connections_the_service_closed_are_dropped_and_reopened(server) -> None:  # type: ignore[no-untyped-def]
    faults, tls = server
    pool = HttpPool("https" if tls else "http", "127.0.0.1", faults.port, 4, 3.0, tls)
    try:
        assert pool.open_many(4) == 4
        assert _accepted(faults, 4) == 4

        # When the service closes every idle connection
        faults.drop_connections()
        for _ in range(200):  # the FIN reaches the client's sockets (bounded wait)
            if pool.discard_closed() == 0:
                break
            time.sleep(0.01)

        # Then none is left, and the missing ones are opened again, together
        assert pool.idle_count() == 0
        assert pool.open_many(4) == 4
        assert _accepted(faults, 4) == 4
    finally:
        pool.close()


def test_the_invoker_opens_ahead_and_the_first_ping_finds_its_connection(aws_env: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with FaultServer() as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", faults.url)
        invoker = BotoFunctionInvoker(pool_size=3)
        try:
            # When three connections are opened ahead of a ping
            assert invoker.idle_connections() == 0
            assert invoker.open_connections(3) == 3
            sent: list[str] = []
            payload = json.dumps({"thermostat": {"v": 1, "action": "warm", "correlation_id": "c"}}).encode()
            request = InvocationRequest(function="ok", qualifier="live", payload=payload, read_timeout_s=3.0)

            # Then the ping goes out on one of them, after its before_send, and no fourth is opened
            result = invoker.invoke(request, before_send=lambda: sent.append("gate"))
            assert result.outcome is Outcome.OK
            assert sent == ["gate"]
            assert _accepted(faults, 3) == 3
            assert invoker.idle_connections() == 3
        finally:
            invoker.close()


def test_a_ping_that_cannot_connect_still_passes_its_barrier(aws_env: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes import dead_endpoint

    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", dead_endpoint())
    invoker = BotoFunctionInvoker(pool_size=2, max_attempts=1)
    try:
        assert invoker.open_connections(2) == 0  # refused: nothing opened, nothing raised
        sent: list[str] = []
        request = InvocationRequest(function="ok", qualifier="live", payload=b"{}", read_timeout_s=1.0)
        result = invoker.invoke(request, before_send=lambda: sent.append("gate"))
        assert result.outcome is Outcome.FAILED
        assert sent == ["gate"]
    finally:
        invoker.close()


def test_connections_above_descriptor_1024_are_not_taken_for_closed(server) -> None:  # type: ignore[no-untyped-def]
    # select() refuses descriptors >= 1024 (a fan-out of a few hundred TLS connections gets there):
    # the idle check must not take every such connection for one the server closed.
    import os
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        pytest.skip(f"needs 1100 descriptors, the limit is {soft}")
    faults, tls = server
    fillers = []
    try:
        while not fillers or fillers[-1] < 1030:
            fillers.append(os.dup(0))
        pool = HttpPool("https" if tls else "http", "127.0.0.1", faults.port, 3, 3.0, tls)
        try:
            assert pool.open_many(3) == 3
            assert pool.discard_closed() == 3
            taken = pool.take_idle(3)
            assert len(taken) == 3
            for connection in taken:
                connection.close()
        finally:
            pool.close()
    finally:
        for fd in fillers:
            os.close(fd)
