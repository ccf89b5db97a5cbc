"""``BotoLambdaConfig``: a function's timeout, reserved and provisioned concurrency, for one round.

Three reads per (function, qualifier), the least-privileged calls that give these three facts:

* ``GetFunctionConfiguration`` (the qualified configuration's ``Timeout``). Not ``GetFunction``:
  that also returns a presigned URL of the function's code and, on a tagged function (every
  tag-selected target is one), needs ``lambda:ListTags`` as well;
* ``GetFunctionConcurrency`` (the function's ``ReservedConcurrentExecutions``; one per function);
* ``GetProvisionedConcurrencyConfig`` (per qualifier).

Answers, failures included, are cached for the life of the object: build one per round, so a
round sees one consistent picture and a later round sees changes. Across rounds, the container's
:class:`~domain.keep_warm.lookups.FactsCache` keeps them (with a TTL, invalidated by
configuration-change events) and meters the reads to stay within Lambda's control-plane quota.

A throttled read (``TooManyRequestsException``, after botocore's retries) is never taken for "no
limit" either: a throttled configuration read raises :class:`~domain.errors.Throttled`, and a
throttled concurrency read is named in :attr:`FunctionFacts.throttled`; the cache then keeps the
facts it read before, or the round pings cautiously.

A refusal (``AccessDeniedException``: the role lacks the permission) is never taken for "no
limit": a refused configuration read raises :class:`~domain.errors.AccessDenied`, and a refused
concurrency read is named in :attr:`FunctionFacts.refused`, so that the round pings that target
cautiously instead of without its reserved-concurrency headroom.

Given a :class:`~infra.lambda_invoker.BotoFunctionInvoker`, the calls go over its signed
keep-alive path (~0.1 ms of CPU each instead of ~1 ms through botocore: with 1,000 targets the
look-ups otherwise cost more than the pings), retried as botocore's standard mode retries them;
without one, behind a proxy, or in another ``AWS_RETRY_MODE``, through botocore itself.

IAM: ``lambda:GetFunctionConfiguration``, ``lambda:GetFunctionConcurrency`` and
``lambda:GetProvisionedConcurrencyConfig`` on the targets (``ARN`` and ``ARN:*``, or by tag).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from domain.errors import AccessDenied, NotFound, ThermostatError, Throttled, Unavailable
from domain.keep_warm import FunctionFacts
from infra import aws
from infra.lambda_invoker.replies import ApiReply

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from infra.lambda_invoker import BotoFunctionInvoker

NOT_FOUND = "ResourceNotFoundException"
NO_PROVISIONED = "ProvisionedConcurrencyConfigNotFoundException"
#: What Lambda (and IAM in front of it) answers a call the role may not make.
DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


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
                "GetFunctionConfiguration",
                f"/2015-03-31/functions/{name}/configuration",
                query,
                lambda: self.client.get_function_configuration(**_named(function, qualifier)),
            )
        except OSError as exc:
            return Unavailable(f"could not read the configuration of {function}:{qualifier}: {exc}")
        if not reply.ok:
            if _throttle(reply):
                return Throttled(
                    f"the configuration read of {function}:{qualifier} was throttled "
                    f"({reply.code or reply.status}: {reply.message})"
                )
            return _refusal(function, qualifier, reply.code or f"HTTP {reply.status}", reply.message or "")
        configuration = reply.document if isinstance(reply.document, dict) else {}
        notes: list[str] = []
        refused: list[str] = []
        throttled: list[str] = []
        # The two concurrency reads overlap: one round trip instead of two (a container's first
        # round looks up every target before its first ping). Their notes keep this order.
        provisioned_read: list[ApiReply | Exception] = []

        def read_provisioned() -> None:
            try:
                provisioned_read.append(
                    self._call(
                        "GetProvisionedConcurrencyConfig",
                        f"/2019-09-30/functions/{name}/provisioned-concurrency",
                        query,
                        lambda: self.client.get_provisioned_concurrency_config(**_named(function, qualifier)),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread below
                provisioned_read.append(exc)

        beside = threading.Thread(target=read_provisioned, name="lookup-provisioned", daemon=True)
        beside.start()
        reserved = self._reserved(function, name, notes, refused, throttled)
        beside.join()
        provisioned_reply = provisioned_read[0] if provisioned_read else OSError("the read did not finish")
        if isinstance(provisioned_reply, Exception) and not isinstance(provisioned_reply, OSError):
            raise provisioned_reply  # as if it had been read on this thread
        if isinstance(provisioned_reply, OSError):
            notes.append(f"provisioned concurrency unknown ({provisioned_reply}); pinged as if none")
            provisioned = 0
        else:
            provisioned = _provisioned_of(provisioned_reply, notes, refused, throttled)
        timeout = configuration.get("Timeout")
        return FunctionFacts(
            timeout_s=float(timeout) if timeout else None,
            reserved=reserved,
            provisioned=provisioned,
            notes=tuple(notes),
            refused=tuple(refused),
            throttled=tuple(throttled),
        )

    def _reserved(
        self, function: str, name: str, notes: list[str], refused: list[str], throttled: list[str]
    ) -> int | None:
        """The function's reserved concurrency (None: none reserved, or unknown with a note)."""
        try:
            reply = self._call(
                "GetFunctionConcurrency",
                f"/2019-09-30/functions/{name}/concurrency",
                "",
                lambda: self.client.get_function_concurrency(FunctionName=function),
            )
        except OSError as exc:
            notes.append(f"reserved concurrency unknown ({exc}); pinged without its headroom")
            return None
        if reply.ok and isinstance(reply.document, dict):
            value = reply.document.get("ReservedConcurrentExecutions")
            return int(value) if value is not None else None
        if reply.code in DENIED:
            refused.append("lambda:GetFunctionConcurrency")
            notes.append(f"reserved concurrency unknown: {reply.code}: {reply.message}")
        elif _throttle(reply):
            throttled.append("lambda:GetFunctionConcurrency")
            notes.append(f"reserved concurrency unknown: throttled ({reply.code or reply.status}: {reply.message})")
        else:
            notes.append(
                f"reserved concurrency unknown ({reply.code or reply.status}: {reply.message}); "
                "pinged without its headroom"
            )
        return None

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
    if code in DENIED:
        return AccessDenied(
            f"may not read the configuration of {function}:{qualifier} ({code}: {message}); grant "
            "lambda:GetFunctionConfiguration on it (tag it thermostat:warm=true or list it in WarmFunctionArns)"
        )
    return Unavailable(f"could not read the configuration of {function}:{qualifier}: {code}: {message}")


def _throttle(reply: ApiReply) -> bool:
    return reply.status == 429 or (reply.code is not None and reply.code in aws.THROTTLING_CODES)


def _provisioned_of(reply: ApiReply, notes: list[str], refused: list[str], throttled: list[str]) -> int:
    if reply.ok and isinstance(reply.document, dict):
        # Allocated, not requested: environments still being prepared keep nothing warm yet.
        return int(reply.document.get("AllocatedProvisionedConcurrentExecutions") or 0)
    if reply.code == NO_PROVISIONED:
        return 0
    if reply.code in DENIED:
        refused.append("lambda:GetProvisionedConcurrencyConfig")
    elif _throttle(reply):
        throttled.append("lambda:GetProvisionedConcurrencyConfig")
    notes.append(f"provisioned concurrency unknown ({reply.code or reply.status}: {reply.message}); pinged as if none")
    return 0
