"""`make run` installs only the cli extra; `make dist` builds the wheel and the layer's zip (issue 15, item 12)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_installs_the_cli_extra_only_and_says_so() -> None:
    # -n prints the recipe without running it; -W pretends pyproject.toml changed, as on a fresh clone
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "-e '.[cli]'" in done.stdout
    assert "[dev]" not in done.stdout
    assert "==> first run: setting up" in done.stdout
    assert "--progress-bar on" in done.stdout
    assert "thermostat local --demo" in done.stdout


def test_make_dist_builds_the_wheel_and_the_layer_zip(tmp_path: Path) -> None:
    dist, layer = tmp_path / "dist", tmp_path / "layer"
    done = subprocess.run(
        ["make", "dist", f"DIST_DIR={dist}", f"LAYER_DIR={layer}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = dist.glob("lambda_thermostat-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        meta = archive.read(metadata).decode()
    assert {"handlers/cli/__init__.py", "domain/report.py", "thermostat_runtime/__init__.py"} <= names
    assert "domain/prices/lambda-prices.json" in names  # the price table `thermostat advise` reads
    assert not any(name.startswith("tests/") for name in names)
    assert "thermostat = handlers.cli:main" in entry_points
    assert "Provides-Extra: cli" in meta
    with zipfile.ZipFile(dist / "thermostat-runtime-layer.zip") as archive:
        layer_names = set(archive.namelist())
    assert "python/thermostat_runtime/__init__.py" in layer_names
    assert any(name.startswith("python/thermostat_runtime/__pycache__/") for name in layer_names)
    assert not any(name.startswith(("python/handlers", "python/infra")) for name in layer_names)
