"""How every command prints: a table for people, one JSON document with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO


def emit(
    args: argparse.Namespace,
    document: Any,
    *,
    rows: Iterable[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Print ``document`` as JSON (``--json``) or ``rows`` as a table (the default).

    With neither ``rows`` nor ``--json``, a mapping is shown as a two-column key/value table.
    """
    out = stream or sys.stdout
    if getattr(args, "json", False):
        out.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
        return
    if rows is None:
        if isinstance(document, Mapping):
            rows = [{"field": key, "value": value} for key, value in document.items()]
            columns = ("field", "value")
        else:
            out.write(f"{document}\n")
            return
    print_table(list(rows), columns=columns, title=title, stream=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """A plain, aligned text table (no colour codes, so it pipes and logs cleanly)."""
    out = stream or sys.stdout
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if title:
        out.write(f"{title}\n")
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(col)) for col in cols] for row in rows]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(cols)]
    out.write("  ".join(col.upper().ljust(widths[i]) for i, col in enumerate(cols)).rstrip() + "\n")
    for line in cells:
        out.write("  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip() + "\n")
