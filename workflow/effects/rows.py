"""Deadline rows, and who the escalation ladder climbs to. Pure.

The service stores these rows, the sweep fires them, and the pre-launch simulation
keeps them in memory: all three make them here, so the calendar `kpi cycle check`
prints is the one the sweep keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from workflow.calendar import zone
from workflow.cycle_config import CycleFile, EscalationStep
from workflow.domain import Role, State, TimerKind, TimerStatus
from workflow.effects.ports import People, PersonLike, RulesLike
from workflow.states import SPECS
from workflow.timing import PhaseWindow, escalation_time, next_overdue, reminder_times


def timer_row(evaluation_id: int | None, phase: State, kind: TimerKind, fire_at: datetime,
              seq: int = 0, recipient_id: str | None = None, cycle_id: str | None = None
              ) -> dict[str, Any]:
    """One ``deadline`` row, pending."""
    return {"evaluation_id": evaluation_id, "cycle_id": cycle_id, "phase": phase.value,
            "kind": kind.value, "seq": seq, "recipient_id": recipient_id, "fire_at": fire_at,
            "status": TimerStatus.PENDING.value, "done_at": None}


def person_zone(rules: RulesLike, person: PersonLike | None) -> ZoneInfo:
    """The recipient's own time zone, else the cycle's."""
    return zone(person.timezone) if person and person.timezone else zone(rules.tz_name)


def phase_timers(rules: RulesLike, evaluation_id: int | None, window: PhaseWindow,
                 recipients: Iterable[str], people: People,
                 not_before: datetime | None = None, cycle_id: str | None = None,
                 escalation_from: int = 0) -> list[dict[str, Any]]:
    """The due timer, each recipient's reminders at their local hour, the escalation steps.

    ``not_before`` drops reminders that would already be in the past (after an
    extension); ``escalation_from`` skips the ladder's steps already taken.
    """
    spec = SPECS[window.state]
    if spec.deadline is None:
        return []
    rows = [timer_row(evaluation_id, window.state, TimerKind.DUE, window.due_at,
                      cycle_id=cycle_id)]
    for person_id in dict.fromkeys(recipients):
        tz = person_zone(rules, people.get(person_id))
        for seq, fire_at in reminder_times(rules.config, rules.calendar, window, tz):
            if not_before is None or fire_at > not_before:
                rows.append(timer_row(evaluation_id, window.state, TimerKind.REMINDER, fire_at,
                                      seq, person_id, cycle_id))
    if spec.deadline.escalates:
        for seq, step in enumerate(rules.config.escalation):
            if seq < escalation_from:
                continue
            rows.append(timer_row(evaluation_id, window.state, TimerKind.ESCALATION,
                                  escalation_time(rules.config, rules.calendar, window, step), seq,
                                  cycle_id=cycle_id))
    return rows


def overdue_rows(rules: RulesLike, evaluation_id: int | None, window: PhaseWindow,
                 who: Iterable[str], people: People, repeat: int,
                 after: datetime, cycle_id: str | None = None) -> list[dict[str, Any]]:
    """The next overdue notice of each person, the first after ``after`` from ``repeat`` on."""
    rows = []
    for person_id in who:
        found = next_overdue(rules.config, rules.calendar, window, repeat,
                             person_zone(rules, people.get(person_id)), after)
        if found is not None:
            rows.append(timer_row(evaluation_id, window.state, TimerKind.OVERDUE, found[1],
                                  found[0], person_id, cycle_id))
    return rows


def superseded_reminders(rows: Sequence[Mapping[str, Any]]) -> set[int]:
    """Ids of due reminder rows that a later due reminder to the same person replaces.

    After downtime, "2 working days left" and "due today" can both be due at once:
    only the latest is true, the earlier one is stale and is skipped, not sent.
    """
    latest: dict[tuple[Any, Any, Any, Any], datetime] = {}
    for r in rows:
        if r["kind"] == TimerKind.REMINDER.value:
            key = (r["evaluation_id"], r["cycle_id"], r["phase"], r["recipient_id"])
            latest[key] = max(latest.get(key, r["fire_at"]), r["fire_at"])
    return {r["id"] for r in rows if r["kind"] == TimerKind.REMINDER.value
            and r["fire_at"] < latest[(r["evaluation_id"], r["cycle_id"], r["phase"],
                                       r["recipient_id"])]}


def assignee_of(state: State, supervisor_id: str | None, appeal_reviewer_id: str | None,
                calibrator_id: str | None) -> str | None:
    """Who must act in a state that escalates (the person the ladder climbs from)."""
    if state is State.SUPERVISOR_SCORING:
        return supervisor_id
    if state is State.APPEAL_REVIEW:
        return appeal_reviewer_id
    if state is State.CALIBRATION:
        return calibrator_id
    return None


def escalation_targets(config: CycleFile, step: EscalationStep, assignee: str | None,
                       people: People, admins: Iterable[str],
                       reviewee_id: str | None = None) -> tuple[list[str], bool]:
    """Who a step of the ladder tells, and whether that is the person above the assignee.

    ``assignee_supervisor``: the supervisor of whoever must act (or, for the head of
    the agency, the evaluator the cycle file names), never the reviewee themselves;
    when there is nobody above, and for ``admins``, the admins.
    """
    if step.to == "assignee_supervisor" and assignee:
        person = people.get(assignee)
        above = (person.supervisor_id if person else None) or config.evaluators.get(assignee)
        if above and above not in (reviewee_id, assignee):
            return [above], True
    return sorted(set(admins)), False


def escalation_role(state: State, to_person_above: bool) -> Role | None:
    """The role a step gives its target: in supervisor scoring, the supervisor's own
    supervisor may then score (DESIGN.md); admins and other states are only told."""
    if state is State.SUPERVISOR_SCORING and to_person_above:
        return Role.ESCALATION_SUPERVISOR
    return None
