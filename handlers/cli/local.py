"""``thermostat local [--demo]`` and its actions (put-event, invoke, logs, deploy, env): the embedded stack."""

from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput, ThermostatError
from handlers.cli._output import emit, print_table


def register(commands: Any) -> None:
    """Add the ``local`` command."""
    local = commands.add_parser(
        "local", help="run the whole control plane locally (moto + local Lambda runner): no AWS account, no Docker"
    )
    local.add_argument("--demo", action="store_true", help="run the demo scenario once and exit (0 = every check held)")
    local.add_argument("--refresh", type=float, default=2.0, help="seconds between status refreshes (default 2)")
    local.add_argument("--template", type=Path, default=None, help="SAM template (default serverless/template.yaml)")
    local.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the registry, targets, buckets and logs in DIR across restarts (default: in memory only)",
    )
    local.add_argument(
        "--hook-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds CodeDeploy waits for a lifecycle hook's status before failing the deployment (default 60)",
    )
    local.add_argument(
        "--plain", action="store_true", help="append plain status screens even on a terminal (no live redraw)"
    )
    local.set_defaults(run=run)
    actions = local.add_subparsers(dest="local_command", metavar="ACTION")
    put = actions.add_parser("put-event", help="send an EventBridge event (JSON file) to a running `thermostat local`")
    put.add_argument("file", type=Path, help="an EventBridge event (envelope) or a PutEvents entry, as JSON")
    put.add_argument(
        "--wait",
        action="store_true",
        help="wait for every matched rule's target; show each one's result or error (exit 1 when one failed)",
    )
    put.set_defaults(run=run_put_event)
    invoke = actions.add_parser("invoke", help="invoke a function of the running stack (like `sam local invoke`)")
    invoke.add_argument("function", help="function name, e.g. demo-greeter or thermostat-local-KeepWarmFunction")
    invoke.add_argument("-e", "--event", metavar="FILE", default=None, help="the event, a JSON file or - for stdin")
    invoke.add_argument("--qualifier", default=None, help="a version or alias (default $LATEST)")
    invoke.set_defaults(run=_tools("run_invoke"))
    logs = actions.add_parser("logs", help="a function's log lines from the stack's CloudWatch Logs (like `sam logs`)")
    logs.add_argument("function", help="function name")
    logs.add_argument("--since", default="10m", metavar="D", help="how far back, e.g. 30s, 10m, 2h (default 10m)")
    logs.add_argument("--tail", action="store_true", help="keep following new lines until Ctrl-C")
    logs.add_argument("--raw", action="store_true", help="print telemetry lines as the JSON the function wrote")
    logs.add_argument("--max-polls", type=_positive_int, default=None, help=argparse.SUPPRESS)
    logs.set_defaults(run=_tools("run_logs"))
    deploy = actions.add_parser(
        "deploy", help="shift an alias to a version through the local CodeDeploy and its lifecycle hooks"
    )
    deploy.add_argument("function", help="function name")
    deploy.add_argument("--version", required=True, help="the published version to shift the alias to")
    deploy.add_argument("--alias", default="live", help="the alias to shift (default live)")
    deploy.add_argument(
        "--before-hook",
        default=None,
        metavar="FUNCTION",
        help="BeforeAllowTraffic hook (default: the stack's pre-traffic hook function)",
    )
    deploy.add_argument("--after-hook", default=None, metavar="FUNCTION", help="AfterAllowTraffic hook (default none)")
    deploy.add_argument("--no-hooks", action="store_true", help="shift without lifecycle hooks")
    deploy.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the verdict (default 300)")
    deploy.set_defaults(run=_tools("run_deploy"))
    env = actions.add_parser(
        "env", help='print export lines for a running `thermostat local`: eval "$(thermostat local env)"'
    )
    env.set_defaults(run=run_env)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of 1 or more")
    return value


def _tools(name: str) -> Any:
    """A command of ``_local_tools``, imported when it runs (not when the parser is built)."""

    def run_tool(args: argparse.Namespace) -> int:
        from handlers.cli import _local_tools

        return int(getattr(_local_tools, name)(args))

    return run_tool


def _quiet_servers() -> None:
    # moto's server logs every request through werkzeug; the tables are what people read.
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


# Progress goes to stdout for people; with --json it goes to stderr, so that stdout carries
# exactly one JSON document.
_progress = {"stream": sys.stdout}


def _say(line: str) -> None:
    print(line, file=_progress["stream"], flush=True)


def _table(rows: list[dict[str, Any]], title: str) -> None:
    print_table(rows, title=f"   {title}", stream=_progress["stream"])
    _progress["stream"].flush()


def run(args: argparse.Namespace) -> int:
    """Start the stack; run the demo, or serve until Ctrl-C with a live status view."""
    from emulator.stack import STATE_FILE, TEMPLATE, LocalStack

    _quiet_servers()
    _progress["stream"] = sys.stderr if getattr(args, "json", False) else sys.stdout
    if args.hook_timeout <= 0:
        raise InvalidInput(f"--hook-timeout {args.hook_timeout}: give a positive number of seconds")
    if args.state is not None and args.demo:
        raise InvalidInput("--state keeps a serving stack's data; the demo always starts empty (drop one of them)")
    stack = LocalStack(
        template_path=args.template or TEMPLATE,
        run_schedules=not args.demo,
        # Only a serving stack advertises its endpoints (for put-event); a demo leaves no trace.
        state_file=None if args.demo else STATE_FILE,
        hook_timeout_s=args.hook_timeout,
        state_dir=args.state,
    )
    started = time.monotonic()
    _say("thermostat local: starting moto, the local Lambda runner, EventBridge and CodeDeploy on 127.0.0.1 ...")
    with stack:
        _say(f"   ready in {time.monotonic() - started:.1f} s")
        if stack.claim is not None and stack.claim.replaced is not None:
            _say(f"   replaced {stack.claim.state_file}, left by a stack that is gone (pid {stack.claim.replaced})")
        for name, url in sorted(stack.endpoints.items()):
            _say(f"   {name}={url}")
        if stack.state_dir is not None:
            restored = stack.restored
            _say(
                f"   state: {stack.state_dir} ("
                + (", ".join(f"{v} {k}" for k, v in restored.items()) + " restored" if restored else "empty")
                + "; saved every 30 s and at exit)"
            )
        else:
            _say("   state: in memory only (start with --state DIR to keep it across restarts)")
        _say("")
        if args.demo:
            return _demo(stack, args)
        return _serve(stack, args)


def _demo(stack: Any, args: argparse.Namespace) -> int:
    from emulator.demo import run_demo

    result = run_demo(stack, _say, _table)
    rows = [{"check": name, "ok": ok, "detail": detail} for name, ok, detail in result.checks]
    if getattr(args, "json", False):
        emit(args, {"ok": result.ok, "checks": rows})
    else:
        print_table(rows, title="Demo checks")
        _say("")
        _say("demo: every check held" if result.ok else "demo: some checks FAILED (see above)")
    return 0 if result.ok else 1


def render_status(stack: Any) -> str:
    """One screen of the stack's status (plain text, so it logs and pipes cleanly)."""
    from emulator.status import collect_status

    out = io.StringIO()
    out.write(f"\n=== thermostat local — {time.strftime('%H:%M:%S')} ===\n")
    for section in collect_status(stack):
        if section.error is not None:
            out.write(f"{section.title}: unavailable ({section.error})\n")
        else:
            print_table(section.rows, title=section.title, stream=out)
        out.write("\n")
    return out.getvalue()


def _serve(stack: Any, args: argparse.Namespace) -> int:
    stopping = {"now": False}

    def stop(_signum: int, _frame: object) -> None:
        stopping["now"] = True

    from emulator.stack import register_demo_warm_targets

    # Both signals, explicitly: a shell that starts us in the background leaves SIGINT ignored.
    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    if stack.restored is None:
        warmed = register_demo_warm_targets()
        _say(f"keep-warm targets registered: {', '.join(warmed)} (alias live, concurrency 2, group default)")
    else:
        _say("keep-warm targets: as saved in the state directory")
    _say("serving until Ctrl-C; schedules fire as the template says. In another terminal:")
    _say('   eval "$(thermostat local env)"   # then thermostat warm, report, bucket resolve … use this stack')
    saved_at = time.monotonic()
    try:
        if sys.stdout.isatty() and not args.plain:
            from handlers.cli._live_view import serve_live

            serve_live(stack, args.refresh, lambda: stopping["now"], _save_every(stack))
        else:
            while not stopping["now"]:
                print(render_status(stack), flush=True)
                deadline = time.monotonic() + max(0.5, args.refresh)
                while time.monotonic() < deadline and not stopping["now"]:
                    time.sleep(0.1)
                if time.monotonic() - saved_at >= SAVE_EVERY_S:
                    _save(stack)
                    saved_at = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        _say("stopping every process the local stack started ...")
    return 0


#: ``--state DIR``: seconds between snapshots while serving (one more is written at exit).
SAVE_EVERY_S = 30.0


def _save(stack: Any) -> None:
    try:
        stack.save()
    except Exception as exc:  # noqa: BLE001 - a failed snapshot is reported; serving goes on
        print(f"thermostat local: saving the state failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _save_every(stack: Any) -> Any:
    """A callable for the live view: saves when ``SAVE_EVERY_S`` passed since the last save."""
    last = {"at": time.monotonic()}

    def maybe_save() -> None:
        if time.monotonic() - last["at"] >= SAVE_EVERY_S:
            _save(stack)
            last["at"] = time.monotonic()

    return maybe_save


def run_env(args: argparse.Namespace) -> int:
    """Print the export lines of the running stack (for ``eval``)."""
    from emulator.stack import export_lines, read_state

    lines = export_lines(read_state())
    if getattr(args, "json", False):
        emit(args, dict(line.removeprefix("export ").split("=", 1) for line in lines))
    else:
        print("\n".join(lines))
    return 0


def run_put_event(args: argparse.Namespace) -> int:
    """Send one event to the running stack's EventBridge (rules and targets as in the template)."""
    from emulator.stack import read_state

    state = read_state()
    try:
        document = json.loads(args.file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{args.file}: not a readable JSON file ({exc})") from exc
    entry = _as_entry(document)
    if args.wait:
        from handlers.cli._local_tools import put_event_and_wait, show_deliveries

        return show_deliveries(args, entry, put_event_and_wait(entry))
    endpoint = state["endpoints"].get("AWS_ENDPOINT_URL_EVENTBRIDGE")
    if not endpoint:
        raise ThermostatError("the running stack did not record its EventBridge endpoint")
    import boto3

    # The running stack's endpoint, named explicitly: this process has no local-stack variables.
    client = boto3.client(
        "events",
        endpoint_url=endpoint,
        region_name=state.get("region", "us-east-1"),
        aws_access_key_id="thermostat-local",
        aws_secret_access_key="thermostat-local",  # noqa: S106 - the local stack's fixed fake credentials
    )
    answer = client.put_events(Entries=[entry])  # type: ignore[list-item]
    if answer.get("FailedEntryCount"):
        raise InvalidInput(f"the event was refused: {answer['Entries'][0].get('ErrorMessage')}")
    emit(
        args,
        {"event_id": answer["Entries"][0]["EventId"], "source": entry["Source"], "detail_type": entry["DetailType"]},
    )
    return 0


def _as_entry(document: Any) -> dict[str, Any]:
    """Accept an EventBridge envelope (``source``, ``detail-type``, ``detail``) or a PutEvents entry."""
    if not isinstance(document, dict):
        raise InvalidInput("the event file must hold a JSON object")
    if {"Source", "DetailType", "Detail"} <= set(document):
        return document
    missing = [key for key in ("source", "detail-type", "detail") if key not in document]
    if missing:
        raise InvalidInput(f"the event is missing {missing}: give an EventBridge event or a PutEvents entry")
    entry = {
        "Source": document["source"],
        "DetailType": document["detail-type"],
        "Detail": json.dumps(document["detail"]),
    }
    if document.get("resources"):
        entry["Resources"] = document["resources"]
    return entry
