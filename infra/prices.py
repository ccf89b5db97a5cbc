"""The price table: the dated one shipped with thermostat, or the file ``THERMOSTAT_PRICES_FILE`` names.

Nothing fetches prices at run time: AWS's pricing page renders its tables client-side and the
Price List API needs credentials and a region of its own. A table is read once per command.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from domain.costs import PriceTable, parse_price_table
from domain.errors import InvalidInput

#: The shipped table, package data of ``domain``.
SHIPPED = "prices/lambda-prices.json"


def shipped_price_table() -> PriceTable:
    """The table shipped with this version of thermostat."""
    text = resources.files("domain").joinpath(SHIPPED).read_text(encoding="utf-8")
    return parse_price_table(json.loads(text), f"(shipped) domain/{SHIPPED}")


def load_price_table(path: str | Path | None) -> PriceTable:
    """The table at ``path`` (validated: ``InvalidInput`` says what is wrong), or the shipped one when None."""
    if path is None:
        return shipped_price_table()
    where = Path(path)
    origin = f"{where} (THERMOSTAT_PRICES_FILE or --prices)"
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"price table {origin} does not exist: point it at a JSON price table") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"price table {origin} cannot be read: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"price table {origin} is not JSON: {exc}") from exc
    return parse_price_table(document, origin)
