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

from domain.errors import InvalidInput, NotFound, Unavailable

if TYPE_CHECKING:
    import random
    from concurrent.futures import ThreadPoolExecutor

    from mypy_boto3_lambda import LambdaClient

    from domain.costs import PriceTable
    from domain.deadline import Clock
    from domain.invocation import FunctionInvoker
    from domain.keep_warm import Dispatcher, LambdaConfig, PayloadLoader
    from domain.keep_warm.auto import AutoSizer
    from domain.keep_warm.lookups import FactsCache
    from domain.keep_warm.sizing import ConcurrencyHistory
    from domain.platform_report import TargetRounds
    from domain.targets import TargetStore
    from infra.bucket_registry import DynamoBucketRegistry
    from infra.concurrency_history import CloudWatchConcurrency
    from infra.function_shape import BotoFunctionShapes
    from infra.lambda_config import BotoLambdaConfig
    from infra.lambda_invoker import BotoFunctionInvoker
    from infra.platform_concurrency import PlatformRecordsConcurrency
    from infra.platform_source import CloudWatchLogsPlatform
    from infra.s3_buckets import S3BucketStore
    from infra.settings import Settings
    from infra.spokes import SpokeSessions
    from infra.telemetry_source import CloudWatchLogsTelemetry

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
    from infra import aws
    from infra.settings import get_settings

    for forget in _forgetters:
        forget()
    get_settings.cache_clear()
    aws.forget_sessions()


# -- deployment buckets (deployment events, sweeper, bucket and zappa commands) ---------------

if TYPE_CHECKING:
    import random

    from infra.bucket_registry import DynamoBucketRegistry
    from infra.eventbridge import EventBridgePublisher, EventBridgeRuleReader
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


def bucket_store(account: str, region: str, own_account: str | None = None) -> S3BucketStore:
    """The bucket store of ``account`` in ``region``.

    With ``own_account`` (the account this process runs as) and another ``account``, the store's
    client acts through that account's spoke role (:func:`spokes`): ``AccessDenied`` here, before
    anything is claimed or recorded, when the role is missing or refuses. Such a store is not
    cached (its credentials are renewed by the spoke sessions, which cache the clients).
    """
    if own_account is None or account == own_account:
        return _own_bucket_store(account, region)
    from infra.s3_buckets import S3BucketStore

    return S3BucketStore(account, client=spokes(own_account).client("s3", account, region), region=region)


@_once()
def _own_bucket_store(account: str, region: str) -> S3BucketStore:
    from infra.s3_buckets import S3BucketStore

    return S3BucketStore(account, client=s3_client(region), region=region)


@_once()
def spokes(own_account: str) -> SpokeSessions:
    """Clients in other accounts, through their spoke role (``THERMOSTAT_SPOKE_ROLE`` and ``_EXTERNAL_ID``)."""
    from infra.spokes import SpokeSessions

    configured = settings()
    return SpokeSessions(own_account, role_name=configured.spoke_role, external_id=configured.spoke_external_id)


@_once()
def bucket_rng() -> random.Random:
    """The randomness of generated bucket names (the system's: names must not be guessable)."""
    import random

    return random.SystemRandom()


# -- cold-start telemetry (the report command) -------------------------------------------------


@_once()
def telemetry(prefix: str) -> CloudWatchLogsTelemetry:
    """The telemetry records in the log groups under ``prefix`` (CloudWatch Logs), in our namespace."""
    from infra.settings import load_settings
    from infra.telemetry_source import CloudWatchLogsTelemetry, telemetry_filter_pattern

    # The namespace alone: the report must not need, say, the table to be configured.
    namespace = load_settings(only=("metrics_namespace",)).metrics_namespace
    return CloudWatchLogsTelemetry(prefix=prefix, filter_pattern=telemetry_filter_pattern(namespace))


def platform_records(functions: tuple[str, ...] = (), prefix: str = "/aws/lambda/") -> CloudWatchLogsPlatform:
    """Lambda's own platform records in the log groups under ``prefix`` (of ``functions`` only, when given)."""
    from infra.platform_source import CloudWatchLogsPlatform

    return CloudWatchLogsPlatform(prefix=prefix, functions=functions)


def target_rounds() -> list[TargetRounds] | None:
    """Keep-warm targets with their recorded round times, or None when ``THERMOSTAT_TABLE`` is not set."""
    from infra.settings import load_settings
    from infra.target_store import DynamoTargetStore

    current = load_settings(only=("table", "region"))
    if current.table is None:
        return None
    return DynamoTargetStore(current.table, current.region).rounds()


# -- keep-warm (the keep-warm handler, targets and warm commands) ------------------------------


@_once(close=lambda pool: pool.shutdown(wait=True))
def keep_warm_executor(size: int) -> ThreadPoolExecutor:
    """Keep-warm's worker pool: one worker per ping in flight, so that a target's pings really overlap."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="keep-warm")


def keep_warm_dispatcher(invoker: FunctionInvoker, max_in_flight: int, clock: Clock) -> Dispatcher:
    """A fan-out for one round (its in-flight count is the round's) on the shared worker pool."""
    from infra.fanout import ThreadDispatcher

    return ThreadDispatcher(invoker, keep_warm_executor(max_in_flight), max_in_flight, clock)


@_once(close=lambda invoker: invoker.close())
def keep_warm_invoker(pool_size: int) -> BotoFunctionInvoker:
    """The pings' invoker, its keep-alive pool sized to the cap on pings in flight."""
    from infra.lambda_invoker import BotoFunctionInvoker

    return BotoFunctionInvoker(pool_size=pool_size)


@_once(close=lambda client: client.close())
def _lambda_client(pool_size: int) -> LambdaClient:
    from infra import aws

    client: LambdaClient = aws.client("lambda", max_pool_connections=pool_size)
    return client


def lambda_config(pool_size: int) -> BotoLambdaConfig:
    """A function-facts reader for one round: its answers are cached for that round only."""
    from infra.lambda_config import BotoLambdaConfig

    # The look-ups share the invoker's signed keep-alive path (cheap), falling back to the boto3 client.
    return BotoLambdaConfig(_lambda_client(pool_size), invoker=keep_warm_invoker(pool_size))


@_once()
def facts_cache(rate: float, burst: int, ttl_s: float) -> FactsCache:
    """The container's function facts, kept across rounds and read within the look-up rate."""
    import time

    from domain.keep_warm.lookups import FactsCache, TokenBucket

    return FactsCache(TokenBucket(rate, burst, time.monotonic), time.monotonic, ttl_s=ttl_s, sleep=time.sleep)


def container_facts(of: Settings | None = None) -> FactsCache:
    """:func:`facts_cache` with ``of``'s (else the process's) settings (``THERMOSTAT_LOOKUP_*``)."""
    configured = of or settings()
    return facts_cache(configured.lookup_rate, configured.lookup_burst, configured.lookup_ttl_s)


def round_lookups(of: Settings, wait_s: float) -> LambdaConfig:
    """One round's facts: the container's cache over a fresh reader, waiting at most ``wait_s`` for tokens."""
    return container_facts(of).for_round(lambda_config(of.max_in_flight), wait_s)


@_once()
def cloudwatch_concurrency() -> CloudWatchConcurrency:
    """CloudWatch's ``ConcurrentExecutions`` for a function qualifier (it counts keep-warm's pings too)."""
    from infra.concurrency_history import CloudWatchConcurrency

    return CloudWatchConcurrency()


@_once()
def platform_concurrency() -> PlatformRecordsConcurrency:
    """The concurrency rebuilt from the functions' ``REPORT`` records (and cold-start feedback)."""
    from infra.platform_concurrency import PlatformRecordsConcurrency

    return PlatformRecordsConcurrency(namespace=settings().metrics_namespace)


def concurrency_history() -> ConcurrencyHistory:
    """The platform records first, CloudWatch's ``ConcurrentExecutions`` when the logs hold no request.

    The records come first because they tell keep-warm's pings from real requests (the runtime
    module's line names a ping); the metric counts the pings as concurrency, so an auto target
    sized from it alone would keep the N it warms for ever. The metric is the fallback for a
    function whose logs are gone or not readable.
    """
    from domain.keep_warm.auto import FirstWithData

    return FirstWithData(platform_concurrency(), cloudwatch_concurrency())


@_once()
def auto_sizer(ttl_s: float) -> AutoSizer:
    """The container's auto-target sizing: history reads cached ``ttl_s`` (``THERMOSTAT_AUTO_TTL``)."""
    import time

    from domain.keep_warm.auto import AutoSizer

    ttl_ms = int(ttl_s * 1000)
    return AutoSizer(
        concurrency_history(),
        lambda: int(time.time() * 1000),
        feedback=platform_concurrency(),
        ttl_ms=ttl_ms,
        retry_ms=min(ttl_ms, 300_000),
    )


@_once()
def _target_store(table: str, region: str) -> TargetStore:
    from infra.target_store import DynamoTargetStore

    return DynamoTargetStore(table, region)


def target_store(of: Settings | None = None) -> TargetStore:
    """The DynamoDB target store named by ``THERMOSTAT_TABLE`` (in ``of``, else the process's settings)."""
    current = of or settings()
    return _target_store(current.require_table(), current.region)


def payload_loader(allowed_buckets: frozenset[str]) -> PayloadLoader:
    """Reads a target's ``payloadS3`` (allow-listed, capped at the synchronous-invoke limit), with domain errors."""

    def load(uri: str) -> bytes:
        from thermostat_runtime import refs
        from thermostat_runtime.names import SYNC_INVOKE_LIMIT_BYTES

        try:
            return refs.read_reference(uri, allowed_buckets=allowed_buckets, max_bytes=SYNC_INVOKE_LIMIT_BYTES)
        except refs.PayloadRefNotFound as exc:
            raise NotFound(str(exc)) from exc
        except refs.PayloadRefUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        except refs.PayloadRefError as exc:
            raise InvalidInput(str(exc)) from exc

    return load


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


def rule_reader() -> EventBridgeRuleReader:
    """Reads EventBridge rules and their targets (``thermostat import lambda-warmer --rule``)."""
    from infra.eventbridge import EventBridgeRuleReader

    return EventBridgeRuleReader()


# -- advise (costs and recommendations) ----------------------------------------------------------


def function_shapes() -> BotoFunctionShapes:
    """Memory, architecture and runtime of the functions ``thermostat advise`` prices (one per command)."""
    from infra.function_shape import BotoFunctionShapes

    return BotoFunctionShapes()


def price_table(path: str | None = None) -> PriceTable:
    """The price table at ``path``, else ``THERMOSTAT_PRICES_FILE``'s, else the one shipped (validated)."""
    from infra.prices import load_price_table
    from infra.settings import load_settings

    return load_price_table(path or load_settings(only=("prices_file",)).prices_file)


# -- sharded keep-warm (the keep-warm handler, the keep-warm worker) ---------------------------

if TYPE_CHECKING:
    from infra.shard_ledger import DynamoShardLedger
    from infra.shard_queue import SqsShardQueue


@_once()
def shard_ledger() -> DynamoShardLedger:
    """The rounds' ledger (plans, shard reports, aggregates) on ``THERMOSTAT_TABLE``."""
    from infra.shard_ledger import DynamoShardLedger

    configured = settings()
    return DynamoShardLedger(configured.require_table(), configured.region)


def shard_queue() -> SqsShardQueue | None:
    """The worker's queue (``THERMOSTAT_SHARD_QUEUE``), or None when shards run in this process."""
    queue = settings().shard_queue
    return _shard_queue(queue) if queue else None


@_once()
def _shard_queue(url: str) -> SqsShardQueue:
    from infra.shard_queue import SqsShardQueue

    return SqsShardQueue(url)


def own_account(context: Any = None) -> str:
    """The control plane's account (the Lambda context's ARN, else one STS call per process)."""
    from infra.accounts import current_account

    return current_account(context)


def place_lambda(account: str, region: str, own: str, pool_size: int) -> tuple[BotoFunctionInvoker, LambdaConfig]:
    """The pings' invoker and a facts reader for ``account`` in ``region`` (another account: through its
    spoke role; ``AccessDenied`` when that role refuses us), for one shard: built per shard, because
    another account's credentials are renewed (the caller closes the invoker). The facts are read per
    round, not from the container's cache, whose entries are keyed by function name alone."""
    from infra.lambda_config import BotoLambdaConfig
    from infra.lambda_invoker import BotoFunctionInvoker

    client = spokes(own).client("lambda", account, region, max_pool_connections=pool_size)
    invoker = BotoFunctionInvoker(client, pool_size=pool_size)
    return invoker, BotoLambdaConfig(client, invoker=invoker)
