"""One parser for the dates HR types in a form (workflow.dates): what it reads, and the
words of each refusal, in English and Vietnamese."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from workflow import catalog, dates


def refusal(text: str, parse: str = "parse_day") -> str:
    with pytest.raises(dates.NotADate) as caught:
        getattr(dates, parse)(text)
    return str(caught.value.problem)


@pytest.mark.parametrize(("typed", "day"), [
    ("30/04/2026", date(2026, 4, 30)),
    (" 2026-04-30 ", date(2026, 4, 30)),
    ("1/5/2026", date(2026, 5, 1)),
    ("29.02.2028", date(2028, 2, 29)),
])
def test_the_day_first_and_the_iso_order_are_read(typed: str, day: date) -> None:
    assert dates.parse_day(typed) == day


@pytest.mark.parametrize(("typed", "says"), [
    ("31/04/2026", "“31/04/2026” is not a date: April 2026 has 30 days"),
    ("29/02/2027", "“29/02/2027” is not a date: February 2027 has 28 days"),
    ("2026-04-31", "“2026-04-31” is not a date: April 2026 has 30 days"),
    ("13/13/2026", "“13/13/2026” is not a date: there is no month 13"),
    ("4/5/26", "“4/5/26”: write the year in full (04/05/2026)"),
    ("", "required"),
    ("   ", "required"),
    ("0000-01-01", "“0000-01-01” is not a date: write it as day/month/year"),
    ("30 tháng 4", "“30 tháng 4” is not a date: write it as day/month/year (30/04/2026)"),
])
def test_a_day_that_is_not_one_is_refused_with_its_reason(typed: str, says: str) -> None:
    assert refusal(typed).startswith(says)


def test_a_day_with_a_time_and_without_one() -> None:
    assert dates.parse_day_time("07/05/2026 17:00") == (date(2026, 5, 7), time(17, 0))
    assert dates.parse_day_time("2026-05-07T08:30") == (date(2026, 5, 7), time(8, 30))
    assert dates.parse_day_time(" 07/05/2026 ") == (date(2026, 5, 7), None)
    assert dates.parse_clock("17h00") == time(17, 0)
    # The day is what is wrong: said as the day's problem, not as a format.
    assert refusal("31/04/2026 17:00", "parse_day_time") == \
        "“31/04/2026” is not a date: April 2026 has 30 days"
    assert refusal("07/05/2026 25:00", "parse_day_time").startswith(
        "“07/05/2026 25:00” is not a date and time: write it as 07/05/2026 17:00")
    assert refusal("24:00", "parse_clock").startswith("“24:00” is not a time of day")


def test_the_refusals_read_in_vietnamese_with_the_month_named_the_vietnamese_way() -> None:
    with pytest.raises(dates.NotADate) as caught:
        dates.parse_day("31/04/2026")
    problem = caught.value.problem
    month = problem.params["month"]
    assert isinstance(month, dates.MonthName) and str(month) == "April 2026"
    said = catalog.gettext("vi", problem.message, value="31/04/2026",
                           month=month.vi, days=problem.params["days"])
    assert said == "“31/04/2026” không phải là ngày có thật: tháng 4/2026 chỉ có 30 ngày"
    for message in (dates.NOT_A_DATE, dates.NO_SUCH_DAY, dates.NO_SUCH_MONTH,
                    dates.SHORT_YEAR, dates.NOT_A_TIME, dates.NOT_A_DATETIME):
        assert catalog.gettext("vi", message, value="x", month=1, days=1, example="y") \
            != message % {"value": "x", "month": 1, "days": 1, "example": "y"}


def test_a_check_names_a_day_the_files_way_for_the_cli_and_the_forms_way_on_a_page() -> None:
    due = dates.FormDay(datetime(2026, 7, 3, 17, 0))
    assert str(due) == "2026-07-03 17:00"  # beside the file it checks: the file's form
    assert due.vi == due.en == "03/07/2026 17:00"  # beside a field asking for dd/mm/yyyy
    assert str(dates.FormDay(date(2026, 4, 30))) == "2026-04-30"
    assert dates.FormDay(date(2026, 4, 30)).vi == "30/04/2026"
