"""Refuse early what cannot work: look a function up once before acting on it."""

from __future__ import annotations

from domain.errors import AccessDenied, InvalidInput, NotFound


def require_function(function: str, qualifier: str, *, skip_hint: str | None = None) -> None:
    """Raise ``InvalidInput`` (exit 2) when ``function:qualifier`` does not exist.

    One ``GetFunctionConfiguration`` (with the same look-ups keep-warm makes): a name or version
    that is not there is the user's to fix, not a failure to retry. A look-up the role may not
    make is refused with ``AccessDenied`` (exit 1), naming ``skip_hint`` when there is a way round.
    """
    from infra.lambda_config import BotoLambdaConfig

    try:
        BotoLambdaConfig(pool_size=2).describe(function, qualifier)
    except NotFound as exc:
        hint = f"; {skip_hint}" if skip_hint else ""
        raise InvalidInput(f"{exc}{hint}") from exc
    except AccessDenied as exc:
        if skip_hint is None:
            raise
        raise AccessDenied(f"cannot check that {function}:{qualifier} exists: {exc}; {skip_hint}") from exc
