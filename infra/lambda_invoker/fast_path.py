"""The fast transport: Invoke (and other GETs of the Lambda API) signed here and sent over :class:`HttpPool`.

It uses the endpoint, region and credentials of a boto3 client (so ``AWS_ENDPOINT_URL[_LAMBDA]``
and botocore's credential chain decide, as for every client) and hands every reply to
:func:`~infra.lambda_invoker.replies.invocation_result`, as the SDK transport does.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

from domain.invocation import InvocationRequest, InvocationResult, Outcome
from infra.lambda_invoker.connections import ConnectFailed, HttpPool, HttpResponse
from infra.lambda_invoker.replies import invocation_result
from infra.lambda_invoker.sigv4 import SigV4Signer

API_VERSION = "2015-03-31"
USER_AGENT = "thermostat/0.1 (keep-warm; +https://github.com/)"


class FastPath:
    """Invoke over :class:`HttpPool`, signing with the client's own credentials."""

    def __init__(self, client: Any, endpoint: urllib.parse.SplitResult, pool_size: int, connect_timeout: float) -> None:
        self.client = client
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
        self.pool = HttpPool(scheme, host, port, pool_size, connect_timeout)
        self.endpoint_url = endpoint.geturl()

    @classmethod
    def from_client(cls, client: Any, pool_size: int, connect_timeout: float) -> FastPath | None:
        """The fast path for ``client``'s endpoint, or None when only the SDK can reach it."""
        endpoint = urllib.parse.urlsplit(client.meta.endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            return None
        proxies = urllib.request.getproxies()
        if proxies.get(endpoint.scheme) and not urllib.request.proxy_bypass(endpoint.hostname):
            return None  # the SDK knows how to tunnel through a proxy; this path does not
        return cls(client, endpoint, pool_size, connect_timeout)

    def _credentials(self) -> Any:
        # The client's own credential provider (refreshes itself); private in botocore but the
        # only way to sign with exactly what the client would use.
        signer = getattr(self.client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None
        return credentials.get_frozen_credentials()

    def _raw(self, method: str, path: str, query: str, body: bytes, extra: tuple[str, ...] = ()) -> bytes | None:
        """The signed request's bytes, or None without credentials."""
        credentials = self._credentials()
        if credentials is None or not credentials.access_key:
            return None
        path = f"{self.prefix}{path}"
        headers = self.signer.headers(
            method,
            self.host_header,
            path,
            query,
            body,
            credentials.access_key,
            credentials.secret_key,
            credentials.token,
        )
        lines = [
            f"{method} {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {self.host_header}",
            f"User-Agent: {USER_AGENT}",
            "Content-Type: application/x-amz-json-1.0",
            f"Content-Length: {len(body)}",
            *extra,
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def call(self, method: str, path: str, query: str, read_timeout: float) -> HttpResponse:
        """Another Lambda API operation (a GET without body) over the same pool; raises on I/O errors."""
        raw = self._raw(method, path, query, b"")
        if raw is None:
            raise PermissionError("no AWS credentials found for the Lambda client")
        return self.pool.request(raw, read_timeout)

    def invoke(self, request: InvocationRequest, read_timeout: float, tail_logs: bool) -> InvocationResult:
        """One ``RequestResponse`` invocation; a connection failure or a timeout is a result, not an error."""
        path = f"/{API_VERSION}/functions/{urllib.parse.quote(request.function, safe='')}/invocations"
        query = f"Qualifier={urllib.parse.quote(request.qualifier, safe='-_.~')}" if request.qualifier else ""
        extra = ("X-Amz-Invocation-Type: RequestResponse", f"X-Amz-Log-Type: {'Tail' if tail_logs else 'None'}")
        raw = self._raw("POST", path, query, request.payload, extra)
        if raw is None:
            return InvocationResult(outcome=Outcome.FAILED, error="no AWS credentials found for the Lambda client")
        try:
            response = self.pool.request(raw, read_timeout)
        except ConnectFailed as exc:
            return InvocationResult(outcome=Outcome.FAILED, error=f"could not connect to {self.endpoint_url}: {exc}")
        except TimeoutError:
            return InvocationResult(outcome=Outcome.TIMEOUT, error=f"no reply within {read_timeout:g} s")
        except (OSError, ConnectionError, ValueError) as exc:
            return InvocationResult(
                outcome=Outcome.FAILED, error=f"could not reach {self.endpoint_url}: {type(exc).__name__}: {exc}"
            )
        return invocation_result(response.status, response.headers, response.body)
