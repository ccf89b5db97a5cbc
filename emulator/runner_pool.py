"""The execution-environment pool of the local runner: reuse, concurrency limits, reaping, provisioning.

Rules, as Lambda applies them:

* An invocation takes an idle environment of its exact configuration (function, version, and
  for ``$LATEST`` the revision), provisioned ones first, then the most recently used; if none is
  idle, a new one starts (a cold start).
* In-flight invocations are capped per function (reserved concurrency → 429 with reason
  ``ReservedFunctionConcurrentInvocationLimitExceeded``) and account-wide (``ConcurrentInvocationLimitExceeded``).
* Idle on-demand environments are reaped after ``idle_timeout_s``; provisioned ones stay.
* The number of live processes is bounded: at the cap, the least recently used idle environment
  is evicted to make room, and when every one is busy the invocation is throttled.

An environment leaves the pool's list only once its process is gone: a stopped one is first
moved aside (state ``stopping``, out of every rule), killed outside the lock, and only then
forgotten, so whoever sees a pid in :meth:`EnvironmentPool.describe` may rely on it, and an empty
list means no process is left.

The pool works on the :class:`PooledEnvironment` protocol, so its rules are tested with fakes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from domain.errors import Unavailable
from emulator.runner_env import ON_DEMAND, PROVISIONED, SNAP_START, State, WorkerReply
from emulator.runner_model import LATEST, Throttled, VersionConfig


class PooledEnvironment(Protocol):
    """What the pool needs of an execution environment (``runner_env.ExecutionEnvironment``)."""

    config: VersionConfig
    init_type: str
    provisioned: bool
    state: State
    last_used: float
    retired: bool

    def start(self, init_timeout_s: float) -> WorkerReply:
        """Run the init phase."""
        ...

    def kill(self) -> None:
        """Stop the process for good."""
        ...

    def describe(self) -> dict[str, Any]:
        """A plain description."""
        ...


Spawner = Callable[[VersionConfig, str, bool], PooledEnvironment]


def init_type_for(config: VersionConfig, provisioned: bool) -> str:
    """``AWS_LAMBDA_INITIALIZATION_TYPE`` for a new environment of ``config``.

    SnapStart applies to published versions only, as in Lambda: ``$LATEST`` starts on demand.
    """
    if provisioned:
        return PROVISIONED
    if config.spec.snap_start and config.version != LATEST:
        return SNAP_START
    return ON_DEMAND


def _key(config: VersionConfig) -> tuple[str, str, str]:
    return (config.function, config.version, config.revision_id)


@dataclass(frozen=True)
class Lease:
    """An environment taken for one invocation; ``init`` is the init phase's reply on a cold start."""

    environment: PooledEnvironment
    init: WorkerReply | None

    @property
    def cold(self) -> bool:
        """True when this invocation started the environment."""
        return self.init is not None


class EnvironmentPool:
    """Every live environment of the runner, and the rules that pick, start and stop them."""

    def __init__(
        self,
        spawn: Spawner,
        *,
        clock: Callable[[], float],
        idle_timeout_s: float,
        account_concurrency: int,
        max_environments: int,
        init_timeout_s: float,
    ) -> None:
        self._spawn = spawn
        self._clock = clock
        self.idle_timeout_s = idle_timeout_s
        self.account_concurrency = account_concurrency
        self.max_environments = max_environments
        self.init_timeout_s = init_timeout_s
        self._lock = threading.Lock()
        self._environments: list[PooledEnvironment] = []
        #: detached from every rule, their processes being killed; listed until they are gone
        self._stopping: list[PooledEnvironment] = []
        self._in_flight: dict[str, int] = {}
        self._total_in_flight = 0
        self._provision_errors: dict[tuple[str, str], dict[str, Any]] = {}
        self._closed = False

    # -- invocations -----------------------------------------------------------------------------

    def acquire(self, config: VersionConfig, reserved: int | None, admitted: Callable[[], None] | None = None) -> Lease:
        """Take an environment for one invocation of ``config`` (starting one if none is idle).

        Raises :class:`Throttled` above reserved or account concurrency. On a cold start whose init
        failed, the lease carries the failed reply and the environment is already gone; the caller
        still calls :meth:`release`. ``admitted`` is called once the invocation counts against the
        concurrency (before a cold start's init runs), as Lambda counts it.
        """
        victim: PooledEnvironment | None = None
        with self._lock:
            if self._closed:
                raise Unavailable("the local Lambda runner is stopping")
            function = config.function
            if reserved is not None and self._in_flight.get(function, 0) >= reserved:
                raise Throttled(Throttled.RESERVED)
            if self._total_in_flight >= self.account_concurrency:
                raise Throttled(Throttled.ACCOUNT)
            environment = self._take_idle(config)
            if environment is None:
                if len(self._environments) >= self.max_environments:
                    victim = self._least_recently_used_idle()
                    if victim is None:
                        raise Throttled(Throttled.ACCOUNT)
                    self._detach(victim)
                environment = self._spawn(config, init_type_for(config, provisioned=False), False)
                self._environments.append(environment)
                cold = True
            else:
                cold = False
            self._in_flight[function] = self._in_flight.get(function, 0) + 1
            self._total_in_flight += 1
        if admitted is not None:
            admitted()
        if victim is not None:
            self._stop([victim])
        if not cold:
            return Lease(environment, None)
        reply = environment.start(self.init_timeout_s)
        with self._lock:
            if reply.ok and not environment.retired and not self._closed:
                environment.state = "busy"
            elif not reply.ok:
                self._forget(environment)  # a failed init already reaped its process
            # else: ready but retired or closed meanwhile; release() stops it
        return Lease(environment, reply)

    def release(self, lease: Lease) -> None:
        """Return an environment after its invocation: idle again, or killed when dead or retired."""
        environment = lease.environment
        doomed = False
        with self._lock:
            function = environment.config.function
            self._in_flight[function] = max(0, self._in_flight.get(function, 0) - 1)
            self._total_in_flight = max(0, self._total_in_flight - 1)
            environment.last_used = self._clock()
            if environment.state == "dead" or environment.retired or self._closed:
                doomed = True
                self._detach(environment)
            else:
                environment.state = "idle"
        if doomed:
            self._stop([environment])

    def _take_idle(self, config: VersionConfig) -> PooledEnvironment | None:
        key = _key(config)
        idle = [env for env in self._environments if env.state == "idle" and _key(env.config) == key]
        if not idle:
            return None
        # Provisioned first (that is what they are for), then the most recently used.
        chosen = max(idle, key=lambda env: (env.provisioned, env.last_used))
        chosen.state = "busy"
        return chosen

    def _least_recently_used_idle(self) -> PooledEnvironment | None:
        idle = [env for env in self._environments if env.state == "idle" and not env.provisioned]
        return min(idle, key=lambda env: env.last_used) if idle else None

    def _detach(self, environment: PooledEnvironment) -> None:
        """Take ``environment`` out of every rule (under the lock); it stays listed until :meth:`_stop`."""
        if environment in self._environments:
            self._environments.remove(environment)
        if environment not in self._stopping:
            self._stopping.append(environment)
        if environment.state != "dead":
            environment.state = "stopping"

    def _forget(self, environment: PooledEnvironment) -> None:
        if environment in self._environments:
            self._environments.remove(environment)
        if environment in self._stopping:
            self._stopping.remove(environment)

    def _stop(self, doomed: Iterable[PooledEnvironment]) -> None:
        """Kill detached environments (outside the lock: reaping a process takes time), then forget them."""
        doomed = list(doomed)
        for environment in doomed:
            environment.kill()
        with self._lock:
            for environment in doomed:
                self._forget(environment)

    # -- housekeeping ----------------------------------------------------------------------------

    def reap(self) -> int:
        """Kill idle on-demand environments unused for ``idle_timeout_s``; return how many."""
        now = self._clock()
        with self._lock:
            expired = [
                env
                for env in self._environments
                if env.state == "idle" and not env.provisioned and now - env.last_used >= self.idle_timeout_s
            ]
            for env in expired:
                self._detach(env)
        self._stop(expired)
        return len(expired)

    def retire(self, predicate: Callable[[PooledEnvironment], bool]) -> None:
        """Stop matching environments: idle ones now, busy ones when their invocation ends."""
        doomed: list[PooledEnvironment] = []
        with self._lock:
            for env in list(self._environments):
                if predicate(env):
                    env.retired = True
                    if env.state == "idle":
                        self._detach(env)
                        doomed.append(env)
        self._stop(doomed)

    def close(self) -> None:
        """Kill every environment, busy ones included; later acquisitions fail."""
        with self._lock:
            self._closed = True
            doomed = list(self._environments)
            for env in doomed:
                self._detach(env)
        self._stop(doomed)

    def describe(self, predicate: Callable[[PooledEnvironment], bool] | None = None) -> list[dict[str, Any]]:
        """Descriptions of the environments matching ``predicate`` whose process may still run.

        Those being stopped come last, with state ``stopping`` (or ``dead``); an environment is
        listed until its process is reaped.
        """
        with self._lock:
            listed = [*self._environments, *self._stopping]
            chosen = [env for env in listed if predicate is None or predicate(env)]
        return [env.describe() for env in chosen]

    def in_flight(self, function: str | None = None) -> int:
        """In-flight invocations of ``function`` (or of every function)."""
        with self._lock:
            return self._total_in_flight if function is None else self._in_flight.get(function, 0)

    # -- provisioned concurrency -----------------------------------------------------------------

    def provision(self, function: str, targets: Mapping[str, tuple[VersionConfig, int]]) -> list[WorkerReply]:
        """Bring ``function``'s provisioned environments to ``targets[version] = (config, count)``.

        Versions absent from ``targets`` keep none. Missing environments are started in parallel
        and this call returns when their init phases ended; extra ones are retired (idle ones
        now, busy ones after their invocation). Init failures are kept for :meth:`provision_status`.
        The process cap holds: idle on-demand environments are evicted to make room, and past
        that fewer environments start than asked.
        """
        starting: list[PooledEnvironment] = []
        doomed: list[PooledEnvironment] = []
        with self._lock:
            if self._closed:
                raise Unavailable("the local Lambda runner is stopping")
            current: dict[str, list[PooledEnvironment]] = {}
            for env in self._environments:
                if env.provisioned and not env.retired and env.config.function == function:
                    current.setdefault(env.config.version, []).append(env)
            for version in set(current) | set(targets):
                have = current.get(version, [])
                config, count = targets.get(version, (None, 0))
                excess = len(have) - count
                # Retire idle ones first; busy ones finish their invocation, then go.
                for env in sorted(have, key=lambda env: env.state != "idle")[: max(0, excess)]:
                    env.retired = True
                    if env.state == "idle":
                        self._detach(env)
                        doomed.append(env)
                if config is not None and excess < 0:
                    self._provision_errors.pop((function, version), None)
                    for _ in range(-excess):
                        if len(self._environments) >= self.max_environments:
                            # At the process cap: make room from idle on-demand ones, else stop
                            # short (the status stays IN_PROGRESS, as a capacity shortage would).
                            victim = self._least_recently_used_idle()
                            if victim is None:
                                break
                            self._detach(victim)
                            doomed.append(victim)
                        env = self._spawn(config, init_type_for(config, provisioned=True), True)
                        self._environments.append(env)
                        starting.append(env)
        self._stop(doomed)
        replies: list[WorkerReply | None] = [None] * len(starting)

        def run(index: int, env: PooledEnvironment) -> None:
            replies[index] = env.start(self.init_timeout_s)

        threads = [
            threading.Thread(target=run, args=(i, env), name="lambda-runner-provision", daemon=True)
            for i, env in enumerate(starting)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done: list[WorkerReply] = []
        unwanted: list[PooledEnvironment] = []
        with self._lock:
            for env, reply in zip(starting, replies, strict=True):
                assert reply is not None
                done.append(reply)
                if reply.ok and not env.retired and not self._closed:
                    env.state = "idle"
                    env.last_used = self._clock()
                else:
                    self._detach(env)
                    unwanted.append(env)
                    if not reply.ok and reply.error is not None:
                        self._provision_errors[(function, env.config.version)] = reply.error
        self._stop(unwanted)
        return done

    def provision_status(self, function: str, version: str) -> tuple[int, int, dict[str, Any] | None]:
        """``(ready, starting, last_init_error)`` of ``function:version``'s provisioned environments."""
        with self._lock:
            mine = [
                env
                for env in self._environments
                if env.provisioned
                and not env.retired
                and env.config.function == function
                and env.config.version == version
            ]
            ready = sum(1 for env in mine if env.state in ("idle", "busy"))
            return ready, len(mine) - ready, self._provision_errors.get((function, version))


def matching(function: str | None = None, versions: Iterable[str] | None = None) -> Callable[[PooledEnvironment], bool]:
    """A predicate on environments by function name and versions."""
    wanted = set(versions) if versions is not None else None

    def predicate(env: PooledEnvironment) -> bool:
        if function is not None and env.config.function != function:
            return False
        return wanted is None or env.config.version in wanted

    return predicate
