"""Conflicts of interest declared by an organisation import after the cycle opened
(issue 17): the open case moves to the next person up, on the record, with the task
email to the new decider, through `kpi org import` (and its ``--dry-run``) and the
admin's /admin/org preview and apply, on SQLite and PostgreSQL. Removing the conflict
moves nothing back. The supervisor's name is hostile markup throughout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from tests.integration.test_scoring_leaders import give, to_scoring
from tests.integration.test_web_org import TOKEN, upload
from tests.support import DATA, World, at
from tests.web_support import make_web, text_of
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import NotPermitted
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import AUDIT, OUTBOX

pytestmark = pytest.mark.both_stores

HOSTILE = "<b>Lê \"Thị\" O'Brien</b>"
ORG = (DATA / "small_org.csv").read_text(encoding="utf-8").replace(
    "Trưởng phòng Lê Văn Hùng", '"<b>Lê ""Thị"" O\'Brien</b>"')


def org_file(tmp_path: Path, conflicts: dict[str, str], name: str = "org.csv") -> Path:
    lines = ORG.splitlines()
    out = [lines[0] + ",conflicts_with"]
    out += [f"{line},{conflicts.get(line.split(',')[0], '')}" for line in lines[1:]]
    path = tmp_path / name
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def world(new_service: Callable[..., Service], tmp_path: Path) -> World:
    """S1..S4 wait for H1's score; S3 is scored and has appealed (D1 reviews it)."""
    svc = new_service(admins=("UB1",))
    import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8").replace(
        "calibration: {enabled: true, calibrator: D1}", "calibration: {enabled: false}"),
        encoding="utf-8")
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    to_scoring(w)
    give(w, "S3", "0.5", 2, when="2026-05-13 09:00")
    w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "Hai sản phẩm <i>đúng hạn</i>"},
           when="2026-05-14 09:00")
    assert (w.state("S3"), w.row("S3")["appeal_reviewer_id"]) == (State.APPEAL_REVIEW, "D1")
    assert w.row("S2")["supervisor_id"] == "H1"
    return w


def kpi(w: World, *args: str) -> Result:
    return CliRunner().invoke(main, ["--now", at("2026-05-14 10:00").isoformat(), *args],
                              env={"KPI_DATABASE_URL": w.svc.settings.database_url,
                                   "KPI_SECRET_KEY": w.svc.settings.secret_key})


def outbox(w: World, event: str, person: str) -> list[dict[str, Any]]:
    with w.svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == event, OUTBOX.c.evaluation_id == w.ev(person))
            .order_by(OUTBOX.c.id))]


def recusal_audit(w: World, person: str) -> list[str]:
    with w.svc.store.read() as s:
        return [r.reason for r in s.execute(
            select(AUDIT.c.reason).where(AUDIT.c.evaluation_id == w.ev(person),
                                         AUDIT.c.trigger == "recuse").order_by(AUDIT.c.seq))]


def test_kpi_org_import_hands_the_open_cases_on_and_the_dry_run_lists_them(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = world(new_service, tmp_path)
    conflicts = org_file(tmp_path, {"H1": "S2", "D1": "S3"})
    before = {p: w.row(p) for p in ("S2", "S3")}
    dry = kpi(w, "org", "import", str(conflicts), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"conflict of interest: H1 steps aside from scoring on S2's evaluation " \
           f"{w.ev('S2')} (t-2026-04, supervisor_scoring); D1 takes it on" in dry.output, \
        dry.output
    assert f"conflict of interest: D1 steps aside from appeal_review on S3's evaluation " \
           f"{w.ev('S3')} (t-2026-04, appeal_review); " in dry.output
    assert {p: w.row(p) for p in ("S2", "S3")} == before  # nothing written
    done = kpi(w, "org", "import", str(conflicts))
    assert done.exit_code == 0, done.output
    assert "conflict of interest: H1 steps aside from scoring on S2's" in done.output
    # S2's scoring went up to D1: the case, the task email, the record.
    assert w.row("S2")["supervisor_id"] == "D1"
    (task,) = [r for r in outbox(w, "task_supervisor_scoring", "S2") if r["recipient_id"] == "D1"]
    assert task["context"]["action_url"]
    # H1, who stepped aside, is told who scores S2 now (H1 reads Vietnamese).
    (note,) = [r for r in outbox(w, "stepped_aside", "S2") if r["recipient_id"] == "H1"]
    assert note["context"]["assignee_name"] == "Giám đốc Nguyễn Thị Sở"
    from notifications.render import render
    out = render(event="stepped_aside", locale="vi", timezone=note["timezone"],
                 recipient_name=note["recipient_name"], recipient_id="H1",
                 context=note["context"], base_url=w.svc.settings.base_url,
                 templates_dir=w.svc.settings.templates_dir)
    assert "Anh/Chị không còn chấm điểm phiếu đánh giá của người này" in out.text, out.text
    assert "Giám đốc Nguyễn Thị Sở chấm điểm thay" in out.text
    assert note["recipient_name"] == HOSTILE
    (why,) = recusal_audit(w, "S2")
    assert "H1 steps aside from scoring; D1 takes it on" in why and "org.csv" in why
    with pytest.raises(NotPermitted):
        w.score("S2", by="H1", when="2026-05-14 11:00")  # H1 may not score S2 any more
    w.score("S2", by="D1", when="2026-05-14 11:00")
    # S3's appeal went to the next reviewer in line, who is told.
    taker = w.row("S3")["appeal_reviewer_id"]
    assert taker not in ("D1", "H1", "S3", None)
    (review,) = [r for r in outbox(w, "task_appeal_review", "S3") if r["recipient_id"] == taker]
    assert review["context"]["appeal_reasons"] == "Hai sản phẩm <i>đúng hạn</i>"
    with pytest.raises(NotPermitted):
        w.fire("S3", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-14 11:00")
    w.fire("S3", Trigger.UPHOLD_SCORE, taker, {"reason": "giữ"}, when="2026-05-14 11:00")
    # The cases nobody scores or reviews now (S1, S4) are not touched.
    assert w.row("S1")["supervisor_id"] == "H1" and recusal_audit(w, "S1") == []
    # Importing the same file again hands nothing on twice.
    again = kpi(w, "org", "import", str(conflicts))
    assert again.exit_code == 0 and "conflict of interest" not in again.output
    assert len(recusal_audit(w, "S2")) == 1


def test_the_admin_page_previews_the_hand_overs_and_a_removal_moves_nothing_back(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = world(new_service, tmp_path)
    web = make_web(w)
    web.clock.set("2026-05-14 10:00")
    ub1 = web.sign_in("UB1")  # reads Vietnamese
    raw = org_file(tmp_path, {"H1": "S2"}).read_bytes()
    status, page = upload(web, ub1, "to-chuc.csv", raw)
    assert status == 200, text_of(page)
    said = text_of(page)
    assert f"{HOSTILE} rút khỏi việc chấm điểm Hoàng Văn Nam; Giám đốc Nguyễn Thị Sở chấm " \
           "điểm thay." in said, said[-3000:]
    assert "<b>Lê" not in page  # the name is escaped
    assert w.row("S2")["supervisor_id"] == "H1"  # a preview writes nothing
    token = TOKEN.search(page)
    assert token
    done = ub1.post("/admin/org/apply", data={"csrf_token": web.csrf(ub1, "/admin/org"),
                                              "upload": token.group(1)})
    assert done.status_code == 200, text_of(done.text)
    assert w.row("S2")["supervisor_id"] == "D1"
    assert [r["recipient_id"] for r in outbox(w, "task_supervisor_scoring", "S2")][-1] == "D1"
    # The conflict taken out again: the preview says nothing moves back, and nothing does.
    status, page = upload(web, ub1, "to-chuc-2.csv", org_file(tmp_path, {}, "o2.csv").read_bytes())
    assert status == 200
    assert re.search(r"H1–S2|S2–H1", text_of(page)), text_of(page)[-2000:]
    assert "không chuyển lại" in text_of(page)
    token = TOKEN.search(page)
    assert token
    ub1.post("/admin/org/apply", data={"csrf_token": web.csrf(ub1, "/admin/org"),
                                       "upload": token.group(1)})
    assert w.row("S2")["supervisor_id"] == "D1"


def test_a_calibrator_put_in_conflict_hands_that_evaluation_to_the_named_taker(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    from tests.integration.test_deadlines import all_to_calibration
    from workflow.service import calibration

    svc = new_service(admins=("UB1",))
    import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    all_to_calibration(w)
    assert w.state("S1") is State.CALIBRATION
    done = kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1"})))
    assert done.exit_code == 0, done.output
    assert f"D1 steps aside from calibration on S1's evaluation {w.ev('S1')}" in done.output
    members = {m.reviewee_id: m for m in calibration.view(svc, w.cycle_id).members}
    assert members["S1"].decided_by == "UB1"  # D1's own evaluator (no recusal.calibration)
    assert members["S2"].decided_by == "D1"
    with pytest.raises(NotPermitted):
        calibration.move_class(svc, w.ev("S1"), "well_completed", "Tỷ lệ <b>20%</b>", "D1",
                               now=at("2026-05-14 11:00"))
    assert "D1 steps aside from calibration; UB1 takes it on" in recusal_audit(w, "S1")[0]
