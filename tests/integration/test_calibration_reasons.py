"""Issue 17: a calibration people can trust and contest, through the web pages, the
emails (a real SMTP server on loopback) and the service, on real SQLite files.

- the calibration page counts the fewest moves that make each pool hold, and who a move
  fixes both pools for; a move is undone with a reason until the pool is approved;
- the person moved down reads the class by score, the class after calibration and the
  reason, on the result page and in the result email, in their language; the appeal
  reviewer sees the same and may restore the class while the approved quota holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.integration.test_calibration import config_with, with_config
from tests.integration.test_full_cycle import EVERYONE, approve
from tests.integration.test_scoring_leaders import give, to_scoring
from tests.integration.test_web import field_has_error
from tests.support import World, at, seeded_small_world, small_world
from tests.web_support import WebWorld, make_web, text_of
from workflow.domain import State, Trigger
from workflow.errors import NothingToUndo, NotInCalibration, NotPermitted, RestoreBreaksQuota
from workflow.reports.facts import cycle_facts
from workflow.service import calibration, calibration_moves
from workflow.service.core import Service
from workflow.service.queries import explain, verify_audit
from workflow.store.tables import AUDIT, MOVE

__all__ = ["config_with"]  # the fixture, imported for this module's tests

MARKUP_REASON = 'Tỷ lệ <b>20%</b> "theo" Nghị định 335 & nhóm C'


def scored(w: World, excellent: set[str]) -> None:
    """Everyone scored (the team before its leaders): ``excellent`` at 100, others 85."""
    to_scoring(w)
    for person in ("S1", "S2", "S3", "S4", "A1", "H1", "D1"):
        give(w, person, "1" if person in excellent else "0.5", 4)


def classes(web: WebWorld) -> dict[str, str]:
    return {p: str(web.world.row(p)["final_class"]) for p in EVERYONE}


@pytest.fixture
def web(seeded_service: Callable[..., Service]) -> WebWorld:
    return make_web(seeded_small_world(seeded_service))


def test_the_page_counts_the_fewest_moves_and_a_move_is_undone_with_a_reason(
        web: WebWorld) -> None:
    """S1-S3 excellent, S4, A1, H1, D1 well completed (small pools, floor). The agency:
    3 over its allowance of 0, but two moves make it 1 of 6 (one allowed); task group C
    (S1-S4): 3 over, three moves. Three moves in all, each counting for both pools."""
    scored(web.world, {"S1", "S2", "S3"})
    web.clock.set("2026-05-15 10:00")
    assert classes(web) == {"S1": "excellent", "S2": "excellent", "S3": "excellent",
                            "S4": "well_completed", "A1": "well_completed",
                            "H1": "well_completed", "D1": "well_completed"}
    browser = web.sign_in("D1")  # the calibrator reads Vietnamese
    path = f"/calibration/{web.world.cycle_id}"
    page = text_of(browser.get(path).text)
    assert "vượt tỷ lệ: đạt sau 2 lượt chuyển xuống" in page  # the agency, not "by 3"
    assert "vượt tỷ lệ: đạt sau 3 lượt chuyển xuống" in page  # task group C
    assert "20% của 4, làm tròn xuống: tối đa 0" in page  # the rule behind the allowance
    assert "Cần ít nhất 3 lượt chuyển xuống tổng cộng" in page
    assert "Ví dụ: 3 lượt chuyển trong nhóm nhiệm vụ C." in page
    assert page.count("chuyển người này được tính cho cả toàn cơ quan và nhóm nhiệm vụ C") == 3

    s1 = web.world.ev("S1")
    token = web.csrf(browser, path)
    moved = browser.post(path, data={"op": "move", "evaluation_id": str(s1),
                                     "reason": "Điểm thấp nhất nhóm", "csrf_token": token})
    assert moved.status_code == 200 and web.world.row("S1")["final_class"] == "well_completed"
    assert "Hủy việc chuyển xuống" in moved.text
    blank = browser.post(path, data={"op": "undo", "evaluation_id": str(s1),
                                     "undo_reason": "  ", "csrf_token": token})
    assert blank.status_code == 422 and field_has_error(blank.text, f"undo_reason.{s1}")
    assert "cần ghi lý do hủy việc chuyển xuống" in text_of(blank.text)
    assert web.world.row("S1")["final_class"] == "well_completed"  # nothing changed
    undone = browser.post(path, data={"op": "undo", "evaluation_id": str(s1),
                                      "undo_reason": "Nhầm người", "csrf_token": token})
    assert undone.status_code == 200, text_of(undone.text)
    assert "Đã hủy việc chuyển xuống của Phạm Thị Lan" in text_of(undone.text)
    assert web.world.row("S1")["final_class"] == "excellent"
    again = browser.post(path, data={"op": "undo", "evaluation_id": str(s1),
                                     "undo_reason": "lần nữa", "csrf_token": token})
    assert again.status_code == 409  # nothing left to undo
    assert "không còn lượt chuyển xuống nào để hủy" in text_of(again.text)
    with web.svc.store.read() as s:
        moves = [(m.from_class, m.to_class, m.reason) for m in s.execute(
            select(MOVE).where(MOVE.c.evaluation_id == s1).order_by(MOVE.c.id))]
        [undo] = s.execute(select(AUDIT).where(AUDIT.c.trigger == "undo_move")).all()
    assert moves == [("excellent", "well_completed", "Điểm thấp nhất nhóm"),
                     ("well_completed", "excellent", "Nhầm người")]
    assert (undo.actor_id, undo.reason, undo.evaluation_id) == ("D1", "Nhầm người", s1)
    assert verify_audit(web.svc).ok  # the undo row is vouched for by its audit row
    assert cycle_facts(web.svc, web.world.cycle_id).calibration_moves == 0  # none stands

    approve(web.world)  # every excellent moved down, then approved
    late = browser.post(path, data={"op": "undo", "evaluation_id": str(s1),
                                    "undo_reason": "Sau phê duyệt", "csrf_token": token})
    assert late.status_code == 409 and web.world.row("S1")["final_class"] == "well_completed"
    assert web.world.state("S1") is State.APPEAL_WINDOW


@pytest.mark.both_stores
def test_undo_and_restore_keep_the_record_and_the_quota(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path]) -> None:
    """The service path on both stores: an undo only before approval, by the calibrator;
    a restore on appeal only while the approved quota has room (agency_only: task group
    C is small and unmetered; the agency allows one excellent of six well completed)."""
    svc = with_config(new_service(), config_with("  small_pool: floor ",
                                                 "  small_pool: agency_only "))
    w = small_world(svc)
    scored(w, {"S1", "S2"})
    s1 = w.ev("S1")
    with pytest.raises(NothingToUndo):
        calibration_moves.undo_move(svc, s1, "không có gì", "D1", now=at("2026-05-15 09:00"))
    calibration.move_class(svc, s1, "well_completed", "quota", "D1", now=at("2026-05-15 09:00"))
    with pytest.raises(NotPermitted, match="it needs the role calibrator"):
        calibration_moves.undo_move(svc, s1, "r", "H1", now=at("2026-05-15 09:01"))
    assert calibration_moves.undo_move(svc, s1, "nhầm", "D1",
                                       now=at("2026-05-15 09:02")) == "excellent"
    approve(w, "2026-05-15 10:00")
    with pytest.raises(NotInCalibration):
        calibration_moves.undo_move(svc, s1, "muộn", "D1", now=at("2026-05-15 11:00"))
    for person, when in (("S1", "2026-05-18 09:00"), ("S2", "2026-05-18 09:05")):
        w.fire(person, Trigger.LODGE_APPEAL, person, {"reasons": "Xếp loại"}, when=when)
    reviewer = w.row("S1")["appeal_reviewer_id"]
    w.fire("S1", Trigger.UPHOLD_SCORE, reviewer, {"reason": "Đủ chỗ", "restore_class": "1"},
           when="2026-05-19 09:00")
    assert (w.state("S1"), w.row("S1")["final_class"]) == (State.FINALISED, "excellent")
    with pytest.raises(RestoreBreaksQuota, match="agency would then have more"):
        w.fire("S2", Trigger.UPHOLD_SCORE, reviewer, {"reason": "x", "restore_class": True},
               when="2026-05-19 09:05")
    assert (w.state("S2"), w.row("S2")["final_class"]) == (State.APPEAL_REVIEW,
                                                           "well_completed")
    assert not calibration.view(svc, w.cycle_id).breaking
    e = explain(svc, s1)
    assert any(line.text("en").startswith("Restored on appeal to Excellently completed by "
                                          f"{reviewer} on 2026-05-19: Đủ chỗ")
               for line in e.lines), [line.text("en") for line in e.lines]
    assert verify_audit(svc).ok


def mail_to(smtp: RecordingServer, address: str, subject_part: str) -> EmailMessage:
    found = [r.message for r in smtp.by_recipient(address) if subject_part in r.message["Subject"]]
    assert found, [r.message["Subject"] for r in smtp.by_recipient(address)]
    return found[-1]


def part(msg: EmailMessage, kind: str) -> str:
    body = msg.get_body((kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def test_the_moved_person_and_the_reviewer_read_why_and_the_reviewer_restores(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path]) -> None:
    """S1 (Vietnamese) and S2 (English) are moved down with a reason written with markup
    and quotes; each reads it in the result email and on the result page; the appeal
    reviewer sees it, restores S1 (the agency has room for one) and is told why S2
    cannot be restored after that."""
    base = with_config(new_service(), config_with("  small_pool: floor ",
                                                  "  small_pool: agency_only "))
    with RecordingServer() as smtp:
        svc = Service(base.store, replace(base.settings, smtp_port=smtp.port))
        web = make_web(small_world(svc))
        scored(web.world, {"S1", "S2"})
        for person in ("S1", "S2"):
            calibration.move_class(svc, web.world.ev(person), "well_completed", MARKUP_REASON,
                                   "D1", now=at("2026-05-15 09:00"))
        calibration.approve(svc, web.world.cycle_id, "D1", now=at("2026-05-15 10:00"))
        web.clock.set("2026-05-18 09:00")
        links = {p: web.link(p, "result") for p in ("S1", "S2")}  # before they are sent
        report = send_due(svc, now=at("2026-05-18 09:00"))
        assert report.dead == 0, report.errors
        vi = mail_to(smtp, web.email_of("S1"), "")
        en = mail_to(smtp, web.email_of("S2"), "")
        text = part(vi, "plain")
        assert "Xếp loại theo điểm: Hoàn thành xuất sắc nhiệm vụ" in text
        assert "Xếp loại sau rà soát tỷ lệ: Hoàn thành tốt nhiệm vụ" in text
        assert MARKUP_REASON in text  # the text part is not HTML: as written
        html = part(vi, "html")
        assert "Tỷ lệ &lt;b&gt;20%&lt;/b&gt; &#34;theo&#34; Nghị định 335 &amp; nhóm C" in html \
            or "Tỷ lệ &lt;b&gt;20%&lt;/b&gt; &quot;theo&quot; Nghị định 335 &amp; nhóm C" in html
        assert "<b>20%</b>" not in html
        english = part(en, "plain")
        assert "Class by score: Excellently completed" in english
        assert "Class after calibration: Well completed" in english
        assert "You may appeal the class too" in english
        # the same on the result pages, in each reader's language
        page = text_of(web.client.get(links["S2"]).text)
        assert ("Class by score Excellently completed Class after calibration Well completed "
                f"Reason recorded by the calibrator {MARKUP_REASON}") in page
        raw = web.client.get(links["S1"]).text
        assert "<b>20%</b>" not in raw and "Lý do người rà soát tỷ lệ đã ghi" in raw

        for person in ("S1", "S2"):
            link = links[person]
            lodged = web.client.post(link, data={"op": "appeal", "reasons": "Xếp loại",
                                                 "csrf_token": web.csrf(web.client, link)})
            assert lodged.status_code == 200
        reviewer = web.world.row("S1")["appeal_reviewer_id"]
        browser = web.sign_in(reviewer)
        path = f"/e/{web.world.ev('S1')}/appeal"
        review = text_of(browser.get(path).text)
        assert "Xếp loại theo điểm Hoàn thành xuất sắc nhiệm vụ" in review
        assert f"Lý do người rà soát tỷ lệ đã ghi {MARKUP_REASON}" in review
        assert "Khôi phục “Hoàn thành xuất sắc nhiệm vụ”" in review
        token = web.csrf(browser, path)
        blank = browser.post(path, data={"op": "restore", "restore_reason": "",
                                         "csrf_token": token})
        assert blank.status_code == 422 and field_has_error(blank.text, "restore_reason"), \
            re.findall(r"restore_reason[^>]*>|field-error[^<]*<", blank.text)
        restored = browser.post(path, data={"op": "restore", "csrf_token": token,
                                            "restore_reason": "Sản phẩm vượt tiến độ"})
        assert restored.status_code == 200, text_of(restored.text)
        assert "khôi phục xếp loại “Hoàn thành xuất sắc nhiệm vụ”" in text_of(restored.text)
        assert web.world.row("S1")["final_class"] == "excellent"

        path2 = f"/e/{web.world.ev('S2')}/appeal"
        refused = browser.post(path2, data={"op": "restore", "restore_reason": "Cũng vậy",
                                            "csrf_token": web.csrf(browser, path2)})
        assert refused.status_code == 409
        said = text_of(refused.text)
        assert "Không thể khôi phục xếp loại “Hoàn thành xuất sắc nhiệm vụ”" in said
        assert "toàn cơ quan không còn chỗ trong tỷ lệ" in said
        assert (web.world.state("S2"), web.world.row("S2")["final_class"]) == (
            State.APPEAL_REVIEW, "well_completed")

        send_due(svc, now=at("2026-05-18 10:00"))
        decided = part(mail_to(smtp, web.email_of("S1"), "giải quyết"), "plain")
        assert ("Xếp loại mà rà soát tỷ lệ đã chuyển (thành “Hoàn thành tốt nhiệm vụ”) được "
                "khôi phục thành “Hoàn thành xuất sắc nhiệm vụ”.") in decided
        svc.store.dispose()
