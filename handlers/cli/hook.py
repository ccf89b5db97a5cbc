"""``thermostat hook run``: the pre-traffic warm-up and validation by hand (no CodeDeploy needed).

Runs exactly what the hook runs — N parallel invocations of the version, each after its own
jitter, the probe (or a payload with expectations) judged — and prints the verdict. Exit code
0 only on Succeeded, 1 on Failed, 2 on bad input. Nothing is reported to CodeDeploy.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidInput
from domain.expectations import parse_expectations
from domain.hook import HookConfig, HookStatus, LifecycleEvent, make_target, parse_jitter, run_warmup
from handlers.cli._args import command_group
from handlers.cli._checks import require_function
from handlers.cli._output import emit, print_table
from handlers.cli._progress import progress, record

if TYPE_CHECKING:
    from domain.invocation import FunctionInvoker, InvocationRequest, InvocationResult

COLUMNS = ("index", "delay_ms", "duration_ms", "environment_id", "start_kind", "ok", "error")


def register(commands: Any) -> None:
    """Add the ``hook`` command group."""
    actions = command_group(commands, "hook", "run the pre-traffic warm-up and validation by hand")
    run = actions.add_parser(
        "run",
        help="warm and validate a function version; exit 0 only on Succeeded",
        description=(
            "Invoke VERSION of FUNCTION N times in parallel, each after its own random delay, and judge every "
            "answer: the thermostat probe by default, or --payload/--payload-s3 with --expect checks."
        ),
    )
    run.add_argument("--function", required=True, help="function name or ARN")
    run.add_argument("--version", required=True, help="published version number (never $LATEST or an alias)")
    run.add_argument("--concurrency", type=int, default=None, help="parallel invocations (default 5)")
    run.add_argument("--jitter", default=None, metavar="MIN,MAX", help="delay range in seconds (default 0.25,0.4)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--payload", default=None, metavar="JSON", help="send this event instead of the probe")
    source.add_argument("--payload-s3", default=None, metavar="S3_URI", help="send the event stored at s3://B/K")
    run.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="EXPR",
        help="expectation on every response, e.g. 'statusCode == 200' (repeatable)",
    )
    run.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds to wait for each invocation")
    run.add_argument("--after-traffic", action="store_true", help="AfterAllowTraffic mode: the probe only, no jitter")
    run.add_argument(
        "--no-check", action="store_true", help="skip the look-up that refuses a missing function or version"
    )
    run.add_argument(
        "--no-telemetry",
        action="store_true",
        help="do not record the verdict in CloudWatch Logs (/thermostat/cli) for `thermostat report`",
    )
    run.set_defaults(run=run_hook)


def build_config(args: argparse.Namespace) -> HookConfig:
    """Turn the flags (and the THERMOSTAT_* defaults) into a warm-up configuration."""
    from handlers import wiring

    settings = wiring.settings()
    concurrency = settings.hook_concurrency if args.concurrency is None else args.concurrency
    if not 1 <= concurrency <= 100:
        raise InvalidInput(f"--concurrency {concurrency}: choose 1 to 100")
    jitter = settings.hook_jitter if args.jitter is None else parse_jitter(args.jitter)
    if args.timeout is not None and not 0 < args.timeout <= 900:
        raise InvalidInput(f"--timeout {args.timeout}: choose more than 0 and at most 900 seconds")
    expectations = parse_expectations("\n".join(args.expect)) if args.expect else ()
    lifecycle = LifecycleEvent.AFTER_ALLOW_TRAFFIC if args.after_traffic else LifecycleEvent.BEFORE_ALLOW_TRAFFIC
    payload: bytes | None = None
    if args.payload is not None:
        try:
            json.loads(args.payload)
        except ValueError as exc:
            raise InvalidInput(f"--payload is not JSON: {exc}") from exc
        payload = args.payload.encode()
    elif args.payload_s3 is not None:
        from infra.s3_payloads import read_payload_s3

        payload = read_payload_s3(args.payload_s3, settings.payload_buckets)
    if payload is not None and args.after_traffic:
        raise InvalidInput("--after-traffic runs the probe only: drop --payload/--payload-s3")
    return HookConfig(
        target=make_target(args.function, args.version),
        lifecycle=lifecycle,
        concurrency=concurrency,
        jitter=jitter,
        payload=payload,
        expectations=expectations,
        invoke_timeout_s=args.timeout,
        correlation_id=f"cli-{uuid.uuid4().hex[:12]}",
    )


class _Announcing:
    """The invoker, saying on stderr as each invocation answers (the warm-up takes its jitter plus the probes)."""

    def __init__(self, inner: FunctionInvoker, args: argparse.Namespace, total: int) -> None:
        self._inner = inner
        self._args = args
        self._total = total
        self._answered = 0
        self._lock = threading.Lock()

    def invoke(self, request: InvocationRequest) -> InvocationResult:
        result = self._inner.invoke(request)
        with self._lock:
            self._answered += 1
            answered = self._answered
        how = "answered" if result.ok else f"{result.outcome.value}: {result.error or 'no detail'}"
        progress(self._args, f"  invocation {answered}/{self._total} {how} ({result.duration_ms:.0f} ms)")
        return result


def run_hook(args: argparse.Namespace) -> int:
    """Check the version exists, run the warm-up, print the verdict and record it."""
    config = build_config(args)
    from handlers.pre_traffic import verdict_metric_documents
    from infra.lambda_invoker import BotoFunctionInvoker

    target = config.target
    if not args.no_check:
        # Once, before any jitter: a missing version is the user's to fix, not N failed invocations.
        require_function(target.function, target.version, skip_hint="or pass --no-check to invoke anyway")
    low, high = config.jitter
    delays = "no jitter" if config.lifecycle is LifecycleEvent.AFTER_ALLOW_TRAFFIC else f"{low:g}-{high:g} s jitter"
    progress(args, f"warming {target.function}:{target.version}: {config.concurrency} invocations, {delays}…")
    invoker = BotoFunctionInvoker(pool_size=max(10, config.concurrency))
    try:
        verdict = run_warmup(
            config,
            _Announcing(invoker, args, config.concurrency),
            rng=random.Random(),
            clock=time.monotonic,
            sleeper=time.sleep,
        )
    finally:
        invoker.close()
    record(args, verdict_metric_documents(verdict), "hook verdict")
    document = verdict.as_dict()
    if getattr(args, "json", False):
        emit(args, document)
    else:
        rows = [invocation.model_dump(mode="json") for invocation in verdict.invocations]
        print_table(rows, columns=COLUMNS, title=f"{verdict.status.value}: {verdict.reason}")
    return 0 if verdict.status is HookStatus.SUCCEEDED else 1
