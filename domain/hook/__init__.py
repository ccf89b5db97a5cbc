"""The pre-traffic hook: warm-up plan, verdict rules, and the exactly-once report.

CodeDeploy invokes the hook asynchronously with ``{DeploymentId, LifecycleEventHookExecutionId}``
and then waits up to an hour for ``PutLifecycleEventHookExecutionStatus``. The rules here make
sure it never waits in vain. Read in this order:

* :mod:`~domain.hook.target`: the event, the version under test, and what the AppSpec says;
* :mod:`~domain.hook.plan`: the warm-up's configuration, delays, holds and requests;
* :mod:`~domain.hook.verdict`: each answer judged, and the verdict;
* :mod:`~domain.hook.warmup`: N parallel invocations, each after its own jitter, within the deadline;
* :mod:`~domain.hook.delivery`: claim, record, report, complete — exactly once;
* :mod:`~domain.hook.service`: :func:`serve_hook_execution`, the one use case.

Randomness, the clock, sleeping, invoking, reporting and the idempotency store are all passed in.
"""

from domain.hook.delivery import (
    DEFAULT_LEASE_S,
    MAX_REASON_CHARS,
    Delivery,
    HookExecution,
    Incident,
    ReportOutcome,
    StatusReporter,
    verdict_outcome,
)
from domain.hook.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HOLD_MARGIN_MS,
    DEFAULT_JITTER,
    HookConfig,
    HookSettings,
    PayloadReader,
    hold_ms_for,
    parse_jitter,
    plan_delays,
    request_payload,
)
from domain.hook.service import HookDependencies, serve_hook_execution
from domain.hook.target import (
    AppSpecTarget,
    DeploymentReader,
    HookEvent,
    HookStatus,
    LifecycleEvent,
    VersionUnderTest,
    function_name,
    hook_ids,
    make_target,
    parse_hook_event,
    resolve_target,
)
from domain.hook.verdict import InvocationReport, Verdict, decide, failed, judge
from domain.hook.warmup import MIN_INVOKE_S, POLL_S, reserve_for, run_warmup

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_HOLD_MARGIN_MS",
    "DEFAULT_JITTER",
    "DEFAULT_LEASE_S",
    "MAX_REASON_CHARS",
    "MIN_INVOKE_S",
    "POLL_S",
    "AppSpecTarget",
    "Delivery",
    "DeploymentReader",
    "HookConfig",
    "HookDependencies",
    "HookEvent",
    "HookExecution",
    "HookSettings",
    "HookStatus",
    "Incident",
    "InvocationReport",
    "LifecycleEvent",
    "PayloadReader",
    "ReportOutcome",
    "StatusReporter",
    "Verdict",
    "VersionUnderTest",
    "decide",
    "failed",
    "function_name",
    "hold_ms_for",
    "hook_ids",
    "judge",
    "make_target",
    "parse_hook_event",
    "parse_jitter",
    "plan_delays",
    "request_payload",
    "reserve_for",
    "resolve_target",
    "run_warmup",
    "serve_hook_execution",
    "verdict_outcome",
]
