"""The fast transport: Invoke (and other GETs of the Lambda API) signed here and sent over :class:`HttpPool`.

It uses the endpoint, region, credentials, user agent and certificate verification of a botocore
client (so ``AWS_ENDPOINT_URL[_LAMBDA]``, ``AWS_CA_BUNDLE`` / the profile's ``ca_bundle`` and
botocore's credential chain decide, as for every client) and hands every reply to
:func:`~infra.lambda_invoker.replies.invocation_result`, as the SDK transport does. Where the client
needs what this path does not do (a proxy, from the client's ``proxies`` or the environment; a
client certificate), :meth:`FastPath.from_client` declines and the caller uses botocore.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra import aws
from infra.lambda_invoker.connections import ConnectFailed, HttpPool, HttpResponse, tls_context
from infra.lambda_invoker.replies import invocation_result
from infra.lambda_invoker.sigv4 import SigV4Signer

API_VERSION = "2015-03-31"
CONTENT_TYPE = "application/x-amz-json-1.0"
#: Invoke's own headers (RequestResponse; with or without the log tail), built once.
_INVOKE_TAIL = (("X-Amz-Invocation-Type", "RequestResponse"), ("X-Amz-Log-Type", "Tail"))
_INVOKE_NO_TAIL = (("X-Amz-Invocation-Type", "RequestResponse"), ("X-Amz-Log-Type", "None"))
#: The client's verification setting could not be read: only botocore knows how to connect.
_UNKNOWN = object()


def user_agent(client: Any) -> str:
    """botocore's user agent for ``client`` with thermostat's token (``thermostat/<version>``) once."""
    base = str(getattr(client.meta.config, "user_agent", None) or "Botocore")
    return base if aws.USER_AGENT_EXTRA in base.split() else f"{base} {aws.USER_AGENT_EXTRA}"


def _verify_of(client: Any) -> Any:
    """The client's resolved ``verify`` (True, False or a CA bundle path), as its HTTP session holds it."""
    # Private in botocore, but the one place where the client's own resolution (create_client's
    # ``verify``, else AWS_CA_BUNDLE, else the profile's ca_bundle) ends up.
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", _UNKNOWN)
    return verify if isinstance(verify, (bool, str)) else _UNKNOWN


class FastPath:
    """Invoke over :class:`HttpPool`, signing with the client's own credentials."""

    def __init__(
        self,
        client: Any,
        endpoint: urllib.parse.SplitResult,
        pool_size: int,
        connect_timeout: float,
        verify: bool | str = True,
    ) -> None:
        self.client = client
        self.user_agent = user_agent(client)  # once: it is the same for every request
        self.region: str = client.meta.region_name
        self.signer = SigV4Signer(self.region)
        scheme = endpoint.scheme
        port = endpoint.port or (443 if scheme == "https" else 80)
        host = endpoint.hostname or ""
        self.prefix = endpoint.path.rstrip("/")
        default_port = (scheme, port) in {("https", 443), ("http", 80)}
        self.host_header = host if default_port else f"{host}:{port}"
        if ":" in host and not default_port:  # IPv6 literal
            self.host_header = f"[{host}]:{port}"
        tls = tls_context(verify) if scheme == "https" else None
        self.pool = HttpPool(scheme, host, port, pool_size, connect_timeout, tls)
        self._host_line = f"Host: {self.host_header}"
        self._agent_line = f"User-Agent: {self.user_agent}"
        self.endpoint_url = endpoint.geturl()

    @classmethod
    def from_client(cls, client: Any, pool_size: int, connect_timeout: float) -> FastPath | None:
        """The fast path for ``client``'s endpoint, or None when only the SDK can reach it.

        None behind a proxy (the client's ``proxies`` or the environment's: botocore tunnels, this
        path does not), with a client certificate (``client_cert``), or when the client's
        certificate verification cannot be read.
        """
        endpoint = urllib.parse.urlsplit(client.meta.endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            return None
        config = client.meta.config
        if getattr(config, "proxies", None) or getattr(config, "client_cert", None):
            return None
        proxies = urllib.request.getproxies()
        if proxies.get(endpoint.scheme) and not urllib.request.proxy_bypass(endpoint.hostname):
            return None
        verify = _verify_of(client)
        if verify is _UNKNOWN:
            return None
        return cls(client, endpoint, pool_size, connect_timeout, verify)

    def _credentials(self) -> Any:
        # The client's own credential provider (refreshes itself); private in botocore but the
        # only way to sign with exactly what the client would use.
        signer = getattr(self.client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None
        return credentials.get_frozen_credentials()

    def _raw(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        extra: tuple[tuple[str, str], ...] = (),
        amz_date: str | None = None,
        credentials: Any = None,
    ) -> bytes | None:
        """The signed request's bytes, or None without credentials (the client's, unless given).

        Every header but ``User-Agent`` is signed (as botocore signs them).
        """
        credentials = credentials or self._credentials()
        if credentials is None or not credentials.access_key:
            return None
        path = f"{self.prefix}{path}"
        sent = (("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))), *extra)
        signature = self.signer.headers(
            method,
            self.host_header,
            path,
            query,
            body,
            credentials.access_key,
            credentials.secret_key,
            credentials.token,
            amz_date=amz_date,
            sent=sent,
        )
        lines = [f"{method} {path}{'?' + query if query else ''} HTTP/1.1", self._host_line, self._agent_line]
        lines += [f"{name}: {value}" for name, value in sent]
        lines += [f"{name}: {value}" for name, value in signature.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    @staticmethod
    def invoke_target(request: InvocationRequest) -> tuple[str, str]:
        """The path and query of an Invoke of ``request`` (botocore's quoting)."""
        path = f"/{API_VERSION}/functions/{urllib.parse.quote(request.function, safe='')}/invocations"
        query = f"Qualifier={urllib.parse.quote(request.qualifier, safe='-_.~')}" if request.qualifier else ""
        return path, query

    def invoke_request(
        self, request: InvocationRequest, tail_logs: bool, amz_date: str | None = None, credentials: Any = None
    ) -> bytes | None:
        """The bytes of one signed ``RequestResponse`` Invoke (None without credentials).

        ``amz_date`` and ``credentials`` (botocore's frozen credentials) default to now and the
        client's; the tests give both to compare the signature with botocore's.
        """
        path, query = self.invoke_target(request)
        extra = _INVOKE_TAIL if tail_logs else _INVOKE_NO_TAIL
        return self._raw("POST", path, query, request.payload, extra, amz_date, credentials)

    def call(self, method: str, path: str, query: str, read_timeout: float) -> HttpResponse:
        """Another Lambda API operation (a GET without body) over the same pool; raises on I/O errors."""
        raw = self._raw(method, path, query, b"")
        if raw is None:
            raise PermissionError("no AWS credentials found for the Lambda client")
        return self.pool.request(raw, read_timeout)

    def invoke(
        self,
        request: InvocationRequest,
        read_timeout: float,
        tail_logs: bool,
        before_send: Callable[[], object] | None = None,
    ) -> InvocationResult:
        """One ``RequestResponse`` invocation; a connection failure or a timeout is a result, not an error.

        The request is signed and its connection taken first; ``before_send`` (a fan-out's
        barrier) runs just before it leaves.
        """
        raw = self.invoke_request(request, tail_logs)
        if raw is None:
            if before_send is not None:
                before_send()
            return InvocationResult(outcome=Outcome.FAILED, error="no AWS credentials found for the Lambda client")
        try:
            response = self.pool.request(raw, read_timeout, before_send)
        except Exception as exc:  # noqa: BLE001 - classified below; a bug's exception still re-raises there
            return self._failure(exc, read_timeout)
        return invocation_result(response.status, response.headers, response.body)

    def invoke_many(
        self,
        requests: list[InvocationRequest],
        read_timeout: float,
        tail_logs: bool,
        before_send: Callable[[], object] | None = None,
    ) -> list[tuple[InvocationResult, float]]:
        """Every request of a batch at once (:func:`.burst.exchange_all`): each result, and when it came.

        All are signed first, with one reading of the credentials; then ``before_send`` runs (the
        fan-out waits there for the connections it is opening meanwhile), and they leave back to
        back from this thread. The times are ``time.perf_counter()`` readings.
        """
        import time

        from infra.lambda_invoker.burst import exchange_all

        credentials = self._credentials()
        raws = []
        if credentials is not None and credentials.access_key:
            raws = [self.invoke_request(request, tail_logs, credentials=credentials) for request in requests]
        signed = [raw for raw in raws if raw is not None]
        if before_send is not None:
            before_send()
        if len(signed) < len(requests):
            failed = InvocationResult(outcome=Outcome.FAILED, error="no AWS credentials found for the Lambda client")
            return [(failed, time.perf_counter())] * len(requests)
        replies, times = exchange_all(self.pool, signed, read_timeout)
        results = []
        for reply, at in zip(replies, times, strict=True):
            if isinstance(reply, HttpResponse):
                results.append((invocation_result(reply.status, reply.headers, reply.body), at))
            else:
                results.append((self._failure(reply, read_timeout), at))
        return results

    def _failure(self, exc: BaseException, read_timeout: float) -> InvocationResult:
        """The result of a request that got no reply (connect failure, timeout, reset, not HTTP)."""
        if isinstance(exc, ConnectFailed):
            return InvocationResult(outcome=Outcome.FAILED, error=f"could not connect to {self.endpoint_url}: {exc}")
        if isinstance(exc, TimeoutError):
            return InvocationResult(outcome=Outcome.TIMEOUT, error=f"no reply within {read_timeout:g} s")
        if isinstance(exc, (OSError, ConnectionError, ValueError)):
            return InvocationResult(
                outcome=Outcome.FAILED, error=f"could not reach {self.endpoint_url}: {type(exc).__name__}: {exc}"
            )
        raise exc
