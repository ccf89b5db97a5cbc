"""EventBridge schedule expressions: ``rate(…)`` and ``cron(…)``, parsed and stepped.

Used to validate the template's schedules and by the local event router to fire them. UTC
only, as EventBridge rules are. ``cron`` has six fields: minutes, hours, day-of-month,
month, day-of-week, year; one of day-of-month and day-of-week must be ``?``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from domain.errors import InvalidInput

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {name: number for number, name in enumerate(_DAY_NAMES, start=1)}


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
class DaysOfMonth:
    """The day-of-month field: plain days, ``L`` (last day), ``LW`` (last weekday), ``nW`` (weekday nearest n)."""

    days: frozenset[int] = frozenset()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def matches(self, day: date) -> bool:
        """Whether ``day`` is one of the field's days."""
        length = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.days or (self.last and day.day == length):
            return True
        if self.last_weekday and day == _nearest_weekday(day.year, day.month, length):
            return True
        return any(day == _nearest_weekday(day.year, day.month, n) for n in self.nearest_weekday if n <= length)


@dataclass(frozen=True)
class DaysOfWeek:
    """The day-of-week field (1 = Sunday … 7 = Saturday): plain days, ``nL`` (last n of the month), ``n#k``."""

    days: frozenset[int] = frozenset()
    last_of_month: frozenset[int] = frozenset()
    nth: tuple[int, int] | None = None  # (weekday, k): the k-th such weekday of the month

    def matches(self, day: date) -> bool:
        """Whether ``day`` is one of the field's days."""
        weekday = day.isoweekday() % 7 + 1
        if weekday in self.days:
            return True
        length = calendar.monthrange(day.year, day.month)[1]
        if weekday in self.last_of_month and day.day + 7 > length:
            return True
        return self.nth is not None and self.nth == (weekday, (day.day - 1) // 7 + 1)


def _nearest_weekday(year: int, month: int, n: int) -> date:
    """Quartz's ``nW``: the weekday nearest day n, never leaving the month."""
    target = date(year, month, n)
    length = calendar.monthrange(year, month)[1]
    if target.weekday() == 5:  # Saturday: Friday before, unless that leaves the month
        return target - timedelta(days=1) if n > 1 else target + timedelta(days=2)
    if target.weekday() == 6:  # Sunday: Monday after, unless that leaves the month
        return target + timedelta(days=1) if n < length else target - timedelta(days=2)
    return target


@dataclass(frozen=True)
class CronSchedule:
    """``cron(min hour dom month dow year)`` in UTC."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: DaysOfMonth | None  # None = "?"
    months: frozenset[int]
    days_of_week: DaysOfWeek | None  # None = "?"
    years: frozenset[int]

    def _day_matches(self, day: date) -> bool:
        if self.days_of_month is not None:
            return self.days_of_month.matches(day)
        return self.days_of_week is None or self.days_of_week.matches(day)

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime:  # noqa: ARG002
        """The first firing strictly after ``moment`` (UTC, minute resolution); cron ignores the anchor."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                first = start.day if (year, month) == (start.year, start.month) else 1
                for day_number in range(first, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, day_number)
                    if not self._day_matches(day):
                        continue
                    for hour in hours:
                        for minute in minutes:
                            candidate = datetime(year, month, day_number, hour, minute)
                            if candidate >= start:
                                return candidate.replace(tzinfo=UTC)
        raise InvalidInput(f"{self.expression}: never fires after {moment.isoformat()} (years up to {_LAST_YEAR})")


Schedule = RateSchedule | CronSchedule
_LAST_YEAR = 2199


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None
    wraps: bool = True  # a range such as 20-2 or FRI-MON runs past the end and round


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DOW = _Field("day-of-week", 1, 7, _DAYS)
_YEAR = _Field("year", 1970, _LAST_YEAR, wraps=False)


def _values(text: str, spec: _Field, expr: str) -> frozenset[int]:
    """A field of plain values: ``*``, ``n``, ``a-b``, any of them ``/step``, comma-separated."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise InvalidInput(f"{expr}: an empty list item in the {spec.name} field")
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidInput(f"{expr}: bad step {step_text!r} in the {spec.name} field")
            step = int(step_text)
        if part == "*":
            first, last = spec.low, spec.high
        elif "-" in part:
            first_text, last_text = part.split("-", 1)
            first, last = _value(first_text, spec, expr), _value(last_text, spec, expr)
            if first > last and not spec.wraps:
                raise InvalidInput(f"{expr}: the range {part!r} runs backwards in the {spec.name} field")
        else:
            first = _value(part, spec, expr)
            last = spec.high if "/" in item else first
        span = spec.high - spec.low + 1
        count = (last - first) % span + 1 if first > last else last - first + 1
        values.update(spec.low + (first - spec.low + offset) % span for offset in range(0, count, step))
    return frozenset(values)


def _value(text: str, spec: _Field, expr: str) -> int:
    upper = text.upper()
    if spec.names and upper in spec.names:
        return spec.names[upper]
    if not text.isdigit():
        raise InvalidInput(f"{expr}: {text!r} is not a valid value in the {spec.name} field")
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise InvalidInput(f"{expr}: {text!r} is outside {spec.low}-{spec.high} in the {spec.name} field")
    return number


def _days_of_month(text: str, expr: str) -> DaysOfMonth:
    plain: list[str] = []
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            nearest.add(_value(item[:-1], _DOM, expr))
        elif "L" in upper or "W" in upper or "#" in upper:
            raise InvalidInput(f"{expr}: {item!r} is not valid in the day-of-month field (use L, LW, nW)")
        else:
            plain.append(item)
    days = _values(",".join(plain), _DOM, expr) if plain else frozenset()
    return DaysOfMonth(days, last, last_weekday, frozenset(nearest))


def _days_of_week(text: str, expr: str) -> DaysOfWeek:
    items = text.split(",")
    if any("#" in item for item in items):
        if len(items) > 1:
            raise InvalidInput(f"{expr}: with '#' the day-of-week field takes one expression only (not {text!r})")
        day_text, _, nth_text = text.partition("#")
        if not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
            raise InvalidInput(f"{expr}: {text!r}: the instance after '#' must be 1-5 in the day-of-week field")
        return DaysOfWeek(nth=(_value(day_text, _DOW, expr), int(nth_text)))
    plain: list[str] = []
    last_of: set[int] = set()
    for item in items:
        upper = item.upper()
        if upper == "L":
            plain.append("7")  # the last day of the week: Saturday
        elif upper.endswith("L") and "/" not in upper and "-" not in upper:
            last_of.add(_value(item[:-1], _DOW, expr))
        elif "L" in upper.replace("SAT", "").replace("SUN", "") or "W" in upper.replace("WED", ""):
            raise InvalidInput(f"{expr}: {item!r} is not valid in the day-of-week field (use L, nL, n#k)")
        else:
            plain.append(item)
    days = _values(",".join(plain), _DOW, expr) if plain else frozenset()
    return DaysOfWeek(days, frozenset(last_of))


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
        for value, spec in ((minute, _MINUTES), (hour, _HOURS), (month, _MONTH), (year, _YEAR)):
            if "?" in value or "L" in value.upper().replace("JUL", "") or "#" in value:
                raise InvalidInput(f"{expression}: {value!r}: ?, L, W and # are not valid in the {spec.name} field")
        return CronSchedule(
            expression=text,
            minutes=_values(minute, _MINUTES, text),
            hours=_values(hour, _HOURS, text),
            days_of_month=None if dom == "?" else _days_of_month(dom, text),
            months=_values(month, _MONTH, text),
            days_of_week=None if dow == "?" else _days_of_week(dow, text),
            years=_values(year, _YEAR, text),
        )
    raise InvalidInput(f"{expression!r} is not a schedule expression: use rate(N minutes|hours|days) or cron(6 fields)")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC datetime (test and caller convenience)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
