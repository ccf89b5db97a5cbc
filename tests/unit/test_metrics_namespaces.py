"""thermostat's metrics live in ``THERMOSTAT_METRICS_NAMESPACE``; ``POWERTOOLS_METRICS_NAMESPACE`` is Powertools'.

Powertools' ``capture_cold_start_metric`` writes a ``ColdStart`` of its own (dimension
``function_name``) into ``POWERTOOLS_METRICS_NAMESPACE``. Our runtime layer also writes ``ColdStart``
(dimensions ``InitType`` / ``FunctionName``+``InitType``): in one namespace a dashboard would see two
series of one name. The oracle here is real Powertools, stacked under ``@warmable`` as the README
shows, with both variables set to different values.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from types import SimpleNamespace
from typing import Any

import pytest

from tests.emf import emf_documents, emf_problems
from thermostat_runtime import Environment, Telemetry, warmable
from thermostat_runtime.telemetry import DEFAULT_NAMESPACE, metrics_namespace

pytestmark = pytest.mark.unit

OURS = "ThermostatOps"
POWERTOOLS = "OrdersApp"


def _context(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=request_id,
        function_name="orders",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
        get_remaining_time_in_millis=lambda: 30_000,
        client_context=None,
    )


@pytest.fixture
def both_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", OURS)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", POWERTOOLS)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    # A fresh process for Powertools: its cold-start flag is module state.
    monkeypatch.setattr(cold_start, "is_cold_start", True)


@pytest.mark.usefixtures("both_namespaces")
def test_our_emf_goes_to_our_namespace_and_powertools_keeps_its_own() -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    # Given a user's handler with real Powertools Metrics (its own cold-start metric on), under @warmable
    metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE, as users write it

    @warmable(environment=Environment(init_type="on-demand", started_at=0.0), telemetry=Telemetry())
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: Any, context: Any) -> dict[str, int]:
        metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
        return {"statusCode": 200}

    # When it runs a cold and a warm invocation, printing to stdout as in Lambda
    out = io.StringIO()
    with redirect_stdout(out):
        handler({"path": "/"}, _context("req-1"))
        handler({"path": "/"}, _context("req-2"))
    documents = emf_documents(out.getvalue().splitlines())

    # Then every document is valid EMF, and each ColdStart series is alone in its namespace
    assert documents
    assert [problem for document in documents for problem in emf_problems(document)] == []
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            by_namespace.setdefault(directive["Namespace"], []).append({"document": document, **directive})
    assert set(by_namespace) == {OURS, POWERTOOLS}

    ours = [item for item in by_namespace[OURS] if item["document"].get("thermostat") == 1]
    assert len(ours) == len(by_namespace[OURS]) == 2
    assert [item["document"]["ColdStart"] for item in ours] == [1, 0]
    assert all(item["Dimensions"] == [["InitType"], ["FunctionName", "InitType"]] for item in ours)

    theirs = by_namespace[POWERTOOLS]
    assert all("thermostat" not in item["document"] for item in theirs)
    cold_dimensions = [
        item["Dimensions"] for item in theirs if {"Name": "ColdStart", "Unit": "Count"} in item["Metrics"]
    ]
    assert cold_dimensions == [[["function_name"]]]
    assert sum(1 for item in theirs if any(metric["Name"] == "OrdersPlaced" for metric in item["Metrics"])) == 2


def test_the_runtime_reads_its_own_variable_and_never_powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given only Powertools' variable set
    monkeypatch.delenv("THERMOSTAT_METRICS_NAMESPACE", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", POWERTOOLS)

    # When the runtime's namespace is read, and with thermostat's set (blank counts as unset)
    unset = metrics_namespace()
    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", "  ")
    blank = metrics_namespace()
    monkeypatch.setenv("THERMOSTAT_METRICS_NAMESPACE", OURS)

    # Then Powertools' is ignored and ours, when set, is used by Telemetry
    assert unset == blank == DEFAULT_NAMESPACE == "Thermostat"
    assert Telemetry(sink=[].append).namespace == OURS


@pytest.mark.usefixtures("fresh_observability")
def test_the_control_plane_metrics_follow_the_setting_and_not_powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.hook import HookStatus, Verdict
    from handlers.pre_traffic import publish_verdict_metrics
    from infra.observability import get_metrics, publish_metrics

    # Given both variables set (the fixture sets thermostat's), Powertools' to another value
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", POWERTOOLS)

    # When the hook publishes a verdict's metrics
    out = io.StringIO()
    with redirect_stdout(out):
        publish_verdict_metrics(Verdict(status=HookStatus.SUCCEEDED, function="f", version="1", reason="ok"))
        publish_metrics()
    documents = emf_documents(out.getvalue().splitlines())

    # Then every document (single_metric and the shared Metrics) is valid EMF in thermostat's namespace
    assert get_metrics().namespace == "ThermostatTest"
    assert len(documents) == 2
    assert [problem for document in documents for problem in emf_problems(document)] == []
    namespaces = {d["Namespace"] for document in documents for d in document["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {"ThermostatTest"}
    assert json.dumps(documents).count('"HookVerdict"') >= 1
