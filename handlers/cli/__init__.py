"""The ``thermostat`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``;
``main`` discovers them, so adding a command never touches this file. Every command prints a
human table by default and one JSON document with ``--json``. Exit codes: 0 success, 2 bad
usage or bad input (the message says what to fix), 1 a failed operation.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from domain.errors import InvalidInput, ThermostatError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command module's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="thermostat",
        description="Control plane for AWS Lambda fleets: deployment buckets, keep-warm, pre-traffic hooks.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(commands)
    _add_json_everywhere(parser)
    return parser


def _add_json_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--json`` go after any command too (``thermostat bucket list --json``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--json" in a.option_strings for a in sub._actions):
                    sub.add_argument(
                        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
                    )
                _add_json_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from handlers import wiring

    # One process, one command: adapters come from the composition root, built from the
    # environment as it is now (a test or a shell that calls main() again gets fresh ones).
    wiring.reset()
    try:
        return int(run(args) or EXIT_OK)
    except InvalidInput as exc:
        print(f"thermostat: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ThermostatError as exc:
        print(f"thermostat: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("thermostat: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from infra.aws import error_code

        code = error_code(exc)
        if code is None and exc.__class__.__module__.split(".")[0] not in {"botocore", "boto3", "pynamodb"}:
            raise
        print(f"thermostat: AWS call failed: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
