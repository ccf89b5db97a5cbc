"""The runtime module's benchmarks run in a tiny configuration and return their figures.

No timing is asserted (the machines are shared and noisy): only that each benchmark runs end to
end, measures every case it promises, and that the runner finds, selects and reports benchmarks.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from bench import __main__ as runner
from bench._common import LAYER_DIR, REPO_ROOT, format_table, interleaved, parse_importtime, ratio

pytestmark = pytest.mark.unit


def _positive(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


# --- the three runtime benchmarks, tiny -------------------------------------------------------


def test_runtime_import_measures_every_case_from_the_layer(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the import benchmark with two repeats
    from bench import runtime_import

    # When it runs
    figures = runtime_import.main(repeats=2, importtime_runs=1, top=3)

    # Then every case has a positive median, the added costs exclude the baseline,
    # and the module was imported from the layer with its bytecode cached
    assert set(figures["median_ms"]) == set(runtime_import.CASES)
    assert all(_positive(value) for value in figures["median_ms"].values())
    assert set(figures["added_ms"]) == set(runtime_import.CASES) - {runtime_import.BASELINE}
    assert Path(figures["imported_from"]["module_file"]).is_relative_to(LAYER_DIR)
    assert figures["imported_from"]["bytecode_cached"] is True
    assert isinstance(figures["goal_met"], bool)
    top = figures["importtime_top"]
    assert 0 < len(top) <= 3
    assert any(row["module"].startswith("thermostat_runtime") for row in top)
    printed = capsys.readouterr().out
    assert "goal: thermostat_runtime adds <= 5.0 ms" in printed
    assert "x bare" in printed


def test_runtime_overhead_measures_every_case_in_a_fresh_process() -> None:
    # Given the overhead benchmark, in its own process (it flips Powertools' cold-start flags)
    code = textwrap.dedent(
        """
        import json, sys
        from bench.runtime_overhead import main
        figures = main(number=50, repeats=2, profile=True)
        sys.stdout.write("\\nFIGURES " + json.dumps(figures) + "\\n")
        """
    )

    # When it runs with 2 x 50 calls per case
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=240
    )

    # Then it exits cleanly, prints the table, the goals and the profiles, and returns every case
    assert done.returncode == 0, done.stderr
    from bench import runtime_overhead

    figures = json.loads(done.stdout.rsplit("FIGURES ", 1)[1])
    cases = figures["us_per_call"]
    assert {
        runtime_overhead.BARE,
        runtime_overhead.WARMABLE,
        runtime_overhead.PING,
        runtime_overhead.POWERTOOLS,
    } <= set(cases)
    assert "lambda-warmer-py ping (concurrency 1)" in cases
    assert all(_positive(value) for value in cases.values())
    assert isinstance(figures["goal_normal_met"], bool)
    assert isinstance(figures["goal_ping_met"], bool)
    assert "goal: warm ping <= 20.0 us" in done.stdout
    assert "cProfile, @warmable warm ping" in done.stdout
    # and the business handler never saw the telemetry or log output: all of it went to /dev/null
    assert '"_aws"' not in done.stdout


def test_runtime_memory_reports_growth_net_of_the_harness_and_sees_the_stale_buffer() -> None:
    # Given the memory benchmark on a few cases with a handful of invocations
    from bench import runtime_memory

    cases = [
        {"wrapper": "@warmable", "trace": "same", "max_bytes": 20_480},
        {"wrapper": "no clearing", "trace": "same", "max_bytes": 20_480},
        {"wrapper": "@warmable", "trace": "unset", "max_bytes": 20_480},
    ]

    # When it runs
    figures = runtime_memory.main(invocations=60, warmup=5, debug_lines=3, cases=cases)

    # Then the harness baselines were added for both trace patterns, and every case has figures
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


def test_runtime_memory_rejects_an_unknown_wrapper_with_a_clear_message() -> None:
    # Given a case naming a wrapper that does not exist
    from bench import runtime_memory

    case = {"wrapper": "@nonsense", "trace": "same", "max_bytes": 20_480}

    # When it runs, Then the error names the wrapper and the valid ones
    with pytest.raises(RuntimeError, match=r"unknown wrapper '@nonsense'; expected one of \('bare', '@warmable'"):
        runtime_memory.run_case(case, invocations=1, warmup=1, debug_lines=1, layer_dir=LAYER_DIR)


# --- the runner -------------------------------------------------------------------------------


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
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
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_discover_lists_modules_with_main_and_skips_helpers(fake_package: tuple[str, Path]) -> None:
    # Given a package with a helper and a module without main()
    package, _ = fake_package

    # When discovered, Then only the benchmarks are listed (one that cannot be imported included)
    assert runner.discover(package) == ["alpha", "broken", "unimportable"]


def test_discover_finds_the_runtime_benchmarks_in_the_real_package() -> None:
    names = runner.discover("bench")

    assert {"runtime_import", "runtime_overhead", "runtime_memory"} <= set(names)
    assert not any(name.startswith("_") for name in names)


def test_runner_runs_the_named_benchmark_and_prints_and_writes_its_figures(
    fake_package: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the fake package
    package, marker = fake_package
    out = tmp_path / "figures.json"

    # When only alpha is asked for
    code = runner.main(["alpha", "--json", str(out)], package=package)

    # Then alpha ran once, its table and figures were printed and written, broken did not run
    assert code == 0
    printed = capsys.readouterr().out
    assert "=== bench.alpha ===" in printed
    assert "alpha table" in printed
    assert 'figures: {"speed": 1.5}' in printed
    assert "bench.broken" not in printed
    assert marker.read_text(encoding="utf-8") == "alpha\n"
    assert json.loads(out.read_text(encoding="utf-8")) == {"alpha": {"speed": 1.5}}


def test_runner_rejects_an_unknown_name_before_running_anything(
    fake_package: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a selection that includes a name that does not exist
    package, marker = fake_package

    # When run
    code = runner.main(["alpha", "nope"], package=package)

    # Then it is a usage error that names the bad name and the valid ones, and nothing ran
    assert code == 2
    error = capsys.readouterr().err
    assert "unknown benchmark(s): nope; available: alpha, broken, unimportable" in error
    assert not marker.exists()


def test_runner_keeps_going_after_a_failing_benchmark_and_exits_1(
    fake_package: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the whole fake package, where broken raises and unimportable cannot be imported
    package, marker = fake_package

    # When everything runs
    code = runner.main([], package=package)

    # Then alpha still ran and reported, the other two are named as failed with their errors
    assert code == 1
    captured = capsys.readouterr()
    assert 'figures: {"speed": 1.5}' in captured.out
    assert "RuntimeError: bench exploded" in captured.err
    assert "ImportError: needs a missing library" in captured.err
    assert "failed: broken, unimportable" in captured.err
    assert marker.read_text(encoding="utf-8") == "alpha\n"


def test_runner_lists_benchmarks(fake_package: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    package, marker = fake_package

    assert runner.main(["--list"], package=package) == 0

    assert capsys.readouterr().out.split() == ["alpha", "broken", "unimportable"]
    assert not marker.exists()


# --- helpers ----------------------------------------------------------------------------------


def test_parse_importtime_reads_self_cumulative_and_depth() -> None:
    # Given -X importtime output, header included
    stderr = textwrap.dedent(
        """\
        import time: self [us] | cumulative | imported package
        import time:       289 |        289 |   thermostat_runtime.protocol
        import time:       145 |        145 |     encodings.ascii
        import time:       307 |        451 |   thermostat_runtime.wrapper
        import time:       294 |       1375 | thermostat_runtime
        something else on stderr
        """
    )

    # When parsed, Then the header and noise are skipped and depth follows the indentation
    assert parse_importtime(stderr) == [
        ("thermostat_runtime.protocol", 289, 289, 1),
        ("encodings.ascii", 145, 145, 2),
        ("thermostat_runtime.wrapper", 307, 451, 1),
        ("thermostat_runtime", 294, 1375, 0),
    ]


def test_interleaved_samples_round_robin_after_the_warmup() -> None:
    # Given two cases that record when they are called
    calls: list[str] = []
    cases = {"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}

    # When sampled three times after one warm-up round
    samples = interleaved(cases, 3, warmup=1)

    # Then the cases alternate and only the timed rounds are kept
    assert calls == ["a", "b"] * 4
    assert samples == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_format_table_aligns_columns_and_ratio_handles_a_zero_baseline() -> None:
    table = format_table(["case", "us"], [("bare", 0.1234), ("wrapped", 12.345)])

    assert table.splitlines() == ["case        us", "-------  -----", "bare     0.123", "wrapped   12.3"]
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(1.0, 0.0) == float("inf")
