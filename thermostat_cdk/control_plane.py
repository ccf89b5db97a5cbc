"""``ThermostatControlPlane``: the resources of ``serverless/template.yaml``, as AWS CDK v2 constructs.

Written out in the CDK rather than including the SAM template (``CfnInclude``) or nesting it: the
SAM template's functions are built by ``sam build`` (``BuildMethod: makefile``) and a nested stack
needs the packaged template in S3, neither of which ``cdk synth`` does; and a native construct hands
the table, the layer, the hook and the dead-letter queue to ``Warmable`` and ``PreTrafficWarmup`` as
typed attributes. The template's parameters are keyword arguments with the same defaults, its
conditions Python ``if``s. ``tests/integration/test_cdk_constructs.py`` compares the synthesized
resources and every role's statements with the translated SAM template's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as lambda_event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

#: The runtime layer's directory in a checkout (``python/thermostat_runtime``).
LAYER_DIR = Path(__file__).resolve().parents[1] / "serverless" / "layer"
PYTHON_RUNTIMES = {
    "python3.11": lambda_.Runtime.PYTHON_3_11,
    "python3.12": lambda_.Runtime.PYTHON_3_12,
    "python3.13": lambda_.Runtime.PYTHON_3_13,
}
#: What CloudWatch Logs accepts as RetentionInDays (the template's LogRetentionDays values).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_TABLE_READ = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"]


def _bucket_glob(value: str, what: str) -> str:
    if not value or set(value) <= {"*", "?"}:
        raise ValueError(f"{what} {value!r} must have at least one literal character: '*' alone is every bucket")
    return value


def layer_code() -> lambda_.Code:
    """The runtime layer's code from this checkout (``serverless/layer``: ``python/thermostat_runtime``)."""
    if not (LAYER_DIR / "python" / "thermostat_runtime").is_dir():
        raise ValueError(
            f"no runtime layer at {LAYER_DIR}: pass layer_code=lambda_.Code.from_asset(DIR) where DIR holds "
            "python/thermostat_runtime"
        )
    return lambda_.Code.from_asset(str(LAYER_DIR), exclude=["pyproject.toml", "**/__pycache__", "*.egg-info"])


class ThermostatControlPlane(Construct):
    """The whole control plane: table, runtime layer, five functions, their rules and queues, alarms and dashboard.

    ``code`` is the control-plane bundle (``domain/``, ``infra/``, ``handlers/`` and the pinned
    runtime dependencies): build it with ``ARTIFACTS_DIR=build/cdk-bundle make -f
    serverless/Makefile build-KeepWarmFunction`` and pass ``lambda_.Code.from_asset("build/cdk-bundle")``.
    """

    def __init__(  # noqa: PLR0915 - the template, resource by resource
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        layer: lambda_.Code | None = None,
        python_runtime: str = "python3.12",
        log_retention_days: int = 30,
        event_bus_name: str = "default",
        deployment_bucket_pattern: str = "*-????????",
        stray_patterns: str = "^zappa-[a-z0-9]{9}$",
        stray_bucket_glob: str = "zappa-*",
        bucket_quota: int = 10000,
        sweep_schedule: str = "rate(1 day)",
        sweep_delete: bool = False,
        stray_bucket_alarm_threshold: int = 10,
        keep_warm_schedule: str = "rate(5 minutes)",
        office_hours_warm_schedule: str = "cron(0/5 7-19 ? * MON-FRI *)",
        office_hours_warm_enabled: bool = False,
        max_in_flight: int = 64,
        lookup_rate: float = 5,
        lookup_ttl: int = 600,
        shard_targets: int = 200,
        shard_pings: int = 1000,
        warm_function_arns: Sequence[str] = (),
        payload_buckets: Sequence[str] = (),
        guarded_function_arns: Sequence[str] = (),
        hook_concurrency: int = 5,
        hook_jitter: tuple[float, float] = (0.25, 0.4),
        hook_timeout: int = 300,
        metrics_namespace: str = "Thermostat",
        alarm_email: str | None = None,
        cold_start_rate_threshold: float = 0.05,
        fleet_log_groups: Sequence[str] = (),
        organization_id: str | None = None,
        spoke_role_name: str = "thermostat-spoke",
        spoke_external_id: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        if python_runtime not in PYTHON_RUNTIMES:
            raise ValueError(f"python_runtime {python_runtime!r}: use one of {', '.join(PYTHON_RUNTIMES)}")
        if not 1 <= max_in_flight <= 1000:
            raise ValueError(f"max_in_flight {max_in_flight}: use 1-1000")
        if not 1 <= hook_concurrency <= 100:
            raise ValueError(f"hook_concurrency {hook_concurrency}: use 1-100")
        if not 30 <= hook_timeout <= 900:
            raise ValueError(f"hook_timeout {hook_timeout}: use 30-900 seconds")
        _bucket_glob(deployment_bucket_pattern, "deployment_bucket_pattern")
        _bucket_glob(stray_bucket_glob, "stray_bucket_glob")
        if organization_id is not None and not re.fullmatch(r"o-[a-z0-9]{10,32}", organization_id):
            raise ValueError(f"organization_id {organization_id!r}: an AWS Organizations id looks like o-a1b2c3d4e5")
        if not re.fullmatch(r"[\w+=,.@-]{1,64}", spoke_role_name):
            raise ValueError(f"spoke_role_name {spoke_role_name!r}: 1-64 of letters, digits, +=,.@_-")
        stack = cdk.Stack.of(self)
        partition, region, account = stack.partition, stack.region, stack.account
        self.metrics_namespace = metrics_namespace
        runtime = PYTHON_RUNTIMES[python_runtime]
        if log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days {log_retention_days!r}: use one of {LOG_RETENTION_DAYS}")

        # ------------------------------------------------------------ the runtime layer
        self.runtime_layer = lambda_.LayerVersion(
            self,
            "RuntimeLayer",
            layer_version_name=f"{stack.stack_name}-runtime",
            description="thermostat runtime module (warm pings, true cold-start telemetry, payload references); "
            "standard library only",
            code=layer or layer_code(),
            compatible_runtimes=list(PYTHON_RUNTIMES.values()),
            compatible_architectures=[lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64],
            license="Apache-2.0",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        # ------------------------------------------------------------ the single table
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="ttl",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        # ------------------------------------------------------------ failures and alarms plumbing
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=cdk.Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=False,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.alarm_topic = sns.Topic(self, "AlarmTopic", display_name="thermostat alarms")
        if alarm_email:
            sns.Subscription(
                self,
                "AlarmEmailSubscription",
                topic=self.alarm_topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=alarm_email,
            )

        common_env = {
            "THERMOSTAT_TABLE": self.table.table_name,
            "POWERTOOLS_SERVICE_NAME": "thermostat",
            "THERMOSTAT_METRICS_NAMESPACE": metrics_namespace,
        }
        self.code = code
        self.python_runtime = runtime

        own_log_groups: list[str] = []  # the fleet dashboard's default sources

        def function(
            name: str,
            log_name: str,
            *,
            handler: str,
            description: str,
            environment: dict[str, str],
            memory: int = 256,
            timeout: int = 60,
            retries: int = 2,
            max_age: int = 3600,
            function_name: str | None = None,
        ) -> lambda_.Function:
            log_group = logs.LogGroup(
                self,
                f"{name}LogGroup",
                log_group_name=f"/thermostat/{stack.stack_name}/{log_name}",
                removal_policy=cdk.RemovalPolicy.DESTROY,
            )
            cfn_log_group: Any = log_group.node.default_child
            cfn_log_group.retention_in_days = log_retention_days
            own_log_groups.append(log_group.log_group_name)
            return lambda_.Function(
                self,
                f"{name}Function",
                function_name=function_name,
                description=description,
                runtime=runtime,
                architecture=lambda_.Architecture.ARM_64,
                code=code,
                handler=handler,
                memory_size=memory,
                timeout=cdk.Duration.seconds(timeout),
                layers=[self.runtime_layer],
                environment={**common_env, **environment},
                log_group=log_group,
                # Every function here is invoked asynchronously (EventBridge, CodeDeploy): what still
                # fails after Lambda's retries lands in the dead-letter queue, which has an alarm.
                retry_attempts=retries,
                max_event_age=cdk.Duration.seconds(max_age),
                on_failure=destinations.SqsDestination(self.dead_letter_queue),
            )

        def rule_target(fn: lambda_.IFunction, retries: int, max_age: int, **extra: Any) -> targets.LambdaFunction:
            return targets.LambdaFunction(
                fn,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=retries,
                max_event_age=cdk.Duration.seconds(max_age),
                **extra,
            )

        bus = (
            None
            if event_bus_name == "default"
            else events.EventBus.from_event_bus_name(self, "EventBus", event_bus_name)
        )

        # ------------------------------------------------------------ deployment-bucket registry
        self.deployment_events_function = function(
            "DeploymentEvents",
            "deployment-events",
            handler="handlers.deployment_events.lambda_handler",
            description="Resolves one artifact bucket per (account, region, project, stage); records stray "
            "CreateBucket calls",
            environment={
                "THERMOSTAT_EVENT_BUS": event_bus_name,
                "THERMOSTAT_STRAY_PATTERNS": stray_patterns,
                "THERMOSTAT_SPOKE_ROLE": spoke_role_name,
                "THERMOSTAT_SPOKE_EXTERNAL_ID": spoke_external_id,
            },
        )
        registry = self.deployment_events_function
        events.Rule(
            self,
            "DeploymentRequested",
            event_bus=bus,
            # The detail-type matters: the handler publishes `Deployment Bucket Resolved` with the same source.
            event_pattern=events.EventPattern(source=["thermostat.deployments"], detail_type=["Deployment Requested"]),
            targets=[rule_target(registry, 4, 3600)],
        )
        events.Rule(
            self,
            "BucketCreated",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["AWS API Call via CloudTrail"],
                detail={
                    "eventSource": ["s3.amazonaws.com"],
                    "eventName": ["CreateBucket"],
                    "errorCode": [{"exists": False}],
                },
            ),
            targets=[rule_target(registry, 4, 3600)],
        )
        registry.add_to_role_policy(
            iam.PolicyStatement(
                sid="RegistryTable",
                actions=[
                    *_TABLE_READ,
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                ],
                resources=[self.table.table_arn],
            )
        )
        registry.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeploymentBuckets",
                actions=[
                    "s3:CreateBucket",
                    "s3:PutBucketTagging",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutEncryptionConfiguration",
                    "s3:ListBucket",  # HeadBucket (with ExpectedBucketOwner) is authorised as ListBucket
                ],
                resources=[f"arn:{partition}:s3:::{deployment_bucket_pattern}"],
            )
        )
        registry.add_to_role_policy(
            iam.PolicyStatement(
                sid="PublishResolved",
                actions=["events:PutEvents"],
                resources=[f"arn:{partition}:events:{region}:{account}:event-bus/{event_bus_name}"],
                conditions={"StringEquals": {"events:detail-type": "Deployment Bucket Resolved"}},
            )
        )

        # ------------------------------------------------------------ sweeper
        self.sweeper_function = function(
            "Sweeper",
            "sweeper",
            handler="handlers.sweeper.lambda_handler",
            description="Reconciles stray buckets and reports the bucket count against the quota (deletes only "
            "if enabled)",
            timeout=300,
            environment={
                "THERMOSTAT_STRAY_PATTERNS": stray_patterns,
                "THERMOSTAT_BUCKET_QUOTA": str(bucket_quota),
                "THERMOSTAT_SWEEP_DELETE": "true" if sweep_delete else "false",
                "THERMOSTAT_SPOKE_ROLE": spoke_role_name,
                "THERMOSTAT_SPOKE_EXTERNAL_ID": spoke_external_id,
            },
        )
        sweeper = self.sweeper_function
        events.Rule(
            self,
            "SweepSchedule",
            schedule=events.Schedule.expression(sweep_schedule),
            description="thermostat stray-bucket sweep",
            targets=[rule_target(sweeper, 2, 3600)],
        )
        # ListAllMyBuckets has no resource type: "*" is the only form S3 accepts (a read).
        sweeper.add_to_role_policy(
            iam.PolicyStatement(sid="ListBuckets", actions=["s3:ListAllMyBuckets"], resources=["*"])
        )
        sweeper.add_to_role_policy(
            iam.PolicyStatement(
                sid="InspectStrays",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[f"arn:{partition}:s3:::{stray_bucket_glob}"],
            )
        )
        sweeper.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadThermostatTags",
                actions=["s3:GetBucketTagging"],
                resources=[f"arn:{partition}:s3:::{deployment_bucket_pattern}"],
            )
        )
        sweeper.add_to_role_policy(
            iam.PolicyStatement(
                sid="RegistryTable",
                actions=[
                    *_TABLE_READ,
                    "dynamodb:Scan",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                resources=[self.table.table_arn],
            )
        )
        if sweep_delete:
            sweeper.add_to_role_policy(
                iam.PolicyStatement(
                    sid="DeleteEmptyStrays",
                    actions=["s3:DeleteBucket"],
                    resources=[f"arn:{partition}:s3:::{stray_bucket_glob}"],
                )
            )

        # ------------------------------------------------------------ the Organization's events
        if organization_id is not None:
            # Other accounts' buckets, through the role serverless/spoke.yaml creates there.
            for fn in (registry, sweeper):
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        sid="AssumeSpokeRoles",
                        actions=["sts:AssumeRole"],
                        resources=[f"arn:{partition}:iam::*:role/{spoke_role_name}"],
                    )
                )
            # The spokes forward `Deployment Requested` to the registry's bus and CloudTrail calls to
            # the default bus; the rules carry no `account` key, so they match every account's events.
            for policy_id, statement_id, bus_name in (
                ("OrganizationDeploymentEvents", "thermostat-organization-deployments", event_bus_name),
                ("OrganizationCloudTrailEvents", "thermostat-organization-cloudtrail", "default"),
            ):
                events.CfnEventBusPolicy(
                    self,
                    policy_id,
                    event_bus_name=bus_name,
                    statement_id=statement_id,
                    statement={
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": f"arn:{partition}:events:{region}:{account}:event-bus/{bus_name}",
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
                    },
                )

        # ------------------------------------------------------------ keep-warm
        # Sharded rounds: one SQS message per shard, the worker as the queue's event source.
        self.shard_dead_letter_queue = sqs.Queue(
            self,
            "KeepWarmShardDeadLetterQueue",
            retention_period=cdk.Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=False,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.shard_queue = sqs.Queue(
            self,
            "KeepWarmShardQueue",
            visibility_timeout=cdk.Duration.seconds(720),  # six times the worker's timeout
            retention_period=cdk.Duration.hours(1),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=False,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=self.shard_dead_letter_queue),
        )
        buckets = ",".join(payload_buckets)
        self.keep_warm_function = function(
            "KeepWarm",
            "keep-warm",
            handler="handlers.keep_warm.lambda_handler",
            description="Pings each target of a group N times at once and counts the distinct environments that "
            "answered",
            memory=1024,  # the fan-out is CPU-bound in the SDK: 1024 MB buys CPU
            timeout=120,
            # A warm round that arrives late is worthless: no retries, the next schedule is the retry.
            retries=0,
            max_age=120,
            environment={
                "THERMOSTAT_MAX_IN_FLIGHT": str(max_in_flight),
                "THERMOSTAT_PAYLOAD_BUCKETS": buckets,
                "THERMOSTAT_LOOKUP_RATE": str(lookup_rate),
                "THERMOSTAT_LOOKUP_TTL": str(lookup_ttl),
                "THERMOSTAT_SHARD_QUEUE": self.shard_queue.queue_url,
                "THERMOSTAT_SHARD_TARGETS": str(shard_targets),
                "THERMOSTAT_SHARD_PINGS": str(shard_pings),
            },
        )
        keep_warm = self.keep_warm_function
        # The function facts a container caches are forgotten when CloudTrail reports a call that
        # changes them (CloudTrail names Lambda's calls with the API version appended: prefixes).
        events.Rule(
            self,
            "ConfigChanges",
            event_pattern=events.EventPattern(
                source=["aws.lambda"],
                detail_type=["AWS API Call via CloudTrail"],
                detail={
                    "eventSource": ["lambda.amazonaws.com"],
                    "eventName": [
                        {"prefix": name}
                        for name in (
                            "PutProvisionedConcurrencyConfig",
                            "DeleteProvisionedConcurrencyConfig",
                            "PutFunctionConcurrency",
                            "DeleteFunctionConcurrency",
                            "UpdateFunctionConfiguration",
                            "PublishVersion",
                        )
                    ],
                    "errorCode": [{"exists": False}],
                },
            ),
            targets=[rule_target(keep_warm, 2, 600)],
        )
        for rule_id, group, schedule, enabled in (
            ("DefaultGroup", "default", keep_warm_schedule, True),
            ("OfficeHoursGroup", "office-hours", office_hours_warm_schedule, office_hours_warm_enabled),
        ):
            events.Rule(
                self,
                rule_id,
                schedule=events.Schedule.expression(schedule),
                description=f"thermostat keep-warm, group {group}",
                enabled=enabled,
                targets=[rule_target(keep_warm, 0, 60, event=events.RuleTargetInput.from_object({"group": group}))],
            )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(sid="ReadTargets", actions=_TABLE_READ, resources=[self.table.table_arn])
        )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="RecordRounds",  # each pinged target's round times: the targets' items only
                actions=["dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["TARGETS"]}},
            )
        )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadConcurrencyMetrics",  # auto sizing: GetMetricData has no resource types, "*" is the least
                actions=["cloudwatch:GetMetricData"],
                resources=["*"],
            )
        )
        ledger = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
        rounds_only = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ROUNDS#*", "ROUND#*"]}}
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="PlanShardedRounds", actions=ledger, resources=[self.table.table_arn], conditions=rounds_only
            )
        )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(sid="SendShards", actions=["sqs:SendMessage"], resources=[self.shard_queue.queue_arn])
        )
        lookups = [
            "lambda:GetFunctionConfiguration",
            "lambda:GetFunctionConcurrency",
            "lambda:GetProvisionedConcurrencyConfig",
        ]
        every_function = f"arn:{partition}:lambda:{region}:{account}:function:*"
        tagged = {"StringEquals": {"aws:ResourceTag/thermostat:warm": "true"}}
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="InspectTaggedTargets", actions=lookups, resources=[every_function], conditions=tagged
            )
        )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadConcurrencyHistory",  # concurrency: auto, from the functions' REPORT records
                actions=["logs:DescribeLogGroups", "logs:FilterLogEvents"],
                resources=[f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/*"],
            )
        )
        keep_warm.add_to_role_policy(
            iam.PolicyStatement(
                sid="PingTaggedFunctions",
                actions=["lambda:InvokeFunction"],
                resources=[every_function],
                conditions=tagged,
            )
        )
        if warm_function_arns:
            listed = list(warm_function_arns)
            keep_warm.add_to_role_policy(
                iam.PolicyStatement(
                    sid="InspectListedTargets", actions=lookups, resources=[*listed, *(f"{arn}:*" for arn in listed)]
                )
            )
            keep_warm.add_to_role_policy(
                iam.PolicyStatement(
                    sid="PingListedFunctions",
                    actions=["lambda:InvokeFunction"],
                    resources=[f"{arn}:*" for arn in listed],
                )
            )
        if payload_buckets:
            keep_warm.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadPayloads",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{partition}:s3:::{bucket}/*" for bucket in payload_buckets],
                )
            )

        # ------------------------------------------------------------ the keep-warm worker (one shard each)
        self.keep_warm_worker_function = function(
            "KeepWarmWorker",
            "keep-warm-worker",
            handler="handlers.keep_warm_worker.lambda_handler",
            description="Runs one shard of a sharded keep-warm round (SQS), in its account and region",
            memory=1024,
            timeout=120,
            environment={
                "THERMOSTAT_MAX_IN_FLIGHT": str(max_in_flight),
                "THERMOSTAT_PAYLOAD_BUCKETS": buckets,
                "THERMOSTAT_LOOKUP_RATE": str(lookup_rate),
                "THERMOSTAT_LOOKUP_TTL": str(lookup_ttl),
                "THERMOSTAT_SHARD_MAX_RECEIVES": "3",
                "THERMOSTAT_SPOKE_ROLE": spoke_role_name,
                "THERMOSTAT_SPOKE_EXTERNAL_ID": spoke_external_id,
            },
        )
        worker = self.keep_warm_worker_function
        worker.add_event_source(
            lambda_event_sources.SqsEventSource(self.shard_queue, batch_size=1, report_batch_item_failures=True)
        )
        targets_only = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["TARGETS"]}}
        every_region_function = f"arn:{partition}:lambda:*:{account}:function:*"
        for statement in (
            iam.PolicyStatement(
                sid="ReadTargets",
                actions=["dynamodb:DescribeTable", "dynamodb:BatchGetItem"],
                resources=[self.table.table_arn],
                conditions=targets_only,
            ),
            iam.PolicyStatement(
                sid="RecordRounds",
                actions=["dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
                conditions=targets_only,
            ),
            iam.PolicyStatement(
                sid="RecordShards", actions=ledger, resources=[self.table.table_arn], conditions=rounds_only
            ),
            iam.PolicyStatement(
                sid="AssumeSpokeRoles",
                actions=["sts:AssumeRole"],
                resources=[f"arn:{partition}:iam::*:role/{spoke_role_name}"],
            ),
            iam.PolicyStatement(
                sid="InspectTaggedTargets", actions=lookups, resources=[every_region_function], conditions=tagged
            ),
            iam.PolicyStatement(
                sid="PingTaggedFunctions",
                actions=["lambda:InvokeFunction"],
                resources=[every_region_function],
                conditions=tagged,
            ),
        ):
            worker.add_to_role_policy(statement)
        if payload_buckets:
            worker.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadPayloads",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{partition}:s3:::{bucket}/*" for bucket in payload_buckets],
                )
            )

        # ------------------------------------------------------------ pre-traffic hook
        self.pre_traffic_hook_function = function(
            "PreTrafficHook",
            "pre-traffic-hook",
            # The role CodeDeploy's managed policy gives may invoke only functions named CodeDeployHook_*.
            function_name=f"CodeDeployHook_{stack.stack_name}",
            handler="handlers.pre_traffic.lambda_handler",
            description="CodeDeploy BeforeAllowTraffic hook; warms and validates the new version, always reports "
            "a verdict",
            memory=512,
            timeout=hook_timeout,
            environment={
                "THERMOSTAT_HOOK_CONCURRENCY": str(hook_concurrency),
                "THERMOSTAT_HOOK_JITTER": f"{hook_jitter[0]},{hook_jitter[1]}",
                "THERMOSTAT_PAYLOAD_BUCKETS": buckets,
            },
        )
        hook = self.pre_traffic_hook_function
        hook_grants(
            hook,
            self.table,
            deployment_groups=[f"arn:{partition}:codedeploy:{region}:{account}:deploymentgroup:*"],
            functions=list(guarded_function_arns),
            payload_buckets=payload_buckets,
        )

        # ------------------------------------------------------------ alarms
        def alarm(alarm_id: str, description: str, **properties: Any) -> None:
            cloudwatch.CfnAlarm(
                self,
                alarm_id,
                alarm_description=description,
                comparison_operator="GreaterThanThreshold",
                alarm_actions=[self.alarm_topic.topic_arn],
                **properties,
            )

        def query(metric_id: str, expression: str, period: int) -> list[cloudwatch.CfnAlarm.MetricDataQueryProperty]:
            return [
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id=metric_id, expression=expression, period=period, return_data=True
                )
            ]

        ns = json.dumps(metrics_namespace)
        alarm(
            "DeadLetterQueueAlarm",
            "thermostat events or invocations failed after every retry; read the dead-letter queue",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions=[
                cloudwatch.CfnAlarm.DimensionProperty(name="QueueName", value=self.dead_letter_queue.queue_name)
            ],
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            treat_missing_data="notBreaching",
        )
        alarm(
            "HookFailedAlarm",
            "The pre-traffic hook reported Failed for a deployment (it was rolled back)",
            metrics=query("failed", f"SELECT SUM(HookVerdict) FROM {ns} WHERE status = 'Failed'", 300),  # noqa: S608
            evaluation_periods=1,
            threshold=0,
            treat_missing_data="notBreaching",
        )
        for alarm_id, metric, what in (
            ("WarmErrorsAlarm", "WarmErrors", "fail (function errors or timeouts)"),
            ("WarmThrottlesAlarm", "WarmThrottles", "are throttled (lower the concurrency or raise the limit)"),
        ):
            alarm(
                alarm_id,
                f"Keep-warm pings {what} in two consecutive rounds",
                metrics=query(metric.lower(), f"SELECT SUM({metric}) FROM {ns}", 300),  # noqa: S608
                evaluation_periods=2,
                datapoints_to_alarm=2,
                threshold=0,
                treat_missing_data="notBreaching",
            )
        alarm(
            "StrayBucketsAlarm",
            "The sweeper found more stray buckets than the threshold; run `thermostat bucket sweep`",
            metrics=query("strays", f"SELECT MAX(StrayBuckets) FROM {ns}", 3600),  # noqa: S608
            evaluation_periods=1,
            threshold=stray_bucket_alarm_threshold,
            treat_missing_data="ignore",  # the sweep runs daily: between sweeps the alarm keeps its state
        )
        # AVG(ColdStart) per function is its cold-start rate among real requests (pings write WarmPing);
        # a Metrics Insights alarm takes one query, so it watches the worst function.
        alarm(
            "ColdStartRateAlarm",
            "A function's cold-start rate among real requests stayed above the threshold for three hours; run "
            "`thermostat report` for the keep-warm effect per target",
            metrics=query(
                "worst",
                f"SELECT AVG(ColdStart) FROM SCHEMA({ns}, FunctionName, InitType) "  # noqa: S608
                "GROUP BY FunctionName ORDER BY AVG() DESC LIMIT 1",
                3600,
            ),
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=cold_start_rate_threshold,
            treat_missing_data="notBreaching",
        )

        # ------------------------------------------------------------ dashboard
        def search(expression: str, stat: str, period: int, metric_id: str) -> list[list[dict[str, str]]]:
            return [[{"expression": f"SEARCH('{expression}', '{stat}', {period})", "id": metric_id, "label": ""}]]

        def widget(
            x: int, y: int, w: int, h: int, title: str, stat: str, period: int, metrics: Any, **extra: Any
        ) -> Any:
            return {
                "type": "metric",
                "x": x,
                "y": y,
                "width": w,
                "height": h,
                "properties": {
                    "title": title,
                    "region": region,
                    "view": "timeSeries",
                    "stacked": title in {"Cold starts by init type", "Hook verdicts"},
                    "stat": stat,
                    "period": period,
                    "metrics": metrics,
                    **extra,
                },
            }

        q = ns  # the namespace, double-quoted, inside SEARCH's own quotes
        body = {
            "widgets": [
                widget(0, 0, 12, 6, "Cold starts by init type", "Sum", 300,
                       search(f'{{{q},InitType}} MetricName="ColdStart"', "Sum", 300, "cold")),
                widget(12, 0, 12, 6, "Warm environments per target", "Maximum", 300,
                       search(f'{{{q}}} MetricName="WarmEnvironments" qualifier', "Maximum", 300, "warm")),
                widget(0, 6, 8, 6, "Hook verdicts", "Sum", 300,
                       search(f'{{{q}}} MetricName="HookVerdict"', "Sum", 300, "verdicts")),
                widget(8, 6, 8, 6, "Warm-up errors and throttles", "Sum", 300,
                       search(f'{{{q}}} MetricName="WarmErrors" OR MetricName="WarmThrottles"', "Sum", 300,
                              "failures")),
                widget(16, 6, 8, 6, "Buckets vs quota", "Maximum", 86400,
                       search(f'{{{q}}} MetricName="BucketCount" OR MetricName="StrayBuckets"', "Maximum", 86400,
                              "buckets"),
                       annotations={"horizontal": [{"label": "bucket quota", "value": bucket_quota}]},
                       yAxis={"left": {"min": 0}}),
                widget(0, 12, 24, 4, "Dead-letter queue depth", "Maximum", 300,
                       [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                         self.dead_letter_queue.queue_name]]),
            ]
        }  # fmt: skip
        self.dashboard = cloudwatch.CfnDashboard(
            self,
            "Dashboard",
            dashboard_name=f"{stack.stack_name}-thermostat",
            dashboard_body=stack.to_json_string(body),
        )

        # Lambda's own records, both log formats (text REPORT, JSON platform.report), per hour.
        parse = "parse @message /Restore Duration: (?<restoreMs>[0-9.]+) ms/"
        records = 'filter @type = "REPORT" or type = "platform.report"'
        sources = " | ".join(f"SOURCE '{group}'" for group in (fleet_log_groups or own_log_groups))
        fleet_body = {
            "widgets": [
                {"type": "log", "x": 0, "y": 0, "width": 24, "height": 6, "properties": {
                    "title": "Fleet cold-start rate (% of invocations, Lambda's own records)",
                    "region": stack.region, "view": "timeSeries", "stacked": False,
                    "query": f"{sources} | {records} | {parse} | stats (count(@initDuration) + "
                    "count(record.metrics.initDurationMs) + count(restoreMs) + "
                    "count(record.metrics.restoreDurationMs)) * 100 / count(*) as coldStartRatePct by bin(1h)"}},
                {"type": "log", "x": 0, "y": 6, "width": 24, "height": 6, "properties": {
                    "title": "Cold starts per function (Lambda's own records)", "region": stack.region,
                    "view": "table",
                    "query": f"{sources} | {records} | {parse} | stats count(*) as invocations, "
                    "count(@initDuration) + count(record.metrics.initDurationMs) as coldStarts, "
                    "count(restoreMs) + count(record.metrics.restoreDurationMs) as restores, "
                    "max(@initDuration) as maxInitText, max(record.metrics.initDurationMs) as maxInitJson by @log"}},
            ]
        }  # fmt: skip
        cloudwatch.CfnDashboard(
            self,
            "FleetDashboard",
            dashboard_name=f"{stack.stack_name}-fleet-cold-starts",
            dashboard_body=stack.to_json_string(fleet_body),
        )

        for output_id, value, description in (
            ("MetricsNamespace", metrics_namespace, "THERMOSTAT_METRICS_NAMESPACE for functions with the layer"),
            ("RuntimeLayerArn", self.runtime_layer.layer_version_arn, "Warmable adds this layer"),
            ("PreTrafficHookFunctionName", hook.function_name, "The shared pre-traffic hook"),
            ("TableName", self.table.table_name, "THERMOSTAT_TABLE for the CLI"),
            ("KeepWarmFunctionName", keep_warm.function_name, 'Invoke with {"group": "..."} to warm a group now'),
            ("DeadLetterQueueUrl", self.dead_letter_queue.queue_url, "Failed events and invocations"),
            ("AlarmTopicArn", self.alarm_topic.topic_arn, "Every thermostat alarm notifies this topic"),
        ):
            cdk.CfnOutput(self, output_id, value=value, description=description)


def hook_grants(
    hook: lambda_.Function,
    table: dynamodb.ITable,
    *,
    deployment_groups: Sequence[str],
    functions: Sequence[str],
    payload_buckets: Sequence[str] = (),
) -> None:
    """The pre-traffic hook's statements: report and read the deployment, its ledger, the versions it tests."""
    stack = cdk.Stack.of(hook)
    hook.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReportVerdict",
            actions=["codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:GetDeployment"],
            resources=list(deployment_groups),
        )
    )
    hook.add_to_role_policy(
        iam.PolicyStatement(
            sid="OncePerExecution",
            actions=["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            resources=[table.table_arn],
        )
    )
    if functions:
        hook.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeGuardedVersions",
                actions=["lambda:InvokeFunction"],
                resources=[f"{arn}:*" for arn in functions],
            )
        )
    if payload_buckets:
        hook.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadPayloads",
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{bucket}/*" for bucket in payload_buckets],
            )
        )
