"""Dates and times as an HR officer types them in a form: one parser, one set of messages. Pure.

Every form of the admin console that takes a date (the cycle calendar, the bulk
extension, ...) reads it here, so that 31/04/2026 is refused with the same words
everywhere: "“31/04/2026” is not a date: April 2026 has 30 days". Accepted: the
day first as Vietnam writes it (30/04/2026, also with dots or dashes) and the ISO
order (2026-04-30); a time of day on the 24-hour clock (17:00, 17h00). A two-digit
year is refused (26 could be 1926 or 2026) with the date written in full as the fix.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time

from workflow.catalog import N_
from workflow.errors import Problem

REQUIRED = N_("required")
NOT_A_DATE = N_("“%(value)s” is not a date: write it as day/month/year (30/04/2026) or "
                "2026-04-30")
NO_SUCH_DAY = N_("“%(value)s” is not a date: %(month)s has %(days)s days")
NO_SUCH_MONTH = N_("“%(value)s” is not a date: there is no month %(month)s")
SHORT_YEAR = N_("“%(value)s”: write the year in full (%(example)s)")
NOT_A_TIME = N_("“%(value)s” is not a time of day: write it as 08:00 or 17:00 (24-hour "
                "clock)")
NOT_A_DATETIME = N_("“%(value)s” is not a date and time: write it as 07/05/2026 17:00 or "
                    "2026-05-07 17:00")

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DMY_SHORT = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2})[:h](\d{2})$")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


@dataclass(frozen=True, slots=True)
class MonthName:
    """A month of a year as a message names it, in each language (a page says ``vi`` or
    ``en`` by its locale, like any label; ``str`` is the English, for the CLI and logs)."""

    year: int
    month: int

    @property
    def en(self) -> str:
        return f"{_EN_MONTHS[self.month - 1]} {self.year}"

    @property
    def vi(self) -> str:
        return f"tháng {self.month}/{self.year}"

    def __str__(self) -> str:
        return self.en


_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_VI_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


@dataclass(frozen=True, slots=True)
class Weekday:
    """A day of the week (0: Monday) as a message names it, in each language."""

    number: int

    @property
    def en(self) -> str:
        return _EN_WEEKDAYS[self.number]

    @property
    def vi(self) -> str:
        return _VI_WEEKDAYS[self.number]

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True, slots=True)
class FormDay:
    """A day (or a day and a time) of a cycle file as a check message names it: ``str``
    is the file's own ISO form (the CLI, next to the file it checks); ``vi`` and ``en``
    the day/month/year the admin's forms ask for, so that a page never answers
    30/04/2026 with 2026-04-30."""

    value: date | datetime

    @property
    def en(self) -> str:
        if isinstance(self.value, datetime):
            return f"{self.value:%d/%m/%Y %H:%M}"
        return f"{self.value:%d/%m/%Y}"

    @property
    def vi(self) -> str:
        return self.en

    def __str__(self) -> str:
        if isinstance(self.value, datetime):
            return f"{self.value:%Y-%m-%d %H:%M}"
        return self.value.isoformat()


class NotADate(ValueError):
    """What was typed is not a date (or a time); ``problem`` says why, for the field."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def parse_day(text: str) -> date:
    """A day typed as 30/04/2026 or 2026-04-30 (spaces around it ignored); NotADate
    naming what is wrong otherwise, an empty text included (REQUIRED)."""
    value = text.strip()
    if not value:
        raise NotADate(Problem(REQUIRED))
    if (short := _DMY_SHORT.match(value)) is not None:
        d, m, y = (int(g) for g in short.groups())
        raise NotADate(Problem(SHORT_YEAR, value=value, example=f"{d:02d}/{m:02d}/20{y:02d}"))
    if (iso := _ISO.match(value)) is not None:
        y, m, d = (int(g) for g in iso.groups())
    elif (dmy := _DMY.match(value)) is not None:
        d, m, y = (int(g) for g in dmy.groups())
    else:
        raise NotADate(Problem(NOT_A_DATE, value=value))
    if y < 1:
        raise NotADate(Problem(NOT_A_DATE, value=value))
    if not 1 <= m <= 12:
        raise NotADate(Problem(NO_SUCH_MONTH, value=value, month=m))
    days = monthrange(y, m)[1]
    if not 1 <= d <= days:
        raise NotADate(Problem(NO_SUCH_DAY, value=value, month=MonthName(y, m), days=days))
    return date(y, m, d)


def parse_clock(text: str) -> time:
    """A time of day on the 24-hour clock: 08:00, 8:00, 17h00."""
    value = text.strip()
    match = _CLOCK.match(value)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise NotADate(Problem(NOT_A_TIME, value=value))
    return time(int(match.group(1)), int(match.group(2)))


def parse_day_time(text: str) -> tuple[date, time | None]:
    """A day with an optional time of day (``07/05/2026 17:00``, ``2026-05-07T17:00``);
    the time is None when only the day is typed. A day that does not exist is said as
    ``parse_day`` says it; anything else unreadable as NOT_A_DATETIME."""
    value = text.strip()
    day_text, _, clock_text = value.replace("T", " ", 1).partition(" ")
    if not clock_text.strip():
        return parse_day(day_text), None
    try:
        day = parse_day(day_text)
    except NotADate as exc:
        if exc.problem.message in (NO_SUCH_DAY, NO_SUCH_MONTH, SHORT_YEAR):
            raise  # the day is the problem: say that, not the format
        raise NotADate(Problem(NOT_A_DATETIME, value=value)) from None
    try:
        return day, parse_clock(clock_text)
    except NotADate:
        raise NotADate(Problem(NOT_A_DATETIME, value=value)) from None
