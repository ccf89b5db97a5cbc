"""Run the benchmarks: ``python -m bench [NAME ...] [--args JSON] [--json FILE]`` (``make bench`` runs them all).

Every module ``bench/<name>.py`` that defines ``main()`` is a benchmark; modules whose name starts
with ``_`` are helpers. Each ``main()`` prints its own side-by-side table and returns its figures,
which are printed after it as one JSON line (and written to ``--json FILE`` when asked).
``--args`` passes keyword arguments to ``main()`` (a tiny configuration, as the tests run them).
A benchmark that leaves ``os.environ`` changed is named on stderr and the environment restored,
so the next one starts from the same place.
Exit code: 0 when every benchmark ran, 1 when one failed (the others still run), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def discover(package: str = "bench") -> list[str]:
    """Names of the benchmark modules in ``package``: not ``_``-prefixed, defining ``main()``.

    A module that fails to import is listed too: running it then reports its error.
    """
    root = importlib.import_module(package)
    names = []
    for info in pkgutil.iter_modules(root.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception:  # listed anyway: running it then reports the failure instead of hiding it
            names.append(info.name)
            continue
        if callable(getattr(module, "main", None)):
            names.append(info.name)
    return sorted(names)


def _parser(available: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks and print their figures.",
        epilog=f"available: {', '.join(available) or '(none)'}",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write every figure to FILE as one JSON document"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--args", metavar="JSON", type=_json_object, default={}, help="keyword arguments for each main(), as JSON"
    )
    parser.add_argument("--package", default=None, help=argparse.SUPPRESS)  # the runner's own tests
    return parser


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of keyword arguments")
    return value


def _package_of(argv: list[str] | None, default: str) -> str:
    """``--package`` is needed before parsing (the parser lists what the package holds)."""
    words = sys.argv[1:] if argv is None else argv
    for index, word in enumerate(words):
        if word == "--package" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--package="):
            return word.split("=", 1)[1]
    return default


def main(argv: list[str] | None = None, *, package: str = "bench") -> int:
    """Run the chosen benchmarks one after the other; return the process exit code."""
    package = _package_of(argv, package)
    available = discover(package)
    parser = _parser(available)
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available) or '(none)'}",
            file=sys.stderr,
        )
        return 2
    chosen = args.names or available
    figures: dict[str, Any] = {}
    failed: list[str] = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        environment = dict(os.environ)
        try:
            result = importlib.import_module(f"{package}.{name}").main(**args.args)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        finally:
            _restore(name, environment)
        figures[name] = result
        print(f"figures: {json.dumps(result, default=str, sort_keys=True)}")
        print(f"(bench.{name} took {time.perf_counter() - started:.1f} s)", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, default=str, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _restore(name: str, environment: dict[str, str]) -> None:
    changed = sorted(key for key in set(environment) | set(os.environ) if environment.get(key) != os.environ.get(key))
    if changed:
        print(f"bench.{name} left the environment changed ({', '.join(changed)}); restored", file=sys.stderr)
        os.environ.clear()
        os.environ.update(environment)


if __name__ == "__main__":
    sys.exit(main())
