"""Forward the local functions' log lines to CloudWatch Logs (moto), as Lambda does.

The local Lambda runner hands every line a worker prints to a sink; this sink batches them per
function and writes them to ``/aws/lambda/<function>``, so ``thermostat report`` reads local
telemetry exactly as it reads AWS's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from typing import Any

from infra import aws

_BATCH = 500
_FLUSH_S = 0.2


class LogForwarder:
    """A log sink ``(function, version, line)`` backed by a background writer thread."""

    def __init__(self, client: Any = None, stream_name: str = "local") -> None:
        self._client = client
        self.stream_name = stream_name
        self._queue: queue.Queue[tuple[str, str, str, int] | None] = queue.Queue()
        self._known: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="log-forwarder", daemon=True)
        self._started = False
        self._flushed = threading.Condition()
        self._pending = 0
        self.errors: list[str] = []

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("logs")
        return self._client

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()

    def __call__(self, function: str, version: str, line: str) -> None:
        """The sink the runner calls for every printed line."""
        with self._flushed:
            self._pending += 1
        self._queue.put((function, version, line, int(time.time() * 1000)))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every line handed over so far is written; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._flushed:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._flushed.wait(remaining)
        return True

    def stop(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._started = False

    def _ensure_stream(self, function: str, version: str) -> tuple[str, str]:
        # Lambda names streams after the version: "2026/11/23/[$LATEST]…"; ours end in the stream name.
        group = f"/aws/lambda/{function}"
        stream = f"{time.strftime('%Y/%m/%d')}/[{version}]{self.stream_name}"
        for call, arguments, key in (
            ("create_log_group", {"logGroupName": group}, group),
            ("create_log_stream", {"logGroupName": group, "logStreamName": stream}, f"{group}|{stream}"),
        ):
            if key in self._known:
                continue
            try:
                getattr(self.client, call)(**arguments)
            except Exception as exc:
                if aws.error_code(exc) != "ResourceAlreadyExistsException":
                    raise
            self._known.add(key)
        return group, stream

    def _write(self, batch: list[tuple[str, str, str, int]]) -> None:
        by_stream: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for function, version, line, stamp in batch:
            by_stream[(function, version)].append({"timestamp": stamp, "message": line})
        for (function, version), events in by_stream.items():
            try:
                group, stream = self._ensure_stream(function, version)
                self.client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
            except Exception as exc:  # noqa: BLE001 - logs must never take the stack down; keep the reason
                self.errors.append(f"{function}: {type(exc).__name__}: {exc}")

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[str, str, str, int]] = []
            try:
                item = self._queue.get(timeout=_FLUSH_S)
            except queue.Empty:
                continue
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()
