"""Schedule expressions: rate and cron, as EventBridge reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidInput
from domain.schedules import CronSchedule, RateSchedule, parse_schedule, utc

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expression", "interval"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rates(expression: str, interval: int) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule)
    assert schedule.interval == timedelta(seconds=interval)
    anchor = utc(2026, 1, 1, 0, 0)
    assert schedule.next_after(anchor, anchor) == anchor + timedelta(seconds=interval)
    assert schedule.next_after(anchor + timedelta(seconds=interval * 2.5), anchor) == anchor + timedelta(
        seconds=interval * 3
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(5 minutez)", "is not a schedule expression"),
        ("rate(1 minutes)", "singular unit"),
        ("rate(5 minute)", "singular unit"),
        ("rate(0 minutes)", "positive"),
        ("cron(0 12 * * ? )", "6 fields"),
        ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 25 * * ? *)", "outside 0-23"),
        ("cron(61 * * * ? *)", "outside 0-59"),
        ("cron(0 12 ? * FUNDAY *)", "not a valid value"),
        ("cron(0/0 * * * ? *)", "bad step"),
        ("every 5 minutes", "is not a schedule expression"),
    ],
)
def test_bad_expressions_say_why(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_schedule(expression)


def test_cron_weekdays_office_hours() -> None:
    schedule = parse_schedule("cron(0/15 8-17 ? * MON-FRI *)")
    assert isinstance(schedule, CronSchedule)
    friday_evening = utc(2026, 11, 20, 17, 50)  # a Friday
    assert schedule.next_after(friday_evening) == utc(2026, 11, 23, 8, 0)  # Monday 08:00
    assert schedule.next_after(utc(2026, 11, 23, 8, 0)) == utc(2026, 11, 23, 8, 15)


def test_cron_day_of_month_and_year() -> None:
    schedule = parse_schedule("cron(30 2 1 JAN,JUL ? 2027)")
    assert schedule.next_after(utc(2026, 6, 1)) == utc(2027, 1, 1, 2, 30)
    assert schedule.next_after(utc(2027, 1, 1, 2, 30)) == utc(2027, 7, 1, 2, 30)


def test_cron_that_never_fires_again_is_reported() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2020)")
    with pytest.raises(InvalidInput, match="never fires"):
        schedule.next_after(utc(2026, 1, 1))
