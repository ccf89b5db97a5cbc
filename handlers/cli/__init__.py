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
from typing import Any

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
    parser.add_argument("--version", action="version", version=f"thermostat {version()}")
    _add_aws_options(parser, default=None)
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


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from infra.aws import VERSION

    try:
        return installed("lambda-thermostat")
    except PackageNotFoundError:
        return VERSION


def _add_aws_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--region`` and ``--profile`` with the AWS CLI's meaning (before or after the command)."""
    parser.add_argument(
        "--region",
        dest="aws_region",
        default=default,
        metavar="REGION",
        help="AWS region (beats AWS_REGION and the profile's region)",
    )
    parser.add_argument(
        "--profile",
        dest="aws_profile",
        default=default,
        metavar="NAME",
        help="named profile of the AWS config files (its credentials beat AWS_ACCESS_KEY_ID, as in the AWS CLI)",
    )


def _add_json_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--json``, ``--region`` and ``--profile`` go after any command too (``thermostat bucket list --json``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--json" in a.option_strings for a in sub._actions):
                    sub.add_argument(
                        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
                    )
                taken = {option for a in sub._actions for option in a.option_strings}
                if not taken & {"--region", "--profile"}:
                    _add_aws_options(sub, default=argparse.SUPPRESS)
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
    from infra import aws

    # One process, one command: adapters come from the composition root, built from the
    # environment as it is now (a test or a shell that calls main() again gets fresh ones).
    aws.use_command_line(profile=getattr(args, "aws_profile", None), region=getattr(args, "aws_region", None))
    wiring.reset()
    try:
        return _run(run, args)
    finally:
        aws.use_command_line()


def _run(run: Any, args: argparse.Namespace) -> int:
    try:
        return int(run(args) or EXIT_OK)
    except InvalidInput as exc:
        print(f"thermostat: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ThermostatError as exc:
        print(f"thermostat: failed: {exc}", file=sys.stderr)
        hint = _diagnose(exc)
        if hint:
            print(f"thermostat: {hint}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("thermostat: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from infra.aws import error_code

        code = error_code(exc)
        hint = _diagnose(exc)
        if (
            code is None
            and hint is None
            and exc.__class__.__module__.split(".")[0] not in {"botocore", "boto3", "pynamodb"}
        ):
            raise
        print(f"thermostat: AWS call failed: {exc}", file=sys.stderr)
        if hint:
            print(f"thermostat: {hint}", file=sys.stderr)
        return EXIT_FAILED


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def endpoint_variables() -> dict[str, str]:
    """The ``AWS_ENDPOINT_URL[_<SERVICE>]`` variables set in the environment."""
    import os

    return {name: value for name, value in sorted(os.environ.items()) if name.startswith("AWS_ENDPOINT_URL") and value}


def _diagnose(exc: BaseException) -> str | None:
    """What the user can do about an endpoint nothing answers at, or missing credentials (else None).

    An unreachable endpoint is not a credentials problem: with ``AWS_ENDPOINT_URL`` set it is
    almost always a local stack that is not running (or a shell pointed at an old one).
    """
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    from infra.lambda_invoker.connections import ConnectFailed

    chain = _causes(exc)
    kinds = (EndpointConnectionError, ConnectTimeoutError, ConnectionRefusedError, ConnectFailed)
    unreachable: list[BaseException] = [e for e in chain if isinstance(e, kinds)]
    if unreachable:
        where = getattr(unreachable[0], "kwargs", {}).get("endpoint_url")
        at = f" at {where}" if where else ""
        overrides = endpoint_variables()
        if overrides:
            names = ", ".join(f"{name}={value}" for name, value in overrides.items())
            return (
                f"nothing is listening{at}: the endpoint is unreachable (this is not a credentials problem). "
                f"This shell points at {names}. Is `thermostat local` running? Start it in another terminal, "
                'then run `eval "$(thermostat local env)"` here to pick up its endpoints.'
            )
        return (
            f"cannot connect to AWS{at}: check the network and the region "
            "(--region / AWS_REGION); this is not a credentials problem"
        )
    if any(isinstance(e, NoCredentialsError | PartialCredentialsError) for e in chain):
        return (
            "no AWS credentials found: set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            'or, for the local stack, `eval "$(thermostat local env)"`'
        )
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
