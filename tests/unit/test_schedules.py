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
        ("cron(0 12 ? * 3#1,6#3 *)", "one expression only"),
        ("cron(0 12 ? * 3#6 *)", "must be 1-5"),
        ("cron(0 12 L-2 * ? *)", "day-of-month field"),
        ("cron(0 12 ? * 3W *)", "day-of-week field"),
        ("cron(0 L * * ? *)", "hours field"),
        ("cron(? 12 * * ? *)", "minutes field"),
        ("cron(0 12 * 13 ? *)", "outside 1-12 in the month field"),
        ("cron(0 12 * * ? 2030-2025)", "runs backwards in the year field"),
        ("cron(0 12 * * ? 1969)", "outside 1970-2199 in the year field"),
        ("cron(0 12 ? * 8 *)", "outside 1-7 in the day-of-week field"),
        ("cron(0 12 32 * ? *)", "outside 1-31 in the day-of-month field"),
        ("cron(0,,5 12 * * ? *)", "empty list item in the minutes field"),
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


# Features croniter cannot check (it has no LW, and it reads nW past a short month's end differently),
# checked here against dates read off a calendar.


def test_lw_is_the_last_weekday_of_the_month() -> None:
    schedule = parse_schedule("cron(0 18 LW * ? *)")
    assert schedule.next_after(utc(2026, 1, 1)) == utc(2026, 1, 30, 18, 0)  # Jan 31 2026 is a Saturday
    assert schedule.next_after(utc(2026, 5, 1)) == utc(2026, 5, 29, 18, 0)  # May 31 2026 is a Sunday
    assert schedule.next_after(utc(2026, 6, 1)) == utc(2026, 6, 30, 18, 0)  # a Tuesday


def test_nearest_weekday_never_leaves_the_month() -> None:
    first = parse_schedule("cron(0 9 1W * ? *)")
    assert first.next_after(utc(2026, 7, 31)) == utc(2026, 8, 3, 9, 0)  # Aug 1 2026 is a Saturday: Monday the 3rd
    last = parse_schedule("cron(0 9 31W * ? *)")
    assert last.next_after(utc(2026, 5, 1)) == utc(2026, 5, 29, 9, 0)  # May 31 is a Sunday: Friday the 29th
    assert last.next_after(utc(2026, 6, 1)) == utc(2026, 7, 31, 9, 0)  # June has no 31st: no firing in June


def test_l_alone_in_day_of_week_is_saturday() -> None:
    schedule = parse_schedule("cron(0 7 ? * L *)")
    assert schedule.next_after(utc(2026, 12, 2)) == utc(2026, 12, 5, 7, 0)


def test_step_from_a_start_runs_to_the_end_of_the_field() -> None:
    schedule = parse_schedule("cron(5/1 * * * ? *)")
    assert isinstance(schedule, CronSchedule)
    assert sorted(schedule.minutes) == list(range(5, 60))
    quarter = parse_schedule("cron(0/15 * * * ? *)")
    assert isinstance(quarter, CronSchedule)
    assert sorted(quarter.minutes) == [0, 15, 30, 45]
    assert schedule.next_after(utc(2026, 1, 1, 0, 59)) == utc(2026, 1, 1, 1, 5)
