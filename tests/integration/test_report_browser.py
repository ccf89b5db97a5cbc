"""The HTML report in a real browser: headless Chromium at 900 px wide, nothing overflows.

Chromium is Debian's package (`make browser`, run by `make test`, installs it when it is
missing and the user is root). The page is opened from a file with a small script appended
that measures every element after layout and writes what sticks out into the DOM, which
`--dump-dom` prints; a screenshot of the same window is taken too, and must be 900 px wide.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from domain.report import HOUR_MS, ReportContext, build_report
from handlers.cli._report_html import render_html
from infra.telemetry_source import parse_emf_line
from thermostat_runtime import Telemetry

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 900

#: Appended to the page under test only: lists the elements whose box leaves the viewport, or
#: whose content is wider than the box (a table cell that its text overflows).
MEASURE = """
<script>
addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("title") || el.tagName === "title" || el.tagName === "SCRIPT") continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const name = el.tagName + (el.className && el.className.baseVal === undefined ? "." + el.className : "");
    if (box.right > width + 0.5 || box.left < -0.5) out.push(name + " box " + box.left + "-" + box.right);
    const svg = el.ownerSVGElement;  // an SVG child drawn outside its SVG is cut off
    if (svg) {
      const frame = svg.getBoundingClientRect();
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5)
        out.push(name + " outside its svg: " + (el.textContent || "").slice(0, 40));
    }
    if ((el.tagName === "TD" || el.tagName === "TH" || el.tagName === "DD") && el.scrollWidth > el.clientWidth + 1)
      out.push(name + " content " + el.scrollWidth + ">" + el.clientWidth + ": " + el.textContent.slice(0, 40));
  }
  const probe = document.createElement("pre");
  probe.id = "measured";
  probe.textContent = JSON.stringify({width: width, scroll: document.documentElement.scrollWidth, out: out});
  document.body.appendChild(probe);
});
</script>
"""


def _line(function: str, kind: str, stamp_ms: int, service: str | None = None) -> dict[str, Any]:
    telemetry = Telemetry(sink=lambda _line: None)
    telemetry.function_name = function
    telemetry.service = service or function
    line = telemetry.line(
        kind=kind,
        found=kind,
        init_type="on-demand",
        init_ms=180.0 if kind == "cold" else None,
        environment_id="e",
        request_id="r",
        duration_ms=1.0,
    )
    document = parse_emf_line(line)
    assert document is not None
    document["_aws"]["Timestamp"] = stamp_ms
    return document


def _warm(target: str, sent: int, environments: int, stamp_ms: int) -> dict[str, Any]:
    function, qualifier = target.split(":")
    names = ["WarmPings", "WarmEnvironments", "WarmColdHits", "WarmErrors", "WarmThrottles"]
    return {
        "_aws": {
            "Timestamp": stamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Thermostat",
                    "Dimensions": [["group", "function", "qualifier"]],
                    "Metrics": [{"Name": name} for name in names],
                }
            ],
        },
        "group": "default",
        "function": function,
        "qualifier": qualifier,
        "planned": sent,
        "WarmPings": sent,
        "WarmEnvironments": environments,
        "WarmColdHits": 0,
        "WarmErrors": 0,
        "WarmThrottles": 0,
    }


def a_busy_report() -> str:
    """A day of a fleet with long names, few and many invocations, thermostat's own functions, every section."""
    now = int(time.time() * 1000)
    since = now - 24 * HOUR_MS
    records: list[dict[str, Any]] = []
    long_name = "orders-service-production-eu-west-1-checkout-handler-with-a-very-long-name"
    for hour in range(24):
        stamp = since + hour * HOUR_MS + 1000
        records += [_line(long_name, "cold" if hour % 3 == 0 else "warm", stamp) for _ in range(4)]
        records.append(_line("demo-greeter", "warm_ping", stamp))
    records += [_line("rarely-called", "cold", now - 5000)]
    records += [_line("KeepWarmFunction", k, now - 9000, service="thermostat") for k in ("cold", "warm", "warm")]
    records += [_line("CodeDeployHook_thermostat-local-with-a-long-suffix", "cold", now - 8000, service="thermostat")]
    records += [_warm("demo-greeter:live", 5, 5, now - 4000), _warm(f"{long_name}:live", 10, 7, now - 3000)]
    records.append(
        {
            "_aws": {
                "Timestamp": now - 2000,
                "CloudWatchMetrics": [
                    {"Namespace": "Thermostat", "Dimensions": [["status"]], "Metrics": [{"Name": "HookVerdict"}]}
                ],
            },
            "status": "Failed",
            "HookVerdict": 1,
            "function": long_name,
            "reason": "5/5 invocations failed: " + "x" * 300,
        }
    )
    context = ReportContext(
        since_ms=since, until_ms=now, generated_ms=now, account="123456789012", region="eu-west-1", min_sample=20
    )
    return render_html(build_report(records, context))


def measure(page: str, tmp_path: Path) -> dict[str, Any]:
    """Open ``page`` in headless Chromium at 900 px and return what the measuring script found."""
    assert CHROMIUM is not None
    file = tmp_path / "page.html"
    file.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    common += [f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},1400"]
    done = subprocess.run(
        [*common, "--virtual-time-budget=2000", "--dump-dom", file.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found is not None, done.stdout[-2000:]
    import html

    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured


def screenshot_width(page: str, tmp_path: Path) -> int:
    assert CHROMIUM is not None
    file = tmp_path / "shot.html"
    file.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            *(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"),
            f"--user-data-dir={tmp_path / 'profile-shot'}",
            f"--window-size={WIDTH},1400",
            f"--screenshot={shot}",
            file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width: int = struct.unpack(">I", data[16:20])[0]
    return width


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed: `make browser` installs it (apt-get, as root); see the README's Development",
)


@needs_chromium
def test_the_report_fits_a_900_px_window(tmp_path: Path) -> None:
    page = a_busy_report()
    measured = measure(page, tmp_path)
    assert measured["width"] == WIDTH
    assert measured["out"] == []
    assert measured["scroll"] <= WIDTH
    assert screenshot_width(page, tmp_path) == WIDTH


@needs_chromium
def test_the_measurement_catches_a_broken_page(tmp_path: Path) -> None:
    # The same page with one element wider than the window: the check must see it
    broken = a_busy_report().replace("<main>", '<main><div style="width:1200px">too wide</div>', 1)
    measured = measure(broken, tmp_path)
    assert any(item.startswith("DIV box") for item in measured["out"]), measured
    assert measured["scroll"] > WIDTH
