"""AWS calls per path of the deployment-bucket registry, counted with botocore event hooks (moto in-process).

Budgets (issue 3): the reuse path makes at most 2 AWS calls, the create path at most 6. Every
client on the path (the S3 store's, the registry's DynamoDB client, pynamodb's own clients, the
handler's EventBridge client) gets a ``before-call`` hook, so a call cannot go uncounted. Side
by side: the ratio of each path to its budget, its time against one bare ``HeadBucket`` measured
in the same run, and the buckets left by ten deploys against a tool that invents one per deploy.

Run: ``.venv/bin/python -m bench.bucket_calls``.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "serverless" / "layer" / "python"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench._common import format_table, machine_note, offline_aws, ratio, verdict  # noqa: E402

ACCOUNT = "123456789012"
TABLE = "thermostat-bench"
REUSE_BUDGET = 2
CREATE_BUDGET = 6
TIMED_RUNS = 15


class CallCounter:
    """Counts API calls by ``Service.Operation`` on every client it is attached to."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._attached: set[int] = set()

    def attach(self, client: Any) -> Any:
        if id(client) not in self._attached:
            self._attached.add(id(client))
            client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_id}.{model.name}"] += 1

    def measure(self, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
        before = Counter(self.calls)
        result = action()
        return result, self.calls - before


def _attach_pynamodb(counter: CallCounter) -> None:
    from infra.bucket_registry import BucketModel, StrayModel

    for model in (BucketModel, StrayModel):
        counter.attach(model._get_connection().connection.client)


def _fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" if count > 1 else name for name, count in sorted(calls.items()))


def _median_ms(action: Callable[[], Any], runs: int = TIMED_RUNS) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(samples)


def main() -> dict[str, Any]:
    """Count the calls of each path, print them against the budgets, and return the figures."""
    offline_aws(
        THERMOSTAT_TABLE=TABLE,
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    from moto import mock_aws

    with mock_aws():
        return _run()


def _run() -> dict[str, Any]:
    from domain.buckets import BucketKey, ensure_bucket
    from infra import aws
    from infra.bucket_registry import DynamoBucketRegistry
    from infra.s3_buckets import S3BucketStore
    from infra.settings import get_settings
    from infra.table import create_table

    get_settings.cache_clear()
    create_table(TABLE, "us-east-1")
    counter = CallCounter()
    s3 = counter.attach(aws.client("s3"))
    registry = DynamoBucketRegistry(TABLE, "us-east-1", client=counter.attach(aws.client("dynamodb")))
    store = S3BucketStore(ACCOUNT, client=s3)
    rng = random.Random(2024)
    registry.get(BucketKey(account=ACCOUNT, region="us-east-1", project="warm", stage="up"))
    registry.strays()
    _attach_pynamodb(counter)

    def ensure(project: str, stage: str = "prod", **options: Any) -> Any:
        key = BucketKey(account=ACCOUNT, region="us-east-1", project=project, stage=stage)
        return ensure_bucket(
            key,
            registry,
            store,
            time.time,
            sleep=time.sleep,
            rng=rng,
            stray_patterns=(r"^zappa-[a-z0-9]{9}$",),
            **options,
        )

    rows: list[list[object]] = []
    details: list[str] = []
    figures: dict[str, Any] = {}

    def record(path: str, calls: Counter[str], budget: int | None) -> None:
        total = sum(calls.values())
        slug = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
        figures[f"{slug}_calls"] = total
        figures[f"{slug}_detail"] = dict(calls)
        share = ratio(total, budget) if budget else None
        if budget:
            figures[f"{slug}_budget"] = budget
        rows.append([path, total, budget or "-", f"{share:.2f}" if share is not None else "-"])
        details.append(f"  {path}: {_fmt(calls)}")

    created, calls = counter.measure(lambda: ensure("shop"))
    record("create", calls, CREATE_BUDGET)
    _, calls = counter.measure(lambda: ensure("shop"))
    record("reuse", calls, REUSE_BUDGET)
    _, calls = counter.measure(lambda: ensure("shop", requested="zappa-q1w2e3r4t"))
    record("reuse + named stray", calls, None)
    s3.create_bucket(Bucket="acme-shop-artifacts")
    _, calls = counter.measure(lambda: ensure("acme", requested="acme-shop-artifacts"))
    record("adopt a named bucket", calls, None)
    s3.delete_bucket(Bucket=created.bucket)
    _, calls = counter.measure(lambda: ensure("shop"))
    record("repair (deleted out of band)", calls, None)

    # The handler's paths: the same policy plus the event receipt and the publication.
    from handlers import deployment_events, wiring
    from infra.accounts import current_account

    wiring.reset()
    counter.attach(wiring.s3_client("us-east-1"))
    counter.attach(wiring.bucket_registry().client)
    counter.attach(wiring.event_receipts().client)
    counter.attach(wiring.event_publisher().client)

    class Context:
        invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:deployment-events"
        aws_request_id = "bench"

    def deliver(event_id: str) -> Any:
        event = {
            "id": event_id,
            "source": "thermostat.deployments",
            "detail-type": "Deployment Requested",
            "detail": {"project": "handler", "stage": "prod"},
        }
        return deployment_events.lambda_handler(event, Context())

    from contextlib import redirect_stdout
    from io import StringIO

    with redirect_stdout(StringIO()):  # the telemetry line of each invocation
        _, calls = counter.measure(lambda: deliver("h-1"))
        record("handler: create", calls, None)
        _, calls = counter.measure(lambda: deliver("h-2"))
        record("handler: reuse", calls, None)
        _, calls = counter.measure(lambda: deliver("h-2"))
        record("handler: duplicate id", calls, None)
    sts = counter.attach(aws.client("sts"))
    _, calls = counter.measure(lambda: current_account(client=sts))
    record("CLI: account (once per process)", calls, None)

    # Time: each path against one bare HeadBucket on the same (in-process) moto.
    head_ms = _median_ms(lambda: s3.head_bucket(Bucket="acme-shop-artifacts"))
    reuse_ms = _median_ms(lambda: ensure("shop"))
    counter_projects = iter(range(10_000))
    create_ms = _median_ms(lambda: ensure(f"timed{next(counter_projects)}"))
    figures.update(head_bucket_ms=head_ms, reuse_ms=reuse_ms, create_ms=create_ms)

    # Buckets left by ten deploys of one key: a tool that invents one per deploy, and thermostat.
    before = len(s3.list_buckets()["Buckets"])
    for index in range(10):
        s3.create_bucket(Bucket=f"zappa-{index:09d}")
    naive = len(s3.list_buckets()["Buckets"]) - before
    before = len(s3.list_buckets()["Buckets"])
    for _ in range(10):
        ensure("tenfold")
    ours = len(s3.list_buckets()["Buckets"]) - before
    figures.update(buckets_after_10_deploys_naive=naive, buckets_after_10_deploys_thermostat=ours)

    print("AWS calls per path (botocore before-call hooks on every client; moto in-process)")
    print(format_table(["path", "calls", "budget", "calls/budget"], rows))
    print("calls made:")
    print("\n".join(details))
    print()
    print(
        format_table(
            ["time (median, moto in-process)", "ms", "x one HeadBucket"],
            [
                ["one bare HeadBucket (baseline)", head_ms, 1.0],
                ["reuse path", reuse_ms, ratio(reuse_ms, head_ms)],
                ["create path", create_ms, ratio(create_ms, head_ms)],
            ],
        )
    )
    print()
    print(
        format_table(
            ["buckets left by 10 deploys of one key", "buckets", "x thermostat"],
            [
                ["a bucket per deploy (Zappa slim_handler, unpinned)", naive, ratio(naive, ours)],
                ["thermostat", ours, 1.0],
            ],
        )
    )
    reuse_ok = figures["reuse_calls"] <= REUSE_BUDGET
    create_ok = figures["create_calls"] <= CREATE_BUDGET
    print()
    reuse_line = f"reuse path <= {REUSE_BUDGET} calls: {verdict(reuse_ok)}"
    print(f"{reuse_line}; create path <= {CREATE_BUDGET} calls: {verdict(create_ok)}")
    print(machine_note())
    figures.update(reuse_within_budget=reuse_ok, create_within_budget=create_ok)
    return figures


if __name__ == "__main__":
    main()
