"""Numbers, scores, dates and times as people read them, in Vietnamese and English. Pure.

One module for every surface (web pages, emails, reports, the CLI), on Babel, so that
a deadline or a score reads the same on the web and in mail:

- numbers with the locale's separators (``89,99`` / ``89.99``; ``1.234`` / ``1,234``),
  percentages (``20%``), scores rounded by the regime's display rule
  (``workflow.scoring.display``) and then only written, never rounded again;
- a date and time always with the time zone named by its place and its offset, the
  same way everywhere (the form the emails had, now the web's too):
  ``17:00, Thứ Năm 07/05/2026 (Giờ Việt Nam, UTC+07:00)`` /
  ``17:00, Thursday 7 May 2026 (Vietnam Time, UTC+07:00)``; a zone without a place
  by its offset alone (``UTC+00:00``);
- a date alone: ``Thứ Năm 07/05/2026`` / ``Thursday 7 May 2026``; the short form
  for subjects and tables: ``17:00 07/05/2026`` / ``7 May 2026, 17:00``.

An unknown locale is written as Vietnamese, the product's default.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.dates import get_timezone_location
from babel.numbers import format_decimal

if TYPE_CHECKING:  # scoring imports this module: the regime's rule is read at call time
    from workflow.scoring.model import Regime

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
NOTHING = "—"  # what is shown for a value that is not there

# The patterns of each locale (CLDR symbols, see babel.dates): the time first, as a
# deadline is read ("until 17:00, Thursday ...").
_DATETIME = {"vi": "HH:mm, EEEE dd/MM/y", "en": "HH:mm, EEEE d MMMM y"}
_DATE = {"vi": "EEEE dd/MM/y", "en": "EEEE d MMMM y"}
_SHORT = {"vi": "HH:mm dd/MM/y", "en": "d MMM y, HH:mm"}
_NUMERIC_DATE = {"vi": "dd/MM/y", "en": "d MMM y"}
# The rounding rules a regime's display may name (``ScoreDisplay.rounding``).
ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "floor": ROUND_FLOOR,
             "ceiling": ROUND_CEILING, "down": ROUND_DOWN}
_DECIMALS = Context(prec=28, rounding=ROUND_HALF_EVEN)  # a stored score's precision
_UTC_NAMES = ("UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "GMT", "Etc/GMT")


def _locale(locale: str | None) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Fraction):
        return _DECIMALS.divide(Decimal(value.numerator), Decimal(value.denominator))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# --- numbers ---------------------------------------------------------------------------


def number(value: Any, locale: str, places: int | None = 2, *, strip: bool = False,
           rounding: str = "half_up") -> str:
    """``value`` rounded to ``places`` (``rounding``: a rule of ``ScoreDisplay``), written
    with the locale's separators; ``strip`` drops trailing zeros (70, 7,5); ``places``
    None writes the digits as they are. ``NOTHING`` for no value."""
    d = _decimal(value)
    if d is None:
        return NOTHING if value is None or value == "" else str(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUNDINGS[rounding])
    if strip:
        d = d.normalize() if d != 0 else Decimal(0)
    exponent = d.as_tuple().exponent
    digits = max(0, -exponent) if isinstance(exponent, int) else 0
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(d, format=pattern, locale=_locale(locale),
                              decimal_quantization=False))


def shown_number(value: Any, locale: str) -> str:
    """A value already rounded for display (a canonical decimal string such as
    "89.99"), written the locale's way without rounding it again."""
    return number(value, locale, None)


def percent(share: Any, locale: str, places: int = 0) -> str:
    """A share (0..1) as a percentage: 20%, 12,5% (``places`` at most, trailing zeros
    dropped)."""
    d = _decimal(share)
    if d is None:
        return NOTHING if share is None or share == "" else str(share)
    return number(d * 100, locale, places, strip=True) + "%"


def score(value: Any, locale: str, regime: Regime, *, total: bool = True) -> str:
    """A score as the regime's display rule shows it, the locale's way. ``total``: the
    class-threshold rule applies (a total); otherwise plain rounding (a line, a mean)."""
    d = _decimal(value)
    if d is None:
        return NOTHING if value is None or value == "" else str(value)
    from workflow.scoring.display import shown_total  # noqa: PLC0415 (see the import above)

    rule = regime.display
    if total:
        return shown_number(f"{shown_total(d, regime):.{rule.places}f}", locale)
    return number(d, locale, rule.places, rounding=rule.rounding)


# --- dates and times ----------------------------------------------------------------


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@lru_cache(maxsize=64)
def zone_name(tz_name: str, locale: str) -> str | None:
    """How a time zone is named: by its place ("Giờ Việt Nam", "Vietnam Time", "France
    Time"), not by a season ("Central European Summer Time"), since people know where
    they are; None for a zone without a place (UTC), named by its offset alone."""
    if tz_name in _UTC_NAMES or tz_name.startswith("Etc/"):
        return None
    return str(get_timezone_location(ZoneInfo(tz_name), locale=_locale(locale)))


def _offset(moment: datetime) -> str:
    offset = moment.strftime("%z") or "+0000"
    return f"UTC{offset[:3]}:{offset[3:]}"


@lru_cache(maxsize=4096)  # a cycle's deadlines are few and shown in every mail and page
def date_time(value: Any, tz_name: str, locale: str) -> str:
    """An instant in ``tz_name``, the zone named: "17:00, Thứ Năm 07/05/2026 (Giờ Việt
    Nam, UTC+07:00)" / "17:00, Thursday 7 May 2026 (Vietnam Time, UTC+07:00)": the
    place for people who know where they are, the offset for those who are elsewhere.
    ``NOTHING`` for no value."""
    if value is None or value == "":
        return NOTHING
    loc = _locale(locale)
    tz = ZoneInfo(tz_name)
    moment = _instant(value).astimezone(tz)
    text = _babel_datetime(moment, _DATETIME[loc], tzinfo=tz, locale=loc)
    place = zone_name(tz_name, loc)
    return f"{text} ({place}, {_offset(moment)})" if place else f"{text} ({_offset(moment)})"


@lru_cache(maxsize=4096)
def day(value: Any, tz_name: str | None, locale: str) -> str:
    """The date of an instant in ``tz_name`` (or a date): "Thứ Năm 07/05/2026" /
    "Thursday 7 May 2026"."""
    if value is None or value == "":
        return NOTHING
    loc = _locale(locale)
    if isinstance(value, date) and not isinstance(value, datetime):
        return str(_babel_date(value, _DATE[loc], locale=loc))
    if isinstance(value, str) and len(value) == 10:
        return str(_babel_date(date.fromisoformat(value), _DATE[loc], locale=loc))
    tz = ZoneInfo(tz_name or "UTC")
    return str(_babel_datetime(_instant(value).astimezone(tz), _DATE[loc], tzinfo=tz,
                               locale=loc))


def numeric_date(value: date | str | None, locale: str) -> str:
    """A date without its weekday, for tables and periods: 07/05/2026 / 7 May 2026."""
    if value is None or value == "":
        return NOTHING
    loc = _locale(locale)
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return str(_babel_date(d, _NUMERIC_DATE[loc], locale=loc))


@lru_cache(maxsize=4096)
def short_time(value: Any, tz_name: str, locale: str) -> str:
    """"17:00 07/05/2026" / "7 May 2026, 17:00": for subjects and tables, where space
    is short (the zone is named once, elsewhere on the page)."""
    if value is None or value == "":
        return NOTHING
    loc = _locale(locale)
    tz = ZoneInfo(tz_name)
    return str(_babel_datetime(_instant(value).astimezone(tz), _SHORT[loc], tzinfo=tz,
                               locale=loc))


__all__ = ["NOTHING", "ROUNDINGS", "date_time", "day", "number", "numeric_date",
           "percent", "score", "short_time", "shown_number", "zone_name"]


def typed_date(value: date) -> str:
    """A date the way the admin console's forms ask for one (their hint: day/month/year,
    07/05/2026, in Vietnamese and in English alike), so that a form shows a date as it
    asks for it and ``workflow.dates`` reads it back unchanged."""
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def typed_date_time(value: date, clock: Any | None) -> str:
    """``typed_date`` with a time of day on the 24-hour clock (07/05/2026 17:00)."""
    day = typed_date(value)
    return day if clock is None else f"{day} {clock:%H:%M}"
