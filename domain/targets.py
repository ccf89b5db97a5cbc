"""Keep-warm targets: what to ping, how many at once, and the rules a target must follow.

A target is one (group, function, qualifier). The qualifier is required and must be a published
version or an alias: ``$LATEST`` and unqualified names are refused, since SnapStart and
CodeDeploy work on versions and warming ``$LATEST`` warms environments that live traffic on an
alias never reaches.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import InvalidInput
from thermostat_runtime import DEFAULT_HOLD_MS_MAX, names

#: Concurrency a single target may ask for (Lambda's default account concurrency).
MAX_CONCURRENCY = 1_000
DEFAULT_HOLD_MS = 100
#: Inline payloads live in the DynamoDB item (400 KB at most); larger ones belong in S3.
MAX_INLINE_PAYLOAD_BYTES = 256 * 1024
DEFAULT_GROUP = "default"
#: ``concurrency: auto``: N is chosen by every round within ``[auto_min, auto_max]`` (domain/keep_warm/sizing.py).
AUTO = "auto"
DEFAULT_AUTO_MIN = 1
DEFAULT_AUTO_MAX = 10

_GROUP = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ACCOUNT = re.compile(r"\d{12}")
#: A commercial, GovCloud or China region name (``us-east-1``, ``us-gov-west-1``, ``cn-north-1``).
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_GROUP_RULE = "use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"


def validate_group(group: str) -> str:
    """Check a group name (lower-case letters, digits, ``-`` and ``_``; up to 63 characters)."""
    if not isinstance(group, str) or not _GROUP.fullmatch(group):
        raise InvalidInput(f"group {group!r} is not valid: {_GROUP_RULE} (e.g. 'default', 'office-hours')")
    return group


def validate_account(account: str) -> str:
    """An AWS account id is 12 digits; anything else is refused with the rule (``InvalidInput``)."""
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise InvalidInput(f"account {account!r} is not an AWS account id (12 digits, e.g. 123456789012)")
    return account


def validate_region(region: str) -> str:
    """An AWS region name (``eu-west-1``); anything else is refused with the rule (``InvalidInput``)."""
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise InvalidInput(f"region {region!r} is not an AWS region name (e.g. us-east-1, eu-west-1)")
    return region


def _check_function(function: str) -> str:
    if names.is_function_name(function) or names.is_unqualified_function_arn(function):
        return function
    if function.startswith("arn:") and names.is_unqualified_function_arn(function.rsplit(":", 1)[0]):
        raise ValueError(
            f"function {function!r} carries a qualifier in its ARN: pass the unqualified ARN "
            f"and the qualifier separately (--qualifier {function.rsplit(':', 1)[1]})"
        )
    if ":" in function and names.is_function_name(function.split(":", 1)[0]):
        name, qualifier = function.split(":", 1)
        raise ValueError(
            f"function {function!r} carries a qualifier: pass the name and the qualifier separately "
            f"({name} --qualifier {qualifier})"
        )
    raise ValueError(
        f"function {function!r} is not a Lambda function name (1-64 letters, digits, '-' or '_') "
        "or an unqualified function ARN"
    )


def _check_qualifier(qualifier: str) -> str:
    if qualifier == "$LATEST":
        raise ValueError(
            "qualifier '$LATEST' is refused: keep-warm pings a published version or an alias, because "
            "SnapStart and CodeDeploy work on versions and live traffic reaches an alias; publish a version "
            "(aws lambda publish-version) or create an alias and use it (e.g. --qualifier live)"
        )
    if not qualifier:
        raise ValueError("qualifier is required: give a published version or an alias (e.g. --qualifier live)")
    if not names.is_qualifier_syntax(qualifier):
        raise ValueError(
            f"qualifier {qualifier!r} is neither a version number nor an alias name (1-128 letters, digits, '-', '_')"
        )
    return qualifier


def _check_concurrency(value: Any) -> int | str:
    """A fixed number of environments (1..MAX_CONCURRENCY) or ``"auto"``; a digit string is a number."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == AUTO:
            return AUTO
        if text.lstrip("-").isdigit():
            value = int(text)
        else:
            raise ValueError(f"concurrency {value!r} is neither a number of environments nor 'auto'")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"concurrency {value!r} is neither a number of environments nor 'auto'")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(
            f"concurrency {value} is not valid: use 1 to {MAX_CONCURRENCY} environments, or 'auto' "
            "(sized by every round from the observed concurrency)"
        )
    return value


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); ``InvalidInput`` when malformed.

    The rules are the runtime module's (one definition of a valid reference, stdlib only).
    """
    from thermostat_runtime.refs import PayloadRefError
    from thermostat_runtime.refs import parse_s3_uri as parse_reference

    if not isinstance(uri, str):
        raise InvalidInput(f"payloadS3 {uri!r} is not an S3 URI: expected s3://BUCKET/KEY")
    try:
        return parse_reference(uri)
    except PayloadRefError as exc:
        raise InvalidInput(f"payloadS3: {exc}") from exc


class Target(BaseModel):
    """One function (at one qualifier) to keep warm with ``concurrency`` overlapping pings."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    function: str = Field(min_length=1, max_length=140)
    qualifier: str = Field(min_length=0, max_length=128)
    group: str = DEFAULT_GROUP
    #: A fixed number of environments, or ``"auto"`` (sized by every round within the bounds below).
    concurrency: int | Literal["auto"] = 1
    #: ``concurrency: auto`` only: the bounds of N (defaults 1 and 10).
    auto_min: int | None = None
    auto_max: int | None = None
    #: ``concurrency: auto`` only: the N the last round chose, why, and when (epoch ms), written by the round.
    auto_n: int | None = None
    auto_reason: str | None = None
    auto_at_ms: int | None = None
    hold_ms: int = Field(default=DEFAULT_HOLD_MS, ge=0, le=DEFAULT_HOLD_MS_MAX)
    #: A custom warm-up event (sent verbatim instead of the protocol ping), for targets that do
    #: not wear the runtime module but have their own warm-up branch.
    payload: Any = None
    payload_s3: str | None = Field(default=None, alias="payloadS3")
    enabled: bool = True
    #: Where the function lives; None: the control plane's own account (region). Another account is
    #: reached through its spoke role (``infra.spokes``).
    account: str | None = None
    region: str | None = None

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        return _check_function(value)

    @field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> int | str:
        return _check_concurrency(value)

    @field_validator("qualifier")
    @classmethod
    def _qualifier(cls, value: str) -> str:
        return _check_qualifier(value)

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        if not _GROUP.fullmatch(value):
            raise ValueError(f"group {value!r} is not valid: {_GROUP_RULE}")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(value):
            raise ValueError(f"account {value!r} is not an AWS account id (12 digits, e.g. 123456789012)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError(f"region {value!r} is not an AWS region name (e.g. us-east-1, eu-west-1)")
        return value

    @field_validator("payload_s3")
    @classmethod
    def _payload_s3(cls, value: str | None) -> str | None:
        if value is not None:
            parse_s3_uri(value)
        return value

    @model_validator(mode="after")
    def _auto_bounds(self) -> Target:
        if self.concurrency != AUTO:
            given = [name for name in ("auto_min", "auto_max") if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} (--min/--max) apply only to concurrency auto; "
                    f"use --concurrency auto or leave them out (concurrency is {self.concurrency})"
                )
            return self
        low = self.auto_min if self.auto_min is not None else DEFAULT_AUTO_MIN
        high = self.auto_max if self.auto_max is not None else max(DEFAULT_AUTO_MAX, low)
        if not 1 <= low <= MAX_CONCURRENCY:
            raise ValueError(f"auto min {low} is not valid: use 1 to {MAX_CONCURRENCY}")
        if not 1 <= high <= MAX_CONCURRENCY:
            raise ValueError(f"auto max {high} is not valid: use 1 to {MAX_CONCURRENCY}")
        if low > high:
            raise ValueError(f"auto min {low} is above auto max {high}: give --min <= --max")
        # Frozen model: the defaults are filled in once, here, so every reader sees the same bounds.
        object.__setattr__(self, "auto_min", low)
        object.__setattr__(self, "auto_max", high)
        return self

    @model_validator(mode="after")
    def _place_matches_arn(self) -> Target:
        # An ARN already names its account and region: a different --account/--region is a mistake.
        ref = names.parse_function_ref(self.function)
        if ref is not None and ref.account and self.account and ref.account != self.account:
            raise ValueError(f"account {self.account} differs from the account {ref.account} in the function's ARN")
        if ref is not None and ref.region and self.region and ref.region != self.region:
            raise ValueError(f"region {self.region} differs from the region {ref.region} in the function's ARN")
        return self

    @model_validator(mode="after")
    def _payload_xor(self) -> Target:
        if self.payload is not None and self.payload_s3 is not None:
            raise ValueError("give either payload or payloadS3, not both")
        if self.payload is not None:
            try:
                size = len(self.payload_bytes() or b"")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"payload is not JSON-serialisable: {exc}") from exc
            if size > MAX_INLINE_PAYLOAD_BYTES:
                raise ValueError(
                    f"inline payload is {size} bytes, above {MAX_INLINE_PAYLOAD_BYTES}: "
                    "store it in S3 and use payloadS3 instead"
                )
        return self

    @property
    def key(self) -> str:
        """The record's sort key: ``{group}#{function}#{qualifier}``, then ``@{account}@{region}`` when either is set.

        A target in the control plane's own account and region keeps the key it always had; two
        functions of one name in two accounts (or regions) are two targets.
        """
        return target_key(self.group, self.function, self.qualifier, self.account, self.region)

    @property
    def place(self) -> tuple[str | None, str | None]:
        """``(account, region)``: None for either means the control plane's own."""
        return self.account, self.region

    @property
    def auto(self) -> bool:
        """True for ``concurrency: auto`` (N chosen by every round)."""
        return self.concurrency == AUTO

    @property
    def bounds(self) -> tuple[int, int]:
        """``(min, max)`` of N: the auto bounds, or the fixed concurrency twice."""
        if isinstance(self.concurrency, int):
            return self.concurrency, self.concurrency
        return int(self.auto_min or DEFAULT_AUTO_MIN), int(self.auto_max or DEFAULT_AUTO_MAX)

    @property
    def planned_concurrency(self) -> int:
        """The N to warm before (or without) a sizing decision: fixed N, else the last N chosen, else min."""
        if isinstance(self.concurrency, int):
            return self.concurrency
        low, high = self.bounds
        return min(high, max(low, self.auto_n)) if self.auto_n is not None else low

    @property
    def function_name(self) -> str:
        """The bare function name (the last part of an ARN)."""
        ref = names.parse_function_ref(self.function)
        return ref.name if ref is not None else self.function

    def payload_bytes(self) -> bytes | None:
        """The inline payload as JSON bytes, or None when the target uses the protocol ping."""
        if self.payload is None:
            return None
        return json.dumps(self.payload, separators=(",", ":")).encode()

    def to_record(self) -> dict[str, Any]:
        """Plain fields for storage and JSON output (``payloadS3`` spelt as in the event shape)."""
        record: dict[str, Any] = {
            "function": self.function,
            "qualifier": self.qualifier,
            "group": self.group,
            "concurrency": self.concurrency,
            "hold_ms": self.hold_ms,
            "payload": self.payload,
            "payloadS3": self.payload_s3,
            "enabled": self.enabled,
            "account": self.account,
            "region": self.region,
        }
        if self.auto:
            record.update(
                auto_min=self.auto_min,
                auto_max=self.auto_max,
                auto_n=self.auto_n,
                auto_reason=self.auto_reason,
                auto_at_ms=self.auto_at_ms,
            )
        return record


def target_key(group: str, function: str, qualifier: str, account: str | None = None, region: str | None = None) -> str:
    """A target's sort key (see :attr:`Target.key`)."""
    base = f"{group}#{function}#{qualifier}"
    if account is None and region is None:
        return base
    return f"{base}@{account or ''}@{region or ''}"


def split_target_key(key: str) -> tuple[str, str, str, str | None, str | None]:
    """``(group, function, qualifier, account, region)`` of a sort key written by :func:`target_key`."""
    base, _, place = key.partition("@")
    account, _, region = place.partition("@")
    group, _, rest = base.partition("#")
    function, _, qualifier = rest.rpartition("#")
    return group, function, qualifier, account or None, region or None


def _friendly(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ())) or "target"
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        problems.append(f"{loc}: {message}")
    return "; ".join(problems)


def make_target(**fields: Any) -> Target:
    """Build a :class:`Target`, turning validation errors into one readable ``InvalidInput``."""
    try:
        return Target.model_validate(fields)
    except ValidationError as exc:
        name = fields.get("function", "?")
        qualifier = fields.get("qualifier")
        label = f"{name}:{qualifier}" if qualifier else str(name)
        raise InvalidInput(f"target {label} is not valid: {_friendly(exc)}") from exc


class TargetProblem(BaseModel):
    """A stored target that no longer passes validation: reported, never pinged."""

    model_config = ConfigDict(frozen=True)

    group: str
    function: str
    qualifier: str
    error: str
    account: str | None = None
    region: str | None = None


def check_payload_bucket(uri: str, allowed_buckets: frozenset[str] | set[str] | tuple[str, ...]) -> None:
    """Refuse a ``payloadS3`` outside ``THERMOSTAT_PAYLOAD_BUCKETS`` with a message saying how to allow it."""
    bucket, _ = parse_s3_uri(uri)
    if bucket not in allowed_buckets:
        allowed = ", ".join(sorted(allowed_buckets)) or "none"
        raise InvalidInput(
            f"payloadS3 bucket {bucket!r} is not allowed (allowed: {allowed}); "
            f"add it to THERMOSTAT_PAYLOAD_BUCKETS or move the payload to an allowed bucket"
        )


class TargetStore(Protocol):
    """Port: where targets live (DynamoDB in production, a dict in tests)."""

    def load(self, group: str | None = None) -> list[Target | TargetProblem]:
        """Every target of ``group`` (all groups when None), sorted by key; invalid ones as problems."""
        ...

    def put(self, target: Target) -> None:
        """Create or replace a target."""
        ...

    def delete(
        self, function: str, qualifier: str, group: str, account: str | None = None, region: str | None = None
    ) -> bool:
        """Remove one target (of ``account`` and ``region``: None is the own); False when it did not exist."""
        ...
