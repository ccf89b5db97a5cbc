"""``DynamoTargetStore``: keep-warm targets in the thermostat table.

One item per target: pk ``TARGETS``, sk ``{group}#{function}#{qualifier}`` (the key design in
``infra/table.py``), so one query reads a group (``begins_with(sk, "{group}#")``) or every
target. Items are validated when read: a record that breaks a rule (written by hand, or by an
older version) comes back as a :class:`~domain.targets.TargetProblem`, reported by the round and
never pinged, instead of failing the whole group.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from domain.errors import InvalidInput, Unavailable
from domain.targets import Target, TargetProblem, make_target, validate_group
from infra import aws
from infra.table import TableModel, bind_table

PK: Final = "TARGETS"


class TargetRecord(TableModel):
    """One keep-warm target (pk ``TARGETS``, sk ``{group}#{function}#{qualifier}``)."""

    group = UnicodeAttribute()
    function = UnicodeAttribute()
    qualifier = UnicodeAttribute()
    concurrency = NumberAttribute()
    hold_ms = NumberAttribute()
    payload = UnicodeAttribute(null=True)  # JSON text
    payload_s3 = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    updated_at = UnicodeAttribute(null=True)


def _split_key(sk: str) -> tuple[str, str, str]:
    group, _, rest = sk.partition("#")
    function, _, qualifier = rest.rpartition("#")
    return group, function, qualifier


def _to_target(record: TargetRecord) -> Target | TargetProblem:
    group, function, qualifier = _split_key(record.sk)
    fields: dict[str, Any] = {
        "group": record.group or group,
        "function": record.function or function,
        "qualifier": record.qualifier if record.qualifier is not None else qualifier,
        "concurrency": int(record.concurrency) if record.concurrency is not None else None,
        "hold_ms": int(record.hold_ms) if record.hold_ms is not None else None,
        "payloadS3": record.payload_s3,
        "enabled": bool(record.enabled) if record.enabled is not None else True,
    }
    fields = {name: value for name, value in fields.items() if value is not None}
    try:
        if record.payload is not None:
            fields["payload"] = json.loads(record.payload)
        return make_target(**fields)
    except (InvalidInput, ValueError) as exc:
        return TargetProblem(
            group=str(fields.get("group", group)),
            function=str(fields.get("function", function)),
            qualifier=str(fields.get("qualifier", qualifier)),
            error=f"stored target {record.sk} is not valid: {exc}; fix it with `thermostat targets add` or remove it",
        )


class DynamoTargetStore:
    """The :class:`~domain.targets.TargetStore` port on the thermostat table (pynamodb)."""

    def __init__(self, table_name: str, region: str | None = None) -> None:
        bind_table(table_name, region)

    def load(self, group: str | None = None) -> list[Target | TargetProblem]:
        """Every target of ``group`` (all groups when None), in key order."""
        try:
            if group is None:
                records = TargetRecord.query(PK)
            else:
                validate_group(group)
                records = TargetRecord.query(PK, TargetRecord.sk.startswith(f"{group}#"))
            return [_to_target(record) for record in records]
        except PynamoDBException as exc:
            raise Unavailable(f"could not read keep-warm targets: {exc.cause_response_code or exc}") from exc

    def put(self, target: Target) -> None:
        """Create or replace ``target``."""
        payload = target.payload_bytes()
        record = TargetRecord(
            PK,
            target.key,
            group=target.group,
            function=target.function,
            qualifier=target.qualifier,
            concurrency=target.concurrency,
            hold_ms=target.hold_ms,
            payload=payload.decode() if payload is not None else None,
            payload_s3=target.payload_s3,
            enabled=target.enabled,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        try:
            record.save()
        except PynamoDBException as exc:
            raise Unavailable(f"could not save target {target.key}: {exc.cause_response_code or exc}") from exc

    def delete(self, function: str, qualifier: str, group: str) -> bool:
        """Remove one target; False when there was none."""
        sk = f"{group}#{function}#{qualifier}"
        try:
            TargetRecord(PK, sk).delete(condition=TargetRecord.pk.exists())
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return False
            raise Unavailable(f"could not remove target {sk}: {exc.cause_response_code or exc}") from exc
        return True
