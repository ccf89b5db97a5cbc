"""The fleet report: cold-start rate by function and start kind, warm coverage, hook verdicts.

Built from telemetry records (EMF log lines) alone, so it reads the same from CloudWatch Logs
in AWS and from the local stack. Pure: records in, a frozen report out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

START_KINDS = ("cold", "restore", "provisioned", "warm", "warm_ping")
#: Rates from fewer invocations than this are marked: too few to trust.
DEFAULT_MIN_SAMPLE = 20
#: The width of a bucket of the cold-start time series.
HOUR_MS = 3_600_000
#: The ``service`` (``POWERTOOLS_SERVICE_NAME``) of thermostat's own functions in the template.
OWN_SERVICE = "thermostat"


class HourlyStarts(BaseModel):
    """One hour of one function's invocations (pings excluded): how many, how many cold."""

    model_config = ConfigDict(frozen=True)

    hour_ms: int
    invocations: int
    cold: int
    cold_rate: float | None


class FunctionStarts(BaseModel):
    """Start kinds seen for one function (and version)."""

    model_config = ConfigDict(frozen=True)

    function: str
    invocations: int
    pings: int
    kinds: dict[str, int]
    cold_rate: float | None
    mean_init_ms: float | None
    errors: int
    #: ``invocations`` (the rate's sample size) is below the report's ``min_sample``.
    low_sample: bool = False
    #: One of thermostat's own functions (its records carry thermostat's service name).
    own: bool = False
    #: Cold-start rate per clock hour (UTC), oldest first, hours without invocations left out.
    hourly: list[HourlyStarts] = []


class WarmCoverage(BaseModel):
    """The latest keep-warm result for one target."""

    model_config = ConfigDict(frozen=True)

    target: str
    rounds: int
    last_sent: float | None
    last_environments: float | None
    last_cold_hits: float | None
    errors: float
    throttles: float
    #: Environments the last round planned (its ``planned`` field; the pings sent when absent).
    last_planned: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def coverage(self) -> str:
        """``2 of 2``: environments proven of planned in the last round (``unknown of 2`` outside the protocol)."""
        planned = self.last_planned if self.last_planned is not None else self.last_sent
        proven = "unknown" if self.last_environments is None else f"{self.last_environments:g}"
        return f"{proven} of {planned:g}" if planned is not None else proven


class HookVerdicts(BaseModel):
    """Pre-traffic hook verdicts for one function."""

    model_config = ConfigDict(frozen=True)

    target: str
    succeeded: int
    failed: int
    last_status: str | None
    last_reason: str | None


class ReportContext(BaseModel):
    """Where and when the report's data comes from (given by the caller: the domain reads no clock)."""

    model_config = ConfigDict(frozen=True)

    since_ms: int | None = None
    until_ms: int | None = None
    generated_ms: int | None = None
    account: str | None = None
    region: str | None = None
    min_sample: int = DEFAULT_MIN_SAMPLE
    own_service: str = OWN_SERVICE


class FleetReport(BaseModel):
    """Everything ``thermostat report`` shows."""

    model_config = ConfigDict(frozen=True)

    records: int
    starts: list[FunctionStarts]
    warm: list[WarmCoverage]
    hooks: list[HookVerdicts]
    context: ReportContext = ReportContext()

    @property
    def user_starts(self) -> list[FunctionStarts]:
        """The user's functions (not thermostat's own)."""
        return [row for row in self.starts if not row.own]

    @property
    def own_starts(self) -> list[FunctionStarts]:
        """thermostat's own functions."""
        return [row for row in self.starts if row.own]


def _metric_value(record: Mapping[str, Any], name: str) -> float | None:
    value = record.get(name)
    if isinstance(value, list):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        return float(sum(numbers)) if numbers else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _metric_names(record: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    aws = record.get("_aws")
    if not isinstance(aws, Mapping):
        return names
    for directive in aws.get("CloudWatchMetrics") or []:
        if isinstance(directive, Mapping):
            for metric in directive.get("Metrics") or []:
                if isinstance(metric, Mapping) and isinstance(metric.get("Name"), str):
                    names.add(metric["Name"])
    return names


def _first_text(record: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _timestamp(record: Mapping[str, Any]) -> int:
    aws = record.get("_aws")
    stamp = aws.get("Timestamp") if isinstance(aws, Mapping) else None
    return stamp if isinstance(stamp, int) else 0


def _starts(records: list[Mapping[str, Any]], context: ReportContext) -> list[FunctionStarts]:
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    inits: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    own: set[str] = set()
    hours: dict[str, dict[int, list[int]]] = defaultdict(dict)  # label -> hour -> [invocations, cold]
    for record in records:
        if record.get("thermostat") != 1 or "start_kind" not in record:
            continue
        function = _first_text(record, "FunctionName") or "unknown"
        version = _first_text(record, "function_version")
        label = f"{function}:{version}" if version and version != "$LATEST" else function
        kind = str(record["start_kind"])
        kinds[label][kind] += 1
        if record.get("service") == context.own_service:
            own.add(label)
        stamp = _timestamp(record)
        if kind != "warm_ping" and stamp > 0:
            bucket = hours[label].setdefault(stamp - stamp % HOUR_MS, [0, 0])
            bucket[0] += 1
            bucket[1] += kind in {"cold", "restore"}
        init_ms = record.get("init_ms")
        if kind in {"cold", "restore"} and isinstance(init_ms, int | float):
            inits[label].append(float(init_ms))
        if record.get("error") and kind != "warm_ping":
            errors[label] += 1
    result = []
    for label in sorted(kinds):
        counts = kinds[label]
        pings = counts.get("warm_ping", 0)
        invocations = sum(counts.values()) - pings
        cold = counts.get("cold", 0) + counts.get("restore", 0)
        result.append(
            FunctionStarts(
                function=label,
                invocations=invocations,
                pings=pings,
                kinds={kind: counts.get(kind, 0) for kind in START_KINDS},
                cold_rate=(cold / invocations) if invocations else None,
                mean_init_ms=(sum(inits[label]) / len(inits[label])) if inits[label] else None,
                errors=errors[label],
                low_sample=0 < invocations < context.min_sample,
                own=label in own,
                hourly=[
                    HourlyStarts(hour_ms=hour, invocations=n, cold=cold, cold_rate=cold / n)
                    for hour, (n, cold) in sorted(hours[label].items())
                ],
            )
        )
    return result


def _warm(records: list[Mapping[str, Any]]) -> list[WarmCoverage]:
    rounds: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        names = _metric_names(record)
        if not names & {"WarmPings", "WarmEnvironments"}:
            continue
        function = _first_text(record, "function", "Function", "target", "FunctionName") or "unknown"
        qualifier = _first_text(record, "qualifier", "Qualifier")
        rounds[f"{function}:{qualifier}" if qualifier else function].append(record)
    result = []
    for target in sorted(rounds):
        ordered = sorted(rounds[target], key=_timestamp)
        last = ordered[-1]
        result.append(
            WarmCoverage(
                target=target,
                rounds=len(ordered),
                last_sent=_metric_value(last, "WarmPings"),
                last_environments=_metric_value(last, "WarmEnvironments"),
                last_cold_hits=_metric_value(last, "WarmColdHits"),
                errors=sum(_metric_value(r, "WarmErrors") or 0.0 for r in ordered),
                throttles=sum(_metric_value(r, "WarmThrottles") or 0.0 for r in ordered),
                last_planned=_metric_value(last, "planned"),
            )
        )
    return result


def _hooks(records: list[Mapping[str, Any]]) -> list[HookVerdicts]:
    verdicts: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        if "HookVerdict" not in _metric_names(record):
            continue
        function = _first_text(record, "function", "target", "Function", "FunctionName") or "unknown"
        verdicts[function].append(record)
    result = []
    for target in sorted(verdicts):
        ordered = sorted(verdicts[target], key=_timestamp)
        statuses = [_first_text(r, "status", "Status") or "unknown" for r in ordered]
        result.append(
            HookVerdicts(
                target=target,
                succeeded=statuses.count("Succeeded"),
                failed=statuses.count("Failed"),
                last_status=statuses[-1],
                last_reason=_first_text(ordered[-1], "reason", "Reason"),
            )
        )
    return result


def build_report(records: Iterable[Mapping[str, Any]], context: ReportContext | None = None) -> FleetReport:
    """Aggregate telemetry records (parsed EMF lines) into the fleet report.

    ``context`` says where and when the records come from (window, account, region) and sets the
    sample-size threshold and the service name of thermostat's own functions.
    """
    context = context or ReportContext()
    materialised = [r for r in records if isinstance(r, Mapping)]
    return FleetReport(
        records=len(materialised),
        starts=_starts(materialised, context),
        warm=_warm(materialised),
        hooks=_hooks(materialised),
        context=context,
    )
