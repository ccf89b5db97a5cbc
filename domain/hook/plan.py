"""The warm-up plan: its configuration, each invocation's delay and hold, and what it sends.

:func:`warmup_config` turns the hook's settings and the resolved version into a
:class:`HookConfig`; :func:`plan_delays` draws each invocation's start delay from the jitter
range, and :func:`request_payload` builds what each one sends (the probe, holding its
environment until the last one has started, or the user's payload).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from random import Random
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.deadline import Deadline
from domain.errors import InvalidInput
from domain.expectations import Expectation
from domain.hook.target import LifecycleEvent, VersionUnderTest
from thermostat_runtime import build_request

DEFAULT_CONCURRENCY: Final = 5
DEFAULT_JITTER: Final = (0.25, 0.4)
#: Extra hold after the last planned start, so that all N invocations overlap. Small on purpose:
#: it is the only time the hook spends beyond max delay + latency, and on a new version every
#: probe is a cold start whose init already extends the overlap; it only covers network skew.
DEFAULT_HOLD_MARGIN_MS: Final = 25


class HookSettings(Protocol):
    """The hook's configuration (``THERMOSTAT_HOOK_*``), as ``infra.settings.Settings`` holds it."""

    @property
    def hook_target(self) -> str | None:
        """The function under test (None: from the AppSpec)."""
        ...

    @property
    def hook_version(self) -> str | None:
        """Its published version (None: the AppSpec's TargetVersion)."""
        ...

    @property
    def hook_lifecycle(self) -> str | None:
        """``BeforeAllowTraffic``/``AfterAllowTraffic``, or None: from the AppSpec's Hooks."""
        ...

    @property
    def hook_concurrency(self) -> int:
        """Parallel invocations."""
        ...

    @property
    def hook_jitter(self) -> tuple[float, float]:
        """The range of each invocation's start delay, in seconds."""
        ...

    @property
    def hook_payload(self) -> str | None:
        """A JSON event sent instead of the probe."""
        ...

    @property
    def hook_payload_s3(self) -> str | None:
        """``s3://bucket/key`` of that event."""
        ...

    @property
    def hook_payload_sha256(self) -> str | None:
        """The SHA-256 the S3 payload must have."""
        ...

    @property
    def hook_expectations(self) -> tuple[Expectation, ...]:
        """Checks on every response."""
        ...

    @property
    def hook_hold_margin_ms(self) -> int:
        """How long the probes overlap after the last one starts."""
        ...

    @property
    def hook_timeout_s(self) -> float | None:
        """Seconds to wait for each invocation (None: the time left)."""
        ...

    @property
    def payload_buckets(self) -> tuple[str, ...]:
        """The buckets a payload may be read from."""
        ...


class PayloadReader(Protocol):
    """Port: read a payload event from ``s3://bucket/key`` (allow-listed, size-capped, JSON)."""

    def read(
        self, uri: str, *, allowed_buckets: tuple[str, ...], sha256: str | None = None, timeout_s: float | None = None
    ) -> bytes:
        """The object's bytes; InvalidInput/NotFound/Unavailable say why not.

        ``timeout_s``: the read must end within that many seconds (None: the reader's own timeouts).
        """
        ...


def parse_jitter(text: str) -> tuple[float, float]:
    """Parse ``MIN,MAX`` seconds (same rules as ``THERMOSTAT_HOOK_JITTER``)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidInput(f"jitter {text!r}: expected two numbers in seconds, 'MIN,MAX', e.g. '0.25,0.4'") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low or high > 60:
        raise InvalidInput(f"jitter {text!r}: need 0 <= MIN <= MAX <= 60 seconds")
    return low, high


class HookConfig(BaseModel):
    """Everything one warm-up needs. ``payload=None`` means the protocol's ``probe`` action."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    target: VersionUnderTest
    lifecycle: LifecycleEvent = LifecycleEvent.BEFORE_ALLOW_TRAFFIC
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=100)
    jitter: tuple[float, float] = DEFAULT_JITTER
    payload: bytes | None = None
    expectations: tuple[Expectation, ...] = ()
    hold_margin_ms: int = Field(default=DEFAULT_HOLD_MARGIN_MS, ge=0, le=10_000)
    invoke_timeout_s: float | None = Field(default=None, gt=0)
    correlation_id: str | None = None

    @property
    def probing(self) -> bool:
        """True when each invocation is the protocol's ``probe`` (the default)."""
        return self.payload is None or self.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC

    @property
    def effective_jitter(self) -> tuple[float, float]:
        """After traffic moved there is nothing to spread out: no jitter then."""
        if self.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
            return (0.0, 0.0)
        return self.jitter


def configured_payload(
    settings: HookSettings, lifecycle: LifecycleEvent, payloads: PayloadReader, *, deadline: Deadline | None = None
) -> tuple[bytes | None, str | None]:
    """The user payload (inline or from S3, read before ``deadline``) and a note; None for the probe.

    After traffic has moved the hook only probes: a configured payload is not sent, and the note says so.
    """
    configured = settings.hook_payload is not None or settings.hook_payload_s3 is not None
    if lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
        return None, "AfterAllowTraffic runs the probe only: the configured payload is not sent" if configured else None
    if settings.hook_payload is not None:
        return settings.hook_payload.encode(), None
    if settings.hook_payload_s3 is None:
        return None, None
    data = payloads.read(
        settings.hook_payload_s3,
        allowed_buckets=settings.payload_buckets,
        sha256=settings.hook_payload_sha256,
        timeout_s=None if deadline is None else deadline.timeout_s(),
    )
    return data, None


def warmup_config(
    settings: HookSettings,
    target: VersionUnderTest,
    lifecycle: LifecycleEvent,
    payload: bytes | None,
    correlation_id: str,
) -> HookConfig:
    """The warm-up of ``target`` as the settings describe it."""
    return HookConfig(
        target=target,
        lifecycle=lifecycle,
        concurrency=settings.hook_concurrency,
        jitter=settings.hook_jitter,
        payload=payload,
        expectations=settings.hook_expectations,
        hold_margin_ms=settings.hook_hold_margin_ms,
        invoke_timeout_s=settings.hook_timeout_s,
        correlation_id=correlation_id,
    )


def plan_delays(config: HookConfig, rng: Random) -> tuple[float, ...]:
    """Each invocation's start delay, drawn uniformly from the jitter range."""
    low, high = config.effective_jitter
    return tuple(rng.uniform(low, high) for _ in range(config.concurrency))


def hold_ms_for(config: HookConfig, delays: Sequence[float], position: int) -> int:
    """How long invocation ``position`` (0-based) should hold its environment.

    Each one holds until the last has started, plus a margin: they all overlap, so each lands on
    an environment of its own, and they all finish together (wall time ≈ max delay + latency).
    """
    if config.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC:
        return 0
    # round() first: 0.4 - 0.25 is 0.15000000000000002, which must not become 151 ms.
    return math.ceil(round((max(delays) - delays[position]) * 1000.0, 6)) + config.hold_margin_ms


def request_payload(config: HookConfig, delays: Sequence[float], position: int) -> bytes:
    """The bytes sent by invocation ``position`` (0-based): the probe request or the user payload."""
    if not config.probing:
        assert config.payload is not None
        return config.payload
    request = build_request(
        "probe",
        correlation_id=config.correlation_id,
        index=position + 1,
        of=config.concurrency,
        hold_ms=hold_ms_for(config, delays, position),
    )
    return json.dumps(request, separators=(",", ":")).encode()
