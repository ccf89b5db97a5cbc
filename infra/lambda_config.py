"""``BotoLambdaConfig``: a function's timeout, reserved and provisioned concurrency, for one round.

Two calls per (function, qualifier): ``GetFunction`` (the qualified configuration's ``Timeout``
and the function's ``ReservedConcurrentExecutions``) and ``GetProvisionedConcurrencyConfig``.
Answers, failures included, are cached for the life of the object: build one per round, so a
round sees one consistent picture and a later round sees changes.

Given a :class:`~infra.lambda_invoker.BotoFunctionInvoker`, the calls go over its signed
keep-alive path (~0.1 ms of CPU each instead of ~1 ms through botocore: with 1,000 targets the
look-ups otherwise cost more than the pings), retried as botocore's standard mode retries them;
without one, behind a proxy, or in another ``AWS_RETRY_MODE``, through botocore itself.

IAM: ``lambda:GetFunction`` and ``lambda:GetProvisionedConcurrencyConfig`` on the targets.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from domain.errors import NotFound, ThermostatError, Unavailable
from domain.keep_warm import FunctionFacts
from infra import aws
from infra.lambda_invoker.replies import ApiReply

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from infra.lambda_invoker import BotoFunctionInvoker

NOT_FOUND = "ResourceNotFoundException"
NO_PROVISIONED = "ProvisionedConcurrencyConfigNotFoundException"


class BotoLambdaConfig:
    """The :class:`~domain.keep_warm.LambdaConfig` port over the Lambda API (results cached)."""

    def __init__(
        self,
        client: LambdaClient | None = None,
        *,
        pool_size: int = 10,
        invoker: BotoFunctionInvoker | None = None,
        read_timeout_s: float = 5.0,
    ) -> None:
        self._client = aws.LazyClient(
            client, lambda: aws.client("lambda", max_pool_connections=self._pool_size, read_timeout=read_timeout_s)
        )
        self._invoker = invoker
        self._read_timeout_s = read_timeout_s
        self._pool_size = pool_size
        self._cache: dict[tuple[str, str], FunctionFacts | ThermostatError] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> LambdaClient:
        """The Lambda client (built at first use, sized for concurrent look-ups)."""
        return self._client.get()

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
        name = urllib.parse.quote(function, safe="")
        query = f"Qualifier={urllib.parse.quote(qualifier, safe='-_.~')}"
        try:
            reply = self._call(
                "GetFunction",
                f"/2015-03-31/functions/{name}",
                query,
                lambda: self.client.get_function(**_named(function, qualifier)),
            )
        except OSError as exc:
            return Unavailable(f"could not read the configuration of {function}:{qualifier}: {exc}")
        if not reply.ok:
            return _refusal(function, qualifier, reply.code or f"HTTP {reply.status}", reply.message or "")
        document = reply.document if isinstance(reply.document, dict) else {}
        try:
            provisioned_reply = self._call(
                "GetProvisionedConcurrencyConfig",
                f"/2019-09-30/functions/{name}/provisioned-concurrency",
                query,
                lambda: self.client.get_provisioned_concurrency_config(**_named(function, qualifier)),
            )
        except OSError as exc:
            return _facts(document, 0, (f"provisioned concurrency unknown ({exc}); pinged as if none",))
        provisioned, notes = _provisioned_of(provisioned_reply)
        return _facts(document, provisioned, notes)

    def _call(self, operation: str, path: str, query: str, sdk_call: Callable[[], Any]) -> ApiReply:
        """One GET of ``operation``: over the invoker's signed path when there is one, else through boto3.

        Either way it is retried as botocore's standard mode retries it; an answer (refusals
        included) is an :class:`ApiReply`; a transport failure is an ``OSError``.
        """
        if self._invoker is not None:
            reply = self._invoker.call_api(operation, "GET", path, query, self._read_timeout_s)
            if reply is not None:
                return reply
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            document = sdk_call()
        except ClientError as exc:
            response: Any = exc.response
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = str(response.get("Error", {}).get("Message") or "") or str(exc)
            return ApiReply(status, aws.error_code(exc) or type(exc).__name__, message, None)
        except BotoCoreError as exc:
            raise OSError(str(exc)) from exc
        return ApiReply(200, None, None, document)


def _named(function: str, qualifier: str) -> dict[str, Any]:
    return {"FunctionName": function, "Qualifier": qualifier}


def _refusal(function: str, qualifier: str, code: str, message: str) -> ThermostatError:
    if code == NOT_FOUND:
        return NotFound(
            f"function {function}:{qualifier} does not exist ({message}); check the name and that "
            "the version or alias is published"
        )
    return Unavailable(f"could not read the configuration of {function}:{qualifier}: {code}: {message}")


def _facts(document: dict[str, Any], provisioned: int, notes: tuple[str, ...]) -> FunctionFacts:
    timeout = (document.get("Configuration") or {}).get("Timeout")
    reserved = (document.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    return FunctionFacts(
        timeout_s=float(timeout) if timeout else None,
        reserved=int(reserved) if reserved is not None else None,
        provisioned=provisioned,
        notes=notes,
    )


def _provisioned_of(reply: ApiReply) -> tuple[int, tuple[str, ...]]:
    if reply.ok and isinstance(reply.document, dict):
        # Allocated, not requested: environments still being prepared keep nothing warm yet.
        return int(reply.document.get("AllocatedProvisionedConcurrentExecutions") or 0), ()
    if reply.code == NO_PROVISIONED:
        return 0, ()
    return 0, (f"provisioned concurrency unknown ({reply.code or reply.status}: {reply.message}); pinged as if none",)
