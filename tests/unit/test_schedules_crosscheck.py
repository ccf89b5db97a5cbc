"""Our cron against an independent implementation (croniter), over AWS's documented examples.

The expressions are the examples of AWS's documentation — "Setting a schedule pattern for scheduled rules
(legacy) in Amazon EventBridge" (its Examples table and its Wildcards text: ``1/10``, ``3W``, ``3#2``) and the
EventBridge Scheduler User Guide's "Schedule types on EventBridge Scheduler" (``cron(15 10 ? * 6L 2022-2023)``)
— plus the brief's ``5/1`` and a few that exercise each remaining wildcard. croniter is a maintained library
(PyPI ``croniter``), installed by the ``dev`` extra only.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from croniter import CroniterBadDateError, croniter

from domain.errors import InvalidInput
from domain.schedules import CronSchedule, parse_schedule

pytestmark = pytest.mark.unit

DOCUMENTED = [
    # "Setting a schedule pattern for scheduled rules (legacy) in Amazon EventBridge", Examples table
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0/30 20-2 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    # the same document's Wildcards text
    "cron(1/10 * * * ? *)",
    "cron(0 12 3W * ? *)",
    "cron(0 12 ? * 3#2 *)",
    "cron(0 12 ? JAN,FEB,MAR * *)",
    "cron(0 12 1-15 * ? *)",
    # "Schedule types on EventBridge Scheduler", cron examples
    "cron(15 10 ? * 6L 2022-2023)",
]
MORE = [
    "cron(5/1 * * * ? *)",
    "cron(0 0 L * ? *)",
    "cron(30 6 1W * ? *)",
    "cron(0 0 ? * FRI-MON *)",
    "cron(0 12 ? * SUN,3,SAT *)",
    "cron(0 12 1/10 FEB-NOV/3 ? 2024/2)",
    "cron(45 23 29 2 ? *)",
    "cron(0 0 ? * 1L *)",
    "cron(10-50/20 */7 ? * 5#5 2023-2027)",
]
EXPRESSIONS = DOCUMENTED + MORE
FIRINGS = 6


def _to_croniter(expression: str) -> str:
    """AWS's six fields → croniter's seven (min hour dom month dow second year); its weekdays are 0 = Sunday."""
    minute, hour, dom, month, dow, year = expression[len("cron(") : -1].split()
    dom = "*" if dom == "?" else dom
    if dow == "?":
        dow = "*"
    else:
        dow = re.sub(r"\d+", lambda m: str(int(m.group()) - 1), dow.split("#")[0]) + (
            "#" + dow.split("#")[1] if "#" in dow else ""
        )
        dow = re.sub(r"^(\w+)L$", r"L\1", dow)
    return f"{minute} {hour} {dom} {month} {dow} 0 {year}"


def _instants() -> list[datetime]:
    rng = random.Random(20261202)
    span = int((datetime(2027, 12, 31, tzinfo=UTC) - datetime(2022, 1, 1, tzinfo=UTC)).total_seconds())
    drawn = [datetime(2022, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(span)) for _ in range(120)]
    edges = [
        datetime(2023, 12, 31, 23, 59, 30, tzinfo=UTC),
        datetime(2024, 2, 28, 23, 59, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 5, 31, 6, 30, tzinfo=UTC),
        datetime(2022, 1, 1, tzinfo=UTC),
    ]
    return drawn + edges


INSTANTS = _instants()


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_fire_sequence_equals_croniter(expression: str) -> None:
    # Given one documented expression, read by us and by croniter
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    for start in INSTANTS:
        reference = croniter(_to_croniter(expression), start)
        # When each steps FIRINGS times from the same instant, Then both name the same minutes
        ours: list[datetime] = []
        theirs: list[datetime] = []
        moment = start
        for _ in range(FIRINGS):
            try:
                expected = reference.get_next(datetime)
            except CroniterBadDateError:  # past the expression's last year: neither fires again
                with pytest.raises(InvalidInput, match="never fires"):
                    schedule.next_after(moment)
                break
            moment = schedule.next_after(moment)
            ours.append(moment)
            theirs.append(expected)
        assert ours == theirs, (expression, start)


def test_the_comparison_covers_enough() -> None:
    assert len(EXPRESSIONS) * len(INSTANTS) >= 3000
