"""What a simulated Lambda function is (:class:`SimulatedFunction`), the state the simulated endpoint
keeps of it, and the documents it answers with (its configuration, the runtime module's warm reply).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.http_input import loads

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class SimulatedFunction:
    """How one simulated function behaves."""

    name: str
    #: qualifier -> version. ``$LATEST`` always exists; an unknown qualifier is a 404.
    qualifiers: dict[str, str] = field(default_factory=lambda: {"live": "1", "1": "1"})
    reserved: int | None = None
    provisioned: dict[str, int] = field(default_factory=dict)
    timeout_s: int = 3
    throttle_reason: str | None = None
    function_error: bool = False
    speaks_protocol: bool = True
    #: extra busy time per request, on top of the requested hold (a slow function)
    busy_ms: float = 0.0
    #: answer the first N invokes with 503 ServiceException (a transient service failure)
    fail_first: int = 0
    #: what a ``probe`` ping's reply carries as ``probe`` (None: the function has no probe)
    probe: dict[str, Any] | None = None


@dataclass
class SimulatedEnvironment:
    """One simulated execution environment: its id, its version, how many invocations it served."""

    env_id: str
    version: str
    invocations: int = 0


@dataclass
class SimulatedFunctionState:
    """A function's environments (idle by version, busy count) and its counters."""

    spec: SimulatedFunction
    idle: dict[str, list[SimulatedEnvironment]] = field(default_factory=dict)
    busy: int = 0
    peak_busy: int = 0
    environments: list[str] = field(default_factory=list)
    requests: int = 0
    invocations: int = 0
    throttled: int = 0


def warm_reply(
    spec: SimulatedFunction,
    env: SimulatedEnvironment,
    version: str,
    *,
    cold: bool,
    ping: Mapping[str, Any],
    hold_ms: int,
) -> dict[str, Any]:
    """The runtime module's warm-ping reply, as this environment would give it."""
    return {
        "thermostat": {
            "v": 1,
            "warm": True,
            "environment_id": env.env_id,
            "start_kind": "cold" if cold else "warm",
            "init_type": "on-demand",
            "init_ms": 120.0 if cold else None,
            "function_name": spec.name,
            "function_version": version,
            "correlation_id": ping.get("correlation_id"),
            "probe": spec.probe if ping.get("action") == "probe" else None,
            "index": ping.get("index"),
            "of": ping.get("of"),
            "held_ms": hold_ms,
        }
    }


def configuration(spec: SimulatedFunction, version: str) -> dict[str, Any]:
    """The function's ``FunctionConfiguration`` (the fields the control plane reads)."""
    return {
        "FunctionName": spec.name,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{spec.name}",
        "Version": version,
        "Timeout": spec.timeout_s,
        "MemorySize": 128,
        "Runtime": "python3.11",
        "State": "Active",
    }


def ping_of(body: bytes) -> dict[str, Any] | None:
    """The warm-ping request of an invocation body, or None when the body is not exactly a ping."""
    try:
        event = loads(body or b"null")
    except ValueError:  # not JSON, or nested too deeply: not a ping
        return None
    if isinstance(event, dict) and len(event) == 1 and isinstance(event.get("thermostat"), dict):
        ping: dict[str, Any] = event["thermostat"]
        return ping
    return None
