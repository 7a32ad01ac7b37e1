"""Phase windows, reminders, escalation and overdue times on 2026 dates. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from workflow.cycle_config import CycleFile, parse_cycle_text
from workflow.domain import State
from workflow.timing import (
    PhaseWindow,
    escalation_time,
    next_overdue,
    overdue_time,
    phase_window,
    reminder_times,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PARIS = ZoneInfo("Europe/Paris")


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN).astimezone(UTC)


def cycle(phases: str = "", extra: str = "", period: str = "2026-01-01, end: 2026-01-31"
          ) -> CycleFile:
    defaults = {
        "self_assessment": '{opens: "2026-02-13 08:00", due: {working_days: 3}}',
        "peer_input": "{due: {working_days: 2}}",
        "supervisor_scoring": "{due: {working_days: 3}}",
        "calibration": "{due: {working_days: 3}}",
        "appeal_window": "{due: {working_days: 5}}",
        "appeal_review": "{due: {working_days: 10}}",
    }
    for line in phases.strip().splitlines():
        name, _, value = line.strip().partition(": ")
        defaults[name] = value
    body = "\n".join(f"  {k}: {v}" for k, v in defaults.items())
    text = (f"id: c\nname: c\nperiod: {{kind: month, start: {period}}}\nphases:\n{body}\n"
            f"{extra}")
    return parse_cycle_text(text).config


def test_self_assessment_opened_before_tet_is_due_wednesday_25_february() -> None:
    c = cycle()
    w = phase_window(c, c.working_calendar(), State.SELF_ASSESSMENT, vn("2026-02-10 09:00"))
    assert (w.opens_at, w.due_at) == (vn("2026-02-13 08:00"), vn("2026-02-25 17:00"))
    assert w.moved_from is None


def test_a_phase_entered_at_a_deadline_counts_from_that_day() -> None:
    c = cycle()
    w = phase_window(c, c.working_calendar(), State.PEER_INPUT, vn("2026-04-29 17:00"))
    # 30 April and 1 May are days off: Monday 4 May is the first working day after.
    assert (w.opens_at, w.due_at) == (vn("2026-04-29 17:00"), vn("2026-05-05 17:00"))


def test_an_absolute_due_on_30_april_moves_to_monday_4_may() -> None:
    c = cycle('appeal_window: {due: "2026-04-30 17:00"}',
              period="2026-03-01, end: 2026-03-31")
    w = phase_window(c, c.working_calendar(), State.APPEAL_WINDOW, vn("2026-04-20 17:00"))
    assert w.due_at == vn("2026-05-04 17:00")
    assert w.moved_from == vn("2026-04-30 17:00")
    assert w.moved_because == "Liberation Day/Reunification Day"


def test_an_absolute_due_on_the_swapped_saturday_stays_and_on_a_sunday_moves() -> None:
    c = cycle('appeal_window: {due: "2026-08-22 12:00"}\nappeal_review: {due: "2026-08-30 17:00"}',
              period="2026-07-01, end: 2026-07-31")
    cal = c.working_calendar()
    w = phase_window(c, cal, State.APPEAL_WINDOW, vn("2026-08-17 08:00"))
    assert (w.due_at, w.moved_from) == (vn("2026-08-22 12:00"), None)
    # Sunday 30 August, then 31 August to 2 September off: Thursday 3 September.
    r = phase_window(c, cal, State.APPEAL_REVIEW, vn("2026-08-24 08:00"))
    assert r.due_at == vn("2026-09-03 17:00")
    assert r.moved_because == "weekend"


def test_the_cycles_own_day_off_pushes_a_relative_due() -> None:
    c = cycle(extra="holidays:\n  extra_days_off:\n    - {date: 2026-02-24, name: inventory}\n")
    w = phase_window(c, c.working_calendar(), State.SELF_ASSESSMENT, vn("2026-02-10 09:00"))
    assert w.due_at == vn("2026-02-26 17:00")


def test_a_phase_entered_after_the_deadline_hour_with_zero_days_is_due_the_next_day() -> None:
    c = cycle("peer_input: {due: {working_days: 0}}")
    w = phase_window(c, c.working_calendar(), State.PEER_INPUT, vn("2026-05-04 18:00"))
    assert w.due_at == vn("2026-05-05 17:00")
    same_day = phase_window(c, c.working_calendar(), State.PEER_INPUT, vn("2026-05-04 09:00"))
    assert same_day.due_at == vn("2026-05-04 17:00")


def test_a_relative_due_can_have_its_own_hour() -> None:
    c = cycle('peer_input: {due: {working_days: 1, at: "12:00"}}')
    w = phase_window(c, c.working_calendar(), State.PEER_INPUT, vn("2026-05-04 09:00"))
    assert w.due_at == vn("2026-05-05 12:00")


def window(state: State, opens: str, due: str) -> PhaseWindow:
    return PhaseWindow(state, vn(opens), vn(due))


def test_reminders_fall_on_working_days_before_the_due_day_at_the_recipients_hour() -> None:
    c = cycle(extra='reminders:\n  - {working_days_before: 2, at: "08:00"}\n'
                    '  - {working_days_before: 0, at: "08:00"}\n')
    w = window(State.SELF_ASSESSMENT, "2026-02-12 08:00", "2026-02-25 17:00")
    assert reminder_times(c, c.working_calendar(), w, VN) == [
        (0, vn("2026-02-23 08:00")), (1, vn("2026-02-25 08:00"))]
    # In Paris it is 08:00 in Paris on the same (Vietnamese) working days: 14:00 in Hanoi.
    assert reminder_times(c, c.working_calendar(), w, PARIS) == [
        (0, datetime(2026, 2, 23, 8, tzinfo=PARIS).astimezone(UTC)),
        (1, datetime(2026, 2, 25, 8, tzinfo=PARIS).astimezone(UTC))]


def test_no_reminder_before_the_task_can_be_done_nor_after_it_is_due() -> None:
    c = cycle(extra='reminders:\n  - {working_days_before: 2, at: "08:00"}\n'
                    '  - {working_days_before: 0, at: "18:00"}\n')
    w = window(State.PEER_INPUT, "2026-05-05 17:00", "2026-05-07 17:00")
    # Two days before is 5 May 08:00, before the phase opened; 18:00 is after the due.
    assert reminder_times(c, c.working_calendar(), w, VN) == []
    # New York's 08:00 on the due day is 19:00 in Hanoi: after the deadline.
    ny = reminder_times(cycle(extra='reminders:\n  - {working_days_before: 0, at: "08:00"}\n'),
                        c.working_calendar(), w, ZoneInfo("America/New_York"))
    assert ny == []


def test_escalation_steps_count_working_days_after_the_due_day() -> None:
    c = cycle(extra="escalation:\n  - {after_working_days: 0, to: assignee_supervisor}\n"
                    "  - {after_working_days: 2, to: admins}\n")
    w = window(State.SUPERVISOR_SCORING, "2026-04-24 17:00", "2026-04-29 17:00")
    first, second = c.escalation
    # Step 0 at 08:00 of the due day would come before the deadline: a minute after it.
    assert escalation_time(c, c.working_calendar(), w, first) == vn("2026-04-29 17:01")
    # 30 April and 1 May are off: 4 May, 5 May.
    assert escalation_time(c, c.working_calendar(), w, second) == vn("2026-05-05 08:00")


def test_overdue_notices_repeat_on_working_days_up_to_the_maximum() -> None:
    c = cycle(extra='overdue: {every_working_days: 2, at: "09:00", max_repeats: 2}\n')
    w = window(State.SUPERVISOR_SCORING, "2026-02-09 17:00", "2026-02-12 17:00")
    cal = c.working_calendar()
    assert overdue_time(c, cal, w, 1, VN) == vn("2026-02-23 09:00")  # Fri 13, Mon 23
    assert overdue_time(c, cal, w, 2, VN) == vn("2026-02-25 09:00")
    assert overdue_time(c, cal, w, 3, VN) is None


def test_after_downtime_the_overdue_series_goes_on_from_the_next_one_not_in_a_burst() -> None:
    c = cycle(extra='overdue: {every_working_days: 1, at: "08:00", max_repeats: 5}\n')
    w = window(State.SUPERVISOR_SCORING, "2026-05-04 17:00", "2026-05-07 17:00")
    cal = c.working_calendar()
    assert next_overdue(c, cal, w, 1, VN, vn("2026-05-07 17:00")) == (1, vn("2026-05-08 08:00"))
    assert next_overdue(c, cal, w, 1, VN, vn("2026-05-12 10:00")) == (4, vn("2026-05-13 08:00"))
    assert next_overdue(c, cal, w, 1, VN, vn("2026-06-01 10:00")) is None
