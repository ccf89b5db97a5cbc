"""The layering of ARCHITECTURE.md, checked on the source (AST only: nothing is imported or run).

* ``infra/`` and ``emulator/`` never import ``handlers``;
* ``domain/`` imports none of the AWS SDKs, Powertools, ``infra``, ``emulator`` or ``handlers``;
* ``thermostat_runtime`` imports only the standard library and itself;
* no import cycle among the modules of ``domain``, ``infra``, ``emulator`` and ``handlers``, counting
  imports at module level and inside functions (an import only under ``if TYPE_CHECKING:`` is
  never executed, so it is left out of the cycle check);
* no test imports ``bench`` (benchmarks are programs: tests run them, see ``tests/benches.py``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_ROOT = ROOT / "serverless" / "layer" / "python"
LAYERS = ("domain", "infra", "emulator", "handlers")
DOMAIN_BANNED = ("boto3", "botocore", "pynamodb", "aws_lambda_powertools", "infra", "emulator", "handlers")


@dataclass(frozen=True)
class Import:
    """One imported module as written (absolute), where, and whether only for the type checker."""

    module: str
    names: tuple[str, ...]
    line: int
    type_checking_only: bool
    in_function: bool


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str) -> list[Import]:
    """Every import statement of ``path`` (module ``module``), relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, guarded: bool, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True, in_function)
            for child in node.orelse:
                visit(child, guarded, in_function)
            return
        in_function = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, (), node.lineno, guarded, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            found.append(Import(target, names, node.lineno, guarded, in_function))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, in_function)

    visit(tree, False, False)
    return found


def sources(package: str, base: Path = ROOT) -> Iterator[tuple[Path, str]]:
    for path in sorted((base / package).rglob("*.py")):
        yield path, module_name(path, base)


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _where(path: Path, item: Import) -> str:
    return f"{path.relative_to(ROOT)}:{item.line} imports {item.module}"


def test_infra_and_emulator_never_import_handlers() -> None:
    offenders = [
        _where(path, item)
        for layer in ("infra", "emulator")
        for path, module in sources(layer)
        for item in imports_of(path, module)
        if _top(item.module) == "handlers"
    ]
    assert offenders == []


def test_domain_imports_no_sdk_no_powertools_and_no_outer_layer() -> None:
    offenders = [
        _where(path, item)
        for path, module in sources("domain")
        for item in imports_of(path, module)
        if _top(item.module) in DOMAIN_BANNED
    ]
    assert offenders == []


#: The documented exceptions: ``thermostat_runtime/refs.py``'s S3 client for payload references
#: imports boto3 inside the function that builds it, at the first reference met (the Lambda Python
#: runtime ships boto3); ``thermostat_runtime/snapstart.py`` imports the runtime's SnapStart hook
#: registry, ``snapshot_restore_py``, inside the function that registers the hooks, only under
#: ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` (Lambda's Python runtime ships it). Never at
#: import time; nothing else.
RUNTIME_LAZY_IMPORTS = {
    ("thermostat_runtime.refs", "boto3"),
    ("thermostat_runtime.refs", "botocore.config"),
    ("thermostat_runtime.snapstart", "snapshot_restore_py"),
}


def test_the_runtime_module_imports_only_the_standard_library() -> None:
    outside = [
        (module, path, item)
        for path, module in sources("thermostat_runtime", RUNTIME_ROOT)
        for item in imports_of(path, module)
        if _top(item.module) not in sys.stdlib_module_names and _top(item.module) != "thermostat_runtime"
    ]
    offenders = [
        _where(path, item) for module, path, item in outside if (module, item.module) not in RUNTIME_LAZY_IMPORTS
    ]
    assert offenders == []
    assert {(module, item.module) for module, _path, item in outside} <= RUNTIME_LAZY_IMPORTS
    assert all(item.in_function for _module, _path, item in outside)  # never at import time


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports when run (``TYPE_CHECKING``-only imports left out)."""
    files = {module: path for layer in LAYERS for path, module in sources(layer)}
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        for item in imports_of(path, module):
            if item.type_checking_only or _top(item.module) not in LAYERS:
                continue
            # ``from pkg import mod`` imports the module pkg.mod when there is one, else names of pkg.
            targets = [f"{item.module}.{name}" for name in item.names if f"{item.module}.{name}" in files]
            if len(targets) < len(item.names) or not item.names:
                target = item.module
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target:
                    targets.append(target)
            graph[module].update(target for target in targets if target != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_scanner_sees_guarded_relative_and_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    source = package / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nfrom .sibling import thing\nif TYPE_CHECKING:\n    import typed_only\n"
        "def late():\n    import inside\n",
        encoding="utf-8",
    )

    seen = {item.module: (item.type_checking_only, item.in_function) for item in imports_of(source, "pkg.mod")}

    assert seen == {
        "typing": (False, False),
        "pkg.sibling": (False, False),
        "typed_only": (True, False),
        "inside": (False, True),
    }


def test_the_cycle_finder_finds_a_cycle_and_ignores_a_chain() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_among_domain_infra_emulator_and_handlers() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the scan saw the packages (a wrong root would pass vacuously)

    assert cycles(graph) == []


def test_no_test_imports_bench() -> None:
    offenders = [
        _where(path, item)
        for path, module in sources("tests")
        for item in imports_of(path, module)
        if _top(item.module) == "bench"
    ]
    assert offenders == []
