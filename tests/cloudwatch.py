"""CloudWatch metric helpers shared by the tests of the runner's metrics and of their readers.

``statistic`` reads one ``AWS/Lambda`` series back with GetMetricData (the API the readers use);
``THROTTLED`` is CloudWatch's throttle as botocore 1.44 reads it: its CloudWatch model offers
smithy-rpc-v2-cbor, JSON and query, and botocore speaks JSON 1.0 (``X-Amz-Target:
GraniteServiceVersion20100801.*``) to it (seen on the wire through the proxy); a throttle is
HTTP 400 with ``__type`` Throttling. ``proxied_cloudwatch`` puts a :class:`tests.faultproxy.FaultProxy`
in front of moto's server for CloudWatch, with one attempt per call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.faultproxy import FaultProxy

THROTTLED = json.dumps({"__type": "Throttling", "message": "Rate exceeded"}).encode()


def statistic(
    cloudwatch: Any, metric: str, stat: str, dimensions: dict[str, str], start: float, end: float, period: int
) -> list[float]:
    """The values of one ``AWS/Lambda`` series over ``[start, end)`` (epoch seconds), oldest first."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(end, UTC),
        ScanBy="TimestampAscending",
    )
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


@contextmanager
def proxied_cloudwatch(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """CloudWatch through a fault proxy in front of ``moto_server``; botocore makes one attempt per call."""
    from infra import aws

    with FaultProxy(moto_server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", proxy.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one attempt: botocore's retry sleeps stay out of the test
        aws.forget_sessions()
        yield proxy
