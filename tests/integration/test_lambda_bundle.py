"""What the control-plane Lambda bundle holds, file by file, as ``serverless/Makefile`` builds it.

Exactly the Python sources of ``domain/``, ``infra/`` and ``handlers/`` (the CLI left out), each
with its bytecode; nothing of the emulator, the CLI or dev libraries (moto, cbor2), the tests or the
benchmarks, not even through a symlink or an import. Built with ``DEPS=0`` (no network in tests)
and this interpreter standing in for the Lambda one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "infra", "handlers")
PYC_TAG = sys.implementation.cache_tag
NEVER_IN_A_LAMBDA = {"emulator", "bench", "tests", "cli", "moto", "cbor2", "rich", "pytest"}


def build(tmp_path: Path, root: Path = ROOT) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``make -f <root>/serverless/Makefile build-KeepWarmFunction DEPS=0`` into ``tmp_path``."""
    artifacts = tmp_path / "KeepWarmFunction"
    command = [
        "make",
        "--no-print-directory",
        "-f",
        str(root / "serverless" / "Makefile"),
        "build-KeepWarmFunction",
        "DEPS=0",
        f"PYTHON={sys.executable}",
        f"LAMBDA_PYTHON={sys.version_info.major}.{sys.version_info.minor}",
        f"BUNDLE={tmp_path / 'bundle'}",
    ]
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    return done, artifacts


def sources(root: Path) -> set[str]:
    """The regular .py files of the bundled packages, the CLI left out, relative to ``root``."""
    found = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            relative = path.relative_to(root)
            in_cli = relative.parts[:2] == ("handlers", "cli")
            if path.is_file() and not path.is_symlink() and not in_cli and "__pycache__" not in relative.parts:
                found.add(relative.as_posix())
    return found


def test_the_bundle_is_exactly_the_packages_sources_with_their_bytecode(tmp_path: Path) -> None:
    # When the bundle is built
    done, artifacts = build(tmp_path)

    # Then it holds domain/ infra/ handlers/ and nothing else at the top
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in artifacts.iterdir()) == sorted(PACKAGES)
    files = [path.relative_to(artifacts) for path in artifacts.rglob("*") if path.is_file()]
    # and their .py files are exactly the sources (handlers/cli left out), every one compiled
    python = {path.as_posix() for path in files if path.suffix == ".py"}
    assert python == sources(ROOT)
    assert "handlers/keep_warm.py" in python
    for source in python:
        compiled = artifacts / Path(source).parent / "__pycache__" / f"{Path(source).stem}.{PYC_TAG}.pyc"
        assert compiled.is_file(), source
    # and there is nothing but sources and their bytecode: no data files, no marker, no links
    assert {path.suffix for path in files} == {".py", ".pyc"}
    assert not any(path.is_symlink() for path in artifacts.rglob("*"))
    # and nothing of the emulator, the CLI, dev libraries, the tests or the benchmarks
    names = {part.split(".")[0] for path in files for part in path.parts}
    assert names.isdisjoint(NEVER_IN_A_LAMBDA), names & NEVER_IN_A_LAMBDA
    assert not (artifacts / "handlers" / "cli").exists()


def _tree_copy(tmp_path: Path) -> Path:
    """A copy of what the Makefile reads (its own directory and the packages), to change safely."""
    copy = tmp_path / "repo"
    (copy / "serverless").mkdir(parents=True)
    for name in ("Makefile", "requirements.txt"):
        shutil.copy2(ROOT / "serverless" / name, copy / "serverless" / name)
    for package in (*PACKAGES, "emulator"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_a_symlink_into_the_emulator_does_not_ride_along(tmp_path: Path) -> None:
    # Given a link from infra/ to a module of the emulator, and one to its whole package
    copy = _tree_copy(tmp_path)
    (copy / "infra" / "local_stack.py").symlink_to(copy / "emulator" / "stack.py")
    (copy / "infra" / "emulator").symlink_to(copy / "emulator", target_is_directory=True)

    # When the bundle is built
    done, artifacts = build(tmp_path, copy)

    # Then neither link, nor what it points to, is in it
    assert done.returncode == 0, done.stderr
    assert not (artifacts / "infra" / "local_stack.py").exists()
    assert not (artifacts / "infra" / "emulator").exists()
    assert {path.relative_to(artifacts).as_posix() for path in artifacts.rglob("*.py")} == sources(copy)


@pytest.mark.parametrize("line", ["from emulator.stack import LocalStack", "import moto", "import cbor2"])
def test_a_bundled_module_importing_what_a_lambda_cannot_fails_the_build(tmp_path: Path, line: str) -> None:
    # Given a module of infra/ that imports the emulator or a CLI/dev library (inside a function)
    copy = _tree_copy(tmp_path)
    (copy / "infra" / "leak.py").write_text(f"def leak() -> None:\n    {line}\n", encoding="utf-8")

    # When the bundle is built
    done, artifacts = build(tmp_path, copy)

    # Then the build fails naming the file, and leaves no bundle behind
    assert done.returncode != 0
    assert "infra/leak.py" in done.stdout + done.stderr
    assert "which a Lambda cannot import" in done.stderr
    assert not artifacts.exists()
    assert not (tmp_path / "bundle").exists()
    assert not (tmp_path / "bundle.tmp").exists()
