"""Constructs for a user's own function: ``Warmable`` (keep-warm) and ``PreTrafficWarmup`` (the CodeDeploy hook)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import custom_resources as cr
from constructs import Construct

from domain.errors import InvalidInput
from domain.expectations import parse_expectations
from domain.targets import DEFAULT_GROUP, DEFAULT_HOLD_MS, make_target
from thermostat_cdk.control_plane import ThermostatControlPlane, hook_grants
from thermostat_runtime import names

WARM_TAG = "thermostat:warm"


def _underlying(fn: lambda_.IFunction) -> tuple[lambda_.Function, str | None]:
    """The function to add the layer to and tag, and the qualifier ``fn`` names (alias or version)."""
    if isinstance(fn, lambda_.Alias):
        base = fn.version.lambda_
        qualifier: str | None = fn.alias_name
    elif isinstance(fn, lambda_.Version):
        base, qualifier = fn.lambda_, fn.version
    else:
        base, qualifier = fn, None
    if not isinstance(base, lambda_.Function):
        raise TypeError(
            "Warmable needs a lambda_.Function of this app (or its Alias or Version): layers are added to it"
        )
    return base, qualifier


def _auto_concurrency(fn: lambda_.Function) -> int:
    """``concurrency="auto"``: the reserved concurrency less keep-warm's own headroom (max(1, 10 %))."""
    cfn = fn.node.default_child
    reserved = getattr(cfn, "reserved_concurrent_executions", None)
    if not isinstance(reserved, int):
        raise ValueError(
            f'{fn.node.path}: concurrency="auto" reads the function\'s reserved_concurrent_executions, and it has '
            "none: pass a number of environments"
        )
    return max(1, reserved - max(1, reserved // 10))


class Warmable(Construct):
    """Keep ``fn`` warm: the runtime layer, the ``thermostat:warm`` tag and its keep-warm target record.

    Nothing else is added or changed. ``fn`` is an ``Alias`` or ``Version`` of a function of this
    app, or the ``Function`` itself with ``qualifier=`` (keep-warm pings a version or an alias, never
    ``$LATEST``). The record (pk ``TARGETS`` in the control plane's table) is written when the stack
    deploys and removed when the construct is; ``concurrency=None`` writes no record (the tag and the
    layer only, for targets managed with ``thermostat targets add``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        fn: lambda_.IFunction,
        *,
        control_plane: ThermostatControlPlane | None = None,
        layer: lambda_.ILayerVersion | None = None,
        table: dynamodb.ITable | None = None,
        concurrency: int | Literal["auto"] | None = 5,
        group: str = DEFAULT_GROUP,
        hold_ms: int = DEFAULT_HOLD_MS,
        qualifier: str | None = None,
        payload: Any = None,
    ) -> None:
        super().__init__(scope, construct_id)
        base, named = _underlying(fn)
        chosen = named or qualifier
        if named is not None and qualifier is not None and qualifier != named:
            raise ValueError(f"{fn.node.path} already names qualifier {named!r}; leave qualifier= out")
        layer = layer or (control_plane.runtime_layer if control_plane is not None else None)
        table = table or (control_plane.table if control_plane is not None else None)
        if layer is None:
            raise ValueError("Warmable needs the runtime layer: pass control_plane= or layer=")
        self.concurrency = _auto_concurrency(base) if concurrency == "auto" else concurrency
        if self.concurrency is not None:
            if table is None:
                raise ValueError("Warmable writes a target record: pass control_plane= or table= (or concurrency=None)")
            if chosen is None:
                raise ValueError(
                    f"{fn.node.path}: keep-warm pings a published version or an alias, never $LATEST: pass an Alias "
                    "(fn.add_alias('live')) or qualifier="
                )
            # The rules of `thermostat targets add`, checked at synth time (the name may be a token).
            try:
                make_target(
                    function="placeholder",
                    qualifier=chosen if not cdk.Token.is_unresolved(chosen) else "live",
                    group=group,
                    concurrency=self.concurrency,
                    hold_ms=hold_ms,
                    payload=payload,
                )
            except InvalidInput as exc:
                raise ValueError(str(exc).replace("placeholder", fn.node.path)) from exc

        base.add_layers(layer)
        cdk.Tags.of(base).add(WARM_TAG, "true", include_resource_types=["AWS::Lambda::Function"])
        self.record: cr.AwsCustomResource | None = None
        if self.concurrency is not None and table is not None and chosen is not None:
            key = {"pk": {"S": "TARGETS"}, "sk": {"S": f"{group}#{base.function_name}#{chosen}"}}
            item: dict[str, Any] = {
                **key,
                "group": {"S": group},
                "function": {"S": base.function_name},
                "qualifier": {"S": chosen},
                "concurrency": {"N": str(self.concurrency)},
                "hold_ms": {"N": str(hold_ms)},
                "enabled": {"BOOL": True},
            }
            if payload is not None:
                item["payload"] = {"S": json.dumps(payload, separators=(",", ":"))}
            put = cr.AwsSdkCall(
                service="DynamoDB",
                action="putItem",
                parameters={"TableName": table.table_name, "Item": item},
                physical_resource_id=cr.PhysicalResourceId.of(f"{group}#{base.node.path}#{chosen}"),
            )
            self.record = cr.AwsCustomResource(
                self,
                "TargetRecord",
                on_create=put,
                on_update=put,
                on_delete=cr.AwsSdkCall(
                    service="DynamoDB", action="deleteItem", parameters={"TableName": table.table_name, "Key": key}
                ),
                policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[table.table_arn]),
                install_latest_aws_sdk=False,
            )


class PreTrafficWarmup(Construct):
    """A CodeDeploy deployment group for ``alias`` whose BeforeAllowTraffic hook is thermostat's.

    The hook is a function of its own (``CodeDeployHook_…``, the control plane's bundle and handler)
    configured for this alias: ``concurrency`` parallel invocations of the new version, each after a
    random delay in ``jitter`` seconds, sending ``probe_payload`` (default: the protocol's probe, so the
    function's ``@warmable(probe=…)`` runs) and checking ``expect`` on every answer. Its role may report
    to and read this deployment group only, invoke this function's versions only, and use the
    control plane's table for its once-per-execution ledger.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        alias: lambda_.Alias,
        *,
        control_plane: ThermostatControlPlane,
        concurrency: int = 5,
        jitter: tuple[float, float] = (0.25, 0.4),
        probe_payload: Any = None,
        expect: Sequence[str] = (),
        deployment_config: codedeploy.ILambdaDeploymentConfig | None = None,
        timeout: cdk.Duration | None = None,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        if code is None:
            if cdk.Stack.of(control_plane) is not stack:
                # An asset belongs to one stack: the CDK refuses to share a Code between two.
                raise ValueError(
                    "PreTrafficWarmup in another stack than the control plane needs its own code=: "
                    "lambda_.Code.from_asset(<the control-plane bundle>) again"
                )
            code = control_plane.code
        if not 1 <= concurrency <= 100:
            raise ValueError(f"concurrency {concurrency}: use 1-100")
        low, high = jitter
        if not 0 <= low <= high:
            raise ValueError(f"jitter {jitter}: use (MIN, MAX) seconds with 0 <= MIN <= MAX")
        try:
            parse_expectations("\n".join(expect) or None)
        except InvalidInput as exc:
            raise ValueError(f"expect: {exc}") from exc
        environment = {
            "THERMOSTAT_TABLE": control_plane.table.table_name,
            "POWERTOOLS_SERVICE_NAME": "thermostat",
            "THERMOSTAT_METRICS_NAMESPACE": control_plane.metrics_namespace,
            "THERMOSTAT_HOOK_CONCURRENCY": str(concurrency),
            "THERMOSTAT_HOOK_JITTER": f"{low},{high}",
            "THERMOSTAT_HOOK_LIFECYCLE": "BeforeAllowTraffic",
        }
        if probe_payload is not None:
            environment["THERMOSTAT_HOOK_PAYLOAD"] = json.dumps(probe_payload, separators=(",", ":"))
        if expect:
            environment["THERMOSTAT_HOOK_EXPECT"] = "\n".join(expect)
        target = alias.version.lambda_
        name = f"CodeDeployHook_{stack.stack_name}-{construct_id}"
        if not cdk.Token.is_unresolved(name) and len(name) > names.FUNCTION_NAME_MAX:
            raise ValueError(f"hook name {name!r} is longer than 64 characters: shorten the stack name or the id")
        self.hook = lambda_.Function(
            self,
            "Hook",
            function_name=name,
            description=f"thermostat pre-traffic warm-up of {alias.node.path}",
            runtime=control_plane.python_runtime,
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler="handlers.pre_traffic.lambda_handler",
            memory_size=512,
            timeout=timeout or cdk.Duration.minutes(5),
            layers=[control_plane.runtime_layer],
            environment=environment,
            # CodeDeploy invokes the hook asynchronously; what fails after Lambda's retries is alarmed.
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(1),
            on_failure=destinations.SqsDestination(control_plane.dead_letter_queue),
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            alias=alias,
            deployment_config=deployment_config or codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
        )
        # The CDK grants PutLifecycleEventHookExecutionStatus on this group and lets CodeDeploy's role
        # invoke the hook; the hook also reads the deployment (the AppSpec names the new version).
        self.deployment_group.add_pre_hook(self.hook)
        hook_grants(
            self.hook,
            control_plane.table,
            deployment_groups=[self.deployment_group.deployment_group_arn],
            functions=[target.function_arn],
        )
