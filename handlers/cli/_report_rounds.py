"""``thermostat report --account A [--group G]``: the latest sharded keep-warm round, per account and region."""

from __future__ import annotations

import argparse
from typing import Any

from domain.errors import NotFound
from domain.targets import validate_account, validate_group
from handlers import wiring
from handlers.cli._output import emit, print_table

PLACE_COLUMNS = (
    "account",
    "region",
    "shards",
    "shards_failed",
    "shards_timed_out",
    "shards_missing",
    "targets",
    "sent",
    "environments",
    "cold",
    "errors",
    "throttled",
    "error",
)
SHARD_COLUMNS = ("index", "account", "region", "targets", "status", "attempts", "error")


def run_rounds(args: argparse.Namespace) -> int:
    """Print the latest finalised sharded round of the group, for one account (all with ``--account all``)."""
    account = None if args.account == "all" else validate_account(args.account)
    group = validate_group(args.group)
    report = wiring.shard_ledger().latest(group)
    if report is None:
        raise NotFound(
            f"no finalised sharded keep-warm round in group {group!r} yet: rounds are sharded when targets live in "
            "other accounts or regions or exceed THERMOSTAT_SHARD_TARGETS (see `thermostat targets list`)"
        )
    places = [p.model_dump(mode="json") for p in report.places if account is None or p.account == account]
    shards = [s.model_dump(mode="json") for s in report.shards if account is None or s.account == account]
    if account is not None and not places:
        known = ", ".join(sorted({p.account or "own" for p in report.places}))
        raise NotFound(f"round {report.round_id} has no shard in account {account} (accounts: {known})")
    document: dict[str, Any] = {
        "round_id": report.round_id,
        "group": report.group,
        "complete": report.complete,
        "places": places,
        "shards": shards,
    }
    if getattr(args, "json", False):
        emit(args, document)
        return 0
    state = "complete" if report.complete else "incomplete: shards missing"
    print(f"keep-warm round {report.round_id} (group {report.group}, {state})")
    print()
    print_table(places, columns=PLACE_COLUMNS, title="Per account and region")
    print()
    print_table(shards, columns=SHARD_COLUMNS, title="Shards")
    return 0
