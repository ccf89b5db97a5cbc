"""What a keep-warm round needs from outside: function facts, payloads, and a way to fan out.

The round itself only plans and counts. Reading a function's configuration, reading a
``payloadS3`` object and running pings concurrently are ports, implemented in ``infra/``
(``BotoLambdaConfig``, the handler's payload loader, ``infra.fanout.ThreadDispatcher``) and by
fakes in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from domain.deadline import Deadline
from domain.invocation import InvocationResult

T = TypeVar("T")


class FunctionFacts(BaseModel):
    """What keep-warm needs to know about a function before pinging it."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float | None = Field(default=None, gt=0)
    reserved: int | None = Field(default=None, ge=0)
    provisioned: int = Field(default=0, ge=0)
    #: What could not be read and was assumed (reported as the target's warnings).
    notes: tuple[str, ...] = ()
    #: The look-ups the role was refused (``AccessDeniedException``), e.g. ``lambda:GetFunctionConcurrency``:
    #: the round pings such a target cautiously, since a missing limit may be a real one.
    refused: tuple[str, ...] = ()
    #: The look-ups AWS throttled (e.g. ``lambda:GetProvisionedConcurrencyConfig``): what they would
    #: have said is unknown, not "none".
    throttled: tuple[str, ...] = ()
    #: Why the facts are missing altogether (``rate limit``: no look-up token in time; ``throttled``):
    #: the round pings such a target cautiously, as for a refusal.
    deferred: tuple[str, ...] = ()


class LambdaConfig(Protocol):
    """Port: read a function's timeout and concurrency settings (cached for one round)."""

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        """The facts of ``function:qualifier``; ``NotFound`` when it does not exist, ``AccessDenied``
        when the role may not read them (the round then pings cautiously), ``Unavailable`` when they
        cannot be read otherwise (the round then pings without those limits)."""
        ...


class PayloadLoader(Protocol):
    """Port: read a ``payloadS3`` object (allow-listed bucket, size-capped)."""

    def __call__(self, uri: str) -> bytes:
        """The object's bytes; ``InvalidInput`` when refused, ``NotFound``/``Unavailable`` otherwise."""
        ...


@dataclass(frozen=True)
class PingBatch:
    """The overlapping pings of one target: one synchronous invocation per payload."""

    function: str
    qualifier: str
    payloads: tuple[bytes, ...]
    #: Each ping's read timeout; the dispatcher cuts it to what is left before the deadline.
    read_timeout_s: float
    #: Launched only while at least this is left before the deadline (the hold plus a margin).
    min_time_s: float

    @property
    def size(self) -> int:
        """How many pings."""
        return len(self.payloads)


@dataclass
class Flight:
    """A launched batch: each ping's result lands at its index when it comes back."""

    results: list[InvocationResult | None]
    #: Clock instants: when the batch left, when its last ping came back (None: none did yet).
    started: float
    finished: float | None = None


class Dispatcher(Protocol):
    """Port: the round's concurrency, under one cap on pings in flight.

    A batch's pings must really overlap (that is how they reach distinct environments), so a
    batch is launched whole, only once the cap has room for all of it.
    """

    def gather(self, calls: Sequence[Callable[[], T]], deadline: Deadline) -> list[T | None]:
        """Run ``calls`` concurrently: each one's result, in order, or None for one still running at ``deadline``."""
        ...

    def prepare(self, pings: int, deadline: Deadline) -> None:
        """Start getting ready to send up to ``pings`` at once (threads, connections), without waiting.

        Called before the look-ups, so that both overlap; the first :meth:`launch` waits for it.
        Never raises.
        """
        ...

    def launch(self, batch: PingBatch, deadline: Deadline) -> Flight | None:
        """Start every ping of ``batch`` at once, after waiting for room under the cap.

        None, with nothing sent, when ``deadline`` leaves less than ``batch.min_time_s``;
        raises ``ValueError`` for a batch larger than the cap (it could never overlap).
        """
        ...

    def wait(self) -> None:
        """Block until every launched ping has answered (each is bounded by its read timeout)."""
        ...
