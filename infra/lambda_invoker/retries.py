"""botocore's standard retry mode for the fast path's control-plane calls (``GetFunction``, …).

Not a restatement: the decisions are made by botocore's own parts
(``botocore.retries.standard``: the retry conditions, the exponential backoff, the retry quota),
fed with a context built from the raw reply, so a look-up over the fast path is retried exactly
when, as often and after the same kind of delay as botocore would retry it. Invocations keep
their own policy (:mod:`~infra.lambda_invoker.invoker`: throttles are not retried by default).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from infra.lambda_invoker.connections import ConnectFailed, HttpResponse


def as_botocore_error(exc: BaseException, endpoint_url: str) -> Exception:
    """The botocore exception that botocore's own HTTP layer raises for the same failure."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, ConnectFailed):
        return EndpointConnectionError(endpoint_url=endpoint_url, error=exc)
    if isinstance(exc, TimeoutError):
        return ReadTimeoutError(endpoint_url=endpoint_url, error=exc)
    return ConnectionClosedError(endpoint_url=endpoint_url, error=exc)


class StandardRetries:
    """Retry one call as botocore's ``standard`` mode would, with botocore's own decision objects.

    One per invoker: its retry quota is shared by every call, as a botocore client's is.
    ``max_attempts`` counts every attempt (botocore's ``total_max_attempts``).
    """

    def __init__(
        self,
        max_attempts: int,
        *,
        sleep: Callable[[float], object],
        rng: random.Random | None = None,
    ) -> None:
        from botocore.retries import quota, standard

        detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
        draw = (rng or random.Random()).random
        self.max_attempts = max(1, max_attempts)
        self._conditions = standard.StandardRetryConditions(max_attempts=self.max_attempts)
        backoff: Any = standard.ExponentialBackoff
        checker: Any = standard.RetryQuotaChecker
        try:  # newer botocore (1.44 has it): backoff and quota cost depend on whether the error is a throttle
            self._backoff = backoff(service_name="lambda", throttling_detector=detector, random=draw)
            self._quota = checker(quota.RetryQuota(), detector)
        except TypeError:  # older botocore (the declared floor is 1.35): one backoff, one cost
            self._backoff = backoff(random=draw)
            self._quota = checker(quota.RetryQuota())
        self._quota_lock = threading.Lock()  # the checker remembers its last acquisition
        self._sleep = sleep
        self._context_type: Any = standard.RetryContext

    def call(
        self,
        send: Callable[[], HttpResponse],
        error_of: Callable[[HttpResponse], tuple[str | None, str | None]],
        *,
        operation_model: Any,
        endpoint_url: str,
    ) -> HttpResponse:
        """``send()`` until it succeeds or botocore would stop; the last reply, or the last error raised."""
        from botocore.awsrequest import AWSResponse

        request_context: dict[str, Any] = {}
        attempt = 1
        while True:
            response: HttpResponse | None = None
            failure: BaseException | None = None
            try:
                response = send()
            except OSError as exc:
                failure = exc
            if response is not None and 200 <= response.status < 300:
                with self._quota_lock:  # botocore passes the request's context dict here (its after-call event)
                    release: Any = self._quota.release_retry_quota
                    release(request_context, _Status(response.status))
                return response
            parsed: Mapping[str, Any] | None = None
            http_response = None
            if response is not None:
                code, message = error_of(response)
                parsed = {"Error": {"Code": code or "", "Message": message or ""}}
                headers: Any = response.headers  # lower-case names: what the backoff reads (x-amz-retry-after)
                http_response = AWSResponse(endpoint_url, response.status, headers, None)
            context = self._context_type(
                attempt_number=attempt,
                operation_model=operation_model,
                parsed_response=parsed,
                http_response=http_response,
                caught_exception=as_botocore_error(failure, endpoint_url) if failure is not None else None,
                request_context=request_context,
            )
            retry = self._conditions.is_retryable(context)
            if retry:
                with self._quota_lock:
                    retry = self._quota.acquire_retry_quota(context)
            if not retry:
                if response is not None:
                    return response
                raise failure if failure is not None else ConnectionError("no reply")
            self._sleep(self._backoff.delay_amount(context))
            attempt += 1


class _Status:
    """The one attribute of a response that the retry quota reads."""

    __slots__ = ("status_code",)

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
