"""Cold starts for every function, from the platform's own log records (no code change needed).

Lambda writes one record per invocation whatever the function's code: the text ``REPORT`` line
(``Init Duration`` after an on-demand cold start, ``Restore Duration`` after a SnapStart restore,
neither on a warm or provisioned environment) or, in the JSON log format, ``platform.report``
(``metrics.initDurationMs`` / ``metrics.restoreDurationMs``), with ``platform.initStart``,
``platform.initReport`` and ``platform.restoreReport`` around the start of an environment.

This module parses both formats into :class:`PlatformRecord` values, joins them by request id with
the runtime module's own line where a function wears ``@warmable`` (so that warm pings leave the
rate and start kinds come from thermostat), and aggregates per function and version. It also
measures each keep-warm target's effect: cold starts among real requests before and after its
first recorded round. Pure: strings and numbers in, frozen values out.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["report", "init_report", "init_start", "restore_report"]
LogFormat = Literal["text", "json"]

#: What a function without the runtime module shows instead of a rate that counts pings as requests.
NOT_DISTINGUISHABLE = "pings not distinguishable"

_REPORT = re.compile(r"REPORT RequestId: (?P<request>\S+)\s+Duration: (?P<duration>[\d.]+) ms")
_INIT = re.compile(r"\bInit Duration: (?P<ms>[\d.]+) ms")
_RESTORE = re.compile(r"(?<!Billed )Restore Duration: (?P<ms>[\d.]+) ms")
_STATUS = re.compile(r"\bStatus: (?P<status>\w+)")
_ERROR_TYPE = re.compile(r"\bError Type: (?P<type>\S+)")
_PHASE = re.compile(r"\bPhase: (?P<phase>[\w-]+)")
_INIT_REPORT = re.compile(r"INIT_REPORT Init Duration: (?P<ms>[\d.]+) ms")
_RESTORE_REPORT = re.compile(r"RESTORE_REPORT Restore Duration: (?P<ms>[\d.]+) ms")
#: ``2026/12/02/[7]0123abcd…``: Lambda names each environment's stream after the version it runs.
_STREAM_VERSION = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(?P<version>[^\]]+)\]")
_JSON_KINDS: dict[str, Kind] = {
    "platform.report": "report",
    "platform.initReport": "init_report",
    "platform.initStart": "init_start",
    "platform.restoreReport": "restore_report",
}


@dataclass(frozen=True)
class PlatformRecord:
    """One platform record of one function's log group, in either log format."""

    kind: Kind
    function: str
    version: str | None
    log_format: LogFormat
    timestamp_ms: int = 0
    request_id: str | None = None
    duration_ms: float | None = None
    init_ms: float | None = None
    restore_ms: float | None = None
    status: str | None = None
    error_type: str | None = None
    init_type: str | None = None
    phase: str | None = None


def version_from_stream(stream: str | None) -> str | None:
    """The function version in a Lambda log stream's name (``…/[$LATEST]…`` → ``$LATEST``), or None."""
    match = _STREAM_VERSION.match(stream or "")
    return match.group("version") if match else None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_text(message: str, function: str, version: str | None, timestamp_ms: int) -> PlatformRecord | None:
    status = _STATUS.search(message)
    error_type = _ERROR_TYPE.search(message)
    common: dict[str, Any] = {
        "function": function,
        "version": version,
        "log_format": "text",
        "timestamp_ms": timestamp_ms,
        "status": status.group("status") if status else None,
        "error_type": error_type.group("type") if error_type else None,
    }
    if message.startswith("REPORT "):
        report = _REPORT.match(message)
        if report is None:
            return None
        init = _INIT.search(message)
        restore = _RESTORE.search(message)
        return PlatformRecord(
            kind="report",
            request_id=report.group("request"),
            duration_ms=float(report.group("duration")),
            init_ms=float(init.group("ms")) if init else None,
            restore_ms=float(restore.group("ms")) if restore else None,
            **common,
        )
    if message.startswith("INIT_REPORT "):
        init_report = _INIT_REPORT.match(message)
        if init_report is None:
            return None
        phase = _PHASE.search(message)
        return PlatformRecord(
            kind="init_report",
            init_ms=float(init_report.group("ms")),
            phase=phase.group("phase") if phase else None,
            **common,
        )
    if message.startswith("RESTORE_REPORT "):
        restore_report = _RESTORE_REPORT.match(message)
        if restore_report is None:
            return None
        return PlatformRecord(kind="restore_report", restore_ms=float(restore_report.group("ms")), **common)
    return None


def _parse_json(message: str, function: str, version: str | None, timestamp_ms: int) -> PlatformRecord | None:
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    kind = _JSON_KINDS.get(document.get("type"))  # type: ignore[arg-type]
    record = document.get("record")
    if kind is None or not isinstance(record, dict):
        return None
    raw_metrics = record.get("metrics")
    metrics: dict[str, Any] = raw_metrics if isinstance(raw_metrics, dict) else {}
    common: dict[str, Any] = {
        "function": function,
        "version": _text(record.get("functionVersion")) or version,
        "log_format": "json",
        "timestamp_ms": timestamp_ms,
        "status": _text(record.get("status")),
        "error_type": _text(record.get("errorType")),
        "init_type": _text(record.get("initializationType")),
        "phase": _text(record.get("phase")),
    }
    if kind == "report":
        return PlatformRecord(
            kind=kind,
            request_id=_text(record.get("requestId")),
            duration_ms=_number(metrics.get("durationMs")),
            init_ms=_number(metrics.get("initDurationMs")),
            restore_ms=_number(metrics.get("restoreDurationMs")),
            **common,
        )
    if kind == "init_report":
        return PlatformRecord(kind=kind, init_ms=_number(metrics.get("durationMs")), **common)
    if kind == "restore_report":
        return PlatformRecord(kind=kind, restore_ms=_number(metrics.get("durationMs")), **common)
    return PlatformRecord(kind=kind, **common)


def parse_platform_message(
    message: str, function: str, *, stream: str | None = None, timestamp_ms: int = 0
) -> PlatformRecord | None:
    """The platform record in one log event of ``function``'s group, or None for any other line.

    ``stream`` is the event's log stream: its name carries the version for text records (which do
    not name it). Lines that merely mention ``REPORT`` or ``platform.report`` are not records.
    """
    text = message.strip()
    version = version_from_stream(stream)
    if text.startswith("{"):
        return _parse_json(text, function, version, timestamp_ms)
    return _parse_text(text, function, version, timestamp_ms)


# -- aggregation ---------------------------------------------------------------------------------


class Durations(BaseModel):
    """p50 / p95 / max of a set of durations (nearest-rank percentiles), and how many there were."""

    model_config = ConfigDict(frozen=True)

    n: int
    p50: float | None
    p95: float | None
    max: float | None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def durations(values: Sequence[float]) -> Durations:
    """The summary of ``values``."""
    return Durations(
        n=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        max=max(values) if values else None,
    )


class FunctionColdStarts(BaseModel):
    """One function (and version) over the window, from its platform records.

    ``requests`` are invocations less warm pings; when the function does not wear the runtime module
    pings cannot be told apart (``pings`` is None, ``note`` says so) and ``cold_rate`` is None.
    ``kinds`` counts start kinds among all invocations: thermostat's own kind where its line of the
    same request id was found, else the platform's (``cold`` with an init duration, ``restore``
    with a restore duration, ``warm`` otherwise). ``runtime_startup_ms`` is the mean of platform
    Init Duration minus the in-process ``init_ms`` over joined cold starts.
    """

    model_config = ConfigDict(frozen=True)

    function: str
    name: str
    version: str | None
    formats: list[str]
    layer: bool
    invocations: int
    pings: int | None
    requests: int
    cold_starts: int
    restores: int
    kinds: dict[str, int]
    cold_rate: float | None
    platform_cold_rate: float
    init_ms: Durations
    restore_ms: Durations
    in_process_init_ms: float | None
    runtime_startup_ms: float | None
    provisioned_inits: int
    init_errors: int
    timeouts: int
    errors: int
    note: str | None


class TargetRounds(BaseModel):
    """A keep-warm target and the rounds recorded for it in the table (epoch milliseconds)."""

    model_config = ConfigDict(frozen=True)

    function: str
    qualifier: str
    first_round_ms: int | None = None
    last_round_ms: int | None = None
    rounds: int = 0


class WarmEffect(BaseModel):
    """Cold starts of real requests before and after a target's first keep-warm round."""

    model_config = ConfigDict(frozen=True)

    target: str
    rounds: int
    first_round_ms: int | None
    last_round_ms: int | None
    before_requests: int
    before_cold: int
    before_rate: float | None
    after_requests: int
    after_cold: int
    after_rate: float | None
    note: str | None


class PlatformReport(BaseModel):
    """The fleet section of ``thermostat report``: what was read, per function, per target."""

    model_config = ConfigDict(frozen=True)

    log_groups: int
    events_read: int
    bytes_read: int
    records: int
    functions: list[FunctionColdStarts]
    warm_effect: list[WarmEffect]
    notes: list[str]


@dataclass(frozen=True)
class _Invocation:
    function: str
    version: str | None
    timestamp_ms: int
    kind: str
    ping: bool


def _label(function: str, version: str | None) -> str:
    return f"{function}:{version}" if version and version != "$LATEST" else function


def _own_lines(telemetry: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Mapping[str, Any]], set[str]]:
    """thermostat's per-invocation lines by request id, and the functions that wrote any."""
    by_request: dict[str, Mapping[str, Any]] = {}
    functions: set[str] = set()
    for record in telemetry:
        if record.get("thermostat") != 1 or "start_kind" not in record:
            continue
        function = record.get("FunctionName")
        if isinstance(function, str) and function:
            functions.add(function)
        request_id = record.get("request_id")
        if isinstance(request_id, str) and request_id:
            by_request[request_id] = record
    return by_request, functions


def start_kinds(telemetry: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """thermostat's own start kind of each request id in ``telemetry`` (``warm_ping`` marks a ping)."""
    by_request, _ = _own_lines(telemetry)
    return {request: str(line["start_kind"]) for request, line in by_request.items()}


def _platform_kind(record: PlatformRecord) -> str:
    if record.restore_ms is not None:
        return "restore"
    if record.init_ms is not None:
        return "cold"
    return "warm"


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _row(
    function: str,
    version: str | None,
    records: list[PlatformRecord],
    own: dict[str, Mapping[str, Any]],
    layer: bool,
    invocations: list[_Invocation],
) -> FunctionColdStarts:
    reports = [r for r in records if r.kind == "report"]
    kinds: dict[str, int] = defaultdict(int)
    pings = 0
    inits: list[float] = []
    restores_ms: list[float] = []
    in_process: list[float] = []
    startup: list[float] = []
    cold = restores = platform_cold = 0
    for report in reports:
        mine = own.get(report.request_id or "")
        kind = str(mine["start_kind"]) if mine is not None else _platform_kind(report)
        kinds[kind] += 1
        ping = kind == "warm_ping"
        pings += ping
        platform_cold += report.init_ms is not None or report.restore_ms is not None
        invocations.append(_Invocation(function, version, report.timestamp_ms, kind, ping))
        if report.init_ms is not None:
            inits.append(report.init_ms)
        if report.restore_ms is not None:
            restores_ms.append(report.restore_ms)
        if not ping:
            cold += kind == "cold"
            restores += kind == "restore"
        own_init = mine.get("init_ms") if mine is not None else None
        if report.init_ms is not None and isinstance(own_init, int | float) and not isinstance(own_init, bool):
            in_process.append(float(own_init))
            startup.append(report.init_ms - float(own_init))
    requests = len(reports) - pings
    return FunctionColdStarts(
        function=_label(function, version),
        name=function,
        version=version,
        formats=sorted({r.log_format for r in records}),
        layer=layer,
        invocations=len(reports),
        pings=pings if layer else None,
        requests=requests,
        cold_starts=cold,
        restores=restores,
        kinds=dict(sorted(kinds.items())),
        cold_rate=((cold + restores) / requests if requests else None) if layer else None,
        platform_cold_rate=platform_cold / len(reports) if reports else 0.0,
        init_ms=durations(inits),
        restore_ms=durations(restores_ms),
        in_process_init_ms=_mean(in_process),
        runtime_startup_ms=_mean(startup),
        provisioned_inits=sum(
            1 for r in records if r.kind == "init_start" and r.init_type == "provisioned-concurrency"
        ),
        init_errors=sum(1 for r in records if r.kind in {"init_report", "restore_report"} and _failed(r.status)),
        timeouts=sum(1 for r in reports if r.status == "timeout"),
        errors=sum(1 for r in reports if _failed(r.status)),
        note=None if layer else NOT_DISTINGUISHABLE,
    )


def _failed(status: str | None) -> bool:
    return status in {"error", "failure"}


def _target_matches(target: TargetRounds, invocation: _Invocation) -> bool:
    name = target.function.rsplit(":function:", 1)[-1]
    if name != invocation.function:
        return False
    # A version qualifier names the version; an alias may point at any of them over the window.
    return not target.qualifier.isdigit() or invocation.version == target.qualifier


def _effect(target: TargetRounds, invocations: list[_Invocation], layered: set[str]) -> WarmEffect:
    name = target.function.rsplit(":function:", 1)[-1]
    mine = [i for i in invocations if _target_matches(target, i) and not i.ping]
    first = target.first_round_ms
    before = [i for i in mine if first is None or i.timestamp_ms < first]
    after = [i for i in mine if first is not None and i.timestamp_ms >= first]

    def colds(items: list[_Invocation]) -> int:
        return sum(1 for i in items if i.kind in {"cold", "restore"})

    note = None
    if name not in layered:
        note = f"{NOT_DISTINGUISHABLE}: pings counted as requests"
    elif first is None:
        note = "no keep-warm round recorded yet"
    return WarmEffect(
        target=f"{target.function}:{target.qualifier}",
        rounds=target.rounds,
        first_round_ms=first,
        last_round_ms=target.last_round_ms,
        before_requests=len(before),
        before_cold=colds(before),
        before_rate=colds(before) / len(before) if before else None,
        after_requests=len(after),
        after_cold=colds(after),
        after_rate=colds(after) / len(after) if after else None,
        note=note,
    )


def build_platform_report(
    records: Iterable[PlatformRecord],
    telemetry: Iterable[Mapping[str, Any]] = (),
    targets: Iterable[TargetRounds] = (),
    *,
    log_groups: int = 0,
    events_read: int = 0,
    bytes_read: int = 0,
    notes: Iterable[str] = (),
) -> PlatformReport:
    """Aggregate platform records per function and version, joined with thermostat's own lines.

    ``telemetry`` are the runtime module's parsed lines (the same the rest of the report reads);
    ``targets`` the keep-warm targets with their recorded rounds.
    """
    own, layered = _own_lines(telemetry)
    groups: dict[tuple[str, str | None], list[PlatformRecord]] = defaultdict(list)
    materialised = list(records)
    for record in materialised:
        groups[(record.function, record.version)].append(record)
    invocations: list[_Invocation] = []
    rows = [
        _row(function, version, groups[(function, version)], own, function in layered, invocations)
        for function, version in sorted(groups, key=lambda key: (key[0], key[1] or ""))
    ]
    return PlatformReport(
        log_groups=log_groups,
        events_read=events_read,
        bytes_read=bytes_read,
        records=len(materialised),
        functions=rows,
        warm_effect=[_effect(target, invocations, layered) for target in targets],
        notes=list(notes),
    )
