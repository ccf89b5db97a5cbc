"""The environment pool's rules, with fake environments and a fake clock (no processes, no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import Unavailable
from emulator.runner_env import WorkerReply
from emulator.runner_model import LATEST, FunctionSpec, Throttled, VersionConfig
from emulator.runner_pool import EnvironmentPool, Lease, init_type_for, matching
from tests.fakes import ManualClock

pytestmark = pytest.mark.unit


class FakeEnvironment:
    def __init__(self, config: VersionConfig, init_type: str, provisioned: bool, fail: bool) -> None:
        self.config = config
        self.init_type = init_type
        self.provisioned = provisioned
        self.state = "starting"
        self.last_used = 0.0
        self.retired = False
        self.killed = False
        self.fail = fail

    def start(self, init_timeout_s: float) -> WorkerReply:
        if self.fail:
            self.state = "dead"
            return WorkerReply("init_error", error={"errorType": "RuntimeError", "errorMessage": "broken"})
        return WorkerReply("ready")

    def kill(self) -> None:
        self.killed = True
        self.state = "dead"

    def describe(self) -> dict[str, Any]:
        return {"version": self.config.version, "state": self.state, "provisioned": self.provisioned}


def config(
    function: str = "fn", version: str = LATEST, revision: str = "r1", snap_start: bool = False
) -> VersionConfig:
    spec = FunctionSpec(name=function, handler="mod.handler", snap_start=snap_start)
    return VersionConfig(function=function, version=version, spec=spec, revision_id=revision, last_modified="")


class Harness:
    def __init__(self, **options: Any) -> None:
        self.clock = ManualClock()
        self.spawned: list[FakeEnvironment] = []
        self.failing = False
        settings: dict[str, Any] = {
            "idle_timeout_s": 10.0,
            "account_concurrency": 100,
            "max_environments": 200,
            "init_timeout_s": 5.0,
            **options,
        }
        self.pool = EnvironmentPool(self.spawn, clock=self.clock, **settings)

    def spawn(self, config: VersionConfig, init_type: str, provisioned: bool) -> FakeEnvironment:
        env = FakeEnvironment(config, init_type, provisioned, self.failing)
        self.spawned.append(env)
        return env

    def run(self, cfg: VersionConfig, at: float, reserved: int | None = None) -> FakeEnvironment:
        """One whole invocation finishing at ``at``."""
        lease = self.pool.acquire(cfg, reserved)
        self.clock.now = at
        self.pool.release(lease)
        env = lease.environment
        assert isinstance(env, FakeEnvironment)
        return env


def test_a_second_invocation_reuses_the_idle_environment() -> None:
    harness = Harness()

    first = harness.run(config(), at=1.0)
    second = harness.run(config(), at=2.0)

    assert first is second
    assert len(harness.spawned) == 1
    assert first.state == "idle"


def test_the_most_recently_used_idle_environment_is_taken_first() -> None:
    # Given two environments released at different times
    harness = Harness()
    a = harness.pool.acquire(config(), None)
    b = harness.pool.acquire(config(), None)
    harness.clock.now = 1.0
    harness.pool.release(a)
    harness.clock.now = 2.0
    harness.pool.release(b)

    # When an invocation comes
    lease = harness.pool.acquire(config(), None)

    # Then it gets the one released last
    assert lease.environment is b.environment
    assert not lease.cold


def test_provisioned_environments_are_taken_before_on_demand_ones() -> None:
    # Given an idle provisioned environment and a more recently used on-demand one
    harness = Harness()
    published = config(version="1")
    harness.pool.provision("fn", {"1": (published, 1)})
    provisioned = harness.pool.acquire(published, None)
    on_demand = harness.pool.acquire(published, None)
    assert (provisioned.environment.provisioned, on_demand.environment.provisioned) == (True, False)
    harness.clock.now = 1.0
    harness.pool.release(provisioned)
    harness.clock.now = 2.0
    harness.pool.release(on_demand)

    # When an invocation comes
    lease = harness.pool.acquire(published, None)

    # Then the provisioned one serves it
    assert lease.environment is provisioned.environment


def test_each_revision_of_latest_has_its_own_environments() -> None:
    harness = Harness()

    old = harness.run(config(revision="r1"), at=1.0)
    new = harness.run(config(revision="r2"), at=2.0)

    assert old is not new


def test_reserved_concurrency_throttles_with_its_reason_and_counts_nothing() -> None:
    # Given reserved concurrency 1 and one invocation in flight
    harness = Harness()
    lease = harness.pool.acquire(config(), reserved=1)

    # When a second one comes
    with pytest.raises(Throttled) as caught:
        harness.pool.acquire(config(), reserved=1)

    # Then it is throttled with the reserved reason, and the in-flight count is untouched
    assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert harness.pool.in_flight("fn") == 1
    assert len(harness.spawned) == 1
    harness.pool.release(lease)
    assert harness.pool.in_flight("fn") == 0
    harness.run(config(), at=1.0, reserved=1)


def test_reserved_zero_throttles_everything() -> None:
    harness = Harness()

    with pytest.raises(Throttled):
        harness.pool.acquire(config(), reserved=0)

    assert harness.spawned == []


def test_account_concurrency_throttles_across_functions() -> None:
    harness = Harness(account_concurrency=2)
    harness.pool.acquire(config("a"), None)
    harness.pool.acquire(config("b"), None)

    with pytest.raises(Throttled) as caught:
        harness.pool.acquire(config("c"), None)

    assert caught.value.reason == "ConcurrentInvocationLimitExceeded"
    assert harness.pool.in_flight() == 2


def test_idle_environments_are_reaped_after_the_idle_timeout_but_not_before() -> None:
    harness = Harness(idle_timeout_s=10.0)
    env = harness.run(config(), at=1.0)

    harness.clock.now = 10.9
    assert harness.pool.reap() == 0
    assert not env.killed

    harness.clock.now = 11.0
    assert harness.pool.reap() == 1
    assert env.killed
    assert harness.pool.describe() == []


def test_a_reaped_environment_stays_listed_until_its_process_is_gone() -> None:
    # Given an idle environment past its idle timeout, whose kill records what the pool lists meanwhile
    harness = Harness(idle_timeout_s=1.0)
    env = harness.run(config(), at=0.0)
    listed_during_kill: list[list[dict[str, Any]]] = []
    original_kill = env.kill

    def kill() -> None:
        listed_during_kill.append(harness.pool.describe())
        original_kill()

    env.kill = kill  # type: ignore[method-assign]
    harness.clock.now = 5.0

    # When the reaper runs
    assert harness.pool.reap() == 1

    # Then while its process was being killed it was still listed (out of every rule), and only after
    assert listed_during_kill == [[{"version": LATEST, "state": "stopping", "provisioned": False}]]
    assert harness.pool.describe() == []
    assert harness.pool.acquire(config(), None).cold


def test_provisioned_and_busy_environments_are_never_reaped() -> None:
    harness = Harness(idle_timeout_s=1.0)
    harness.pool.provision("fn", {"1": (config(version="1"), 1)})
    busy = harness.pool.acquire(config(), None)

    harness.clock.now = 1000.0
    assert harness.pool.reap() == 0
    assert len(harness.pool.describe()) == 2
    harness.pool.release(busy)


def test_at_the_process_cap_the_least_recently_used_idle_environment_is_evicted() -> None:
    # Given two idle environments and a cap of two
    harness = Harness(max_environments=2)
    older = harness.pool.acquire(config("a"), None)
    newer = harness.pool.acquire(config("b"), None)
    harness.clock.now = 1.0
    harness.pool.release(older)
    harness.clock.now = 2.0
    harness.pool.release(newer)

    # When a third function needs an environment
    lease = harness.pool.acquire(config("c"), None)

    # Then the least recently used one made room
    assert older.environment.killed  # type: ignore[attr-defined]
    assert not newer.environment.killed  # type: ignore[attr-defined]
    assert len(harness.pool.describe()) == 2
    harness.pool.release(lease)


def test_at_the_process_cap_with_everything_busy_the_invocation_is_throttled() -> None:
    harness = Harness(max_environments=1)
    harness.pool.acquire(config("a"), None)

    with pytest.raises(Throttled) as caught:
        harness.pool.acquire(config("b"), None)

    assert caught.value.reason == "ConcurrentInvocationLimitExceeded"
    assert harness.pool.in_flight() == 1


def test_a_failed_init_leaves_no_environment_and_frees_its_slot() -> None:
    harness = Harness()
    harness.failing = True

    lease = harness.pool.acquire(config(), reserved=1)
    harness.pool.release(lease)

    assert lease.cold
    assert lease.init is not None
    assert not lease.init.ok
    assert harness.pool.describe() == []
    assert harness.pool.in_flight() == 0


def test_retire_kills_idle_environments_now_and_busy_ones_after_their_invocation() -> None:
    # Given one idle and one busy environment
    harness = Harness()
    first = harness.pool.acquire(config(), None)
    busy = harness.pool.acquire(config(), None)
    harness.pool.release(first)
    idle, running = first.environment, busy.environment
    assert isinstance(idle, FakeEnvironment)
    assert isinstance(running, FakeEnvironment)

    # When the function's environments are retired
    harness.pool.retire(matching("fn"))

    # Then the idle one is gone now, the busy one when its invocation ends
    assert idle.killed
    assert not running.killed
    harness.pool.release(busy)
    assert running.killed
    assert harness.pool.describe() == []


def test_provision_starts_missing_environments_and_retires_extra_ones() -> None:
    harness = Harness()
    published = config(version="1")

    replies = harness.pool.provision("fn", {"1": (published, 3)})
    assert [reply.ok for reply in replies] == [True, True, True]
    assert harness.pool.provision_status("fn", "1") == (3, 0, None)
    assert {env.init_type for env in harness.spawned} == {"provisioned-concurrency"}

    harness.pool.provision("fn", {"1": (published, 1)})
    assert harness.pool.provision_status("fn", "1") == (1, 0, None)
    assert sum(env.killed for env in harness.spawned) == 2

    harness.pool.provision("fn", {})
    assert harness.pool.describe() == []


def test_provision_failures_are_reported_in_the_status() -> None:
    harness = Harness()
    harness.failing = True

    [reply] = harness.pool.provision("fn", {"1": (config(version="1"), 1)})

    assert not reply.ok
    ready, starting, error = harness.pool.provision_status("fn", "1")
    assert (ready, starting) == (0, 0)
    assert error == {"errorType": "RuntimeError", "errorMessage": "broken"}


def test_close_kills_everything_and_refuses_new_work() -> None:
    harness = Harness()
    idle = harness.run(config(), at=1.0)
    busy = harness.pool.acquire(config("other"), None)

    harness.pool.close()

    assert idle.killed
    assert busy.environment.killed  # type: ignore[attr-defined]
    with pytest.raises(Unavailable):
        harness.pool.acquire(config(), None)
    harness.pool.release(busy)  # a late release after close is harmless
    assert harness.pool.in_flight() == 0


@pytest.mark.parametrize(
    ("version", "snap_start", "provisioned", "expected"),
    [
        (LATEST, False, False, "on-demand"),
        (LATEST, True, False, "on-demand"),
        ("3", True, False, "snap-start"),
        ("3", False, True, "provisioned-concurrency"),
        ("3", False, False, "on-demand"),
    ],
)
def test_init_type_for(version: str, snap_start: bool, provisioned: bool, expected: str) -> None:
    assert init_type_for(config(version=version, snap_start=snap_start), provisioned) == expected


def test_lease_is_cold_only_with_an_init_reply() -> None:
    env = FakeEnvironment(config(), "on-demand", False, False)
    assert Lease(env, WorkerReply("ready")).cold
    assert not Lease(env, None).cold


def test_provisioning_respects_the_process_cap() -> None:
    # Given a cap of three and one idle on-demand environment
    harness = Harness(max_environments=3)
    idle = harness.run(config("other"), at=1.0)

    # When four provisioned environments are asked for
    replies = harness.pool.provision("fn", {"1": (config(version="1"), 4)})

    # Then the idle one made room, and only as many started as the cap allows
    assert len(replies) == 3
    assert idle.killed
    assert harness.pool.provision_status("fn", "1") == (3, 0, None)
    assert len(harness.pool.describe()) == 3
