"""Nobody decides their own case (issue 17, item 3): conflicts of interest from the
organisation file and from the scoring form, the calibrator's own evaluation, the
appeal reviewer in conflict; each refused in the service, handed on, on the record."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.integration.test_scoring_leaders import give, to_scoring
from tests.support import DATA, World, at, small_world
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import CycleError, NotPermitted, Recused, SubmissionInvalid
from workflow.service import calibration, pages
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.recusals import declare_conflict
from workflow.store.tables import ASSIGNMENT, AUDIT, OUTBOX

SCORED = "2026-05-13 09:00"


def org_with(tmp_path: Path, conflicts: dict[str, str]) -> Path:
    """The small organisation with a conflicts_with column."""
    lines = (DATA / "small_org.csv").read_text(encoding="utf-8").splitlines()
    out = [lines[0] + ",conflicts_with"]
    out += [f"{line},{conflicts.get(line.split(',')[0], '')}" for line in lines[1:]]
    path = tmp_path / "org.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def open_with(svc: Service, tmp_path: Path, conflicts: dict[str, str],
              extra: str = "") -> World:
    import_org(svc, org_with(tmp_path, conflicts), now=at("2026-05-01 09:00"))
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8") + extra,
                     encoding="utf-8")
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    return World(svc, "t-2026-04")


def audit_of(svc: Service, evaluation_id: int, trigger: str) -> list[dict[str, object]]:
    with svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(AUDIT).where(AUDIT.c.evaluation_id == evaluation_id,
                                AUDIT.c.trigger == trigger).order_by(AUDIT.c.seq))]


def mails_to(svc: Service, person_id: str, event: str) -> list[int | None]:
    with svc.store.read() as s:
        return list(s.execute(select(OUTBOX.c.evaluation_id).where(
            OUTBOX.c.recipient_id == person_id, OUTBOX.c.event == event)).scalars())


@pytest.mark.both_stores
def test_the_calibrator_calibrates_the_pool_but_not_their_own_evaluation(svc: Service) -> None:
    """D1 calibrates the cycle and is in it (evaluated by UB1): UB1 decides D1's case."""
    w = small_world(svc)
    to_scoring(w)
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4, when=SCORED)
    [handed] = audit_of(svc, w.ev("D1"), "recuse")
    assert handed["reason"] == ("their own evaluation (D1 steps aside from calibration; UB1 "
                                "takes it on)")
    now = at("2026-05-14 10:00")
    # A crafted request: D1 approving or moving their own evaluation is refused.
    with pytest.raises(Recused, match="their own evaluation"):
        w.fire("D1", Trigger.APPROVE_CALIBRATION, "D1", when="2026-05-14 10:00")
    with pytest.raises(NotPermitted):
        calibration.move_class(svc, w.ev("D1"), "well_completed", "mine", "D1", now=now)
    # D1's approval moves everyone else on; D1's own evaluation waits for UB1.
    assert calibration.approve(svc, w.cycle_id, "D1", now=now) == 6
    assert w.state("D1") is State.CALIBRATION
    assert {w.state(p) for p in ["S1", "S2", "S3", "S4", "A1", "H1"]} == {State.APPEAL_WINDOW}
    with pytest.raises(NotPermitted):
        calibration.approve(svc, w.cycle_id, "H1", now=now)
    assert calibration.approve(svc, w.cycle_id, "UB1", now=at("2026-05-14 11:00")) == 1
    assert w.state("D1") is State.APPEAL_WINDOW
    [row] = audit_of(svc, w.ev("D1"), Trigger.APPROVE_CALIBRATION.value)
    assert (row["actor_id"], row["role"]) == ("UB1", "calibrator")


def test_the_one_who_takes_the_calibration_on_is_told_and_sees_the_pool(
        svc: Service) -> None:
    w = small_world(svc)
    to_scoring(w)
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4, when=SCORED)
    assert mails_to(svc, "D1", "task_calibration") == [None]
    assert mails_to(svc, "UB1", "task_calibration") == [None]
    work = pages.workload(svc, "UB1", now=at(SCORED))
    assert [c for c, _name, _n in work.calibrations] == [w.cycle_id]


@pytest.mark.both_stores
def test_a_conflict_in_the_organisation_file_hands_scoring_to_the_next_up(
        svc: Service, tmp_path: Path) -> None:
    """H1 is S2's relative (written on S2's row): D1, H1's supervisor, scores S2."""
    w = open_with(svc, tmp_path, {"S2": "H1;S3"})
    assert w.row("S2")["supervisor_id"] == "D1"
    handed, aside = audit_of(svc, w.ev("S2"), "recuse")
    assert handed["reason"] == ("conflict of interest declared in the organisation file (H1 "
                                "steps aside from scoring; D1 takes it on)")
    assert aside["reason"] == ("conflict of interest declared in the organisation file (S3 "
                               "steps aside from deciding)")
    # S3, in conflict with S2, is never drawn as a peer of S2 (the group has S1..S4).
    assert w.peers_of("S2") == ["S1", "S4"] and "S2" not in w.peers_of("S3")
    to_scoring(w)
    assert w.ev("S2") in mails_to(svc, "D1", "task_supervisor_scoring")
    assert w.ev("S2") not in mails_to(svc, "H1", "task_supervisor_scoring")
    # H1 cannot score S2 by any route, not even after an escalation made them a scorer.
    with pytest.raises(NotPermitted):
        w.score("S2", by="H1", when=SCORED)
    w.score("S2", by="D1", when=SCORED)
    assert w.state("S2") is State.CALIBRATION


def test_a_reviewer_in_conflict_does_not_review_the_appeal(svc: Service,
                                                            tmp_path: Path) -> None:
    """S1's appeal goes by default to D1 (the supervisor's supervisor); D1 declared a
    conflict with S1, so the person the cycle file names under recusal.appeal_review
    reviews it."""
    w = open_with(svc, tmp_path, {"D1": "S1"}, "recusal: {appeal_review: UB1}\n")
    with svc.store.read() as s:
        recused = set(s.execute(select(ASSIGNMENT.c.person_id).where(
            ASSIGNMENT.c.evaluation_id == w.ev("S1"), ASSIGNMENT.c.role == "recused")).scalars())
    assert recused == {"D1"}
    to_scoring(w)
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4, when=SCORED)
    now = at("2026-05-14 10:00")
    calibration.approve(svc, w.cycle_id, "D1", now=now)
    calibration.approve(svc, w.cycle_id, "UB1", now=now)
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "Điểm chưa đúng <b>\"x\"</b>"},
           when="2026-05-15 09:00")
    assert w.row("S1")["appeal_reviewer_id"] == "UB1"
    # S2's appeal (no conflict) still goes to D1.
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "Xin xem lại"},
           when="2026-05-15 09:00")
    assert w.row("S2")["appeal_reviewer_id"] == "D1"


@pytest.mark.both_stores
def test_a_supervisor_declares_a_conflict_and_the_case_goes_up(svc: Service) -> None:
    w = small_world(svc)
    to_scoring(w)
    now = at("2026-05-12 20:00")
    with pytest.raises(SubmissionInvalid, match="conflict_reason"):
        declare_conflict(svc, w.ev("S3"), "H1", "  ", now=now)
    with pytest.raises(NotPermitted):
        declare_conflict(svc, w.ev("S3"), "S4", "not my case", now=now)
    assert declare_conflict(svc, w.ev("S3"), "H1", "S3 là em họ của tôi", now=now) == "D1"
    assert w.row("S3")["supervisor_id"] == "D1"
    [row] = audit_of(svc, w.ev("S3"), "recuse")
    assert (row["actor_id"], row["reason"]) == (
        "H1", "S3 là em họ của tôi (H1 steps aside from scoring; D1 takes it on)")
    assert w.ev("S3") in mails_to(svc, "D1", "task_supervisor_scoring")
    with pytest.raises(Recused):
        w.score("S3", by="H1", when=SCORED)
    # D1, now the supervisor, scores; H1 never reviews an appeal on it either.
    w.score("S3", by="D1", when=SCORED)
    assert w.state("S3") is State.CALIBRATION


def test_cycle_check_says_who_steps_aside_from_what(svc: Service, tmp_path: Path) -> None:
    import_org(svc, org_with(tmp_path, {"S2": "H1"}), now=at("2026-05-01 09:00"))
    settings = svc.settings
    result = CliRunner().invoke(main, ["--now", "2026-05-02T10:00:00+07:00", "cycle", "check",
                                       str(DATA / "small_cycle.yaml")],
                                env={"KPI_DATABASE_URL": settings.database_url,
                                     "KPI_SECRET_KEY": settings.secret_key})
    assert result.exit_code == 0, result.output
    assert ("recusal: H1 steps aside from scoring on S2's evaluation (conflict of interest "
            "declared in the organisation file); D1 takes it on") in result.output
    assert ("recusal: D1 steps aside from calibration on D1's evaluation (their own "
            "evaluation); UB1 takes it on") in result.output


def test_nobody_free_to_calibrate_a_case_blocks_opening_until_the_file_names_one(
        svc: Service, tmp_path: Path) -> None:
    """H1 calibrates; S1 declared conflicts with H1 and D1 (H1's supervisor, who would
    take S1's calibration on): nobody is free until recusal.calibration names UB1."""
    import_org(svc, org_with(tmp_path, {"S1": "H1 D1"}), now=at("2026-05-01 09:00"))
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8").replace(
        "calibrator: D1", "calibrator: H1")
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text(text, encoding="utf-8")
    with pytest.raises(CycleError, match=r"S1: the calibrator H1 may not calibrate this "
                                         r"evaluation .* name one under recusal.calibration"):
        open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    cycle.write_text(text + "recusal: {calibration: UB1}\n", encoding="utf-8")
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    # S1's scoring went up past both: H1, then D1, to UB1 (D1's evaluator).
    assert w.row("S1")["supervisor_id"] == "UB1"
    with svc.store.read() as s:
        takers = dict(s.execute(select(ASSIGNMENT.c.evaluation_id, ASSIGNMENT.c.person_id)
                                .where(ASSIGNMENT.c.role == "calibrator")).all())
    assert takers == {w.ev("S1"): "UB1", w.ev("H1"): "UB1"}
