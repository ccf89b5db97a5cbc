"""Cold init of each control-plane handler against the SDK floor (issue 7, "Proof").

For each handler: ``import handlers.X`` plus building what its first invocation builds, in a
fresh subprocess: its adapters and every SDK client a typical first event makes them build (the
claim's DynamoDB client, the S3, EventBridge, CodeDeploy and Lambda clients, and pynamodb's
client of each record model the event reads or writes), against the floor: one botocore
session plus the same clients (the same services, as many of each, found by watching botocore in
a first run), and no ``import boto3``. Goal (issue 14.4): handler / floor <= 1.2x.
``python -X importtime`` then says which packages cost the difference, i.e. what could be
deferred off the init path.

The floor is built the way the handlers build their clients (one botocore session, ``infra.aws``),
so the ratio is what thermostat's code and its libraries (pydantic, pynamodb, Powertools) add on
top of the SDK — the earlier floor paid ``import boto3`` and a boto3 session, which the handlers
skip, and so flattered them.

Measured the way Lambda loads a function:

* a clean interpreter (a throw-away venv on this machine's base Python, no ``.pth`` hooks), with
  PYTHONPATH = the repository root (the bundle), the layer's ``python/`` (``/opt/python``), then
  the project venv's site-packages (the bundled dependencies) — the same for every case;
* bytecode compiled first, PYTHONDONTWRITEBYTECODE removed (the bundle ships ``.pyc`` files);
* no network: fake credentials, and the snippets build clients without calling AWS;
* cases interleaved round-robin, medians of ``repeats`` fresh processes.

Not measured, on either side: the first request's own work (TLS set-up, the CA bundle, the
event's parsing and the pydantic models validated on the way).

Before timing, each handler runs its real first invocation once (:func:`import_facts`: its sample
event from ``serverless/events/``, against a local stack of moto, a simulated Lambda and the local
CodeDeploy) in a fresh interpreter, which says what that invocation imports beyond the snippets
below (timed as one more phase) and which of our pydantic models it built without using
(:data:`UNUSED_MODELS_ALLOWED` names those that stay, and why).
"""

from __future__ import annotations

import compileall
import json
import resource
import sys
import sysconfig
import tempfile
import venv
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._common import (
    LAYER_DIR,
    REPO_ROOT,
    check_runs,
    format_table,
    interleaved,
    last_json_line,
    machine_note,
    median,
    parse_importtime,
    ratio,
    subprocess_env,
    subprocess_ms,
    verdict,
)

GOAL_RATIO = 1.2
ACCOUNT = "123456789012"

#: Each handler's import; then what its first invocation builds (its composition root and the
#: clients its adapters build lazily on a typical first event), without calling AWS; then the
#: pynamodb record models that event reads or writes ("module:Model"), each with its own client.
HANDLERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "deployment_events": (
        "import handlers.deployment_events as h",
        # "Deployment Requested": receipt and claim (plain DynamoDB clients), bucket, answer.
        "from handlers import wiring as w\n"
        f"w.bucket_registry().client; w.event_receipts().client; w.event_publisher().client; "
        f"w.bucket_store('{ACCOUNT}', 'us-east-1').client",
        ("infra.bucket_registry:BucketModel",),
    ),
    "keep_warm": (
        "import handlers.keep_warm as h",
        # The pings' invoker (its own Lambda client) and the configuration look-ups' client.
        "from infra.settings import get_settings\n"
        "size = get_settings().max_in_flight\n"
        "from handlers import wiring\n"
        "wiring.keep_warm_invoker(size)._base_client(); wiring.lambda_config(size).client; wiring.target_store()",
        ("infra.target_store:TargetRecord",),
    ),
    "pre_traffic": (
        "import handlers.pre_traffic as h",
        # The template sets no THERMOSTAT_HOOK_TARGET: the AppSpec is read, then the verdict reported.
        "from handlers import wiring as w\n"
        "w.appspec_reader().client; w.codedeploy_reporter().client; w.hook_invoker(5)._base_client(); "
        "w.hook_ledger().client",
        (),
    ),
    "sweeper": (
        "import handlers.sweeper as h",
        f"from handlers import wiring as w\nw.bucket_registry(); w.bucket_store('{ACCOUNT}', 'us-east-1').client",
        ("infra.bucket_registry:BucketModel", "infra.bucket_registry:StrayModel"),
    ),
}

#: The AWS services each handler's first invocation calls (its IAM policy in template.yaml).
#: A service that the snippets above do not build is built here, so that both sides of the
#: comparison hold the same clients.
SERVICES: dict[str, tuple[str, ...]] = {
    "deployment_events": ("dynamodb", "s3", "events"),
    "keep_warm": ("dynamodb", "lambda"),
    "pre_traffic": ("dynamodb", "codedeploy", "lambda"),
    "sweeper": ("dynamodb", "s3"),
}


def pynamodb_clients(models: tuple[str, ...]) -> str:
    """Bind the table as the adapters do, then build each record model's client, as its first request does."""
    lines = [
        "from infra.settings import get_settings",
        "from infra.table import bind_table",
        "bind_table(get_settings().require_table(), get_settings().region)",
    ]
    for spec in models:
        module, name = spec.split(":")
        lines += [f"from {module} import {name}", f"{name}._get_connection().connection.client"]
    return "\n".join(lines)


_SPY = """
import json, sys
import botocore.client as _bc
_services = []
_create = _bc.ClientCreator.create_client
def _spy(self, service_name, *args, **kwargs):
    _services.append(service_name)
    return _create(self, service_name, *args, **kwargs)
_bc.ClientCreator.create_client = _spy
{snippet}
print(json.dumps(_services))
"""


def floor_snippet(services: list[str]) -> str:
    """One botocore session and one plain client per service built by the handler (same count), no boto3.

    Built the way the handlers build theirs (``infra.aws``: botocore only), so that the ratio shows
    what thermostat's own code and libraries add, not what it saves by skipping boto3.
    """
    lines = ["import botocore.session", "session = botocore.session.get_session()"]
    lines += [f"session.create_client({service!r}, region_name='us-east-1')" for service in services]
    return "\n".join(lines)


def phased(phases: list[tuple[str, str]]) -> str:
    """One program running ``phases`` in order and printing each one's milliseconds as JSON."""
    lines = ["import time as _time", "_phases = {}", "_began = _time.perf_counter()"]
    for label, code in phases:
        lines.append(code)
        lines.append(f"_phases[{label!r}] = (_time.perf_counter() - _began) * 1000.0; _began = _time.perf_counter()")
    lines.append("import json as _json; print(_json.dumps(_phases))")
    return "\n".join(lines)


def _environment(site_packages: str) -> dict[str, str]:
    env = subprocess_env(pythonpath=[REPO_ROOT, LAYER_DIR, site_packages])
    for name in list(env):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_", "THERMOSTAT_")):
            del env[name]
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "THERMOSTAT_TABLE": "thermostat-bench",
        }
    )
    return env


def _children_cpu_ms() -> float:
    """User + system CPU time of every child this process has waited for, in milliseconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


def _packages(stderr: str) -> dict[str, int]:
    """Self import time (µs) per top-level package, from one ``-X importtime`` run."""
    totals: dict[str, int] = defaultdict(int)
    for name, own, _cumulative, _depth in parse_importtime(stderr):
        totals[name.split(".", 1)[0]] += own
    return dict(totals)


def import_costs(
    python: Path, env: dict[str, str], cwd: Path, handler: str, floor: str, runs: int
) -> list[dict[str, Any]]:
    """Packages by the median self import time they add over the floor (what to defer)."""
    added: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        _, handler_err = check_runs([str(python), "-X", "importtime", "-c", handler], env=env, cwd=cwd)
        _, floor_err = check_runs([str(python), "-X", "importtime", "-c", floor], env=env, cwd=cwd)
        ours, base = _packages(handler_err), _packages(floor_err)
        for package in set(ours) | set(base):
            added[package].append((ours.get(package, 0) - base.get(package, 0)) / 1000.0)
    rows = [{"package": package, "added_ms": round(median(values), 2)} for package, values in added.items()]
    return sorted((row for row in rows if row["added_ms"] > 0.5), key=lambda row: -row["added_ms"])


#: Modules no handler's first invocation uses, kept off every cold path: each is imported where it
#: is needed (``thermostat report``'s models by the store method that reads rounds, the platform
#: records' models and log readers by an auto target's first history read; boto3 never).
OFF_THE_COLD_PATH: tuple[str, ...] = (
    "boto3",
    "s3transfer",
    "domain.platform_report",
    "infra.platform_source",
    "infra.telemetry_source",
    "handlers.cli",
    "emulator",
    "thermostat_runtime.refs",
    # The sharded round (plan, shard reports, ledger, queue): imported once a round is sharded, not to ask whether.
    "handlers.keep_warm_shards",
    "domain.keep_warm.shards",
    "domain.keep_warm.shard_reports",
    "infra.shard_ledger",
    "infra.shard_queue",
)

#: Our pydantic models built at cold start that a handler's first invocation (its sample event)
#: never validates nor serialises, each with why it stays: it costs 0.1-0.8 ms to build (its schema
#: alone, ``model_rebuild``: 0.1-0.3 ms), and it lives in a module the invocation needs for other
#: names (moving it would split a module for under a millisecond; ``defer_build`` saves half that). Any model
#: built and unused that is not named here is reported as unexplained, and fails
#: ``tests/unit/test_cold_init.py``: import it where it is used.
UNUSED_MODELS_ALLOWED: dict[str, str] = {
    "domain.targets:TargetProblem": "a stored target that no longer validates (domain.targets: Target)",
    "domain.buckets.ports:BucketInfo": "a bucket's listing, read by the sweep (domain.buckets.ports: the ports)",
    "domain.buckets.ports:BucketProbe": "HeadBucket's answer when a name is taken (domain.buckets.ports)",
    "domain.buckets.service:CreateBucketCall": "a CreateBucket CloudTrail event (domain.buckets.service)",
    "domain.buckets.strays:StrayFinding": "the sweep's findings (domain.buckets: one package import)",
    "domain.buckets.strays:SweepReport": "the sweep's report (domain.buckets: one package import)",
    "domain.buckets.model:DeploymentRequest": "the deploy event's detail (domain.buckets.model: the records)",
    "domain.buckets.model:Resolution": "the registry's answer to a deploy (domain.buckets.model)",
    "domain.buckets.model:StrayRecord": "a recorded stray bucket, when there is one (domain.buckets.model)",
    "domain.idempotency:Claim": "an event receipt's claim (domain.buckets.service's receipts)",
}

#: The event of each handler's first invocation: AWS's sample events in serverless/events/ (the
#: hook's ids are replaced by the local CodeDeploy's, which knows only its own deployments).
EVENTS = {
    "deployment_events": "deployment-requested.json",
    "keep_warm": "keep-warm-schedule.json",
    "pre_traffic": "codedeploy-hook.json",
    "sweeper": "sweeper-schedule.json",
}

_OURS = ("domain", "infra", "handlers", "thermostat_runtime")

_IMPORT_PROBE = """
import contextlib, io, json, sys
_before = set(sys.modules)
{import_code}
from infra import aws
from infra.settings import get_settings
at_import = {{"sessions": len(aws._sessions), "settings_read": get_settings.cache_info().currsize}}
_imported = set(sys.modules)

# Every pydantic model of ours, at import and later: which are validated or serialised by the
# first invocation (a proxy in front of each one's validator and serializer notes the use).
from pydantic import BaseModel
from pydantic._internal._model_construction import ModelMetaclass
_used = set()
class _Noted:
    def __init__(self, cls, real):
        self._cls, self._real = cls, real
    def __getattr__(self, name):
        _used.add(self._cls)
        return getattr(self._real, name)
def _watch(cls):
    for slot in ("__pydantic_validator__", "__pydantic_serializer__"):
        real = cls.__dict__.get(slot)
        if real is not None and cls.__dict__.get("__pydantic_complete__"):
            type.__setattr__(cls, slot, _Noted(cls, real))
def _all(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all(sub)
def _ours(cls):
    return cls.__module__.split(".")[0] in {ours!r}
at_import_models = [cls for cls in _all(BaseModel) if _ours(cls)]
for cls in at_import_models:
    _watch(cls)
_new = ModelMetaclass.__new__
def _new_watched(mcs, *args, **kwargs):
    cls = _new(mcs, *args, **kwargs)
    if _ours(cls):
        _watch(cls)
    return cls
ModelMetaclass.__new__ = staticmethod(_new_watched)

class _Context:
    aws_request_id = "cold-init-1"
    function_name = "thermostat-{name}"
    invoked_function_arn = "arn:aws:lambda:us-east-1:{account}:function:thermostat-{name}"
    def get_remaining_time_in_millis(self):
        return 60_000
with contextlib.redirect_stdout(io.StringIO()):
    answer = h.lambda_handler(json.loads({event!r}), _Context())
ModelMetaclass.__new__ = _new

def _fields(schema, found):
    if isinstance(schema, dict):
        if schema.get("type") == "model" and isinstance(schema.get("cls"), type):
            found.add(schema["cls"])
        for value in schema.values():
            _fields(value, found)
    elif isinstance(schema, (list, tuple)):
        for value in schema:
            _fields(value, found)
needed = set(_used)
for cls in _used:
    _fields(cls.__dict__.get("__pydantic_core_schema__"), needed)
built = [cls for cls in _all(BaseModel) if _ours(cls) and cls.__dict__.get("__pydantic_complete__")]
_name = lambda cls: cls.__module__ + ":" + cls.__qualname__
off_path = sorted(name for name in {off_path!r} if name in sys.modules)
print(json.dumps({{**at_import, "boto3": "boto3" in sys.modules, "sessions_after": len(aws._sessions),
                  "off_the_cold_path_loaded": off_path,
                  "answered": isinstance(answer, dict),
                  "status": answer.get("status") if isinstance(answer, dict) else None,
                  "models_built": len(built),
                  "models_used": len([cls for cls in built if cls in needed]),
                  "models_unused": sorted(_name(cls) for cls in built if cls not in needed),
                  "models_unused_unexplained": sorted(
                      _name(cls) for cls in built if cls not in needed and _name(cls) not in {allowed!r}),
                  "first_invocation_modules": sorted(
                      m for m in set(sys.modules) - _imported if m.split(".")[0] in {ours!r})}}))
"""


class _FirstInvocationWorld:
    """What a first invocation talks to, on 127.0.0.1: moto (DynamoDB, S3, EventBridge, STS), a
    simulated Lambda (the keep-warm target and the hook's version under test, both speaking the
    protocol, the latter with a passing probe: the hook's verdict is Succeeded) and the local
    CodeDeploy (the hook's AppSpec and its report); the table, one target
    and one registered deployment bucket.
    """

    def __enter__(self) -> _FirstInvocationWorld:
        import logging
        import os
        import time
        import uuid

        from moto.server import ThreadedMotoServer

        from emulator.codedeploy import LocalCodeDeploy
        from emulator.simulated_lambda import LambdaEndpoint, SimulatedFunction

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request on stderr
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        orders = SimulatedFunction("orders", qualifiers={"live": "2", "1": "1", "2": "2"}, probe={"ok": True})
        self._lambda = LambdaEndpoint([orders])
        self._lambda.start()
        self._codedeploy = LocalCodeDeploy().start()
        self.deployment = self._codedeploy.add_deployment(
            "orders", "live", "1", "2", hooks={"BeforeAllowTraffic": "hook"}
        )
        self.table = f"thermostat-cold-{uuid.uuid4().hex[:8]}"
        saved = dict(os.environ)
        try:
            os.environ.update(self.env())
            from domain.buckets import BucketKey, BucketRecord, BucketState
            from domain.targets import make_target
            from infra import aws
            from infra.bucket_registry import DynamoBucketRegistry
            from infra.settings import get_settings
            from infra.table import create_table
            from infra.target_store import DynamoTargetStore

            get_settings.cache_clear()
            create_table(self.table, "us-east-1")
            DynamoTargetStore(self.table, "us-east-1").put(
                make_target(function="orders", qualifier="live", concurrency=3, hold_ms=50)
            )
            # A registry that already holds a deployment bucket: what the sweeper finds after any deploy.
            bucket = f"orders-dev-{uuid.uuid4().hex[:10]}"
            aws.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
            key = BucketKey.of(account=ACCOUNT, region="us-east-1", project="orders", stage="dev")
            now = time.time()
            DynamoBucketRegistry(self.table, "us-east-1").claim(
                BucketRecord(
                    key=key, bucket=bucket, state=BucketState.READY, claim_id="seed", claimed_at=now, ready_at=now
                )
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return self

    def env(self) -> dict[str, str]:
        """The variables that point a handler at this world."""
        return {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_LAMBDA": self._lambda.url,
            "AWS_ENDPOINT_URL_CODEDEPLOY": self._codedeploy.url,
            "AWS_MAX_ATTEMPTS": "2",
            "THERMOSTAT_TABLE": self.table,
            "THERMOSTAT_HOOK_JITTER": "0.01,0.02",
        }

    def event(self, name: str) -> str:
        """``name``'s first event: its sample from serverless/events/ (the hook's: with this world's ids)."""
        event = json.loads((REPO_ROOT / "serverless" / "events" / EVENTS[name]).read_text(encoding="utf-8"))
        if name == "pre_traffic":
            event = {
                "DeploymentId": self.deployment.deployment_id,
                "LifecycleEventHookExecutionId": self.deployment.execution_id("BeforeAllowTraffic"),
            }
        return json.dumps(event)

    def __exit__(self, *exc: object) -> None:
        self._codedeploy.stop()
        self._lambda.stop()
        self._moto.stop()


def import_facts(name: str, world: _FirstInvocationWorld | None = None) -> dict[str, Any]:
    """What importing handler ``name`` built, then what its real first invocation built, in a fresh interpreter.

    The invocation runs against ``world`` (a new one when None): its sample event, the local stack.
    ``{"sessions", "settings_read"}`` at import (both 0 when the import reads nothing), then
    ``"boto3"`` (imported at all?), ``"sessions_after"`` (botocore sessions once it ran),
    ``"off_the_cold_path_loaded"`` (which of :data:`OFF_THE_COLD_PATH` got loaded anyway: none, if
    lean), ``"models_built"``/``"models_used"``/``"models_unused"`` (our pydantic models whose schema
    was built by then; used = validated or serialised, or a field of one that was) and
    ``"first_invocation_modules"`` (our modules the invocation imported after the handler's import).
    """
    if world is None:
        with _FirstInvocationWorld() as fresh:
            return import_facts(name, fresh)
    import_code = HANDLERS[name][0]
    program = _IMPORT_PROBE.format(
        import_code=import_code,
        name=name,
        account=ACCOUNT,
        event=world.event(name),
        ours=_OURS,
        off_path=OFF_THE_COLD_PATH,
        allowed=sorted(UNUSED_MODELS_ALLOWED),
    )
    env = _environment(str(REPO_ROOT))
    env.update(world.env())
    env.update(PYTHONPATH=f"{REPO_ROOT}:{LAYER_DIR}", PYTHONDONTWRITEBYTECODE="1")
    stdout, _ = check_runs([sys.executable, "-c", program], env=env, cwd=REPO_ROOT)
    return last_json_line(stdout)


def main(
    repeats: int = 7,
    importtime_runs: int = 3,
    top: int = 8,
    handlers: tuple[str, ...] | None = None,
    facts_only: bool = False,
) -> dict[str, Any]:
    """Measure every handler against its floor; print the tables and return the figures.

    With ``facts_only``, nothing is timed: only :func:`import_facts` of each handler is printed and returned.
    """
    names = handlers or tuple(HANDLERS)
    with _FirstInvocationWorld() as world:
        facts = {name: import_facts(name, world) for name in names}
    if facts_only:
        for name, seen in facts.items():
            print(f"{name}: {json.dumps(seen, sort_keys=True)}")
        return {"import_facts": facts}
    site_packages = sysconfig.get_paths()["purelib"]
    for directory in (REPO_ROOT / "domain", REPO_ROOT / "infra", REPO_ROOT / "handlers", LAYER_DIR):
        compileall.compile_dir(directory, quiet=1)
    compileall.compile_dir(site_packages, quiet=1, workers=0)
    with tempfile.TemporaryDirectory(prefix="thermostat-cold-init-") as scratch:
        work = Path(scratch)
        venv.create(work / "venv", with_pip=False, symlinks=True, clear=True)
        python = work / "venv" / "bin" / "python"
        env = _environment(site_packages)

        def run(snippet: str) -> str:
            stdout, _ = check_runs([str(python), "-c", snippet], env=env, cwd=work)
            return stdout.strip().splitlines()[-1]

        phases: dict[str, list[tuple[str, str]]] = {}
        services: dict[str, list[str]] = {}
        for name in names:
            import_code, adapters_code, models = HANDLERS[name]
            steps = [
                ("import", import_code),
                ("adapters", adapters_code),
                ("pynamodb clients", pynamodb_clients(models)),
                # What the real first invocation imports beyond that (the facts' run saw it): its cost counts.
                ("first-invocation imports", "\n".join(f"import {m}" for m in facts[name]["first_invocation_modules"])),
            ]
            built = json.loads(run(_SPY.format(snippet="\n".join(code for _, code in steps))))
            missing = [service for service in SERVICES[name] if service not in built]
            if missing:
                steps.append(
                    ("lazy clients", "from infra import aws\n" + "\n".join(f"aws.client({s!r})" for s in missing))
                )
            phases[name] = steps
            services[name] = json.loads(run(_SPY.format(snippet="\n".join(code for _, code in steps))))
        floors = {name: [("clients", floor_snippet(services[name]))] for name in names}

        cpu: dict[str, list[float]] = defaultdict(list)

        def timed(case: str, program: str) -> Any:
            def sample() -> float:
                before = _children_cpu_ms()
                wall = subprocess_ms([str(python), "-c", program], env=env, cwd=work)
                cpu[case].append(_children_cpu_ms() - before)
                return wall

            return sample

        cases: dict[str, Any] = {"bare interpreter": timed("bare interpreter", "pass")}
        for name in names:
            cases[name] = timed(name, phased(phases[name]))
            cases[f"{name} floor"] = timed(f"{name} floor", phased(floors[name]))
        samples = interleaved(cases, repeats)
        medians = {case: median(values) for case, values in samples.items()}
        # CPU time of each fresh process (user + system), the warm-up round left out: a neighbour's
        # load stretches the wall clock far more than it stretches the child's own CPU time.
        cpu_medians = {case: median(values[-repeats:]) for case, values in cpu.items()}

        breakdown: dict[str, dict[str, float]] = {}
        for name in names:
            for label, steps in ((name, phases[name]), (f"{name} floor", floors[name])):
                runs = [json.loads(run(phased(steps))) for _ in range(max(3, repeats // 2))]
                breakdown[label] = {step: round(median(r[step] for r in runs), 1) for step, _ in steps}

        costs = {
            name: import_costs(
                python, env, work, "\n".join(code for _, code in phases[name]), phased(floors[name]), importtime_runs
            )[:top]
            for name in names
        }

    rows = []
    figures: dict[str, Any] = {"bare_ms": round(medians["bare interpreter"], 1), "handlers": {}}
    for name in names:
        handler_ms, floor_ms = medians[name], medians[f"{name} floor"]
        handler_ratio = ratio(handler_ms, floor_ms)
        cpu_ms, cpu_floor_ms = cpu_medians[name], cpu_medians[f"{name} floor"]
        cpu_ratio = ratio(cpu_ms, cpu_floor_ms)
        rows.append(
            [
                name,
                handler_ms,
                floor_ms,
                handler_ms - floor_ms,
                f"{handler_ratio:.2f}x",
                cpu_ms,
                cpu_floor_ms,
                f"{cpu_ratio:.2f}x",
                ", ".join(services[name]),
            ]
        )
        figures["handlers"][name] = {
            "handler_ms": round(handler_ms, 1),
            "floor_ms": round(floor_ms, 1),
            "added_ms": round(handler_ms - floor_ms, 1),
            "ratio": round(handler_ratio, 3),
            "goal_met": handler_ratio <= GOAL_RATIO,
            "cpu_ms": round(cpu_ms, 1),
            "cpu_floor_ms": round(cpu_floor_ms, 1),
            "cpu_ratio": round(cpu_ratio, 3),
            "goal_met_cpu": cpu_ratio <= GOAL_RATIO,
            "clients": services[name],
            "phases_ms": breakdown[name],
            "floor_phases_ms": breakdown[f"{name} floor"],
            "import_costs_over_floor": costs[name],
            "first_invocation": facts[name],
        }
    print(f"Cold init, fresh process, median of {repeats} (bare interpreter: {medians['bare interpreter']:.0f} ms)")
    print(
        format_table(
            ["handler", "init ms", "floor ms", "added ms", "vs floor", "cpu ms", "cpu floor", "cpu vs", "clients"],
            rows,
        )
    )
    print("\nWhere the time goes (in-process, ms, median):")
    for name in names:
        ours = ", ".join(f"{step} {ms:.0f}" for step, ms in breakdown[name].items())
        floor = ", ".join(f"{step} {ms:.0f}" for step, ms in breakdown[f"{name} floor"].items())
        print(f"  {name}: {ours}  |  floor: {floor}")
    print(f"\nImport time over the floor, by package (ms, self, median of {importtime_runs} -X importtime runs):")
    for name in names:
        listed = ", ".join(f"{row['package']} +{row['added_ms']:.1f}" for row in costs[name]) or "nothing over 0.5 ms"
        print(f"  {name}: {listed}")
    print("\nOur pydantic models at the end of the real first invocation (sample event, local stack):")
    for name in names:
        seen = facts[name]
        unused = ", ".join(seen["models_unused"]) or "none"
        print(f"  {name}: {seen['models_built']} built, {seen['models_used']} used; built and unused: {unused}")
        if seen["models_unused_unexplained"]:
            print(f"    not in UNUSED_MODELS_ALLOWED: {', '.join(seen['models_unused_unexplained'])}")
    worst = max(figures["handlers"].values(), key=lambda item: item["ratio"])
    figures["worst_ratio"] = worst["ratio"]
    figures["goal_met"] = all(item["goal_met"] for item in figures["handlers"].values())
    figures["worst_cpu_ratio"] = max(item["cpu_ratio"] for item in figures["handlers"].values())
    figures["goal_met_cpu"] = all(item["goal_met_cpu"] for item in figures["handlers"].values())
    print(
        f"goal: every handler <= {GOAL_RATIO}x its floor: {verdict(figures['goal_met'])} "
        f"(worst {worst['ratio']:.2f}x); in CPU time: {verdict(figures['goal_met_cpu'])} "
        f"(worst {figures['worst_cpu_ratio']:.2f}x)"
    )
    print(machine_note())
    return figures


if __name__ == "__main__":
    main()
