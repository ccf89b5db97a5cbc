"""Worker log lines reach CloudWatch Logs (moto server), batched per function."""

from __future__ import annotations

import boto3
import pytest

from emulator.log_forwarder import LogForwarder

pytestmark = pytest.mark.integration


def test_lines_arrive_in_order_per_function(moto_server: str) -> None:
    forwarder = LogForwarder()
    forwarder.start()
    try:
        for i in range(120):
            forwarder("orders", "1", f"line {i}")
        forwarder("billing", "$LATEST", '{"_aws": {}}')
        assert forwarder.flush()
    finally:
        forwarder.stop()
    logs = boto3.client("logs")
    orders = logs.filter_log_events(logGroupName="/aws/lambda/orders")["events"]
    assert [e["message"] for e in orders] == [f"line {i}" for i in range(120)]
    billing = logs.filter_log_events(logGroupName="/aws/lambda/billing")["events"]
    [stream] = logs.describe_log_streams(logGroupName="/aws/lambda/billing")["logStreams"]
    assert stream["logStreamName"].endswith("/[$LATEST]local")
    assert [e["message"] for e in billing] == ['{"_aws": {}}']
    assert forwarder.errors == []


def test_an_unreachable_logs_service_is_recorded_not_raised(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    forwarder = LogForwarder(client=boto3.client("logs", config=boto3.session.Config(retries={"max_attempts": 1})))
    forwarder.start()
    try:
        forwarder("orders", "1", "hello")
        assert forwarder.flush()
    finally:
        forwarder.stop()
    assert len(forwarder.errors) == 1
    assert forwarder.errors[0].startswith("orders: ")
