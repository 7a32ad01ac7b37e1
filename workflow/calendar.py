"""Working days and phase times. Pure: dates in, dates out.

Built on the ``holidays`` package, which already knows Viet Nam's days off, the
substituted ones and the swapped working Saturdays (``weekend_workdays``). A cycle
adds its own extra days off and extra working days on top. Times are aware
datetimes; a local time is turned into an instant with the zone of the cycle (for
deadlines) or of the recipient (for reminders).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; ValueError with the name when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as "
                         "Asia/Ho_Chi_Minh)") from None


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of ``clock`` on ``day`` in ``tz``."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """Public holidays of a country plus a cycle's own days off and working days."""

    country: str = "VN"
    extra_days_off: Mapping[date, str] | None = None
    extra_working_days: frozenset[date] = frozenset()

    @cached_property
    def _holidays(self) -> Any:
        h = holidays.country_holidays(self.country)
        for day, name in (self.extra_days_off or {}).items():
            h[day] = name
        return h

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        return bool(self._holidays.is_working_day(day))

    def day_off_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day (holiday name, or weekend), None if it is one."""
        if self.is_working_day(day):
            return None
        name = self._holidays.get(day)
        return str(name) if name else "weekend"

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (n >= 1); n == 0: ``day`` or the next working day."""
        if n < 0:
            return self.subtract_working_days(day, -n)
        current = day
        if n == 0:
            while not self.is_working_day(current):
                current += timedelta(days=1)
            return current
        while n:
            current += timedelta(days=1)
            if self.is_working_day(current):
                n -= 1
        return current

    def subtract_working_days(self, day: date, n: int) -> date:
        """The n-th working day before ``day``; n == 0: ``day`` or the working day before it."""
        current = day
        if n == 0:
            while not self.is_working_day(current):
                current -= timedelta(days=1)
            return current
        while n:
            current -= timedelta(days=1)
            if self.is_working_day(current):
                n -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days after ``start`` ``end`` is."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def days_off(self, start: date, end: date) -> Iterable[tuple[date, str]]:
        """Every day in [start, end] that is not a working day, with its reason."""
        current = start
        while current <= end:
            reason = self.day_off_reason(current)
            if reason:
                yield current, reason
            current += timedelta(days=1)
