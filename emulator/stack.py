"""The embedded local stack: the whole control plane on 127.0.0.1, no AWS account, no Docker.

* DynamoDB, S3, STS, CloudWatch, CloudWatch Logs and EventBridge's control calls: moto's threaded
  server, through ``AWS_ENDPOINT_URL``;
* Lambda, where code really runs (a worker process per execution environment):
  :mod:`emulator.lambda_runner`, through ``AWS_ENDPOINT_URL_LAMBDA``;
* EventBridge ``PutEvents`` → rules → functions, and schedules: :mod:`emulator.event_router`,
  through ``AWS_ENDPOINT_URL_EVENTBRIDGE``;
* the CodeDeploy lifecycle (hooks, verdicts, alias shift): :mod:`emulator.codedeploy`, through
  ``AWS_ENDPOINT_URL_CODEDEPLOY``;
* function logs, EMF telemetry included: :mod:`emulator.log_forwarder` → moto's CloudWatch Logs;
* Lambda's own metrics (``AWS/Lambda``: invocations, errors, throttles, duration, concurrency, per
  function, version and alias, each minute): :mod:`emulator.runner_metrics` → moto's CloudWatch.

Functions come from ``serverless/template.yaml`` (handler, environment, timeout, memory, rules,
schedules) plus the demo targets of ``serverless/examples/targets``. Every boto3 client, in this
process and in every worker, reaches these parts through the standard endpoint variables only.
"""

from __future__ import annotations

import json
import os
import socket
import time

try:
    import fcntl

    _FLOCK = True
except ImportError:  # pragma: no cover - not POSIX: the recorded pid is all there is to go by
    _FLOCK = False
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import Conflict, InvalidInput, NotFound
from emulator.codedeploy import LocalCodeDeploy
from emulator.event_router import EventRouter
from emulator.lambda_runner import FunctionSpec, LambdaRunner
from emulator.log_forwarder import LogForwarder
from emulator.runner_metrics import DEFAULT_INTERVAL_S, LambdaMetrics
from emulator.template import LocalFunction, Template, load_template

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "serverless" / "layer" / "python"
TEMPLATE = ROOT / "serverless" / "template.yaml"
STATE_FILE = ROOT / ".thermostat" / "local.json"

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "thermostat-local"
TABLE = "thermostat-local"
PAYLOAD_BUCKET = "thermostat-local-payloads"
WARM_TAG = "thermostat:warm"
#: Seconds between two puts of the local runner's ``AWS/Lambda`` metrics (Lambda's own: 60).
METRICS_INTERVAL_VARIABLE = "THERMOSTAT_LOCAL_METRICS_INTERVAL"

#: The variables the stack sets while it runs (and restores after).
_MANAGED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_CODEDEPLOY",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_PROFILE",
    "THERMOSTAT_TABLE",
    "THERMOSTAT_PAYLOAD_BUCKETS",
)


@dataclass(frozen=True)
class DemoTarget:
    """A demo target function from ``serverless/examples/targets``."""

    name: str
    handler: str
    description: str
    environment: dict[str, str] = field(default_factory=dict)


TARGETS_DIR = ROOT / "serverless" / "examples" / "targets"

DEMO_TARGETS = (
    DemoTarget(
        "demo-greeter",
        "plain.lambda_handler",
        "plain @warmable target; its probe runs the real greeting logic",
    ),
    DemoTarget(
        "demo-orders",
        "dynamo_probe.lambda_handler",
        "its probe is a real DynamoDB round trip",
        {"DEMO_TABLE": TABLE},
    ),
)


def _reset_moto(url: str) -> None:
    """Empty every moto backend (moto's own ``POST /moto-api/reset``)."""
    import urllib.request

    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - our own http:// moto
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - the same
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    """Start, wire and stop every local part. Use as a context manager."""

    def __init__(
        self,
        template_path: Path = TEMPLATE,
        *,
        idle_timeout_s: float = 300.0,
        demo_targets: bool = True,
        run_schedules: bool = True,
        state_file: Path | None = STATE_FILE,
        hook_timeout_s: float = 60.0,
        state_dir: Path | None = None,
        metrics_interval_s: float | None = None,
    ) -> None:
        self.template_path = template_path
        #: How often the runner's ``AWS/Lambda`` metrics are put (checked now: a bad value starts nothing).
        self.metrics_interval_s = (
            metrics_interval_s if metrics_interval_s is not None else metrics_interval_from_environment()
        )
        if not self.metrics_interval_s > 0:
            raise InvalidInput(f"metrics_interval_s must be > 0 seconds, got {self.metrics_interval_s!r}")
        self.metrics: LambdaMetrics | None = None
        self.idle_timeout_s = idle_timeout_s
        self.with_demo_targets = demo_targets
        self.run_schedules = run_schedules
        self.state_file = state_file
        self.template: Template | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.moto: Any = None
        self.runner: LambdaRunner | None = None
        self.codedeploy: LocalCodeDeploy | None = None
        self.router: EventRouter | None = None
        self.logs = LogForwarder()
        self._saved_env: dict[str, str | None] = {}
        self.started_at = 0.0
        self.claim: StateFileClaim | None = None
        self.hook_timeout_s = hook_timeout_s
        #: ``--state DIR``: moto's thermostat state is loaded from and saved to it (None: in memory only).
        self.state_dir = state_dir
        #: What was loaded from ``state_dir`` at start (None: nothing was there).
        self.restored: dict[str, int] | None = None
        self._snapshot: dict[str, Any] | None = None
        #: The SQS event sources (the keep-warm worker's shard queue), polling while the stack runs.
        self.queue_sources: list[Any] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start every part (on failure, whatever started is stopped again).

        With a state file, first claim it: ``Conflict`` (nothing started, nothing touched) while
        another stack serves from it; a file left by a killed stack is replaced.
        """
        if self.state_dir is not None:
            from emulator import persist

            # Read before anything starts: an unreadable snapshot refuses the start and is left as it is.
            self._snapshot = persist.read(self.state_dir)
        if self.state_file is not None:
            self.claim = StateFileClaim(self.state_file).acquire()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.started_at = time.time()
        self._saved_env = {name: os.environ.get(name) for name in _MANAGED}
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "thermostat-local",
                "AWS_SECRET_ACCESS_KEY": "thermostat-local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "THERMOSTAT_TABLE": TABLE,
                "THERMOSTAT_PAYLOAD_BUCKETS": PAYLOAD_BUCKET,
            }
        )
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        # moto's state is per process, not per server: a stack started after another in the same
        # process (tests do) would find the last one's table, targets and buckets. A new stack is empty.
        _reset_moto(os.environ["AWS_ENDPOINT_URL"])
        from infra import aws

        aws.forget_sessions()  # a client of an earlier stack in this process (a table's too) points at its dead port

        values = {
            "Table": TABLE,
            "AWS::StackName": STACK_NAME,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "PayloadBuckets": PAYLOAD_BUCKET,
        }
        self.template = load_template(self.template_path, values)
        # The queues of SQS event sources, in moto (a queue's Ref is its URL), then the template again.
        queues = self._create_queues({queue for _, queue, _ in self.template.queue_sources()})
        if queues:
            self.template = load_template(self.template_path, {**values, **queues})
        self.functions = {fn.logical_id: fn for fn in self.template.functions()}
        self.codedeploy = LocalCodeDeploy(hook_timeout_s=self.hook_timeout_s)
        self.codedeploy.start()
        os.environ["AWS_ENDPOINT_URL_CODEDEPLOY"] = self.codedeploy.url
        self.router = EventRouter(
            self.template.rules(),
            self._deliver,
            deliver_and_wait=self._deliver_and_wait,
            upstream_url=os.environ["AWS_ENDPOINT_URL"],
            account=ACCOUNT,
            region=REGION,
            account_of=_moto_account_of,
        )
        os.environ["AWS_ENDPOINT_URL_EVENTBRIDGE"] = self.router.start(run_schedules=self.run_schedules)
        runner_port = _free_port()
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = f"http://127.0.0.1:{runner_port}"
        aws.forget_sessions()  # and clients made since follow the endpoints just set
        self.logs.start()
        self.metrics = LambdaMetrics(interval_s=self.metrics_interval_s).start()
        self.runner = LambdaRunner(
            port=runner_port,
            idle_timeout_s=self.idle_timeout_s,
            log_sink=self.logs,
            region=REGION,
            account_id=ACCOUNT,
            metrics=self.metrics,
        )
        self.runner.start()
        self._seed()
        self._start_queue_sources(queues)
        if self.state_dir is not None and self._snapshot is not None:
            from emulator import persist

            self.restored = persist.load(self.state_dir, self._snapshot, TABLE)
        self._write_state()

    def _create_queues(self, logical_ids: set[str]) -> dict[str, str]:
        """Create each queue (and its redrive policy's DLQ) in moto; ``{logical id: URL}``."""
        import json as _json

        from infra import aws

        assert self.template is not None
        sqs = aws.client("sqs")
        resources = self.template.resources("AWS::SQS::Queue")
        urls: dict[str, str] = {}
        for logical_id in sorted(logical_ids):
            attributes: dict[str, str] = {}
            redrive = (resources.get(logical_id, {}).get("Properties") or {}).get("RedrivePolicy")
            if isinstance(redrive, dict):
                target = redrive.get("deadLetterTargetArn") or {}
                dlq = target.get("Fn::GetAtt", [f"{logical_id}Dlq"])[0] if isinstance(target, dict) else str(target)
                dlq_url = sqs.create_queue(QueueName=f"{STACK_NAME}-{dlq}")["QueueUrl"]
                dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
                urls[dlq] = dlq_url
                attributes["RedrivePolicy"] = _json.dumps(
                    {
                        "deadLetterTargetArn": dlq_arn["QueueArn"],
                        "maxReceiveCount": str(redrive.get("maxReceiveCount", 3)),
                    }
                )
            urls[logical_id] = sqs.create_queue(QueueName=f"{STACK_NAME}-{logical_id}", Attributes=attributes)[
                "QueueUrl"
            ]
        return urls

    def _start_queue_sources(self, queues: dict[str, str]) -> None:
        """Poll each SQS event source's queue and invoke its function through the local runner."""
        from emulator.sqs_source import SqsEventSource

        assert self.template is not None
        for function, queue, batch in self.template.queue_sources():

            def handler(event: dict[str, Any], _context: Any, logical_id: str = function) -> Any:
                return self._deliver_and_wait(logical_id, event)

            source = SqsEventSource(
                queues[queue], handler, batch_size=min(max(batch, 1), 10), concurrency=2, retry_after_s=1
            )
            self.queue_sources.append(source.start())

    def _seed(self) -> None:
        from infra import aws
        from infra.table import create_table

        create_table(TABLE, REGION)
        aws.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        assert self.runner is not None
        for function in self.functions.values():
            self.runner.add_function(
                FunctionSpec(
                    name=function.name,
                    handler=function.handler,
                    environment={
                        **function.environment,
                        "THERMOSTAT_TABLE": TABLE,
                        "THERMOSTAT_PAYLOAD_BUCKETS": PAYLOAD_BUCKET,
                        # Locally every keep-warm round reads an auto target's history afresh (no
                        # hourly read budget to keep), so N follows the traffic at the next round.
                        "THERMOSTAT_AUTO_TTL": "0",
                    },
                    timeout_s=min(function.timeout_s, 900.0),
                    memory_mb=max(128, function.memory_mb),
                    log_format="JSON" if function.log_format == "JSON" else "Text",
                    code_paths=(str(ROOT), str(LAYER)),
                    description=f"template function {function.logical_id}",
                )
            )
        if self.with_demo_targets:
            for target in DEMO_TARGETS:
                self.add_target_function(target)

    def add_target_function(self, target: DemoTarget, alias: str = "live") -> str:
        """Register a demo target, publish version 1 and point ``alias`` at it."""
        assert self.runner is not None
        self.runner.add_function(
            FunctionSpec(
                name=target.name,
                handler=target.handler,
                environment=target.environment,
                timeout_s=10.0,
                code_paths=(str(TARGETS_DIR), str(LAYER)),
                tags={WARM_TAG: "true"},
                description=target.description,
            )
        )
        version = self.runner.publish_version(target.name)
        self.runner.create_alias(target.name, alias, version)
        return version

    def save(self) -> dict[str, int] | None:
        """Write the ``--state`` snapshot now (None without a state directory or a running moto)."""
        if self.state_dir is None or self.moto is None:
            return None
        from emulator import persist

        self.logs.flush()
        return persist.save(self.state_dir, TABLE)

    def stop(self) -> None:
        """Stop every part that started, then restore the environment (idempotent)."""
        for source in self.queue_sources:
            source.stop()
        self.queue_sources = []
        if self.state_dir is not None and self.moto is not None and self.runner is not None:
            # Saved while moto still runs; a stack that failed to start (no runner) saves nothing.
            self.save()
        for part in (self.router, self.codedeploy, self.runner):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # noqa: BLE001, S110 - stopping the others matters more
                    pass
        self.router = self.codedeploy = self.runner = None
        if self.metrics is not None:
            # After the runner (every invocation has ended), before moto: the last minute is put.
            self.metrics.stop()
            self.metrics = None
        self.logs.stop()
        if self.moto is not None:
            try:
                self.moto.stop()
            finally:
                self.moto = None
        if self.claim is not None:
            # Only the stack that holds the claim removes the state file: never another's.
            self.claim.release()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        from infra import aws

        aws.forget_sessions()  # nothing keeps a client of the endpoints that just stopped

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wiring ---------------------------------------------------------------------------

    def function_name(self, logical_id: str) -> str:
        """The local function name of a template function (by logical id)."""
        function = self.functions.get(logical_id)
        if function is None:
            raise NotFound(f"no function {logical_id!r} in {self.template_path}; known: {sorted(self.functions)}")
        return function.name

    def function_by_handler(self, handler: str) -> str:
        """The local name of the template function with this handler (e.g. ``handlers.keep_warm.lambda_handler``)."""
        for function in self.functions.values():
            if function.handler == handler:
                return function.name
        raise NotFound(f"no function with handler {handler!r} in {self.template_path}")

    def _deliver_and_wait(self, logical_id: str, event: Any) -> Any:
        """``put-event --wait``: a synchronous invocation, its answer returned, its error raised."""
        assert self.runner is not None
        result = self.runner.invoke(self.function_name(logical_id), json.dumps(event).encode())
        try:
            answer = json.loads(result.payload) if result.payload else None
        except ValueError:
            answer = result.payload.decode(errors="replace")
        if result.function_error:
            if isinstance(answer, dict):
                raise TargetFailed(f"{answer.get('errorType', result.function_error)}: {answer.get('errorMessage')}")
            raise TargetFailed(f"{result.function_error}: {answer}")
        if result.status_code != 200:
            raise TargetFailed(f"the invocation answered {result.status_code}")
        return answer

    def _deliver(self, logical_id: str, event: Any) -> None:
        """EventBridge delivers asynchronously: an Event invocation of the target."""
        assert self.runner is not None
        result = self.runner.invoke(self.function_name(logical_id), json.dumps(event).encode(), invocation_type="Event")
        if result.status_code not in (200, 202):
            raise InvalidInput(f"delivery to {logical_id} answered {result.status_code}")

    def _hook_function(self) -> str | None:
        try:
            return self.function_by_handler("handlers.pre_traffic.lambda_handler")
        except NotFound:
            return None

    @property
    def endpoints(self) -> dict[str, str]:
        """The endpoint variables a client of this stack needs."""
        return {
            name: os.environ[name] for name in _MANAGED if name.startswith("AWS_ENDPOINT_URL") and name in os.environ
        }

    def _write_state(self) -> None:
        if self.state_file is None or self.claim is None or not self.claim.held:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "endpoints": self.endpoints,
            "table": TABLE,
            "region": REGION,
            "hook_function": self._hook_function(),
            "state_dir": None if self.state_dir is None else str(self.state_dir),
        }
        self.state_file.write_text(json.dumps(state, indent=2))


def metrics_interval_from_environment() -> float:
    """``THERMOSTAT_LOCAL_METRICS_INTERVAL`` in seconds (default 60); ``InvalidInput`` says what to fix."""
    raw = os.environ.get(METRICS_INTERVAL_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InvalidInput(
            f"{METRICS_INTERVAL_VARIABLE}={raw!r} is not a number of seconds > 0; e.g. 60 (Lambda's own "
            "interval) or 1 to see the local runner's AWS/Lambda metrics sooner"
        )
    return value


class TargetFailed(Exception):
    """A target's invocation failed (its error type and message)."""


class StateFileClaim:
    """One serving stack per state file: an exclusive ``flock`` on ``<state file>.lock`` while it runs.

    The kernel drops the lock when its holder dies however it dies (SIGKILL included), so a state
    file left by a killed stack is recognised as stale (the lock is free) and replaced, and a pid
    reused by an unrelated process is not mistaken for a stack. The lock file itself stays (an
    empty file under ``.thermostat/``): deleting it would let two stacks lock two different files.
    """

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.lock_path = state_file.with_name(state_file.name + ".lock")
        self._handle: Any = None
        #: The pid recorded in a stale state file this claim replaced (None: there was none).
        self.replaced: int | str | None = None

    @property
    def held(self) -> bool:
        """True while this claim holds the lock."""
        return self._handle is not None

    def acquire(self) -> StateFileClaim:
        """Take the lock, or raise ``Conflict`` naming the stack that holds it; a stale file is removed."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        recorded = _recorded_pid(self.state_file)
        handle = self.lock_path.open("a+")
        if _FLOCK:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise self._busy(_recorded_pid(self.state_file)) from None
        elif isinstance(recorded, int) and recorded != os.getpid() and _alive(recorded):
            handle.close()
            raise self._busy(recorded)
        self._handle = handle
        if self.state_file.exists():
            self.replaced = recorded if recorded is not None else "unreadable"
            self.state_file.unlink(missing_ok=True)
        return self

    def release(self) -> None:
        """Remove the state file and drop the lock (idempotent; nothing is touched unless held)."""
        if self._handle is None:
            return
        try:
            self.state_file.unlink(missing_ok=True)
        finally:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None

    def _busy(self, pid: int | str | None) -> Conflict:
        who = f"pid {pid}" if pid is not None else "a process that has not written its state yet"
        return Conflict(
            f"another `thermostat local` ({who}) is serving from this checkout ({self.state_file}): "
            'use it (`eval "$(thermostat local env)"`) or stop it (Ctrl-C in its terminal) before starting another'
        )


def _recorded_pid(path: Path) -> int | str | None:
    """The pid a state file records, ``"unreadable"`` for a corrupt one, None when there is no file."""
    try:
        pid = json.loads(path.read_text()).get("pid")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return "unreadable"
    return pid if isinstance(pid, int) else "unreadable"


def register_demo_warm_targets(concurrency: int = 2, group: str = "default") -> list[str]:
    """Keep the demo targets warm (``thermostat local`` without ``--demo`` shows them working)."""
    from domain.targets import make_target
    from infra.target_store import DynamoTargetStore

    store = DynamoTargetStore(TABLE, REGION)
    for target in DEMO_TARGETS:
        store.put(make_target(function=target.name, qualifier="live", concurrency=concurrency, group=group))
    return [target.name for target in DEMO_TARGETS]


def export_lines(state: dict[str, Any]) -> list[str]:
    """``export`` lines that point a shell (and every thermostat command in it) at a running stack."""
    variables = {
        **state.get("endpoints", {}),
        "AWS_ACCESS_KEY_ID": "thermostat-local",
        "AWS_SECRET_ACCESS_KEY": "thermostat-local",
        "AWS_REGION": state.get("region", REGION),
        "AWS_DEFAULT_REGION": state.get("region", REGION),
        "THERMOSTAT_TABLE": state.get("table", TABLE),
        "THERMOSTAT_PAYLOAD_BUCKETS": PAYLOAD_BUCKET,
    }
    return [f"export {name}={value}" for name, value in sorted(variables.items())]


def read_state(path: Path = STATE_FILE) -> dict[str, Any]:
    """The endpoints of a running ``thermostat local`` (for ``thermostat local put-event``)."""
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidInput("no local stack is running: start one with `thermostat local` in another terminal") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is corrupt ({exc}); stop any `thermostat local` and start it again") from exc
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        raise InvalidInput(f"the local stack recorded in {path} (pid {pid}) is not running; start `thermostat local`")
    return dict(state)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def local_stack(**options: Any) -> Iterator[LocalStack]:
    """``with local_stack() as stack:`` — started, wired, stopped."""
    stack = LocalStack(**options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _moto_account_of(access_key: str) -> str:
    """The account moto issued ``access_key`` in (an assumed role's account; moto's default for others).

    moto serves many accounts at once: credentials from ``AssumeRole`` into
    ``arn:aws:iam::111111111111:role/…`` act as 111111111111, so a deploy tool "in another account"
    of the local Organization is just a client with such credentials.
    """
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(access_key))
