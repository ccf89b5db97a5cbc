"""``thermostat zappa pin``: write the registered bucket into a stage's ``s3_bucket`` in zappa_settings.json.

Without ``s3_bucket`` (typically with ``slim_handler``), Zappa invents a bucket named ``zappa-`` plus
nine random characters on every ``update`` and never records it: the account fills up with
buckets. Pinning the stage to its registered bucket stops that.

The file is edited as text: only the stage's ``s3_bucket`` value changes (or one member is added
at the end of the stage), so key order, other stages, indentation and spacing stay exactly as
they were; a second run changes nothing and says so.

Project name: ``--project``, else the stage's ``project_name`` (following ``extends``), else
Zappa's own default: ``slugify.slugify(<directory name>)[:15]`` with python-slugify, as Zappa's
``ZappaCLI.get_project_name`` computes it (Zappa takes the directory it runs in, i.e. the one
holding zappa_settings.json in its usual use). The cut keeps a trailing ``-``
(``orders-service-api`` -> ``orders-service-``) because Zappa's does.
Region: ``--region``, else the stage's ``aws_region``, else botocore's (``AWS_REGION``,
``AWS_DEFAULT_REGION``, the profile's).
Credentials: ``--profile``, else the stage's ``profile_name`` (as Zappa's own session uses it: an
explicit profile, whose keys beat ``AWS_ACCESS_KEY_ID``), else botocore's chain, so the bucket is
registered in the account the stage deploys to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.buckets import Resolution
from domain.errors import InvalidInput
from handlers.cli._args import command_group
from handlers.cli._output import emit

#: (project, stage, region, requested bucket or None) -> the resolution.
Resolver = Callable[[str, str, str, str | None], Resolution]
ZAPPA_PROJECT_MAX = 15  # Zappa cuts its default project name to 15 characters
_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


@dataclass(frozen=True)
class _Object:
    start: int  # index of "{"
    end: int  # index just after "}"
    members: tuple[_Member, ...]


@dataclass(frozen=True)
class PinResult:
    """What ``pin_settings`` did."""

    settings: str
    stage: str
    project: str
    region: str
    bucket: str
    previous: str | None
    changed: bool
    reused: bool
    slim_handler: bool
    stray: str | None
    message: str

    def document(self) -> dict[str, Any]:
        """The result as one JSON-able mapping."""
        return dict(self.__dict__)


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def _scan_object(text: str, start: int) -> _Object:
    """The members of the JSON object at ``start`` with their spans (values skipped with raw_decode)."""
    if start >= len(text) or text[start] != "{":
        raise ValueError(f"expected an object at character {start}")
    index = _skip(text, start + 1)
    members: list[_Member] = []
    if index < len(text) and text[index] == "}":
        return _Object(start, index + 1, ())
    while True:
        if index >= len(text) or text[index] != '"':
            raise ValueError(f"expected a key at character {index}")
        key, after_key = _DECODER.raw_decode(text, index)
        colon = _skip(text, after_key)
        if colon >= len(text) or text[colon] != ":":
            raise ValueError(f"expected ':' at character {colon}")
        value_start = _skip(text, colon + 1)
        _, value_end = _DECODER.raw_decode(text, value_start)
        members.append(_Member(str(key), index, value_start, value_end))
        index = _skip(text, value_end)
        if index < len(text) and text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if index < len(text) and text[index] == "}":
            return _Object(start, index + 1, tuple(members))
        raise ValueError(f"expected ',' or '}}' at character {index}")


def _load(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:  # keep CRLF files CRLF
            text = handle.read()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file; pass --settings PATH to your zappa_settings.json") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if path.suffix.lower() in {".yml", ".yaml", ".toml"}:
            hint = " (only JSON settings are supported: convert the file with `zappa` or by hand)"
        raise InvalidInput(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{path}: expected an object of stages at the top level, got {type(document).__name__}")
    return text, document


def _effective(document: dict[str, Any], stage: str, path: Path) -> dict[str, Any]:
    """The stage's settings with its ``extends`` chain applied (the stage's own values win)."""
    chain: list[str] = []
    current: str | None = stage
    while current is not None:
        if current in chain:
            raise InvalidInput(f"{path}: stage {stage!r} has an `extends` cycle: {' -> '.join([*chain, current])}")
        config = document.get(current)
        if not isinstance(config, dict):
            where = f" (extended by {chain[-1]!r})" if chain else ""
            stages = ", ".join(sorted(k for k, v in document.items() if isinstance(v, dict))) or "none"
            raise InvalidInput(f"{path}: no stage {current!r}{where}; stages in the file: {stages}")
        chain.append(current)
        parent = config.get("extends")
        current = parent if isinstance(parent, str) else None
    merged: dict[str, Any] = {}
    for name in reversed(chain):
        merged.update(document[name])
    return merged


def default_project(directory: Path) -> str:
    """Zappa's default project name: python-slugify's default slug of the directory name, cut to 15.

    Zappa computes it the same way (``slugify.slugify(name)[:15]``, default arguments) from
    ``os.getcwd()``, which is the physical path: hence ``resolve()``. A name with nothing
    to slug (``!!!``, emoji only) gives Zappa an empty project name and a function named after
    the stage alone; that cannot be registered, so it is refused with what to do instead.
    """
    import slugify

    name = directory.resolve().name
    project = slugify.slugify(name)[:ZAPPA_PROJECT_MAX]
    if not project:
        raise InvalidInput(
            f"the directory name {name!r} gives Zappa an empty project name; "
            'set "project_name" in the stage or pass --project'
        )
    return project


def _edited(text: str, stage: str, bucket: str) -> str:
    """``text`` with the stage's ``s3_bucket`` set to ``bucket``, nothing else touched."""
    root = _scan_object(text, _skip(text, 0))
    member = next(m for m in reversed(root.members) if m.key == stage)  # json.loads keeps the last duplicate
    stage_object = _scan_object(text, member.value_start)
    value = json.dumps(bucket, ensure_ascii=False)
    own = [m for m in stage_object.members if m.key == "s3_bucket"]
    if own:
        target = own[-1]
        return text[: target.value_start] + value + text[target.value_end :]
    closing = stage_object.end - 1
    if not stage_object.members:
        return text[:closing] + f'"s3_bucket": {value}' + text[closing:]
    last = stage_object.members[-1]
    body = text[stage_object.start : stage_object.end]
    if "\n" not in body:
        return text[: last.value_end] + f', "s3_bucket": {value}' + text[last.value_end :]
    line_start = text.rfind("\n", 0, last.key_start) + 1
    indent = text[line_start : last.key_start]
    newline = "\r\n" if "\r\n" in text else "\n"
    return text[: last.value_end] + f',{newline}{indent}"s3_bucket": {value}' + text[last.value_end :]


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pin_settings(
    path: Path,
    stage: str,
    resolve: Resolver,
    *,
    default_region: str,
    project: str | None = None,
    region: str | None = None,
) -> PinResult:
    """Resolve the stage's bucket and write it into ``s3_bucket`` (only if it differs)."""
    text, document = _load(path)
    config = _effective(document, stage, path)
    project_name = project or config.get("project_name") or default_project(path.parent)
    if not isinstance(project_name, str) or not project_name:
        raise InvalidInput(f"{path}: cannot tell the project name; pass --project")
    deploy_region = region or config.get("aws_region") or default_region
    if not isinstance(deploy_region, str):
        raise InvalidInput(f"{path}: aws_region of stage {stage!r} must be a string")
    current = config.get("s3_bucket")
    previous = current if isinstance(current, str) and current else None
    slim = bool(config.get("slim_handler", False))
    resolution = resolve(project_name, stage, deploy_region, previous)
    bucket = resolution.bucket
    changed = previous != bucket
    if changed:
        new_text = _edited(text, stage, bucket)
        expected = json.loads(text)
        expected[stage]["s3_bucket"] = bucket
        if json.loads(new_text) != expected:  # never write a file that says something else
            raise InvalidInput(f"{path}: could not edit the file safely; set s3_bucket={bucket!r} by hand")
        _write_atomically(path, new_text)
        message = f"wrote s3_bucket = {bucket} into stage {stage!r}"
        if previous is not None:
            message += f" (was {previous})"
    else:
        message = f"already pinned: stage {stage!r} deploys to {bucket}; no change"
    if slim and previous is None:
        message += "; slim_handler no longer gets a new zappa-XXXXXXXXX bucket on every update"
    return PinResult(
        settings=str(path),
        stage=stage,
        project=project_name,
        region=deploy_region,
        bucket=bucket,
        previous=previous,
        changed=changed,
        reused=resolution.reused,
        slim_handler=slim,
        stray=resolution.stray,
        message=message,
    )


def register(commands: Any) -> None:
    """Add the ``zappa`` command group."""
    actions = command_group(commands, "zappa", "Zappa integration")
    pin = actions.add_parser("pin", help="write the registered bucket into a stage's s3_bucket (idempotent)")
    pin.add_argument("--settings", default="zappa_settings.json", help="path to zappa_settings.json")
    pin.add_argument("--stage", required=True, help="the Zappa stage to pin, e.g. dev")
    pin.add_argument("--project", help="project name (default: the stage's project_name, else Zappa's default)")
    pin.add_argument("--region", help="AWS region (default: the stage's aws_region, else AWS_REGION)")
    pin.set_defaults(run=run_pin)


def stage_profile(path: Path, stage: str) -> str | None:
    """The stage's ``profile_name`` (following ``extends``), None when it names none."""
    _, document = _load(path)
    profile = _effective(document, stage, path).get("profile_name")
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise InvalidInput(f"{path}: profile_name of stage {stage!r} must be a non-empty string")
    return profile


def run_pin(args: argparse.Namespace) -> int:
    """Pin the stage; print what changed (or that nothing did)."""
    from handlers import wiring
    from handlers.cli.bucket import resolve_bucket
    from infra import aws

    profile = stage_profile(Path(args.settings), args.stage)
    if profile and aws.command_line_profile() is None:  # --profile beats the stage's, as it beats AWS_PROFILE
        aws.use_command_line(profile=profile, region=aws.command_line_region())
        wiring.reset()

    def resolve(project: str, stage: str, region: str, requested: str | None) -> Resolution:
        return resolve_bucket(project, stage, region, requested)

    result = pin_settings(
        Path(args.settings),
        args.stage,
        resolve,
        default_region=wiring.settings().region,
        project=args.project,
        region=args.region,
    )
    emit(args, result.document())
    if result.stray is not None:
        sys.stderr.write(f"thermostat: note: {result.stray} is recorded as a stray bucket\n")
    return 0
