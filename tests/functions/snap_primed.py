"""A SnapStart target: a probe whose work (a cache) is worth having in the snapshot.

``SNAP_MODE`` picks how it is decorated:

* ``primed`` (default): ``@warmable(probe=probe, prime=True, after_restore=after_restore)``;
* ``prime_fn``: ``prime=warm_up`` (a callable of its own, not the probe);
* ``plain``: ``@warmable(probe=probe)`` and the same work done at import — what code without priming
  does — so the snapshot holds an environment id and a ``random`` state that nothing renews;
* ``bad_prime``: the priming raises (the snapshot cannot be taken);
* ``bad_restore``: the after-restore hook raises.

The reply says where the cache was built (pids), what the handler and the hooks saw, and three
draws of ``random``: enough to tell a restored environment from a cold one and two restores apart.
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

from thermostat_runtime import ENVIRONMENT, warmable

#: pids of the processes that built the cache (the snapshot's, when primed)
BUILDS: list[int] = []
CACHE: dict[str, int] = {}
#: what the priming saw before the snapshot
BEFORE_SNAPSHOT: dict[str, Any] = {}
#: pids in which the user's after-restore hook ran
RESTORES: list[int] = []


def build_cache() -> None:
    if not CACHE:
        BUILDS.append(os.getpid())
        CACHE["answer"] = 42


def probe() -> bool:
    build_cache()
    # Code run at init often makes ids and draws random numbers: they end up in the snapshot.
    BEFORE_SNAPSHOT["environment_id"] = ENVIRONMENT.environment_id
    BEFORE_SNAPSHOT["random"] = random.random()
    BEFORE_SNAPSHOT["pid"] = os.getpid()
    return True


def warm_up() -> None:
    BEFORE_SNAPSHOT["warm_up"] = os.getpid()
    probe()


def after_restore() -> None:
    if MODE == "bad_restore":
        raise ConnectionError("could not reconnect after the restore")
    RESTORES.append(os.getpid())


def bad_prime() -> None:
    raise ConnectionError("the database is not reachable while priming")


MODE = os.environ.get("SNAP_MODE", "primed")
time.sleep(float(os.environ.get("SNAP_INIT_SLEEP", "0")))  # a slow init, to invoke while the snapshot is taken
if MODE == "primed":
    decorate = warmable(probe=probe, prime=True, after_restore=after_restore)
elif MODE == "prime_fn":
    decorate = warmable(probe=probe, prime=warm_up, after_restore=after_restore)
elif MODE == "bad_prime":
    decorate = warmable(probe=probe, prime=bad_prime)
elif MODE == "bad_restore":
    decorate = warmable(probe=probe, prime=True, after_restore=after_restore)
else:
    decorate = warmable(probe=probe)
    probe()


@decorate
def handler(event: Any, context: Any) -> dict[str, Any]:
    build_cache()
    if isinstance(event, dict) and "exit" in event:
        os._exit(int(event["exit"]))
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(float(event["sleep"]))
    return {
        "pid": os.getpid(),
        "builds": BUILDS,
        "restores": RESTORES,
        "before_snapshot": BEFORE_SNAPSHOT,
        "environment_id": ENVIRONMENT.environment_id,
        "primed_ms": ENVIRONMENT.primed_ms,
        "random": [random.random() for _ in range(3)],
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "snapstart_loaded": "thermostat_runtime.snapstart" in sys.modules,
        "hooks_loaded": "snapshot_restore_py" in sys.modules,
    }
