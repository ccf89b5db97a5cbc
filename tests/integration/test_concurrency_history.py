"""``CloudWatchConcurrency`` (the ``ConcurrencyHistory`` port) against moto's CloudWatch, and throttled.

The datapoints are put as Lambda puts them (AWS Lambda Developer Guide, "Working with Lambda
function metrics", awsdocs/aws-lambda-developer-guide doc_source/monitoring-metrics.md): namespace
``AWS/Lambda``, ``ConcurrentExecutions`` under ``FunctionName`` and under ``FunctionName`` +
``Resource`` (``name:qualifier``), one datapoint a minute, read with ``Maximum``.

moto (5.2) is the oracle for what CloudWatch answers, with two gaps found here: GetMetricData
never paginates (no ``NextToken``, ``MaxDatapoints`` ignored), so the pages are tested with
botocore's Stubber; and throttling, which moto never does, is injected on the network path by
:class:`tests.faultproxy.FaultProxy` in front of moto's server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from domain.errors import AccessDenied, InvalidInput, Throttled, Unavailable
from infra import aws
from infra.concurrency_history import SOURCE, SOURCE_FUNCTION_WIDE, CloudWatchConcurrency
from tests.cloudwatch import THROTTLED, proxied_cloudwatch
from tests.faultproxy import Fault, FaultProxy, Rule

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
T0_MS = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS  # a whole hour


def _put(client: Any, minute_ms: int, value: float, dimensions: list[dict[str, str]]) -> None:
    client.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "ConcurrentExecutions",
                "Dimensions": dimensions,
                "Timestamp": datetime.fromtimestamp(minute_ms / 1000, UTC),
                "Value": value,
                "Unit": "Count",
            }
        ],
    )


def _fn(name: str) -> list[dict[str, str]]:
    return [{"Name": "FunctionName", "Value": name}]


def _resource(name: str, qualifier: str) -> list[dict[str, str]]:
    return [*_fn(name), {"Name": "Resource", "Value": f"{name}:{qualifier}"}]


@pytest.fixture
def cloudwatch(moto_aws: None) -> Any:
    return aws.client("cloudwatch")


def test_hourly_peaks_of_the_alias_are_the_maximum_of_its_minutes(cloudwatch: Any) -> None:
    # Given two hours of minute datapoints for orders:live, and a busier function-wide series
    for minute, value in ((0, 1), (7, 3), (59, 2)):
        _put(cloudwatch, T0_MS + minute * 60_000, value, _resource("orders", "live"))
    _put(cloudwatch, T0_MS + HOUR_MS + 5 * 60_000, 5, _resource("orders", "live"))
    _put(cloudwatch, T0_MS + 60_000, 9, _fn("orders"))
    history = CloudWatchConcurrency()

    # When the peaks are read per hour, from a start that is not on the hour
    samples = history.peaks("orders", "live", T0_MS + 10 * 60_000, T0_MS + 2 * HOUR_MS)

    # Then each hour's peak is its highest minute of the alias' own series, oldest first
    assert [(s.start_ms, s.period_s, s.peak, s.source) for s in samples] == [
        (T0_MS, 3600, 3, SOURCE),
        (T0_MS + HOUR_MS, 3600, 5, SOURCE),
    ]
    assert history.last_note == "ConcurrentExecutions of Resource orders:live"


def test_minute_peaks_are_read_with_a_60_s_period(cloudwatch: Any) -> None:
    _put(cloudwatch, T0_MS + 2 * 60_000, 4, _resource("orders", "live"))
    samples = CloudWatchConcurrency().peaks("orders", "live", T0_MS, T0_MS + 10 * 60_000, period_s=60)
    assert [(s.start_ms, s.peak) for s in samples] == [(T0_MS + 2 * 60_000, 4)]


def test_without_the_qualified_series_the_function_wide_one_is_used_and_says_so(cloudwatch: Any) -> None:
    # Given only FunctionName datapoints (e.g. a function invoked unqualified), and another alias' series
    _put(cloudwatch, T0_MS + 60_000, 6, _fn("orders"))
    _put(cloudwatch, T0_MS + 60_000, 2, _resource("orders", "canary"))
    history = CloudWatchConcurrency()

    # When orders:live is read
    samples = history.peaks("orders", "live", T0_MS, T0_MS + HOUR_MS)

    # Then the function-wide peak is returned, labelled as such
    assert [(s.peak, s.source) for s in samples] == [(6, SOURCE_FUNCTION_WIDE)]
    assert history.last_note is not None
    assert "used FunctionName orders" in history.last_note


def test_no_datapoint_at_all_is_an_empty_history(cloudwatch: Any) -> None:
    _put(cloudwatch, T0_MS + 60_000, 6, _fn("other"))
    assert CloudWatchConcurrency().peaks("orders", "live", T0_MS, T0_MS + HOUR_MS) == []


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "period_s", "message"),
    [
        (T0_MS, T0_MS + HOUR_MS, 90, "periods of whole minutes"),
        (T0_MS, T0_MS + HOUR_MS, 30, "periods of whole minutes"),
        (T0_MS + HOUR_MS, T0_MS, 3600, "end_ms must be after start_ms"),
        (T0_MS, T0_MS + 60 * 24 * HOUR_MS, 60, "read a shorter range or use a longer period"),
    ],
)
def test_a_range_cloudwatch_cannot_answer_is_refused_before_any_call(
    start_ms: int, end_ms: int, period_s: int, message: str
) -> None:
    # Given a client that would fail any call made (none should be)
    client = aws.client("cloudwatch", region_name="us-east-1")
    with Stubber(client) as stub:
        with pytest.raises(InvalidInput, match=message):
            CloudWatchConcurrency(client).peaks("orders", "live", start_ms, end_ms, period_s)
        stub.assert_no_pending_responses()


def _page(values: dict[str, list[tuple[int, float]]], token: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "MetricDataResults": [
            {
                "Id": query_id,
                "Label": "ConcurrentExecutions",
                "Timestamps": [datetime.fromtimestamp(ms / 1000, UTC) for ms, _ in points],
                "Values": [value for _, value in points],
                "StatusCode": "PartialData" if token else "Complete",
            }
            for query_id, points in values.items()
        ]
    }
    if token:
        page["NextToken"] = token
    return page


def test_pages_are_followed_and_merged(aws_env: None) -> None:
    # Given GetMetricData answering in two pages (MaxDatapoints 2), as CloudWatch paginates
    client = aws.client("cloudwatch")
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            _page({"qualified": [(T0_MS, 1.0)], "function": [(T0_MS, 1.0)]}, "next"),
            {
                "MetricDataQueries": ANY,
                "StartTime": ANY,
                "EndTime": ANY,
                "ScanBy": "TimestampAscending",
                "MaxDatapoints": 2,
            },
        )
        stub.add_response(
            "get_metric_data",
            _page({"qualified": [(T0_MS + HOUR_MS, 4.0)], "function": [(T0_MS + HOUR_MS, 4.0)]}, None),
            {
                "MetricDataQueries": ANY,
                "StartTime": ANY,
                "EndTime": ANY,
                "ScanBy": "TimestampAscending",
                "MaxDatapoints": 2,
                "NextToken": "next",
            },
        )
        # When two hours are read
        samples = CloudWatchConcurrency(client, max_datapoints=2).peaks("orders", "live", T0_MS, T0_MS + 2 * HOUR_MS)
        stub.assert_no_pending_responses()
    # Then both pages' datapoints are there
    assert [(s.start_ms, s.peak) for s in samples] == [(T0_MS, 1), (T0_MS + HOUR_MS, 4)]


def test_endless_pages_stop_at_the_bound_with_a_clear_error(aws_env: None) -> None:
    # Given a service that always answers one more page (2 periods, 2 series, 2 per page: 3 pages at most)
    client = aws.client("cloudwatch")
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("get_metric_data", _page({"qualified": []}, "again"))
        with pytest.raises(Unavailable, match=r"kept paginating .* after 3 pages"):
            CloudWatchConcurrency(client, max_datapoints=2).peaks("orders", "live", T0_MS, T0_MS + 2 * HOUR_MS)
        stub.assert_no_pending_responses()


def test_a_refused_call_names_the_permission(aws_env: None) -> None:
    client = aws.client("cloudwatch")
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", "AccessDenied", "not authorized", 403)
        with pytest.raises(AccessDenied, match=r"needs cloudwatch:GetMetricData"):
            CloudWatchConcurrency(client).peaks("orders", "live", T0_MS, T0_MS + HOUR_MS)


# -- throttling on the network path --------------------------------------------------------------


@pytest.fixture
def proxied(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with proxied_cloudwatch(moto_server, monkeypatch) as proxy:
        yield proxy


def test_a_throttled_read_is_a_clear_throttled_error_and_nothing_else_breaks(proxied: FaultProxy) -> None:
    # Given a minute of orders:live in CloudWatch (through the proxy) and GetMetricData throttled once
    client = aws.client("cloudwatch")
    _put(client, T0_MS + 60_000, 3, _resource("orders", "live"))
    rule = proxied.add(
        Rule(
            fault=Fault.ANSWER,
            target="GetMetricData",
            status=400,
            reply=THROTTLED,
            content_type="application/x-amz-json-1.0",
            times=1,
        )
    )
    history = CloudWatchConcurrency(client)

    # When the peaks are read
    with pytest.raises(Throttled) as raised:
        history.peaks("orders", "live", T0_MS, T0_MS + HOUR_MS)

    # Then the error says what was throttled and what happens next, and the call really went out
    assert rule.taken == 1
    message = str(raised.value)
    assert "CloudWatch GetMetricData (ConcurrentExecutions of orders:live) was throttled (Throttling)" in message
    assert "the next round reads it again" in message
    assert isinstance(raised.value, Unavailable)
    # And nothing else broke: puts still go through, and the next read answers the datapoint
    _put(client, T0_MS + 2 * 60_000, 4, _resource("orders", "live"))
    assert [(s.peak, s.source) for s in history.peaks("orders", "live", T0_MS, T0_MS + HOUR_MS)] == [(4, SOURCE)]
