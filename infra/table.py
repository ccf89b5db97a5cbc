"""The single DynamoDB table, shared by every record type (pynamodb).

Key design (``pk`` / ``sk``, both strings; ``ttl`` is the TTL attribute):

| record | pk | sk |
|---|---|---|
| deployment bucket | ``BUCKET#{account}#{region}#{project}#{stage}`` | ``BUCKET`` |
| stray bucket | ``STRAY`` | ``{bucket}`` |
| warm target | ``TARGETS`` | ``{group}#{function}#{qualifier}`` |
| hook execution (idempotency) | ``HOOK#{execution_id}`` | ``HOOK`` |
| event receipt (idempotency) | ``EVENT#{event_id}`` | ``EVENT`` |

The two idempotency records are one shape (``infra.idempotency``): ``state``, ``lease_until``,
``outcome`` (JSON), ``claimed_at``, ``deliveries``, ``subject``.

Each feature defines its record as a subclass of :class:`TableModel`; :func:`bind_table`
points all of them at the configured table, at first use rather than at import.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model

from infra import aws

if TYPE_CHECKING:
    import botocore.session
    from pynamodb.connection._botocore_private import BotocoreBaseClientPrivate

_bind_lock = threading.Lock()


class _SharedSessionConnection(Connection):
    """pynamodb's connection, with its client built from the process's botocore session.

    pynamodb gives every model (and every thread) a botocore session of its own, and each new
    session loads the endpoint and service data again: ~40 ms per DynamoDB client at cold start,
    where a client from ``infra.aws``'s session costs a few ms. Clients are built under
    ``infra.aws``'s lock (botocore's ``create_client`` is not thread-safe on one session); once
    built, a client is used from any thread, as pynamodb already does.
    """

    @property
    def session(self) -> botocore.session.Session:
        if self._aws_access_key_id and self._aws_secret_access_key:
            return super().session  # credentials set on a model must not leak into the shared session
        return aws.botocore_session()

    @property
    def client(self) -> BotocoreBaseClientPrivate:
        built = self._client
        # pynamodb's own test: a client whose credentials came back empty is built again.
        if built is not None and (not built._request_signer or built._request_signer._credentials):
            return built  # every request takes this path: no lock
        with aws.client_lock():
            return super().client


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

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        if not isinstance(table.connection, _SharedSessionConnection):
            # Freshly made by pynamodb (its settings and key schema, no client yet): the same
            # object, switched to the shared session before its first request builds a client.
            table.connection.__class__ = _SharedSessionConnection
        return table


def _all_models(base: type[Model]) -> list[type[Model]]:
    found: list[type[Model]] = []
    for sub in base.__subclasses__():
        found.append(sub)
        found.extend(_all_models(sub))
    return found


def bind_table(table_name: str, region: str | None = None) -> None:
    """Point every record model at ``table_name`` (idempotent, thread-safe)."""
    target = (table_name, region or aws.region())
    with _bind_lock:
        models: list[type[Model]] = [TableModel, *_all_models(TableModel)]
        for model in models:
            # Every model, every time: one imported after an earlier binding must follow it too.
            if (model.Meta.table_name, model.Meta.region) != target:
                model.Meta.table_name = target[0]
                model.Meta.region = target[1]
                model._connection = None  # the next call reconnects to the bound table


def forget_connections() -> None:
    """Drop every record model's connection (its client): the next call builds one for the endpoint
    configured now (a restarted local stack listens on a new port under the same table name).
    Runs whenever ``infra.aws`` forgets its sessions: the clients came from a session that is gone."""
    with _bind_lock:
        models: list[type[Model]] = [TableModel, *_all_models(TableModel)]
        for model in models:
            model._connection = None


aws.on_forget(forget_connections)


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
