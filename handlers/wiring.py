"""The composition root: every adapter the control plane uses, built from settings once per process.

The four Lambda handlers and the CLI ask this module for their adapters; none of them builds
its own, and none reaches into another's module. Each factory is cached for the life of the
process (a Lambda container: built at the first invocation, never at import), and
:func:`reset` forgets all of them at once (tests; a changed endpoint).

Nothing here reads the environment directly: :func:`settings` is the one place it is read.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from infra.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

#: One "forget" per cached factory, called by :func:`reset`.
_forgetters: list[Callable[[], None]] = []


def _once(close: Callable[[Any], object] | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a factory per (positional) argument tuple for the process.

    ``close`` releases what it built (a connection or thread pool) when :func:`reset` forgets it.
    """

    def decorate(factory: Callable[P, R]) -> Callable[P, R]:
        built: dict[Hashable, Any] = {}
        lock = threading.RLock()

        @functools.wraps(factory)
        def get(*args: P.args, **kwargs: P.kwargs) -> R:
            key = (args, tuple(sorted(kwargs.items())))
            with lock:
                if key not in built:
                    built[key] = factory(*args, **kwargs)
                return built[key]  # type: ignore[no-any-return]

        def forget() -> None:
            with lock:
                values = list(built.values())
                built.clear()
            if close is not None:
                for value in values:
                    close(value)

        _forgetters.append(forget)
        return get

    return decorate


def settings() -> Settings:
    """The process's settings (read from the environment at first use)."""
    from infra.settings import get_settings

    return get_settings()


def reset() -> None:
    """Forget every adapter built so far (closing pools), and read the settings again next time."""
    from infra.settings import get_settings

    for forget in _forgetters:
        forget()
    get_settings.cache_clear()


# -- deployment buckets (deployment events, sweeper, bucket and zappa commands) ---------------

if TYPE_CHECKING:
    import random

    from infra.bucket_registry import DynamoBucketRegistry
    from infra.eventbridge import EventBridgePublisher
    from infra.idempotency import DynamoIdempotencyStore
    from infra.s3_buckets import S3BucketStore


@_once()
def bucket_registry() -> DynamoBucketRegistry:
    """The registry on ``THERMOSTAT_TABLE``."""
    from infra.bucket_registry import DynamoBucketRegistry

    configured = settings()
    return DynamoBucketRegistry(configured.require_table(), configured.region)


@_once()
def event_receipts() -> DynamoIdempotencyStore:
    """Once per event id: the idempotency store's ``EVENT`` records on the same table."""
    from infra.idempotency import EVENT_RECEIPTS, DynamoIdempotencyStore

    configured = settings()
    return DynamoIdempotencyStore(configured.require_table(), configured.region, namespace=EVENT_RECEIPTS)


@_once()
def event_publisher() -> EventBridgePublisher:
    """The publisher of ``Deployment Bucket Resolved`` on ``THERMOSTAT_EVENT_BUS``."""
    from infra.eventbridge import EventBridgePublisher

    return EventBridgePublisher(bus=settings().event_bus)


@_once()
def s3_client(region: str) -> Any:
    """One S3 client per region (a deployment bucket is created in the deploy's region)."""
    from infra import aws

    return aws.client("s3", region_name=region)


@_once()
def bucket_store(account: str, region: str) -> S3BucketStore:
    """The bucket store of ``account`` in ``region``."""
    from infra.s3_buckets import S3BucketStore

    return S3BucketStore(account, client=s3_client(region), region=region)


@_once()
def bucket_rng() -> random.Random:
    """The randomness of generated bucket names (the system's: names must not be guessable)."""
    import random

    return random.SystemRandom()


# -- keep-warm (the keep-warm handler, targets and warm commands) ------------------------------


# -- the pre-traffic hook (the hook handler, the hook command) ---------------------------------

if TYPE_CHECKING:
    from infra.codedeploy import CodeDeployAppSpecReader, CodeDeployReporter
    from infra.lambda_invoker import BotoFunctionInvoker
    from infra.s3_payloads import S3PayloadReader


@_once()
def codedeploy_reporter() -> CodeDeployReporter:
    """``PutLifecycleEventHookExecutionStatus``, with its own retries inside the deadline."""
    from infra.codedeploy import CodeDeployReporter

    return CodeDeployReporter()


@_once()
def appspec_reader() -> CodeDeployAppSpecReader:
    """The deployment's AppSpec, for what the configuration leaves out."""
    from infra.codedeploy import CodeDeployAppSpecReader

    return CodeDeployAppSpecReader()


def hook_invoker(concurrency: int) -> BotoFunctionInvoker:
    """The Lambda adapter, its connection pool sized to the fan-out (built once per size).

    It retries only transient failures (connection errors, 5xx), never a timeout (the first
    call may still be running) nor a throttle (which the verdict must show).
    """
    return _hook_invoker(max(10, concurrency))


def _close_invoker(invoker: BotoFunctionInvoker) -> None:
    invoker.close()


@_once(close=_close_invoker)
def _hook_invoker(pool: int) -> BotoFunctionInvoker:
    from infra.lambda_invoker import BotoFunctionInvoker

    return BotoFunctionInvoker(pool_size=pool)


@_once()
def payload_reader() -> S3PayloadReader:
    """``THERMOSTAT_HOOK_PAYLOAD_S3``: the runtime module's reference reader on its default S3 client."""
    from infra.s3_payloads import S3PayloadReader

    return S3PayloadReader()


@_once()
def hook_ledger() -> DynamoIdempotencyStore | None:
    """The hook's idempotency store (``HOOK`` records), or None when ``THERMOSTAT_TABLE`` is not set."""
    from infra.idempotency import HOOK_EXECUTIONS, DynamoIdempotencyStore

    configured = settings()
    if not configured.table:
        return None
    return DynamoIdempotencyStore(configured.table, configured.region, namespace=HOOK_EXECUTIONS)


@_once()
def hook_rng() -> random.Random:
    """The randomness of the warm-up's jitter."""
    import random

    return random.Random()
