"""thermostat's runtime module: warm pings, true cold-start telemetry, payload references.

Standard library only, so that it adds almost nothing to a function's cold start. boto3 is
imported lazily, and only when an S3 reference is actually met.
"""

from __future__ import annotations

from .protocol import (
    DEFAULT_HOLD_MS_MAX,
    PROTOCOL_VERSION,
    Ping,
    ProtocolError,
    Reply,
    build_request,
    detect_ping,
    parse_reply,
)
from .start import COLD_KINDS, Environment, classify_start, is_cold, normalise_init_type
from .telemetry import Telemetry
from .wrapper import ENVIRONMENT, ThermostatWarning, warmable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .start import StartKind

__version__ = "0.1.0"

__all__ = [
    "COLD_KINDS",
    "DEFAULT_HOLD_MS_MAX",
    "ENVIRONMENT",
    "PROTOCOL_VERSION",
    "Environment",
    "Ping",
    "ProtocolError",
    "Reply",
    "StartKind",
    "Telemetry",
    "ThermostatWarning",
    "__version__",
    "build_request",
    "classify_start",
    "detect_ping",
    "is_cold",
    "normalise_init_type",
    "parse_reply",
    "warmable",
]
