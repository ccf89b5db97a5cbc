"""Timing helpers shared by the benchmarks: medians, fresh-subprocess wall time, RSS, tables.

The machines are small and shared (2 cores, ±30 % noise between runs), so every benchmark
measures its baseline in the same run, interleaves the cases, and reports medians and ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The runtime module as Lambda sees it: the layer's ``python/`` directory on PYTHONPATH.
LAYER_DIR = REPO_ROOT / "serverless" / "layer" / "python"


def median(values: Iterable[float]) -> float:
    """The median of the samples (raises on an empty sequence, which is always a bench bug)."""
    return float(statistics.median(list(values)))


def interleaved(cases: Mapping[str, Callable[[], float]], repeats: int, *, warmup: int = 1) -> dict[str, list[float]]:
    """Run every case ``repeats`` times, round-robin, and return the samples per case.

    Round-robin rather than case after case: a noisy neighbour then slows every case a little
    instead of one case a lot, and the ratios stay comparable. The warm-up rounds are not kept:

    >>> calls = []
    >>> cases = {"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}
    >>> interleaved(cases, 3, warmup=1)
    {'a': [1.0, 1.0, 1.0], 'b': [2.0, 2.0, 2.0]}
    >>> calls == ["a", "b"] * 4
    True
    """
    for _ in range(warmup):
        for sample in cases.values():
            sample()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, sample in cases.items():
            samples[name].append(sample())
    return samples


def per_call_us(function: Callable[..., Any], args: Sequence[Any], number: int) -> float:
    """Microseconds per call of ``function(*args)``, averaged over ``number`` back-to-back calls."""
    loop = range(number)
    started = time.perf_counter()
    for _ in loop:
        function(*args)
    return (time.perf_counter() - started) / number * 1e6


def subprocess_ms(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike[str]) -> float:
    """Wall time in milliseconds of one fresh subprocess, from spawn to exit."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv), env=dict(env), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = (time.perf_counter() - started) * 1000.0
    # Checked after the clock stops, so that a failing command is an error, never a fast sample.
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {tail}")
    return elapsed


def check_runs(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike[str]) -> tuple[str, str]:
    """Run once, fail loudly if the command fails, and return its ``(stdout, stderr)``."""
    done = subprocess.run(list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout, done.stderr


def run_child(argv: Sequence[str], *, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a child interpreter from the repository root, its output captured as text (the caller checks it)."""
    return subprocess.run(list(argv), env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def last_json_line(stdout: str) -> dict[str, Any]:
    """The JSON document a child printed last: its report (whatever it printed before is chatter)."""
    document: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return document


def rss_bytes() -> int:
    """Resident set size of this process, in bytes (Linux /proc, else psutil)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    r"""Parse ``python -X importtime`` output into ``(module, self_us, cumulative_us, depth)`` rows.

    Lines look like ``import time:       289 |        289 |   thermostat_runtime.protocol``; the
    indentation of the module name (two spaces per level) is its depth in the import tree. The
    header and any other line are skipped:

    >>> parse_importtime(
    ...     "import time: self [us] | cumulative | imported package\n"
    ...     "import time:       289 |        289 |   thermostat_runtime.protocol\n"
    ...     "import time:       145 |        145 |     encodings.ascii\n"
    ...     "import time:       307 |        451 |   thermostat_runtime.wrapper\n"
    ...     "import time:       294 |       1375 | thermostat_runtime\n"
    ...     "something else on stderr\n"
    ... )  # doctest: +NORMALIZE_WHITESPACE
    [('thermostat_runtime.protocol', 289, 289, 1), ('encodings.ascii', 145, 145, 2),
     ('thermostat_runtime.wrapper', 307, 451, 1), ('thermostat_runtime', 294, 1375, 0)]
    """
    rows: list[tuple[str, int, int, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cumulative_us, name = parts
        try:
            self_value, cumulative_value = int(self_us), int(cumulative_us)
        except ValueError:
            continue  # the header line: "self [us] | cumulative | imported package"
        stripped = name.lstrip(" ")
        depth = (len(name) - len(stripped) - 1) // 2
        rows.append((stripped.strip(), self_value, cumulative_value, depth))
    return rows


def subprocess_env(*, pythonpath: Sequence[str | os.PathLike[str]] = ()) -> dict[str, str]:
    """This environment, with bytecode writing allowed and PYTHONPATH set to exactly ``pythonpath``.

    PYTHONDONTWRITEBYTECODE is dropped so that a measured interpreter behaves like a deployed one
    (which ships ``.pyc`` files); without them every import is about three times slower.
    """
    env = {name: value for name, value in os.environ.items() if name not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(entry) for entry in pythonpath)
    return env


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width table (no third-party libraries in the bench path).

    >>> print(format_table(["case", "us"], [("bare", 0.1234), ("wrapped", 12.345)]))
    case        us
    -------  -----
    bare     0.123
    wrapped   12.3
    """
    cells = [[str(cell) for cell in header], *[[_cell(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``, or infinity when the baseline rounds to nothing.

    >>> ratio(3.0, 1.5), ratio(1.0, 0.0)
    (2.0, inf)
    """
    return value / baseline if baseline > 0 else float("inf")


def verdict(met: bool) -> str:
    """How a goal line reads in the printed report."""
    return "met" if met else "MISSED"


def machine_note() -> str:
    """One line describing where the figures were taken (they only compare within one run)."""
    return f"python {sys.version.split()[0]} on {os.cpu_count()} CPU(s); ratios compare cases of this run only"


def offline_aws(**variables: str) -> None:
    """This process's AWS environment for a bench: fake credentials, us-east-1, no profile, no
    endpoint or thermostat variable inherited from the shell, no instance metadata; then ``variables``."""
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "THERMOSTAT_")):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    os.environ.update(variables)
