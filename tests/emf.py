"""EMF validation shared by the tests: the JSON schema plus the spec's target-member rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

_SCHEMA = json.loads((Path(__file__).parent / "unit" / "emf_schema.json").read_text())


def emf_problems(document: dict[str, Any]) -> list[str]:
    """Every way ``document`` breaks the EMF specification (empty when valid)."""
    validator = jsonschema.Draft202012Validator(_SCHEMA)
    problems = [error.message for error in validator.iter_errors(document)]
    if problems:
        return problems
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                value = document.get(name)
                if not isinstance(value, str):
                    problems.append(f"dimension {name!r} must be a string member of the root, got {value!r}")
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            numbers = value if isinstance(value, list) else [value]
            if (
                not numbers
                or len(numbers) > 100
                or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
            ):
                problems.append(f"metric {metric['Name']!r} must be a number (or up to 100 numbers), got {value!r}")
    return problems


def emf_documents(lines: list[str]) -> list[dict[str, Any]]:
    """The EMF documents among printed lines (JSON objects with an ``_aws`` member)."""
    found = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(document, dict) and "_aws" in document:
                found.append(document)
    return found
