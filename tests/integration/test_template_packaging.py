"""What `sam build` ships: the functions' bundle and the layer (serverless/Makefile), and the
runtime module as its own tiny package (serverless/layer/pyproject.toml).

The Makefile is run exactly as SAM runs it (``make --makefile serverless/Makefile build-<Id>``
with ``ARTIFACTS_DIR``), without the third-party dependencies (``DEPS=0``: no network in tests)
and with this interpreter standing in for the Lambda one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "serverless" / "Makefile"
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PYC_TAG = sys.implementation.cache_tag


def _make(target: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    settings = {
        "LAMBDA_PYTHON": PY_VERSION,
        "PYTHON": sys.executable,
        "DEPS": "0",
        "BUNDLE": str(tmp_path / "bundle"),
        **variables,
    }
    env = {name: value for name, value in os.environ.items() if name != "ARTIFACTS_DIR"}
    if "ARTIFACTS_DIR" in settings:
        env["ARTIFACTS_DIR"] = settings.pop("ARTIFACTS_DIR")
    command = ["make", "--no-print-directory", "--makefile", str(MAKEFILE), target]
    command += [f"{name}={value}" for name, value in settings.items()]
    # SAM runs make from a scratch copy of serverless/: any working directory must do.
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_a_function_bundle_holds_the_code_without_the_cli_compiled(tmp_path: Path) -> None:
    # Given an artifacts directory, as sam build provides
    artifacts = tmp_path / "KeepWarmFunction"

    # When the function is built
    done = _make("build-KeepWarmFunction", tmp_path, ARTIFACTS_DIR=str(artifacts))

    # Then the bundle is domain/ infra/ handlers/ with bytecode, and nothing of the CLI or the tests
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in artifacts.iterdir()) == ["domain", "handlers", "infra"]
    assert (artifacts / "handlers" / "__init__.py").is_file()
    assert not (artifacts / "handlers" / "cli").exists()
    assert (artifacts / "handlers" / "__pycache__" / f"__init__.{PYC_TAG}.pyc").is_file()
    assert (artifacts / "infra" / "__pycache__" / f"settings.{PYC_TAG}.pyc").is_file()
    assert not (artifacts / ".built").exists()


def test_the_bundle_is_built_once_and_copied_to_every_function(tmp_path: Path) -> None:
    # Given one function already built
    first = _make("build-SweeperFunction", tmp_path, ARTIFACTS_DIR=str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr

    # When a second function is built
    second = _make("build-PreTrafficHookFunction", tmp_path, ARTIFACTS_DIR=str(tmp_path / "b"))

    # Then it is a copy of the same bundle, not a second build
    assert second.returncode == 0, second.stderr
    assert "compileall" not in second.stdout
    assert sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.py")) == sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.py")
    )


def test_the_layer_is_the_runtime_module_under_python_compiled(tmp_path: Path) -> None:
    # Given an artifacts directory for the layer
    artifacts = tmp_path / "RuntimeLayer"

    # When the layer is built
    done = _make("build-RuntimeLayer", tmp_path, ARTIFACTS_DIR=str(artifacts))

    # Then it holds python/thermostat_runtime (Lambda puts /opt/python on sys.path) and its bytecode
    assert done.returncode == 0, done.stderr
    assert [path.name for path in artifacts.iterdir()] == ["python"]
    package = artifacts / "python" / "thermostat_runtime"
    assert (package / "__init__.py").is_file()
    assert (package / "py.typed").is_file()
    assert (package / "__pycache__" / f"wrapper.{PYC_TAG}.pyc").is_file()


def test_without_artifacts_dir_the_build_says_what_is_missing(tmp_path: Path) -> None:
    # Given no ARTIFACTS_DIR (the build is not run by sam)
    # When a function is built
    done = _make("build-KeepWarmFunction", tmp_path)

    # Then it fails with a message naming the variable, and nothing was copied anywhere
    assert done.returncode != 0
    assert "ARTIFACTS_DIR is not set" in done.stderr


def test_a_missing_lambda_python_is_named_with_the_ways_out(tmp_path: Path) -> None:
    # Given a runtime version whose interpreter is not installed
    # When a function is built
    done = _make("build-KeepWarmFunction", tmp_path, ARTIFACTS_DIR=str(tmp_path / "x"), PYTHON="python3.0-not-here")

    # Then the message says what to install or set, and no bundle was left behind
    assert done.returncode != 0
    assert "python3.0-not-here not found" in done.stderr
    assert "--use-container" in done.stderr
    assert not (tmp_path / "bundle").exists()
    assert not (tmp_path / "x").exists()


def test_the_runtime_module_is_a_package_of_its_own_without_dependencies(tmp_path: Path) -> None:
    # Given a copy of serverless/layer (an in-tree build would write into the shared tree)
    source = tmp_path / "layer"
    shutil.copytree(ROOT / "serverless" / "layer", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    script = (
        "import sys, warnings; warnings.simplefilter('ignore');"
        "import setuptools.build_meta as meta; from setuptools import setup;"
        "setup(script_args=['-q', 'build_py', '--build-lib', sys.argv[1]]);"
        "print(meta.build_sdist(sys.argv[2]))"
    )

    # When setuptools lays out the package and builds its source distribution
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "lib"), str(tmp_path / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then it installs as the top-level thermostat_runtime with py.typed, named thermostat-runtime,
    # and requires nothing (boto3 only as the optional extra for S3 references)
    assert done.returncode == 0, done.stderr
    installed = {path.name for path in (tmp_path / "lib" / "thermostat_runtime").iterdir()}
    assert installed >= {"__init__.py", "py.typed", "protocol.py", "wrapper.py", "start.py", "telemetry.py", "refs.py"}
    assert sorted(path.name for path in (tmp_path / "lib").iterdir()) == ["thermostat_runtime"]
    sdist = tmp_path / "dist" / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        info = archive.extractfile(next(m for m in archive.getmembers() if m.name.endswith("/PKG-INFO")))
        assert info is not None
        metadata = info.read().decode()
    assert "Name: thermostat-runtime" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert all("extra ==" in line for line in requires), requires
