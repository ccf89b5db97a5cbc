"""``Event`` (asynchronous) invocations of the local runner.

Accepted at once (202) up to a bounded queue, then run on a small thread pool. A throttled one is
retried with backoff, as Lambda retries asynchronous invocations it could not start; after
``THROTTLE_RETRIES`` it is dropped with a platform log line. One whose function disappeared, or
that meets a stopping runner, is dropped silently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from domain.errors import Unavailable
from emulator.runner_invoke import Context
from emulator.runner_model import FunctionNotFound, Throttled, VersionConfig

THROTTLE_RETRIES = 8
_FIRST_DELAY_S = 0.05
_MAX_DELAY_S = 1.0

Run = Callable[[VersionConfig, str, Context], object]
PlatformLog = Callable[[VersionConfig, str], None]


class EventQueue:
    """A bounded queue of asynchronous invocations and the threads that run them."""

    def __init__(self, run: Run, *, workers: int, capacity: int, stopping: threading.Event, log: PlatformLog) -> None:
        self._run = run
        self._workers = workers
        self._slots = threading.BoundedSemaphore(capacity)
        self._stopping = stopping
        self._log = log
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker threads."""
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="lambda-async")

    def stop(self) -> None:
        """Drop what is queued; running invocations end with the runner's environments."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, config: VersionConfig, text: str, context: Context) -> None:
        """Queue one invocation; ``Throttled`` when the queue is full, ``Unavailable`` when not running."""
        executor = self._executor
        if executor is None or self._stopping.is_set():
            raise Unavailable("the runner is not started: call start() first")
        if not self._slots.acquire(blocking=False):
            raise Throttled(Throttled.ACCOUNT, "Too many queued asynchronous invocations.")
        try:
            executor.submit(self._attempts, config, text, context)
        except RuntimeError as exc:  # shut down between the check and the submit
            self._slots.release()
            raise Unavailable("the local Lambda runner is stopping") from exc

    def _attempts(self, config: VersionConfig, text: str, context: Context) -> None:
        try:
            delay = _FIRST_DELAY_S
            for _ in range(THROTTLE_RETRIES):
                try:
                    self._run(config, text, context)
                    return
                except Throttled:
                    if self._stopping.wait(delay):
                        return
                    delay = min(_MAX_DELAY_S, delay * 2)
                except (FunctionNotFound, Unavailable):
                    return
            self._log(config, f"async invocation dropped after {THROTTLE_RETRIES} throttles")
        finally:
            self._slots.release()
