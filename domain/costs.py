"""What keeping a target warm costs, beside provisioned concurrency and SnapStart for the same function.

Prices come from a :class:`PriceTable` (the dated table shipped in ``domain/prices/`` or the file
named by ``THERMOSTAT_PRICES_FILE``; ``infra/prices.py`` reads it). Every figure is a month of
730 hours, AWS's own convention on its pricing page, at the first duration tier and without the
free tier (which a real account shares between all its functions).

- **keep-warm**: every ping is one request plus its hold billed as duration at the target's memory
  and architecture; the keep-warm function's own invocation (one per round and group) is shared
  equally between the targets it pings.
- **provisioned concurrency**: N environments x memory x the seconds they are configured, at the
  provisioned price, always on (the schedule's highest N, all month) or scheduled (each hour's N).
  Real requests served by provisioned environments are billed at the lower provisioned duration
  price: that saving is a credit against the charge.
- **SnapStart** (Java 11+, Python 3.12+, .NET 8+): for Python and .NET, the cache (memory x
  every second a version is active) and one restore (memory) per environment started; Java's
  SnapStart has no extra charge. SnapStart shortens a cold start, it does not remove it.

Pure: prices and numbers in, frozen values out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.errors import InvalidInput

Architecture = Literal["x86_64", "arm64"]
ARCHITECTURES: tuple[Architecture, ...] = ("x86_64", "arm64")
#: Hours in a month, as AWS's pricing examples count them.
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
HOURS_PER_WEEK = 168
#: Keep-warm's default schedule, ``rate(5 minutes)``.
ROUND_INTERVAL_S = 300
#: The SAM template's keep-warm function (MemorySize 1024, Architectures arm64).
WARMER_MEMORY_MB = 1024
WARMER_ARCHITECTURE: Architecture = "arm64"


class ArchitecturePrices(BaseModel):
    """The list prices of one region and architecture, in the table's currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Per request.
    request: float = Field(ge=0)
    #: Per GB-second of on-demand duration.
    duration_gb_s: float = Field(ge=0)
    #: Per GB-second of provisioned concurrency configured.
    provisioned_gb_s: float = Field(ge=0)
    #: Per GB-second of duration on a provisioned environment.
    provisioned_duration_gb_s: float = Field(ge=0)
    #: Per GB-second a SnapStart version's snapshot is cached.
    snapstart_cache_gb_s: float = Field(ge=0)
    #: Per GB restored from a SnapStart snapshot.
    snapstart_restore_gb: float = Field(ge=0)


class PriceTable(BaseModel):
    """A dated price table: per region and architecture, with where the figures came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    as_of: date
    currency: str = Field(default="USD", min_length=1)
    notes: tuple[str, ...] = ()
    #: The figures (or regions) that could not be confirmed from the source.
    unconfirmed: tuple[str, ...] = ()
    regions: dict[str, dict[Architecture, ArchitecturePrices]] = Field(min_length=1)

    def prices(self, region: str, architecture: str) -> ArchitecturePrices:
        """The prices of ``region`` and ``architecture``; ``InvalidInput`` names what the table has."""
        by_architecture = self.regions.get(region)
        if by_architecture is None:
            raise InvalidInput(
                f"the price table (as of {self.as_of}) has no prices for region {region!r}: it has "
                f"{', '.join(sorted(self.regions))}; add the region to a table of your own and point "
                "THERMOSTAT_PRICES_FILE at it"
            )
        found = by_architecture.get(architecture)  # type: ignore[call-overload]
        if found is None:
            raise InvalidInput(
                f"the price table has no {architecture!r} prices for {region}: it has "
                f"{', '.join(sorted(by_architecture))}"
            )
        return found  # type: ignore[no-any-return]


def parse_price_table(document: Any, origin: str) -> PriceTable:
    """Validate a price table read from ``origin`` (a path, for the error); ``InvalidInput`` says what is wrong."""
    if not isinstance(document, Mapping):
        raise InvalidInput(f"price table {origin}: expected a JSON object with source, as_of and regions")
    try:
        return PriceTable.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()[:5]
        )
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise InvalidInput(f"price table {origin} is not valid: {problems}{more}") from exc


def gigabytes(memory_mb: int) -> float:
    """Lambda bills memory in GB of 1,024 MB."""
    return memory_mb / 1024


# -- keep-warm -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarmerShare:
    """The keep-warm function's own invocation per round, shared by the ``targets`` it pings."""

    round_ms: float
    targets: int = 1
    memory_mb: int = WARMER_MEMORY_MB
    architecture: Architecture = WARMER_ARCHITECTURE


@dataclass(frozen=True)
class KeepWarmCost:
    """A month of keep-warm for one target."""

    pings: float
    requests: float
    holds: float
    warmer_share: float

    @property
    def total(self) -> float:
        return self.requests + self.holds + self.warmer_share


def rounds_per_month(interval_s: int = ROUND_INTERVAL_S) -> float:
    """Rounds a schedule of one round per ``interval_s`` runs in a month."""
    return SECONDS_PER_MONTH / interval_s


def keep_warm_cost(
    prices: ArchitecturePrices,
    *,
    memory_mb: int,
    hold_ms: float,
    pings_per_month: float,
    warmer: WarmerShare,
    warmer_prices: ArchitecturePrices,
    rounds: float | None = None,
) -> KeepWarmCost:
    """The month's pings (each one request + ``hold_ms`` of duration) and this target's share of the warmer.

    ``rounds`` is how many times the warmer runs in the month (default: every 5 minutes).
    """
    if warmer.targets < 1:
        raise InvalidInput("the keep-warm function's cost is shared by at least one target")
    runs = rounds_per_month() if rounds is None else rounds
    per_run = warmer_prices.request + warmer.round_ms / 1000 * gigabytes(warmer.memory_mb) * warmer_prices.duration_gb_s
    return KeepWarmCost(
        pings=pings_per_month,
        requests=pings_per_month * prices.request,
        holds=pings_per_month * hold_ms / 1000 * gigabytes(memory_mb) * prices.duration_gb_s,
        warmer_share=runs * per_run / warmer.targets,
    )


def pings_for_schedule(n_by_hour: Sequence[int], interval_s: int = ROUND_INTERVAL_S) -> float:
    """Pings a month of rounds sends for a weekly schedule of N (one value per hour of the week)."""
    _check_week(n_by_hour)
    return sum(n_by_hour) * (3600 / interval_s) * HOURS_PER_MONTH / HOURS_PER_WEEK


def _check_week(n_by_hour: Sequence[int]) -> None:
    if len(n_by_hour) != HOURS_PER_WEEK or any(n < 0 for n in n_by_hour):
        raise InvalidInput(f"a weekly schedule has {HOURS_PER_WEEK} hourly values >= 0, got {len(n_by_hour)}")


# -- provisioned concurrency ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProvisionedCost:
    """A month of provisioned concurrency: the charge, less the cheaper duration of the real requests it serves."""

    environments: int
    gb_seconds: float
    charge: float
    duration_credit: float

    @property
    def total(self) -> float:
        return self.charge - self.duration_credit


def provisioned_cost(
    prices: ArchitecturePrices,
    *,
    memory_mb: int,
    n_by_hour: Sequence[int],
    scheduled: bool,
    real_gb_s_by_hour: Sequence[float] | None = None,
) -> ProvisionedCost:
    """Provisioned concurrency for a weekly schedule of N: always on at its highest N, or hour by hour.

    ``real_gb_s_by_hour`` is a week of real requests' duration (GB-seconds per hour of the week):
    in the hours with provisioned environments, it is billed at the provisioned duration price.
    """
    _check_week(n_by_hour)
    weeks = HOURS_PER_MONTH / HOURS_PER_WEEK
    gb = gigabytes(memory_mb)
    peak = max(n_by_hour)
    if scheduled:
        gb_seconds = sum(n_by_hour) * 3600 * gb * weeks
        covered = [n > 0 for n in n_by_hour]
    else:
        gb_seconds = peak * gb * SECONDS_PER_MONTH
        covered = [peak > 0] * HOURS_PER_WEEK
    credit = 0.0
    if real_gb_s_by_hour is not None:
        if len(real_gb_s_by_hour) != HOURS_PER_WEEK:
            raise InvalidInput(f"a week of real duration has {HOURS_PER_WEEK} hourly values")
        served = sum(value for value, on in zip(real_gb_s_by_hour, covered, strict=True) if on)
        credit = served * weeks * (prices.duration_gb_s - prices.provisioned_duration_gb_s)
    return ProvisionedCost(
        environments=peak,
        gb_seconds=gb_seconds,
        charge=gb_seconds * prices.provisioned_gb_s,
        duration_credit=credit,
    )


# -- SnapStart -----------------------------------------------------------------------------------

_RUNTIME = re.compile(r"^(?P<family>java|python|dotnet)(?P<major>\d+)(?:\.(?P<minor>\d+))?")
#: The oldest managed runtime of each family that SnapStart supports (AWS's SnapStart documentation).
_SNAPSTART_FROM = {"java": (11, 0), "python": (3, 12), "dotnet": (8, 0)}
#: SnapStart for Java has no extra charge; Python and .NET pay for the cache and the restores.
_SNAPSTART_CHARGED = frozenset({"python", "dotnet"})


def snapstart_family(runtime: str | None) -> str | None:
    """``java``, ``python`` or ``dotnet`` when SnapStart supports ``runtime`` (e.g. ``python3.12``), else None."""
    match = _RUNTIME.match(runtime or "")
    if match is None:
        return None
    family = match.group("family")
    version = (int(match.group("major")), int(match.group("minor") or 0))
    return family if version >= _SNAPSTART_FROM[family] else None


@dataclass(frozen=True)
class SnapStartCost:
    """A month of SnapStart for one version: cache and restores (both zero for Java)."""

    family: str
    restores: float
    cache: float
    restore: float

    @property
    def total(self) -> float:
        return self.cache + self.restore


def snapstart_cost(
    prices: ArchitecturePrices, *, memory_mb: int, runtime: str | None, restores_per_month: float
) -> SnapStartCost | None:
    """SnapStart for one active version all month with ``restores_per_month`` restores; None when unsupported."""
    family = snapstart_family(runtime)
    if family is None:
        return None
    gb = gigabytes(memory_mb)
    charged = family in _SNAPSTART_CHARGED
    return SnapStartCost(
        family=family,
        restores=restores_per_month,
        cache=gb * SECONDS_PER_MONTH * prices.snapstart_cache_gb_s if charged else 0.0,
        restore=restores_per_month * gb * prices.snapstart_restore_gb if charged else 0.0,
    )


def dollars(value: float) -> str:
    """``$4.10``; amounts under a cent keep two significant figures (``$0.0042``)."""
    if value != 0 and abs(value) < 0.01:
        digits = 1 - math.floor(math.log10(abs(value)))
        return f"${value:.{digits}f}"
    return f"${value:,.2f}"
