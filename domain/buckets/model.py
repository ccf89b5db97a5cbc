"""The registry's values: the key a bucket is registered under, its record, strays, the answer."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from domain.buckets.names import shown, validate_bucket_name
from domain.errors import InvalidInput

PROJECT_MAX = 63
STAGE_MAX = 32
_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ACCOUNT = re.compile(r"\d{12}")
#: The tag every bucket thermostat creates carries (with ``thermostat:project`` and ``thermostat:stage``):
#: the sweeper reports a bucket wearing it that the registry does not know.
MANAGED_BY_TAG = "thermostat:managed-by"
MANAGED_BY = "thermostat"
PROJECT_TAG = "thermostat:project"
STAGE_TAG = "thermostat:stage"


def _check_name(what: str, value: str, pattern: re.Pattern[str], max_length: int, punctuation: str) -> str:
    """``value`` if it is 1 to ``max_length`` characters matching ``pattern``; the message names what may be used."""
    if not 1 <= len(value) <= max_length or not pattern.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1 to {max_length} letters, digits, {punctuation}, starting with a letter or digit "
            f"(got {shown(value)})"
        )
    return value


def check_project(value: str) -> str:
    """A project name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    return _check_name("project", value, _PROJECT, PROJECT_MAX, "'.', '_' or '-'")


def check_stage(value: str) -> str:
    """A stage name: 1-32 letters, digits, '_' or '-', starting with a letter or digit (no spaces)."""
    return _check_name("stage", value, _STAGE, STAGE_MAX, "'_' or '-'")


def check_region(value: str) -> str:
    """An AWS region code such as ``us-east-1`` or ``eu-central-2``."""
    if len(value) > 32 or not _REGION.fullmatch(value):
        raise InvalidInput(f"region must be an AWS region code such as 'us-east-1' (got {shown(value)})")
    return value


def check_account(value: str) -> str:
    """A 12-digit AWS account id."""
    if not _ACCOUNT.fullmatch(value):
        raise InvalidInput(f"account must be a 12-digit AWS account id (got {shown(value)})")
    return value


# Field types that carry their rule, so every model checks a project (stage, …) the same way.
Project = Annotated[str, AfterValidator(check_project)]
Stage = Annotated[str, AfterValidator(check_stage)]
Region = Annotated[str, AfterValidator(check_region)]
Account = Annotated[str, AfterValidator(check_account)]
BucketName = Annotated[str, AfterValidator(validate_bucket_name)]


def describe_validation_error(exc: ValidationError, what: str, prefix: str = "") -> str:
    """One message naming each bad field (``detail.stage: …``), without echoing huge inputs."""
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        context = error.get("ctx") or {}
        cause = context.get("error")
        message = str(cause) if isinstance(cause, Exception) else str(error.get("msg", "invalid"))
        problems.append(f"{prefix}{location}: {message}")
    return f"{what}: " + "; ".join(problems)


class BucketKey(BaseModel):
    """What a deployment bucket is registered under: one bucket per (account, region, project, stage)."""

    model_config = ConfigDict(frozen=True)

    account: Account
    region: Region
    project: Project
    stage: Stage

    @classmethod
    def of(cls, *, account: str, region: str, project: str, stage: str) -> BucketKey:
        """Build a key, raising :class:`InvalidInput` (naming the field) for a bad part."""
        try:
            return cls(account=account, region=region, project=project, stage=stage)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc, "invalid deployment key")) from exc

    def label(self) -> str:
        """``project/stage in region`` for messages."""
        return f"{self.project}/{self.stage} in {self.region}"

    def tags(self) -> dict[str, str]:
        """The tags thermostat puts on the buckets it creates."""
        return {MANAGED_BY_TAG: MANAGED_BY, PROJECT_TAG: self.project, STAGE_TAG: self.stage}


class BucketState(StrEnum):
    """A record is claimed (a bucket is being created) until it is ready to deploy to."""

    CLAIMED = "claimed"
    READY = "ready"


class BucketRecord(BaseModel):
    """The registry's entry for one key."""

    model_config = ConfigDict(frozen=True)

    key: BucketKey
    bucket: str
    state: BucketState
    claim_id: str = Field(min_length=1)
    claimed_at: float
    ready_at: float | None = None
    generated: bool = True  # thermostat chose the name (so it also owns the bucket's configuration)
    # A CreateBucket of this name was sent and its answer never came: the bucket may exist, made by
    # thermostat, so whoever takes the claim over reuses the name and configures the bucket.
    create_sent: bool = False

    def lease_expired(self, now: float, lease_s: float) -> bool:
        """True for a claim whose holder had ``lease_s`` seconds and never marked it ready."""
        return self.state is BucketState.CLAIMED and now >= self.claimed_at + lease_s


class StraySource(StrEnum):
    """Where a stray bucket was seen."""

    CLOUDTRAIL = "cloudtrail"  # a CreateBucket call whose name matches a stray pattern
    DEPLOYMENT = "deployment"  # a deploy named a bucket, but the key already has another one


class StrayRecord(BaseModel):
    """A bucket noticed outside the registry (reported by the sweeper; deleted only when enabled)."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    source: StraySource
    reason: str
    seen_at: float
    region: str | None = None
    account: str | None = None


class Resolution(BaseModel):
    """The outcome of :func:`domain.buckets.ensure_bucket`."""

    model_config = ConfigDict(frozen=True)

    key: BucketKey
    bucket: str
    reused: bool  # True when the bucket was already registered (this call created nothing)
    created: bool = False  # this call created the bucket in S3
    repaired: bool = False  # the registered bucket was gone (or a claim was abandoned) and was rebuilt
    stray: str | None = None  # the bucket the deploy named, recorded as a stray instead

    def answer(self) -> dict[str, Any]:
        """The contract's answer: ``{project, stage, region, bucket, reused}``."""
        return {
            "project": self.key.project,
            "stage": self.key.stage,
            "region": self.key.region,
            "bucket": self.bucket,
            "reused": self.reused,
        }


class DeploymentRequest(BaseModel):
    """The ``detail`` of a ``Deployment Requested`` event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    project: Project
    stage: Stage
    region: Region | None = None
    bucket: BucketName | None = None
