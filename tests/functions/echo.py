"""Echo: wears ``@warmable`` with a probe, and answers with its event and what its context says.

Event knobs (all optional): ``{"print": "a line to log", "sleep_s": 0.2}``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from thermostat_runtime import warmable


def _probe() -> dict[str, Any]:
    return {"pid": os.getpid()}


def _client_context(context: Any) -> dict[str, Any] | None:
    client_context = context.client_context
    if client_context is None:
        return None
    client = client_context.client
    return {
        "custom": client_context.custom,
        "env": client_context.env,
        "client": None
        if client is None
        else {"installation_id": client.installation_id, "app_title": client.app_title},
    }


@warmable(probe=_probe)
def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        if "print" in event:
            print(event["print"])
        if "sleep_s" in event:
            time.sleep(float(event["sleep_s"]))
    return {
        "event": event,
        "pid": os.getpid(),
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": _client_context(context),
        "identity": context.identity.cognito_identity_id,
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "color": os.environ.get("COLOR"),
    }
