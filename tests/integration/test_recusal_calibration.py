"""Nobody decides their own case in calibration either (issue 17, item 3): the page offers
its forms only on the evaluations the viewer decides and says who decides the others;
a move's undo and an appeal's restore of the class are refused (``Recused``) to the
reviewee and to whoever stepped aside, through the service, the `kpi` command and the
web pages, and nothing is written; whoever took the case on acts on it, and on it alone.

D1 calibrates the small cycle and is in it: UB1 (D1's evaluator) calibrates D1's own
evaluation, and those of anyone D1 declared a conflict with in the organisation file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.integration.test_calibration import config_with, with_config
from tests.integration.test_calibration_reasons import scored
from tests.integration.test_explain_everything import kpi
from tests.integration.test_recusal import open_with
from tests.support import World, at, small_world
from tests.web_support import WebWorld, make_web, text_of
from workflow.domain import State, Trigger
from workflow.errors import NotPermitted, Recused
from workflow.service import calibration, calibration_moves
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT, DEADLINE, MOVE, OUTBOX

__all__ = ["config_with"]  # the fixture, imported for this module's tests

MOVED = "2026-05-15 09:00"
UB1_DECIDES = ("Do Chủ tịch Trần Văn Tỉnh rà soát tỷ lệ: người rà soát tỷ lệ của kỳ đã rút "
               "khỏi việc này (xung đột lợi ích)")
D1_DECIDES = "Do Giám đốc Nguyễn Thị Sở rà soát tỷ lệ"


def record_of(svc: Service, evaluation_id: int) -> tuple[int, int]:
    """How many move rows and audit rows an evaluation has: a refusal adds none."""
    with svc.store.read() as s:
        moves = s.execute(select(func.count()).select_from(MOVE).where(
            MOVE.c.evaluation_id == evaluation_id)).scalar_one()
        rows = s.execute(select(func.count()).select_from(AUDIT).where(
            AUDIT.c.evaluation_id == evaluation_id)).scalar_one()
    return int(moves), int(rows)


def row_of(html: str, evaluation_id: int) -> str:
    """The calibration page's table row of one evaluation."""
    found = re.search(rf'<tr[^>]*id="ev-{evaluation_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for evaluation {evaluation_id}"
    return found.group(1)


def forms_in(html: str) -> int:
    return len(re.findall(r'<form method="post"[^>]*class="move', html))


@pytest.mark.both_stores
@pytest.mark.parametrize(("reviewee", "conflicts", "why"), [
    ("D1", {}, "their own evaluation"),
    ("S2", {"S2": "D1"}, "conflict of interest"),
])
def test_an_undo_by_whoever_stepped_aside_is_refused_and_the_taker_undoes_it(
        svc: Service, tmp_path: Path, reviewee: str, conflicts: dict[str, str],
        why: str) -> None:
    """D1's own evaluation, and S2's when S2 named D1 in conflicts_with: UB1 moves it;
    D1's undo is refused as a recusal; UB1 may not touch the rest of the pool."""
    w = open_with(svc, tmp_path, conflicts)
    scored(w, {reviewee, "S1"})
    handed, other = w.ev(reviewee), w.ev("S1")
    now = at(MOVED)
    with pytest.raises(Recused, match=why):
        calibration.move_class(svc, handed, "well_completed", "Tỷ lệ", "D1", now=now)
    calibration.move_class(svc, handed, "well_completed", "Tỷ lệ <b>20%</b>", "UB1", now=now)
    before = record_of(svc, handed)
    with pytest.raises(Recused, match=rf"D1 may not undo_move on evaluation {handed}: .*{why}"):
        calibration_moves.undo_move(svc, handed, "Tôi xin hoàn lại", "D1", now=now)
    assert record_of(svc, handed) == before  # nothing half written
    assert w.row(reviewee)["final_class"] == "well_completed"
    # UB1 took on that one evaluation, not the pool: the rest stays D1's.
    for attempt in (lambda: calibration.move_class(svc, other, "well_completed", "x", "UB1",
                                                   now=now),
                    lambda: calibration_moves.undo_move(svc, other, "x", "UB1", now=now)):
        with pytest.raises(NotPermitted) as refused:
            attempt()
        assert not isinstance(refused.value, Recused), refused.value
    calibration.move_class(svc, other, "well_completed", "Tỷ lệ", "D1", now=now)
    assert calibration_moves.undo_move(svc, other, "Nhầm", "D1", now=now) == "excellent"
    assert calibration_moves.undo_move(svc, handed, "Nhầm người", "UB1",
                                       now=at("2026-05-15 09:05")) == "excellent"
    assert w.row(reviewee)["final_class"] == "excellent"


def test_the_command_refuses_an_undo_on_ones_own_evaluation(svc: Service) -> None:
    w = small_world(svc)
    scored(w, {"D1"})
    own = str(w.ev("D1"))
    code, said = kpi(svc, "--now", "2026-05-15T09:00:00+07:00", "calibration", "move", own,
                     "--reason", "Tỷ lệ", "--by", "UB1")
    assert code == 0 and "class moved to well_completed" in said, said
    before = record_of(svc, w.ev("D1"))
    code, said = kpi(svc, "--now", "2026-05-15T09:01:00+07:00", "calibration", "undo", own,
                     "--reason", "của tôi", "--by", "D1")
    assert code != 0 and "their own evaluation" in said, said
    assert record_of(svc, w.ev("D1")) == before
    code, said = kpi(svc, "--now", "2026-05-15T09:02:00+07:00", "calibration", "undo", own,
                     "--reason", "Nhầm người", "--by", "UB1")
    assert code == 0 and "move undone; class back to excellent" in said, said


def test_the_page_offers_forms_only_where_the_viewer_decides(svc: Service) -> None:
    """D1's page: every row's forms but on D1's own evaluation, which says UB1 decides
    it; UB1's page (from the task email): the forms of D1's evaluation alone."""
    w = small_world(svc)
    scored(w, {"D1", "S1"})
    web = make_web(w)
    web.clock.set(MOVED)
    own, s1 = w.ev("D1"), w.ev("S1")
    director = web.sign_in("D1")
    path = f"/calibration/{w.cycle_id}"
    page = director.get(path).text
    assert forms_in(row_of(page, own)) == 0
    assert UB1_DECIDES in text_of(row_of(page, own))
    assert forms_in(row_of(page, s1)) == 1 and "Do " not in text_of(row_of(page, s1))
    # A crafted request of D1's on their own evaluation: refused, nothing written.
    token = web.csrf(director, path)
    refused = director.post(path, data={"op": "move", "evaluation_id": str(own),
                                        "reason": "Tỷ lệ", "csrf_token": token})
    assert refused.status_code == 403 and w.row("D1")["final_class"] == "excellent"
    # UB1 opens the calibration from their own task email and moves D1's evaluation.
    link = web.link("UB1", "task_calibration")
    taker = web.client_for()
    mine = taker.get(link).text
    assert forms_in(mine) == 1 and forms_in(row_of(mine, own)) == 1
    assert D1_DECIDES in text_of(row_of(mine, s1))
    token = web.csrf(taker, link)
    moved = taker.post(link, data={"op": "move", "evaluation_id": str(own),
                                   "reason": "Tỷ lệ <b>\"20%\"</b>", "csrf_token": token})
    assert moved.status_code == 200, text_of(moved.text)
    assert w.row("D1")["final_class"] == "well_completed"
    # The undo form is UB1's now, never D1's; D1's crafted undo is refused.
    assert forms_in(row_of(moved.text, own)) == 1 and 'value="undo"' in row_of(moved.text, own)
    assert forms_in(row_of(director.get(path).text, own)) == 0
    refused = director.post(path, data={"op": "undo", "evaluation_id": str(own),
                                        "undo_reason": "của tôi",
                                        "csrf_token": web.csrf(director, path)})
    assert refused.status_code == 403 and w.row("D1")["final_class"] == "well_completed"
    undone = taker.post(link, data={"op": "undo", "evaluation_id": str(own),
                                    "undo_reason": "Nhầm người", "csrf_token": token})
    assert undone.status_code == 200 and w.row("D1")["final_class"] == "excellent"


@pytest.fixture
def appealed(new_service: Callable[..., Service], config_with: Callable[[str, str], Path],
             tmp_path: Path) -> World:
    """D1 declared a conflict with S1: UB1 calibrates S1 (moves S1 down) and reviews S1's
    appeal. Small pools are exempt (agency_only), so the agency has room for a restore."""
    svc = with_config(new_service(), config_with("  small_pool: floor ",
                                                 "  small_pool: agency_only "))
    w = open_with(svc, tmp_path, {"D1": "S1"}, "recusal: {appeal_review: UB1}\n")
    scored(w, {"S1"})
    calibration.move_class(svc, w.ev("S1"), "well_completed", "Tỷ lệ", "UB1", now=at(MOVED))
    calibration.approve(svc, w.cycle_id, "D1", now=at("2026-05-15 10:00"))
    calibration.approve(svc, w.cycle_id, "UB1", now=at("2026-05-15 10:05"))
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "Xếp loại <b>\"thấp\"</b>"},
           when="2026-05-18 09:00")
    assert w.row("S1")["appeal_reviewer_id"] == "UB1"
    return w


def test_a_restore_by_the_reviewee_or_one_in_conflict_is_refused_by_the_command(
        appealed: World, tmp_path: Path) -> None:
    w, svc = appealed, appealed.svc
    s1 = str(w.ev("S1"))
    restore = tmp_path / "restore.json"
    restore.write_text(json.dumps({"reason": "Khôi phục", "restore_class": True}),
                       encoding="utf-8")
    before = record_of(svc, w.ev("S1"))
    for actor, why in (("D1", "conflict of interest"), ("S1", "their own evaluation")):
        code, said = kpi(svc, "--now", "2026-05-19T09:00:00+07:00", "act", s1, "uphold_score",
                         "--by", actor, "--file", str(restore))
        assert code != 0 and why in said, (actor, said)
    assert record_of(svc, w.ev("S1")) == before
    assert (w.state("S1"), w.row("S1")["final_class"]) == (State.APPEAL_REVIEW,
                                                           "well_completed")
    code, said = kpi(svc, "--now", "2026-05-19T09:05:00+07:00", "act", s1, "uphold_score",
                     "--by", "UB1", "--file", str(restore))
    assert code == 0 and "appeal_review -> finalised" in said, said
    assert w.row("S1")["final_class"] == "excellent"


def test_a_restore_by_one_in_conflict_is_refused_on_the_web(appealed: World) -> None:
    w = appealed
    web: WebWorld = make_web(w)
    web.clock.set("2026-05-19 09:00")
    s1 = w.ev("S1")
    path = f"/e/{s1}/appeal"
    d1 = web.sign_in("D1")
    assert d1.get(path).status_code == 403
    token = web.csrf(d1, "/team")
    refused = d1.post(path, data={"op": "restore", "restore_reason": "Khôi phục",
                                  "csrf_token": token})
    assert refused.status_code == 403
    assert (w.state("S1"), w.row("S1")["final_class"]) == (State.APPEAL_REVIEW,
                                                           "well_completed")
    # The service refuses it whatever page it comes from: as a recusal.
    with pytest.raises(Recused, match="conflict of interest"):
        w.fire("S1", Trigger.UPHOLD_SCORE, "D1", {"reason": "x", "restore_class": True},
               when="2026-05-19 09:00")
    # UB1, the reviewer, restores it from the task email.
    link = web.link("UB1", "task_appeal_review")
    reviewer = web.client_for()
    token = web.csrf(reviewer, link)
    done = reviewer.post(link, data={"op": "restore", "restore_reason": "Đủ chỗ <b>x</b>",
                                     "csrf_token": token})
    assert done.status_code == 200, text_of(done.text)
    assert (w.state("S1"), w.row("S1")["final_class"]) == (State.FINALISED, "excellent")


def pool_rows(svc: Service, recipient: str) -> dict[str, list[object]]:
    """The pool's deadline rows of one decider, by kind: their fire times."""
    with svc.store.read() as s:
        rows = s.execute(select(DEADLINE.c.kind, DEADLINE.c.fire_at).where(
            DEADLINE.c.evaluation_id.is_(None), DEADLINE.c.recipient_id == recipient)
            .order_by(DEADLINE.c.fire_at)).all()
    out: dict[str, list[object]] = {}
    for kind, fire_at in rows:
        out.setdefault(kind, []).append(fire_at)
    return out


def told(svc: Service, event: str) -> list[str]:
    with svc.store.read() as s:
        return sorted(s.execute(select(OUTBOX.c.recipient_id).where(
            OUTBOX.c.event == event, OUTBOX.c.evaluation_id.is_(None))).scalars())


def test_whoever_took_an_evaluation_on_is_reminded_and_escalated_from_for_it(
        new_service: Callable[..., Service]) -> None:
    """D1 approves their part of the pool; D1's own evaluation waits for UB1, who gets
    the reminder and the overdue notice (by email, in Vietnamese), and whose lateness
    climbs the ladder to the admins; D1, with nothing left, gets none. UB1's approval
    ends it."""
    with RecordingServer() as smtp:
        base = new_service()
        svc = Service(base.store, replace(base.settings, smtp_port=smtp.port))
        w = small_world(svc)
        scored(w, set())  # everyone well completed: every pool holds
        mine = pool_rows(svc, "UB1")
        assert sorted(mine) == ["due", "escalation", "reminder"]
        [reminder], [due] = mine["reminder"], mine["due"]
        assert calibration.approve(svc, w.cycle_id, "D1", now=reminder - timedelta(hours=1)) == 6
        tick(svc, reminder)
        assert told(svc, "reminder") == ["UB1"]
        report = send_due(svc, now=reminder)
        assert report.dead == 0, report.errors
        subjects = {who: [str(r.message["Subject"]) for r in smtp.by_recipient(address)]
                    for who, address in (("UB1", "chutich@ubnd.example.gov.vn"),
                                         ("D1", "giamdoc@snv.example.gov.vn"))}
        # UB1's task counts the one evaluation UB1 decides, not the pool of seven.
        assert [t for t in subjects["UB1"] if "Rà soát tỷ lệ" in t] == [
            "[KPI] Rà soát tỷ lệ xếp loại (Test cycle April 2026): 1 phiếu, hạn chót 17:00 "
            "18/05/2026"], subjects
        assert [t for t in subjects["D1"] if "Rà soát tỷ lệ" in t] == [
            "[KPI] Rà soát tỷ lệ xếp loại (Test cycle April 2026): 6 phiếu, hạn chót 17:00 "
            "18/05/2026"], subjects
        reminded = "[KPI] Sắp đến hạn: việc rà soát tỷ lệ xếp loại (hạn chót 17:00 18/05/2026)"
        assert reminded in subjects["UB1"] and reminded not in subjects["D1"], subjects
        tick(svc, due)
        assert told(svc, "overdue") == ["UB1"]
        [first_step, *_] = mine["escalation"]
        tick(svc, first_step)  # type: ignore[arg-type]
        # Nobody is above UB1 (the head of the province): the admins are told.
        assert told(svc, "escalation") == ["A1"]
        with svc.store.read() as s:
            [row] = s.execute(select(AUDIT.c.reason).where(AUDIT.c.trigger == "escalate",
                                                           AUDIT.c.cycle_id == w.cycle_id)
                              ).scalars().all()
        assert row == "calibration pool, step 1: to A1"
        assert calibration.approve(svc, w.cycle_id, "UB1", now=first_step) == 1
        assert w.state("D1") is State.APPEAL_WINDOW
        tick(svc, max(mine["escalation"]))  # type: ignore[type-var]
        assert told(svc, "escalation") == ["A1"]  # nothing more once UB1 approved
