"""The cycle calendar file: every mistake an admin makes is named with its line and key."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from workflow.cycle_config import DaysAfter, WorkingDaysAfter, load_cycle
from workflow.domain import State
from workflow.errors import ConfigFileError, ConfigFileErrors
from workflow.settings import PROJECT_ROOT

GOOD = """\
id: t-2026-04
name: "April 2026"
period: {kind: month, start: 2026-04-01, end: 2026-04-30}
timezone: Asia/Ho_Chi_Minh
holidays:
  country: VN
  extra_days_off: []
  extra_working_days: []
deadline_time: "17:00"
phases:
  self_assessment: {opens: "2026-05-04 08:00", due: {working_days: 3}}
  peer_input: {due: {working_days: 2}}
  supervisor_scoring: {due: {working_days: 3}}
  calibration: {due: {working_days: 3}}
  appeal_window: {due: {working_days: 5}}
  appeal_review: {due: {working_days: 10}}
reminders:
  - {working_days_before: 1, at: "08:00"}
escalation:
  - {after_working_days: 2, to: assignee_supervisor}
  - {after_working_days: 4, to: admins}
admins: [A1]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cycle.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def bad(tmp_path: Path, old: str, new: str) -> str:
    """Load GOOD with one line changed; the error text (it must fail)."""
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises((ConfigFileError, ConfigFileErrors)) as info:
        load_cycle(path)
    return str(info.value).replace(str(path), "FILE")


def test_the_good_file_and_the_sample_files_load_without_notes(tmp_path: Path) -> None:
    loaded = load_cycle(write(tmp_path, GOOD))
    assert loaded.config.phase(State.PEER_INPUT).due == WorkingDaysAfter(working_days=2)
    assert loaded.advice() == []
    for sample in sorted((PROJECT_ROOT / "config" / "cycles").glob("*.yaml")):
        assert load_cycle(sample).advice() == [], sample


def test_phases_out_of_order(tmp_path: Path) -> None:
    msg = bad(tmp_path, "  appeal_window: {due: {working_days: 5}}\n"
                        "  appeal_review: {due: {working_days: 10}}",
              '  appeal_window: {due: "2026-05-29 17:00"}\n'
              '  appeal_review: {due: "2026-05-20 17:00"}')
    assert msg == ("FILE:16: phases.appeal_review.due: phases out of order: 2026-05-20 17:00 "
                   "comes before appeal_window.due (2026-05-29 17:00); phases run in the order "
                   "self_assessment, peer_input, supervisor_scoring, calibration, appeal_window, "
                   "appeal_review")


def test_a_due_date_before_the_period_ends(tmp_path: Path) -> None:
    msg = bad(tmp_path, "peer_input: {due: {working_days: 2}}",
              'peer_input: {due: "2026-04-29 17:00"}')
    assert msg.startswith("FILE:12: phases.peer_input.due: 2026-04-29 17:00 is before the "
                          "period ends (2026-04-30)")


def test_a_date_that_does_not_exist(tmp_path: Path) -> None:
    msg = bad(tmp_path, "supervisor_scoring: {due: {working_days: 3}}",
              'supervisor_scoring: {due: "2026-02-30 17:00"}')
    assert msg == ("FILE:13: phases.supervisor_scoring.due: '2026-02-30 17:00' is not a date "
                   "that exists: February 2026 has 28 days")


def test_a_period_end_that_does_not_exist(tmp_path: Path) -> None:
    msg = bad(tmp_path, "end: 2026-04-30}", "end: 2026-04-31}")
    assert msg == ("FILE:3: period.end: '2026-04-31' is not a date that exists: April 2026 "
                   "has 30 days")


def test_a_thirteenth_month(tmp_path: Path) -> None:
    msg = bad(tmp_path, "extra_days_off: []", "extra_days_off: [2026-13-01]")
    assert msg == ("FILE:7: holidays.extra_days_off[0].date: '2026-13-01' is not a date that "
                   "exists: there is no month 13")


def test_an_unknown_timezone(tmp_path: Path) -> None:
    msg = bad(tmp_path, "timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Hanoi")
    assert msg == ("FILE:4: timezone: unknown time zone 'Asia/Hanoi' (expected an IANA name "
                   "such as Asia/Ho_Chi_Minh or Europe/Paris)")


def test_an_offset_instead_of_a_timezone(tmp_path: Path) -> None:
    msg = bad(tmp_path, "timezone: Asia/Ho_Chi_Minh", 'timezone: "+07:00"')
    assert msg.startswith("FILE:4: timezone: unknown time zone '+07:00'")


def test_a_time_that_is_not_one(tmp_path: Path) -> None:
    msg = bad(tmp_path, '{working_days_before: 1, at: "08:00"}',
              '{working_days_before: 1, at: "25:00"}')
    assert msg == ("FILE:18: reminders[0].at: '25:00' is not a time of day: hours go 00..23 "
                   "and minutes 00..59 (midnight is 00:00 of the next day)")


def test_a_deadline_time_written_like_a_clock_face(tmp_path: Path) -> None:
    msg = bad(tmp_path, 'deadline_time: "17:00"', 'deadline_time: "5pm"')
    assert msg == ("FILE:9: deadline_time: '5pm' is not a time of day (expected HH:MM on the "
                   "24-hour clock, e.g. 08:00 or 17:00)")


def test_a_local_time_with_an_offset(tmp_path: Path) -> None:
    msg = bad(tmp_path, 'opens: "2026-05-04 08:00"', 'opens: "2026-05-04T08:00+07:00"')
    assert msg == ("FILE:11: phases.self_assessment.opens: '2026-05-04T08:00+07:00': give a "
                   "local time without an offset; the cycle's timezone applies")


def test_a_due_written_as_a_bare_number(tmp_path: Path) -> None:
    msg = bad(tmp_path, "peer_input: {due: {working_days: 2}}", "peer_input: {due: 2}")
    assert msg == ("FILE:12: phases.peer_input.due: 2: write {working_days: 2} for 2 working "
                   "days after the phase opens, or a local date-time such as '2026-05-07 17:00'")


def test_negative_working_days(tmp_path: Path) -> None:
    msg = bad(tmp_path, "peer_input: {due: {working_days: 2}}",
              "peer_input: {due: {working_days: -2}}")
    assert msg.startswith("FILE:12: phases.peer_input.due.working_days: Input should be "
                          "greater than or equal to 0")


def test_a_misspelt_key(tmp_path: Path) -> None:
    msg = bad(tmp_path, "reminders:\n", "reminder:\n")
    assert msg == ("FILE:17: reminder: unknown key (check its spelling against the documented "
                   "keys)")


def test_a_missing_phase(tmp_path: Path) -> None:
    msg = bad(tmp_path, "  supervisor_scoring: {due: {working_days: 3}}\n", "")
    assert msg == "FILE:10: phases: every phase needs a due time; missing: supervisor_scoring"


def test_the_petition_phases_may_be_left_to_the_regime(tmp_path: Path) -> None:
    # The cycle file alone does not have them; the regime's petition rules give them
    # (tests/integration/test_petition_rules.py runs both kinds of regime).
    text = GOOD.replace("  appeal_window: {due: {working_days: 5}}\n", "") \
        .replace("  appeal_review: {due: {working_days: 10}}\n", "")
    config = load_cycle(write(tmp_path, text)).config
    assert config.listed_phases()[-1] is State.CALIBRATION
    with pytest.raises(KeyError, match="leaves it to the regime"):
        config.phase(State.APPEAL_WINDOW)


def test_a_due_in_calendar_days(tmp_path: Path) -> None:
    text = GOOD.replace("appeal_window: {due: {working_days: 5}}",
                        "appeal_window: {due: {days: 5}}")
    assert load_cycle(write(tmp_path, text)).config.phase(State.APPEAL_WINDOW).due \
        == DaysAfter(days=5)
    msg = bad(tmp_path, "appeal_window: {due: {working_days: 5}}",
              "appeal_window: {due: {days: 0}}")
    assert msg.startswith("FILE:15: phases.appeal_window.due.days: Input should be greater "
                          "than or equal to 1"), msg


def test_an_unknown_phase(tmp_path: Path) -> None:
    msg = bad(tmp_path, "  peer_input: {due:", "  peer_review: {due:")
    assert msg.startswith("FILE:10: phases: unknown phase 'peer_review'; the phases are "
                          "self_assessment, peer_input")


def test_switching_off_a_phase_that_cannot_be(tmp_path: Path) -> None:
    msg = bad(tmp_path, "appeal_window: {due: {working_days: 5}}",
              "appeal_window: {enabled: false, due: {working_days: 5}}")
    assert msg == ("FILE:15: phases.appeal_window.enabled: appeal_window cannot be switched "
                   "off; only peer_input, calibration can")


def test_opens_after_due(tmp_path: Path) -> None:
    msg = bad(tmp_path, "appeal_window: {due: {working_days: 5}}",
              'appeal_window: {opens: "2026-06-01 08:00", due: "2026-05-29 17:00"}')
    assert "FILE:15: phases.appeal_window.due: 2026-05-29 17:00 is not after opens " \
           "(2026-06-01 08:00)" in msg
    # Said once: not also as the phases out of order (the due before its own opens).
    assert msg.count("phases.appeal_window.due") == 1 and "out of order" not in msg


def test_a_year_typed_wrong(tmp_path: Path) -> None:
    msg = bad(tmp_path, "appeal_review: {due: {working_days: 10}}",
              'appeal_review: {due: "2062-06-15 17:00"}')
    assert msg == ("FILE:16: phases.appeal_review.due: 2062-06-15 is more than 366 days after "
                   "the period ends (2026-04-30); check the year")


def test_a_month_period_that_spans_a_quarter(tmp_path: Path) -> None:
    msg = bad(tmp_path, "end: 2026-04-30}", "end: 2026-06-30}")
    assert msg.startswith("FILE:3: period: a month cannot run from 2026-04-01 to 2026-06-30 "
                          "(3 calendar months)")


def test_a_period_that_ends_before_it_starts(tmp_path: Path) -> None:
    msg = bad(tmp_path, "start: 2026-04-01, end: 2026-04-30", "start: 2026-04-30, end: 2026-04-01")
    assert msg.startswith("FILE:3: period: the period ends (2026-04-01) before it starts")


def test_escalation_steps_out_of_order(tmp_path: Path) -> None:
    msg = bad(tmp_path, "after_working_days: 4, to: admins", "after_working_days: 1, to: admins")
    assert msg == ("FILE:19: escalation: steps must be listed in the order they happen "
                   "(after_working_days 2, 1)")


def test_an_escalation_to_nobody_we_know(tmp_path: Path) -> None:
    msg = bad(tmp_path, "to: admins", "to: director")
    assert msg.startswith("FILE:21: escalation[1].to: Input should be 'assignee_supervisor' "
                          "or 'admins'")


def test_the_same_reminder_twice(tmp_path: Path) -> None:
    msg = bad(tmp_path, '  - {working_days_before: 1, at: "08:00"}\n',
              '  - {working_days_before: 1, at: "08:00"}\n'
              '  - {working_days_before: 1, at: "8:00"}\n')
    assert msg == ("FILE:19: reminders[1]: the same reminder twice (1 working days before, "
                   "at 08:00)")


def test_a_day_both_off_and_worked(tmp_path: Path) -> None:
    msg = bad(tmp_path, "  extra_days_off: []\n  extra_working_days: []",
              "  extra_days_off: [2026-05-09]\n  extra_working_days: [2026-05-09]")
    assert msg == ("FILE:8: holidays.extra_working_days[0]: 2026-05-09 is also listed in "
                   "extra_days_off; a day is either off or worked")


def test_an_unknown_holiday_country(tmp_path: Path) -> None:
    msg = bad(tmp_path, "country: VN", "country: Vietnam")
    assert msg == ("FILE:6: holidays.country: 'Vietnam' is not a country the holidays package "
                   "knows (ISO 3166 alpha-2, e.g. VN)")


def test_peer_input_on_with_nobody_to_ask(tmp_path: Path) -> None:
    msg = bad(tmp_path, "admins: [A1]", "admins: [A1]\npeers: {enabled: true, per_person: 0}")
    assert msg == ("FILE:23: peers.per_person: is 0 while peer input is on: nobody would be "
                   "asked; set peers.enabled: false to switch peer input off")


def test_not_yaml(tmp_path: Path) -> None:
    msg = bad(tmp_path, "  peer_input: {due: {working_days: 2}}",
              "  peer_input: {due: {working_days: 2}")
    assert msg.startswith("FILE:13: not valid YAML")


def test_several_mistakes_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus")
                 .replace('deadline_time: "17:00"', 'deadline_time: "17h"'))
    with pytest.raises(ConfigFileErrors) as info:
        load_cycle(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:4", "timezone"], [f"{path}:9", "deadline_time"]]


# --- what the file lets an admin write briefly --------------------------------------


def test_a_due_given_as_a_date_is_due_at_the_deadline_time(tmp_path: Path) -> None:
    text = GOOD.replace("appeal_window: {due: {working_days: 5}}",
                        "appeal_window: {due: 2026-05-29}").replace('"17:00"', '"16:30"')
    config = load_cycle(write(tmp_path, text)).config
    assert config.phase(State.APPEAL_WINDOW).due == datetime(2026, 5, 29, 16, 30)
    assert config.deadline_time == time(16, 30)


def test_days_off_may_be_plain_dates_or_named(tmp_path: Path) -> None:
    text = GOOD.replace("extra_days_off: []",
                        'extra_days_off: [2026-05-06, {date: 2026-05-07, name: "congress"}]')
    cal = load_cycle(write(tmp_path, text)).config.working_calendar()
    assert cal.day_off_reason(date(2026, 5, 6)) == "day off (cycle calendar)"
    assert cal.day_off_reason(date(2026, 5, 7)) == "congress"


def test_a_phase_switched_off_elsewhere_may_be_left_out(tmp_path: Path) -> None:
    text = GOOD.replace("  peer_input: {due: {working_days: 2}}\n", "") \
        .replace("  calibration: {due: {working_days: 3}}\n", "") \
        + "peers: {enabled: false}\ncalibration: {enabled: false}\n"
    config = load_cycle(write(tmp_path, text)).config
    assert not config.enabled(State.PEER_INPUT)
    assert not config.enabled(State.CALIBRATION)


def test_a_day_off_listed_twice_is_named_in_the_readers_language(tmp_path: Path) -> None:
    """The note beside the field of the admin's form: the day as the form writes it, the
    holiday or the weekend in the page's language (the CLI's English stays as it was)."""
    from workflow.web import i18n

    text = GOOD.replace("extra_days_off: []", "extra_days_off: [2026-04-30, 2026-05-02]")
    config = load_cycle(write(tmp_path, text)).config
    notes = [problem for _where, problem in config.advice()][:2]

    def said(locale: str, problem: str) -> str:
        return i18n.say_problem(locale, problem, lambda name, value: i18n.plain_value(
            locale, name, value, str, str, lambda label: str(getattr(label, locale))))

    assert [said("vi", n) for n in notes] == [
        "30/04/2026 vốn đã là ngày nghỉ (Ngày Chiến thắng); ghi thêm ngày này không thay "
        "đổi gì",
        "02/05/2026 vốn đã là ngày nghỉ (cuối tuần); ghi thêm ngày này không thay đổi gì"]
    assert said("en", notes[1]) == ("02/05/2026 is already a day off (weekend); listing it "
                                    "changes nothing")
    assert str(notes[1]) == "2026-05-02 is already a day off (weekend); listing it changes " \
        "nothing"


def test_advice_names_what_is_allowed_but_probably_not_meant(tmp_path: Path) -> None:
    text = GOOD.replace("extra_days_off: []", "extra_days_off: [2026-04-30]") \
        .replace("extra_working_days: []", "extra_working_days: [2026-05-05]") \
        .replace('  - {working_days_before: 1, at: "08:00"}',
                 '  - {working_days_before: 0, at: "17:30"}')
    notes = [n.replace(str(tmp_path / "cycle.yaml"), "FILE")
             for n in load_cycle(write(tmp_path, text)).advice()]
    assert notes == [
        "FILE:7: holidays.extra_days_off[0]: 2026-04-30 is already a day off (Liberation "
        "Day/Reunification Day); listing it changes nothing",
        "FILE:8: holidays.extra_working_days[0]: 2026-05-05 (Tuesday) is already a working "
        "day; listing it changes nothing",
        "FILE:18: reminders[0].at: 17:30 on the due day is not before the deadline (17:00): "
        "this reminder is never sent for phases due at deadline_time",
    ]


def test_unit_ids_that_yaml_1_1_reads_as_booleans_stay_names(tmp_path: Path) -> None:
    # "NO" (a Norwegian desk), "OFF" (an office): YAML 1.1 makes them False; here only
    # true and false are booleans, and switches written yes/no still work.
    text = GOOD + "population:\n  units: [NO, OFF, On]\ncalibration: {enabled: no}\n"
    config = load_cycle(write(tmp_path, text)).config
    assert config.population.units == ("NO", "OFF", "On")
    assert not config.enabled(State.CALIBRATION)
