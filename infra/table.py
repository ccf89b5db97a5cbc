"""The single DynamoDB table, shared by every record type (pynamodb).

Key design (``pk`` / ``sk``, both strings; ``ttl`` is the TTL attribute):

| record | pk | sk |
|---|---|---|
| deployment bucket | ``BUCKET#{account}#{region}#{project}#{stage}`` | ``BUCKET`` |
| stray bucket | ``STRAY`` | ``{bucket}`` |
| warm target | ``TARGETS`` | ``{group}#{function}#{qualifier}`` |
| hook execution | ``HOOK#{execution_id}`` | ``HOOK`` |
| event receipt (dedupe) | ``EVENT#{event_id}`` | ``EVENT`` |

Each feature defines its record as a subclass of :class:`TableModel`; :func:`bind_table`
points all of them at the configured table, at first use rather than at import.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from infra import aws

_bind_lock = threading.Lock()
_bound: tuple[str, str] | None = None


class TableModel(Model):
    """Base of every record stored in the thermostat table."""

    class Meta:
        table_name = "thermostat-unbound"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"
        max_retry_attempts = 2

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ttl = TTLAttribute(null=True)


def _all_models(base: type[Model]) -> list[type[Model]]:
    found: list[type[Model]] = []
    for sub in base.__subclasses__():
        found.append(sub)
        found.extend(_all_models(sub))
    return found


def bind_table(table_name: str, region: str | None = None) -> None:
    """Point every record model at ``table_name`` (idempotent, thread-safe)."""
    global _bound
    target = (table_name, region or aws.region())
    with _bind_lock:
        models: list[type[Model]] = [TableModel, *_all_models(TableModel)]
        for model in models:
            # Every model, every time: one imported after an earlier binding must follow it too.
            if (model.Meta.table_name, model.Meta.region) != target:
                model.Meta.table_name = target[0]
                model.Meta.region = target[1]
                model._connection = None  # the next call reconnects to the bound table
        _bound = target


def create_table(table_name: str, region: str | None = None, wait: bool = True) -> bool:
    """Create the table if missing (dev, tests, local stack). Returns True when it was created.

    Production creates it from ``serverless/template.yaml``; the schema here matches it.
    """
    bind_table(table_name, region)
    if TableModel.exists():
        return False
    TableModel.create_table(wait=wait, billing_mode="PAY_PER_REQUEST")
    client = aws.client("dynamodb", region_name=region)
    try:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
    except Exception as exc:
        if aws.error_code(exc) not in {"ValidationException", None}:
            raise
    return True


def describe(table_name: str) -> dict[str, Any]:
    """The table description (used by health checks and the CLI)."""
    bind_table(table_name)
    return dict(TableModel.describe_table())
