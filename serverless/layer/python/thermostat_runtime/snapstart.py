"""SnapStart priming: ``@warmable(prime=…, after_restore=…)`` on a function initialised for a snapshot.

Imported only when ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``; a function started any other
way never loads this module nor ``snapshot_restore_py``.

Lambda's Python runtime (awslambdaric) runs the hooks of ``snapshot_restore_py`` (PyPI
``snapshot-restore-py``, shipped in Lambda's Python runtimes that support SnapStart): after the
handler's module is imported it calls every ``register_before_snapshot`` hook (last registered
first), takes the snapshot, and in each environment restored from it calls every
``register_after_restore`` hook (first registered first) before the first invocation.

* Before the snapshot: the priming work runs (the probe, or the callable given as ``prime``), so
  the connections it opens, the modules it imports and the caches it fills are in the snapshot.
* After each restore: what must be unique per environment is renewed — the environment id, the
  cold state (a priming that went through the handler consumed it), the synthetic trace id, and
  the state of ``random``'s module-level generator when ``random`` is loaded — and then the
  user's ``after_restore`` runs.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    from .start import Environment

#: The runtime's hook registry, as Lambda's Python runtime imports it.
HOOKS_MODULE: Final = "snapshot_restore_py"


class PrimingFailed(RuntimeError):
    """The priming work said the environment is not ready (it returned ``False``)."""


#: Environments whose renewal is already registered (one per environment, however many handlers).
_renewing: set[int] = set()


def prime_environment(work: Callable[[], object], environment: Environment) -> None:
    """Run the priming work once, before the snapshot; record how long it took.

    An exception propagates, as Lambda's runtime wants of a before-snapshot hook: the snapshot is
    not taken and the version's publication fails with that error (``Runtime.BeforeSnapshotError``),
    rather than a snapshot being taken without what it was meant to hold.
    """
    began = time.monotonic()
    result = work()
    environment.primed_ms = round((time.monotonic() - began) * 1000.0, 3)
    if result is False:
        raise PrimingFailed("thermostat: the priming work (the probe) returned False; no snapshot is taken")


def renew_environment(environment: Environment, after_restore: Callable[[], object] | None = None) -> None:
    """After a restore: make this environment's identity its own, then run the user's hook."""
    environment.renew()
    wrapper = sys.modules.get(__package__ + ".wrapper")
    if wrapper is not None:
        wrapper._synthetic_trace = None  # type: ignore[attr-defined]  # made again at first use
    random = sys.modules.get("random")
    if random is not None:
        random.seed()  # from os.urandom: every restore of one snapshot had the same generator state
    if after_restore is not None:
        after_restore()


def register(
    environment: Environment,
    prime: Callable[[], object] | None,
    after_restore: Callable[[], object] | None,
) -> bool:
    """Register the before-snapshot and after-restore hooks; False (with a warning) when the runtime has none.

    Without ``snapshot_restore_py`` nothing would ever call the hooks: the function still works, unprimed.
    """
    try:
        import snapshot_restore_py as hooks
    except ImportError:
        import warnings

        from .wrapper import ThermostatWarning

        warnings.warn(
            "thermostat: @warmable(prime=…/after_restore=…) found AWS_LAMBDA_INITIALIZATION_TYPE=snap-start but "
            f"cannot import {HOOKS_MODULE}, so nothing will run its hooks: the function is not primed and "
            "environments restored from one snapshot share what was made before it. Lambda's Python runtimes "
            f"with SnapStart ship it; elsewhere, pip install snapshot-restore-py.",
            ThermostatWarning,
            stacklevel=4,
        )
        return False
    if prime is not None:
        hooks.register_before_snapshot(prime_environment, prime, environment)
    if id(environment) not in _renewing or after_restore is not None:
        _renewing.add(id(environment))
        hooks.register_after_restore(renew_environment, environment, after_restore)
    return True
