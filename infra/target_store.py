"""``DynamoTargetStore``: keep-warm targets in the thermostat table.

One item per target: pk ``TARGETS``, sk ``{group}#{function}#{qualifier}`` (the key design in
``infra/table.py``; ``@{account}@{region}`` appended for a target outside the control plane's own
account or region, so stored keys of older versions keep their meaning), so one query reads a group
(``begins_with(sk, "{group}#")``) or every target. Items are validated when read: a record that
breaks a rule (written by hand, or by an older version) comes back as a
:class:`~domain.targets.TargetProblem`, reported by the round and never pinged, instead of failing
the whole group.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from domain.errors import InvalidInput, Unavailable
from domain.targets import Target, TargetProblem, make_target, split_target_key, target_key, validate_group
from infra import aws
from infra.table import TableModel, bind_table

if TYPE_CHECKING:
    from domain.platform_report import TargetRounds

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
    # Keep-warm rounds (epoch ms), written by every round that pinged the target; read by the report.
    first_round_ms = NumberAttribute(null=True)
    last_round_ms = NumberAttribute(null=True)
    rounds = NumberAttribute(null=True)
    # ``concurrency: auto``: the bounds (``concurrency`` then holds the N to warm at, so that an older
    # reader still warms a sensible number), and the last round's decision, written by the round.
    auto = BooleanAttribute(null=True)
    auto_min = NumberAttribute(null=True)
    auto_max = NumberAttribute(null=True)
    auto_n = NumberAttribute(null=True)
    auto_reason = UnicodeAttribute(null=True)
    auto_at_ms = NumberAttribute(null=True)
    # Another account or region (None: the control plane's own).
    account = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)


def _split_key(sk: str) -> tuple[str, str, str]:
    group, function, qualifier, _, _ = split_target_key(sk)
    return group, function, qualifier


def _number(value: Any) -> int | None:
    return int(value) if value is not None else None


def _to_target(record: TargetRecord) -> Target | TargetProblem:
    group, function, qualifier, account, region = split_target_key(record.sk)
    fields: dict[str, Any] = {
        "group": record.group or group,
        "function": record.function or function,
        "qualifier": record.qualifier if record.qualifier is not None else qualifier,
        "concurrency": "auto" if record.auto else _number(record.concurrency),
        "hold_ms": int(record.hold_ms) if record.hold_ms is not None else None,
        "payloadS3": record.payload_s3,
        "enabled": bool(record.enabled) if record.enabled is not None else True,
        "account": record.account or account,
        "region": record.region or region,
    }
    if record.auto:
        fields.update(
            auto_min=_number(record.auto_min),
            auto_max=_number(record.auto_max),
            auto_n=_number(record.auto_n),
            auto_reason=record.auto_reason,
            auto_at_ms=_number(record.auto_at_ms),
        )
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
            account=account,
            region=region,
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
            concurrency=target.planned_concurrency,
            hold_ms=target.hold_ms,
            payload=payload.decode() if payload is not None else None,
            payload_s3=target.payload_s3,
            enabled=target.enabled,
            account=target.account,
            region=target.region,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if target.auto:
            low, high = target.bounds
            record.auto, record.auto_min, record.auto_max = True, low, high
            record.auto_n, record.auto_reason, record.auto_at_ms = target.auto_n, target.auto_reason, target.auto_at_ms
        try:
            record.save()
        except PynamoDBException as exc:
            raise Unavailable(f"could not save target {target.key}: {exc.cause_response_code or exc}") from exc

    def record_round(
        self,
        function: str,
        qualifier: str,
        group: str,
        at_ms: int,
        account: str | None = None,
        region: str | None = None,
    ) -> bool:
        """Note a keep-warm round that pinged this target at ``at_ms``; False when the target is gone.

        The first round's time is kept (``if_not_exists``), the last one and the count move on; the
        condition keeps a round from bringing a removed target back as a bare item.
        """
        record = TargetRecord(PK, target_key(group, function, qualifier, account, region))
        try:
            record.update(
                actions=[
                    TargetRecord.first_round_ms.set(TargetRecord.first_round_ms | at_ms),
                    TargetRecord.last_round_ms.set(at_ms),
                    TargetRecord.rounds.add(1),
                ],
                condition=TargetRecord.pk.exists(),
            )
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return False
            raise Unavailable(f"could not record the round of {record.sk}: {exc.cause_response_code or exc}") from exc
        return True

    def record_sizing(self, function: str, qualifier: str, group: str, n: int, reason: str, at_ms: int) -> bool:
        """Keep an auto target's last decision (N, why, when): the next round's previous N, and
        what ``targets list`` shows. False when the target is gone or is no longer auto (a
        ``targets add`` in between wins)."""
        record = TargetRecord(PK, f"{group}#{function}#{qualifier}")
        try:
            record.update(
                actions=[
                    TargetRecord.auto_n.set(n),
                    TargetRecord.auto_reason.set(reason[:2_000]),
                    TargetRecord.auto_at_ms.set(at_ms),
                    TargetRecord.concurrency.set(max(1, n)),
                ],
                condition=TargetRecord.pk.exists() & (TargetRecord.auto == True),  # noqa: E712 - a pynamodb condition
            )
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return False
            raise Unavailable(f"could not record the sizing of {record.sk}: {exc.cause_response_code or exc}") from exc
        return True

    def rounds(self) -> list[TargetRounds]:
        """Every target (all groups) with the rounds recorded for it."""
        # Only ``thermostat report`` reads this: the report's models stay off keep-warm's cold start.
        from domain.platform_report import TargetRounds

        try:
            return [
                TargetRounds(
                    function=record.function or _split_key(record.sk)[1],
                    qualifier=record.qualifier if record.qualifier is not None else _split_key(record.sk)[2],
                    first_round_ms=int(record.first_round_ms) if record.first_round_ms is not None else None,
                    last_round_ms=int(record.last_round_ms) if record.last_round_ms is not None else None,
                    rounds=int(record.rounds or 0),
                )
                for record in TargetRecord.query(PK)
            ]
        except PynamoDBException as exc:
            raise Unavailable(f"could not read keep-warm targets: {exc.cause_response_code or exc}") from exc

    def load_keys(self, keys: list[str]) -> list[Target | TargetProblem]:
        """The targets stored under ``keys`` (one shard's), in key order; keys with no item are left out."""
        try:
            records = list(TargetRecord.batch_get([(PK, key) for key in dict.fromkeys(keys)]))
        except PynamoDBException as exc:
            raise Unavailable(f"could not read keep-warm targets: {exc.cause_response_code or exc}") from exc
        return [_to_target(record) for record in sorted(records, key=lambda record: record.sk)]

    def delete(
        self, function: str, qualifier: str, group: str, account: str | None = None, region: str | None = None
    ) -> bool:
        """Remove one target; False when there was none."""
        sk = target_key(group, function, qualifier, account, region)
        try:
            TargetRecord(PK, sk).delete(condition=TargetRecord.pk.exists())
        except PynamoDBException as exc:
            if exc.cause_response_code == aws.CONDITION_FAILED:
                return False
            raise Unavailable(f"could not remove target {sk}: {exc.cause_response_code or exc}") from exc
        return True
