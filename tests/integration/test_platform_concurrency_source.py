"""``PlatformRecordsConcurrency`` on moto's CloudWatch Logs: peaks and feedback from a function's log group.

The REPORT lines follow AWS's documented text layout ("Log and monitor Python Lambda functions",
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html); thermostat's own line is the
runtime module's ``Telemetry`` record, as a function wearing ``@warmable`` writes it.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from domain.errors import Unavailable
from infra.platform_concurrency import PlatformRecordsConcurrency
from infra.telemetry_source import parse_emf_line
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.integration

HOUR = 3_600_000


def _report(request: str, duration_ms: float, cold: bool = False) -> str:
    return (
        f"REPORT RequestId: {request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {int(duration_ms) + 1} ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 56 MB" + ("\tInit Duration: 130.49 ms" if cold else "")
    )


def _own_line(request: str, start_kind: str) -> str:
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = "orders"  # what AWS_LAMBDA_FUNCTION_NAME says in the function
    line = telemetry.line(
        kind=start_kind,
        found="cold" if start_kind == "cold" else "warm",
        init_type="on-demand",
        init_ms=None,
        environment_id="env",
        request_id=request,
        duration_ms=1.0,
    )
    assert parse_emf_line(line) is not None
    return line


@pytest.fixture
def logs(moto_aws: None) -> object:
    client = boto3.client("logs")
    client.create_log_group(logGroupName="/aws/lambda/orders")
    client.create_log_stream(logGroupName="/aws/lambda/orders", logStreamName="2026/12/01/[1]abc")
    return client


def _put(client: object, events: list[tuple[int, str]]) -> None:
    client.put_log_events(  # type: ignore[attr-defined]
        logGroupName="/aws/lambda/orders",
        logStreamName="2026/12/01/[1]abc",
        logEvents=[{"timestamp": at, "message": message} for at, message in sorted(events)],
    )


def test_peaks_and_cold_real_requests_from_the_log_group(logs: object) -> None:
    # Given, ending within the last minutes: three real requests overlapping (one cold), and two pings
    # overlapping them (thermostat's own lines say warm_ping)
    now = int(time.time() * 1000)
    end = now - 60_000
    events = [
        (end, _report("r1", 900.0, cold=True)),
        (end + 100, _report("r2", 900.0)),
        (end + 200, _report("r3", 900.0)),
        (end + 150, _report("p1", 800.0, cold=True)),
        (end + 160, _report("p2", 800.0)),
    ]
    events += [(end - 5, _own_line(r, k)) for r, k in [("r1", "cold"), ("p1", "warm_ping"), ("p2", "warm_ping")]]
    _put(logs, events)
    source = PlatformRecordsConcurrency(client=logs)
    # When read, Then the peak is the three real requests, and one of them started cold
    samples = source.peaks("orders", "live", now - 4 * HOUR, now + 1)
    assert [(s.peak, s.source) for s in samples] == [(3, "platform-records")]
    assert source.cold_requests("orders", "live", now - HOUR, now + 1) == 1
    # And the version qualifier of another version sees nothing
    assert source.peaks("orders", "2", now - 4 * HOUR, now + 1) == []


def test_a_function_without_a_log_group_has_no_traffic(moto_aws: None) -> None:
    now = int(time.time() * 1000)
    assert PlatformRecordsConcurrency(client=boto3.client("logs")).peaks("nothing", "live", now - HOUR, now) == []


def test_a_read_cut_by_its_bound_is_refused_not_used(logs: object) -> None:
    now = int(time.time() * 1000)
    _put(logs, [(now - 1_000 + i, _report(f"r{i}", 10.0)) for i in range(3)])
    source = PlatformRecordsConcurrency(client=logs, max_events=2)
    with pytest.raises(Unavailable, match="hit the read bound of 2 events"):
        source.peaks("orders", "live", now - HOUR, now + 1)
    assert json.dumps(PlatformRecordsConcurrency(client=logs).peaks("orders", "live", now - HOUR, now + 1)[0].peak)
