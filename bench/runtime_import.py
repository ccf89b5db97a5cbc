"""Import cost of the runtime module, as a cold start pays it (issue 2, "Proof").

``python -c "import thermostat_runtime"`` against a bare interpreter (``python -c pass``) and the
peer ``import lambdawarmer`` (PyPI lambda-warmer-py, which imports boto3), each in fresh
subprocesses, interleaved, median of many. Goal: the runtime module adds <= 5 ms.

Measured the way Lambda loads a layer:

* a clean interpreter: a throw-away venv (no pip, no ``.pth`` files) on this machine's base
  Python. The project's own ``.venv`` is NOT used for the measured runs: its ``.pth`` hooks
  (the editable install's finder, coverage) import ``pathlib``, ``re``, ``importlib.util`` … at
  start-up, which would hide any of those that the runtime module pulled in;
* the layer directory ``serverless/layer/python`` first on PYTHONPATH (as ``/opt/python`` is in
  Lambda), then the project venv's site-packages so that the peers can be imported — the same
  PYTHONPATH for every case;
* bytecode compiled first (``compileall`` into the layer's ``__pycache__``, which git ignores)
  and PYTHONDONTWRITEBYTECODE removed, because a deployed layer ships ``.pyc`` files.
"""

from __future__ import annotations

import compileall
import sysconfig
import tempfile
import venv
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._common import (
    LAYER_DIR,
    check_runs,
    format_table,
    interleaved,
    machine_note,
    median,
    parse_importtime,
    ratio,
    subprocess_env,
    subprocess_ms,
    verdict,
)

GOAL_ADDED_MS = 5.0
BASELINE = "bare interpreter"
SUBJECT = "thermostat_runtime"
PEER = "lambdawarmer (peer)"
#: Issue 16.5: a decorated handler on a function that is not SnapStart, with and without priming.
DECORATED = "@warmable(probe=…)"
PRIMED = "@warmable(probe=…, prime=True, after_restore=…)"
_DECORATE = "import sys, thermostat_runtime as t\nt.warmable(probe=lambda: True{})(lambda event, context: None)\n"
CASES: dict[str, str] = {
    BASELINE: "pass",
    SUBJECT: "import thermostat_runtime",
    PEER: "import lambdawarmer",
    "powertools Logger+Metrics": "from aws_lambda_powertools import Logger, Metrics",
    DECORATED: _DECORATE.format(""),
    PRIMED: _DECORATE.format(", prime=True, after_restore=lambda: None"),
}
_WHERE = "import sys, thermostat_runtime as m; print(m.__file__); print(m.__spec__.cached); print(len(sys.modules))"


def clean_interpreter(directory: Path) -> Path:
    """A fresh venv without pip or ``.pth`` files, on the base interpreter; returns its python."""
    venv.create(directory, with_pip=False, symlinks=True, clear=True)
    return directory / "bin" / "python"


def where_imported(python: Path, env: dict[str, str], cwd: Path, layer_dir: Path) -> dict[str, Any]:
    """Prove which file is imported, that its bytecode is cached, and how many modules it brings."""
    stdout, _ = check_runs([str(python), "-c", _WHERE], env=env, cwd=cwd)
    module_file, cached, count = stdout.split()
    if layer_dir.resolve() not in Path(module_file).resolve().parents:
        raise RuntimeError(f"thermostat_runtime was imported from {module_file}, not from the layer {layer_dir}")
    return {"module_file": module_file, "bytecode_cached": Path(cached).is_file(), "modules_after_import": int(count)}


def modules_after(python: Path, env: dict[str, str], cwd: Path, code: str) -> list[str]:
    """The modules loaded once ``code`` ran (the priming case must load exactly what the plain one does)."""
    stdout, _ = check_runs([str(python), "-c", code + "print('\\n'.join(sorted(sys.modules)))"], env=env, cwd=cwd)
    return stdout.split()


def importtime_top(python: Path, env: dict[str, str], cwd: Path, runs: int, top: int) -> list[dict[str, Any]]:
    """The modules that ``import thermostat_runtime`` adds, by median self time (``-X importtime``)."""
    _, bare = check_runs([str(python), "-X", "importtime", "-c", "pass"], env=env, cwd=cwd)
    startup = {name for name, *_ in parse_importtime(bare)}
    self_us: dict[str, list[int]] = defaultdict(list)
    cumulative_us: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        _, stderr = check_runs([str(python), "-X", "importtime", "-c", CASES[SUBJECT]], env=env, cwd=cwd)
        for name, own, cumulative, _depth in parse_importtime(stderr):
            if name not in startup:
                self_us[name].append(own)
                cumulative_us[name].append(cumulative)
    ranked = sorted(self_us, key=lambda name: median(self_us[name]), reverse=True)[:top]
    return [
        {"module": name, "self_us": median(self_us[name]), "cumulative_us": median(cumulative_us[name])}
        for name in ranked
    ]


def main(*, repeats: int = 40, importtime_runs: int = 7, top: int = 8, layer_dir: Path | None = None) -> dict[str, Any]:
    """Measure, print the side-by-side table, return the figures (milliseconds)."""
    layer = Path(layer_dir) if layer_dir is not None else LAYER_DIR
    compileall.compile_dir(str(layer), quiet=1)
    peers = sysconfig.get_paths()["purelib"]
    with tempfile.TemporaryDirectory(prefix="thermostat-bench-") as scratch:
        cwd = Path(scratch)
        python = clean_interpreter(cwd / "venv")
        env = subprocess_env(pythonpath=[layer, peers])
        env.pop("PYTHONPYCACHEPREFIX", None)
        env.pop("AWS_LAMBDA_INITIALIZATION_TYPE", None)  # every case on-demand: a function that is not SnapStart
        where = where_imported(python, env, cwd, layer)
        cases = {
            name: (lambda code=code: subprocess_ms([str(python), "-c", code], env=env, cwd=cwd))
            for name, code in CASES.items()
        }
        samples = interleaved(cases, repeats, warmup=1)
        top_rows = importtime_top(python, env, cwd, importtime_runs, top)
        decorated_modules = modules_after(python, env, cwd, CASES[DECORATED])
        primed_modules = modules_after(python, env, cwd, CASES[PRIMED])

    medians = {name: median(values) for name, values in samples.items()}
    base = medians[BASELINE]
    added = {name: value - base for name, value in medians.items()}
    print(f"Import cost in a fresh interpreter (median of {repeats}, wall ms) — {machine_note()}")
    print(
        "interpreter: a clean venv on the base Python (no .pth hooks); PYTHONPATH = the layer dir, then the peers' "
        f"site-packages; imported from {where['module_file']} (bytecode cached: {where['bytecode_cached']}, "
        f"{where['modules_after_import']} modules loaded in all)"
    )
    print(
        format_table(
            ["case", "median ms", "min ms", "added ms", "x bare", "added vs ours"],
            [
                (
                    name,
                    medians[name],
                    min(samples[name]),
                    added[name],
                    f"{ratio(medians[name], base):.2f}x",
                    "-" if name == BASELINE else f"{ratio(added[name], added[SUBJECT]):.1f}x",
                )
                for name in CASES
            ],
        )
    )
    met = added[SUBJECT] <= GOAL_ADDED_MS
    print(f"goal: thermostat_runtime adds <= {GOAL_ADDED_MS} ms -> {added[SUBJECT]:.2f} ms, {verdict(met)}")
    prime_added = medians[PRIMED] - medians[DECORATED]
    extra_modules = sorted(set(primed_modules) - set(decorated_modules))
    print(
        f"prime=True on a function that is not SnapStart: {prime_added:+.2f} ms over the same @warmable without it "
        f"({ratio(medians[PRIMED], medians[DECORATED]):.3f}x), modules loaded {len(primed_modules)} vs "
        f"{len(decorated_modules)}, extra: {extra_modules or 'none'}"
    )
    print("-X importtime, modules added by `import thermostat_runtime` (median us):")
    print(
        format_table(
            ["module", "self us", "cumulative us"], [(r["module"], r["self_us"], r["cumulative_us"]) for r in top_rows]
        )
    )
    return {
        "repeats": repeats,
        "median_ms": medians,
        "min_ms": {name: min(values) for name, values in samples.items()},
        "added_ms": {name: added[name] for name in CASES if name != BASELINE},
        "goal_added_ms": GOAL_ADDED_MS,
        "goal_met": met,
        "peer_added_over_ours": ratio(added[PEER], added[SUBJECT]),
        "importtime_top": top_rows,
        "imported_from": where,
        "prime_added_ms": prime_added,
        "prime_extra_modules": extra_modules,
    }


if __name__ == "__main__":
    main()
