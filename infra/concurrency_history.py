"""A function qualifier's observed concurrency from CloudWatch: Lambda's ``ConcurrentExecutions``.

The port is :class:`domain.keep_warm.sizing.ConcurrencyHistory`. Lambda puts
``ConcurrentExecutions`` into ``AWS/Lambda`` each minute under ``FunctionName`` (every version and
alias of the function together) and under ``FunctionName`` + ``Resource`` (``name:qualifier``, one
version or alias). One ``GetMetricData`` call asks for both series' ``Maximum`` per period; the
qualified one is used when it has any datapoint, else the function-wide one, labelled
``cloudwatch (function-wide)`` so that whoever shows the sizing says it is not the alias' own.

Bounds: the range may hold at most ``max_periods`` periods (checked before any call), one call
returns at most ``max_datapoints`` datapoints (GetMetricData's own limit is 100,800) and the pages
are followed only as far as that many periods can need. CloudWatch keeps 1-minute datapoints for
15 days, 5-minute ones for 63 days and hourly ones for 455 days: the default period of an hour
reads a few weeks back.
"""

from __future__ import annotations

import math
from typing import Any

from domain.errors import AccessDenied, InvalidInput, Throttled, Unavailable
from domain.keep_warm.sizing import ConcurrencySample
from infra import aws

NAMESPACE = "AWS/Lambda"
METRIC = "ConcurrentExecutions"
SOURCE = "cloudwatch"
#: The source of samples read from the ``FunctionName``-only series (no ``Resource`` series existed).
SOURCE_FUNCTION_WIDE = "cloudwatch (function-wide)"
#: GetMetricData's own cap on the datapoints of one call.
MAX_DATAPOINTS = 100_800
#: Two series (qualified and function-wide) must fit one call's datapoints.
MAX_PERIODS = MAX_DATAPOINTS // 2
_ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_QUERIES = ("qualified", "function")


class CloudWatchConcurrency:
    """``ConcurrencyHistory`` over CloudWatch's ``AWS/Lambda`` ``ConcurrentExecutions`` (``Maximum``).

    ``client`` is a CloudWatch client (default: ``infra.aws.client("cloudwatch")``, built at first use).
    """

    def __init__(
        self,
        client: Any = None,
        *,
        max_datapoints: int = MAX_DATAPOINTS,
        max_periods: int = MAX_PERIODS,
    ) -> None:
        if max_datapoints < 1 or max_periods < 1:
            raise ValueError("max_datapoints and max_periods must be >= 1")
        self._client = aws.LazyClient(client, lambda: aws.client("cloudwatch"))
        self.max_datapoints = max_datapoints
        self.max_periods = max_periods
        #: What the last read used: ``Resource`` or ``FunctionName``, and why (for whoever explains N).
        self.last_note: str | None = None

    def peaks(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int = 3600
    ) -> list[ConcurrencySample]:
        """Per-period peaks of ``function:qualifier`` over ``[start_ms, end_ms)``, oldest first.

        The start is rounded down to a whole period (CloudWatch's periods start on the clock's
        whole minutes and hours). ``[]`` when neither series has a datapoint. ``InvalidInput`` for
        a range or period CloudWatch cannot answer; ``Throttled`` / ``AccessDenied`` /
        ``Unavailable`` (with what to do) when the call fails.
        """
        if period_s < 60 or period_s % 60:
            raise InvalidInput(
                f"period_s={period_s}: CloudWatch's Lambda metrics have periods of whole minutes (60, 300, 3600…)"
            )
        start_ms -= start_ms % (period_s * 1000)
        if end_ms <= start_ms:
            raise InvalidInput(f"the range [{start_ms}, {end_ms}) is empty: end_ms must be after start_ms")
        periods = math.ceil((end_ms - start_ms) / (period_s * 1000))
        if periods > self.max_periods:
            raise InvalidInput(
                f"{periods} periods of {period_s} s between {start_ms} and {end_ms} is more than {self.max_periods}: "
                "read a shorter range or use a longer period"
            )
        series = self._read(function, qualifier, start_ms, end_ms, period_s, periods)
        qualified = series["qualified"]
        if qualified:
            self.last_note = f"ConcurrentExecutions of Resource {function}:{qualifier}"
            return _samples(qualified, period_s, SOURCE)
        if series["function"]:
            self.last_note = (
                f"no ConcurrentExecutions for Resource {function}:{qualifier}: used FunctionName {function} "
                "(every version and alias together)"
            )
            return _samples(series["function"], period_s, SOURCE_FUNCTION_WIDE)
        self.last_note = f"no ConcurrentExecutions for {function} in the range"
        return []

    def _read(
        self, function: str, qualifier: str, start_ms: int, end_ms: int, period_s: int, periods: int
    ) -> dict[str, dict[int, float]]:
        dimensions = {
            "qualified": [
                {"Name": "FunctionName", "Value": function},
                {"Name": "Resource", "Value": f"{function}:{qualifier}"},
            ],
            "function": [{"Name": "FunctionName", "Value": function}],
        }
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": METRIC, "Dimensions": dimensions[query_id]},
                    "Period": period_s,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
            for query_id in _QUERIES
        ]
        arguments: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start_ms / 1000,
            "EndTime": end_ms / 1000,
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": self.max_datapoints,
        }
        found: dict[str, dict[int, float]] = {query_id: {} for query_id in _QUERIES}
        # Both series together hold at most 2 x periods datapoints: no more pages than that can need.
        max_pages = math.ceil(len(_QUERIES) * periods / self.max_datapoints) + 1
        for _ in range(max_pages):
            page = self._call(arguments, function, qualifier)
            for result in page.get("MetricDataResults", []):
                query_id = result.get("Id")
                if query_id not in found:
                    continue
                status = result.get("StatusCode", "Complete")
                if status not in ("Complete", "PartialData"):
                    messages = "; ".join(str(m.get("Value")) for m in result.get("Messages", []) or [])
                    reason = messages or "no reason given"
                    raise Unavailable(f"CloudWatch answered {status} for {METRIC} of {function}:{qualifier} ({reason})")
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    start = int(stamp.timestamp() * 1000)
                    found[query_id][start] = max(found[query_id].get(start, 0.0), float(value))
            token = page.get("NextToken")
            if not token:
                return found
            arguments["NextToken"] = token
        raise Unavailable(
            f"CloudWatch kept paginating {METRIC} of {function}:{qualifier} after {max_pages} pages "
            f"(at most {len(_QUERIES) * periods} datapoints exist in the range): stopped there"
        )

    def _call(self, arguments: dict[str, Any], function: str, qualifier: str) -> dict[str, Any]:
        try:
            page: dict[str, Any] = self._client.get().get_metric_data(**arguments)
        except Exception as exc:
            code = aws.error_code(exc)
            if code is None and exc.__class__.__module__.split(".")[0] != "botocore":
                raise
            what = f"CloudWatch GetMetricData ({METRIC} of {function}:{qualifier})"
            if aws.is_throttling(exc):
                raise Throttled(
                    f"{what} was throttled ({code}): CloudWatch's GetMetricData quota is shared by every "
                    "reader of the account's metrics; the next round reads it again"
                ) from exc
            if code in _ACCESS_CODES:
                raise AccessDenied(
                    f'{what} was refused ({code}): the role needs cloudwatch:GetMetricData (Resource "*")'
                ) from exc
            raise Unavailable(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        return page


def _samples(points: dict[int, float], period_s: int, source: str) -> list[ConcurrencySample]:
    return [
        ConcurrencySample(start_ms=start, period_s=period_s, peak=round(value), source=source)
        for start, value in sorted(points.items())
    ]
