"""``thermostat bucket resolve|list|sweep|forget``: the deployment-bucket registry from a terminal.

``resolve`` prints only the bucket name, so that scripts can write
``BUCKET=$(thermostat bucket resolve --project api --stage prod)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.buckets import (
    AccountRegistry,
    BucketKey,
    DeploymentRequest,
    Resolution,
    check_account,
    describe_validation_error,
    resolve_deployment,
    sweep,
)
from domain.errors import InvalidInput, NotFound
from handlers import wiring
from handlers.cli._args import command_group
from handlers.cli._output import emit, print_table
from infra.accounts import current_account
from infra.bucket_registry import DynamoBucketRegistry
from infra.s3_buckets import S3BucketStore
from infra.settings import Settings


@dataclass
class BucketServices:
    """The registry's adapters for one CLI run."""

    settings: Settings
    account: str
    registry: DynamoBucketRegistry

    def store(self, region: str, account: str | None = None) -> S3BucketStore:
        """The store of ``account`` (default: this one) in ``region``; another account's through its spoke role."""
        return wiring.bucket_store(account or self.account, region, own_account=self.account)


def services() -> BucketServices:
    """Settings, account (one STS call) and the registry, from the composition root."""
    return BucketServices(settings=wiring.settings(), account=current_account(), registry=wiring.bucket_registry())


def resolve_bucket(
    project: str,
    stage: str,
    region: str | None = None,
    bucket: str | None = None,
    svc: BucketServices | None = None,
    account: str | None = None,
) -> Resolution:
    """The bucket a deploy of ``project``/``stage`` must use (reuse or create); no event is published.

    ``account``: another account's deploy (its bucket is made there, through its spoke role, and
    recorded under its key); default this one.
    """
    from pydantic import ValidationError

    try:
        request = DeploymentRequest(project=project, stage=stage, region=region, bucket=bucket)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, "cannot resolve a bucket")) from exc
    svc = svc or services()
    owner = check_account(account) if account else svc.account
    key = BucketKey.of(
        account=owner, region=request.region or svc.settings.region, project=request.project, stage=request.stage
    )
    return resolve_deployment(
        request,
        key,
        registry=svc.registry,
        store=svc.store(key.region, owner),
        clock=time.time,
        sleep=time.sleep,
        rng=wiring.bucket_rng(),
        stray_patterns=svc.settings.stray_patterns,
    )


def register(commands: Any) -> None:
    """Add the ``bucket`` command group."""
    actions = command_group(commands, "bucket", "deployment buckets: one per project/stage, reused by every deploy")

    resolve = actions.add_parser("resolve", help="print the bucket to deploy to (reused, or created once)")
    _key_arguments(resolve)
    resolve.add_argument(
        "--bucket",
        help="the bucket your tool would use: adopted if the key has none yet (throw-away names excepted)",
    )
    resolve.set_defaults(run=run_resolve)

    listing = actions.add_parser("list", help="registered buckets and recorded strays (of this account)")
    accounts = listing.add_mutually_exclusive_group()
    accounts.add_argument("--account", help="another account's (12 digits; read from the registry, no role assumed)")
    accounts.add_argument("--all-accounts", action="store_true", help="every account's, with an account column")
    listing.set_defaults(run=run_list)

    sweeping = actions.add_parser("sweep", help="find stray buckets and the bucket count vs the quota (dry run)")
    sweeping.add_argument("--account", help="sweep another account (12 digits), through its spoke role")
    sweeping.add_argument(
        "--delete", action="store_true", help="delete EMPTY, pattern-matched, unregistered buckets (never registered)"
    )
    sweeping.set_defaults(run=run_sweep)

    forget = actions.add_parser("forget", help="drop a key's registry record (the bucket itself is kept)")
    _key_arguments(forget)
    forget.set_defaults(run=run_forget)


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", required=True, help="project name (letters, digits, '.', '_', '-')")
    parser.add_argument("--stage", required=True, help="stage name, e.g. dev or prod")
    parser.add_argument("--region", help="AWS region of the deploy (default: AWS_REGION)")
    parser.add_argument("--account", help="another account's deploy (12 digits; its bucket through its spoke role)")


def run_resolve(args: argparse.Namespace) -> int:
    """Print the bucket name (or the whole answer with ``--json``)."""
    resolution = resolve_bucket(args.project, args.stage, args.region, args.bucket, account=args.account)
    if getattr(args, "json", False):
        emit(args, resolution.answer())
    else:
        sys.stdout.write(resolution.bucket + "\n")
    if resolution.stray is not None:
        sys.stderr.write(
            f"thermostat: note: {resolution.stray} was not used: {resolution.bucket} is the registered bucket; "
            f"{resolution.stray} is recorded as a stray\n"
        )
    return 0


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def _accounts_wanted(args: argparse.Namespace, svc: BucketServices) -> str | None:
    """The account ``--account`` names (validated), this one by default, None for ``--all-accounts``."""
    if getattr(args, "all_accounts", False):
        return None
    return check_account(args.account) if getattr(args, "account", None) else svc.account


def run_list(args: argparse.Namespace) -> int:
    """Registered buckets, then recorded strays (of one account, or of all with ``--all-accounts``)."""
    svc = services()
    wanted = _accounts_wanted(args, svc)
    buckets = [
        {
            "project": r.key.project,
            "stage": r.key.stage,
            "region": r.key.region,
            "account": r.key.account,
            "bucket": r.bucket,
            "state": r.state.value,
            "ready_at": _when(r.ready_at),
        }
        for r in svc.registry.records()
        if wanted is None or r.key.account == wanted
    ]
    registered = {row["bucket"] for row in buckets}
    strays = [
        {
            "bucket": s.bucket,
            "region": s.region,
            "account": s.account or svc.account,  # a stray recorded without one is this account's
            "source": s.source.value,
            "seen_at": _when(s.seen_at),
            "reason": s.reason,
        }
        for s in svc.registry.strays()
        if s.bucket not in registered and (wanted is None or (s.account or svc.account) == wanted)
    ]
    if getattr(args, "json", False):
        emit(args, {"buckets": buckets, "strays": strays})
        return 0
    account_column: tuple[str, ...] = ("account",) if wanted is None else ()
    print_table(
        buckets,
        columns=(*account_column, "project", "stage", "region", "bucket", "state", "ready_at"),
        title="registered" if wanted is None else f"registered in {wanted}",
    )
    sys.stdout.write("\n")
    print_table(strays, columns=(*account_column, "bucket", "region", "source", "seen_at", "reason"), title="strays")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """Report strays and the quota; delete empty strays only with ``--delete``."""
    svc = services()
    account = check_account(args.account) if getattr(args, "account", None) else svc.account
    report = sweep(
        AccountRegistry(svc.registry, account, svc.account),
        svc.store(svc.settings.region, account),
        patterns=svc.settings.stray_patterns,
        quota=svc.settings.bucket_quota,
        delete=bool(args.delete),
    )
    summary = report.summary()
    if getattr(args, "json", False):
        emit(args, summary)
        return 0
    rows = [finding.model_dump() for finding in report.strays]
    mode = "deleting empty strays" if report.delete_enabled else "dry run: nothing deleted (use --delete)"
    print_table(rows, columns=("bucket", "region", "action", "reason"), title=f"strays ({mode})")
    sys.stdout.write(
        f"\n{report.bucket_count} buckets of a quota of {report.quota} ({summary['quota_used_pct']}%), "
        f"{report.registered} registered, {len(report.remaining_strays)} strays, {len(report.deleted)} deleted\n"
    )
    if report.missing_registered:
        sys.stdout.write(
            "registered but missing (recreated at the next deploy): " + ", ".join(report.missing_registered) + "\n"
        )
    return 0


def run_forget(args: argparse.Namespace) -> int:
    """Delete a key's record; the next deploy of that key gets a new bucket."""
    svc = services()
    account = check_account(args.account) if args.account else svc.account
    key = BucketKey.of(
        account=account, region=args.region or svc.settings.region, project=args.project, stage=args.stage
    )
    record = svc.registry.forget(key)
    if record is None:
        raise NotFound(f"no bucket is registered for {key.label()}")
    emit(args, {"forgotten": key.label(), "bucket": record.bucket, "bucket_kept": True})
    return 0
