"""What each deadline does (DESIGN.md's state table), the escalation ladder, time zones
and extensions, on real SQLite files through the service API.

The small organisation: UB1 (chairman, top) evaluates D1 (director); H1 (head of P1)
reports to D1; S1..S4 and A1 report to H1. The small cycle (tests/data): self
assessment opens Monday 4 May 08:00, due in 3 working days (Thursday 7 May 17:00);
peer input 2, scoring 3, calibration 3, appeal window 5, appeal review 10 working
days; a reminder 1 working day before at 08:00; overdue every working day at 08:00;
escalation after 2 working days to the supervisor above, after 4 to the admins (A1).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import DATA, World, approve_pool, at, move_class
from workflow import sample
from workflow.domain import Role, State, TimerKind, Trigger
from workflow.errors import NotPermitted, SubmissionInvalid, WorkflowError
from workflow.service import calibration, records
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.sweep import tick
from workflow.store.tables import (
    ASSIGNMENT,
    AUDIT,
    DEADLINE,
    EXTENSION,
    OUTBOX,
)

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

STAFF = ["S1", "S2", "S3", "S4"]
EVERYONE = ["D1", "H1", *STAFF, "A1"]


def make_world(svc: Service, tmp_path: Path, *, cycle_edits: dict[str, str] | None = None,
               timezones: dict[str, str] | None = None,
               opened_at: str = "2026-05-02 10:00") -> World:
    """The small organisation (with time zones) and the small cycle (with edits)."""
    org = (DATA / "small_org.csv").read_text(encoding="utf-8").splitlines()
    if timezones:
        org = [org[0] + ",timezone"] + [
            line + "," + timezones.get(line.split(",")[0], "") for line in org[1:]]
    (tmp_path / "org.csv").write_text("\n".join(org) + "\n", encoding="utf-8")
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    for old, new in (cycle_edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "cycle.yaml").write_text(text, encoding="utf-8")
    import_org(svc, tmp_path / "org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, tmp_path / "cycle.yaml", now=at(opened_at))
    return World(svc, "t-2026-04")


@pytest.fixture
def world(svc: Service, tmp_path: Path) -> World:
    return make_world(svc, tmp_path)


def mails(svc: Service, event: str | None = None, evaluation_id: int | None = None
          ) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        if event:
            stmt = stmt.where(OUTBOX.c.event == event)
        if evaluation_id is not None:
            stmt = stmt.where(OUTBOX.c.evaluation_id == evaluation_id)
        return [dict(r._mapping) for r in s.execute(stmt)]


def who(svc: Service, event: str, evaluation_id: int | None = None) -> list[str]:
    return [m["recipient_id"] for m in mails(svc, event, evaluation_id)]


def timers(svc: Service, evaluation_id: int, **where: str) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        stmt = select(DEADLINE).where(DEADLINE.c.evaluation_id == evaluation_id)
        for column, value in where.items():
            stmt = stmt.where(DEADLINE.c[column] == value)
        return [dict(r._mapping) for r in s.execute(stmt.order_by(DEADLINE.c.fire_at))]


def audit_triggers(svc: Service, evaluation_id: int) -> list[str]:
    with svc.store.read() as s:
        return list(s.execute(select(AUDIT.c.trigger).where(AUDIT.c.evaluation_id ==
                                                            evaluation_id)
                              .order_by(AUDIT.c.seq)).scalars())


def to_scoring(w: World, person: str = "S1") -> None:
    w.submit_self(person)
    w.answer_peers(person)
    assert w.state(person) is State.SUPERVISOR_SCORING


def all_to_calibration(w: World) -> None:
    for person in EVERYONE:
        w.submit_self(person)
    for person in STAFF:
        w.answer_peers(person)
    for person in [*STAFF, "A1", "H1", "D1"]:
        w.score(person)


# --- self-assessment ------------------------------------------------------------------


def test_self_assessment_missed_moves_on_flagged_and_tells_reviewee_and_supervisor(
        world: World) -> None:
    s1 = world.ev("S1")
    tick(world.svc, at("2026-05-07 16:59"))
    assert world.state("S1") is State.SELF_ASSESSMENT
    tick(world.svc, at("2026-05-07 17:00"))
    row = world.row("S1")
    assert (row["state"], row["self_assessment_missing"]) == (State.PEER_INPUT.value, True)
    assert sorted(who(world.svc, "self_assessment_missed", s1)) == ["H1", "S1"]
    assert sorted(who(world.svc, "task_peer_input", s1)) == world.peers_of("S1")
    # A1 has no peers to ask: straight to scoring, and H1 gets the scoring task.
    assert world.state("A1") is State.SUPERVISOR_SCORING
    assert who(world.svc, "task_supervisor_scoring", world.ev("A1")) == ["H1"]
    assert audit_triggers(world.svc, s1)[-1] == Trigger.SELF_ASSESSMENT_MISSED.value


def test_the_next_phase_opens_at_the_deadline_however_late_the_sweep(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    on_time = make_world(new_service("a.sqlite3"), tmp_path / "a")
    late = make_world(new_service("b.sqlite3"), tmp_path / "b")
    tick(on_time.svc, at("2026-05-07 17:00"))
    tick(late.svc, at("2026-05-08 16:00"))  # the server was down for a day
    for w in (on_time, late):
        row = w.row("S1")
        assert row["phase_entered_at"] == at("2026-05-07 17:00")
        assert row["due_at"] == at("2026-05-11 17:00")


# --- peer input -------------------------------------------------------------------------


def test_peer_input_closes_with_what_arrived_and_a_late_answer_is_refused(
        world: World) -> None:
    world.submit_self("S1", when="2026-05-05 09:00")  # peer input due 7 May 17:00
    first, second = world.peers_of("S1")
    world.fire("S1", Trigger.SUBMIT_PEER_INPUT, first,
               sample.peer_input(world.framework("S1"), world.rng, 0.9), when="2026-05-06 09:00")
    tick(world.svc, at("2026-05-07 16:59"))
    assert world.state("S1") is State.PEER_INPUT
    tick(world.svc, at("2026-05-07 17:00"))
    row = world.row("S1")
    assert row["state"] == State.SUPERVISOR_SCORING.value
    assert row["peer_quorum_not_reached"]  # one answer of the two needed: withheld
    with world.svc.store.read() as s:
        statuses = dict(s.execute(select(ASSIGNMENT.c.person_id, ASSIGNMENT.c.status).where(
            ASSIGNMENT.c.evaluation_id == world.ev("S1"),
            ASSIGNMENT.c.role == Role.PEER.value)).all())
    assert statuses == {first: "answered", second: "closed"}
    with pytest.raises(NotPermitted):
        world.fire("S1", Trigger.SUBMIT_PEER_INPUT, second,
                   sample.peer_input(world.framework("S1"), world.rng, 0.9),
                   when="2026-05-08 09:00")


def test_a_peer_who_answered_gets_no_reminder(world: World) -> None:
    world.submit_self("S1", when="2026-05-04 09:00")  # peer input due Wed 6 May 17:00
    first, second = world.peers_of("S1")
    world.fire("S1", Trigger.SUBMIT_PEER_INPUT, first,
               sample.peer_input(world.framework("S1"), world.rng, 0.9), when="2026-05-04 10:00")
    tick(world.svc, at("2026-05-06 08:00"))
    assert who(world.svc, "reminder", world.ev("S1")) == [second]


# --- supervisor scoring: reminders, overdue, the escalation ladder ------------------------


def test_supervisor_scoring_reminds_then_escalates_up_the_ladder_and_never_scores(
        world: World) -> None:
    to_scoring(world, "S1")  # entered 8 May 09:00: due 3 working days later, 13 May 17:00
    s1 = world.ev("S1")
    assert world.row("S1")["due_at"] == at("2026-05-13 17:00")
    tick(world.svc, at("2026-05-12 08:00"))
    assert who(world.svc, "reminder", s1) == ["H1"]
    tick(world.svc, at("2026-05-13 17:00"))
    assert who(world.svc, "overdue", s1) == ["H1"]
    assert world.state("S1") is State.SUPERVISOR_SCORING
    tick(world.svc, at("2026-05-14 08:00"))
    assert who(world.svc, "overdue", s1) == ["H1", "H1"]
    assert who(world.svc, "escalation", s1) == []
    # Step 1, two working days after the due day: H1's own supervisor, D1, may score.
    tick(world.svc, at("2026-05-15 08:00"))
    escalations = mails(world.svc, "escalation", s1)
    assert [m["recipient_id"] for m in escalations] == ["D1"]
    assert escalations[0]["context"]["action_url"].startswith("http://kpi.test/t/")
    assert escalations[0]["context"]["escalation_level"] == 1
    assert world.row("S1")["escalation_level"] == 1
    # Step 2, four working days after: the admins are told (no scoring link).
    tick(world.svc, at("2026-05-19 08:00"))
    escalations = mails(world.svc, "escalation", s1)
    assert [m["recipient_id"] for m in escalations] == ["D1", "A1"]
    assert escalations[1]["context"]["action_url"] is None
    row = world.row("S1")
    assert (row["state"], row["score"], row["escalation_level"]) == (
        State.SUPERVISOR_SCORING.value, None, 2)
    # Weeks later the machine has still scored nobody.
    tick(world.svc, at("2026-06-30 08:00"))
    assert world.row("S1")["score"] is None
    assert audit_triggers(world.svc, s1).count("escalate") == 2
    # The supervisor's supervisor scores, as the escalation allows.
    out = world.score("S1", by="D1", when="2026-06-30 09:00")
    assert out.to_state is State.CALIBRATION
    with world.svc.store.read() as s:
        role = s.execute(select(AUDIT.c.role).where(
            AUDIT.c.evaluation_id == s1, AUDIT.c.trigger == Trigger.SUBMIT_SCORE.value)
        ).scalar_one()
    assert role == Role.ESCALATION_SUPERVISOR.value


def test_the_head_of_the_agency_escalates_past_the_named_evaluator_to_the_admins(
        world: World) -> None:
    world.submit_self("D1")  # D1 is evaluated by UB1, who has nobody above
    tick(world.svc, at("2026-05-20 08:00"))
    d1 = world.ev("D1")
    assert who(world.svc, "escalation", d1) == ["A1", "A1"]
    with world.svc.store.read() as s:
        granted = s.execute(select(ASSIGNMENT.c.person_id).where(
            ASSIGNMENT.c.evaluation_id == d1,
            ASSIGNMENT.c.role == Role.ESCALATION_SUPERVISOR.value)).all()
    assert granted == []  # admins are told; they do not become scorers


def test_overdue_notices_repeat_every_working_day_up_to_the_maximum(
        svc: Service, tmp_path: Path) -> None:
    w = make_world(svc, tmp_path, cycle_edits={
        "reminders:": 'overdue: {every_working_days: 1, at: "08:00", max_repeats: 2}\n'
                      "reminders:"})
    to_scoring(w, "S1")  # due Wednesday 13 May 17:00
    for day in ("2026-05-13 17:00", "2026-05-14 08:00", "2026-05-15 08:00", "2026-05-18 08:00",
                "2026-05-19 08:00"):
        tick(svc, at(day))
    overdue = mails(svc, "overdue", w.ev("S1"))
    # Made at the deadline and each working morning after; each waits for H1's next
    # 08:00 digest (the one made at 08:00 still makes that morning's).
    assert [(m["recipient_id"], m["context"]["noticed_at"]) for m in overdue] == [
        ("H1", at("2026-05-13 17:00").isoformat()), ("H1", at("2026-05-14 08:00").isoformat()),
        ("H1", at("2026-05-15 08:00").isoformat())]
    assert [(m["status"], m["available_at"]) for m in overdue] == [
        ("held", at("2026-05-14 08:00")), ("held", at("2026-05-14 08:00")),
        ("held", at("2026-05-15 08:00"))]
    assert timers(svc, w.ev("S1"), kind=TimerKind.OVERDUE.value, status="pending") == []


# --- calibration: the pool's one deadline ---------------------------------------------


def test_calibration_reminds_the_calibrator_then_escalates_and_moves_nobody(
        world: World) -> None:
    all_to_calibration(world)  # the last one scored 12 May 09:00: due 15 May 17:00
    with world.svc.store.read() as s:
        pool = [dict(r._mapping) for r in s.execute(
            select(DEADLINE).where(DEADLINE.c.evaluation_id.is_(None))
            .order_by(DEADLINE.c.fire_at))]
    # D1 calibrates the pool; UB1 (D1's evaluator) D1's own evaluation (recusal), with
    # the same clock of their own (their rows name them, even the due and the ladder).
    expected = [("reminder", at("2026-05-14 08:00")), ("due", at("2026-05-15 17:00")),
                ("escalation", at("2026-05-19 08:00")), ("escalation", at("2026-05-21 08:00"))]
    for recipients in ({None, "D1"}, {"UB1"}):
        assert [(t["kind"], t["fire_at"]) for t in pool
                if t["recipient_id"] in recipients] == expected, recipients
    assert who(world.svc, "task_calibration") == ["D1", "UB1"]
    tick(world.svc, at("2026-05-14 08:00"))
    assert sorted(who(world.svc, "reminder")) == ["D1", "UB1"]
    tick(world.svc, at("2026-05-15 17:00"))
    assert sorted(who(world.svc, "overdue")) == ["D1", "UB1"]
    tick(world.svc, at("2026-05-21 08:00"))
    # D1 has no supervisor: the cycle's evaluator of D1 (UB1), then the admins; UB1's
    # ladder has nobody above UB1: the admins, twice.
    assert sorted(who(world.svc, "escalation")) == ["A1", "A1", "A1", "UB1"]
    assert {world.state(p) for p in EVERYONE} == {State.CALIBRATION}


# --- appeal window and appeal review ------------------------------------------------------


def to_appeal_window(w: World) -> None:
    all_to_calibration(w)
    for member in calibration.view(w.svc, w.cycle_id).members:
        if member.final_class == "excellent":
            move_class(w.svc, member.evaluation_id, "well_completed", "quota",
                                   "D1", now=at("2026-05-13 09:00"))
    approve_pool(w.svc, w.cycle_id, "D1", now=at("2026-05-13 10:00"))


def test_the_appeal_window_closes_finalised_accepted_by_silence(world: World) -> None:
    to_appeal_window(world)  # due 5 working days after 13 May 10:00: 20 May 17:00
    assert world.row("S2")["due_at"] == at("2026-05-20 17:00")
    tick(world.svc, at("2026-05-20 16:59"))
    assert world.state("S2") is State.APPEAL_WINDOW
    tick(world.svc, at("2026-05-20 17:00"))
    assert {world.state(p) for p in EVERYONE} == {State.FINALISED}
    assert audit_triggers(world.svc, world.ev("S2"))[-1] == Trigger.APPEAL_WINDOW_CLOSED.value
    assert who(world.svc, "finalised", world.ev("S2")) == ["S2"]


def test_appeal_review_reminds_then_escalates_to_the_admins_and_decides_nothing(
        world: World) -> None:
    to_appeal_window(world)
    world.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "item 2 was on time"},
               when="2026-05-14 09:00")
    s3 = world.ev("S3")
    row = world.row("S3")
    assert (row["appeal_reviewer_id"], row["due_at"]) == ("D1", at("2026-05-28 17:00"))
    tick(world.svc, at("2026-05-27 08:00"))
    assert who(world.svc, "reminder", s3) == ["D1"]
    tick(world.svc, at("2026-05-28 17:00"))
    assert who(world.svc, "overdue", s3) == ["D1"]
    tick(world.svc, at("2026-06-03 08:00"))
    # The reviewer's own superior (UB1, D1's evaluator) is told, then the admins.
    escalations = mails(world.svc, "escalation", s3)
    assert [m["recipient_id"] for m in escalations] == ["UB1", "A1"]
    assert all(m["context"]["action_url"] is None for m in escalations)
    assert world.state("S3") is State.APPEAL_REVIEW


# --- time zones -----------------------------------------------------------------------------


def test_a_recipient_in_another_time_zone_gets_the_reminder_at_their_local_hour(
        svc: Service, tmp_path: Path) -> None:
    w = make_world(svc, tmp_path, timezones={"S2": "Europe/Paris"})
    # One working day before Thursday 7 May: Wednesday 6 May at 08:00, each on their clock.
    s2 = timers(svc, w.ev("S2"), kind=TimerKind.REMINDER.value)
    assert [t["fire_at"] for t in s2] == [datetime.fromisoformat("2026-05-06T06:00+00:00")]
    tick(svc, at("2026-05-06 12:59"))  # 07:59 in Paris
    assert "S1" in who(svc, "reminder") and "S2" not in who(svc, "reminder")
    tick(svc, at("2026-05-06 13:00"))  # 08:00 in Paris
    reminder = next(m for m in mails(svc, "reminder") if m["recipient_id"] == "S2")
    assert reminder["timezone"] == "Europe/Paris"
    assert reminder["available_at"] == at("2026-05-06 13:00")


# --- extensions ------------------------------------------------------------------------------


def test_an_extension_is_on_the_record_and_moves_that_evaluations_later_deadlines(
        world: World) -> None:
    s1 = world.ev("S1")
    records.extend(world.svc, s1, at("2026-05-12 17:00"), "sick leave 5-8 May",
                   "D1", "A1", now=at("2026-05-05 09:00"))
    with world.svc.store.read() as s:
        ext = dict(s.execute(select(EXTENSION).where(EXTENSION.c.evaluation_id == s1))
                   .one()._mapping)
    assert (ext["phase"], ext["old_due_at"], ext["new_due_at"], ext["reason"],
            ext["approved_by"], ext["created_by"]) == (
        "self_assessment", at("2026-05-07 17:00"), at("2026-05-12 17:00"), "sick leave 5-8 May",
        "D1", "A1")
    granted = mails(world.svc, "extension_granted", s1)
    assert [m["recipient_id"] for m in granted] == ["S1"]
    assert granted[0]["context"]["action_url"].startswith("http://kpi.test/t/")
    assert [t["fire_at"] for t in timers(world.svc, s1, kind="reminder", status="pending")] \
        == [at("2026-05-11 08:00")]
    tick(world.svc, at("2026-05-07 17:00"))
    assert world.state("S1") is State.SELF_ASSESSMENT  # the others moved on
    assert (world.state("S2"), world.row("S2")["due_at"]) == (
        State.PEER_INPUT, at("2026-05-11 17:00"))
    tick(world.svc, at("2026-05-12 17:00"))
    row = world.row("S1")
    # Peer input is relative (2 working days): it follows the extension.
    assert (row["state"], row["due_at"]) == (State.PEER_INPUT.value, at("2026-05-14 17:00"))
    assert "extend" in audit_triggers(world.svc, s1)


def test_an_absolute_later_deadline_does_not_move_with_an_extension(
        svc: Service, tmp_path: Path) -> None:
    w = make_world(svc, tmp_path, cycle_edits={
        "peer_input: {due: {working_days: 2}}": 'peer_input: {due: "2026-05-13 17:00"}'})
    records.extend(svc, w.ev("S1"), at("2026-05-11 17:00"), "r", "D1", "A1",
                   now=at("2026-05-05 09:00"))
    tick(svc, at("2026-05-11 17:00"))
    assert w.row("S1")["due_at"] == at("2026-05-13 17:00")
    assert w.row("S2")["due_at"] == at("2026-05-13 17:00")


def test_an_extension_needs_an_admin_a_later_date_and_cannot_split_the_calibration_pool(
        world: World) -> None:
    s1 = world.ev("S1")
    with pytest.raises(NotPermitted):
        records.extend(world.svc, s1, at("2026-05-12 17:00"), "r", "D1", "H1",
                       now=at("2026-05-05 09:00"))
    with pytest.raises(SubmissionInvalid, match="after the current deadline"):
        records.extend(world.svc, s1, at("2026-05-06 17:00"), "r", "D1", "A1",
                       now=at("2026-05-05 09:00"))
    with pytest.raises(SubmissionInvalid, match="approved_by"):
        records.extend(world.svc, s1, at("2026-05-12 17:00"), "r", " ", "A1",
                       now=at("2026-05-05 09:00"))
    all_to_calibration(world)
    with pytest.raises(WorkflowError, match="kpi extend-bulk t-2026-04 --phase calibration"):
        records.extend(world.svc, s1, at("2026-05-25 17:00"), "r", "D1", "A1",
                       now=at("2026-05-13 09:00"))


def test_after_an_extension_the_ladder_goes_on_from_the_step_it_reached(world: World) -> None:
    to_scoring(world, "S1")
    s1 = world.ev("S1")
    tick(world.svc, at("2026-05-15 08:00"))  # step 1 taken: D1 may score
    records.extend(world.svc, s1, at("2026-05-22 17:00"), "H1 on mission", "D1", "A1",
                   now=at("2026-05-15 09:00"))
    assert [t["seq"] for t in timers(world.svc, s1, kind="escalation", status="pending")] \
        == [1]
    tick(world.svc, at("2026-06-05 08:00"))
    assert who(world.svc, "escalation", s1) == ["D1", "A1"]
    with world.svc.store.read() as s:
        scorers = s.execute(select(ASSIGNMENT.c.person_id).where(
            ASSIGNMENT.c.evaluation_id == s1,
            ASSIGNMENT.c.role == Role.ESCALATION_SUPERVISOR.value)).scalars().all()
    assert scorers == ["D1"]


# --- bulk extension -------------------------------------------------------------------------


def snapshot_of(svc: Service) -> tuple[Any, ...]:
    with svc.store.read() as s:
        return (s.execute(select(DEADLINE).order_by(DEADLINE.c.id)).all(),
                s.execute(select(OUTBOX.c.id)).all(), s.execute(select(AUDIT.c.seq)).all(),
                s.execute(select(EXTENSION)).all(),
                s.execute(select(OUTBOX.c.dedupe_key)).all())


def test_a_bulk_extension_dry_run_lists_the_unit_and_changes_nothing(world: World) -> None:
    before = snapshot_of(world.svc)
    rows_before = {p: world.row(p) for p in EVERYONE}
    report = records.extend_many(world.svc, world.cycle_id, State.SELF_ASSESSMENT,
                                 "flood in the province", "D1", "A1",
                                 until=at("2026-05-14 17:00"), unit_id="P1", dry_run=True,
                                 now=at("2026-05-05 09:00"))
    assert report.dry_run
    assert sorted(e.reviewee_id for e in report.extended) == ["A1", "H1", *STAFF]
    assert {(e.old_due_at, e.new_due_at) for e in report.extended} == {
        (at("2026-05-07 17:00"), at("2026-05-14 17:00"))}
    assert snapshot_of(world.svc) == before
    assert {p: world.row(p) for p in EVERYONE} == rows_before


def test_a_bulk_extension_of_a_unit_moves_its_deadlines_in_one_go(world: World) -> None:
    world.submit_self("S4")  # S4 has left self-assessment: not extended
    report = records.extend_many(world.svc, world.cycle_id, State.SELF_ASSESSMENT,
                                 "flood in the province", "D1", "A1", working_days=2,
                                 unit_id="P1", now=at("2026-05-05 09:00"))
    assert sorted(e.reviewee_id for e in report.extended) == ["A1", "H1", "S1", "S2", "S3"]
    for p in ["A1", "H1", "S1", "S2", "S3"]:
        row = world.row(p)
        assert (row["due_at"], row["extended"]) == (at("2026-05-11 17:00"), True)
    assert world.row("D1")["due_at"] == at("2026-05-07 17:00")  # another unit
    with world.svc.store.read() as s:
        assert s.execute(select(EXTENSION.c.approved_by)).scalars().all() == ["D1"] * 5
    assert sorted(who(world.svc, "extension_granted")) == ["A1", "H1", "S1", "S2", "S3"]
    tick(world.svc, at("2026-05-07 17:00"))
    assert world.state("D1") is State.SUPERVISOR_SCORING
    assert world.state("S1") is State.SELF_ASSESSMENT
    # Running it again to the same date changes nothing more.
    again = records.extend_many(world.svc, world.cycle_id, State.SELF_ASSESSMENT, "again",
                                "D1", "A1", until=at("2026-05-11 17:00"), unit_id="P1",
                                now=at("2026-05-08 09:00"))
    assert again.extended == [] and len(again.unchanged) == 5


def test_a_bulk_extension_of_calibration_moves_the_pools_deadline(world: World) -> None:
    all_to_calibration(world)
    with pytest.raises(WorkflowError, match="whole pool"):
        records.extend_many(world.svc, world.cycle_id, State.CALIBRATION, "r", "UB1", "A1",
                            working_days=3, unit_id="P1", now=at("2026-05-13 09:00"))
    report = records.extend_many(world.svc, world.cycle_id, State.CALIBRATION,
                                 "the director is abroad", "UB1", "A1", working_days=3,
                                 now=at("2026-05-13 09:00"))
    assert len(report.extended) == len(EVERYONE)
    assert {world.row(p)["due_at"] for p in EVERYONE} == {at("2026-05-20 17:00")}
    with world.svc.store.read() as s:
        pending = s.execute(select(DEADLINE.c.kind, DEADLINE.c.fire_at,
                                   DEADLINE.c.recipient_id).where(
            DEADLINE.c.evaluation_id.is_(None), DEADLINE.c.status == "pending")
            .order_by(DEADLINE.c.fire_at, DEADLINE.c.id)).all()
    # The calibrator's rows, and those of UB1, who took D1's own evaluation on (recusal).
    for recipients in ({None, "D1"}, {"UB1"}):
        assert [(r.kind, r.fire_at) for r in pending if r.recipient_id in recipients] == [
            ("reminder", at("2026-05-19 08:00")), ("due", at("2026-05-20 17:00")),
            ("escalation", at("2026-05-22 08:00")), ("escalation", at("2026-05-26 08:00"))]
    assert who(world.svc, "extension_granted") == ["D1", "UB1"]  # UB1 decides D1's own
    tick(world.svc, at("2026-05-15 18:00"))  # the old deadline passes quietly
    assert who(world.svc, "overdue") == []


def test_a_calibration_extension_after_an_escalation_goes_on_from_that_step(
        world: World) -> None:
    all_to_calibration(world)  # due 15 May 17:00; step 1 on 19 May 08:00
    tick(world.svc, at("2026-05-19 09:00"))
    # D1's ladder climbs to UB1; UB1's (D1's own evaluation, by recusal) to the admins.
    assert sorted(who(world.svc, "escalation")) == ["A1", "UB1"]
    records.extend_many(world.svc, world.cycle_id, State.CALIBRATION, "the director is ill",
                        "UB1", "A1", until=at("2026-05-27 17:00"), now=at("2026-05-19 10:00"))
    with world.svc.store.read() as s:
        pending = s.execute(select(DEADLINE.c.kind, DEADLINE.c.seq, DEADLINE.c.fire_at).where(
            DEADLINE.c.evaluation_id.is_(None), DEADLINE.c.status == "pending",
            DEADLINE.c.kind == TimerKind.ESCALATION.value)).all()
    assert [tuple(r) for r in pending] == [("escalation", 1, at("2026-06-02 08:00"))] * 2
