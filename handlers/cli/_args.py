"""How every command group declares itself on the command line, and the arguments several commands share."""

from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidInput


def command_group(commands: Any, name: str, summary: str) -> Any:
    """Add the command ``name`` (``--help`` shows ``summary``) whose ACTION must be given.

    Returns the subparsers to add the actions to; the chosen action lands in ``<name>_command``.
    """
    group = commands.add_parser(name, help=summary)
    actions = group.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``6h``, ``2d``, ``1w`` → seconds (``--since``)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise InvalidInput(f"--since {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 6h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]
