"""Leaders' unit results follow the classes of the people they manage (real SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import (
    DATA,
    World,
    approve_pool,
    at,
    move_class,
    seeded_small_world_at_scoring,
)
from workflow.domain import State, Trigger
from workflow.errors import SubmissionInvalid, WorkflowError
from workflow.scoring.model import CriterionKind, Framework
from workflow.service import calibration, records
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT, OUTBOX, OVERRIDE

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

SCORING_AT = "2026-05-13 10:00"


def pay(fw: Framework, share: str, done: int, items: int = 4) -> dict[str, Any]:
    """A supervisor's score: every rubric criterion at ``share`` of its max, ``done`` items."""
    criteria = {c.id: {"points": str((c.max * Decimal(share)).quantize(Decimal("0.01")))}
                for c in fw.criteria if c.kind is CriterionKind.RUBRIC}
    payload: dict[str, Any] = {"criteria": criteria, "comment": "theo kết quả"}
    if fw.has(CriterionKind.TASKS):
        payload["tasks"] = [{"title": f"Sản phẩm {i + 1}", "completed": i < done,
                             "meets_requirements": i < done} for i in range(items)]
    return payload


def to_scoring(w: World) -> None:
    """Let the deadlines of self-assessment and peer input pass: everyone waits to be scored."""
    tick(w.svc, at("2026-05-12 18:00"))
    assert {w.state(p) for p in w.ids()} == {State.SUPERVISOR_SCORING}


def give(w: World, person: str, share: str, done: int, when: str = SCORING_AT) -> None:
    w.score(person, payload=pay(w.framework(person), share, done), when=when)


def audit_rows(w: World, person: str, trigger: str) -> list[Any]:
    with w.svc.store.read() as s:
        return list(s.execute(select(AUDIT).where(AUDIT.c.evaluation_id == w.ev(person),
                                                  AUDIT.c.trigger == trigger)
                              .order_by(AUDIT.c.seq)))


@pytest.fixture
def world(seeded_service: Callable[..., Service]) -> World:
    return seeded_small_world_at_scoring(seeded_service)


def score_team(w: World, low: str | None = None) -> None:
    """S1..S4 and A1 well completed or better (``low``: not completed), then H1 and D1."""
    for person in ["S1", "S2", "S3", "S4", "A1"]:
        give(w, person, "0.5", 1) if person == low else give(w, person, "0.5", 4)
    give(w, "H1", "1", 4)
    give(w, "D1", "1", 4)


def test_unit_results_count_everyone_below_the_leader(world: World) -> None:
    score_team(world, low="S4")
    # S4 (not completed) is H1's and, below H1, D1's: both get half the unit results.
    assert Decimal(world.row("H1")["score"]) == 93
    assert Decimal(world.row("D1")["score"]) == 93
    assert world.row("S4")["score_class"] == "not_completed"
    lines = [line.text("en") for line in explain(world.svc, world.ev("D1")).lines]
    assert "    6 people under their management scored, 1 below «Completed»: 50% of the " \
           "points" in lines  # H1 and, below H1, S1-S4 and A1
    assert "No self-assessment (its deadline passed): it is left out, not counted as zero" \
        in lines


def test_an_override_below_a_leader_recomputes_them_on_the_record(world: World) -> None:
    score_team(world)
    assert Decimal(world.row("H1")["score"]) == 100
    records.record_override(world.svc, world.ev("S2"), "discipline_reprimand_or_higher",
                            "QĐ 45/QĐ-SNV ngày 10/5/2026", "A1", now=at("2026-05-14 09:00"))
    assert world.row("S2")["final_class"] == "not_completed"
    for leader in ("H1", "D1"):
        row = world.row(leader)
        assert (Decimal(row["score"]), row["score_class"]) == (93, "excellent")
        [entry] = audit_rows(world, leader, "recompute_unit_results")
        assert "record_override on evaluation" in entry.reason
        assert "unit results 100% -> 50%, score 100.00 -> 93.00" in entry.reason
    lines = [line.text("en") for line in explain(world.svc, world.ev("H1")).lines]
    assert any(line.startswith("Recomputed on 2026-05-14: the classes of the people they "
                               "manage changed") for line in lines)
    assert explain(world.svc, world.ev("H1")).recomputed_matches is True


def test_scoring_someone_after_their_leader_recomputes_the_leader(world: World) -> None:
    for person in ["S1", "S2", "S3", "A1"]:
        give(world, person, "0.5", 4)
    give(world, "H1", "1", 4)  # S4 is not scored yet: four of five counted
    assert Decimal(world.row("H1")["score"]) == 100
    give(world, "S4", "0.5", 1)  # S4: not completed
    assert Decimal(world.row("H1")["score"]) == 93
    assert len(audit_rows(world, "H1", "recompute_unit_results")) == 1


def test_scoring_at_or_above_completed_under_a_full_share_leaves_the_leaders_alone(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nobody below them under "completed", a leader's unit results stay 100%
    whoever else is scored "completed" or better: no query over their subtree (for a
    head of agency, the whole agency) on each scoring. A class under it still counts."""
    from workflow.service import scoring_inputs
    counted: list[str] = []
    real = scoring_inputs.subordinates_of

    def spy(session: Any, snap: Any) -> Any:
        counted.append(snap.row.reviewee_id)
        return real(session, snap)

    monkeypatch.setattr(scoring_inputs, "subordinates_of", spy)
    for person in ["S1", "S2", "A1"]:
        give(world, person, "0.5", 4)
    give(world, "H1", "1", 4)
    give(world, "D1", "1", 4)
    assert Decimal(world.row("H1")["score"]) == Decimal(world.row("D1")["score"]) == 100
    counted.clear()
    give(world, "S3", "0.5", 4)  # well completed
    assert counted == [], "H1 and D1 were not recomputed"
    assert Decimal(world.row("H1")["score"]) == 100
    give(world, "S4", "0.5", 1)  # not completed: both leaders drop to half the share
    assert sorted(counted) == ["D1", "H1"]
    assert Decimal(world.row("H1")["score"]) == Decimal(world.row("D1")["score"]) == 93
    assert len(audit_rows(world, "H1", "recompute_unit_results")) == 1


def test_a_leader_scored_before_anyone_below_gets_unit_results_once_they_are(
        world: World) -> None:
    give(world, "H1", "1", 4)  # unit results left out: own items and organising scaled up
    assert Decimal(world.row("H1")["score"]) == 100
    give(world, "S1", "0.5", 1)  # not completed
    [entry] = audit_rows(world, "H1", "recompute_unit_results")
    assert "unit results left out (nobody scored yet) -> 50%, score 100.00 -> 93.00" \
        in entry.reason


def approve(w: World, when: str = "2026-05-15 10:00") -> None:
    for m in calibration.view(w.svc, w.cycle_id).members:
        if m.breaks:
            move_class(w.svc, m.evaluation_id, "well_completed",
                                   "quota of Art 20(5)", "D1", now=at(when))
    approve_pool(w.svc, w.cycle_id, "D1", now=at(when))


def test_an_appeal_that_lifts_someone_recomputes_their_leader_and_tells_them(
        world: World) -> None:
    score_team(world, low="S4")
    approve(world)
    assert world.state("H1") is State.APPEAL_WINDOW
    world.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "Ba sản phẩm đã hoàn thành."},
               when="2026-05-18 09:00")
    world.fire("S4", Trigger.REVISE_SCORE, "D1", {
        "reason": "Biên bản bàn giao xác nhận", "score": pay(world.framework("S4"), "0.5", 4)},
        when="2026-05-19 09:00")
    assert world.row("S4")["final_class"] == "well_completed"
    h1 = world.row("H1")
    assert Decimal(h1["score"]) == 100
    # the pool's approved calibration has no room for another excellent: H1 stays well
    # completed, with the quota's reason on the record, and the score is the new one
    assert (h1["score_class"], h1["final_class"]) == ("excellent", "well_completed")
    assert h1["score_stamp"]["quota_cap"]["pools"]
    with world.svc.store.read() as s:
        mails = s.execute(select(OUTBOX.c.event, OUTBOX.c.context)
                          .where(OUTBOX.c.evaluation_id == world.ev("H1"),
                                 OUTBOX.c.event == "result")
                          .order_by(OUTBOX.c.id)).all()
    assert len(mails) == 2 and "unit results 50% -> 100%" in mails[-1].context["reason"]
    assert mails[-1].context["score"] == "100.00"


def test_a_finalised_leader_keeps_the_result_and_the_record_says_why(world: World) -> None:
    score_team(world, low="S4")
    approve(world)
    world.fire("H1", Trigger.ACCEPT_RESULT, "H1", {}, when="2026-05-18 09:00")
    world.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "r"}, when="2026-05-18 09:00")
    before = world.row("H1")
    world.fire("S4", Trigger.REVISE_SCORE, "D1", {
        "reason": "xác nhận", "score": pay(world.framework("S4"), "0.5", 4)},
        when="2026-05-19 09:00")
    after = world.row("H1")
    assert (after["score"], after["version"]) == (before["score"], before["version"])
    [entry] = audit_rows(world, "H1", "unit_results_stale")
    assert "unit results 50% -> 100%" in entry.reason
    e = explain(world.svc, world.ev("H1"))
    assert e.stale and e.recomputed_matches is False
    assert any("an admin may reopen it" in line.text("en") for line in e.lines)


def test_deputies_are_scored_on_the_areas_assigned_to_them(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    """The people who report to a deputy are the deputy's areas (organisation.csv)."""
    org = tmp_path / "org.csv"
    org.write_text(
        "employee_id,full_name,email,unit_id,unit_name,position,position_group,supervisor_id,"
        "task_group,locale,is_leader\n"
        "UB1,Chủ tịch,ct@x.vn,UBND,UBND,Chủ tịch,leader,,A,vi,true\n"
        "D1,Giám đốc,gd@x.vn,BGD,Ban Giám đốc,Giám đốc,leader,,A,vi,true\n"
        "P1,Phó Giám đốc Một,p1@x.vn,BGD,Ban Giám đốc,Phó Giám đốc,deputy,D1,A,vi,true\n"
        "P2,Phó Giám đốc Hai,p2@x.vn,BGD,Ban Giám đốc,Phó Giám đốc,deputy,D1,A,vi,true\n"
        "X1,Chuyên viên X1,x1@x.vn,P1,Phòng Một,Chuyên viên,specialist,P1,C,vi,false\n"
        "X2,Chuyên viên X2,x2@x.vn,P1,Phòng Một,Chuyên viên,specialist,P1,C,vi,false\n"
        "Y1,Chuyên viên Y1,y1@x.vn,P2,Phòng Hai,Chuyên viên,specialist,P2,C,vi,false\n"
        "Y2,Chuyên viên Y2,y2@x.vn,P2,Phòng Hai,Chuyên viên,specialist,P2,C,vi,false\n",
        encoding="utf-8")
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8").replace(
        "population: {units: [BGD, P1]}", "population: {units: [BGD, P1, P2]}")
        .replace("admins: [A1]", "admins: [X1]"), encoding="utf-8")
    svc = new_service()
    import_org(svc, org, now=at("2026-05-01 09:00"))
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    to_scoring(w)
    for person in ("X1", "X2", "Y1"):
        give(w, person, "0.5", 4)
    give(w, "Y2", "0.5", 1)  # not completed, in P2's area
    for person in ("P1", "P2", "D1"):
        give(w, person, "1", 4)
    assert Decimal(w.row("P1")["score"]) == 100  # P1's area is all at least completed
    assert Decimal(w.row("P2")["score"]) == 93  # P2's area has Y2 not completed
    assert Decimal(w.row("D1")["score"]) == 93  # the director manages both areas
    lines = [line.text("en") for line in explain(svc, w.ev("P2")).lines]
    assert "      below «Completed»: Y2 (Not completed)" in lines


def test_override_is_a_fact_with_its_document_author_and_time(world: World) -> None:
    give(world, "S1", "1", 4)
    records.record_override(world.svc, world.ev("S1"), "degradation_conclusion",
                            "  KL 3/KL-UBKT  ", "A1", now=at("2026-05-14 09:00"))
    with world.svc.store.read() as s:
        [fact] = s.execute(select(OVERRIDE).where(OVERRIDE.c.evaluation_id == world.ev("S1")))
    assert (fact.override_id, fact.source_document, fact.recorded_by) == (
        "degradation_conclusion", "KL 3/KL-UBKT", "A1")
    assert fact.recorded_at == at("2026-05-14 09:00")
    row = world.row("S1")
    assert (Decimal(row["score"]), row["score_class"]) == (100, "not_completed")
    assert row["score_stamp"]["forced_by"] == ["degradation_conclusion"]
    [entry] = audit_rows(world, "S1", "record_override")
    assert entry.reason == "KL 3/KL-UBKT" and entry.actor_id == "A1"
    lines = [line.text("en") for line in explain(world.svc, world.ev("S1")).lines]
    assert ("Override: Competent conclusion of political, ethical or lifestyle degradation "
            "(document KL 3/KL-UBKT, recorded by A1 on 2026-05-14): at most Not completed") in lines


def test_override_refusals_name_what_is_wrong(world: World) -> None:
    with pytest.raises(SubmissionInvalid, match="concerns leaders only, and S1 leads nobody"):
        records.record_override(world.svc, world.ev("S1"), "leader_unit_corruption", "QĐ 1",
                                "A1", now=at("2026-05-14 09:00"))
    with pytest.raises(SubmissionInvalid, match="'late' is not an override of regime"):
        records.record_override(world.svc, world.ev("S1"), "late", "QĐ 1", "A1",
                                now=at("2026-05-14 09:00"))
    with pytest.raises(SubmissionInvalid, match="source_document: required"):
        records.record_override(world.svc, world.ev("S1"), "degradation_conclusion", " ", "A1",
                                now=at("2026-05-14 09:00"))
    world.fire("S1", Trigger.CANCEL, "A1", reason="transfer", when="2026-05-14 09:00")
    with pytest.raises(WorkflowError, match="is cancelled"):
        records.record_override(world.svc, world.ev("S1"), "degradation_conclusion", "QĐ 1",
                                "A1", now=at("2026-05-14 10:00"))
    with world.svc.store.read() as s:
        assert s.execute(select(OVERRIDE)).first() is None
