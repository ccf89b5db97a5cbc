"""Clients for another AWS account: ``sts:AssumeRole`` into thermostat's spoke role there.

A target or a deployment bucket may live in another account of the Organization. The control plane
reaches it through the spoke role that ``serverless/spoke.yaml`` creates in that account
(``arn:aws:iam::<account>:role/<THERMOSTAT_SPOKE_ROLE>``), assumed with the external id
``THERMOSTAT_SPOKE_EXTERNAL_ID``. The control plane's own account needs no role: its clients are
the usual ones. Credentials are cached per account until five minutes before they expire, and
every client honours ``AWS_ENDPOINT_URL[_<SERVICE>]`` like any other (botocore's configuration
chain does not depend on where the credentials came from).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.errors import AccessDenied, InvalidInput, Unavailable
from infra import aws

DEFAULT_ROLE_NAME = "thermostat-spoke"
#: Re-assume this long before the credentials expire (a round or a bucket call must not outlive them).
REFRESH_MARGIN_S = 300.0
SESSION_SECONDS = 3600
_ACCOUNT = re.compile(r"\d{12}")


def check_account(account: str) -> str:
    """An AWS account id is 12 digits; anything else is refused with the rule."""
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise InvalidInput(f"account {account!r} is not an AWS account id (12 digits, e.g. 123456789012)")
    return account


def spoke_role_arn(account: str, role_name: str = DEFAULT_ROLE_NAME) -> str:
    """The spoke role's ARN in ``account``."""
    return f"arn:aws:iam::{check_account(account)}:role/{role_name}"


@dataclass(frozen=True)
class SpokeCredentials:
    """Temporary credentials for one account, and when they stop working (epoch seconds)."""

    account: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float


class SpokeSessions:
    """Clients per (service, account, region): the own account's as usual, others' through the spoke role."""

    def __init__(
        self,
        own_account: str,
        *,
        role_name: str = DEFAULT_ROLE_NAME,
        external_id: str | None = None,
        sts: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.own_account = check_account(own_account)
        self.role_name = role_name
        self.external_id = external_id
        self._sts = sts
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: dict[str, SpokeCredentials] = {}
        self._clients: dict[tuple[str, str, str, str], Any] = {}

    def credentials(self, account: str) -> SpokeCredentials:
        """Credentials for ``account`` (cached; re-assumed near expiry).

        ``AccessDenied`` when the role is missing or refuses us (STS says ``AccessDenied`` for both),
        ``Unavailable`` when STS cannot be reached or throttles.
        """
        check_account(account)
        with self._lock:
            cached = self._credentials.get(account)
            if cached is not None and cached.expires_at - REFRESH_MARGIN_S > self._clock():
                return cached
        fresh = self._assume(account)
        with self._lock:
            self._credentials[account] = fresh
        return fresh

    def _assume(self, account: str) -> SpokeCredentials:
        arn = spoke_role_arn(account, self.role_name)
        sts = self._sts or aws.client("sts")
        arguments: dict[str, Any] = {
            "RoleArn": arn,
            "RoleSessionName": f"thermostat-{self.own_account}",
            "DurationSeconds": SESSION_SECONDS,
        }
        if self.external_id:
            arguments["ExternalId"] = self.external_id
        try:
            answer = sts.assume_role(**arguments)
        except Exception as exc:
            code = aws.error_code(exc) or type(exc).__name__
            if code in {"AccessDenied", "AccessDeniedException"}:
                raise AccessDenied(
                    f"cannot assume the spoke role {arn} ({code}): deploy serverless/spoke.yaml in account "
                    f"{account} with this control plane's account ({self.own_account}) as trusted and the same "
                    "external id (THERMOSTAT_SPOKE_EXTERNAL_ID)"
                ) from exc
            raise Unavailable(f"cannot assume the spoke role {arn}: STS AssumeRole failed ({code})") from exc
        raw = answer["Credentials"]
        expiration = raw.get("Expiration")
        expires_at = expiration.timestamp() if hasattr(expiration, "timestamp") else self._clock() + SESSION_SECONDS
        return SpokeCredentials(
            account=account,
            access_key_id=raw["AccessKeyId"],
            secret_access_key=raw["SecretAccessKey"],
            session_token=raw["SessionToken"],
            expires_at=expires_at,
        )

    def client(self, service: str, account: str, region: str | None = None, **options: Any) -> Any:
        """A client for ``service`` acting in ``account`` (``options`` as for :func:`infra.aws.client`).

        The own account's client is built once per (service, region, options); another account's
        is rebuilt whenever its credentials are renewed.
        """
        check_account(account)
        region = region or aws.region()
        option_key = repr(sorted(options.items()))
        if account == self.own_account:
            key = (service, account, region, option_key)
            with self._lock:
                if key not in self._clients:
                    self._clients[key] = aws.client(service, region_name=region, **options)
                return self._clients[key]
        creds = self.credentials(account)
        key = (service, account, region, option_key + creds.access_key_id)
        with self._lock:
            built = self._clients.get(key)
        if built is None:
            built = aws.client(service, region_name=region, credentials=creds, **options)
            with self._lock:
                self._clients[key] = built
        return built
