"""Keep-warm policies replayed through a model of Lambda environments: cold real requests and dollars.

A seeded simulation (no network, no clock): ``weeks`` weeks of synthetic traffic; the last week is
replayed through the environment model once per policy, the weeks before it are the history the
``auto`` policy sizes from (and the fixed policies take their N from).

**Traffic** (per second, UTC): a diurnal base — weekdays ``night_rps`` at night rising to
``day_rps`` around 13:00 (a raised cosine between 07:00 and 20:00), weekends at ``weekend_share`` of
that — with Poisson arrivals, plus two kinds of bursts: a **recurring** one every weekday at 09:00
(a batch of ``batch`` requests within 2 s, the same every week) and **random** ones
(``random_bursts`` a week at uniformly random times, ``random_size`` requests within 2 s each).
Request durations are log-normal (median ``duration_ms``).

**Environments**: a request takes an idle environment (the most recently freed) or cold-starts a
new one (``init_ms`` before it runs); an environment idle for ``idle_s`` is reclaimed. Keep-warm
runs every 5 minutes and sends N concurrent pings, each holding an environment ``hold_ms``: a ping
takes an idle environment or cold-starts one, like a request (a real request that arrives while
every environment is held by pings goes cold too).

**Policies**: no warming; fixed N = the peak (the highest hourly peak of the history weeks);
fixed N = the median (of the history's hourly peaks, hours with traffic); ``auto`` =
``domain.keep_warm.sizing.choose_concurrency`` at every round, on the history's hourly peaks and
the completed hours of the week being replayed (what CloudWatch would hold then), with its
feedback (real cold starts since the last round while warmed) and ``min`` = 1.

**Dollars**: the cost model (``domain/costs.py``, shipped price table, us-east-1) of the replayed
week's pings, scaled to a month of 730 h, plus the keep-warm function's share (a 1 s round shared
by a group of ``group_targets`` targets). Real requests cost the same under every policy and are
left out.

The goal (issue 17): ``auto`` has no more cold real requests than fixed-peak at no more than half
its cost. Run: ``.venv/bin/python -m bench.keep_warm_policy``.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import statistics
from collections import deque
from typing import Any

HOUR_S = 3600
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S
ROUND_S = 300
BASELINE = "fixed N = peak"


def _rate(t: float, *, night_rps: float, day_rps: float, weekend_share: float) -> float:
    """Requests per second at ``t`` seconds after a Monday 00:00 UTC."""
    day = int(t // DAY_S) % 7
    hour = (t % DAY_S) / HOUR_S
    shape = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 7) / 13) if 7 <= hour < 20 else 0.0
    rate = night_rps + (day_rps - night_rps) * shape
    return rate * (weekend_share if day >= 5 else 1.0)


def traffic(
    rng: random.Random,
    weeks: int,
    *,
    night_rps: float,
    day_rps: float,
    weekend_share: float,
    batch: int,
    random_bursts: int,
    random_size: int,
    duration_ms: float,
) -> list[tuple[float, float]]:
    """(arrival s, duration s) of every real request, sorted; t = 0 is a Monday 00:00 UTC."""
    arrivals: list[float] = []
    horizon = weeks * WEEK_S
    top = max(day_rps, night_rps)
    t = 0.0
    while True:  # thinning: Poisson at the top rate, kept with probability rate / top
        t += rng.expovariate(top)
        if t >= horizon:
            break
        if rng.random() * top < _rate(t, night_rps=night_rps, day_rps=day_rps, weekend_share=weekend_share):
            arrivals.append(t)
    for week in range(weeks):
        for day in range(5):
            start = week * WEEK_S + day * DAY_S + 9 * HOUR_S
            arrivals.extend(start + rng.uniform(0, 2) for _ in range(batch))
        for _ in range(random_bursts):
            start = week * WEEK_S + rng.uniform(0, WEEK_S - 2)
            arrivals.extend(start + rng.uniform(0, 2) for _ in range(random_size))
    arrivals.sort()
    sigma = 0.5
    return [(a, rng.lognormvariate(math.log(duration_ms / 1000), sigma)) for a in arrivals]


def hourly_peaks(requests: list[tuple[float, float]], weeks: int) -> list[int]:
    """The most real requests in flight at once in every hour (index = hour since t = 0)."""
    peaks = [0] * (weeks * 168)
    ends: list[float] = []
    for arrival, duration in requests:
        while ends and ends[0] <= arrival:
            heapq.heappop(ends)
        heapq.heappush(ends, arrival + duration)
        hour = int(arrival // HOUR_S)
        peaks[hour] = max(peaks[hour], len(ends))
    return peaks


class Environments:
    """Lambda's environments for one function: idle ones (by when they were freed) and busy ones."""

    def __init__(self, idle_s: float, init_s: float) -> None:
        self.idle_s = idle_s
        self.init_s = init_s
        self.idle: deque[float] = deque()  # free-since times, oldest first
        self.busy: list[float] = []  # busy-until times (a heap)

    def _settle(self, now: float) -> None:
        while self.busy and self.busy[0] <= now:
            self.idle.append(heapq.heappop(self.busy))
        while self.idle and now - self.idle[0] >= self.idle_s:
            self.idle.popleft()  # reclaimed

    def take(self, now: float, hold_s: float) -> bool:
        """Run something for ``hold_s`` from ``now``; True when it had to cold-start an environment."""
        self._settle(now)
        if self.idle:
            self.idle.pop()  # the most recently freed
            heapq.heappush(self.busy, now + hold_s)
            return False
        heapq.heappush(self.busy, now + self.init_s + hold_s)
        return True


def replay(
    requests: list[tuple[float, float]],
    start_s: float,
    end_s: float,
    n_for_round: Any,
    *,
    idle_s: float,
    init_s: float,
    hold_s: float,
    warm_from_s: float,
) -> dict[str, Any]:
    """Requests of ``[warm_from_s, end_s)`` through the model; counted from ``start_s``.

    ``n_for_round(t, cold_since_last_round)`` is N for the round at ``t`` (None: no warming).
    """
    environments = Environments(idle_s, init_s)
    first = bisect.bisect_left(requests, (warm_from_s, 0.0))
    next_round = math.ceil(warm_from_s / ROUND_S) * ROUND_S
    cold = real = pings = ping_cold = behind_pings = 0
    cold_since_round = 0
    held_until = -1.0  # when the last round's pings release their environments
    index = first
    while index < len(requests) and requests[index][0] < end_s:
        arrival, duration = requests[index]
        if next_round <= arrival:
            n = n_for_round(next_round, cold_since_round)
            cold_since_round = 0
            any_cold = False
            for _ in range(n or 0):
                counted = next_round >= start_s
                went_cold = environments.take(next_round, hold_s)
                any_cold = any_cold or went_cold
                pings += counted
                ping_cold += counted and went_cold
            if n:
                held_until = next_round + hold_s + (init_s if any_cold else 0.0)
            next_round += ROUND_S
            continue
        went_cold = environments.take(arrival, duration)
        if arrival >= start_s:
            real += 1
            cold += went_cold
            behind_pings += went_cold and arrival < held_until
        cold_since_round += went_cold
        index += 1
    while next_round < end_s:  # rounds after the last request still send pings
        n = n_for_round(next_round, 0)
        pings += (n or 0) if next_round >= start_s else 0
        next_round += ROUND_S
    return {"real": real, "cold": cold, "cold_behind_pings": behind_pings, "pings": pings, "ping_cold": ping_cold}


def main(
    weeks: int = 5,
    seed: int = 17,
    idle_s: float = 600.0,
    init_ms: float = 800.0,
    hold_ms: float = 100.0,
    duration_ms: float = 200.0,
    night_rps: float = 0.02,
    day_rps: float = 2.0,
    weekend_share: float = 0.3,
    batch: int = 20,
    random_bursts: int = 3,
    random_size: int = 12,
    memory_mb: int = 512,
    group_targets: int = 20,
) -> dict[str, Any]:
    """Simulate, print the table, return the figures."""
    from domain import costs
    from domain.keep_warm.sizing import HOUR_MS, ConcurrencySample, choose_concurrency
    from infra.prices import shipped_price_table

    if weeks < 2:
        raise ValueError("weeks must be at least 2: one of history, one replayed")
    rng = random.Random(seed)
    requests = traffic(
        rng,
        weeks,
        night_rps=night_rps,
        day_rps=day_rps,
        weekend_share=weekend_share,
        batch=batch,
        random_bursts=random_bursts,
        random_size=random_size,
        duration_ms=duration_ms,
    )
    peaks = hourly_peaks(requests, weeks)
    last = (weeks - 1) * WEEK_S
    history = peaks[: (weeks - 1) * 168]
    peak_n = max(history)
    median_n = max(1, round(statistics.median([p for p in history if p > 0])))
    samples = [
        ConcurrencySample(start_ms=hour * HOUR_MS, period_s=3600, peak=peak, source="simulation")
        for hour, peak in enumerate(peaks)
    ]
    chosen: list[int] = []
    previous: list[int | None] = [None]

    def auto(t: float, cold_since: int) -> int:
        now_ms = int(t * 1000)
        completed = bisect.bisect_right([s.start_ms for s in samples], now_ms - HOUR_MS)
        decision = choose_concurrency(
            samples[:completed],
            now_ms,
            minimum=1,
            maximum=1000,
            previous=previous[0],
            cold_while_warmed=cold_since if previous[0] else 0,
        )
        previous[0] = decision.n
        if t >= last:
            chosen.append(decision.n)
        return decision.n

    policies: dict[str, Any] = {
        "no warming": lambda t, c: None,
        BASELINE: lambda t, c: peak_n,
        "fixed N = median": lambda t, c: median_n,
        "auto": auto,
    }
    table = shipped_price_table()
    prices = table.prices("us-east-1", "x86_64")
    warmer = costs.WarmerShare(round_ms=1000, targets=group_targets)
    warmer_prices = table.prices("us-east-1", costs.WARMER_ARCHITECTURE)
    month = costs.HOURS_PER_MONTH / costs.HOURS_PER_WEEK
    results: dict[str, dict[str, Any]] = {}
    for name, policy in policies.items():
        outcome = replay(
            requests,
            last,
            weeks * WEEK_S,
            policy,
            idle_s=idle_s,
            init_s=init_ms / 1000,
            hold_s=hold_ms / 1000,
            warm_from_s=last - DAY_S,
        )
        if outcome["pings"]:
            dollars = costs.keep_warm_cost(
                prices,
                memory_mb=memory_mb,
                hold_ms=hold_ms,
                pings_per_month=outcome["pings"] * month,
                warmer=warmer,
                warmer_prices=warmer_prices,
            ).total
        else:
            dollars = 0.0
        results[name] = {**outcome, "dollars_month": dollars}
    base = results[BASELINE]
    print(
        f"{weeks} weeks of traffic (seed {seed}), last week replayed: {base['real']} real requests; "
        f"idle reclaim {idle_s:.0f} s, init {init_ms:.0f} ms, pings hold {hold_ms:.0f} ms every {ROUND_S} s; "
        f"peak N {peak_n}, median N {median_n}; {memory_mb} MB x86_64, us-east-1 prices as of {table.as_of}"
    )
    header = (
        f"{'policy':<18} {'cold real':>9} {'behind pings':>12} {'cold %':>7} {'pings/week':>10} "
        f"{'$ / month':>10} {'cost x peak':>11}"
    )
    print(header)
    for name, row in results.items():
        ratio = row["dollars_month"] / base["dollars_month"] if base["dollars_month"] else float("nan")
        print(
            f"{name:<18} {row['cold']:>9} {row['cold_behind_pings']:>12} {row['cold'] / row['real'] * 100:>6.2f}% "
            f"{row['pings']:>10} "
            f"{costs.dollars(row['dollars_month']):>10} {ratio:>10.2f}x"
        )
    auto_row = results["auto"]
    goal_cold = auto_row["cold"] <= base["cold"]
    goal_cost = auto_row["dollars_month"] <= base["dollars_month"] / 2
    print(
        f"goal: auto cold <= fixed-peak cold: {'met' if goal_cold else 'MISSED'} "
        f"({auto_row['cold']} vs {base['cold']}); "
        f"auto cost <= half of fixed-peak: {'met' if goal_cost else 'MISSED'} "
        f"({auto_row['dollars_month'] / base['dollars_month']:.2f}x); auto N over the week "
        f"{min(chosen)}-{max(chosen)}, mean {statistics.fmean(chosen):.2f}"
    )
    return {
        "policies": results,
        "peak_n": peak_n,
        "median_n": median_n,
        "auto_n_mean": statistics.fmean(chosen),
        "auto_n_max": max(chosen),
        "goal_cold_met": goal_cold,
        "goal_cost_met": goal_cost,
        "cost_ratio_auto_vs_peak": auto_row["dollars_month"] / base["dollars_month"],
    }


if __name__ == "__main__":
    main()
