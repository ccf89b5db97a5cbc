"""How every command group declares itself on the command line."""

from __future__ import annotations

from typing import Any


def command_group(commands: Any, name: str, summary: str) -> Any:
    """Add the command ``name`` (``--help`` shows ``summary``) whose ACTION must be given.

    Returns the subparsers to add the actions to; the chosen action lands in ``<name>_command``.
    """
    group = commands.add_parser(name, help=summary)
    actions = group.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions
