"""One structured line per invocation, which is also a CloudWatch EMF document.

CloudWatch Logs extracts the metrics (``ColdStart``, ``WarmPing``) from the ``_aws`` block and
keeps every other field searchable, so one write per invocation serves both purposes.
``ColdStart`` is 1 for ``cold``/``restore`` and 0 for any other ordinary invocation (sum = count,
average = rate); pings emit ``WarmPing`` and never ``ColdStart``.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    Sink = Callable[[str], object]

DEFAULT_NAMESPACE: Final = "Thermostat"
MARKER: Final = "thermostat"
#: thermostat's own namespace; ``POWERTOOLS_METRICS_NAMESPACE`` belongs to the function's Powertools,
#: whose ``ColdStart`` (dimension ``function_name``) must not share a namespace with ours.
NAMESPACE_VARIABLE: Final = "THERMOSTAT_METRICS_NAMESPACE"


def metrics_namespace() -> str:
    """The namespace of every metric thermostat writes (``THERMOSTAT_METRICS_NAMESPACE``, default ``Thermostat``)."""
    return os.environ.get(NAMESPACE_VARIABLE, "").strip() or DEFAULT_NAMESPACE


def _stdout_sink(line: str) -> object:
    return sys.stdout.write(line + "\n")


class Telemetry:
    """Formats and writes the per-invocation record. The static part is built once."""

    def __init__(self, sink: Sink | None = None, namespace: str | None = None) -> None:
        self.sink: Sink = sink or _stdout_sink
        self.namespace = namespace or metrics_namespace()
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "unknown")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or self.function_name
        self._cache: dict[tuple[str, bool], tuple[str, str]] = {}

    def _static(self, init_type: str, ping: bool) -> tuple[str, str]:
        """The parts of the line that never change within an environment, cached per shape."""
        key = (init_type, ping)
        cached = self._cache.get(key)
        if cached is None:
            import json  # once per environment; keeps json (and re) off the import path

            metric = "WarmPing" if ping else "ColdStart"
            head = '{"_aws":{"Timestamp":'
            directive = json.dumps(
                [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["InitType"], ["FunctionName", "InitType"]],
                        "Metrics": [{"Name": metric, "Unit": "Count"}],
                    }
                ],
                separators=(",", ":"),
            )
            fixed = json.dumps(
                {
                    MARKER: 1,
                    "FunctionName": self.function_name,
                    "InitType": init_type,
                    "function_version": self.function_version,
                    "service": self.service,
                },
                separators=(",", ":"),
            )[1:-1]
            cached = (head, ',"CloudWatchMetrics":' + directive + "}," + fixed)
            self._cache[key] = cached
        return cached

    def line(
        self,
        *,
        kind: str,
        found: str,
        init_type: str,
        init_ms: float | None,
        environment_id: str,
        request_id: str | None,
        duration_ms: float,
        error: str | None = None,
        peer: str | None = None,
    ) -> str:
        """Format the record for one invocation as one JSON line (an EMF document)."""
        ping = kind == "warm_ping"
        head, fixed = self._static(init_type, ping)
        cold = kind in {"cold", "restore"}
        if ping:
            value = ',"WarmPing":1'
        else:
            value = ',"ColdStart":1' if cold else ',"ColdStart":0'
        tail = ""
        if error is not None:
            tail += ',"error":' + _json_str(error)
        if peer is not None:
            tail += ',"peer":' + _json_str(peer)
        return (
            f'{head}{int(time.time() * 1000)}{fixed},"start_kind":"{kind}","found_state":"{found}",'
            f'"cold_start":{"true" if cold else "false"},'
            f'"init_ms":{"null" if init_ms is None else repr(float(init_ms))},'
            f'"environment_id":{_json_str(environment_id)},"request_id":{_json_str(request_id)},'
            f'"duration_ms":{round(duration_ms, 3)!r}{tail}{value}}}'
        )

    def emit(self, line: str) -> None:
        """Write one line. Telemetry must never break the function."""
        try:
            self.sink(line)
        except Exception:  # noqa: BLE001, S110 - losing one telemetry line beats failing a request
            pass


def _json_str(value: str | None) -> str:
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return '"' + value + '"'
    import json

    return json.dumps(value)
