"""Running the benchmarks as the user does, ``python -m bench NAME --args JSON --json FILE``, from the tests.

The tests never import ``bench``: a benchmark is a program, checked by what it prints and the
figures it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = REPO_ROOT / "serverless" / "layer" / "python"
#: A liveness bound for one run on a busy machine, not a speed assertion.
_RUN_TIMEOUT_S = 600


@dataclass(frozen=True)
class BenchRun:
    """How one ``python -m bench`` run ended: exit code, output, and the figures it wrote."""

    returncode: int
    stdout: str
    stderr: str
    figures: dict[str, Any]


def run_bench(
    *names: str,
    workdir: Path,
    args: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
    pythonpath: Sequence[Path] = (),
) -> BenchRun:
    """Run ``python -m bench NAMES`` from the repository root; ``figures`` is what ``--json`` wrote."""
    out = workdir / "figures.json"
    argv = [sys.executable, "-m", "bench", *names, "--json", str(out), *extra]
    if args is not None:
        argv += ["--args", json.dumps(args)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [*(str(path) for path in pythonpath), str(REPO_ROOT), str(LAYER_DIR), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=_RUN_TIMEOUT_S
    )
    figures = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return BenchRun(done.returncode, done.stdout, done.stderr, figures)
