"""The commands that work on a running ``thermostat local``: invoke, logs, deploy, ``put-event --wait``.

Each one reads the running stack's endpoints from its state file, points this process at them
through the standard variables (``AWS_ENDPOINT_URL…``, the stack's fake credentials) and then
uses the same client factory (:func:`infra.aws.client`) as every other command.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput, ThermostatError
from handlers.cli._output import emit, print_table

#: ``thermostat local logs --tail``: seconds between polls.
TAIL_POLL_S = 1.0
#: The key of a lifecycle event's reason (from the hook's own log line) in `deploy`'s report.
REASON = "hook_reason"


def use_running_stack() -> dict[str, Any]:
    """Point this process's AWS clients at the running stack; returns its recorded state."""
    from emulator.stack import export_lines, read_state
    from infra import aws

    state = read_state()
    for line in export_lines(state):
        name, value = line.removeprefix("export ").split("=", 1)
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    # The stack's fake credentials only: a profile's or a config file's would sign for elsewhere.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    aws.forget_sessions()
    return state


def read_event(source: str | None) -> bytes:
    """The event of ``-e FILE`` / ``-e -`` (stdin), checked to be JSON; ``{}`` without one."""
    if source is None:
        return b"{}"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise InvalidInput(f"-e {source}: cannot read the event ({exc})") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        where = "stdin" if source == "-" else source
        raise InvalidInput(f"-e {source}: the event on {where} is not JSON ({exc})") from exc
    return text.encode()


def _lambda_error(exc: Exception, function: str, qualifier: str | None) -> ThermostatError:
    from infra import aws

    code = aws.error_code(exc)
    if code == "ResourceNotFoundException":
        if qualifier is not None and _function_exists(function):
            return InvalidInput(
                f"{function!r} has no version or alias {qualifier!r} in the running stack: publish it first "
                "(UpdateFunctionConfiguration, then PublishVersion)"
            )
        return InvalidInput(f"no function {function!r} in the running stack; it has: {', '.join(_function_names())}")
    return ThermostatError(f"{function}: {code or type(exc).__name__}: {exc}")


def _function_names() -> list[str]:
    from infra import aws

    client = aws.client("lambda", max_attempts=0)
    return sorted(
        f["FunctionName"] for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]
    )


def _function_exists(function: str) -> bool:
    from infra import aws

    try:
        aws.client("lambda", max_attempts=0).get_function_configuration(FunctionName=function)
    except Exception as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


# -- thermostat local invoke ---------------------------------------------------------------------


def run_invoke(args: argparse.Namespace) -> int:
    """Invoke a function of the running stack; print its result, its error and its log tail."""
    payload = read_event(args.event)
    use_running_stack()
    from infra import aws

    client = aws.client("lambda", max_attempts=0)
    call: dict[str, Any] = {"FunctionName": args.function, "Payload": payload, "LogType": "Tail"}
    if args.qualifier:
        call["Qualifier"] = args.qualifier
    try:
        answer = client.invoke(**call)
    except Exception as exc:
        raise _lambda_error(exc, args.function, args.qualifier) from exc
    body = answer["Payload"].read().decode(errors="replace")
    try:
        result: Any = json.loads(body) if body else None
    except ValueError:
        result = body
    log_tail = base64.b64decode(answer.get("LogResult") or b"").decode(errors="replace")
    error = answer.get("FunctionError")
    document = {
        "function": args.function,
        "executed_version": answer.get("ExecutedVersion"),
        "status_code": answer.get("StatusCode"),
        "function_error": error,
        "result": result,
        "log_tail": log_tail,
    }
    if getattr(args, "json", False):
        emit(args, document)
    else:
        print(f"{args.function} (version {answer.get('ExecutedVersion')}): status {answer.get('StatusCode')}")
        if error and isinstance(result, dict) and "errorMessage" in result:
            # Lambda's error document: its type and message here, the stack trace with --json.
            print(f"function error ({error}): {result.get('errorType')}: {result.get('errorMessage')}")
        elif error:
            print(f"function error ({error}): {json.dumps(result)}")
        else:
            print(f"result: {json.dumps(result)}")
        print("log tail:")
        for line in log_tail.splitlines():
            print(f"  {render_log_line(line)}")
    return 1 if error else 0


# -- thermostat local logs -------------------------------------------------------------------------

_TELEMETRY_KEYS = ("start_kind", "found_state", "init_ms", "duration_ms", "environment_id", "error", "peer")


def render_log_line(message: str) -> str:
    """A log line for people: thermostat's telemetry (EMF JSON) as ``key=value``, other lines as they are."""
    text = message.rstrip("\n")
    if not text.startswith("{"):
        return text
    try:
        record = json.loads(text)
    except ValueError:
        return text
    if not isinstance(record, dict) or "_aws" not in record:
        return text
    metrics = [
        metric.get("Name")
        for directive in record["_aws"].get("CloudWatchMetrics", [])
        for metric in directive.get("Metrics", [])
        if isinstance(metric, dict)
    ]
    shown = [f"{key}={_short(record[key])}" for key in _TELEMETRY_KEYS if record.get(key) is not None]
    dimensions = {
        str(name)
        for directive in record["_aws"].get("CloudWatchMetrics", [])
        for group in directive.get("Dimensions", [])
        if isinstance(group, list)
        for name in group
    }
    known = {*_TELEMETRY_KEYS, "_aws", "cold_start", "request_id", "thermostat", *metrics, *dimensions}
    shown += [
        f"{key}={_short(value)}"
        for key, value in record.items()
        if key not in known and value is not None and not isinstance(value, dict | list)
    ]
    label = "telemetry" if "start_kind" in record else "metrics"
    return f"[{label}] {' '.join(shown)}" + (f" ({', '.join(str(m) for m in metrics)})" if metrics else "")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_logs(args: argparse.Namespace) -> int:
    """Print the function's log lines from the stack's CloudWatch Logs; ``--tail`` keeps following."""
    from handlers.cli._args import parse_duration

    since_s = parse_duration(args.since)
    use_running_stack()
    from infra import aws

    client = aws.client("logs")
    group = f"/aws/lambda/{args.function}"
    start_ms = int((time.time() - since_s) * 1000)
    seen: set[str] = set()
    try:
        client.describe_log_streams(logGroupName=group, limit=1)
    except Exception as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            raise InvalidInput(
                f"no logs for {args.function!r} yet ({group} does not exist): invoke it first, or check the name"
            ) from exc
        raise
    polls = 0
    while True:
        events = _events_since(client, group, start_ms)
        for event in events:
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            stamp = time.strftime("%H:%M:%S", time.localtime(event["timestamp"] / 1000))
            line = event["message"] if getattr(args, "raw", False) else render_log_line(event["message"])
            try:
                print(f"{stamp} {event.get('logStreamName', '')} {line}", flush=True)
            except BrokenPipeError:  # `thermostat local logs F | head`: the reader has had enough
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stdout until exit
                return 0
            start_ms = max(start_ms, int(event["timestamp"]))
        polls += 1
        if not args.tail or (args.max_polls is not None and polls >= args.max_polls):
            return 0
        time.sleep(TAIL_POLL_S)


def _events_since(client: Any, group: str, start_ms: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start_ms):
        events.extend(page.get("events", []))
    events.sort(key=lambda e: (e["timestamp"], e["eventId"]))
    return events


# -- thermostat local deploy -----------------------------------------------------------------------


def _appspec(function: str, alias: str, current: str, target: str, hooks: dict[str, str]) -> str:
    document: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                function: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function,
                        "Alias": alias,
                        "CurrentVersion": current,
                        "TargetVersion": target,
                    },
                }
            }
        ],
        "Hooks": [{event: name} for event, name in hooks.items()],
    }
    return json.dumps(document)


def run_deploy(args: argparse.Namespace) -> int:
    """A CodeDeploy deployment of ``FUNCTION`` version V through the running stack's CodeDeploy."""
    if args.timeout <= 0:
        raise InvalidInput(f"--timeout {args.timeout}: give a positive number of seconds")
    state = use_running_stack()
    from infra import aws

    lam = aws.client("lambda", max_attempts=0)
    try:
        current = str(lam.get_alias(FunctionName=args.function, Name=args.alias)["FunctionVersion"])
    except Exception as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            raise InvalidInput(
                f"{args.function!r} has no alias {args.alias!r} in the running stack (or no such function)"
            ) from exc
        raise
    try:
        lam.get_function_configuration(FunctionName=args.function, Qualifier=args.version)
    except Exception as exc:
        raise _lambda_error(exc, args.function, args.version) from exc
    hooks: dict[str, str] = {}
    before = args.before_hook if args.before_hook is not None else state.get("hook_function")
    if before and not args.no_hooks:
        hooks["BeforeAllowTraffic"] = before
    if args.after_hook and not args.no_hooks:
        hooks["AfterAllowTraffic"] = args.after_hook
    codedeploy = aws.client("codedeploy")
    deployment_id = codedeploy.create_deployment(
        applicationName="thermostat-local",
        deploymentGroupName=f"{args.function}-{args.alias}",
        description=f"thermostat local deploy {args.function} --version {args.version}",
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": _appspec(args.function, args.alias, current, args.version, hooks)},
        },
    )["deploymentId"]
    if not getattr(args, "json", False):
        hooks_shown = ", ".join(f"{event}: {name}" for event, name in hooks.items()) or "no hooks"
        print(
            f"deployment {deployment_id}: {args.function} alias {args.alias} "
            f"{current} -> {args.version} ({hooks_shown})"
        )
    deadline = time.monotonic() + args.timeout
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    while info["status"] not in ("Succeeded", "Failed", "Stopped") and time.monotonic() < deadline:
        time.sleep(0.25)
        info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    (target_id,) = codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
    target = codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_id)["deploymentTarget"]
    events = [
        {
            "lifecycle event": event["lifecycleEventName"],
            "hook": hooks.get(event["lifecycleEventName"]),
            "status": event["status"],
            "diagnostics": (event.get("diagnostics") or {}).get("message"),
        }
        for event in target["lambdaTarget"]["lifecycleEvents"]
    ]
    reasons = _hook_reasons(hooks, deployment_id, events)
    for event in events:
        event[REASON] = reasons.get(event["lifecycle event"])
    alias_now = str(lam.get_alias(FunctionName=args.function, Name=args.alias)["FunctionVersion"])
    document = {
        "deployment_id": deployment_id,
        "status": info["status"],
        "error": (info.get("errorInformation") or {}).get("message"),
        "function": args.function,
        "alias": args.alias,
        "from": current,
        "to": args.version,
        "alias_now": alias_now,
        "lifecycle_events": events,
    }
    if getattr(args, "json", False):
        emit(args, document)
    else:
        print_table([{k: v for k, v in event.items() if k != REASON} for event in events], title="lifecycle events")
        for event in events:
            if event[REASON]:
                print(f"{event['lifecycle event']} hook's reason: {event[REASON]}")
        print(f"status: {info['status']}; alias {args.alias} -> version {alias_now}")
        if document["error"]:
            print(f"error: {document['error']}")
    if info["status"] not in ("Succeeded", "Failed"):
        raise ThermostatError(f"deployment {deployment_id} did not finish within {args.timeout:g} s ({info['status']})")
    return 0 if info["status"] == "Succeeded" else 1


#: How long ``deploy`` looks for a hook's own verdict line in its logs (the forwarder batches).
REASON_WAIT_S = 5.0


def _hook_reasons(hooks: dict[str, str], deployment_id: str, events: list[dict[str, Any]]) -> dict[str, str]:
    """The reason each hook gave for its verdict, from its ``hook verdict`` log line (thermostat's hook only)."""
    from infra import aws

    wanted = {
        e["lifecycle event"] for e in events if e["status"] in ("Succeeded", "Failed") and e["diagnostics"] is None
    }
    wanted &= set(hooks)
    if not wanted:
        return {}
    client = aws.client("logs")
    start_ms = int((time.time() - 3600) * 1000)
    reasons: dict[str, str] = {}
    deadline = time.monotonic() + REASON_WAIT_S
    while True:
        for event_name in wanted - set(reasons):
            try:
                found = _events_since(client, f"/aws/lambda/{hooks[event_name]}", start_ms)
            except Exception as exc:
                if aws.error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            for line in found:
                reason = _verdict_reason(line["message"], deployment_id)
                if reason is not None:
                    reasons[event_name] = reason
        if wanted <= set(reasons) or time.monotonic() > deadline:
            return reasons
        time.sleep(0.25)


def _verdict_reason(message: str, deployment_id: str) -> str | None:
    if deployment_id not in message:
        return None
    try:
        record = json.loads(message)
    except ValueError:
        return None
    hook = record.get("hook") if isinstance(record, dict) else None
    if not isinstance(hook, dict) or hook.get("deployment_id") != deployment_id or not hook.get("reason"):
        return None
    return str(hook["reason"])


# -- thermostat local put-event --wait ---------------------------------------------------------------


def put_event_and_wait(entry: dict[str, Any]) -> dict[str, Any]:
    """PutEvents through boto3 with thermostat's wait header; the deliveries the router reported."""
    use_running_stack()
    from emulator.event_router import WAIT_HEADER
    from infra import aws

    client = aws.client("events", max_attempts=0, read_timeout=900)
    captured: dict[str, Any] = {}

    def add_header(request: Any, **_: Any) -> None:
        request.headers[WAIT_HEADER] = "1"

    def keep_body(http_response: Any, **_: Any) -> None:
        captured["body"] = http_response.content

    client.meta.events.register("before-sign.events.PutEvents", add_header)
    client.meta.events.register("after-call.events.PutEvents", keep_body)
    answer = client.put_events(Entries=[entry])
    if answer.get("FailedEntryCount"):
        raise InvalidInput(f"the event was refused: {answer['Entries'][0].get('ErrorMessage')}")
    raw = json.loads(captured.get("body") or b"{}")
    waited = raw.get("ThermostatDeliveries")
    if not isinstance(waited, list) or not waited:
        raise ThermostatError("the running stack did not report its deliveries (is it an older `thermostat local`?)")
    return {"event_id": answer["Entries"][0]["EventId"], "deliveries": waited[0]["Deliveries"]}


def show_deliveries(args: argparse.Namespace, entry: dict[str, Any], outcome: dict[str, Any]) -> int:
    """Print what ``put-event --wait`` learnt; exit 1 when a target failed."""
    deliveries = outcome["deliveries"]
    failed = [d for d in deliveries if not d["ok"]]
    document = {
        "event_id": outcome["event_id"],
        "source": entry["Source"],
        "detail_type": entry["DetailType"],
        "rules_matched": [d["rule"] for d in deliveries],
        "deliveries": deliveries,
        "ok": not failed,
    }
    if getattr(args, "json", False):
        emit(args, document)
    else:
        print(f"event {outcome['event_id']} ({entry['DetailType']} from {entry['Source']})")
        if not deliveries:
            print("no rule matched: nothing was delivered")
        rows = [
            {
                "rule": d["rule"],
                "target": d["target"],
                "outcome": "ok" if d["ok"] else "FAILED",
                "result or error": _short_text(json.dumps(d["result"]) if d["ok"] else str(d["error"])),
            }
            for d in deliveries
        ]
        if rows:
            print_table(rows, title="rules matched")
    return 1 if failed else 0


def _short_text(text: str, width: int = 300) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
