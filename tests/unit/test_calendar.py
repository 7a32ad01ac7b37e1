"""Working days on real 2026 dates of Viet Nam, and a cycle's own days off and on."""

from __future__ import annotations

from datetime import date

import pytest

from workflow.calendar import WorkingCalendar, holiday_name, zone

VN = WorkingCalendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_three_working_days_after_the_friday_before_tet_is_wednesday_25_february() -> None:
    assert d("2026-02-13").strftime("%A") == "Friday"
    assert VN.add_working_days(d("2026-02-13"), 3) == d("2026-02-25")
    assert VN.working_days_between(d("2026-02-13"), d("2026-02-25")) == 3


def test_tet_2026_is_five_days_off_from_the_eve_to_the_fourth_day() -> None:
    off = dict(VN.days_off(d("2026-02-14"), d("2026-02-22")))
    assert off == {
        d("2026-02-14"): "weekend", d("2026-02-15"): "weekend",
        d("2026-02-16"): "Lunar New Year's Eve", d("2026-02-17"): "Lunar New Year",
        d("2026-02-18"): "Second Day of Lunar New Year",
        d("2026-02-19"): "Third Day of Lunar New Year",
        d("2026-02-20"): "Fourth Day of Lunar New Year",
        d("2026-02-21"): "weekend", d("2026-02-22"): "weekend",
    }


def test_counting_back_from_after_tet_skips_the_holiday() -> None:
    assert VN.subtract_working_days(d("2026-02-25"), 1) == d("2026-02-24")
    assert VN.subtract_working_days(d("2026-02-23"), 1) == d("2026-02-13")
    # Zero days before a day off is the working day before it.
    assert VN.subtract_working_days(d("2026-02-18"), 0) == d("2026-02-13")
    assert VN.add_working_days(d("2026-02-18"), 0) == d("2026-02-23")


def test_hung_kings_day_on_sunday_is_observed_on_monday_27_april() -> None:
    assert VN.day_off_reason(d("2026-04-26")) == "Hung Kings' Commemoration Day"
    assert VN.day_off_reason(d("2026-04-27")) == "Hung Kings' Commemoration Day (observed)"
    assert VN.add_working_days(d("2026-04-24"), 1) == d("2026-04-28")


def test_30_april_and_1_may_make_a_four_day_weekend() -> None:
    assert VN.day_off_reason(d("2026-04-30")) == "Liberation Day/Reunification Day"
    assert VN.day_off_reason(d("2026-05-01")) == "International Labor Day"
    assert VN.add_working_days(d("2026-04-29"), 1) == d("2026-05-04")
    assert VN.working_days_between(d("2026-04-24"), d("2026-05-04")) == 3  # 28, 29 Apr, 4 May


def test_national_day_2026_is_31_august_to_2_september_and_22_august_is_worked() -> None:
    assert VN.day_off_reason(d("2026-08-31")) == "Day off (substituted from 08/22/2026)"
    assert VN.day_off_reason(d("2026-09-01")) == "National Day"
    assert VN.day_off_reason(d("2026-09-02")) == "National Day"
    assert VN.is_working_day(d("2026-08-22"))  # the Saturday swapped for 31 August
    assert VN.working_day_reason(d("2026-08-22")) == "swapped working day"
    assert VN.add_working_days(d("2026-08-21"), 1) == d("2026-08-22")
    assert VN.add_working_days(d("2026-08-28"), 1) == d("2026-09-03")
    assert list(VN.swapped_working_days(d("2026-08-01"), d("2026-09-30"))) == [
        (d("2026-08-22"), "swapped working day")]


def test_a_cycles_own_day_off_is_skipped_and_named() -> None:
    cal = WorkingCalendar(extra_days_off={d("2026-05-06"): "provincial congress"})
    assert cal.day_off_reason(d("2026-05-06")) == "provincial congress"
    assert cal.add_working_days(d("2026-05-04"), 3) == d("2026-05-08")
    assert VN.add_working_days(d("2026-05-04"), 3) == d("2026-05-07")  # others unchanged


def test_a_cycles_own_working_saturday_counts() -> None:
    cal = WorkingCalendar(extra_working_days=frozenset({d("2026-05-09")}))
    assert cal.add_working_days(d("2026-05-08"), 1) == d("2026-05-09")
    assert cal.working_day_reason(d("2026-05-09")) == "working day (cycle calendar)"
    assert cal.subtract_working_days(d("2026-05-11"), 1) == d("2026-05-09")


def test_a_cycle_can_work_a_public_holiday_and_rest_on_a_swapped_saturday() -> None:
    cal = WorkingCalendar(extra_days_off={d("2026-08-22"): "agency rest day"},
                          extra_working_days=frozenset({d("2026-04-27")}))
    assert cal.is_working_day(d("2026-04-27"))
    assert not cal.is_working_day(d("2026-08-22"))
    assert cal.day_off_reason(d("2026-08-22")) == "agency rest day"
    assert cal.add_working_days(d("2026-04-24"), 1) == d("2026-04-27")


def test_the_cycles_own_days_hold_in_a_later_year_the_arithmetic_walks_into() -> None:
    cal = WorkingCalendar(extra_days_off={d("2027-01-04"): "year-end closing"})
    assert cal.add_working_days(d("2026-12-31"), 1) == d("2027-01-05")  # 1 Jan, weekend, 4 Jan


def test_holiday_names_do_not_depend_on_the_machines_language(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "vi")
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    assert WorkingCalendar().day_off_reason(d("2026-09-02")) == "National Day"


def test_an_unknown_time_zone_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Asia/Hanoi'"):
        zone("Asia/Hanoi")
    assert str(zone("Asia/Ho_Chi_Minh")) == "Asia/Ho_Chi_Minh"


def test_a_public_holiday_is_named_in_the_pages_language_and_an_agencys_day_as_written(
        ) -> None:
    reason = WorkingCalendar("VN").day_off_reason(date(2026, 9, 2))
    assert reason == "National Day"  # the CLI's (and the file check's) language
    assert holiday_name(reason, "vi") == "Quốc khánh"
    assert holiday_name(reason, "en") == "National Day"
    assert holiday_name("Day off (substituted from 08/22/2026)", "vi") == \
        "Ngày nghỉ (thay cho ngày 22/08/2026)"
    assert holiday_name("Đại hội Đảng bộ tỉnh", "vi") == "Đại hội Đảng bộ tỉnh"


def test_an_english_holiday_name_writes_its_date_as_the_english_pages_do() -> None:
    """The package's American English names a substitute day off month first
    ("substituted from 08/22/2026", which an English page of this product would read as
    8 October); the pages say 22 Aug 2026, as ``formatting.numeric_date`` writes a date."""
    from workflow.calendar import DayOffName

    reason = WorkingCalendar("VN").day_off_reason(date(2026, 8, 31))
    assert reason == "Day off (substituted from 08/22/2026)"  # the package's, the CLI's
    assert holiday_name(reason, "en") == "Day off (substituted from 22 Aug 2026)"
    assert DayOffName(reason).en == "Day off (substituted from 22 Aug 2026)"
    assert DayOffName(reason).vi == "Ngày nghỉ (thay cho ngày 22/08/2026)"
    assert str(DayOffName(reason)) == reason
    assert holiday_name("Day off (substituted from 04/26/2025)", "en") == \
        "Day off (substituted from 26 Apr 2025)"
    # An agency's own day off is its text, whatever digits it has.
    assert holiday_name("Nghỉ bù ngày 05/09/2026", "en") == "Nghỉ bù ngày 05/09/2026"
