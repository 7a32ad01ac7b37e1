"""The effects core decides on values alone: an evaluation held in memory, no store.

The small cycle (tests/data): self-assessment opens Monday 4 May 2026 08:00 and is due
Thursday 7 May 17:00; a reminder one working day before at 08:00; overdue every
working day at 08:00; escalation after 2 working days to the supervisor above, after
4 to the admins (A1). H1 supervises S1; D1 is above H1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from tests.support import DATA, at
from workflow.calendar import WorkingCalendar
from workflow.cycle_config import CycleFile, load_cycle
from workflow.domain import Role, State, TimerKind, TimerStatus, Trigger
from workflow.effects import core as effects
from workflow.effects.rows import superseded_reminders, timer_row
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.permissions import SYSTEM_ACTOR, EvaluationView
from workflow.timing import phase_window

CONFIG = load_cycle(DATA / "small_cycle.yaml").config


@dataclass(frozen=True)
class Rules:
    config: CycleFile = CONFIG
    cycle_id: str = "t-2026-04"
    min_peer_responses: int = 2
    petition_from_publication: bool = False

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return self.config.working_calendar()

    @property
    def tz_name(self) -> str:
        return self.config.timezone


@dataclass(frozen=True)
class Person:
    supervisor_id: str | None
    timezone: str | None = None
    active: bool = True


@dataclass
class Evaluation:
    row: EvaluationRecord
    view: EvaluationView
    assignments: list[AssignmentRecord] = field(default_factory=list)
    rules: Rules = field(default_factory=Rules)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def state(self) -> State:
        return self.row.state

    @property
    def version(self) -> int:
        return self.row.version

    def pending_peers(self) -> list[str]:
        return [a.person_id for a in self.assignments
                if a.role == Role.PEER.value and a.status == "pending"]


PEOPLE: Mapping[str, Person] = {
    "S1": Person("H1"), "H1": Person("D1"), "D1": Person(None), "A1": Person("H1"),
    "P1": Person("H1", "Europe/Paris"), "P2": Person("H1"), "GONE": Person("H1", active=False),
}


def evaluation(state: State, entered: datetime, peers: Sequence[str] = ("P1", "P2"),
               escalation_supervisors: frozenset[str] = frozenset()) -> Evaluation:
    window = phase_window(CONFIG, Rules().calendar, state, entered)
    row = EvaluationRecord(
        id=1, cycle_id="t-2026-04", reviewee_id="S1", unit_id="U1", task_group="g",
        position_group="specialist", is_leader=False, framework_id="f", framework_hash="h",
        supervisor_id="H1", appeal_reviewer_id=None, state=state, version=3,
        phase_entered_at=entered, phase_opens_at=window.opens_at, due_at=window.due_at,
        escalation_level=0, self_assessment_missing=False, peer_quorum_not_reached=False,
        escalated=False, extended=False, reopened=False, petition_round=0, score=None,
        score_class=None, final_class=None, scored_by=None, scored_at=None,
        score_stamp=None, created_at=entered, updated_at=entered)
    assignments = [AssignmentRecord(i, 1, p, Role.PEER.value, "pending", entered, None, "A1",
                                    None) for i, p in enumerate(peers)]
    view = EvaluationView(id=1, reviewee_id="S1", supervisor_id="H1",
                          peers=dict.fromkeys(peers, "pending"),
                          escalation_supervisors=escalation_supervisors,
                          admins=frozenset({"A1"}))
    return Evaluation(row, view, assignments)


def test_the_core_imports_no_store_network_or_template_code() -> None:
    code = ("import sys, workflow.effects.core\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel', "
            "'jinja2', 'aiosmtplib', 'psycopg', 'fastapi', 'apscheduler'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_a_missed_self_assessment_is_flagged_and_told_before_the_peers_are_asked() -> None:
    ev = evaluation(State.SELF_ASSESSMENT, at("2026-05-02 10:00"))
    due = ev.row.due_at
    assert due == at("2026-05-07 17:00")
    timer = timer_row(1, State.SELF_ASSESSMENT, TimerKind.DUE, due)
    fired = effects.due_timer(ev, timer, due, PEOPLE)
    assert (fired.status, fired.moves_with) == (TimerStatus.DONE, Trigger.SELF_ASSESSMENT_MISSED)
    fx = effects.transition(ev, Trigger.SELF_ASSESSMENT_MISSED, SYSTEM_ACTOR, now=due,
                            people=PEOPLE, entered_at=due)
    assert fx.to_state is State.PEER_INPUT and fx.values["self_assessment_missing"] is True
    assert [(s.event, s.to, s.at) for s in fx.sends] == [
        ("self_assessment_missed", ("S1",), due), ("self_assessment_missed", ("H1",), due),
        ("task_peer_input", ("P1", "P2"), due)]
    # Peer input: 2 working days from Thursday 17:00 is Monday 11 May 17:00; one
    # reminder per peer, P1's at 08:00 in Paris.
    assert fx.values["due_at"] == at("2026-05-11 17:00")
    reminders = {t["recipient_id"]: t["fire_at"] for t in fx.timers
                 if t["kind"] == TimerKind.REMINDER.value}
    assert reminders == {"P1": at("2026-05-08 13:00"), "P2": at("2026-05-08 08:00")}


def test_after_downtime_the_task_of_a_phase_already_closed_is_not_handed_out() -> None:
    ev = evaluation(State.SELF_ASSESSMENT, at("2026-05-02 10:00"))
    due = ev.row.due_at
    late = at("2026-05-20 09:00")  # peer input (due 11 May) closed while nobody swept
    fx = effects.transition(ev, Trigger.SELF_ASSESSMENT_MISSED, SYSTEM_ACTOR, now=late,
                            people=PEOPLE, entered_at=due)
    assert fx.values["phase_entered_at"] == due  # the calendar does not slip
    assert [s.event for s in fx.sends] == ["self_assessment_missed"] * 2
    assert all(s.at == late for s in fx.sends)


def test_closing_peer_input_with_too_few_answers_flags_it_and_closes_the_silent() -> None:
    ev = evaluation(State.PEER_INPUT, at("2026-05-07 17:00"))
    ev.assignments[0] = ev.assignments[0]._replace(status="answered")
    fx = effects.transition(ev, Trigger.PEER_INPUT_CLOSED, SYSTEM_ACTOR,
                            now=ev.row.due_at, people=PEOPLE)
    assert fx.to_state is State.SUPERVISOR_SCORING
    assert fx.values["peer_quorum_not_reached"] is True
    assert fx.assignment_status == [(1, "closed")]


def test_a_stale_or_superseded_reminder_is_skipped_and_a_live_one_sent() -> None:
    ev = evaluation(State.SELF_ASSESSMENT, at("2026-05-02 10:00"))
    early = {**timer_row(1, State.SELF_ASSESSMENT, TimerKind.REMINDER, at("2026-05-05 08:00"),
                         0, "S1"), "id": 10}
    later = {**timer_row(1, State.SELF_ASSESSMENT, TimerKind.REMINDER, at("2026-05-06 08:00"),
                         1, "S1"), "id": 11}
    assert superseded_reminders([early, later]) == {10}
    now = at("2026-05-06 09:00")
    assert effects.due_timer(ev, early, now, PEOPLE, superseded=True).status \
        is TimerStatus.SKIPPED
    sent = effects.due_timer(ev, later, now, PEOPLE)
    assert [(s.event, s.to, s.at) for s in sent.sends] == [("reminder", ("S1",), now)]
    past_due = effects.due_timer(ev, later, at("2026-05-07 17:00"), PEOPLE)
    assert (past_due.status, past_due.sends) == (TimerStatus.SKIPPED, ())


def test_a_row_of_a_phase_left_is_cancelled() -> None:
    ev = evaluation(State.PEER_INPUT, at("2026-05-07 17:00"))
    row = timer_row(1, State.SELF_ASSESSMENT, TimerKind.REMINDER, at("2026-05-08 08:00"), 0, "S1")
    assert effects.due_timer(ev, row, at("2026-05-08 08:00"), PEOPLE).status \
        is TimerStatus.CANCELLED


def test_overdue_after_downtime_goes_on_from_the_next_repeat_not_in_a_burst() -> None:
    ev = evaluation(State.SUPERVISOR_SCORING, at("2026-05-11 17:00"))
    due = ev.row.due_at
    assert due == at("2026-05-14 17:00")
    late = at("2026-05-20 10:00")  # four working mornings of overdue notices missed
    fired = effects.due_timer(ev, timer_row(1, State.SUPERVISOR_SCORING, TimerKind.DUE, due),
                              late, PEOPLE)
    assert [(s.event, s.to, s.at) for s in fired.sends] == [("overdue", ("H1",), late)]
    assert [(t["recipient_id"], t["fire_at"]) for t in fired.timers] == [
        ("H1", at("2026-05-21 08:00"))]


def test_escalation_in_scoring_lets_the_supervisor_above_score_and_stops_at_the_ladders_end(
        ) -> None:
    ev = evaluation(State.SUPERVISOR_SCORING, at("2026-05-11 17:00"))
    first = effects.escalation(ev, 0, PEOPLE)
    assert first is not None
    assert (first.level, first.told, first.role, first.new_scorers) == (
        1, ("D1",), Role.ESCALATION_SUPERVISOR, ("D1",))
    ev.view = replace(ev.view, escalation_supervisors=frozenset({"D1"}))
    again = effects.escalation(ev, 0, PEOPLE)
    assert again is not None and again.new_scorers == ()  # already holds the role
    second = effects.escalation(ev, 1, PEOPLE)
    assert second is not None and (second.told, second.role) == (("A1",), None)
    row = timer_row(1, State.SUPERVISOR_SCORING, TimerKind.ESCALATION, at("2026-05-20 08:00"), 2)
    past_end = effects.due_timer(ev, row, at("2026-05-20 08:00"), PEOPLE)
    assert (past_end.status, past_end.fired, past_end.changes) == (TimerStatus.DONE, False, False)


def test_inactive_people_get_no_email_but_the_step_names_them() -> None:
    ev = evaluation(State.SUPERVISOR_SCORING, at("2026-05-11 17:00"))
    people = {**PEOPLE, "H1": Person("GONE")}
    step = effects.escalation(ev, 0, people)
    assert step is not None and (step.targets, step.told) == (("GONE",), ())


def test_a_calibration_pools_rows_remind_then_climb_above_the_calibrator() -> None:
    rules, due = Rules(), at("2026-05-20 17:00")
    people = {**PEOPLE, "H1": Person("D1", "Asia/Tokyo")}  # H1 calibrates this pool
    reminder = timer_row(None, State.CALIBRATION, TimerKind.REMINDER, at("2026-05-19 08:00"),
                         0, "H1", "t-2026-04")
    sent = effects.due_pool_timer(rules, reminder, at("2026-05-19 08:00"), calibrator_id="H1",
                                  due=due, people=people, admins=["A1"])
    assert [(s.event, s.to) for s in sent.sends] == [("reminder", ("H1",))]
    late = effects.due_pool_timer(rules, reminder, due, calibrator_id="H1", due=due,
                                  people=people, admins=["A1"])
    assert late.status is TimerStatus.SKIPPED
    overdue = effects.due_pool_timer(rules, timer_row(None, State.CALIBRATION, TimerKind.DUE,
                                                      due, cycle_id="t-2026-04"),
                                     due, calibrator_id="H1", due=due, people=people,
                                     admins=["A1"])
    # The next overdue notice: the next working day at 08:00 on the calibrator's clock.
    assert [(t["recipient_id"], t["cycle_id"], t["fire_at"]) for t in overdue.timers] == [
        ("H1", "t-2026-04", at("2026-05-21 06:00"))]
    step = effects.due_pool_timer(rules, timer_row(None, State.CALIBRATION,
                                                   TimerKind.ESCALATION, due, 0),
                                  due, calibrator_id="H1", due=due, people=people,
                                  admins=["A1"]).escalation
    assert step is not None and (step.told, step.role) == (("D1",), None)


def test_a_round_stops_each_evaluation_at_the_row_that_changes_it_and_skips_stale_reminders(
        ) -> None:
    ev = evaluation(State.SUPERVISOR_SCORING, at("2026-05-11 17:00"))
    phase = State.SUPERVISOR_SCORING
    rows = [  # given out of order: the round sorts them by time, then by plan order
        {**timer_row(1, phase, TimerKind.ESCALATION, at("2026-05-18 17:00"), 0), "id": 4},
        {**timer_row(1, phase, TimerKind.REMINDER, at("2026-05-13 08:00"), 0, "H1"), "id": 2},
        {**timer_row(1, phase, TimerKind.REMINDER, at("2026-05-14 08:00"), 1, "H1"), "id": 3},
        {**timer_row(1, phase, TimerKind.ESCALATION, at("2026-05-20 17:00"), 1), "id": 5},
        {**timer_row(2, phase, TimerKind.REMINDER, at("2026-05-13 08:00"), 0, "H1"), "id": 6},
    ]
    now, fired = at("2026-05-21 09:00"), []

    def fire(row: Mapping[str, Any], superseded: bool) -> effects.TimerEffects:
        fired.append((row["id"], superseded))
        return effects.due_timer(ev, row, now, PEOPLE, superseded=superseded)

    done = effects.sweep_round(rows, fire)
    # Evaluation 1: the earlier reminder is superseded, the later one past due, the
    # first escalation step changes it, so step two waits; evaluation 2's own reminder
    # is not superseded by evaluation 1's.
    assert fired == [(2, True), (3, False), (4, False), (6, False)]
    assert [fx.changes for fx in done] == [False, False, True, False]


def test_an_extension_replans_every_row_and_a_new_supervisor_only_the_reminders() -> None:
    ev = evaluation(State.SUPERVISOR_SCORING, at("2026-05-11 17:00"))
    now = at("2026-05-13 10:00")
    longer = ev.row._replace(due_at=at("2026-05-19 17:00"), escalation_level=1)
    moved = effects.replan(ev, longer, now, PEOPLE, due_moved=True)
    assert set(moved.cancel_kinds) == {k.value for k in TimerKind}
    assert moved.told == ("H1",)
    kinds = [(t["kind"], t["seq"]) for t in moved.timers]
    assert ("due", 0) in kinds and ("escalation", 0) not in kinds  # step 1 is taken
    assert all(t["fire_at"] > now for t in moved.timers if t["kind"] == "reminder")
    overdue_now = at("2026-05-15 10:00")  # past the deadline of 14 May 17:00
    new = ev.row._replace(supervisor_id="GONE")
    ev.view = replace(ev.view, supervisor_id="GONE")
    changed = effects.replan(ev, new, overdue_now, PEOPLE, due_moved=False)
    assert changed.cancel_kinds == ("reminder", "overdue")
    assert changed.told == ()  # inactive: planned for, told nothing
    assert {(t["kind"], t["recipient_id"]) for t in changed.timers} == {("overdue", "GONE")}
