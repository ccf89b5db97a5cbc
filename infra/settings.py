"""Settings read from the environment, lazily and once, with errors that name the variable.

Each control-plane function reads only what it needs; a missing or malformed variable is
reported by its environment name (``THERMOSTAT_HOOK_CONCURRENCY: …``), never as a stack trace
from deep inside a handler.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from functools import cache
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from domain.errors import InvalidInput
from domain.expectations import Expectation, parse_expectations

DEFAULT_STRAY_PATTERNS = (r"^zappa-[a-z0-9]{9}$",)
#: The hook's hold margin by default (``domain.hook.DEFAULT_HOLD_MARGIN_MS``, not imported: every
#: function reads these settings, and only the hook needs the hook's package).
DEFAULT_HOOK_HOLD_MARGIN_MS: Final = 25
#: The error type of the hook's own checks: their messages are shown as written (no "Value error, ").
_HOOK_ERROR: Final = "thermostat_hook"
#: Longer values are not echoed in an error (a payload can be large).
_MAX_SHOWN_CHARS: Final = 200


class SettingsError(InvalidInput):
    """A required environment variable is missing or malformed."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _split_patterns(value: str) -> tuple[str, ...]:
    """Split regular expressions on commas, except inside ``{m,n}``, ``[...]`` and ``(...)``."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char in "{[(":
            depth += 1
        elif char in "}])" and depth > 0:
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return tuple(part.strip() for part in parts if part.strip())


class Settings(BaseModel):
    """Every environment variable thermostat reads. Field aliases are the variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", arbitrary_types_allowed=True)

    table: Annotated[str | None, Field(alias="THERMOSTAT_TABLE", min_length=3, max_length=255)] = None
    payload_buckets: Annotated[tuple[str, ...], Field(alias="THERMOSTAT_PAYLOAD_BUCKETS")] = ()
    hook_target: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_TARGET")] = None
    hook_version: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_VERSION")] = None
    hook_concurrency: Annotated[int, Field(alias="THERMOSTAT_HOOK_CONCURRENCY", ge=1, le=100)] = 5
    hook_jitter: Annotated[tuple[float, float], Field(alias="THERMOSTAT_HOOK_JITTER")] = (0.25, 0.4)
    hook_payload: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD")] = None
    hook_payload_s3: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD_S3")] = None
    hook_payload_sha256: Annotated[str | None, Field(alias="THERMOSTAT_HOOK_PAYLOAD_SHA256")] = None
    hook_expectations: Annotated[tuple[Expectation, ...], Field(alias="THERMOSTAT_HOOK_EXPECT")] = ()
    #: None: found in the deployment's AppSpec (``auto``, the default).
    hook_lifecycle: Annotated[
        Literal["BeforeAllowTraffic", "AfterAllowTraffic"] | None, Field(alias="THERMOSTAT_HOOK_LIFECYCLE")
    ] = None
    hook_timeout_s: Annotated[float | None, Field(alias="THERMOSTAT_HOOK_TIMEOUT", gt=0, le=900)] = None
    hook_hold_margin_ms: Annotated[int, Field(alias="THERMOSTAT_HOOK_HOLD_MARGIN_MS", ge=0, le=10_000)] = (
        DEFAULT_HOOK_HOLD_MARGIN_MS
    )
    max_in_flight: Annotated[int, Field(alias="THERMOSTAT_MAX_IN_FLIGHT", ge=1, le=1000)] = 64
    #: Keep-warm's look-ups (domain.keep_warm.lookups): Lambda's control-plane quota is 15/s per account.
    lookup_rate: Annotated[float, Field(alias="THERMOSTAT_LOOKUP_RATE", gt=0, le=15)] = 5.0
    lookup_burst: Annotated[int, Field(alias="THERMOSTAT_LOOKUP_BURST", ge=3, le=45)] = 6
    lookup_ttl_s: Annotated[float, Field(alias="THERMOSTAT_LOOKUP_TTL", ge=0, le=86_400)] = 600.0
    lookup_wait_s: Annotated[float, Field(alias="THERMOSTAT_LOOKUP_WAIT", ge=0, le=600)] = 20.0
    #: ``concurrency: auto``: how long a target's concurrency history (and feedback) read is kept, seconds.
    auto_ttl_s: Annotated[float, Field(alias="THERMOSTAT_AUTO_TTL", ge=0, le=86_400)] = 3600.0
    stray_patterns: Annotated[tuple[str, ...], Field(alias="THERMOSTAT_STRAY_PATTERNS")] = DEFAULT_STRAY_PATTERNS
    bucket_quota: Annotated[int, Field(alias="THERMOSTAT_BUCKET_QUOTA", ge=1)] = 10_000
    sweep_delete: Annotated[bool, Field(alias="THERMOSTAT_SWEEP_DELETE")] = False
    event_bus: Annotated[str, Field(alias="THERMOSTAT_EVENT_BUS", min_length=1)] = "default"
    #: The role ``serverless/spoke.yaml`` creates in every other account (infra.spokes), and its external id.
    spoke_role: Annotated[
        str, Field(alias="THERMOSTAT_SPOKE_ROLE", min_length=1, max_length=64, pattern=r"^[\w+=,.@-]+$")
    ] = "thermostat-spoke"
    spoke_external_id: Annotated[
        str | None,
        Field(alias="THERMOSTAT_SPOKE_EXTERNAL_ID", min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$"),
    ] = None
    #: Sharded keep-warm rounds (domain.keep_warm.shards, handlers.keep_warm_worker).
    shard_queue: Annotated[str | None, Field(alias="THERMOSTAT_SHARD_QUEUE", min_length=1)] = None
    sharding: Annotated[Literal["auto", "on", "off"], Field(alias="THERMOSTAT_SHARDING")] = "auto"
    shard_targets: Annotated[int, Field(alias="THERMOSTAT_SHARD_TARGETS", ge=1, le=10_000)] = 200
    shard_pings: Annotated[int, Field(alias="THERMOSTAT_SHARD_PINGS", ge=1, le=100_000)] = 1_000
    #: The DLQ's maxReceiveCount: at the last delivery a shard that still cannot run reports why.
    shard_max_receives: Annotated[int, Field(alias="THERMOSTAT_SHARD_MAX_RECEIVES", ge=1, le=1_000)] = 3
    #: Seconds after planning when a round with shards still unreported is finalised (they are listed missing).
    shard_deadline_s: Annotated[int, Field(alias="THERMOSTAT_SHARD_DEADLINE", ge=60, le=86_400)] = 900
    region: Annotated[str, Field(alias="AWS_REGION", min_length=1)] = "us-east-1"
    #: Set by Lambda: the function this code runs as (the hook never warms itself).
    function_name: Annotated[str | None, Field(alias="AWS_LAMBDA_FUNCTION_NAME", min_length=1)] = None
    #: A price table of one's own for `thermostat advise` (domain/costs.py); None: the shipped one.
    prices_file: Annotated[str | None, Field(alias="THERMOSTAT_PRICES_FILE", min_length=1)] = None
    service_name: Annotated[str, Field(alias="POWERTOOLS_SERVICE_NAME")] = "thermostat"
    #: Everything thermostat emits goes here; ``POWERTOOLS_METRICS_NAMESPACE`` is left to Powertools.
    metrics_namespace: Annotated[str, Field(alias="THERMOSTAT_METRICS_NAMESPACE", min_length=1, max_length=255)] = (
        "Thermostat"
    )

    @field_validator("payload_buckets", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value) if isinstance(value, str) else value

    @field_validator("stray_patterns", mode="before")
    @classmethod
    def _split_regexes(cls, value: Any) -> Any:
        return _split_patterns(value) if isinstance(value, str) else value

    @field_validator("hook_jitter", mode="before")
    @classmethod
    def _split_jitter(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = _csv(value)
            if len(parts) != 2:
                raise ValueError("expected two numbers in seconds, 'MIN,MAX', e.g. '0.25,0.4'")
            return parts
        return value

    @field_validator("hook_jitter")
    @classmethod
    def _check_jitter(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low < 0 or high < low or high > 60:
            raise ValueError(f"need 0 <= MIN <= MAX <= 60 seconds, got {low},{high}")
        return value

    @field_validator("stray_patterns")
    @classmethod
    def _compile_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("hook_payload")
    @classmethod
    def _check_json(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                json.loads(value)
            except ValueError as exc:
                raise PydanticCustomError(
                    _HOOK_ERROR, "not JSON ({exc}); the payload is sent as the invocation's event", {"exc": str(exc)}
                ) from exc
        return value

    @field_validator("hook_payload_s3")
    @classmethod
    def _check_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise PydanticCustomError(_HOOK_ERROR, "expected s3://bucket/key")
        return value

    @field_validator("hook_expectations", mode="before")
    @classmethod
    def _parse_expectations(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_expectations(value)
            except InvalidInput as exc:
                raise PydanticCustomError(_HOOK_ERROR, "{problem}", {"problem": str(exc)}) from exc
        return value

    @field_validator("hook_lifecycle", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value

    @model_validator(mode="after")
    def _one_payload_source(self) -> Settings:
        if self.hook_payload is not None and self.hook_payload_s3 is not None:
            raise PydanticCustomError(
                _HOOK_ERROR,
                "THERMOSTAT_HOOK_PAYLOAD and THERMOSTAT_HOOK_PAYLOAD_S3 are both set: choose one payload source",
            )
        return self

    @model_validator(mode="after")
    def _check_hook_pair(self) -> Settings:
        if self.hook_version is not None and self.hook_target is None:
            raise ValueError("THERMOSTAT_HOOK_VERSION is set but THERMOSTAT_HOOK_TARGET is not; set both or neither")
        return self

    def require_table(self) -> str:
        """The table name, or a clear error when the variable is missing."""
        if not self.table:
            raise SettingsError(
                "THERMOSTAT_TABLE is not set: name the DynamoDB table (e.g. THERMOSTAT_TABLE=thermostat)"
            )
        return self.table


def _alias_of(field: str) -> str:
    info = Settings.model_fields.get(field)
    return info.alias if info is not None and info.alias else field


def load_settings(environ: Mapping[str, str] | None = None, *, only: Collection[str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default).

    The region is botocore's: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then (for the process's own
    environment only: a given mapping is the whole environment) the ``region`` of the profile
    that ``AWS_PROFILE`` selects in the config file, and only then us-east-1.

    ``only`` names the fields to read (the rest keep their defaults): the control plane's
    logger and metrics read the Powertools names alone, so that a malformed hook variable is
    logged and reported rather than taking the logger down with it.
    """
    env = os.environ if environ is None else environ
    names = {
        info.alias for field, info in Settings.model_fields.items() if info.alias and (only is None or field in only)
    }
    raw: dict[str, str] = {name: env[name] for name in names if name in env and env[name] != ""}
    if environ is None and "AWS_REGION" in names and (given := _command_line_region()):
        raw["AWS_REGION"] = given  # the CLI's --region beats the environment, as in the AWS CLI
    if "AWS_REGION" not in raw and "AWS_REGION" in names:
        if env.get("AWS_DEFAULT_REGION"):
            raw["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
        elif environ is None and (profile_region := _profile_region()):
            raw["AWS_REGION"] = profile_region
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if error["type"] == _HOOK_ERROR and not error.get("loc"):
                problems.append(error["msg"])  # names its variables itself
                continue
            loc = error.get("loc") or ("settings",)
            name = _alias_of(str(loc[0]))
            given = raw.get(name)
            suffix = f" (got {given!r})" if given is not None and len(given) <= _MAX_SHOWN_CHARS else ""
            problems.append(f"{name}: {error['msg']}{suffix}")
        raise SettingsError("invalid environment: " + "; ".join(problems)) from exc


def _command_line_region() -> str | None:
    from infra import aws

    return aws.command_line_region()


def _profile_region() -> str | None:
    """The selected profile's ``region`` in the config file, read by botocore's own chain."""
    from infra import aws

    try:
        return aws.profile_region()
    except InvalidInput as exc:
        raise SettingsError(str(exc)) from exc


@cache
def get_settings() -> Settings:
    """The process's settings, read at first use (never at import)."""
    return load_settings()
