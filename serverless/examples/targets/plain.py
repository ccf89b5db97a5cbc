"""A plain warmable target: its handler wears ``@warmable`` and nothing else.

Warm pings (thermostat's, and those of serverless-plugin-warmup, lambda-warmer, Zappa and OpenNext)
are answered without running the handler; every invocation writes one telemetry line with its
true start kind. The probe runs the handler's own logic on a canned request, with no I/O, so that
the pre-traffic hook checks the code path and not only that the function answered.
"""

from __future__ import annotations

from typing import Any

from thermostat_runtime import warmable


def greet(event: Any) -> dict[str, Any]:
    """The business logic: a greeting, or a 400 that says what was wrong."""
    name = event.get("name", "world") if isinstance(event, dict) else None
    if not isinstance(name, str) or not name or len(name) > 100:
        return {"statusCode": 400, "body": "name must be a string of 1 to 100 characters"}
    return {"statusCode": 200, "body": f"hello, {name}"}


def probe() -> dict[str, Any]:
    """Run the real logic on a known request; raising makes the probe (and the hook) fail."""
    answer = greet({"name": "probe"})
    if answer["statusCode"] != 200:
        raise RuntimeError(f"greet answered {answer['statusCode']} to a valid request")
    return {"statusCode": answer["statusCode"]}


@warmable(probe=probe)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - Lambda's signature
    """The function's entry point."""
    return greet(event)
