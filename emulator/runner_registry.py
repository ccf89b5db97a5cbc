"""What the local runner knows about its functions: ``$LATEST``, versions, aliases, concurrency settings.

Pure state behind one lock; no processes here (those live in :mod:`emulator.runner_pool`).
Versions are immutable snapshots of ``$LATEST``'s configuration; an alias names a version (and,
with a routing config, extra versions with weights).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from emulator.runner_model import (
    DEFAULT_ACCOUNT,
    LATEST,
    Alias,
    FunctionNotFound,
    FunctionSpec,
    InvalidParameter,
    ProvisionedConfigNotFound,
    ResourceConflict,
    VersionConfig,
    check_alias_name,
    function_arn,
    is_version_number,
    spec_with,
    validated_spec,
)


def _timestamp(now: datetime) -> str:
    # Lambda's LastModified format: 2024-01-02T03:04:05.678+0000
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class ProvisionedConfig:
    """A provisioned-concurrency request on one qualifier (alias or version)."""

    requested: int
    last_modified: str


@dataclass
class FunctionState:
    """One function: ``$LATEST``, its published versions and aliases, and function-level settings."""

    latest: VersionConfig
    versions: dict[str, VersionConfig] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    reserved: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    provisioned: dict[str, ProvisionedConfig] = field(default_factory=dict)
    next_version: int = 1


@dataclass(frozen=True)
class Resolved:
    """A qualifier resolved to the configuration to run and the version to report."""

    config: VersionConfig
    executed_version: str
    qualifier: str | None


class Registry:
    """Functions, versions and aliases, safe to use from many threads."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account: str = DEFAULT_ACCOUNT,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.region = region
        self.account = account
        self._now = now or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()  # weighted alias routing only
        self._lock = threading.RLock()
        self._functions: dict[str, FunctionState] = {}

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of ``name`` in this runner's region and account."""
        return function_arn(self.region, self.account, name, qualifier)

    # -- functions -------------------------------------------------------------------------------

    def add(self, spec: FunctionSpec | Mapping[str, Any]) -> VersionConfig:
        """Register a new function; its ``$LATEST`` is ``spec``."""
        spec = validated_spec(spec)
        with self._lock:
            if spec.name in self._functions:
                raise ResourceConflict(f"Function already exist: {spec.name}")
            latest = self._snapshot(spec.name, LATEST, spec)
            self._functions[spec.name] = FunctionState(
                latest=latest, reserved=spec.reserved_concurrency, tags=dict(spec.tags)
            )
            return latest

    def update(self, name: str, changes: Mapping[str, Any]) -> VersionConfig:
        """Apply ``changes`` to ``$LATEST`` (a new revision); function-level fields update in place."""
        with self._lock:
            state = self.function(name)
            spec = spec_with(state.latest.spec, changes)
            if "reserved_concurrency" in changes:
                state.reserved = spec.reserved_concurrency
            if "tags" in changes:
                state.tags = dict(spec.tags)
            state.latest = self._snapshot(name, LATEST, spec)
            return state.latest

    def function(self, name: str) -> FunctionState:
        """The state of ``name`` (callers hold no lock: treat it as read-only)."""
        with self._lock:
            state = self._functions.get(name)
            if state is None:
                raise FunctionNotFound(f"Function not found: {self.arn(name)}")
            return state

    def names(self) -> list[str]:
        """Every function name, sorted."""
        with self._lock:
            return sorted(self._functions)

    # -- versions and aliases --------------------------------------------------------------------

    def publish(self, name: str, description: str | None = None) -> VersionConfig:
        """Snapshot ``$LATEST`` as the next version; unchanged since the last one → that version (as Lambda)."""
        with self._lock:
            state = self.function(name)
            if state.versions:
                last = state.versions[str(state.next_version - 1)]
                if last.code_sha256 == state.latest.code_sha256:
                    return last
            version = str(state.next_version)
            spec = state.latest.spec
            if description is not None:
                spec = spec_with(spec, {"description": description})
            config = replace(
                state.latest,
                version=version,
                spec=spec,
                revision_id=str(uuid.uuid4()),
                last_modified=_timestamp(self._now()),
            )
            state.versions[version] = config
            state.next_version += 1
            return config

    def version(self, name: str, version: str) -> VersionConfig:
        """One version's configuration (``$LATEST`` or a number)."""
        with self._lock:
            state = self.function(name)
            if version == LATEST:
                return state.latest
            config = state.versions.get(version)
            if config is None:
                raise FunctionNotFound(f"Function not found: {self.arn(name, version)}")
            return config

    def versions(self, name: str) -> list[VersionConfig]:
        """``$LATEST`` then every published version, oldest first."""
        with self._lock:
            state = self.function(name)
            return [state.latest, *(state.versions[key] for key in sorted(state.versions, key=int))]

    def create_alias(
        self,
        name: str,
        alias: str,
        version: str,
        description: str = "",
        weights: Mapping[str, float] | None = None,
    ) -> Alias:
        """Create ``alias`` → ``version`` (and weighted extra versions)."""
        check_alias_name(alias)
        with self._lock:
            state = self.function(name)
            if alias in state.aliases:
                raise ResourceConflict(f"Alias already exists: {self.arn(name, alias)}")
            record = Alias(
                name=alias,
                function_version=self._check_target(name, version),
                description=description,
                additional_weights=self._check_weights(name, version, weights or {}),
                revision_id=str(uuid.uuid4()),
            )
            state.aliases[alias] = record
            return record

    def update_alias(
        self,
        name: str,
        alias: str,
        version: str | None = None,
        description: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Alias:
        """Point ``alias`` elsewhere; ``None`` leaves a field as it was (``weights={}`` clears routing)."""
        with self._lock:
            current = self.alias(name, alias)
            target = self._check_target(name, version) if version is not None else current.function_version
            record = Alias(
                name=alias,
                function_version=target,
                description=current.description if description is None else description,
                additional_weights=(
                    current.additional_weights if weights is None else self._check_weights(name, target, weights)
                ),
                revision_id=str(uuid.uuid4()),
            )
            self.function(name).aliases[alias] = record
            return record

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias (and its provisioned-concurrency configuration)."""
        with self._lock:
            self.alias(name, alias)
            state = self.function(name)
            del state.aliases[alias]
            state.provisioned.pop(alias, None)

    def alias(self, name: str, alias: str) -> Alias:
        """One alias of ``name``."""
        with self._lock:
            record = self.function(name).aliases.get(alias)
            if record is None:
                raise FunctionNotFound(f"Cannot find alias arn: {self.arn(name, alias)}")
            return record

    def aliases(self, name: str) -> list[Alias]:
        """Every alias of ``name``, by name."""
        with self._lock:
            state = self.function(name)
            return [state.aliases[key] for key in sorted(state.aliases)]

    def resolve(self, name: str, qualifier: str | None) -> Resolved:
        """The configuration an invocation of ``name[:qualifier]`` runs (weighted aliases draw a version)."""
        with self._lock:
            state = self.function(name)
            if qualifier is None or qualifier == LATEST:
                return Resolved(state.latest, LATEST, qualifier)
            if is_version_number(qualifier):
                return Resolved(self.version(name, qualifier), qualifier, qualifier)
            alias = state.aliases.get(qualifier)
            if alias is None:
                raise FunctionNotFound(f"Function not found: {self.arn(name, qualifier)}")
            version = alias.function_version
            draw = self._rng.random()
            for extra, weight in sorted(alias.additional_weights.items()):
                if draw < weight:
                    version = extra
                    break
                draw -= weight
            return Resolved(self.version(name, version), version, qualifier)

    def resolve_config(self, name: str, qualifier: str | None) -> VersionConfig:
        """The configuration ``qualifier`` names (an alias's primary version; no weighted draw)."""
        with self._lock:
            return self.version(name, LATEST if qualifier is None else self.primary_version(name, qualifier))

    def primary_version(self, name: str, qualifier: str) -> str:
        """The version a qualifier names (an alias's primary version; no weighted draw)."""
        with self._lock:
            if qualifier == LATEST or is_version_number(qualifier):
                self.version(name, qualifier)
                return qualifier
            return self.alias(name, qualifier).function_version

    # -- concurrency settings --------------------------------------------------------------------

    def set_reserved(self, name: str, value: int | None) -> None:
        """Set (or, with ``None``, remove) the function's reserved concurrency."""
        if value is not None and value < 0:
            raise InvalidParameter("ReservedConcurrentExecutions must be >= 0")
        with self._lock:
            self.function(name).reserved = value

    def set_provisioned(self, name: str, qualifier: str, requested: int) -> ProvisionedConfig:
        """Record a provisioned-concurrency request (0 removes it); ``$LATEST`` is refused, as by Lambda."""
        if requested < 0:
            raise InvalidParameter("ProvisionedConcurrentExecutions must be >= 0")
        with self._lock:
            state = self.function(name)
            if qualifier == LATEST:
                raise InvalidParameter(
                    "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
                )
            self.primary_version(name, qualifier)
            reserved = state.reserved
            if reserved is not None and requested > reserved:
                raise InvalidParameter(
                    f"Requested Provisioned Concurrency ({requested}) exceeds the function's reserved "
                    f"concurrency ({reserved})."
                )
            config = ProvisionedConfig(requested, _timestamp(self._now()))
            if requested == 0:
                state.provisioned.pop(qualifier, None)
            else:
                state.provisioned[qualifier] = config
            return config

    def provisioned(self, name: str, qualifier: str) -> ProvisionedConfig:
        """The provisioned-concurrency request on ``qualifier``."""
        with self._lock:
            config = self.function(name).provisioned.get(qualifier)
            if config is None:
                raise ProvisionedConfigNotFound(
                    f"No Provisioned Concurrency Config found for this function: {self.arn(name, qualifier)}"
                )
            return config

    def provisioned_by_version(self, name: str) -> dict[str, int]:
        """How many provisioned environments each version needs (summed over its qualifiers)."""
        with self._lock:
            state = self.function(name)
            wanted: dict[str, int] = {}
            for qualifier, config in state.provisioned.items():
                version = self.primary_version(name, qualifier)
                wanted[version] = wanted.get(version, 0) + config.requested
            return wanted

    # -- internals -------------------------------------------------------------------------------

    def _snapshot(self, name: str, version: str, spec: FunctionSpec) -> VersionConfig:
        return VersionConfig(
            function=name,
            version=version,
            spec=spec,
            revision_id=str(uuid.uuid4()),
            last_modified=_timestamp(self._now()),
            code_sha256=spec.config_sha256(),
        )

    def _check_target(self, name: str, version: str) -> str:
        if version != LATEST and not is_version_number(version):
            raise InvalidParameter(f"FunctionVersion must be $LATEST or a version number, got {version!r}")
        self.version(name, version)
        return version

    def _check_weights(self, name: str, primary: str, weights: Mapping[str, float]) -> dict[str, float]:
        checked: dict[str, float] = {}
        for version, weight in weights.items():
            if not is_version_number(version) or version == primary:
                raise InvalidParameter(
                    f"AdditionalVersionWeights: {version!r} must be a published version other than the primary"
                )
            self.version(name, version)
            if not 0.0 <= float(weight) <= 1.0:
                raise InvalidParameter(f"AdditionalVersionWeights: weight {weight!r} must be within [0.0, 1.0]")
            checked[version] = float(weight)
        if sum(checked.values()) > 1.0:
            raise InvalidParameter("AdditionalVersionWeights: the weights must add up to at most 1.0")
        return checked
