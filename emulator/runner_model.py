"""Values of the local Lambda runner: function specs, version snapshots, aliases, ARNs and errors.

Errors carry the Lambda error code and HTTP status they are served as, so that the HTTP layer and
the Python API raise the same thing (a boto3 caller sees ``ResourceNotFoundException``, a Python
caller catches :class:`FunctionNotFound`, which is also a ``domain.errors.NotFound``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import Conflict, InvalidInput, NotFound, ThermostatError, Unavailable
from thermostat_runtime import names
from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES

LATEST = names.LATEST
DEFAULT_ACCOUNT = "123456789012"
RUNTIME = "python3.11"
#: Synchronous request and response limit (``RequestTooLargeException`` above it).
MAX_SYNC_PAYLOAD = SYNC_INVOKE_LIMIT_BYTES
#: Asynchronous (``Event``) request limit.
MAX_ASYNC_PAYLOAD = 256 * 1024

#: Variables Lambda sets itself and refuses in a function's configuration.
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

_HANDLER = re.compile(r"[^\s]+\.[A-Za-z_][A-Za-z0-9_]*")


class RunnerError(ThermostatError):
    """An error the runner serves as a Lambda API error."""

    aws_code: ClassVar[str] = "ServiceException"
    http_status: ClassVar[int] = 500

    def document(self) -> dict[str, Any]:
        """The JSON body Lambda answers with (botocore reads ``message`` and the error-type header)."""
        return {"Type": "User" if self.http_status < 500 else "Service", "message": str(self)}


class FunctionNotFound(RunnerError, NotFound):
    """No such function, version or alias (``ResourceNotFoundException``)."""

    aws_code = "ResourceNotFoundException"
    http_status = 404

    def document(self) -> dict[str, Any]:
        """Lambda spells this one's message with a capital M."""
        return {"Type": "User", "Message": str(self)}


class ProvisionedConfigNotFound(RunnerError, NotFound):
    """No provisioned-concurrency configuration on that qualifier."""

    aws_code = "ProvisionedConcurrencyConfigNotFoundException"
    http_status = 404


class InvalidParameter(RunnerError, InvalidInput):
    """A parameter Lambda would refuse (``InvalidParameterValueException``)."""

    aws_code = "InvalidParameterValueException"
    http_status = 400


class AccessDenied(RunnerError, InvalidInput):
    """A function of another account (``AccessDeniedException``, 403): no resource policy lets this caller in."""

    aws_code = "AccessDeniedException"
    http_status = 403

    def document(self) -> dict[str, Any]:
        """IAM's refusals spell the message with a capital M."""
        return {"Type": "User", "Message": str(self)}


class InvalidRequestContent(RunnerError, InvalidInput):
    """The invocation payload is not JSON (``InvalidRequestContentException``)."""

    aws_code = "InvalidRequestContentException"
    http_status = 400


class RequestTooLarge(RunnerError, InvalidInput):
    """The invocation payload exceeds Lambda's limit (``RequestTooLargeException``, 413)."""

    aws_code = "RequestTooLargeException"
    http_status = 413


class ResourceConflict(RunnerError, Conflict):
    """The resource exists already, or its state forbids the change (``ResourceConflictException``)."""

    aws_code = "ResourceConflictException"
    http_status = 409


class PreconditionFailed(RunnerError, Conflict):
    """The caller's ``RevisionId`` is not the current one (``PreconditionFailedException``, 412)."""

    aws_code = "PreconditionFailedException"
    http_status = 412


class Throttled(RunnerError, Unavailable):
    """Above reserved or account concurrency (``TooManyRequestsException``, 429, with a ``Reason``)."""

    aws_code = "TooManyRequestsException"
    http_status = 429
    RESERVED: ClassVar[str] = "ReservedFunctionConcurrentInvocationLimitExceeded"
    ACCOUNT: ClassVar[str] = "ConcurrentInvocationLimitExceeded"

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason

    def document(self) -> dict[str, Any]:
        """Lambda's throttle body: the reason tells reserved from account limits."""
        return {"Type": "User", "message": str(self), "Reason": self.reason}


class UnknownOperation(RunnerError):
    """A route the runner does not serve."""

    aws_code = "UnknownOperationException"
    http_status = 404


class FunctionSpec(BaseModel):
    """A function as the runner serves it: what ``$LATEST`` is configured with.

    ``handler`` is ``module.attribute`` as Lambda's Python runtime reads it; ``code_paths`` are
    prepended to the worker's ``sys.path`` (the worker otherwise sees the runner's interpreter and
    its site-packages, not its ``sys.path``). ``reserved_concurrency`` and ``tags`` are
    function-level, as in Lambda. ``timeout_s`` may be fractional (tests use short ones);
    ``GetFunctionConfiguration`` reports it rounded up to whole seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=rf"^(?:{names.FUNCTION_NAME.pattern})$")]
    handler: Annotated[str, Field(min_length=3, max_length=128)]
    environment: Mapping[str, str] = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0, le=900)] = 3.0
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 128
    reserved_concurrency: Annotated[int | None, Field(ge=0)] = None
    code_paths: tuple[str, ...] = ()
    tags: Mapping[str, str] = Field(default_factory=dict)
    snap_start: bool = False
    #: ``LoggingConfig.LogFormat``: how the platform's records are written (``emulator.platform_log``).
    log_format: Literal["Text", "JSON"] = "Text"
    description: Annotated[str, Field(max_length=256)] = ""

    @field_validator("handler")
    @classmethod
    def _check_handler(cls, value: str) -> str:
        if not _HANDLER.fullmatch(value):
            raise ValueError(f"handler {value!r} must look like 'package.module.function'")
        return value

    @field_validator("environment")
    @classmethod
    def _check_environment(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        reserved = sorted(set(value) & RESERVED_ENVIRONMENT_KEYS)
        if reserved:
            raise ValueError(
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. "
                f"Reserved keys used in this request: {', '.join(reserved)}"
            )
        bad = sorted(key for key in value if not re.fullmatch(r"[a-zA-Z]\w*", key))
        if bad:
            raise ValueError(f"environment variable names must match [a-zA-Z]\\w*: {bad}")
        return dict(value)

    @field_validator("tags")
    @classmethod
    def _copy_tags(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return dict(value)

    def config_sha256(self) -> str:
        """A digest of what a published version pins (everything but function-level settings)."""
        pinned = self.model_dump(exclude={"reserved_concurrency", "tags"})
        pinned["environment"] = dict(sorted(pinned["environment"].items()))
        return hashlib.sha256(json.dumps(pinned, sort_keys=True, default=str).encode()).hexdigest()


def spec_with(spec: FunctionSpec, changes: Mapping[str, Any]) -> FunctionSpec:
    """``spec`` with ``changes`` applied and validated (a bad value raises :class:`InvalidParameter`)."""
    unknown = sorted(set(changes) - set(FunctionSpec.model_fields) | ({"name"} & set(changes)))
    if unknown:
        allowed = sorted(set(FunctionSpec.model_fields) - {"name"})
        raise InvalidParameter(f"cannot update {unknown}; updatable fields are {allowed}")
    return validated_spec({**spec.model_dump(), **changes})


def validated_spec(raw: Mapping[str, Any] | FunctionSpec) -> FunctionSpec:
    """Validate a spec, turning pydantic's error into an :class:`InvalidParameter` that names the field."""
    if isinstance(raw, FunctionSpec):
        return raw
    try:
        return FunctionSpec.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise InvalidParameter(f"invalid function spec: {problems}") from exc


@dataclass(frozen=True)
class VersionConfig:
    """An immutable snapshot: ``$LATEST`` at one revision, or a published version."""

    function: str
    version: str
    spec: FunctionSpec
    revision_id: str
    last_modified: str
    code_sha256: str = ""

    @property
    def timeout_s(self) -> float:
        """The invocation timeout in seconds."""
        return self.spec.timeout_s


@dataclass(frozen=True)
class Alias:
    """An alias: a primary version and optional weighted extra versions (``RoutingConfig``)."""

    name: str
    function_version: str
    description: str = ""
    additional_weights: Mapping[str, float] = field(default_factory=dict)
    revision_id: str = ""


@dataclass(frozen=True)
class FunctionRef:
    """A function named by name, partial ARN or full ARN, with the qualifier it carried (if any)."""

    name: str
    qualifier: str | None


def parse_function_ref(ref: str, account: str | None = None, action: str = "lambda:InvokeFunction") -> FunctionRef:
    """Read ``name``, ``name:qualifier``, ``ACCOUNT:function:name`` or ``arn:aws:lambda:…:function:name[:q]``.

    With ``account``, an (partial) ARN of another account is refused as Lambda refuses a caller that
    no resource-based policy lets in: ``AccessDeniedException`` naming ``action`` and the resource.
    """
    parsed = names.parse_function_ref(ref)
    if parsed is None:
        raise InvalidParameter(
            f"1 validation error detected: Value '{ref}' at 'functionName' failed to satisfy constraint: "
            "expected a function name, a partial ARN (ACCOUNT:function:NAME) or "
            "arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]"
        )
    if account is not None and parsed.account is not None and parsed.account != account:
        raise AccessDenied(
            f"User: arn:aws:iam::{account}:root is not authorized to perform: {action} on resource: "
            f"{parsed.unqualified} because no resource-based policy allows the {action} action "
            f"(the local stack holds account {account}'s functions only)"
        )
    return FunctionRef(parsed.name, parsed.qualifier)


def merge_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """The qualifier to use when both the name and the ``Qualifier`` parameter may carry one."""
    if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
        raise InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
    return qualifier if qualifier is not None else ref.qualifier


def check_alias_name(name: str) -> str:
    """An alias name Lambda accepts (letters, digits, ``-``, ``_``; not all digits)."""
    if not names.is_alias_name(name):
        raise InvalidParameter(f"alias name {name!r} must match (?!^[0-9]+$)[a-zA-Z0-9-_]{{1,128}}")
    return name


def is_version_number(qualifier: str) -> bool:
    """True for a published version number ("1", "2", …)."""
    return names.is_published_version(qualifier)


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    """The function's ARN, qualified when ``qualifier`` is given."""
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base
