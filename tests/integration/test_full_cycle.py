"""Whole cycles on a real SQLite file, through the service API, one path per test."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import (
    DATA,
    World,
    approve_pool,
    at,
    move_class,
    sample_world,
    seeded_small_world,
    small_world,
)
from tests.unit.test_machine import EXPECTED
from workflow import sample
from workflow.domain import State, Trigger
from workflow.errors import (
    AppealUnderReview,
    EvaluationAlreadyChanged,
    NotPermitted,
    SubmissionInvalid,
    TransitionNotAllowed,
)
from workflow.service import calibration
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.queries import verify_audit
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT, OUTBOX, SUBMISSION

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

STAFF = ["S1", "S2", "S3", "S4"]
EVERYONE = ["D1", "H1", *STAFF, "A1"]


@pytest.fixture
def world(seeded_service: Callable[..., Service]) -> World:
    return seeded_small_world(seeded_service)


def outbox(svc: Service, event: str | None = None) -> list[dict[str, object]]:
    with svc.store.read() as s:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        if event:
            stmt = stmt.where(OUTBOX.c.event == event)
        return [dict(r._mapping) for r in s.execute(stmt)]


def to_calibration(w: World, levels: dict[str, float] | None = None) -> None:
    """Everyone self-assesses, peers answer, supervisors score (in the right order)."""
    levels = levels or {}
    for person in EVERYONE:
        w.submit_self(person)
    for person in STAFF:
        w.answer_peers(person)
    for person in [*STAFF, "A1", "H1", "D1"]:  # the team before its leader
        w.score(person, level=levels.get(person, 0.8))
    assert {w.state(p) for p in EVERYONE} == {State.CALIBRATION}


def approve(w: World, when: str = "2026-05-15 10:00") -> None:
    view = calibration.view(w.svc, w.cycle_id)
    for member in view.members:
        if member.final_class == "excellent":
            move_class(w.svc, member.evaluation_id, "well_completed",
                                   "quota: fewer than five well completed in the pool", "D1",
                                   now=at(when))
    approve_pool(w.svc, w.cycle_id, "D1", now=at(when))


def test_normal_path_ends_finalised_with_a_verified_audit_chain(world: World) -> None:
    to_calibration(world, {"S1": 0.97})
    approve(world)
    assert {world.state(p) for p in EVERYONE} == {State.APPEAL_WINDOW}
    world.fire("S1", Trigger.ACCEPT_RESULT, "S1", {}, when="2026-05-18 09:00")
    assert world.state("S1") is State.FINALISED
    row = world.row("S2")
    assert row["score"] is not None and row["final_class"] in {"well_completed", "completed"}
    # Silence until the appeal window closes is acceptance.
    tick(world.svc, at("2026-06-01 09:00"))
    assert {world.state(p) for p in EVERYONE} == {State.FINALISED}
    result = verify_audit(world.svc)
    assert result.ok and result.rows > 40
    results = outbox(world.svc, "result")
    assert {r["recipient_id"] for r in results} == set(EVERYONE)
    assert all(r["context"]["score"] and r["context"]["due_at"] for r in results)  # type: ignore[index]


def test_calibration_moves_excellent_down_and_keeps_the_score(world: World) -> None:
    to_calibration(world, {"S1": 0.99})
    s1 = world.row("S1")
    assert s1["final_class"] == "excellent"
    with pytest.raises(Exception, match="quota does not hold"):
        approve_pool(world.svc, world.cycle_id, "D1", now=at("2026-05-15 10:00"))
    approve(world)
    after = world.row("S1")
    assert after["score"] == s1["score"]
    assert (after["score_class"], after["final_class"]) == ("excellent", "well_completed")


def test_self_assessment_missed_moves_on_flagged_and_tells_both(world: World) -> None:
    tick(world.svc, at("2026-05-07 18:00"))
    row = world.row("S1")
    assert row["state"] == State.PEER_INPUT.value
    assert row["self_assessment_missing"]
    missed = outbox(world.svc, "self_assessment_missed")
    told = {(m["evaluation_id"], m["recipient_id"]) for m in missed}
    assert (world.ev("S1"), "S1") in told and (world.ev("S1"), "H1") in told


def test_peer_quorum_not_reached_closes_with_what_arrived(world: World) -> None:
    world.submit_self("S1")
    first, _second = world.peers_of("S1")
    world.fire("S1", Trigger.SUBMIT_PEER_INPUT, first,
               sample.peer_input(world.framework("S1"), world.rng, 0.9), when="2026-05-06 09:00")
    assert world.state("S1") is State.PEER_INPUT
    tick(world.svc, at("2026-05-12 09:00"))
    row = world.row("S1")
    assert row["state"] == State.SUPERVISOR_SCORING.value
    assert row["peer_quorum_not_reached"]
    # One answer is below the quorum of two: withheld, the score is the supervisor's.
    out = world.score("S1", when="2026-05-12 10:00")
    assert out.score is not None


def test_a_peer_answers_once(world: World) -> None:
    world.submit_self("S1")
    peer = world.peers_of("S1")[0]
    payload = sample.peer_input(world.framework("S1"), world.rng, 0.8)
    world.fire("S1", Trigger.SUBMIT_PEER_INPUT, peer, payload, when="2026-05-06 09:00")
    with pytest.raises(NotPermitted, match="already answered"):
        world.fire("S1", Trigger.SUBMIT_PEER_INPUT, peer, payload, when="2026-05-06 09:05")


def test_appeal_upheld_by_the_supervisors_supervisor(world: World) -> None:
    to_calibration(world)
    approve(world)
    world.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "Item 2 was delivered on time."},
               when="2026-05-18 09:00")
    assert world.state("S3") is State.APPEAL_REVIEW
    assert world.row("S3")["appeal_reviewer_id"] == "D1"
    with pytest.raises(NotPermitted):
        world.fire("S3", Trigger.UPHOLD_SCORE, "H1", {"reason": "x"}, when="2026-05-19 09:00")
    before = world.row("S3")["score"]
    world.fire("S3", Trigger.UPHOLD_SCORE, "D1", {"reason": "The delay is on record."},
               when="2026-05-19 09:00")
    row = world.row("S3")
    assert (row["state"], row["score"]) == (State.FINALISED.value, before)
    decided = outbox(world.svc, "appeal_decided")
    assert [d["recipient_id"] for d in decided] == ["S3"]


def test_appeal_revised_recomputes_score_and_class(world: World) -> None:
    to_calibration(world, {"S4": 0.55})
    approve(world)
    world.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "Three items were missing."},
               when="2026-05-18 09:00")
    new_score = sample.score(world.framework("S4"), world.rng, 0.85)
    world.fire("S4", Trigger.REVISE_SCORE, "D1", {"reason": "Items confirmed by the archive.",
                                                  "score": new_score}, when="2026-05-20 09:00")
    row = world.row("S4")
    assert row["state"] == State.FINALISED.value
    assert Decimal(row["score"]) > 70
    with world.svc.store.read() as s:
        decisions = s.execute(select(SUBMISSION)
                              .where(SUBMISSION.c.kind == "appeal_decision")).all()
    assert decisions[0].payload["decision"] == "revise_score"


def test_an_appeal_is_lodged_at_most_once(world: World) -> None:
    to_calibration(world)
    approve(world)
    world.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "r"}, when="2026-05-18 09:00")
    # Said for what it is: the first appeal is being reviewed (issue 17).
    with pytest.raises(AppealUnderReview, match="the appeal of round 1 is being reviewed"):
        world.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "again"},
                   when="2026-05-18 09:01")


def test_an_appeal_after_the_window_is_refused(world: World) -> None:
    to_calibration(world)
    approve(world)
    tick(world.svc, at("2026-05-25 18:00"))
    assert world.state("S2") is State.FINALISED
    with pytest.raises(EvaluationAlreadyChanged):
        world.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "late"},
                   when="2026-05-25 18:01")


def test_escalated_scorer_never_reviews_the_appeal(world: World) -> None:
    for p in EVERYONE:
        world.submit_self(p)
    for p in STAFF:
        world.answer_peers(p)
    # H1 does not score S1: the ladder reaches D1, who scores instead.
    tick(world.svc, at("2026-05-18 09:00"))
    row = world.row("S1")
    assert row["escalated"] and row["escalation_level"] >= 1
    world.score("S1", by="D1", when="2026-05-18 10:00")
    for p in ["S2", "S3", "S4", "A1", "H1", "D1"]:
        world.score(p, when="2026-05-18 10:00")
    approve(world, "2026-05-18 11:00")
    world.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "r"}, when="2026-05-19 09:00")
    assert world.row("S1")["appeal_reviewer_id"] not in (None, "D1", "S1")


def test_cancel_needs_an_admin_and_a_reason(world: World) -> None:
    with pytest.raises(NotPermitted):
        world.fire("S3", Trigger.CANCEL, "H1", reason="transfer")
    with pytest.raises(SubmissionInvalid, match="reason"):
        world.fire("S3", Trigger.CANCEL, "A1", reason="  ")
    world.fire("S3", Trigger.CANCEL, "A1", reason="Transferred to the Department of Finance")
    assert world.state("S3") is State.CANCELLED
    with pytest.raises(TransitionNotAllowed):
        world.fire("S3", Trigger.REOPEN, "A1", reason="no")


def test_reopened_evaluation_is_scored_and_calibrated_again(world: World) -> None:
    to_calibration(world)
    approve(world)
    world.fire("S1", Trigger.ACCEPT_RESULT, "S1", {}, when="2026-05-18 09:00")
    world.fire("S1", Trigger.REOPEN, "A1", reason="Decision 12/QĐ corrected item 3",
               when="2026-05-20 09:00")
    assert world.state("S1") is State.SUPERVISOR_SCORING
    assert world.row("S1")["reopened"]
    world.score("S1", level=0.75, when="2026-05-20 10:00")
    assert world.state("S1") is State.CALIBRATION
    approve_pool(world.svc, world.cycle_id, "D1", now=at("2026-05-20 11:00"))
    assert world.state("S1") is State.APPEAL_WINDOW


def test_concurrent_conflicting_submissions_one_wins_one_is_told(
        new_service: Callable[..., Service]) -> None:
    svc = new_service()
    world = small_world(svc)
    world.submit_self("A1")  # A1 has no peers: straight to scoring
    assert world.state("A1") is State.SUPERVISOR_SCORING
    payload = sample.score(world.framework("A1"), world.rng, 0.8)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def submit() -> None:
        barrier.wait()
        try:
            outcomes.append(world.fire("A1", Trigger.SUBMIT_SCORE, "H1", payload,
                                       when="2026-05-12 09:00"))
        except EvaluationAlreadyChanged as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes if isinstance(o, EvaluationAlreadyChanged)]
    assert len(outcomes) == 2 and len(errors) == 1
    assert "already moved on" in str(errors[0])
    with svc.store.read() as s:
        scores = s.execute(select(SUBMISSION).where(
            SUBMISSION.c.kind == "supervisor_score")).all()
    assert len(scores) == 1


def test_unauthorised_actor_changes_nothing(world: World) -> None:
    before = world.row("S1")
    with pytest.raises(NotPermitted):
        world.fire("S1", Trigger.SUBMIT_SELF_ASSESSMENT, "S2",
                   sample.self_assessment(world.framework("S1"), world.rng, 0.8))
    assert world.row("S1") == before


def test_bad_submission_stores_nothing_and_names_each_field(world: World) -> None:
    before = world.row("S1")
    payload = {"criteria": {"political_quality": {"points": "11"},
                            "innovation": {"points": "NaN"}},
               "tasks": [{"title": "", "completed": "maybe"}]}
    with pytest.raises(SubmissionInvalid) as info:
        world.fire("S1", Trigger.SUBMIT_SELF_ASSESSMENT, "S1", payload)
    fields = info.value.fields
    assert "between 0 and 10" in fields["criteria.political_quality.points"]
    assert "finite" in fields["criteria.innovation.points"]
    assert fields["criteria.competence_attitude.points"] == "required"
    assert fields["tasks[0].title"] == "required"
    assert "yes or no" in fields["tasks[0].completed"]
    assert world.row("S1") == before


def test_nothing_can_be_done_before_the_phase_opens(world: World) -> None:
    with pytest.raises(Exception, match="opens at"):
        world.submit_self("S1", when="2026-05-03 09:00")


def test_every_transition_of_the_table_is_reached(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    """One cycle of the sample organisation in which each person takes one path."""
    svc = new_service()
    w = sample_world(svc)
    ids = w.ids()
    # Two never self-assess: one with peers to ask, one (a unit head) without.
    with_peers = next(p for p in ("SNV040", "SNV041", "SNV042") if w.peers_of(p))
    without_peers = next(p for p in sorted(ids) if not w.peers_of(p) and p != "SNV001")
    missed = {with_peers, without_peers}
    w.fire("SNV050", Trigger.CANCEL, "SNV060", reason="created in error")
    for p in sorted(ids):
        if p not in missed and w.state(p) is State.SELF_ASSESSMENT:
            w.submit_self(p)
    w.fire("SNV051", Trigger.CANCEL, "SNV060", reason="long leave", when="2026-05-06 09:00")
    for p in sorted(ids):
        if w.state(p) is State.PEER_INPUT and p != "SNV030":  # SNV030: peers stay silent
            w.answer_peers(p)
    tick(svc, at("2026-05-12 18:00"))  # missed self-assessments and silent peers move on
    w.fire("SNV052", Trigger.CANCEL, "SNV060", reason="transfer", when="2026-05-13 09:00")
    # Score bottom-up so leaders see their units' classes.
    order = sorted(ids, key=lambda p: (p in {"SNV001", "SNV002", "SNV003"}, p))
    for p in order:
        if w.state(p) is State.SUPERVISOR_SCORING:
            w.score(p, when="2026-05-13 10:00")
    w.fire("SNV053", Trigger.CANCEL, "SNV060", reason="transfer", when="2026-05-14 09:00")
    view = calibration.view(svc, w.cycle_id)
    for m in view.members:
        if m.final_class == "excellent":
            move_class(svc, m.evaluation_id, "well_completed", "quota",
                                   "SNV001", now=at("2026-05-14 10:00"))
    approve_pool(svc, w.cycle_id, "SNV001", now=at("2026-05-14 11:00"))
    w.fire("SNV054", Trigger.CANCEL, "SNV060", reason="transfer", when="2026-05-15 09:00")
    w.fire("SNV010", Trigger.ACCEPT_RESULT, "SNV010", {}, when="2026-05-15 09:00")
    for p in ("SNV011", "SNV012", "SNV055"):
        w.fire(p, Trigger.LODGE_APPEAL, p, {"reasons": "please review"}, when="2026-05-15 09:00")
    reviewer = w.row("SNV011")["appeal_reviewer_id"]
    w.fire("SNV011", Trigger.UPHOLD_SCORE, reviewer, {"reason": "ok"}, when="2026-05-18 09:00")
    reviewer = w.row("SNV012")["appeal_reviewer_id"]
    w.fire("SNV012", Trigger.REVISE_SCORE, reviewer, {
        "reason": "corrected", "score": sample.score(w.framework("SNV012"), w.rng, 0.8)},
        when="2026-05-18 09:00")
    w.fire("SNV055", Trigger.CANCEL, "SNV060", reason="transfer", when="2026-05-18 09:00")
    tick(svc, at("2026-05-29 09:00"))  # the appeal window closes for the silent
    w.fire("SNV010", Trigger.REOPEN, "SNV060", reason="corrected", when="2026-06-01 09:00")
    # A second cycle without calibration: scoring goes straight to the appeal window.
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    no_calibration = tmp_path / "no-calibration.yaml"
    no_calibration.write_text(text.replace("id: t-2026-04", "id: t-nocal").replace(
        "calibration: {enabled: true, calibrator: D1}", "calibration: {enabled: false}"
    ).replace("population: {units: [BGD, P1]}", "population: {units: [VP]}").replace(
        "evaluators: {D1: UB1}", "evaluators: {}").replace("admins: [A1]", "admins: [SNV060]"),
        encoding="utf-8")
    open_cycle(svc, no_calibration, now=at("2026-05-02 10:00"))
    nocal = World(svc, "t-nocal")
    target = "SNV061" if "SNV061" in nocal.ids() else sorted(nocal.ids())[-1]
    nocal.submit_self(target)
    nocal.answer_peers(target)
    if nocal.state(target) is State.SUPERVISOR_SCORING:
        nocal.score(target)
    assert nocal.state(target) is State.APPEAL_WINDOW

    with svc.store.read() as s:
        rows = s.execute(select(AUDIT.c.from_state, AUDIT.c.trigger, AUDIT.c.to_state)
                         .where(AUDIT.c.from_state.is_not(None))).all()
    seen = set()
    for from_state, trigger, to_state in rows:
        if trigger not in {t.value for t in Trigger}:
            continue  # records: escalate, extend, move_class...
        src, dst = State(from_state), State(to_state)
        dest = None if (src is dst and trigger == Trigger.SUBMIT_PEER_INPUT.value) else dst
        seen.add((src, Trigger(trigger), dest))
    # A decision reopening the petition window needs a regime with re_review (the
    # sample's has none): tests/integration/test_petition_re_review.py reaches those.
    again = {(State.APPEAL_REVIEW, t, State.APPEAL_WINDOW)
             for t in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE)}
    assert seen == EXPECTED - again, f"not reached: {EXPECTED - again - seen}"
    assert {State(r[2]) for r in rows} | {State.SELF_ASSESSMENT} == set(State)
    assert verify_audit(svc).ok
