"""Deadline rows for an evaluation entering a phase (the timers the sweep fires)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from workflow.calendar import zone
from workflow.domain import State, TimerKind, TimerStatus
from workflow.service.core import PersonInfo
from workflow.service.rules import CycleRules
from workflow.states import SPECS
from workflow.timing import PhaseWindow, escalation_time, reminder_times


def timer_row(evaluation_id: int | None, phase: State, kind: TimerKind, fire_at: datetime,
              seq: int = 0, recipient_id: str | None = None, cycle_id: str | None = None
              ) -> dict[str, Any]:
    return {"evaluation_id": evaluation_id, "cycle_id": cycle_id, "phase": phase.value,
            "kind": kind.value, "seq": seq, "recipient_id": recipient_id, "fire_at": fire_at,
            "status": TimerStatus.PENDING.value, "done_at": None}


def phase_timers(rules: CycleRules, evaluation_id: int | None, window: PhaseWindow,
                 recipients: Iterable[str], people: Mapping[str, PersonInfo],
                 not_before: datetime | None = None, cycle_id: str | None = None
                 ) -> list[dict[str, Any]]:
    """The due timer, each recipient's reminders at their local hour, the escalation steps.

    ``not_before`` drops reminders that would already be in the past (after an extension).
    """
    spec = SPECS[window.state]
    if spec.deadline is None:
        return []
    rows = [timer_row(evaluation_id, window.state, TimerKind.DUE, window.due_at,
                      cycle_id=cycle_id)]
    for person_id in dict.fromkeys(recipients):
        person = people.get(person_id)
        tz = zone(person.timezone) if person and person.timezone else zone(rules.tz_name)
        for seq, fire_at in reminder_times(rules.config, rules.calendar, window, tz):
            if not_before is None or fire_at > not_before:
                rows.append(timer_row(evaluation_id, window.state, TimerKind.REMINDER, fire_at,
                                      seq, person_id, cycle_id))
    if spec.deadline.escalates:
        for seq, step in enumerate(rules.config.escalation):
            rows.append(timer_row(evaluation_id, window.state, TimerKind.ESCALATION,
                                  escalation_time(rules.config, rules.calendar, window, step), seq,
                                  cycle_id=cycle_id))
    return rows
