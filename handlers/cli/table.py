"""``thermostat table create``: create the DynamoDB table if missing (dev, tests, local)."""

from __future__ import annotations

import argparse
from typing import Any

from handlers import wiring
from handlers.cli._args import command_group
from handlers.cli._output import emit
from infra.table import create_table


def register(commands: Any) -> None:
    """Add the ``table`` command group."""
    actions = command_group(commands, "table", "manage thermostat's DynamoDB table")
    create = actions.add_parser("create", help="create the table if it does not exist")
    create.set_defaults(run=run_create)


def run_create(args: argparse.Namespace) -> int:
    """Create the table named by THERMOSTAT_TABLE."""
    settings = wiring.settings()
    name = settings.require_table()
    created = create_table(name, settings.region)
    emit(args, {"table": name, "region": settings.region, "created": created})
    return 0
