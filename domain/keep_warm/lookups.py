"""Look-ups within AWS's quotas: function facts cached across rounds, fetched through a token bucket.

A round needs each target's timeout, reserved and provisioned concurrency: three control-plane
reads (``GetFunctionConfiguration``, ``GetFunctionConcurrency``, ``GetProvisionedConcurrencyConfig``).
All three count against one account-wide Lambda quota, "control plane API requests (excludes
invocation, GetFunction, and GetPolicy requests)": 15 requests per second, which cannot be raised
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests). Every
deploy tool of the account shares it. Reading 1,000 targets every round would be throttled, and a
throttled read taken for "no reserved, no provisioned concurrency" pings in the unsafe direction.

So :class:`FactsCache` (one per container) keeps each target's facts for ``ttl_s`` and forgets a
function's facts when a configuration-change event names it (:meth:`FactsCache.invalidate`), and
every fetch first takes :data:`LOOKUPS_PER_FETCH` tokens from a :class:`TokenBucket`. A fetch that
gets no tokens in time (before the round's look-up deadline), or that AWS throttles, keeps the
cached facts when there are some (stale, with a note), and otherwise answers facts marked
``deferred``: the round pings that target cautiously (``RoundPolicy.cautious_pings``) and says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from domain.deadline import Clock
from domain.errors import NotFound, ThermostatError, Throttled
from domain.keep_warm.ports import FunctionFacts, LambdaConfig
from thermostat_runtime.names import parse_function_ref

#: Reads one fetch may make (configuration, reserved and provisioned concurrency): charged up front.
LOOKUPS_PER_FETCH = 3
#: Defaults: a third of the 15/s account quota (deploys and other tools share it), a burst of one
#: fetch's worth, facts kept 10 minutes, and at most 20 s of a round spent waiting for tokens.
DEFAULT_RATE = 5.0
DEFAULT_BURST = 6
DEFAULT_TTL_S = 600.0
DEFAULT_WAIT_S = 20.0
#: Why a target's facts are missing (``FunctionFacts.deferred``): no token in time, or AWS throttled.
RATE_LIMITED = "rate limit"
THROTTLED = "throttled"


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; a token is reserved, then waited for.

    Reservations are counted at once (the balance may go below zero), so however the callers
    sleep, the tokens granted by instant ``t`` never exceed ``burst + rate * (t - start)``.
    """

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()
        #: tokens handed out so far (what the tests compare with the bound)
        self.granted = 0

    def reserve(self, tokens: int, until: float) -> float | None:
        """Take ``tokens``: the clock instant from which they may be spent (now, or later), or None,
        with nothing taken, when they are not there now and would come after ``until``."""
        with self._lock:
            now = self._clock()
            if now > self._updated:
                self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
                self._updated = now
            short = tokens - self._tokens
            at = now if short <= 0 else now + short / self.rate
            if short > 0 and at > until:
                return None
            self._tokens -= tokens
            self.granted += tokens
            return at


@dataclass(frozen=True)
class _Entry:
    facts: FunctionFacts
    fetched_at: float


def function_name_of(function: str) -> str:
    """The bare function name of a name, a ``NAME:QUALIFIER``, a partial or a full ARN."""
    ref = parse_function_ref(function)
    return ref.name if ref is not None else function


class FactsCache:
    """Function facts per (function, qualifier), shared by the rounds of one container.

    Thread-safe: a round looks its targets up concurrently.
    """

    def __init__(
        self,
        bucket: TokenBucket,
        clock: Clock,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.bucket = bucket
        self.ttl_s = ttl_s
        self._clock = clock
        self._sleep = sleep
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def invalidate(self, function: str) -> int:
        """Forget every qualifier's facts of ``function`` (any form of its name); how many were forgotten."""
        name = function_name_of(function)
        with self._lock:
            keys = [key for key in self._entries if function_name_of(key[0]) == name]
            for key in keys:
                del self._entries[key]
        return len(keys)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def cached(self, function: str, qualifier: str) -> FunctionFacts | None:
        """The facts held for ``function:qualifier`` (fresh or not), or None."""
        entry = self._entries.get((function, qualifier))
        return entry.facts if entry is not None else None

    def for_round(self, source: LambdaConfig, wait_s: float = DEFAULT_WAIT_S) -> RoundLookups:
        """The :class:`LambdaConfig` a round uses: this cache over ``source``, waiting at most
        ``wait_s`` from now for look-up tokens."""
        return RoundLookups(self, source, self._clock() + wait_s)

    # -- used by RoundLookups

    def _fresh(self, key: tuple[str, str]) -> tuple[FunctionFacts | None, float | None]:
        entry = self._entries.get(key)
        if entry is None:
            return None, None
        age = self._clock() - entry.fetched_at
        return entry.facts, age if age >= self.ttl_s else None

    def _drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _store(self, key: tuple[str, str], facts: FunctionFacts) -> None:
        with self._lock:
            self._entries[key] = _Entry(facts, self._clock())

    def _wait_until(self, at: float) -> None:
        delay = at - self._clock()
        if delay > 0 and self._sleep is not None:
            self._sleep(delay)


class RoundLookups:
    """One round's view of a :class:`FactsCache` (the round's :class:`LambdaConfig`)."""

    def __init__(self, cache: FactsCache, source: LambdaConfig, until: float) -> None:
        self._cache = cache
        self._source = source
        self._until = until
        self._lock = threading.Lock()
        #: fetches made, kept from the cache, deferred (no tokens in time or throttled, nothing cached)
        self.fetched = 0
        self.reused = 0
        self.deferred = 0

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + 1)

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        """Cached facts while fresh; else fetched through the bucket; else the stale ones or deferred facts."""
        key = (function, qualifier)
        held, age = self._cache._fresh(key)
        if held is not None and age is None:
            self._count("reused")
            return held
        at = self._cache.bucket.reserve(LOOKUPS_PER_FETCH, self._until)
        if at is None:
            why = f"the look-up rate limit ({self._cache.bucket.rate:g}/s) left no room in this round"
            return self._without(held, age, why, RATE_LIMITED)
        self._cache._wait_until(at)
        try:
            facts = self._source.describe(function, qualifier)
        except Throttled as exc:
            return self._without(held, age, f"AWS throttled the look-up ({exc})", THROTTLED)
        except NotFound:
            self._cache._drop(key)
            raise
        except ThermostatError:
            if held is not None:  # a refusal or an outage: the last known facts beat none
                return self._stale(held, age, "the look-up failed")
            raise
        if facts.throttled:
            if held is not None:
                return self._stale(held, age, f"AWS throttled {', '.join(facts.throttled)}")
            self._count("fetched")
            return facts.model_copy(update={"deferred": facts.throttled})
        self._cache._store(key, facts)
        self._count("fetched")
        return facts

    def _stale(self, held: FunctionFacts, age: float | None, why: str) -> FunctionFacts:
        self._count("reused")
        aged = f"{age:.0f} s old" if age is not None else "cached"
        return held.model_copy(update={"notes": (*held.notes, f"{why}: kept the facts read before ({aged})")})

    def _without(self, held: FunctionFacts | None, age: float | None, why: str, reason: str) -> FunctionFacts:
        if held is not None:
            return self._stale(held, age, why)
        self._count("deferred")
        return FunctionFacts(notes=(f"{why}, and nothing is cached",), deferred=(reason,))
