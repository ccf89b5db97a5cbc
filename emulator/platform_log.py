"""Lambda's platform records as the local runner writes them, in the function's log format.

``Text`` (Lambda's default): ``START`` / ``END`` / ``REPORT`` lines, ``INIT_REPORT`` after a failed
init. ``JSON`` (``LoggingConfig.LogFormat``): the records of the Telemetry API schema as Lambda
writes them to CloudWatch Logs, one compact JSON document per line — ``platform.initStart`` and
``platform.initReport`` when an environment starts (``platform.restoreStart`` and
``platform.restoreReport`` for a SnapStart restore), ``platform.start``, then ``platform.report``
with ``metrics.initDurationMs`` / ``metrics.restoreDurationMs`` on the environment's first
invocation (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html).

Two functions, both keyed by the start kind and durations, so that every start path of the runner
(on-demand, provisioned, SnapStart restore) writes its records through the same code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

TEXT = "Text"
JSON = "JSON"
LOG_FORMATS = (TEXT, JSON)

StartKind = Literal["cold", "restore", "warm", "provisioned"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record(kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": _now(), "type": kind, "record": record}, separators=(",", ":"))


def start_fields(init_ms: float | None, restore_ms: float | None, billed_restore_ms: float | None) -> str:
    """The ``REPORT`` fields of an environment's first invocation: how it started.

    A cold start has ``Init Duration``; an environment restored from a SnapStart snapshot has none (its
    init ran at publish) but ``Restore Duration`` (the whole restore) and ``Billed Restore Duration``
    (the after-restore hooks, rounded up), as snapstart-monitoring.html describes.
    """
    if restore_ms is not None:
        billed = max(0, int(-(-(billed_restore_ms or 0.0) // 1)))
        return f"\tRestore Duration: {restore_ms:.2f} ms\tBilled Restore Duration: {billed} ms"
    if init_ms is not None:
        return f"\tInit Duration: {init_ms:.2f} ms"
    return ""


def start_records(
    log_format: str,
    *,
    function: str,
    version: str,
    request_id: str,
    start_kind: StartKind,
    init_type: str,
    init_ms: float | None = None,
    restore_ms: float | None = None,
    init_error: str | None = None,
) -> list[str]:
    """The records before the handler runs: the environment's start (on its first invocation) and ``START``.

    ``init_error`` is the error type of a failed init (the invocation still gets ``START``).
    """
    if log_format != JSON:
        lines = []
        if init_error is not None and start_kind == "restore":
            lines.append(
                f"RESTORE_REPORT Restore Duration: {restore_ms or 0.0:.2f} ms\tStatus: error\tError Type: {init_error}"
            )
        elif init_error is not None:
            lines.append(
                f"INIT_REPORT Init Duration: {init_ms or 0.0:.2f} ms\tPhase: invoke\tStatus: error\t"
                f"Error Type: {init_error}"
            )
        lines.append(f"START RequestId: {request_id} Version: {version}")
        return lines
    lines = []
    if start_kind == "restore":
        lines.append(_record("platform.restoreStart", {"functionName": function, "functionVersion": version}))
        report: dict[str, Any] = {"status": "error" if init_error else "success"}
        if init_error:
            report["errorType"] = init_error
        report["metrics"] = {"durationMs": round(restore_ms or 0.0, 3)}
        lines.append(_record("platform.restoreReport", report))
    elif start_kind in {"cold", "provisioned"}:
        phase = "invoke" if init_error else "init"
        lines.append(
            _record(
                "platform.initStart",
                {"initializationType": init_type, "phase": phase, "functionName": function, "functionVersion": version},
            )
        )
        report = {"initializationType": init_type, "phase": phase, "status": "error" if init_error else "success"}
        if init_error:
            report["errorType"] = init_error
        report["metrics"] = {"durationMs": round(init_ms or 0.0, 3)}
        lines.append(_record("platform.initReport", report))
    lines.append(_record("platform.start", {"requestId": request_id, "version": version}))
    return lines


def end_records(
    log_format: str,
    *,
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int | None = None,
    init_ms: float | None = None,
    restore_ms: float | None = None,
    billed_restore_ms: float | None = None,
    status: str = "success",
    error_type: str | None = None,
    billed: bool = True,
) -> list[str]:
    """The records after the handler: ``END`` and ``REPORT``, or ``platform.report``.

    ``init_ms`` / ``restore_ms`` are given on the environment's first invocation only (as Lambda's
    ``REPORT`` has them); ``status`` is ``success``, ``error``, ``timeout`` or ``failure``.
    ``billed=False`` is the short ``REPORT`` of an invocation whose init failed.
    """
    if log_format != JSON:
        if not billed:
            return [
                f"END RequestId: {request_id}",
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tStatus: error",
            ]
        used = f"\tMax Memory Used: {max_memory_mb} MB" if max_memory_mb else ""
        cold = start_fields(init_ms, restore_ms, billed_restore_ms)
        suffix = ""
        if status in {"timeout", "failure"} or (status == "error" and error_type is not None):
            suffix = f"\tStatus: {status}" + (f"\tError Type: {error_type}" if error_type else "")
        return [
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: "
            f"{max(1, int(duration_ms + 0.999))} ms\tMemory Size: {memory_mb} MB{used}{cold}{suffix}",
        ]
    metrics: dict[str, Any] = {
        "durationMs": round(duration_ms, 3),
        "billedDurationMs": max(1, int(duration_ms + 0.999)),
        "memorySizeMB": memory_mb,
    }
    if max_memory_mb:
        metrics["maxMemoryUsedMB"] = max_memory_mb
    if init_ms is not None:
        metrics["initDurationMs"] = round(init_ms, 3)
    if restore_ms is not None:
        metrics["restoreDurationMs"] = round(restore_ms, 3)
    record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": status}
    if error_type is not None:
        record["errorType"] = error_type
    return [_record("platform.report", record)]
