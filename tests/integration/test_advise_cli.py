"""``thermostat advise`` on moto (threaded server): a target in the table, its function in Lambda, and
a week of its platform records in CloudWatch Logs, written in the local runner's log format
(``emulator/platform_log.py``, which follows Lambda's ``REPORT`` line).

The expected figures come from what the test wrote (which requests went cold, their init) and
from the cost model (``domain/costs.py``) applied to the numbers ``advise --json`` reports.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from html import escape
from typing import Any

import boto3
import pytest

from domain import costs
from domain.targets import make_target
from emulator.platform_log import TEXT, end_records
from handlers.cli import main
from infra.prices import shipped_price_table
from infra.target_store import DynamoTargetStore

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _function(memory_mb: int = 512) -> None:
    role = boto3.client("iam").create_role(RoleName="orders-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    client = boto3.client("lambda")
    client.create_function(
        FunctionName="orders",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        MemorySize=memory_mb,
        Architectures=["arm64"],
    )
    version = client.publish_version(FunctionName="orders")["Version"]
    client.create_alias(FunctionName="orders", Name="live", FunctionVersion=version)


def _write_week(now_ms: int) -> tuple[int, int, list[float]]:
    """Each of the last 6 days, two hours before now: 4 overlapping requests, the first cold. Returns counts."""
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/orders")
    stream = time.strftime("%Y/%m/%d", time.gmtime(now_ms / 1000)) + "/[1]0123abcd"
    logs.create_log_stream(logGroupName="/aws/lambda/orders", logStreamName=stream)
    events: list[dict[str, Any]] = []
    inits: list[float] = []
    for day in range(1, 7):
        start = now_ms - day * DAY_MS - 2 * HOUR_MS
        for i in range(4):
            init = 900.0 + day * 10 if i == 0 else None
            if init is not None:
                inits.append(init)
            lines = end_records(TEXT, request_id=f"d{day}-r{i}", duration_ms=250.0, memory_mb=512, init_ms=init)
            report = next(line for line in lines if line.startswith("REPORT "))
            events.append({"timestamp": start + 250 + i * 20, "message": report})
    events.sort(key=lambda event: event["timestamp"])
    logs.put_log_events(logGroupName="/aws/lambda/orders", logStreamName=stream, logEvents=events)
    return len(events), len(inits), inits


def _advise(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["advise", "--json", "--since", "1w", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_advise_json_matches_the_cost_model(moto_server: str, table: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a target with a fixed N of 2, its function (512 MB arm64 python3.12) and a week of its records
    _function()
    store = DynamoTargetStore(table)
    store.put(make_target(function="orders", qualifier="live", concurrency=2))
    requests, colds, inits = _write_week(int(time.time() * 1000))
    # When
    document = _advise(capsys)
    # Then: the measured figures are what was written
    (advice,) = document["targets"]
    assert advice["target"] == "orders:live"
    assert (advice["memory_mb"], advice["architecture"], advice["runtime"]) == (512, "arm64", "python3.12")
    assert advice["requests"] == requests
    assert advice["cold_starts"] == colds
    assert advice["cold_rate"] == pytest.approx(colds / requests)
    assert advice["p95_init_ms"] == sorted(inits)[-1]  # nearest-rank p95 of six values is the largest
    assert advice["peak_concurrency"] == 4
    assert sum(advice["requests_per_hour"]) == pytest.approx(requests / 7)
    assert max(advice["auto_schedule"]) == 4
    assert advice["removable"] == 1.0
    # and the dollars are the cost model's for the schedule it reports
    prices = shipped_price_table()
    arm = prices.prices("us-east-1", "arm64")
    share = costs.WarmerShare(round_ms=document["warmer_round_ms"], targets=1)
    auto = costs.keep_warm_cost(
        arm,
        memory_mb=512,
        hold_ms=100,
        pings_per_month=costs.pings_for_schedule(advice["auto_schedule"]),
        warmer=share,
        warmer_prices=arm,
    )
    fixed = costs.keep_warm_cost(
        arm, memory_mb=512, hold_ms=100, pings_per_month=2 * costs.rounds_per_month(), warmer=share, warmer_prices=arm
    )
    assert advice["costs"]["keep_warm_auto"]["total"] == pytest.approx(auto.total)
    assert advice["costs"]["keep_warm_fixed"]["total"] == pytest.approx(fixed.total)
    scheduled = costs.provisioned_cost(arm, memory_mb=512, n_by_hour=advice["auto_schedule"], scheduled=True)
    assert advice["costs"]["provisioned_scheduled"]["parts"]["charge"] == pytest.approx(scheduled.charge)
    snap = costs.snapstart_cost(
        arm, memory_mb=512, runtime="python3.12", restores_per_month=colds / (7 * 86400) * costs.SECONDS_PER_MONTH
    )
    assert snap is not None
    assert advice["costs"]["snapstart"]["total"] == pytest.approx(snap.total, rel=1e-3)  # window is 1w to the ms
    assert advice["recommendation"] == "keep-warm auto"
    assert advice["reason"].startswith(f"keep-warm auto: {costs.dollars(auto.total)} / month, removes 100 % of cold")
    assert document["prices"]["as_of"] == str(prices.as_of)


def test_table_and_html(moto_server: str, table: str, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    _function()
    DynamoTargetStore(table).put(make_target(function="orders", qualifier="live"))
    _write_week(int(time.time() * 1000))
    page = tmp_path / "advice.html"
    assert main(["advise", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "orders:live: keep-warm auto - keep-warm auto: $" in out
    assert "real requests per hour of day (UTC)" in out
    html = page.read_text()
    assert "<section id='advice'>" in html
    assert "orders:live" in html


def test_bad_prices_file_is_refused_and_nothing_changes(
    moto_server: str, table: str, capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _function()
    store = DynamoTargetStore(table)
    store.put(make_target(function="orders", qualifier="live", concurrency=3))
    before = store.load()
    bad = tmp_path / "prices.json"
    bad.write_text('{"source": "mine", "as_of": "yesterday", "regions": {}}')
    monkeypatch.setenv("THERMOSTAT_PRICES_FILE", str(bad))
    assert main(["advise"]) == 2
    error = capsys.readouterr().err
    assert f"price table {bad} (THERMOSTAT_PRICES_FILE or --prices) is not valid" in error
    assert "as_of" in error
    assert store.load() == before
    assert bad.read_text() == '{"source": "mine", "as_of": "yesterday", "regions": {}}'


def test_without_a_table_functions_must_be_named(
    moto_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THERMOSTAT_TABLE", raising=False)
    assert main(["advise"]) == 2
    assert "set THERMOSTAT_TABLE" in capsys.readouterr().err
    _function()
    requests, _, _ = _write_week(int(time.time() * 1000))
    document = _advise(capsys, "--function", "orders:live")
    (advice,) = document["targets"]
    assert advice["requests"] == requests
    assert advice["costs"]["keep_warm_fixed"] is None  # not a target: no fixed N to price


def test_missing_function_bad_name_and_unpriced_region(
    moto_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THERMOSTAT_TABLE", raising=False)
    assert main(["advise", "--function", "billing:live"]) == 1
    assert "function billing:live does not exist (GetFunctionConfiguration)" in capsys.readouterr().err
    assert main(["advise", "--function", "not a name"]) == 2
    assert "--function 'not a name': expected a Lambda function name" in capsys.readouterr().err
    assert main(["advise", "--function", "orders", "--min", "3", "--max", "2"]) == 2
    assert "need 0 <= min <= max" in capsys.readouterr().err
    _function()
    assert main(["advise", "--function", "orders:live", "--region", "ap-south-2"]) == 2
    assert "no prices for region 'ap-south-2'" in capsys.readouterr().err


def test_report_html_carries_the_advice_section(
    moto_server: str, table: str, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # Given a target and a week of its records
    _function()
    DynamoTargetStore(table).put(make_target(function="orders", qualifier="live", concurrency=2))
    _write_week(int(time.time() * 1000))
    advice = _advise(capsys)["targets"][0]
    # When the report page is written with --advise
    page = tmp_path / "report.html"
    assert main(["report", "--since", "1h", "--html", str(page), "--advise"]) == 0
    capsys.readouterr()
    html = page.read_text()
    # Then the page holds the advice section, with advise's own recommendation and reason
    assert html.count("<section id='advice'>") == 1
    assert html.index("<section id='advice'>") < html.rindex("</body>")
    assert advice["recommendation"] in html
    assert escape(advice["reason"]) in html
    # And --advise without --html is refused before anything is read
    assert main(["report", "--advise"]) == 2
    assert "--advise adds a section to the HTML page: give --html FILE too" in capsys.readouterr().err
