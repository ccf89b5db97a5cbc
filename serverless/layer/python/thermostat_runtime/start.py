"""Start kinds: the one source of truth for "was this a cold start?".

| AWS_LAMBDA_INITIALIZATION_TYPE | first invocation | later |
|---|---|---|
| ``on-demand`` (or unset)       | ``cold``         | ``warm`` |
| ``snap-start``                 | ``restore``      | ``warm`` |
| ``provisioned-concurrency``    | ``provisioned``  | ``warm`` |
| anything else                  | ``cold`` (init type kept verbatim) | ``warm`` |

A warm ping is ``warm_ping`` whatever the state; the reply carries the state it found.
"""

from __future__ import annotations

import os
import time
from _thread import allocate_lock

# ``typing`` costs ~2.5 ms to import in a bare interpreter: only type checkers see it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Literal

    StartKind = Literal["cold", "restore", "provisioned", "warm", "warm_ping"]

COLD: Final = "cold"
RESTORE: Final = "restore"
PROVISIONED: Final = "provisioned"
WARM: Final = "warm"
WARM_PING: Final = "warm_ping"

ON_DEMAND: Final = "on-demand"
SNAP_START: Final = "snap-start"
PROVISIONED_CONCURRENCY: Final = "provisioned-concurrency"

#: Start kinds that a user paid for as a cold start (the ``ColdStart`` metric counts only these).
COLD_KINDS: Final = frozenset({COLD, RESTORE})


def normalise_init_type(raw: str | None) -> str:
    """The init type to report: ``on-demand`` when unset or empty, otherwise the value verbatim."""
    return raw if raw else ON_DEMAND


def classify_start(init_type: str | None, first_invocation: bool) -> StartKind:
    """Classify one (non-ping) invocation per the start-kind table."""
    if not first_invocation:
        return "warm"
    kind = normalise_init_type(init_type)
    if kind == SNAP_START:
        return "restore"
    if kind == PROVISIONED_CONCURRENCY:
        return "provisioned"
    return "cold"


def is_cold(kind: str) -> bool:
    """True for the kinds a caller waited for (``cold``, ``restore``); never for pings."""
    return kind in COLD_KINDS


def _process_start_monotonic() -> float | None:
    """When this process started, on the ``time.monotonic`` clock (Linux only, else None).

    Read from /proc so that the init time includes the interpreter start and every import
    made before this module, which is what a cold start actually costs.
    """
    try:
        with open("/proc/self/stat", encoding="utf-8") as stat:  # utf-8 is loaded already; ascii is not
            fields = stat.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat(5), counted after "pid (comm)"
        with open("/proc/uptime", encoding="utf-8") as uptime_file:
            uptime = float(uptime_file.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    age = uptime - start_ticks / ticks
    if age < 0:
        return None
    return time.monotonic() - age


_IMPORTED_AT: Final = time.monotonic()


class _EnvironmentId:
    """``Environment.environment_id``: made at first use, then an ordinary instance attribute.

    A non-data descriptor, so that once the id is in the instance's ``__dict__`` every later read
    is a plain attribute look-up (it is read on every invocation), not a call; ``renew`` takes
    it out of the ``__dict__`` so that the next read makes a new one.
    """

    def __get__(self, instance: Environment | None, owner: type[Environment]) -> str:
        if instance is None:
            raise AttributeError("environment_id is made per Environment instance")
        with instance._lock:
            made: str | None = instance.__dict__.get("environment_id")
            if made is None:
                made = instance.__dict__["environment_id"] = os.urandom(8).hex()
        return made


class Environment:
    """What one execution environment knows about itself.

    The environment id is made lazily, at the first invocation, from ``os.urandom``: with
    SnapStart the module is imported before the snapshot, so an id made at import (or a
    seeded ``random``) would be shared by every environment restored from that snapshot.
    """

    def __init__(
        self,
        init_type: str | None = None,
        started_at: float | None = None,
        clock_source: str | None = None,
    ) -> None:
        self.init_type = normalise_init_type(
            init_type if init_type is not None else os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
        )
        if started_at is None:
            process_start = _process_start_monotonic()
            if process_start is not None and process_start <= _IMPORTED_AT:
                started_at, clock_source = process_start, "process"
            else:
                started_at, clock_source = _IMPORTED_AT, "import"
        self.started_at = started_at
        self.clock_source = clock_source or "given"
        self.ready_at: float | None = None
        self.invocations = 0
        self.init_ms: float | None = None
        #: How long the SnapStart priming took before the snapshot (``@warmable(prime=…)``), else None.
        self.primed_ms: float | None = None
        self._first_pending = True
        self._lock = allocate_lock()

    if TYPE_CHECKING:
        #: A random id made once per environment (after any SnapStart restore), at first use.
        environment_id: str
    else:
        environment_id = _EnvironmentId()

    def renew(self) -> None:
        """After a SnapStart restore: a new environment, whatever the snapshot's process had made or used.

        The id is made again at first use, and the next ordinary invocation is this environment's
        first (a priming that went through the handler had consumed the snapshot's).
        """
        with self._lock:
            self.__dict__.pop("environment_id", None)
            self._first_pending = True
            self.invocations = 0
            self.init_ms = None

    @property
    def state(self) -> StartKind:
        """What the next ordinary invocation would be classified as, without consuming it."""
        return classify_start(self.init_type, self._first_pending)

    def mark_ready(self, now: float | None = None) -> None:
        """Record the end of the handler's import (the decorator runs at import time)."""
        self.ready_at = time.monotonic() if now is None else now

    def begin(self, now: float, ping: bool) -> tuple[StartKind, StartKind]:
        """Start an invocation; return ``(kind, found_state)``.

        ``found_state`` is the state the invocation found (cold/restore/provisioned/warm);
        ``kind`` is the same, except that a ping is always ``warm_ping``. The first
        invocation, ping or not, ends the environment's cold state.
        """
        if not self._first_pending:
            # Warm: nothing left to decide, and once False only ``renew`` (under the lock, before
            # any invocation of the restored environment) sets it back; no lock on this path.
            self.invocations += 1
            return ("warm_ping" if ping else "warm"), "warm"
        with self._lock:
            first = self._first_pending
            self._first_pending = False
            self.invocations += 1
        found = classify_start(self.init_type, first)
        if first:
            self.init_ms = self._measure_init(found, now)
        return ("warm_ping" if ping else found), found

    def _measure_init(self, found: StartKind, now: float) -> float | None:
        if found == "restore":
            # The init ran when the version was published; Lambda reports the restore
            # duration itself. An in-process figure would mix snapshot and restore clocks.
            return None
        if found == "provisioned" and self.ready_at is not None:
            # Pre-initialised long before the first request: stop at the end of import.
            end = self.ready_at
        else:
            end = now
        return round(max(0.0, end - self.started_at) * 1000.0, 3)
