"""A warmable target whose probe is a real DynamoDB round trip.

The table is named by ``DEMO_TABLE`` (key ``pk``/``sk``, strings; the thermostat table's shape, so
``thermostat table create`` makes a compatible one). The probe writes a token under this
environment's own key and reads it back with a consistent read: the pre-traffic hook then proves
that the new version reaches its database, not only that it starts. The client is built at the
first use, never at import, and honours ``AWS_ENDPOINT_URL`` like every boto3 client.
"""

from __future__ import annotations

import os
import time
from typing import Any

from thermostat_runtime import ENVIRONMENT, warmable

TABLE_ENV = "DEMO_TABLE"
PROBE_TTL_S = 3600

_client: Any = None


def _dynamodb() -> Any:
    global _client
    if _client is None:
        import boto3  # here, not at import: a warm ping never pays for it

        _client = boto3.client("dynamodb")
    return _client


def _table() -> str:
    table = os.environ.get(TABLE_ENV)
    if not table:
        raise RuntimeError(f"{TABLE_ENV} is not set: name the DynamoDB table this function uses")
    return table


def probe() -> dict[str, Any]:
    """Write a token, read it back consistently, and say how long the round trip took."""
    table = _table()
    key = {"pk": {"S": f"PROBE#{ENVIRONMENT.environment_id}"}, "sk": {"S": "PROBE"}}
    token = os.urandom(8).hex()
    began = time.perf_counter()
    client = _dynamodb()
    client.put_item(
        TableName=table,
        Item={**key, "token": {"S": token}, "ttl": {"N": str(int(time.time()) + PROBE_TTL_S)}},
    )
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
    if item.get("token", {}).get("S") != token:
        raise RuntimeError(f"the token written to {table} did not read back")
    return {"table": table, "round_trip_ms": round((time.perf_counter() - began) * 1000.0, 3)}


def record_order(event: Any) -> dict[str, Any]:
    """The business logic: store an order ``{"order_id": str, "amount": number}``."""
    order_id = event.get("order_id") if isinstance(event, dict) else None
    amount = event.get("amount") if isinstance(event, dict) else None
    if not isinstance(order_id, str) or not order_id or len(order_id) > 64:
        return {"statusCode": 400, "body": "order_id must be a string of 1 to 64 characters"}
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
        return {"statusCode": 400, "body": "amount must be a non-negative number"}
    _dynamodb().put_item(
        TableName=_table(),
        Item={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}, "amount": {"N": repr(amount)}},
    )
    return {"statusCode": 201, "body": order_id}


@warmable(probe=probe)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - Lambda's signature
    """The function's entry point."""
    return record_order(event)
