"""``@warmable(prime=…, after_restore=…)``: SnapStart hooks with the real ``snapshot_restore_py``.

The hooks are registered with the PyPI module ``snapshot-restore-py`` (https://github.com/aws/snapshot-restore-py)
and run here as Lambda's Python runtime runs them (awslambdaric's ``lambda_runtime_hooks_runner.py``:
before-snapshot hooks popped last-registered first, after-restore hooks in registration order).
The whole path through a real snapshot and forked restores is in
``tests/integration/test_lambda_runner_snapstart.py``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py

from thermostat_runtime import ThermostatWarning, build_request, warmable
from thermostat_runtime import wrapper as wrapper_module
from thermostat_runtime.snapstart import PrimingFailed
from thermostat_runtime.start import Environment
from thermostat_runtime.telemetry import Telemetry

pytestmark = pytest.mark.unit

LAYER = Path(__file__).resolve().parents[2] / "serverless" / "layer" / "python"


@pytest.fixture(autouse=True)
def empty_hook_registry() -> Iterator[None]:
    """The registry is module state: each test starts with none and leaves none."""
    before, after = snapshot_restore_py.get_before_snapshot(), snapshot_restore_py.get_after_restore()
    saved = (list(before), list(after))
    before.clear()
    after.clear()
    yield
    before[:] = saved[0]
    after[:] = saved[1]


def take_snapshot() -> None:
    hooks = snapshot_restore_py.get_before_snapshot()
    while hooks:
        function, args, kwargs = hooks.pop()
        function(*args, **kwargs)


def restore() -> None:
    for function, args, kwargs in snapshot_restore_py.get_after_restore():
        function(*args, **kwargs)


def snap_env() -> Environment:
    return Environment(init_type="snap-start", started_at=0.0)


def silent() -> Telemetry:
    lines: list[str] = []
    return Telemetry(sink=lines.append)


def business(event: Any, context: Any) -> str:
    return "business"


def test_prime_true_needs_a_probe() -> None:
    with pytest.raises(TypeError, match=r"prime=True\) primes with the probe: pass probe=fn too, or prime=fn"):
        warmable(prime=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prime": "yes"}, r"prime=\.\.\.\) takes True, False or a callable, got str"),
        ({"after_restore": 3}, r"after_restore=\.\.\.\) takes a callable, got int"),
    ],
)
def test_bad_priming_options_are_refused_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        warmable(**options)


def test_on_demand_registers_nothing() -> None:
    ran: list[str] = []
    env = Environment(init_type="on-demand", started_at=0.0)

    warmable(probe=lambda: ran.append("probe"), prime=True, after_restore=lambda: ran.append("after"), environment=env)(
        business
    )

    assert snapshot_restore_py.get_before_snapshot() == []
    assert snapshot_restore_py.get_after_restore() == []
    assert ran == []


@pytest.mark.parametrize("init_type", [None, "on-demand", "provisioned-concurrency"])
def test_nothing_of_snapstart_is_imported_unless_the_init_type_is_snap_start(init_type: str | None) -> None:
    # Given a fresh interpreter with the layer on its path, started as Lambda would start it
    script = textwrap.dedent(
        """
        import json, sys
        from thermostat_runtime import warmable

        @warmable(probe=lambda: True, prime=True, after_restore=lambda: None)
        def handler(event, context):
            return 1

        print(json.dumps([name in sys.modules for name in ("thermostat_runtime.snapstart", "snapshot_restore_py")]))
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_LAMBDA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(LAYER), *sys.path[1:]])  # snapshot_restore_py is importable
    if init_type is not None:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type

    # When a primed handler is decorated
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=60
    )

    # Then neither the SnapStart module nor the hook registry was imported
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, False]


def test_snap_start_imports_them_when_it_is() -> None:
    # The same interpreter, under snap-start: the control that makes the test above able to fail
    script = (
        "import json, sys\nfrom thermostat_runtime import warmable\n"
        "warmable(probe=lambda: True, prime=True)(lambda e, c: 1)\n"
        "print(json.dumps(['thermostat_runtime.snapstart' in sys.modules, 'snapshot_restore_py' in sys.modules]))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_LAMBDA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(LAYER), *sys.path[1:]])
    env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"

    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, True]


def test_prime_true_runs_the_probe_once_before_the_snapshot_and_not_at_decoration() -> None:
    # Given a primed handler of a snap-start environment
    calls: list[str] = []
    env = snap_env()
    warmable(probe=lambda: calls.append("probe"), prime=True, environment=env, telemetry=silent())(business)
    assert calls == []

    # When the runtime takes the snapshot
    take_snapshot()

    # Then the probe ran once, and how long it took is recorded
    assert calls == ["probe"]
    assert env.primed_ms is not None


def test_prime_with_a_callable_runs_it_instead_of_the_probe() -> None:
    calls: list[str] = []
    env = snap_env()
    warmable(
        probe=lambda: calls.append("probe"), prime=lambda: calls.append("prime"), environment=env, telemetry=silent()
    )(business)

    take_snapshot()

    assert calls == ["prime"]


def test_a_priming_that_returns_false_stops_the_snapshot() -> None:
    env = snap_env()
    warmable(probe=lambda: False, prime=True, environment=env, telemetry=silent())(business)

    with pytest.raises(PrimingFailed, match="returned False; no snapshot is taken"):
        take_snapshot()


def test_after_a_restore_the_environment_is_new_and_the_users_hook_runs_last() -> None:
    # Given a primed environment whose priming went through the handler (a warm ping) and made its id
    env = snap_env()
    seen: list[str] = []
    telemetry = silent()
    handler = warmable(
        probe=lambda: True,
        prime=lambda: handler(build_request("warm"), None),
        after_restore=lambda: seen.append(env.environment_id),
        environment=env,
        telemetry=telemetry,
    )(business)
    take_snapshot()
    id_in_snapshot = env.environment_id
    assert env.invocations == 1
    wrapper_module._synthetic_trace = "Root=1-00000000-000000000000000000000000;Sampled=0"
    random.seed(1234)
    expected_without_renewal = random.Random(1234).random()

    # When the runtime restores it
    restore()

    # Then it has a new id (which the user's hook already sees), its first invocation is a restore,
    # the synthetic trace id will be made again, and random was reseeded
    assert env.environment_id != id_in_snapshot
    assert seen == [env.environment_id]
    assert (env.state, env.invocations) == ("restore", 0)
    assert wrapper_module._synthetic_trace is None
    assert random.random() != expected_without_renewal
    reply = handler(build_request("warm"), None)
    assert reply["thermostat"]["start_kind"] == "restore"
    assert reply["thermostat"]["environment_id"] == env.environment_id


def test_two_handlers_on_one_environment_renew_it_once() -> None:
    env = snap_env()
    warmable(probe=lambda: True, prime=True, environment=env, telemetry=silent())(business)
    warmable(probe=lambda: True, prime=True, environment=env, telemetry=silent())(business)

    assert len(snapshot_restore_py.get_before_snapshot()) == 2
    assert len(snapshot_restore_py.get_after_restore()) == 1


def test_without_the_hook_module_it_warns_and_the_function_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a snap-start environment where snapshot_restore_py cannot be imported
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # type: ignore[arg-type]
    env = snap_env()

    # When a primed handler is decorated
    with pytest.warns(ThermostatWarning, match="cannot import snapshot_restore_py"):
        handler = warmable(probe=lambda: True, prime=True, environment=env, telemetry=silent())(business)

    # Then nothing was registered, and the handler answers
    monkeypatch.undo()
    assert snapshot_restore_py.get_before_snapshot() == []
    assert handler({"path": "/"}, None) == "business"
