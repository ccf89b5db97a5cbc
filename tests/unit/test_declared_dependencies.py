"""Every import the code makes is declared in pyproject.toml, in the right place, and nothing else is.

The modules are read with ``ast`` (nothing is imported). A top-level name that is neither the
standard library (``sys.stdlib_module_names``) nor first-party is mapped to its distribution by
``importlib.metadata.packages_distributions()`` of this environment. What a Lambda bundle runs
(``domain``, ``infra``, ``handlers`` without the CLI, the runtime module) must be in
``[project].dependencies``, and pinned in ``serverless/requirements.txt`` (what the bundle
installs); the CLI, the emulator and the Zappa callbacks may also use the ``cli`` extra, the CDK
constructs (``thermostat_cdk``) the ``cdk`` extra. Imports under ``if
TYPE_CHECKING:`` run only under mypy: they must come from the ``dev`` extra. And the other way
round: each runtime and ``cli`` dependency is imported by the code that it is declared for.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_MODULE = ROOT / "serverless" / "layer" / "python" / "thermostat_runtime"
FIRST_PARTY = {
    "domain",
    "infra",
    "emulator",
    "handlers",
    "thermostat_runtime",
    "thermostat_zappa",
    "thermostat_cdk",
    "tests",
    "bench",
}
#: The extra each scope may use beyond the runtime dependencies.
SCOPE_EXTRA = {"core": None, "cli": "cli", "cdk": "cdk"}
#: Declared but never imported by name, each for a reason. (None today.)
NOT_IMPORTED_ON_PURPOSE: dict[str, str] = {}
#: Imported by the runtime module but never bundled: the Lambda runtime itself provides them.
PROVIDED_BY_THE_LAMBDA_RUNTIME: dict[str, str] = {
    # https://github.com/aws/aws-lambda-python-runtime-interface-client: awslambdaric depends on
    # snapshot-restore-py and runs its hooks; imported only when AWS_LAMBDA_INITIALIZATION_TYPE=snap-start.
    "snapshot_restore_py": "thermostat_runtime/snapstart.py",
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, typing_only: bool = False) -> set[tuple[str, bool]]:
    """``(top-level name, only under TYPE_CHECKING)`` of every absolute import in ``tree``."""
    found: set[tuple[str, bool]] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                found |= _imports(ast.Module(body=[child], type_ignores=[]), typing_only=True)
            for child in node.orelse:
                found |= _imports(ast.Module(body=[child], type_ignores=[]), typing_only)
            continue
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], typing_only) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], typing_only))
        found |= _imports(node, typing_only)
    return found


def _modules(scope: str) -> list[Path]:
    if scope == "core":
        paths = [*(ROOT / "domain").rglob("*.py"), *(ROOT / "infra").rglob("*.py"), *RUNTIME_MODULE.rglob("*.py")]
        paths += [path for path in (ROOT / "handlers").rglob("*.py") if "cli" not in path.relative_to(ROOT).parts]
    elif scope == "cdk":
        paths = [*(ROOT / "thermostat_cdk").rglob("*.py")]
    else:
        paths = [*(ROOT / "handlers" / "cli").rglob("*.py"), *(ROOT / "emulator").rglob("*.py")]
        paths += [*(ROOT / "thermostat_zappa").rglob("*.py")]
    return sorted(path for path in paths if "__pycache__" not in path.parts)


@cache
def _imported(scope: str) -> dict[tuple[str, bool], set[str]]:
    """Third-party top-level names of a scope (with whether typing-only) -> the modules importing them."""
    found: dict[tuple[str, bool], set[str]] = {}
    for path in _modules(scope):
        for name, typing_only in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if scope == "core" and name in PROVIDED_BY_THE_LAMBDA_RUNTIME and path.is_relative_to(RUNTIME_MODULE):
                continue
            if name not in sys.stdlib_module_names and name not in FIRST_PARTY:
                found.setdefault((name, typing_only), set()).add(path.relative_to(ROOT).as_posix())
    return found


def _distributions(name: str) -> set[str]:
    distributions = packages_distributions().get(name)
    assert distributions, f"{name!r} is imported but no installed distribution provides it"
    return {canonicalize_name(distribution) for distribution in distributions}


@cache
def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    declared: dict[str, set[str]] = {}
    for group, requirements in groups.items():
        names = declared.setdefault(group, set())
        for text in requirements:
            requirement = Requirement(text)
            names.add(canonicalize_name(requirement.name))
            if canonicalize_name(requirement.name) == "boto3-stubs":
                # boto3-stubs[lambda] installs the distribution mypy-boto3-lambda
                names |= {canonicalize_name(f"mypy-boto3-{extra}") for extra in requirement.extras}
    return declared


def _pinned_in_the_bundle() -> set[str]:
    lines = (ROOT / "serverless" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert all("==" in pin for pin in pins), pins
    return {canonicalize_name(Requirement(pin).name) for pin in pins}


def test_the_import_scanner_sees_typing_only_and_nested_imports() -> None:
    # The scanner must bite, or the tests below prove nothing.
    tree = ast.parse(
        "import a.b\nfrom c import d\nfrom . import e\nif TYPE_CHECKING:\n    import f\nelse:\n    import g\n"
        "def h():\n    import i\n    if typing.TYPE_CHECKING:\n        from j import k\n"
    )
    assert _imports(tree) == {("a", False), ("c", False), ("f", True), ("g", False), ("i", False), ("j", True)}


@pytest.mark.parametrize("scope", list(SCOPE_EXTRA))
def test_every_third_party_import_is_declared_where_it_runs(scope: str) -> None:
    # Given what the scope imports at run time, and what pyproject declares for it
    declared = _declared()
    extra = SCOPE_EXTRA[scope]
    allowed = declared["core"] | (declared[extra] if extra else set())

    # When each imported name is mapped to its distribution
    undeclared = {
        f"{name} ({', '.join(sorted(modules))})": sorted(_distributions(name) - allowed)
        for (name, typing_only), modules in _imported(scope).items()
        if not typing_only and not _distributions(name) & allowed
    }

    # Then each comes from a dependency declared for that scope
    assert undeclared == {}


@pytest.mark.parametrize("scope", list(SCOPE_EXTRA))
def test_typing_only_imports_come_from_the_dev_extra(scope: str) -> None:
    declared = _declared()
    undeclared = {
        name: sorted(modules)
        for (name, typing_only), modules in _imported(scope).items()
        if typing_only and not _distributions(name) & (declared["dev"] | declared["core"])
    }
    assert undeclared == {}


@pytest.mark.parametrize(("group", "scope"), [("core", "core"), ("cli", "cli"), ("cdk", "cdk")])
def test_every_declared_dependency_is_imported_by_the_code_it_is_declared_for(group: str, scope: str) -> None:
    # Given the distributions the scope imports at run time
    used = {
        distribution
        for (name, typing_only), _ in _imported(scope).items()
        if not typing_only
        for distribution in _distributions(name)
    }

    # When the group's declared dependencies are compared with them
    unused = _declared()[group] - used - set(NOT_IMPORTED_ON_PURPOSE)

    # Then none is declared for nothing
    assert unused == set()


def test_the_bundle_pins_every_runtime_dependency_and_nothing_of_the_cli() -> None:
    # Given the bundle's pins and the declared groups
    pinned = _pinned_in_the_bundle()
    declared = _declared()

    # Then every runtime dependency is in the bundle, and no cli-only one is
    assert declared["core"] - pinned == set()
    assert (declared["cli"] - declared["core"]) & pinned == set()
