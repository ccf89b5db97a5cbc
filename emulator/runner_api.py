"""The Lambda API of the local runner, as botocore speaks it (rest-json, ``2015-03-31``): one request in,
runner calls, one :class:`~emulator.lambda_http.Response` out.

Operations: Invoke, GetFunction, Get/UpdateFunctionConfiguration (environment, description, handler,
timeout, memory), ListFunctions, Get/Put/DeleteFunctionConcurrency,
Get/Put/DeleteProvisionedConcurrencyConfig, PublishVersion, ListVersionsByFunction,
Create/Get/Update/Delete/ListAlias(es), ListTags (routes in :data:`emulator.lambda_http.ROUTES`).
Requests are not authenticated (SigV4 headers are accepted and ignored).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from domain.errors import Unavailable
from emulator.http_input import loads
from emulator.lambda_http import Response, json_object, route, split_target
from emulator.runner_model import (
    LATEST,
    RUNTIME,
    Alias,
    InvalidParameter,
    InvalidRequestContent,
    PreconditionFailed,
    RunnerError,
    UnknownOperation,
    VersionConfig,
    merge_qualifier,
    parse_function_ref,
)

if TYPE_CHECKING:
    from emulator.lambda_runner import LambdaRunner

_CLIENT_CONTEXT_LIMIT = 3583


# -- documents -----------------------------------------------------------------------------------


def configuration_document(runner: LambdaRunner, config: VersionConfig, *, qualified: bool) -> dict[str, Any]:
    """``FunctionConfiguration`` of one version, as GetFunctionConfiguration answers."""
    spec = config.spec
    published = config.version != LATEST
    return {
        "FunctionName": config.function,
        "FunctionArn": runner.function_arn(config.function, config.version if qualified or published else None),
        "Runtime": RUNTIME,
        "Role": f"arn:aws:iam::{runner.account_id}:role/thermostat-local",
        "Handler": spec.handler,
        "CodeSize": 0,
        "Description": spec.description,
        # Lambda's Timeout is whole seconds; fractional local timeouts are rounded up.
        "Timeout": max(1, int(-(-spec.timeout_s // 1))),
        "MemorySize": spec.memory_mb,
        "LastModified": config.last_modified,
        "CodeSha256": base64.b64encode(bytes.fromhex(config.code_sha256)).decode() if config.code_sha256 else "",
        "Version": config.version,
        "Environment": {"Variables": dict(spec.environment)},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": config.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {
            "ApplyOn": "PublishedVersions" if spec.snap_start else "None",
            "OptimizationStatus": "On" if spec.snap_start and published else "Off",
        },
        "LoggingConfig": {"LogFormat": spec.log_format, "LogGroup": f"/aws/lambda/{config.function}"},
    }


def alias_document(runner: LambdaRunner, function: str, alias: Alias) -> dict[str, Any]:
    """``AliasConfiguration``."""
    document: dict[str, Any] = {
        "AliasArn": runner.function_arn(function, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_weights:
        document["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.additional_weights)}
    return document


def _page(items: list[Any], query: Mapping[str, str], key: str) -> dict[str, Any]:
    try:
        start = int(query.get("Marker") or 0)
        size = int(query.get("MaxItems") or 50)
    except ValueError as exc:
        raise InvalidParameter("Marker and MaxItems must be integers") from exc
    if start < 0 or not 1 <= size <= 10000:
        raise InvalidParameter("MaxItems must be within [1, 10000]")
    document: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        document["NextMarker"] = str(start + size)
    return document


# -- the API -------------------------------------------------------------------------------------

#: The IAM action of each operation, for the refusal of a function of another account.
_ACTIONS = {
    "get_configuration": "lambda:GetFunctionConfiguration",
    "update_configuration": "lambda:UpdateFunctionConfiguration",
    "get_function": "lambda:GetFunction",
    "get_concurrency": "lambda:GetFunctionConcurrency",
    "put_concurrency": "lambda:PutFunctionConcurrency",
    "delete_concurrency": "lambda:DeleteFunctionConcurrency",
    "get_provisioned": "lambda:GetProvisionedConcurrencyConfig",
    "put_provisioned": "lambda:PutProvisionedConcurrencyConfig",
    "delete_provisioned": "lambda:DeleteProvisionedConcurrencyConfig",
    "publish_version": "lambda:PublishVersion",
    "list_versions": "lambda:ListVersionsByFunction",
    "create_alias": "lambda:CreateAlias",
    "list_aliases": "lambda:ListAliases",
    "get_alias": "lambda:GetAlias",
    "update_alias": "lambda:UpdateAlias",
    "delete_alias": "lambda:DeleteAlias",
    "list_tags": "lambda:ListTags",
}


class LambdaAPI:
    """Turns one HTTP request into runner calls and one :class:`Response`."""

    def __init__(self, runner: LambdaRunner) -> None:
        self.runner = runner

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Route and run one request; every runner error becomes Lambda's error response."""
        path, query = split_target(target)
        try:
            found = route(method, path)
            if found is None:
                raise UnknownOperation(f"Unknown operation: {method} {path}")
            name, params = found
            function = params.get("fn") or params.get("resource")
            if function is not None and name != "invoke":  # the runner checks an Invoke itself
                parse_function_ref(function, self.runner.account_id, _ACTIONS.get(name, "lambda:*"))
            operation: Callable[..., Response] = getattr(self, name)
            return operation(query=query, headers=headers, body=body, **params)
        except RunnerError as exc:
            return Response.error(exc)
        except Unavailable as exc:  # stopping: let the client's retry find a new endpoint
            return Response.json(
                503, {"Type": "Service", "Message": str(exc)}, {"x-amzn-ErrorType": "ServiceException"}
            )

    # helpers

    def _name(self, fn: str, query: Mapping[str, str] | None = None) -> tuple[str, str | None]:
        ref = parse_function_ref(fn)
        qualifier = merge_qualifier(ref, (query or {}).get("Qualifier"))
        self.runner.registry.function(ref.name)
        return ref.name, qualifier

    @staticmethod
    def _int(document: Mapping[str, Any], key: str, minimum: int) -> int:
        value = document.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise InvalidParameter(f"{key} must be an integer >= {minimum}, got {value!r}")
        return value

    # operations

    def invoke(self, *, fn: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        """Invoke (``POST /2015-03-31/functions/{FunctionName}/invocations``)."""
        invocation_type = headers.get("x-amz-invocation-type") or "RequestResponse"
        log_type = headers.get("x-amz-log-type") or "None"
        if log_type not in ("None", "Tail"):
            raise InvalidParameter(f"LogType must be None or Tail, got {log_type!r}")
        client_context = self._client_context(headers.get("x-amz-client-context"))
        result = self.runner.invoke(
            fn,
            body,
            qualifier=query.get("Qualifier"),
            invocation_type=invocation_type,
            client_context=client_context,
            trace_id=headers.get("x-amzn-trace-id"),
        )
        response_headers = {"x-amzn-RequestId": result.request_id or str(uuid.uuid4())}
        if result.status_code != 200:
            return Response(result.status_code, b"", response_headers)
        response_headers["Content-Type"] = "application/json"
        if result.executed_version is not None:
            response_headers["X-Amz-Executed-Version"] = result.executed_version
        if result.function_error is not None:
            response_headers["X-Amz-Function-Error"] = result.function_error
        if log_type == "Tail":
            response_headers["X-Amz-Log-Result"] = result.log_result
        return Response(200, result.payload, response_headers)

    @staticmethod
    def _client_context(header: str | None) -> dict[str, Any] | None:
        if not header:
            return None
        try:
            raw = base64.b64decode(header, validate=True)
            if len(raw) > _CLIENT_CONTEXT_LIMIT:
                raise InvalidParameter(f"Client context must be at most {_CLIENT_CONTEXT_LIMIT} bytes")
            document = loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from exc
        if not isinstance(document, dict):
            raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
        return document

    def get_configuration(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """GetFunctionConfiguration."""
        name, qualifier = self._name(fn, query)
        config = self.runner.registry.resolve_config(name, qualifier)
        return Response.json(200, configuration_document(self.runner, config, qualified=qualifier is not None))

    def update_configuration(self, *, fn: str, body: bytes, **_: Any) -> Response:
        """UpdateFunctionConfiguration: the fields a local ``$LATEST`` has (a new version can then be published)."""
        name, _qualifier = self._name(fn)
        document = json_object(body)
        changes: dict[str, Any] = {}
        environment = document.get("Environment")
        if environment is not None:
            variables = environment.get("Variables") if isinstance(environment, dict) else None
            if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
                raise InvalidParameter("Environment.Variables must be a map of strings")
            changes["environment"] = dict(variables)
        for field, key, kind in (
            ("Description", "description", str),
            ("Handler", "handler", str),
            ("Timeout", "timeout_s", int),
            ("MemorySize", "memory_mb", int),
        ):
            value = document.get(field)
            if value is None:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidParameter(f"{field} must be {'a string' if kind is str else 'an integer'}, got {value!r}")
            changes[key] = float(value) if key == "timeout_s" else value
        if changes:
            self.runner.update_function(name, **changes)
        config = self.runner.registry.function(name).latest
        return Response.json(200, configuration_document(self.runner, config, qualified=False))

    def get_function(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """GetFunction."""
        name, qualifier = self._name(fn, query)
        registry = self.runner.registry
        config = registry.resolve_config(name, qualifier)
        state = registry.function(name)
        document: dict[str, Any] = {
            "Configuration": configuration_document(self.runner, config, qualified=qualifier is not None),
            "Code": {"RepositoryType": "Local", "Location": "file://" + (config.spec.code_paths or ("",))[0]},
            "Tags": dict(state.tags),
        }
        if state.reserved is not None:
            document["Concurrency"] = {"ReservedConcurrentExecutions": state.reserved}
        return Response.json(200, document)

    def list_functions(self, *, query: Mapping[str, str], **_: Any) -> Response:
        """ListFunctions ($LATEST of each)."""
        registry = self.runner.registry
        items = [
            configuration_document(self.runner, registry.version(name, LATEST), qualified=False)
            for name in registry.names()
        ]
        return Response.json(200, _page(items, query, "Functions"))

    def get_concurrency(self, *, fn: str, **_: Any) -> Response:
        """GetFunctionConcurrency."""
        name, _qualifier = self._name(fn)
        reserved = self.runner.registry.function(name).reserved
        return Response.json(200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    def put_concurrency(self, *, fn: str, body: bytes, **_: Any) -> Response:
        """PutFunctionConcurrency."""
        name, _qualifier = self._name(fn)
        value = self._int(json_object(body), "ReservedConcurrentExecutions", 0)
        limit = self.runner.pool.account_concurrency
        if value > limit:
            raise InvalidParameter(
                f"Specified ReservedConcurrentExecutions for function ({value}) exceeds the account limit ({limit})."
            )
        self.runner.set_reserved_concurrency(name, value)
        return Response.json(200, {"ReservedConcurrentExecutions": value})

    def delete_concurrency(self, *, fn: str, **_: Any) -> Response:
        """DeleteFunctionConcurrency."""
        name, _qualifier = self._name(fn)
        self.runner.set_reserved_concurrency(name, None)
        return Response(204)

    def _provisioned_target(self, fn: str, query: Mapping[str, str]) -> tuple[str, str]:
        name, qualifier = self._name(fn, query)
        if qualifier is None:
            raise InvalidParameter("Qualifier is required for provisioned concurrency (an alias or a version)")
        return name, qualifier

    def get_provisioned(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """GetProvisionedConcurrencyConfig."""
        name, qualifier = self._provisioned_target(fn, query)
        return Response.json(200, self.runner.provisioned_status(name, qualifier))

    def put_provisioned(self, *, fn: str, query: Mapping[str, str], body: bytes, **_: Any) -> Response:
        """PutProvisionedConcurrencyConfig: 202, environments start in the background (poll Get…)."""
        name, qualifier = self._provisioned_target(fn, query)
        count = self._int(json_object(body), "ProvisionedConcurrentExecutions", 1)
        return Response.json(202, self.runner.set_provisioned_concurrency(name, qualifier, count, wait=False))

    def delete_provisioned(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """DeleteProvisionedConcurrencyConfig."""
        name, qualifier = self._provisioned_target(fn, query)
        self.runner.registry.provisioned(name, qualifier)
        self.runner.set_provisioned_concurrency(name, qualifier, 0, wait=False)
        return Response(204)

    def publish_version(self, *, fn: str, body: bytes, **_: Any) -> Response:
        """PublishVersion (201)."""
        name, _qualifier = self._name(fn)
        document = json_object(body)
        registry = self.runner.registry
        latest = registry.function(name).latest
        expected_revision = document.get("RevisionId")
        if expected_revision is not None and expected_revision != latest.revision_id:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id.")
        expected_sha = document.get("CodeSha256")
        current_sha = configuration_document(self.runner, latest, qualified=False)["CodeSha256"]
        if expected_sha is not None and expected_sha != current_sha:
            raise InvalidParameter(f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 ({current_sha})")
        description = document.get("Description")
        version = self.runner.publish_version(name, description if isinstance(description, str) else None)
        config = registry.version(name, version)
        return Response.json(201, configuration_document(self.runner, config, qualified=True))

    def list_versions(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """ListVersionsByFunction."""
        name, _qualifier = self._name(fn)
        items = [
            configuration_document(self.runner, config, qualified=True)
            for config in self.runner.registry.versions(name)
        ]
        return Response.json(200, _page(items, query, "Versions"))

    @staticmethod
    def _weights(document: Mapping[str, Any]) -> dict[str, float] | None:
        routing = document.get("RoutingConfig")
        if routing is None:
            return None
        weights = routing.get("AdditionalVersionWeights", {}) if isinstance(routing, dict) else None
        if not isinstance(weights, dict):
            raise InvalidParameter("RoutingConfig.AdditionalVersionWeights must be a map of version to weight")
        parsed: dict[str, float] = {}
        for key, value in weights.items():
            # A number from 0.0 to 1.0 (service-2.json: Weight, min 0.0, max 1.0); no strings, no booleans.
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise InvalidParameter(
                    f"1 validation error detected: Value {value!r} at "
                    f"'routingConfig.additionalVersionWeights.{key}' failed to satisfy constraint: "
                    "Member must be a number between 0.0 and 1.0"
                )
            parsed[str(key)] = float(value)
        return parsed

    def create_alias(self, *, fn: str, body: bytes, **_: Any) -> Response:
        """CreateAlias (201)."""
        name, _qualifier = self._name(fn)
        document = json_object(body)
        alias_name, version = document.get("Name"), document.get("FunctionVersion")
        if not isinstance(alias_name, str) or not isinstance(version, str):
            raise InvalidParameter("Name and FunctionVersion are required strings")
        description = document.get("Description")
        alias = self.runner.create_alias(
            name, alias_name, version, description if isinstance(description, str) else "", self._weights(document)
        )
        return Response.json(201, alias_document(self.runner, name, alias))

    def list_aliases(self, *, fn: str, query: Mapping[str, str], **_: Any) -> Response:
        """ListAliases (optionally of one FunctionVersion)."""
        name, _qualifier = self._name(fn)
        wanted = query.get("FunctionVersion")
        items = [
            alias_document(self.runner, name, alias)
            for alias in self.runner.registry.aliases(name)
            if wanted is None or alias.function_version == wanted
        ]
        return Response.json(200, _page(items, query, "Aliases"))

    def get_alias(self, *, fn: str, alias: str, **_: Any) -> Response:
        """GetAlias."""
        name, _qualifier = self._name(fn)
        return Response.json(200, alias_document(self.runner, name, self.runner.registry.alias(name, alias)))

    def update_alias(self, *, fn: str, alias: str, body: bytes, **_: Any) -> Response:
        """UpdateAlias."""
        name, _qualifier = self._name(fn)
        document = json_object(body)
        current = self.runner.registry.alias(name, alias)
        expected_revision = document.get("RevisionId")
        if expected_revision is not None and expected_revision != current.revision_id:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id.")
        version = document.get("FunctionVersion")
        description = document.get("Description")
        record = self.runner.update_alias(
            name,
            alias,
            version if isinstance(version, str) else None,
            description if isinstance(description, str) else None,
            self._weights(document),
        )
        return Response.json(200, alias_document(self.runner, name, record))

    def delete_alias(self, *, fn: str, alias: str, **_: Any) -> Response:
        """DeleteAlias."""
        name, _qualifier = self._name(fn)
        self.runner.delete_alias(name, alias)
        return Response(204)

    def list_tags(self, *, resource: str, **_: Any) -> Response:
        """ListTags (of a function ARN)."""
        name, _qualifier = self._name(resource)
        return Response.json(200, {"Tags": dict(self.runner.registry.function(name).tags)})
