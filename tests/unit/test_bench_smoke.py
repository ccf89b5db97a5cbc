"""The benchmarks run in a tiny configuration and return their figures, run as ``python -m bench``.

No timing is asserted (the machines are shared and noisy): only that each benchmark runs end to
end, measures every case it promises, and that the runner finds, selects and reports benchmarks.
The tests never import ``bench``: they run it as the user does and read what it prints and writes.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.benches import LAYER_DIR, REPO_ROOT, BenchRun, run_bench

pytestmark = pytest.mark.unit

#: The cases each benchmark promises (its own constants, spelled out: the test does not import it).
IMPORT_BASELINE = "bare interpreter"
IMPORT_CASES = {
    IMPORT_BASELINE,
    "thermostat_runtime",
    "lambdawarmer (peer)",
    "powertools Logger+Metrics",
    "@warmable(probe=…)",
    "@warmable(probe=…, prime=True, after_restore=…)",
}
OVERHEAD_CASES = {
    "bare handler",
    "@warmable",
    "@warmable warm ping",
    "Powertools inject_lambda_context+log_metrics",
}


def _positive(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


# --- the three runtime benchmarks, tiny -------------------------------------------------------


def test_runtime_import_measures_every_case_from_the_layer(tmp_path: Path) -> None:
    # Given the import benchmark with two repeats
    # When it runs
    done = run_bench("runtime_import", workdir=tmp_path, args={"repeats": 2, "importtime_runs": 1, "top": 3})

    # Then every case has a positive median, the added costs exclude the baseline,
    # and the module was imported from the layer with its bytecode cached
    assert done.returncode == 0, done.stderr
    figures = done.figures["runtime_import"]
    assert set(figures["median_ms"]) == IMPORT_CASES
    assert all(_positive(value) for value in figures["median_ms"].values())
    assert set(figures["added_ms"]) == IMPORT_CASES - {IMPORT_BASELINE}
    assert Path(figures["imported_from"]["module_file"]).is_relative_to(LAYER_DIR)
    assert figures["imported_from"]["bytecode_cached"] is True
    assert isinstance(figures["goal_met"], bool)
    top = figures["importtime_top"]
    assert 0 < len(top) <= 3
    assert any(row["module"].startswith("thermostat_runtime") for row in top)
    assert "goal: thermostat_runtime adds <= 5.0 ms" in done.stdout
    assert "x bare" in done.stdout
    # and priming, on a function that is not SnapStart, loads no module more than the plain decorator
    assert figures["prime_extra_modules"] == []
    assert "prime=True on a function that is not SnapStart" in done.stdout


def test_runtime_overhead_measures_every_case_in_a_fresh_process(tmp_path: Path) -> None:
    # Given the overhead benchmark, in its own process (it flips Powertools' cold-start flags)
    # When it runs with 2 x 50 calls per case
    done = run_bench("runtime_overhead", workdir=tmp_path, args={"number": 50, "repeats": 2, "profile": True})

    # Then it exits cleanly, prints the table, the goals and the profiles, and returns every case
    assert done.returncode == 0, done.stderr
    figures = done.figures["runtime_overhead"]
    cases = figures["us_per_call"]
    assert set(cases) >= OVERHEAD_CASES
    assert "lambda-warmer-py ping (concurrency 1)" in cases
    assert all(_positive(value) for value in cases.values())
    assert "Powertools pair + one logger.info line" in cases
    assert isinstance(figures["goal_normal_met"], bool)
    assert isinstance(figures["goal_logged_met"], bool)
    assert isinstance(figures["goal_ping_met"], bool)
    # and it measured with both sinks, each in its own child: Lambda's unbuffered pipe and /dev/null
    assert set(figures["sinks"]) == {"pipe", "devnull"}
    for sink in ("pipe", "devnull"):
        assert set(figures["sinks"][sink]["us_per_call"]) == set(cases)
        assert f"goal ({sink}): warm ping <= 10.0 us" in done.stdout
        assert f"cProfile ({sink}), @warmable warm ping" in done.stdout
    # and the reader drained every line the child wrote to its pipe: at least one telemetry line per
    # @warmable call (2 repeats + 1 warm-up, x 50 calls, several @warmable cases)
    assert figures["bytes_through_pipe"] > 3 * 50 * 300
    # and none of the telemetry or log output reached the bench's own stdout
    assert '"_aws"' not in done.stdout


def test_runtime_memory_reports_growth_net_of_the_harness_and_sees_the_stale_buffer(tmp_path: Path) -> None:
    # Given the memory benchmark on a few cases with a handful of invocations
    cases = [
        {"wrapper": "@warmable", "trace": "same", "max_bytes": 20_480},
        {"wrapper": "no clearing", "trace": "same", "max_bytes": 20_480},
        {"wrapper": "@warmable", "trace": "unset", "max_bytes": 20_480},
    ]

    # When it runs
    done = run_bench(
        "runtime_memory", workdir=tmp_path, args={"invocations": 60, "warmup": 5, "debug_lines": 3, "cases": cases}
    )

    # Then the harness baselines were added for both trace patterns, and every case has figures
    assert done.returncode == 0, done.stderr
    figures = done.figures["runtime_memory"]
    assert set(figures["harness_growth_kb"]) == {"same", "unset"}
    by_label = {(case["wrapper"], case["trace"]): case for case in figures["cases"]}
    assert set(by_label) == {
        ("@warmable", "same"),
        ("no clearing", "same"),
        ("@warmable", "unset"),
        ("bare", "same"),
        ("bare", "unset"),
    }
    assert all(math.isfinite(case["net_growth_kb"]) for case in figures["cases"])
    # and the measured code is the layer's, not an installed copy
    assert Path(figures["runtime_file"]).is_relative_to(LAYER_DIR)
    # and the buffer state is what each wrapper promises: @warmable holds only the last
    # invocation's lines, a Logger that nobody clears keeps earlier invocations' lines
    assert by_label[("@warmable", "same")]["stale_records"] == 0
    assert by_label[("@warmable", "same")]["buffered_records"] == 3
    assert by_label[("no clearing", "same")]["stale_records"] > 0
    assert by_label[("@warmable", "unset")]["buffered_records"] == 3


def test_runtime_memory_rejects_an_unknown_wrapper_with_a_clear_message(tmp_path: Path) -> None:
    # Given a case naming a wrapper that does not exist
    case = {"wrapper": "@nonsense", "trace": "same", "max_bytes": 20_480}

    # When it runs
    done = run_bench(
        "runtime_memory", workdir=tmp_path, args={"invocations": 1, "warmup": 1, "debug_lines": 1, "cases": [case]}
    )

    # Then it fails, and the error names the wrapper and the valid ones
    assert done.returncode == 1
    assert re.search(
        r"RuntimeError: .*unknown wrapper '@nonsense'; expected one of \('bare', '@warmable'", done.stderr, re.DOTALL
    )
    assert "failed: runtime_memory" in done.stderr


# --- the runner -------------------------------------------------------------------------------


@pytest.fixture
def fake_package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A throw-away benchmark package: one good bench, one broken, a helper and a non-bench."""
    name = f"fakebench_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    marker = tmp_path / "ran.txt"
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "alpha.py").write_text(
        textwrap.dedent(
            f"""
            def main():
                with open({str(marker)!r}, "a", encoding="utf-8") as out:
                    out.write("alpha\\n")
                print("alpha table")
                return {{"speed": 1.5}}
            """
        ),
        encoding="utf-8",
    )
    (root / "broken.py").write_text("def main():\n    raise RuntimeError('bench exploded')\n", encoding="utf-8")
    (root / "_helper.py").write_text("def main():\n    raise AssertionError('helpers never run')\n", encoding="utf-8")
    (root / "notes.py").write_text("VALUE = 1\n", encoding="utf-8")
    (root / "unimportable.py").write_text("raise ImportError('needs a missing library')\n", encoding="utf-8")
    yield name, marker


def run_fake(package: str, tmp_path: Path, *argv: str) -> BenchRun:
    """``python -m bench --package PACKAGE ARGV`` with the fake package importable."""
    workdir = tmp_path / f"run-{uuid.uuid4().hex[:8]}"
    workdir.mkdir()
    return run_bench(*argv, workdir=workdir, extra=["--package", package], pythonpath=[tmp_path])


def test_discover_lists_modules_with_main_and_skips_helpers(fake_package: tuple[str, Path], tmp_path: Path) -> None:
    # Given a package with a helper and a module without main()
    package, _ = fake_package

    # When listed, Then only the benchmarks are there (one that cannot be imported included)
    done = run_fake(package, tmp_path, "--list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alpha", "broken", "unimportable"]


def test_discover_finds_the_runtime_benchmarks_in_the_real_package(tmp_path: Path) -> None:
    done = run_bench("--list", workdir=tmp_path)

    names = done.stdout.split()
    assert done.returncode == 0, done.stderr
    assert {"runtime_import", "runtime_overhead", "runtime_memory"} <= set(names)
    assert not any(name.startswith("_") for name in names)


def test_runner_runs_the_named_benchmark_and_prints_and_writes_its_figures(
    fake_package: tuple[str, Path], tmp_path: Path
) -> None:
    # Given the fake package
    package, marker = fake_package

    # When only alpha is asked for
    done = run_fake(package, tmp_path, "alpha")

    # Then alpha ran once, its table and figures were printed and written, broken did not run
    assert done.returncode == 0, done.stderr
    assert "=== bench.alpha ===" in done.stdout
    assert "alpha table" in done.stdout
    assert 'figures: {"speed": 1.5}' in done.stdout
    assert "bench.broken" not in done.stdout
    assert marker.read_text(encoding="utf-8") == "alpha\n"
    assert done.figures == {"alpha": {"speed": 1.5}}


def test_runner_rejects_an_unknown_name_before_running_anything(fake_package: tuple[str, Path], tmp_path: Path) -> None:
    # Given a selection that includes a name that does not exist
    package, marker = fake_package

    # When run
    done = run_fake(package, tmp_path, "alpha", "nope")

    # Then it is a usage error that names the bad name and the valid ones, and nothing ran
    assert done.returncode == 2
    assert "unknown benchmark(s): nope; available: alpha, broken, unimportable" in done.stderr
    assert not marker.exists()


def test_runner_keeps_going_after_a_failing_benchmark_and_exits_1(
    fake_package: tuple[str, Path], tmp_path: Path
) -> None:
    # Given the whole fake package, where broken raises and unimportable cannot be imported
    package, marker = fake_package

    # When everything runs
    done = run_fake(package, tmp_path)

    # Then alpha still ran and reported, the other two are named as failed with their errors
    assert done.returncode == 1
    assert 'figures: {"speed": 1.5}' in done.stdout
    assert "RuntimeError: bench exploded" in done.stderr
    assert "ImportError: needs a missing library" in done.stderr
    assert "failed: broken, unimportable" in done.stderr
    assert marker.read_text(encoding="utf-8") == "alpha\n"


def test_runner_lists_benchmarks(fake_package: tuple[str, Path], tmp_path: Path) -> None:
    package, marker = fake_package

    done = run_fake(package, tmp_path, "--list")

    assert done.returncode == 0
    assert done.stdout.split() == ["alpha", "broken", "unimportable"]
    assert not marker.exists()


def test_runner_passes_keyword_arguments_and_restores_the_environment(tmp_path: Path) -> None:
    # Given a benchmark that takes an argument and leaves a variable behind
    name = f"fakebench_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "leaky.py").write_text(
        "import os\ndef main(size=1):\n    os.environ['LEAKED_BY_BENCH'] = '1'\n    return {'size': size}\n",
        encoding="utf-8",
    )
    (root / "reader.py").write_text(
        "import os\ndef main():\n    return {'leaked': os.environ.get('LEAKED_BY_BENCH')}\n", encoding="utf-8"
    )

    # When both run, the first with --args
    done = run_fake(name, tmp_path, "leaky", "reader", "--args", json.dumps({}))
    sized = run_fake(name, tmp_path, "leaky", "--args", json.dumps({"size": 3}))

    # Then the arguments reached main(), the leak was named, and the next benchmark did not see it
    assert done.returncode == 0, done.stderr
    assert "bench.leaky left the environment changed (LEAKED_BY_BENCH); restored" in done.stderr
    assert done.figures["reader"] == {"leaked": None}
    assert sized.figures == {"leaky": {"size": 3}}


# --- helpers ----------------------------------------------------------------------------------


def test_the_bench_helpers_examples_hold() -> None:
    # Given bench/_common.py, whose helpers carry their examples (parse_importtime, interleaved,
    # format_table, ratio) as doctests
    # When doctest runs them
    done = subprocess.run(
        [sys.executable, "-m", "doctest", "-v", str(REPO_ROOT / "bench" / "_common.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    # Then every example passed, and there are examples for each of those helpers
    assert done.returncode == 0, done.stdout[-2000:]
    assert re.search(r"^(\d+) passed and 0 failed\.$", done.stdout, re.MULTILINE)
    for helper in ("parse_importtime", "interleaved", "format_table", "ratio"):
        assert re.search(rf"^\s+\d+ tests in _common\.{helper}$", done.stdout, re.MULTILINE), helper
