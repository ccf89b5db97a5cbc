"""The private pipes between the local runner and one worker process.

:class:`Channel` carries length-prefixed JSON frames over two non-blocking pipes, every wait
bounded by a deadline; :class:`LogReader` reads the worker's merged stdout/stderr line by line on a
daemon thread, and knows from the worker's log marks when every line of a phase was read.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

_TAIL_KEEP_BYTES = 16 * 1024
_PARTIAL_LINE_MAX = 256 * 1024
_MARK_WAIT_S = 2.0


class ChannelClosed(Exception):
    """The worker closed its end of a pipe (it exited)."""


class ChannelTimedOut(Exception):
    """The deadline passed before the worker answered."""


class Channel:
    """Length-prefixed JSON frames over two non-blocking pipes, every wait bounded by a deadline."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd = write_fd
        self.read_fd = read_fd
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)

    @staticmethod
    def _wait(fd: int, events: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, events | select.POLLHUP | select.POLLERR)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000.0):
            raise ChannelTimedOut

    def send(self, message: Mapping[str, Any], deadline: float) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        view = memoryview(len(body).to_bytes(4, "big") + body)
        while view:
            try:
                written = os.write(self.write_fd, view)
            except BlockingIOError:
                self._wait(self.write_fd, select.POLLOUT, deadline)
                continue
            except (BrokenPipeError, OSError) as exc:
                raise ChannelClosed from exc
            view = view[written:]

    def _read(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            try:
                chunk = os.read(self.read_fd, min(remaining, 1 << 20))
            except BlockingIOError:
                self._wait(self.read_fd, select.POLLIN, deadline)
                continue
            except OSError as exc:
                raise ChannelClosed from exc
            if not chunk:
                raise ChannelClosed
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self, deadline: float) -> dict[str, Any]:
        size = int.from_bytes(self._read(4, deadline), "big")
        message = json.loads(self._read(size, deadline))
        if not isinstance(message, dict):
            raise ChannelClosed
        return message

    def close(self) -> None:
        for fd in (self.write_fd, self.read_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class LogReader:
    """Reads the worker's merged stdout/stderr on a daemon thread, line by line.

    Lines go to the sink as they come, and into the current capture (the tail of the phase being
    run). Log marks written by the worker after each phase say when every line of it was read.
    """

    def __init__(self, stream_fd: int, nonce: str, sink: Callable[[str], None]) -> None:
        self._fd = stream_fd
        self._prefix = b"\x00" + nonce.encode() + b":"
        self._sink = sink
        self._cond = threading.Condition()
        self._marks = 0
        self._eof = False
        self._capture: deque[str] = deque()
        self._captured_bytes = 0
        self.thread = threading.Thread(target=self._run, name="lambda-runner-log", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        buffer = b""
        try:
            while True:
                try:
                    chunk = os.read(self._fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                while True:
                    cut = buffer.find(b"\n")
                    if cut < 0:
                        break
                    self._line(buffer[:cut])
                    buffer = buffer[cut + 1 :]
                if len(buffer) > _PARTIAL_LINE_MAX:  # a never-ending line still gets logged, in pieces
                    self._line(buffer)
                    buffer = b""
            if buffer:
                self._line(buffer)
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()
            try:
                os.close(self._fd)
            except OSError:
                pass

    def _line(self, raw: bytes) -> None:
        at = raw.find(self._prefix)
        if at >= 0:
            if at > 0:
                self._emit(raw[:at])
            with self._cond:
                self._marks += 1
                self._cond.notify_all()
            return
        self._emit(raw)

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self._sink(text)
        with self._cond:
            self._capture.append(text)
            self._captured_bytes += len(text) + 1
            while self._captured_bytes > _TAIL_KEEP_BYTES and len(self._capture) > 1:
                self._captured_bytes -= len(self._capture.popleft()) + 1

    def take(self, marks: int, timeout_s: float = _MARK_WAIT_S) -> tuple[str, ...]:
        """Wait (bounded) until ``marks`` phases were read, then return and clear the captured lines."""
        with self._cond:
            self._cond.wait_for(lambda: self._eof or self._marks >= marks, timeout=timeout_s)
            lines = tuple(self._capture)
            self._capture.clear()
            self._captured_bytes = 0
            return lines

    def drain(self, timeout_s: float = _MARK_WAIT_S) -> tuple[str, ...]:
        """After the process died: wait (bounded) for EOF, then return what was captured."""
        return self.take(1 << 62, timeout_s)
