"""EventBridge schedule expressions: ``rate(…)`` and ``cron(…)``, parsed and stepped.

Used to validate the template's schedules and by the local event router to fire them. UTC
only, as EventBridge rules are. ``cron`` has six fields: minutes, hours, day-of-month,
month, day-of-week, year; one of day-of-month and day-of-week must be ``?``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidInput

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {name: number for number, name in enumerate(_DAY_NAMES, start=1)}
_MAX_SEARCH_DAYS = 366 * 5


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every N units, counted from when the rule was enabled."""

    expression: str
    interval: timedelta

    def next_after(self, moment: datetime, anchor: datetime) -> datetime:
        """The first firing strictly after ``moment``, for a rule enabled at ``anchor``."""
        if moment < anchor:
            return anchor + self.interval
        elapsed = (moment - anchor) // self.interval
        return anchor + self.interval * (elapsed + 1)


@dataclass(frozen=True)
class CronSchedule:
    """``cron(min hour dom month dow year)`` in UTC."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None = "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday … 7 = Saturday; None = "?"
    years: frozenset[int] | None  # None = any year

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        if self.days_of_week is not None:
            return (day.isoweekday() % 7) + 1 in self.days_of_week
        return True

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime:  # noqa: ARG002
        """The first firing strictly after ``moment`` (UTC, minute resolution); cron ignores the anchor."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for offset in range(_MAX_SEARCH_DAYS):
            candidate_day = day + timedelta(days=offset)
            if not self._day_matches(candidate_day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    candidate = candidate_day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        raise InvalidInput(f"{self.expression}: never fires within {_MAX_SEARCH_DAYS} days")


Schedule = RateSchedule | CronSchedule


def _field(text: str, low: int, high: int, names: dict[str, int] | None, what: str, expr: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidInput(f"{expr}: bad step {step_text!r} in the {what} field")
            step = int(step_text)
        if part in {"*", ""}:
            first, last = low, high
        elif "-" in part:
            first_text, last_text = part.split("-", 1)
            first = _value(first_text, names, what, expr)
            last = _value(last_text, names, what, expr)
        else:
            first = _value(part, names, what, expr)
            last = high if step > 1 else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise InvalidInput(f"{expr}: {part!r} is outside {low}-{high} in the {what} field")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None, what: str, expr: str) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if text.isdigit():
        return int(text)
    raise InvalidInput(f"{expr}: {text!r} is not a valid value in the {what} field")


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression; InvalidInput says what is wrong with it."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if count == 0:
            raise InvalidInput(f"{expression}: the rate must be a positive number")
        if (count == 1) != (not unit.endswith("s")):
            raise InvalidInput(
                f"{expression}: use the singular unit for 1 and the plural otherwise (rate(1 hour), rate(5 hours))"
            )
        return RateSchedule(text, timedelta(seconds=count * _UNIT_SECONDS[unit.rstrip("s")]))
    cron = _CRON.match(text)
    if cron:
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise InvalidInput(f"{expression}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise InvalidInput(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
        return CronSchedule(
            expression=text,
            minutes=_field(minute, 0, 59, None, "minutes", text),
            hours=_field(hour, 0, 23, None, "hours", text),
            days_of_month=None if dom == "?" else _field(dom, 1, 31, None, "day-of-month", text),
            months=_field(month, 1, 12, _MONTHS, "month", text),
            days_of_week=None if dow == "?" else _field(dow, 1, 7, _DAYS, "day-of-week", text),
            years=None if year == "*" else _field(year, 1970, 2199, None, "year", text),
        )
    raise InvalidInput(f"{expression!r} is not a schedule expression: use rate(N minutes|hours|days) or cron(6 fields)")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC datetime (test and caller convenience)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
