"""Auto targets in a round: read each one's concurrency history (cached per container), then size N.

The round calls :meth:`AutoSizer.inputs` for every auto target, concurrently with the function
look-ups, and :func:`decide` once the function's facts (its reserved concurrency) are known.

Reads are bounded: a target's history (and its cold-start feedback) is read at most once per
``ttl_ms`` (an hour by default: the sizing works on hourly peaks, so a fresher read changes little)
and the cache holds at most ``max_entries`` targets, least recently used first out. With 1,000
auto targets and a round every 5 minutes that is 1,000 reads an hour, not 12,000. A failed read
is remembered for a shorter time (``retry_ms``), so that a broken source is not hammered either.

A read asks the history only for the windows the sizing looks at (:meth:`AutoSizer.windows`):
this hour of the week and the next in each of the last weeks, and the last hour and this one so
far — one call per window.

Feedback (fleet truth): real requests that still started cold in the last window (the previous
hour and this one so far) while the target was warmed (it has a previous decision) step N up once
per read; the later rounds of the same read keep the stepped-up N (``floor``) instead of stepping
again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock

from domain.errors import ThermostatError, Unavailable
from domain.keep_warm.sizing import (
    DEFAULT_WEEKS,
    HOUR_MS,
    WEEK_MS,
    ColdFeedback,
    ConcurrencyHistory,
    ConcurrencySample,
    SizingDecision,
    choose_concurrency,
)
from domain.targets import Target

DEFAULT_TTL_MS = HOUR_MS
DEFAULT_RETRY_MS = 5 * 60_000
DEFAULT_MAX_ENTRIES = 4_096


@dataclass(frozen=True)
class AutoInputs:
    """What one read gave for one auto target: its history, and its cold real requests (feedback)."""

    samples: tuple[ConcurrencySample, ...]
    #: When it was read (epoch ms): a decision made before this has not seen the feedback yet.
    read_at_ms: int
    #: Real requests that started cold in the feedback window (None: no feedback source, or not warmed yet).
    cold_while_warmed: int | None = None
    #: Why the feedback is missing, when it could not be read.
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class _Entry:
    value: AutoInputs | ThermostatError
    until_ms: int


class AutoSizer:
    """The container's history reads for auto targets, cached and bounded (see the module docstring)."""

    def __init__(
        self,
        history: ConcurrencyHistory,
        now_ms: Callable[[], int],
        *,
        feedback: ColdFeedback | None = None,
        ttl_ms: int = DEFAULT_TTL_MS,
        retry_ms: int = DEFAULT_RETRY_MS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        weeks: int = DEFAULT_WEEKS,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.history = history
        self.feedback = feedback
        self.now_ms = now_ms
        self.ttl_ms = max(0, ttl_ms)
        self.retry_ms = max(0, min(retry_ms, ttl_ms))
        self.max_entries = max_entries
        self.weeks = weeks
        self.reads = 0
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = Lock()

    def inputs(self, target: Target) -> AutoInputs:
        """``target``'s history and feedback, from the cache when read less than ``ttl_ms`` ago.

        Raises the read's ``ThermostatError`` (cached for ``retry_ms``); never anything else.
        """
        key = (target.function, target.qualifier)
        now = self.now_ms()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now < entry.until_ms:
                self._entries.move_to_end(key)
                value = entry.value
                if isinstance(value, ThermostatError):
                    raise value
                return value
        value = self._read(target, now)
        with self._lock:
            ttl = self.retry_ms if isinstance(value, ThermostatError) else self.ttl_ms
            self._entries[key] = _Entry(value, now + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        if isinstance(value, ThermostatError):
            raise value
        return value

    def forget(self) -> None:
        """Drop every cached read (tests; a changed source)."""
        with self._lock:
            self._entries.clear()

    def windows(self, now: int) -> list[tuple[int, int]]:
        """The ``[start, end)`` windows a read asks the history for: this hour of the week and the next
        in each past week (oldest first), then the last hour and this one so far (what the sizing
        looks at, and nothing else: a platform-records read scans 10 hours, not 4 weeks)."""
        hour = now - now % HOUR_MS
        past = [(hour - k * WEEK_MS, hour - k * WEEK_MS + 2 * HOUR_MS) for k in range(self.weeks, 0, -1)]
        return [*past, (hour - HOUR_MS, now + 1)]

    def _read(self, target: Target, now: int) -> AutoInputs | ThermostatError:
        self.reads += 1
        name = target.function_name
        windows = self.windows(now)
        try:
            samples = tuple(
                sample for start, end in windows for sample in self.history.peaks(name, target.qualifier, start, end)
            )
        except ThermostatError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - an adapter bug falls back like a failed read
            return Unavailable(f"{type(exc).__name__}: {exc}")
        cold: int | None = None
        notes: list[str] = []
        if self.feedback is not None and target.auto_n is not None:
            # The last window again (the platform source answers it from the read it just made).
            start, end = windows[-1]
            try:
                cold = self.feedback.cold_requests(name, target.qualifier, start, end)
            except Exception as exc:  # noqa: BLE001 - feedback is a refinement: its failure is noted, not fatal
                notes.append(f"no feedback: {exc}")
        return AutoInputs(samples=samples, read_at_ms=now, cold_while_warmed=cold, notes=tuple(notes))


def decide(
    target: Target,
    inputs: AutoInputs | ThermostatError | None,
    now_ms: int,
    *,
    cap: int | None,
    weeks: int = DEFAULT_WEEKS,
) -> tuple[SizingDecision, bool]:
    """The round's N for auto ``target`` and whether it is a fallback (the history could not be read).

    ``inputs`` None: no sizing source (or the read did not finish in time). A fallback keeps the
    previous N (else min), within the bounds and ``cap``, and says why.
    """
    low, high = target.bounds
    previous = target.auto_n
    if not isinstance(inputs, AutoInputs):
        why = "no concurrency history source" if inputs is None else f"history unavailable ({inputs})"
        n = target.planned_concurrency
        kept = f"kept the previous N {n}" if previous is not None else f"min {n}"
        reason = f"{why}: {kept}"
        adjustments: list[str] = []
        if cap is not None and n > cap:
            n = max(0, cap)
            adjustments.append(f"cap {cap}")
            reason += f"; cap {cap}"
        return SizingDecision(n=n, reason=reason, adjustments=tuple(adjustments)), True
    cold = inputs.cold_while_warmed or 0
    # The evidence of one read steps N up once: a decision made after the read has used it.
    fresh = target.auto_at_ms is None or target.auto_at_ms < inputs.read_at_ms
    decision = choose_concurrency(
        inputs.samples,
        now_ms,
        minimum=low,
        maximum=high,
        cap=cap,
        previous=previous,
        cold_while_warmed=cold if fresh else 0,
        weeks=weeks,
        floor=previous if cold and not fresh else None,
    )
    if inputs.notes:
        decision = SizingDecision(
            n=decision.n,
            reason=decision.reason + "; " + "; ".join(inputs.notes),
            weekly_peaks=decision.weekly_peaks,
            quantile=decision.quantile,
            observed=decision.observed,
            source=decision.source,
            adjustments=decision.adjustments,
        )
    return decision, False


class FirstWithData:
    """A :class:`ConcurrencyHistory` that asks ``primary`` first and ``fallback``
    (the platform records) when the primary has no data (``[]``) or cannot be read."""

    def __init__(self, primary: ConcurrencyHistory, fallback: ConcurrencyHistory) -> None:
        self.primary = primary
        self.fallback = fallback

    def peaks(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int = 3600
    ) -> list[ConcurrencySample]:
        """The primary's peaks, else the fallback's; ``Unavailable`` naming both when neither answers."""
        try:
            found = self.primary.peaks(function, qualifier, start_ms, end_ms, period_s)
        except ThermostatError as first:
            try:
                return self.fallback.peaks(function, qualifier, start_ms, end_ms, period_s)
            except ThermostatError as second:
                raise Unavailable(f"{first}; and the fallback: {second}") from second
        if found:
            return found
        return self.fallback.peaks(function, qualifier, start_ms, end_ms, period_s)
