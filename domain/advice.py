"""``thermostat advise``: per target, what its cold starts are, what each remedy costs, and one recommendation.

From Lambda's platform records of the window (``REPORT`` lines or ``platform.report`` records,
joined with the runtime module's lines so that warm pings are left out), for one target:

- the cold-start rate of real requests and the p95 init duration (restores count as cold);
- the traffic profile: real requests per hour of the day (UTC), averaged over the window's days;
- the concurrency rebuilt from the records (a request is in flight from its end less its
  duration), its hourly peaks, and the ``auto`` schedule they give: for every hour of the coming
  week, the N that :func:`domain.keep_warm.sizing.choose_concurrency` would choose;
- the share of the window's cold starts that schedule would have removed: those that started
  while no more requests were in flight than the hour's N (an in-sample estimate);
- the month's cost (:mod:`domain.costs`) of keep-warm ``auto``, of keep-warm at the target's fixed
  N, of provisioned concurrency always on and scheduled to the same hours, and of SnapStart where
  the runtime supports it.

The recommendation (:func:`recommend`):

1. **do nothing** when there were no real requests, when cold starts are rare (fewer than
   ``rare_rate`` of real requests, 1 %), or cheap (p95 init under ``cheap_init_ms``, 250 ms);
2. else **provisioned concurrency (scheduled)** when it costs no more than keep-warm ``auto``
   (busy functions: the provisioned duration discount pays for it);
3. else **SnapStart** when the runtime supports it and keep-warm ``auto`` would remove fewer than
   half the cold starts (spiky traffic that no schedule foresees: shorter cold starts beat fewer);
4. else **keep-warm auto**.

Pure: records, prices and numbers in, frozen values out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain import costs
from domain.keep_warm.sizing import HOUR_MS, ConcurrencySample, choose_concurrency
from domain.platform_report import PlatformRecord, percentile

#: Cold starts below this share of real requests are rare: do nothing.
RARE_RATE = 0.01
#: Cold starts whose p95 init is below this are cheap: do nothing.
CHEAP_INIT_MS = 250.0
#: Below this share of cold starts removed, keep-warm gives way to SnapStart (where supported).
SNAPSTART_BELOW = 0.5
#: 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of a week that starts on Monday.
_EPOCH_HOUR_OF_WEEK = 72

Recommendation = Literal["do nothing", "keep-warm auto", "provisioned concurrency (scheduled)", "snapstart"]


def hour_of_week(ms: int) -> int:
    """0 = Monday 00:00-01:00 UTC … 167 = Sunday 23:00-24:00 UTC."""
    return (ms // HOUR_MS + _EPOCH_HOUR_OF_WEEK) % costs.HOURS_PER_WEEK


@dataclass(frozen=True)
class FunctionShape:
    """What the price depends on: memory, architecture, runtime (``GetFunctionConfiguration``)."""

    memory_mb: int
    architecture: str
    runtime: str | None = None


@dataclass(frozen=True)
class AdviceTarget:
    """A keep-warm target (or a function named on the command line) to advise on."""

    function: str
    qualifier: str | None
    shape: FunctionShape
    hold_ms: int = 100
    #: The target's fixed N today (None: not a target yet).
    concurrency: int | None = None

    @property
    def name(self) -> str:
        return self.function.rsplit(":function:", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.function}:{self.qualifier}" if self.qualifier else self.function


@dataclass(frozen=True)
class Thresholds:
    """When cold starts are not worth a remedy, and when keep-warm gives way to SnapStart."""

    rare_rate: float = RARE_RATE
    cheap_init_ms: float = CHEAP_INIT_MS
    snapstart_below: float = SNAPSTART_BELOW


class OptionCost(BaseModel):
    """One remedy's month: its total and the parts it adds up from."""

    model_config = ConfigDict(frozen=True)

    total: float
    parts: dict[str, float]


class TargetAdvice(BaseModel):
    """Everything ``advise`` says about one target."""

    model_config = ConfigDict(frozen=True)

    target: str
    function: str
    qualifier: str | None
    memory_mb: int
    architecture: str
    runtime: str | None
    hold_ms: int
    window_hours: float
    layer: bool
    requests: int
    pings: int | None
    cold_starts: int
    cold_rate: float | None
    p95_init_ms: float | None
    #: Real requests per hour of the day (UTC), averaged over the window's days.
    requests_per_hour: list[float]
    peak_concurrency: int
    #: The auto schedule: N for each hour of the week (0 = Monday 00:00 UTC).
    auto_schedule: list[int]
    auto_reason: str
    #: The share of the window's cold starts the auto schedule would have removed (None: none to remove).
    removable: float | None
    pings_per_month: dict[str, float]
    costs: dict[str, OptionCost | None]
    recommendation: Recommendation
    reason: str
    notes: list[str]


def _matches(target: AdviceTarget, record: PlatformRecord) -> bool:
    if record.function != target.name or record.kind != "report":
        return False
    # A version qualifier names the version; an alias may point at any of them over the window.
    return target.qualifier is None or not target.qualifier.isdigit() or record.version == target.qualifier


def warm_ping_ids(telemetry: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """Request ids that were warm pings, and the functions that wrote the runtime module's lines."""
    pings: set[str] = set()
    layered: set[str] = set()
    for line in telemetry:
        if line.get("thermostat") != 1 or "start_kind" not in line:
            continue
        function = line.get("FunctionName")
        if isinstance(function, str) and function:
            layered.add(function)
        request = line.get("request_id")
        if line.get("start_kind") == "warm_ping" and isinstance(request, str):
            pings.add(request)
    return pings, layered


@dataclass(frozen=True)
class _Request:
    start_ms: int
    end_ms: int
    cold: bool
    gb_s: float


def _hourly_peaks(requests: Sequence[_Request], since_ms: int, until_ms: int) -> tuple[dict[int, int], list[int]]:
    """Peak in-flight per hour (every hour of the window, zero without traffic) and each request's in-flight."""
    events = sorted(
        [(r.start_ms, 1, i) for i, r in enumerate(requests)] + [(r.end_ms, 0, i) for i, r in enumerate(requests)]
    )  # at equal times an end (0) sorts before a start (1): back-to-back requests do not overlap
    first = since_ms - since_ms % HOUR_MS
    peaks = dict.fromkeys(range(first, until_ms, HOUR_MS), 0)
    in_flight_at = [0] * len(requests)
    current = 0
    for when, starts, index in events:
        if not starts:
            current -= 1
            continue
        current += 1
        in_flight_at[index] = current
        hour = when - when % HOUR_MS
        peaks[hour] = max(peaks.get(hour, 0), current)
    return peaks, in_flight_at


def auto_schedule(
    samples: Sequence[ConcurrencySample], from_ms: int, *, minimum: int, maximum: int
) -> tuple[list[int], str]:
    """N for every hour of the week after ``from_ms``, as ``choose_concurrency`` sizes it; and one reason."""
    schedule = [minimum] * costs.HOURS_PER_WEEK
    start = from_ms - from_ms % HOUR_MS + HOUR_MS
    busiest: tuple[int, str] = (-1, "")
    for step in range(costs.HOURS_PER_WEEK):
        now = start + step * HOUR_MS
        decision = choose_concurrency(samples, now, minimum=minimum, maximum=maximum)
        schedule[hour_of_week(now)] = decision.n
        if decision.n > busiest[0]:
            busiest = (decision.n, decision.reason)
    warmed = sum(1 for n in schedule if n > 0)
    return schedule, (
        f"N {min(schedule)}-{max(schedule)} over the week, above 0 in {warmed} of {costs.HOURS_PER_WEEK} hours; "
        f"busiest hour: {busiest[1]}"
    )


def advise(
    target: AdviceTarget,
    records: Iterable[PlatformRecord],
    *,
    since_ms: int,
    until_ms: int,
    prices: costs.ArchitecturePrices,
    warmer_prices: costs.ArchitecturePrices,
    warmer: costs.WarmerShare,
    pings: Collection[str] = frozenset(),
    layered: bool = True,
    minimum: int = 0,
    maximum: int = 1000,
    thresholds: Thresholds = Thresholds(),
) -> TargetAdvice:
    """The advice for ``target`` from the platform records of ``[since_ms, until_ms)``."""
    if until_ms <= since_ms:
        raise ValueError("the window must end after it starts")
    shape = target.shape
    gb = costs.gigabytes(shape.memory_mb)
    notes: list[str] = []
    reports = [r for r in records if _matches(target, r) and since_ms <= r.timestamp_ms < until_ms]
    real: list[_Request] = []
    inits: list[float] = []
    ping_count = 0
    for report in reports:
        if report.request_id in pings:
            ping_count += 1
            continue
        duration = report.duration_ms or 0.0
        is_cold = report.init_ms is not None or report.restore_ms is not None
        if report.init_ms is not None:
            inits.append(report.init_ms)
        real.append(
            _Request(
                start_ms=report.timestamp_ms - round(duration),
                end_ms=report.timestamp_ms,
                cold=is_cold,
                gb_s=duration / 1000 * gb,
            )
        )
    if not layered:
        notes.append("pings not distinguishable (the function does not wear the runtime module): counted as requests")
    window_s = (until_ms - since_ms) / 1000
    window_hours = window_s / 3600
    weeks = window_hours / costs.HOURS_PER_WEEK
    days = window_hours / 24
    if weeks < 1:
        notes.append(
            f"the window is {window_hours:.0f} h: auto sizing looks at the same hour in past weeks, "
            "so hours of the week not in the window count as no traffic (use --since 1w or more)"
        )

    peaks, in_flight_at = _hourly_peaks(real, since_ms, until_ms)
    samples = [
        ConcurrencySample(start_ms=hour, period_s=3600, peak=peak, source="platform-records")
        for hour, peak in peaks.items()
    ]
    schedule, auto_reason = auto_schedule(samples, until_ms, minimum=minimum, maximum=maximum)

    per_hour_of_day = [0.0] * 24
    real_gb_s_week = [0.0] * costs.HOURS_PER_WEEK
    for request in real:
        per_hour_of_day[(request.start_ms // HOUR_MS) % 24] += 1
        real_gb_s_week[hour_of_week(request.start_ms)] += request.gb_s
    profile = [count / days for count in per_hour_of_day]
    real_gb_s_week = [value / weeks for value in real_gb_s_week]

    cold = [i for i, r in enumerate(real) if r.cold]
    removable = None
    if cold:
        removed = sum(1 for i in cold if in_flight_at[i] <= schedule[hour_of_week(real[i].start_ms)])
        removable = removed / len(cold)

    auto_pings = costs.pings_for_schedule(schedule)
    fixed_n = target.concurrency
    fixed_pings = fixed_n * costs.rounds_per_month() if fixed_n is not None else None
    options: dict[str, OptionCost | None] = {
        "keep_warm_auto": _keep_warm(target, prices, warmer_prices, warmer, auto_pings),
        "keep_warm_fixed": (
            _keep_warm(target, prices, warmer_prices, warmer, fixed_pings) if fixed_pings is not None else None
        ),
        "provisioned_always_on": _provisioned(prices, shape, schedule, real_gb_s_week, scheduled=False),
        "provisioned_scheduled": _provisioned(prices, shape, schedule, real_gb_s_week, scheduled=True),
        "snapstart": _snapstart(prices, shape, len(cold) / window_s * costs.SECONDS_PER_MONTH),
    }
    p95 = percentile(inits, 95)
    cold_rate = len(cold) / len(real) if real else None
    recommendation, reason = recommend(
        requests=len(real),
        cold_starts=len(cold),
        cold_rate=cold_rate,
        p95_init_ms=p95,
        removable=removable,
        costs_by_option=options,
        thresholds=thresholds,
    )
    return TargetAdvice(
        target=target.label,
        function=target.function,
        qualifier=target.qualifier,
        memory_mb=shape.memory_mb,
        architecture=shape.architecture,
        runtime=shape.runtime,
        hold_ms=target.hold_ms,
        window_hours=round(window_hours, 3),
        layer=layered,
        requests=len(real),
        pings=ping_count if layered else None,
        cold_starts=len(cold),
        cold_rate=cold_rate,
        p95_init_ms=p95,
        requests_per_hour=profile,
        peak_concurrency=max(peaks.values(), default=0),
        auto_schedule=schedule,
        auto_reason=auto_reason,
        removable=removable,
        pings_per_month={"auto": auto_pings, **({"fixed": fixed_pings} if fixed_pings is not None else {})},
        costs=options,
        recommendation=recommendation,
        reason=reason,
        notes=notes,
    )


def _keep_warm(
    target: AdviceTarget,
    prices: costs.ArchitecturePrices,
    warmer_prices: costs.ArchitecturePrices,
    warmer: costs.WarmerShare,
    pings: float,
) -> OptionCost:
    cost = costs.keep_warm_cost(
        prices,
        memory_mb=target.shape.memory_mb,
        hold_ms=target.hold_ms,
        pings_per_month=pings,
        warmer=warmer,
        warmer_prices=warmer_prices,
    )
    return OptionCost(
        total=cost.total, parts={"requests": cost.requests, "holds": cost.holds, "warmer_share": cost.warmer_share}
    )


def _provisioned(
    prices: costs.ArchitecturePrices,
    shape: FunctionShape,
    schedule: Sequence[int],
    real_gb_s_week: Sequence[float],
    *,
    scheduled: bool,
) -> OptionCost:
    cost = costs.provisioned_cost(
        prices, memory_mb=shape.memory_mb, n_by_hour=schedule, scheduled=scheduled, real_gb_s_by_hour=real_gb_s_week
    )
    return OptionCost(total=cost.total, parts={"charge": cost.charge, "duration_credit": -cost.duration_credit})


def _snapstart(prices: costs.ArchitecturePrices, shape: FunctionShape, restores: float) -> OptionCost | None:
    cost = costs.snapstart_cost(prices, memory_mb=shape.memory_mb, runtime=shape.runtime, restores_per_month=restores)
    if cost is None:
        return None
    return OptionCost(total=cost.total, parts={"cache": cost.cache, "restore": cost.restore})


def recommend(
    *,
    requests: int,
    cold_starts: int,
    cold_rate: float | None,
    p95_init_ms: float | None,
    removable: float | None,
    costs_by_option: Mapping[str, OptionCost | None],
    thresholds: Thresholds = Thresholds(),
) -> tuple[Recommendation, str]:
    """One recommendation and its reason (see the module docstring for the rules)."""
    if requests == 0 or cold_rate is None:
        return "do nothing", "no real requests in the window"
    if cold_rate < thresholds.rare_rate:
        return (
            "do nothing",
            f"cold starts are rare: {cold_starts} of {requests} real requests ({_pct(cold_rate)}, "
            f"under {_pct(thresholds.rare_rate)})",
        )
    if p95_init_ms is not None and p95_init_ms < thresholds.cheap_init_ms:
        return (
            "do nothing",
            f"cold starts are cheap: p95 init {p95_init_ms:.0f} ms (under {thresholds.cheap_init_ms:.0f} ms)",
        )
    auto = costs_by_option["keep_warm_auto"]
    scheduled = costs_by_option["provisioned_scheduled"]
    snapstart = costs_by_option.get("snapstart")
    assert auto is not None
    assert scheduled is not None
    removes = "" if removable is None else f", removes {_pct(removable, 0)} of cold starts"
    keep_warm = f"keep-warm auto: {costs.dollars(auto.total)} / month{removes}"
    provisioned = f"provisioned concurrency for the same hours: {costs.dollars(scheduled.total)}"
    snap = ""
    if snapstart is not None:
        snap = f"SnapStart: {costs.dollars(snapstart.total)} (shortens cold starts, does not remove them)"
    if scheduled.total <= auto.total:
        return (
            "provisioned concurrency (scheduled)",
            f"{provisioned} / month, removes cold starts up to each hour's N and bills real requests at the "
            f"provisioned duration price; {keep_warm}",
        )
    if snapstart is not None and removable is not None and removable < thresholds.snapstart_below:
        return "snapstart", f"{snap}; {keep_warm} only; {provisioned}"
    return "keep-warm auto", "; ".join(part for part in (keep_warm, provisioned, snap) if part)


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f} %"
