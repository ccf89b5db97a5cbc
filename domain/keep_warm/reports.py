"""Keep-warm's reports, and the counting that fills them from the pings' results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.invocation import InvocationResult, Outcome
from domain.keep_warm.ports import Flight
from thermostat_runtime import COLD_KINDS, parse_reply

_NOT_ATTEMPTED = InvocationResult(outcome=Outcome.NOT_ATTEMPTED, error="deadline too close to launch")
_NO_RESULT = InvocationResult(outcome=Outcome.FAILED, error="no result recorded")


class Skip(StrEnum):
    """Why a target was not pinged at all."""

    DISABLED = "disabled"
    PROVISIONED = "provisioned"  # provisioned concurrency already covers the asked concurrency
    NO_HEADROOM = "no_headroom"  # reserved concurrency leaves no room after the headroom
    INVALID = "invalid"  # the stored target breaks a rule, or its payload/function could not be resolved


class AutoReport(BaseModel):
    """An auto target's sizing in one round: the N chosen and why (the data it used)."""

    n: int
    reason: str
    #: ``cloudwatch`` or ``platform-records`` (None: no history was used).
    source: str | None = None
    #: The weekly peaks at this hour the quantile was taken over (newest week first).
    weekly_peaks: list[int] = Field(default_factory=list)
    #: The quantile before feedback and clamps (None: no traffic, or no history).
    observed: int | None = None
    adjustments: list[str] = Field(default_factory=list)
    #: True when the history could not be read and the previous N (or min) was kept.
    fallback: bool = False
    #: When it was decided (epoch ms; None without a sizing source).
    at_ms: int | None = None


class TargetReport(BaseModel):
    """The outcome of one target in one round (the issue's report shape, plus detail fields)."""

    function: str
    qualifier: str
    group: str
    concurrency: int
    #: Where the function lives (None: the control plane's own account or region).
    account: str | None = None
    region: str | None = None
    planned: int = 0
    sent: int = 0
    environments: int | None = 0
    cold: int = 0
    errors: int = 0
    throttled: int = 0
    skipped: str | None = None
    not_attempted: int = 0
    unknown_environments: int = 0
    timeouts: int = 0
    throttle_reasons: dict[str, int] = Field(default_factory=dict)
    top_up: int = 0
    capped_by: str | None = None
    #: The look-ups the role was refused (each also a warning); the target was pinged cautiously.
    refused_lookups: list[str] = Field(default_factory=list)
    #: Why its facts are unknown this round (``rate limit``, ``throttled``): the target was pinged cautiously.
    deferred_lookups: list[str] = Field(default_factory=list)
    provisioned: int | None = None
    reserved: int | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    duration_ms: float = 0.0
    #: False when the target's pings do not hold their environment (a custom payload is sent as is):
    #: concurrent pings may then share environments, and fewer than planned is expected, not a failure.
    holds: bool = True
    #: ``concurrency: auto`` only: the N this round chose and why (``concurrency`` is that N).
    auto: AutoReport | None = None

    @property
    def healthy(self) -> bool:
        """True when nothing needs a look: no errors, throttles, unsent pings or shortfall."""
        if self.skipped is not None:
            return self.skipped in (Skip.DISABLED, Skip.PROVISIONED)
        short = self.holds and self.environments is not None and self.environments < self.planned
        return not (self.errors or self.throttled or self.not_attempted or self.error or short or self.refused_lookups)


class RoundReport(BaseModel):
    """The outcome of a round: ``{"group", "targets": [...]}`` plus totals."""

    group: str
    targets: list[TargetReport]
    sent: int = 0
    duration_ms: float = 0.0
    max_in_flight: int = 0
    #: Targets with a refused look-up (AccessDenied), pinged cautiously: a permission is missing.
    lookups_refused: int = 0
    #: Targets whose facts were unknown (look-up rate limit or AWS throttling, nothing cached), pinged cautiously.
    lookups_deferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON document the handler returns and logs."""
        return self.model_dump(mode="json")

    @property
    def unhealthy(self) -> list[TargetReport]:
        """Targets with errors, throttles, unsent pings, a refused look-up or a resolve failure."""
        return [target for target in self.targets if not target.healthy]


# -- counting ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one target's batches (first and top-up) answered, across the round."""

    environments: set[str] = field(default_factory=set)
    unknown: int = 0
    not_found: bool = False


def count(report: TargetReport, size: int, flight: Flight | None, tally: Tally) -> None:
    """Add one batch's results to ``report`` and ``tally``; a batch never launched is ``size`` pings not attempted."""
    results = flight.results if flight is not None else [_NOT_ATTEMPTED] * size
    for stored in results:
        # A worker that never stored its result counts as failed.
        result = stored if stored is not None else _NO_RESULT
        outcome = result.outcome
        if outcome is Outcome.NOT_ATTEMPTED:
            report.not_attempted += 1
        elif outcome is Outcome.THROTTLED:
            report.throttled += 1
            reason = result.error or "TooManyRequestsException"
            report.throttle_reasons[reason] = report.throttle_reasons.get(reason, 0) + 1
        elif outcome is Outcome.OK:
            reply = parse_reply(result.payload)
            if not reply.speaks_protocol:
                tally.unknown += 1
            elif reply.error is not None or not reply.warm or reply.environment_id is None:
                report.errors += 1
                report.error = report.error or f"protocol error from the target: {reply.error or 'not warm'}"
            else:
                tally.environments.add(reply.environment_id)
                if reply.start_kind in COLD_KINDS:
                    report.cold += 1
        else:
            report.errors += 1
            if outcome is Outcome.TIMEOUT:
                report.timeouts += 1
            if outcome is Outcome.NOT_FOUND:
                tally.not_found = True
            report.error = report.error or f"{outcome.value}: {result.error or 'no detail'}"
    if flight is not None:
        end = flight.finished if flight.finished is not None else flight.started
        report.duration_ms = round(report.duration_ms + (end - flight.started) * 1000.0, 3)


def finish(report: TargetReport, tally: Tally) -> None:
    """Set the distinct environments: a count, None when answered outside the protocol, or 0."""
    if tally.environments:
        report.environments = len(tally.environments)
    elif tally.unknown:
        report.environments = None  # answered, but not in the protocol: unknown, not zero
    else:
        report.environments = 0
    report.unknown_environments = tally.unknown
    if not report.holds and report.environments is not None and 0 < report.environments < report.planned:
        report.warnings.append(
            f"{report.environments} of {report.planned} environments answered: a custom payload is sent as is and "
            "does not hold its environment, so concurrent pings can land on the same one; drop the payload "
            f"(the protocol ping holds each environment for hold_ms) to keep {report.planned} warm"
        )
