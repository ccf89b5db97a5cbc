"""Zappa's ``settings`` callback: every Zappa command deploys to the stage's registered bucket.

A stage that names it in its settings (``"callbacks": {"settings": "thermostat_zappa.settings"}``)
needs no ``thermostat zappa pin``: Zappa calls ``settings(zappa_cli)`` right after
``ZappaCLI.load_settings`` (``dispatch_command``), before any command touches S3. The callback
resolves the bucket exactly as ``thermostat bucket resolve`` does (``resolve_bucket``) for Zappa's
own project name, stage and region, and puts it where Zappa's deploy, update, package and
undeploy read it: ``ZappaCLI.s3_bucket_name`` (and the stage's ``s3_bucket``, for whatever reads
the stage config later). Any failure is a ``click.ClickException``, which Zappa prints and exits
on: a deploy never goes on to a bucket that Zappa made up.

The module imports nothing heavy until Zappa calls it: ``thermostat``'s parser imports every
module of this package.
"""

from __future__ import annotations

from typing import Any


def _fail(message: str) -> Exception:
    import click

    return click.ClickException(f"thermostat: {message}")


def _region(zappa_cli: Any) -> str | None:
    """The region Zappa deploys to: its session's (which env may set over ``aws_region``)."""
    zappa = getattr(zappa_cli, "zappa", None)
    region = getattr(zappa, "aws_region", None) or getattr(zappa_cli, "aws_region", None)
    return region if isinstance(region, str) and region else None


def settings(zappa_cli: Any) -> None:
    """Set the Zappa CLI's S3 bucket to the stage's registered bucket (reuse or create)."""
    import click

    from domain.errors import ThermostatError
    from handlers import wiring
    from handlers.cli.bucket import resolve_bucket

    project = getattr(zappa_cli, "project_name", None)
    stage = getattr(zappa_cli, "api_stage", None)
    if not isinstance(project, str) or not project:
        raise _fail(
            'Zappa\'s project name is empty (the directory name has nothing to slug); set "project_name" in the stage'
        )
    if not isinstance(stage, str) or not stage:
        raise _fail("Zappa gave the callback no stage")
    own = zappa_cli.stage_config.get("s3_bucket")
    requested = own if isinstance(own, str) and own else None
    # One Zappa command, one resolution: adapters built from the environment as it is now, with
    # the stage's profile_name as Zappa's own session uses it (the account the stage deploys to).
    from infra import aws

    profile = getattr(zappa_cli, "profile_name", None)
    chosen = profile if isinstance(profile, str) and profile else None
    aws.use_command_line(profile=chosen)
    wiring.reset()
    try:
        resolution = resolve_bucket(project, stage, _region(zappa_cli), requested)
    except ThermostatError as exc:
        raise _fail(f"cannot resolve the deployment bucket of {project}/{stage}: {exc}") from exc
    except Exception as exc:
        from infra.aws import error_code

        if error_code(exc) is None and exc.__class__.__module__.split(".")[0] not in {"botocore", "boto3", "pynamodb"}:
            raise
        raise _fail(
            f"the bucket registry is unreachable ({exc}); not deploying to a bucket Zappa would invent"
        ) from exc
    finally:
        aws.use_command_line()
    zappa_cli.s3_bucket_name = resolution.bucket
    override = getattr(zappa_cli, "override_stage_config_setting", None)
    if callable(override):
        override("s3_bucket", resolution.bucket)
    how = "reused" if resolution.reused else "registered"
    click.echo(f"thermostat: {project}/{stage} deploys to s3://{resolution.bucket} ({how})")
    if resolution.stray is not None:
        click.echo(f"thermostat: note: {resolution.stray} is recorded as a stray bucket")
