"""The deployment-bucket registry: one bucket per (account, region, project, stage), reused by every deploy.

Public names: the naming rules (:func:`validate_bucket_name`, :func:`generate_bucket_name`), the
values (:class:`BucketKey`, :class:`BucketRecord`, :class:`Resolution`, …), the ports
(:class:`BucketRegistry`, :class:`BucketStore`, :class:`EventPublisher`),
the policy (:func:`ensure_bucket`), strays (:func:`sweep`) and the use cases of the handlers.
"""

from domain.buckets.model import (
    MANAGED_BY,
    MANAGED_BY_TAG,
    BucketKey,
    BucketRecord,
    BucketState,
    DeploymentRequest,
    Resolution,
    StrayRecord,
    StraySource,
    check_account,
    check_project,
    check_region,
    check_stage,
    describe_validation_error,
)
from domain.buckets.names import (
    InvalidBucketName,
    bucket_name_problems,
    generate_bucket_name,
    is_valid_bucket_name,
    validate_bucket_name,
)
from domain.buckets.policy import DEFAULT_LEASE_S, DEFAULT_POLL_S, DEFAULT_WAIT_S, ensure_bucket
from domain.buckets.ports import (
    BucketInfo,
    BucketNameUnavailable,
    BucketProbe,
    BucketRegistry,
    BucketStore,
    CreateOutcome,
    DeleteOutcome,
    EventPublisher,
    ProbeStatus,
    Sleeper,
)
from domain.buckets.service import (
    BUCKET_RESOLVED,
    DEPLOYMENT_REQUESTED,
    CreateBucketCall,
    announce_resolution,
    note_created_bucket,
    resolution_id,
    resolve_deployment,
    resolved_event,
    run_once,
)
from domain.buckets.strays import StrayFinding, SweepReport, find_strays, matching_pattern, sweep
from domain.deadline import Clock

__all__ = [
    "BUCKET_RESOLVED",
    "DEFAULT_LEASE_S",
    "DEFAULT_POLL_S",
    "DEFAULT_WAIT_S",
    "DEPLOYMENT_REQUESTED",
    "MANAGED_BY",
    "MANAGED_BY_TAG",
    "BucketInfo",
    "BucketKey",
    "BucketNameUnavailable",
    "BucketProbe",
    "BucketRecord",
    "BucketRegistry",
    "BucketState",
    "BucketStore",
    "Clock",
    "CreateBucketCall",
    "CreateOutcome",
    "DeleteOutcome",
    "DeploymentRequest",
    "EventPublisher",
    "InvalidBucketName",
    "ProbeStatus",
    "Resolution",
    "Sleeper",
    "StrayFinding",
    "StrayRecord",
    "StraySource",
    "SweepReport",
    "announce_resolution",
    "bucket_name_problems",
    "check_account",
    "check_project",
    "check_region",
    "check_stage",
    "describe_validation_error",
    "ensure_bucket",
    "find_strays",
    "generate_bucket_name",
    "is_valid_bucket_name",
    "matching_pattern",
    "note_created_bucket",
    "resolution_id",
    "resolve_deployment",
    "resolved_event",
    "run_once",
    "sweep",
    "validate_bucket_name",
]
