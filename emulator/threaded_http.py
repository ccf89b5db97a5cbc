"""What the emulator's threaded HTTP servers share (the runner, CodeDeploy, the event router).

A keep-alive handler whose access log stays out of the terminal, and one way to write a reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

_log = logging.getLogger(__name__)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive: boto3 reuses its pooled connections), access log at debug level only."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Debug level: the tests and the CLI read recorded calls, not an access log."""
        _log.debug("%s " + format, self.address_string(), *args)

    def reply(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        """Send one response; a 204 has neither body nor ``Content-Length``."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 204:
            self.wfile.write(body)
