"""A Lambda API endpoint on 127.0.0.1 whose functions each answer with one fault (raw sockets, optional TLS).

Faults are injected on the network path, in front of whichever transport is tested: the fast
path and botocore see the same bytes. A function's name is its fault:

* ``ok``: Invoke 200 with a warm reply; the configuration and concurrency reads 200; no provisioned concurrency (404);
* ``throttled``: 429 ``TooManyRequestsException`` (reason ``CallerRateLimitExceeded``);
* ``error500`` / ``unavailable``: 500 / 503 ``ServiceException``;
* ``flaky``: 503 on its first request, then as ``ok``;
* ``missing``: 404 ``ResourceNotFoundException``;
* ``reset``: the connection is reset (RST) once the request has been read;
* ``garbled``: a reply that is not HTTP, then the connection is closed;
* ``slow``: the reply waits ``slow_s`` (or until the server stops);
* ``together``: the reply waits (at most ``together_s``, 5 s) until ``together`` requests of it have arrived, then
  200; 504 when they did not all come within that time (a burst that was not sent at once);
* ``chunked``: a warm reply in ``Transfer-Encoding: chunked``, its chunks written apart.

``throttle_lookups`` (an attribute, switched at any time) makes every look-up of every function
answer 429 ``TooManyRequestsException``, as Lambda's control-plane quota does; Invokes are unaffected.

Every request is counted per function, with its headers. Handlers are daemon threads; ``stop``
releases the slow ones and closes every socket.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAULTS = ("ok", "throttled", "error500", "unavailable", "flaky", "missing", "reset", "garbled", "slow")


class FaultServer:
    """Serve the Lambda API paths (Invoke, GetFunction, GetProvisionedConcurrencyConfig) with faults."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, slow_s: float = 5.0) -> None:
        self._tls = tls
        self.slow_s = slow_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.requests: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.throttle_lookups = False
        #: how many ``together`` requests must have arrived before any is answered
        self.together = 0
        #: how long ``together`` requests wait for the others
        self.together_s = 5.0
        self._arrived = threading.Condition(self._lock)
        self._ready = 0
        self._thread = threading.Thread(target=self._accept, name="fault-server", daemon=True)

    @property
    def url(self) -> str:
        """The endpoint URL (``http`` or ``https``)."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, release slow replies, close every connection."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    @property
    def accepted(self) -> int:
        """Connections accepted (over TLS: handshaken) so far, and not dropped."""
        with self._lock:
            return self._ready

    def drop_connections(self) -> None:
        """Close every open connection and keep listening (as a service's idle timeout does)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self._ready = 0
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def reset_counts(self) -> None:
        """Forget the requests counted so far."""
        with self._lock:
            self.requests.clear()
            self.headers.clear()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, raw_sock: socket.socket) -> None:
        sock = raw_sock
        with self._lock:
            self._sockets.append(raw_sock)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(raw_sock, server_side=True)
                with self._lock:  # the wrapped socket now owns the descriptor: stop() must close that one
                    self._sockets = [sock if known is raw_sock else known for known in self._sockets]
            with self._lock:
                self._ready += 1
            sock.settimeout(self.slow_s + 5)
            reader = sock.makefile("rb")
            while not self._stopped.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                if not self._answer(sock, *request):
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            sock.close()

    def _answer(self, sock: socket.socket, method: str, target: str, headers: dict[str, str]) -> bool:
        path = urllib.parse.urlsplit(target).path
        parts = [urllib.parse.unquote(part) for part in path.split("/") if part]
        name = parts[2] if len(parts) >= 3 else ""
        operation = (
            "invoke"
            if parts[-1:] == ["invocations"]
            else "provisioned"
            if "provisioned-concurrency" in parts
            else "get"
        )
        with self._lock:
            self.requests[name] += 1
            self.headers.append(headers)
            count = self.requests[name]
        if name == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if name == "garbled":
            sock.sendall(b"SSH-2.0-not-http\r\n\r\n")
            return False
        if name == "slow":
            self._stopped.wait(self.slow_s)
        if name == "together":
            with self._arrived:
                self._arrived.notify_all()
                if not self._arrived.wait_for(
                    lambda: self.requests["together"] >= self.together, timeout=self.together_s
                ):
                    return _reply(sock, 504, {"message": "the burst did not arrive together"}, {})
        if name == "chunked":
            body = json.dumps({"thermostat": {"v": 1, "warm": True, "environment_id": "env-chunked"}}).encode()
            head = "HTTP/1.1 200 X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            sock.sendall(head.encode() + f"{len(body[:9]):x}\r\n".encode() + body[:9] + b"\r\n")
            self._stopped.wait(0.05)
            sock.sendall(f"{len(body[9:]):x}\r\n".encode() + body[9:] + b"\r\n0\r\n\r\n")
            return True
        if name == "throttled" or (self.throttle_lookups and operation != "invoke"):
            body = {"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded"}
            return _reply(sock, 429, body, {"x-amzn-ErrorType": "TooManyRequestsException"})
        if name in ("error500", "unavailable") or (name == "flaky" and count == 1):
            status = 500 if name == "error500" else 503
            return _reply(
                sock, status, {"Type": "Service", "message": "try again"}, {"x-amzn-ErrorType": "ServiceException"}
            )
        if name == "missing":
            message = f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}"
            return _reply(
                sock, 404, {"Type": "User", "message": message}, {"x-amzn-ErrorType": "ResourceNotFoundException"}
            )
        if operation == "invoke":
            reply = {"thermostat": {"v": 1, "warm": True, "environment_id": f"env-{name}", "start_kind": "warm"}}
            return _reply(sock, 200, reply, {"X-Amz-Executed-Version": "1"})
        if operation == "get":
            if parts[-1:] == ["concurrency"]:  # GetFunctionConcurrency
                return _reply(sock, 200, {"ReservedConcurrentExecutions": 3}, {})
            return _reply(sock, 200, {"FunctionName": name, "Timeout": 7}, {})  # GetFunctionConfiguration
        error = {"Type": "User", "message": "No Provisioned Concurrency Config found for this function"}
        return _reply(sock, 404, error, {"x-amzn-ErrorType": "ProvisionedConcurrencyConfigNotFoundException"})


def _read_request(reader: Any) -> tuple[str, str, dict[str, str]] | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65537)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length:
        reader.read(length)
    return method, target, headers


def _reply(sock: socket.socket, status: int, document: Any, headers: dict[str, str]) -> bool:
    body = json.dumps(document).encode()
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return True


@contextmanager
def self_signed_tls(directory: Path) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server TLS context for 127.0.0.1 with a fresh self-signed certificate, and that certificate's path."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "thermostat-test")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    yield context, cert_path
