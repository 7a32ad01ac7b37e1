"""When a phase opens, is due, and when its reminders and escalations fire. Pure.

These functions turn a cycle's calendar into instants. The service stores what they
return as deadline rows; the sweep fires those rows; ``kpi cycle check`` runs the
same functions to print the calendar before launch, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflow.calendar import WorkingCalendar, at_local, zone
from workflow.cycle_config import (
    PETITION_PHASES,
    PHASE_ORDER,
    CycleFile,
    DaysAfter,
    EscalationStep,
)
from workflow.domain import State, TimerKind


@dataclass(frozen=True)
class PhaseWindow:
    state: State
    opens_at: datetime  # the task can be acted on from here
    due_at: datetime
    moved_from: datetime | None = None  # an absolute due that fell on a day off
    moved_because: str | None = None


@dataclass(frozen=True)
class PlannedTimer:
    kind: TimerKind
    fire_at: datetime
    seq: int = 0  # which reminder, escalation step or overdue repeat
    recipient_id: str | None = None  # reminders go to one person, at their local hour


def phase_window(cycle: CycleFile, cal: WorkingCalendar, state: State,
                 entered_at: datetime) -> PhaseWindow:
    """The window of ``state`` for an evaluation that entered it at ``entered_at``."""
    tz = zone(cycle.timezone)
    phase = cycle.phase(state)
    opens_at = entered_at
    if phase.opens is not None:
        opens_at = max(entered_at, phase.opens.replace(tzinfo=tz).astimezone(UTC))
    moved_from: datetime | None = None
    reason: str | None = None
    if isinstance(phase.due, datetime):
        local = phase.due.replace(tzinfo=tz)
        day = cal.add_working_days(local.date(), 0)
        if day != local.date():
            moved_from = local.astimezone(UTC)
            reason = cal.day_off_reason(local.date())
        due_at = at_local(day, local.timetz().replace(tzinfo=None), tz)
    elif isinstance(phase.due, DaysAfter):
        # Calendar days; a last day that is a day off gives way to the next working day.
        last = opens_at.astimezone(tz).date() + timedelta(days=phase.due.days)
        day = cal.add_working_days(last, 0)
        clock = phase.due.at or cycle.deadline_time
        if day != last:
            moved_from = at_local(last, clock, tz)
            reason = cal.day_off_reason(last)
        due_at = at_local(day, clock, tz)
    else:
        open_day = opens_at.astimezone(tz).date()
        clock = phase.due.at or cycle.deadline_time
        due_at = at_local(cal.add_working_days(open_day, phase.due.working_days), clock, tz)
    while due_at <= opens_at:  # opened after the deadline hour: the next working day
        next_day = cal.add_working_days(due_at.astimezone(tz).date(), 1)
        due_at = at_local(next_day, due_at.astimezone(tz).time(), tz)
    return PhaseWindow(state, opens_at, due_at, moved_from, reason)


def full_time_windows(cycle: CycleFile, cal: WorkingCalendar, opened_at: datetime
                      ) -> list[PhaseWindow]:
    """The window of each enabled phase if each runs its full time: each phase entered
    when the one before is due. The last one's due is the latest instant an evaluation
    opened at ``opened_at`` is finalised (a petition lodged at the window's end, decided
    at the resolution's); a petition window that runs from the unit's publication starts
    then too, the unit's last result coming at the phase before it closing."""
    windows: list[PhaseWindow] = []
    entered = opened_at
    for state in PHASE_ORDER:
        if not cycle.enabled(state):
            continue
        window = phase_window(cycle, cal, state, entered)
        windows.append(window)
        entered = window.due_at
    return windows


def further_review_windows(cycle: CycleFile, cal: WorkingCalendar, entered: datetime,
                           further_reviews: int) -> list[tuple[int, State, PhaseWindow]]:
    """(review number, phase, window) of each further petition a regime with re_review
    allows, each running its full time: a fresh appeal window from the decision's
    notification, then the review by the next person up; the first starts at
    ``entered``, the due of the first review."""
    out: list[tuple[int, State, PhaseWindow]] = []
    for review in range(2, 2 + further_reviews):
        for state in PETITION_PHASES:
            window = phase_window(cycle, cal, state, entered)
            out.append((review, state, window))
            entered = window.due_at
    return out


def reminder_times(cycle: CycleFile, cal: WorkingCalendar, window: PhaseWindow,
                   recipient_tz: ZoneInfo) -> list[tuple[int, datetime]]:
    """(seq, instant) of each reminder that falls while the task can be acted on."""
    due_day = window.due_at.astimezone(zone(cycle.timezone)).date()
    out: list[tuple[int, datetime]] = []
    for seq, reminder in enumerate(cycle.reminders):
        day = cal.subtract_working_days(due_day, reminder.working_days_before)
        fire_at = at_local(day, reminder.at, recipient_tz)
        # Never before the task can be acted on, never after it is due.
        if window.opens_at < fire_at < window.due_at:
            out.append((seq, fire_at))
    return sorted(out, key=lambda item: item[1])


def escalation_time(cycle: CycleFile, cal: WorkingCalendar, window: PhaseWindow,
                    step: EscalationStep) -> datetime:
    """When an escalation step fires: N working days after the due day, never before due."""
    tz = zone(cycle.timezone)
    day = cal.add_working_days(window.due_at.astimezone(tz).date(), step.after_working_days)
    return max(at_local(day, step.at, tz), window.due_at + timedelta(minutes=1))


def overdue_time(cycle: CycleFile, cal: WorkingCalendar, window: PhaseWindow, repeat: int,
                 recipient_tz: ZoneInfo) -> datetime | None:
    """The ``repeat``-th overdue notice (1-based), or None past the configured maximum."""
    if repeat > cycle.overdue.max_repeats:
        return None
    due_day = window.due_at.astimezone(zone(cycle.timezone)).date()
    day = cal.add_working_days(due_day, repeat * cycle.overdue.every_working_days)
    return at_local(day, cycle.overdue.at, recipient_tz)


def next_overdue(cycle: CycleFile, cal: WorkingCalendar, window: PhaseWindow, repeat: int,
                 recipient_tz: ZoneInfo, after: datetime) -> tuple[int, datetime] | None:
    """The first overdue notice from the ``repeat``-th on that falls after ``after``.

    After downtime the repeats that fell while nobody swept are not sent in a burst:
    the one sent at catch-up stands for them, the series goes on from the next one.
    """
    while (fire_at := overdue_time(cycle, cal, window, repeat, recipient_tz)) is not None:
        if fire_at > after:
            return repeat, fire_at
        repeat += 1
    return None
