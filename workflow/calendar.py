"""Working days and local times. Pure: dates in, dates out.

Built on the ``holidays`` package, which already knows Viet Nam's days off, the
substituted ones and the swapped working Saturdays (``weekend_workdays``), and does
the arithmetic (``get_nth_working_day``, ``get_working_days_count``). A cycle adds
its own extra days off and extra working days on top: they are applied to the
package's own holiday object, year by year as it fills itself in, so the package's
arithmetic sees them and we keep no calendar of our own.

Times are aware datetimes; a local time is turned into an instant with the zone of
the cycle (for deadlines) or of the recipient (for reminders).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflow import formatting
from workflow.catalog import N_
from workflow.errors import Problem

# Holiday names are shown to admins by `kpi cycle check`; the package would
# otherwise pick a language from the environment (LANG), and the same file would
# print differently on two machines.
HOLIDAY_LANGUAGE = "en_US"


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; ValueError with the name when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(Problem(N_("unknown time zone '%(name)s' (expected an IANA name such "
                                    "as Asia/Ho_Chi_Minh or Europe/Paris)"), name=name)) from None


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of ``clock`` on ``day`` in ``tz``."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def country_calendar(country: str, extra_days_off: Mapping[date, str],
                     extra_working_days: frozenset[date]) -> Any:
    """The ``holidays`` object of ``country`` with a cycle's own days applied.

    The package fills a year in when a date of that year is first looked at
    (``_populate``); the subclass applies the cycle's days right after, so they hold
    for every year the arithmetic walks into, and a swapped day can cancel one of the
    package's (an extra working day on a public holiday, an extra day off on a
    swapped working Saturday).
    """
    # Imported here: every command reads the clock (zone, below), few need holidays.
    import holidays  # noqa: PLC0415

    base = type(holidays.country_holidays(country))

    class CycleHolidays(base):  # type: ignore[misc, valid-type]
        def _populate(self, year: int) -> None:
            super()._populate(year)
            for day in extra_working_days:
                if day.year == year and day in self:
                    self.pop(day)
                if day.weekday() >= 5:
                    self.weekend_workdays.add(day)
            for day, name in extra_days_off.items():
                # Another year's substitutions may name this date too: always drop it.
                self.weekend_workdays.discard(day)
                if day.year == year:
                    self[day] = name

    return CycleHolidays(language=HOLIDAY_LANGUAGE)


# The languages the package names Viet Nam's days off in, by a page's locale.
HOLIDAY_LANGUAGES = {"vi": "vi", "en": HOLIDAY_LANGUAGE}


def holiday_name(name: str, locale: str, country: str = "VN",
                 years: tuple[int, ...] = ()) -> str:
    """A public holiday's name (as the calendar gives it, in HOLIDAY_LANGUAGE) in
    ``locale``'s language, from the package's own translations, a date in it written
    as the product writes one in that language; any other text (a cycle's own day off,
    written by the agency) as it is."""
    language = HOLIDAY_LANGUAGES.get(locale)
    if language is None:
        return name
    for year in years or _YEARS:
        found = _holiday_names(country, language, year).get(name)
        if found is not None:
            return _us_dates_read(found) if language == HOLIDAY_LANGUAGE else found
    return name


# The package's American English writes the day a substitute day off replaces
# month first ("Day off (substituted from 08/22/2026)"): on an English page of this
# product that reads 8 October, when it is 22 August (``formatting.numeric_date``).
_US_DATE = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b")


def _us_dates_read(name: str) -> str:
    def english(found: re.Match[str]) -> str:
        month, day, year = (int(part) for part in found.groups())
        try:
            return formatting.numeric_date(date(year, month, day), "en")
        except ValueError:  # not a month-first date after all
            return found.group(0)

    return _US_DATE.sub(english, name)


@dataclass(frozen=True, slots=True)
class DayOffName:
    """Why a day is off, as a message names it: ``str`` is the calendar's English (the
    CLI); ``vi`` and ``en`` are the package's names in each language, so that a page
    says "Ngày Chiến thắng" where the CLI says "Liberation Day/Reunification Day", and
    "Day off (substituted from 22 Aug 2026)" where the package writes 08/22/2026."""

    name: str

    @property
    def en(self) -> str:
        return holiday_name(self.name, "en")

    @property
    def vi(self) -> str:
        return holiday_name(self.name, "vi")

    def __str__(self) -> str:
        return self.name


# The years a page may show when it does not say (a cycle runs within two years).
_YEARS = tuple(range(2024, 2032))


@cache
def _holiday_names(country: str, language: str, year: int) -> dict[str, str]:
    """Each of ``country``'s holiday names of ``year``, from HOLIDAY_LANGUAGE to
    ``language`` (the same days, named by the package in both)."""
    import holidays  # noqa: PLC0415

    source = holidays.country_holidays(country, years=year, language=HOLIDAY_LANGUAGE)
    target = holidays.country_holidays(country, years=year, language=language)
    return {str(source[d]): str(target[d]) for d in source if d in target}


@dataclass(frozen=True)
class WorkingCalendar:
    """Public holidays of a country plus a cycle's own days off and working days."""

    country: str = "VN"
    extra_days_off: Mapping[date, str] = field(default_factory=dict)
    extra_working_days: frozenset[date] = frozenset()

    @cached_property
    def _holidays(self) -> Any:
        return country_calendar(self.country, self.extra_days_off, self.extra_working_days)

    @cached_property
    def _working(self) -> dict[date, bool]:
        # The package answers each question by walking its dicts and weekend rules
        # (about 4 us a day); a sweep asks the same few dates for every evaluation.
        # The calendar never changes once made, so each answer is kept.
        return {}

    @cached_property
    def _nth(self) -> dict[tuple[date, int], date]:
        return {}

    def is_working_day(self, day: date) -> bool:
        """A weekday that is no holiday, or a swapped working weekend day."""
        known = self._working.get(day)
        if known is None:
            known = self._working[day] = bool(self._holidays.is_working_day(day))
        return known

    def day_off_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day (holiday name, or weekend), None if it is one."""
        if self.is_working_day(day):
            return None
        name = self._holidays.get(day)
        return str(name) if name else "weekend"

    def working_day_reason(self, day: date) -> str | None:
        """Why a weekend ``day`` is worked (a swapped Saturday); None otherwise."""
        if day.weekday() < 5 or not self.is_working_day(day):
            return None
        if day in self.extra_working_days:
            return "working day (cycle calendar)"
        return "swapped working day"

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it when n < 0).

        n == 0: ``day`` itself if it is a working day, else the next working day.
        """
        known = self._nth.get((day, n))
        if known is None:
            known = self._nth[(day, n)] = self._holidays.get_nth_working_day(day, n)
        return known

    def subtract_working_days(self, day: date, n: int) -> date:
        """The n-th working day before ``day``; n == 0: ``day`` or the working day before."""
        if n == 0 and self.is_working_day(day):
            return day
        return self.add_working_days(day, -max(n, 1))

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days after ``start`` ``end`` is."""
        if end <= start:
            return 0
        return int(self._holidays.get_working_days_count(start + timedelta(days=1), end))

    def days_off(self, start: date, end: date) -> Iterator[tuple[date, str]]:
        """Every day in [start, end] that is not a working day, with its reason."""
        current = start
        while current <= end:
            reason = self.day_off_reason(current)
            if reason:
                yield current, reason
            current += timedelta(days=1)

    def swapped_working_days(self, start: date, end: date) -> Iterator[tuple[date, str]]:
        """Every weekend day in [start, end] that is worked, with why."""
        current = start
        while current <= end:
            reason = self.working_day_reason(current)
            if reason:
                yield current, reason
            current += timedelta(days=1)
