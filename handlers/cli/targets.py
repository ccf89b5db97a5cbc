"""``thermostat targets add|list|remove``: the keep-warm targets in the table.

    thermostat targets add FUNCTION --qualifier Q [--concurrency N | --concurrency auto [--min A] [--max B]]
                           [--group G] [--hold-ms MS] [--payload JSON | --payload-s3 s3://B/K] [--disabled]
                           [--account A] [--region R]
    thermostat targets list [--group G] [--account A]
    thermostat targets remove FUNCTION --qualifier Q [--group G] [--account A] [--region R]

``add`` creates or replaces a target (``--concurrency auto``: every round sizes N within
``[--min, --max]``, default 1 and 10; ``list`` shows ``auto (N=…)`` and why); ``remove``
without ``--group`` removes the function's qualifier from every group it is in.
``--account``/``--region`` place a target in another account (reached through its spoke role) or
region; left out, the control plane's own.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from domain.errors import InvalidInput, NotFound
from domain.targets import (
    DEFAULT_AUTO_MAX,
    DEFAULT_AUTO_MIN,
    DEFAULT_GROUP,
    DEFAULT_HOLD_MS,
    Target,
    TargetProblem,
    check_payload_bucket,
    make_target,
    validate_account,
    validate_group,
    validate_region,
)
from handlers import wiring
from handlers.cli._args import command_group
from handlers.cli._checks import require_function
from handlers.cli._output import emit
from handlers.cli._progress import progress

COLUMNS = (
    "group",
    "function",
    "qualifier",
    "account",
    "region",
    "concurrency",
    "hold_ms",
    "payload",
    "enabled",
    "why",
    "error",
)


def register(commands: Any) -> None:
    """Add the ``targets`` command group."""
    actions = command_group(commands, "targets", "manage keep-warm targets")

    add = actions.add_parser("add", help="add or replace a keep-warm target")
    add.add_argument("function", metavar="FUNCTION", help="function name or unqualified ARN")
    add.add_argument("--qualifier", required=True, help="published version or alias ($LATEST is refused)")
    add.add_argument(
        "--concurrency",
        default="1",
        metavar="N|auto",
        help="environments to keep warm (default 1), or auto: sized by every round from the observed concurrency",
    )
    add.add_argument(
        "--min", dest="auto_min", type=int, help=f"with --concurrency auto: the least N (default {DEFAULT_AUTO_MIN})"
    )
    add.add_argument(
        "--max", dest="auto_max", type=int, help=f"with --concurrency auto: the most N (default {DEFAULT_AUTO_MAX})"
    )
    add.add_argument("--group", default=DEFAULT_GROUP, help=f"schedule group (default {DEFAULT_GROUP})")
    add.add_argument(
        "--hold-ms", type=int, default=DEFAULT_HOLD_MS, help=f"how long each ping holds (default {DEFAULT_HOLD_MS})"
    )
    payload = add.add_mutually_exclusive_group()
    payload.add_argument("--payload", help="a JSON event sent instead of the protocol ping")
    payload.add_argument("--payload-s3", metavar="S3_URI", help="s3://bucket/key of that event")
    add.add_argument("--disabled", action="store_true", help="store the target but do not ping it")
    add.add_argument(
        "--no-check", action="store_true", help="store it without checking that the function and qualifier exist"
    )
    _place_arguments(add)
    add.set_defaults(run=run_add)

    listing = actions.add_parser("list", help="list keep-warm targets")
    listing.add_argument("--group", help="only this group")
    listing.add_argument("--account", help="only the targets of this account (12 digits)")
    listing.set_defaults(run=run_list)

    remove = actions.add_parser("remove", help="remove a keep-warm target")
    remove.add_argument("function", metavar="FUNCTION")
    remove.add_argument("--qualifier", required=True)
    remove.add_argument("--group", help="only from this group (default: every group)")
    _place_arguments(remove)
    remove.set_defaults(run=run_remove)


def _place_arguments(parser: Any) -> None:
    parser.add_argument("--account", help="the function's AWS account (default: the control plane's own)")
    parser.add_argument("--region", dest="target_region", help="the function's region (default: the control plane's)")


def _place(args: argparse.Namespace) -> tuple[str | None, str | None]:
    account = validate_account(args.account) if args.account is not None else None
    region = validate_region(args.target_region) if args.target_region is not None else None
    return account, region


def _row(item: Target | TargetProblem) -> dict[str, Any]:
    if isinstance(item, TargetProblem):
        return {
            "group": item.group,
            "function": item.function,
            "qualifier": item.qualifier,
            "account": item.account,
            "region": item.region,
            "error": item.error,
        }
    record = item.to_record()
    payload = "inline" if item.payload is not None else item.payload_s3
    row = {**record, "payload": payload, "error": None, "why": None}
    if item.auto:
        low, high = item.bounds
        chosen = f"N={item.auto_n}" if item.auto_n is not None else "no round yet"
        row["concurrency"] = f"auto ({chosen}, {low}..{high})"
        row["why"] = item.auto_reason
    for field in ("auto_min", "auto_max", "auto_n", "auto_reason", "auto_at_ms"):
        row.pop(field, None)
    if payload is not None:
        row["hold_ms"] = None  # a custom payload is sent as is: nothing holds the environment
    return row


def _document(item: Target | TargetProblem) -> dict[str, Any]:
    if isinstance(item, TargetProblem):
        return item.model_dump()
    return item.to_record()


def run_add(args: argparse.Namespace) -> int:
    """Validate and store a target."""
    payload: Any = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            raise InvalidInput(
                f"--payload is not JSON ({exc}); quote it, e.g. --payload '{{\"warmer\": true}}'"
            ) from exc
        if payload is None:
            raise InvalidInput("--payload null sends nothing: leave --payload out to send the protocol ping")
    account, region = _place(args)
    target = make_target(
        function=args.function,
        qualifier=args.qualifier,
        group=args.group,
        concurrency=args.concurrency,
        auto_min=args.auto_min,
        auto_max=args.auto_max,
        hold_ms=args.hold_ms,
        payload=payload,
        payloadS3=args.payload_s3,
        enabled=not args.disabled,
        account=account,
        region=region,
    )
    if target.payload_s3 is not None:
        # Refused now rather than at 3 a.m. by the schedule.
        check_payload_bucket(target.payload_s3, frozenset(wiring.settings().payload_buckets))
    if not args.no_check and (account is not None or region is not None):
        # The check reads with the control plane's own credentials and region: another account's
        # function is checked by its first round (through the spoke role), not here.
        progress(args, "note: a target in another account or region is checked by its first round, not now")
    elif not args.no_check:
        require_function(target.function, target.qualifier, skip_hint="or pass --no-check to store it anyway")
    if (target.payload is not None or target.payload_s3 is not None) and target.bounds[1] > 1:
        progress(
            args,
            f"note: a custom payload is sent as is and does not hold its environment, so {target.bounds[1]} "
            "concurrent pings may find fewer environments (the round says how many); the protocol ping "
            "(no --payload) holds each one",
        )
    wiring.target_store().put(target)
    emit(args, target.to_record(), rows=[_row(target)], columns=COLUMNS[:-2])
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print the targets (invalid stored ones included, with their error)."""
    group = validate_group(args.group) if args.group is not None else None
    items = wiring.target_store().load(group)
    if args.account is not None:
        account = validate_account(args.account)
        items = [item for item in items if item.account == account]
    emit(args, {"targets": [_document(item) for item in items]}, rows=[_row(i) for i in items], columns=COLUMNS)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Remove a target from one group, or from every group it is in."""
    if not args.qualifier:
        raise InvalidInput("--qualifier is required: the version or alias the target was added with")
    account, region = _place(args)
    store = wiring.target_store()
    if args.group is not None:
        groups = [validate_group(args.group)]
    else:
        groups = sorted(
            {
                item.group
                for item in store.load(None)
                if (item.function, item.qualifier, item.account, item.region)
                == (args.function, args.qualifier, account, region)
            }
        )
    removed = [
        group
        for group in groups
        if store.delete(
            args.function,
            args.qualifier,
            group,
            **({"account": account, "region": region} if account or region else {}),
        )
    ]
    if not removed:
        where = f"group {args.group!r}" if args.group is not None else "any group"
        raise NotFound(
            f"no keep-warm target {args.function}:{args.qualifier} in {where}; see `thermostat targets list`"
        )
    rows = [{"group": g, "function": args.function, "qualifier": args.qualifier, "removed": True} for g in removed]
    emit(args, {"removed": rows}, rows=rows, columns=("group", "function", "qualifier", "removed"))
    return 0
