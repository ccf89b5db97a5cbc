"""``BotoLambdaConfig``: a function's timeout, reserved and provisioned concurrency, for one round.

Two calls per (function, qualifier): ``GetFunction`` (the qualified configuration's ``Timeout``
and the function's ``ReservedConcurrentExecutions``) and ``GetProvisionedConcurrencyConfig``.
Answers, failures included, are cached for the life of the object: build one per round, so a
round sees one consistent picture and a later round sees changes.

Given a :class:`~infra.lambda_invoker.BotoFunctionInvoker`, the calls go over its signed
keep-alive path (~0.1 ms of CPU each instead of ~1 ms through botocore: with 1,000 targets the
look-ups otherwise cost more than the pings); without one, or behind a proxy, through boto3.

IAM: ``lambda:GetFunction`` and ``lambda:GetProvisionedConcurrencyConfig`` on the targets.
"""

from __future__ import annotations

import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

from domain.errors import NotFound, ThermostatError, Unavailable
from domain.keep_warm import FunctionFacts
from infra import aws

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from infra.lambda_invoker import ApiReply, BotoFunctionInvoker

NOT_FOUND = "ResourceNotFoundException"
NO_PROVISIONED = "ProvisionedConcurrencyConfigNotFoundException"


def _describe_error(exc: Exception) -> tuple[str, str]:
    code = aws.error_code(exc) or type(exc).__name__
    response = getattr(exc, "response", None)
    message = ""
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or "")
    return code, message or str(exc)


class BotoLambdaConfig:
    """The :class:`~domain.keep_warm.LambdaConfig` port over the Lambda API (results cached)."""

    def __init__(
        self,
        client: LambdaClient | None = None,
        *,
        pool_size: int = 10,
        invoker: BotoFunctionInvoker | None = None,
    ) -> None:
        self._client = client
        self._invoker = invoker
        self._pool_size = pool_size
        self._cache: dict[tuple[str, str], FunctionFacts | ThermostatError] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> LambdaClient:
        """The Lambda client (built at first use, sized for concurrent look-ups)."""
        with self._lock:
            if self._client is None:
                self._client = aws.client("lambda", max_pool_connections=self._pool_size)
            return self._client

    def describe(self, function: str, qualifier: str) -> FunctionFacts:
        """The facts of ``function:qualifier``: ``NotFound`` when it does not exist, ``Unavailable``
        when the configuration cannot be read (no permission, throttled, endpoint down)."""
        key = (function, qualifier)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._look_up(function, qualifier)
            with self._lock:
                self._cache.setdefault(key, cached)
        if isinstance(cached, ThermostatError):
            raise cached
        return cached

    def _look_up(self, function: str, qualifier: str) -> FunctionFacts | ThermostatError:
        if self._invoker is not None:
            try:
                facts = self._look_up_signed(self._invoker, function, qualifier)
            except OSError as exc:
                return Unavailable(f"could not read the configuration of {function}:{qualifier}: {exc}")
            if facts is not None:
                return facts
        return self._look_up_sdk(function, qualifier)

    def _look_up_signed(
        self, invoker: BotoFunctionInvoker, function: str, qualifier: str
    ) -> FunctionFacts | ThermostatError | None:
        name = urllib.parse.quote(function, safe="")
        query = f"Qualifier={urllib.parse.quote(qualifier, safe='-_.~')}"
        reply = invoker.call_api("GET", f"/2015-03-31/functions/{name}", query)
        if reply is None:
            return None  # no fast path here (a proxy): boto3 it is
        if not reply.ok:
            return self._refusal(function, qualifier, reply.code or f"HTTP {reply.status}", reply.message or "")
        document = reply.document if isinstance(reply.document, dict) else {}
        try:
            provisioned_reply = invoker.call_api("GET", f"/2019-09-30/functions/{name}/provisioned-concurrency", query)
        except OSError as exc:
            return _facts(document, 0, (f"provisioned concurrency unknown ({exc}); pinged as if none",))
        provisioned, notes = _provisioned_of(provisioned_reply)
        return _facts(document, provisioned, notes)

    @staticmethod
    def _refusal(function: str, qualifier: str, code: str, message: str) -> ThermostatError:
        if code == NOT_FOUND:
            return NotFound(
                f"function {function}:{qualifier} does not exist ({message}); check the name and that "
                "the version or alias is published"
            )
        return Unavailable(f"could not read the configuration of {function}:{qualifier}: {code}: {message}")

    def _look_up_sdk(self, function: str, qualifier: str) -> FunctionFacts | ThermostatError:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            document: Any = self.client.get_function(FunctionName=function, Qualifier=qualifier)
        except ClientError as exc:
            return self._refusal(function, qualifier, *_describe_error(exc))
        except BotoCoreError as exc:
            return Unavailable(f"could not read the configuration of {function}:{qualifier}: {exc}")
        provisioned, notes = self._provisioned(function, qualifier)
        return _facts(document, provisioned, notes)

    def _provisioned(self, function: str, qualifier: str) -> tuple[int, tuple[str, ...]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            document: Any = self.client.get_provisioned_concurrency_config(FunctionName=function, Qualifier=qualifier)
        except ClientError as exc:
            code, message = _describe_error(exc)
            if code == NO_PROVISIONED:
                return 0, ()
            return 0, (f"provisioned concurrency unknown ({code}: {message}); pinged as if none",)
        except BotoCoreError as exc:
            return 0, (f"provisioned concurrency unknown ({exc}); pinged as if none",)
        # Allocated, not requested: environments still being prepared do not keep anything warm yet.
        return int(document.get("AllocatedProvisionedConcurrentExecutions") or 0), ()


def _facts(document: dict[str, Any], provisioned: int, notes: tuple[str, ...]) -> FunctionFacts:
    timeout = (document.get("Configuration") or {}).get("Timeout")
    reserved = (document.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    return FunctionFacts(
        timeout_s=float(timeout) if timeout else None,
        reserved=int(reserved) if reserved is not None else None,
        provisioned=provisioned,
        notes=notes,
    )


def _provisioned_of(reply: ApiReply | None) -> tuple[int, tuple[str, ...]]:
    if reply is None:
        return 0, ("provisioned concurrency unknown; pinged as if none",)
    if reply.ok and isinstance(reply.document, dict):
        # Allocated, not requested: environments still being prepared keep nothing warm yet.
        return int(reply.document.get("AllocatedProvisionedConcurrentExecutions") or 0), ()
    if reply.code == NO_PROVISIONED:
        return 0, ()
    return 0, (f"provisioned concurrency unknown ({reply.code or reply.status}: {reply.message}); pinged as if none",)
