"""Every route of the web app through FastAPI's TestClient, on a real SQLite file."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support import World, move_class, seeded_small_world
from tests.web_support import (
    WebWorld,
    confirmed,
    make_web,
    score_fields,
    self_fields,
    text_of,
)
from workflow.domain import State, SubmissionKind, Trigger
from workflow.scoring import shown
from workflow.service import calibration, drafts, pages
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.tables import OUTBOX
from workflow.web.security import SESSION_COOKIE


@pytest.fixture
def web(seeded_service: Callable[..., Service]) -> WebWorld:
    return make_web(seeded_small_world(seeded_service))


def submit_self(web: WebWorld, person: str = "S1", **overrides: str) -> object:
    link = web.link(person, "task_self_assessment")
    fields = self_fields(web.world.framework(person), **overrides)
    fields["csrf_token"] = web.csrf(web.client, link)
    fields["op"] = "submit"
    return confirmed(web.client, link, fields, refusal_ok=True)


def field_has_error(html: str, name: str) -> bool:
    """The input named ``name`` is marked invalid and described by its error text."""
    fid = "f-" + name.replace(".", "-").replace("[", "-").replace("]", "")
    tag = re.search(rf'<(?:input|textarea)[^>]*id="{re.escape(fid)}"[^>]*>', html)
    return bool(tag and 'aria-invalid="true"' in tag.group(0)
                and f'id="e-{fid}"' in html and f"e-{fid}" in tag.group(0))


# --- self-assessment -----------------------------------------------------------------


def test_self_assessment_link_shows_the_form_with_its_deadline(web: WebWorld) -> None:
    page = web.client.get(web.link("S1", "task_self_assessment"))
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Phạm Thị Lan" in text and "Hạn chót" in text  # S1 reads Vietnamese
    assert 'name="criteria.political_quality.points"' in page.text
    assert 'for="f-criteria-political_quality-points"' in page.text  # labels tied to inputs


def test_draft_is_saved_and_shown_again_without_submitting(web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    fields = {"criteria.innovation.points": "7", "note": "nháp", "op": "save_draft",
              "csrf_token": web.csrf(web.client, link)}
    page = web.client.post(link, data=fields)
    assert page.status_code == 200 and "Đã lưu nháp" in page.text
    again = web.client.get(link)
    assert 'value="7"' in again.text and "nháp" in again.text
    assert web.world.state("S1") is State.SELF_ASSESSMENT and web.submissions() == 0
    saved = drafts.load(web.svc, web.world.ev("S1"), "S1", SubmissionKind.SELF_ASSESSMENT)
    assert saved is not None and saved[0]["criteria.innovation.points"] == "7"


def test_submitting_moves_on_uses_the_link_and_a_second_submit_stores_nothing(
        web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    fields = self_fields(web.world.framework("S1"))
    fields.update(csrf_token=web.csrf(web.client, link), op="submit")
    first = confirmed(web.client, link, fields)
    assert first.status_code == 200, text_of(first.text)
    assert web.world.state("S1") is State.PEER_INPUT
    assert web.submissions() == 1
    second = web.client.post(link, data={**fields, "op": "confirm_submit"})
    # Told that the first one is kept (tests/integration/test_race_loser.py).
    assert second.status_code == 409 and "Anh/Chị đã gửi nội dung này lúc" in second.text
    assert web.submissions() == 1
    assert web.client.get(link).status_code == 410


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("criteria.innovation.points", "11", "phải từ 0 đến 10"),
    ("criteria.innovation.points", "-1", "phải từ 0 đến 10"),
    ("criteria.innovation.points", "abc", "không phải là số"),
    ("criteria.innovation.points", "NaN", "số hữu hạn"),
    ("criteria.innovation.points", "Infinity", "số hữu hạn"),
    ("criteria.innovation.points", "", "bắt buộc"),
    ("criteria.innovation.points", "8.555", "chữ số thập phân"),
    ("note", "x" * 4001, "tối đa 4000 ký tự"),
    ("tasks[0].title", "", "bắt buộc"),
    ("tasks[0].delays", "many", "không phải là số nguyên"),
])
def test_bad_self_assessment_comes_back_with_the_field_explained_and_nothing_stored(
        web: WebWorld, name: str, value: str, problem: str) -> None:
    page = submit_self(web, **{name: value})
    assert page.status_code == 422  # type: ignore[attr-defined]
    html = page.text  # type: ignore[attr-defined]
    assert problem in text_of(html)
    assert field_has_error(html, name)
    assert web.world.state("S1") is State.SELF_ASSESSMENT
    assert web.submissions() == 0 and web.used_links() == 0
    # What was typed comes back (escaped), so nothing has to be typed again.
    assert 'value="Báo cáo quý"' in html or name == "tasks[0].title"


def test_several_wrong_fields_are_all_explained_at_once(web: WebWorld) -> None:
    page = submit_self(web, **{"criteria.innovation.points": "99",
                               "criteria.political_quality.points": "x"})
    assert page.status_code == 422  # type: ignore[attr-defined]
    for name in ("criteria.innovation.points", "criteria.political_quality.points"):
        assert field_has_error(page.text, name)  # type: ignore[attr-defined]


def test_a_form_without_or_with_a_forged_csrf_token_is_refused_and_nothing_stored(
        web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    web.csrf(web.client, link)  # the browser has its CSRF cookie
    fields = self_fields(web.world.framework("S1"), op="submit")
    missing = web.client.post(link, data=fields)
    assert missing.status_code == 403 and "Không kiểm tra được biểu mẫu" in missing.text
    forged = web.client.post(link, data={**fields, "csrf_token": "forged.value.sig"})
    assert forged.status_code == 403
    other = web.client_for()  # a token of another browser does not match this cookie
    stolen = web.csrf(other, link)
    assert web.client.post(link, data={**fields, "csrf_token": stolen}).status_code == 403
    assert web.submissions() == 0 and web.world.state("S1") is State.SELF_ASSESSMENT


def test_a_forged_link_is_not_found(web: WebWorld) -> None:
    assert web.client.get("/t/not-a-real-token-at-all").status_code == 404
    assert web.client.get("/t/" + "A" * 500).status_code == 404


def test_an_expired_link_is_refused(web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    web.clock.set("2026-07-30 09:00")  # past the phase and its grace
    page = web.client.get(link)
    assert page.status_code == 410 and "hết hạn" in page.text


def test_a_link_of_a_phase_that_moved_on_is_closed(web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    web.clock.set("2026-05-08 09:00")
    tick(web.svc, web.clock.now)
    page = web.client.get(link)
    assert page.status_code == 410 and "đã đóng" in page.text


def test_after_the_deadline_before_the_sweep_nothing_is_stored(web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    token = web.csrf(web.client, link)
    web.clock.set("2026-05-07 17:30")  # due 17:00; the sweep has not run yet
    fields = self_fields(web.world.framework("S1"), op="submit", csrf_token=token)
    page = web.client.post(link, data=fields)
    assert page.status_code == 409 and "quá hạn" in page.text.lower()
    assert web.submissions() == 0 and web.world.state("S1") is State.SELF_ASSESSMENT
    draft = web.client.post(link, data={**fields, "op": "save_draft"})
    assert draft.status_code == 409


def test_a_link_cannot_act_on_another_evaluation(web: WebWorld) -> None:
    link = web.link("S1", "task_self_assessment")
    fields = self_fields(web.world.framework("S1"), op="submit",
                         csrf_token=web.csrf(web.client, link),
                         evaluation_id=str(web.world.ev("S2")))
    page = web.client.post(link, data=fields)
    assert page.status_code == 403
    assert web.submissions() == 0
    assert web.world.state("S1") is State.SELF_ASSESSMENT
    assert web.world.state("S2") is State.SELF_ASSESSMENT


def test_script_in_text_is_shown_escaped_to_the_supervisor(web: WebWorld) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert submit_self(web, "S1", note=evil).status_code == 200  # type: ignore[attr-defined]
    web.world.answer_peers("S1")
    boss = web.sign_in("H1")
    page = boss.get(f"/e/{web.world.ev('S1')}/score")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


def test_pages_are_english_for_english_speakers_and_the_switch_changes_it(
        web: WebWorld) -> None:
    link = web.link("S2", "task_self_assessment")  # S2 reads English
    assert "Self-assessment" in web.client.get(link).text
    switched = web.client.get(f"/lang/vi?next={link}", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == link
    assert "Tự đánh giá" in web.client.get(link).text
    away = web.client.get("/lang/en?next=//evil.example/x", follow_redirects=False)
    assert away.headers["location"] == "/"


def test_every_page_has_the_security_headers(web: WebWorld) -> None:
    for path in ("/", "/sign-in", web.link("S1", "task_self_assessment"), "/t/bad"):
        headers = web.client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"


# --- peers and the quorum ------------------------------------------------------------


def peer_answer(web: WebWorld, peer: str, comment: str) -> int:
    link = web.link(peer, "task_peer_input")
    fields = {"criteria.political_quality.points": "9", "criteria.competence_attitude.points": "8",
              "criteria.innovation.points": "7", "comment": comment, "op": "submit",
              "csrf_token": web.csrf(web.client, link)}
    return int(web.client.post(link, data=fields).status_code)


def test_peer_input_is_anonymous_to_the_supervisor(web: WebWorld) -> None:
    submit_self(web, "S1")
    peers = web.world.peers_of("S1")
    assert [peer_answer(web, p, f"ý kiến của {i}") for i, p in enumerate(peers)] == [200, 200]
    assert web.world.state("S1") is State.SUPERVISOR_SCORING
    page = web.sign_in("H1").get(f"/e/{web.world.ev('S1')}/score")
    text = text_of(page.text)
    assert "ý kiến của 0" in text and "ý kiến của 1" in text
    with web.svc.store.read() as s:
        from workflow.store.tables import PERSON

        names = dict(s.execute(select(PERSON.c.id, PERSON.c.full_name)).all())
    for peer in peers:
        assert names[peer] not in text and f"({peer})" not in text


def test_fewer_peer_answers_than_the_quorum_are_withheld(web: WebWorld) -> None:
    submit_self(web, "S1")
    first = web.world.peers_of("S1")[0]
    assert peer_answer(web, first, "một ý kiến duy nhất") == 200
    web.clock.set("2026-05-12 09:00")
    tick(web.svc, web.clock.now)
    assert web.world.state("S1") is State.SUPERVISOR_SCORING
    page = web.sign_in("H1").get(f"/e/{web.world.ev('S1')}/score")
    assert "một ý kiến duy nhất" not in page.text
    assert "không hiển thị" in text_of(page.text)


def test_a_peer_link_is_single_use(web: WebWorld) -> None:
    submit_self(web, "S1")
    peer = web.world.peers_of("S1")[0]
    assert peer_answer(web, peer, "ok") == 200
    link = web.link(peer, "task_peer_input")
    assert web.client.get(link).status_code == 410


# --- supervisors ---------------------------------------------------------------------


def test_sign_in_link_starts_a_session_once(web: WebWorld) -> None:
    browser = web.client_for()
    token = web.csrf(browser, "/sign-in")
    browser.post("/sign-in", data={"email": "hung@snv.example.gov.vn", "csrf_token": token})
    link = web.link("H1", "sign_in")
    confirm = browser.get(link)
    assert confirm.status_code == 200 and "Đăng nhập" in confirm.text
    assert SESSION_COOKIE not in browser.cookies  # opening the link alone does not sign in
    done = browser.post(link, data={"csrf_token": web.csrf(browser, link)},
                        follow_redirects=False)
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Trưởng phòng Lê Văn Hùng" in browser.get("/").text
    again = web.client_for().get(link)
    assert again.status_code == 410


def test_sign_in_for_an_unknown_address_says_the_same_and_sends_nothing(
        web: WebWorld) -> None:
    token = web.csrf(web.client, "/sign-in")
    before = web.outbox_count("sign_in")
    page = web.client.post("/sign-in", data={"email": "nobody@nowhere.example",
                                             "csrf_token": token})
    assert page.status_code == 200 and "nobody@nowhere.example" in page.text
    bad = web.client.post("/sign-in", data={"email": "not an address", "csrf_token": token})
    assert bad.status_code == 422
    reviewee = web.client.post("/sign-in", data={"email": "lan@snv.example.gov.vn",
                                                 "csrf_token": token})
    assert reviewee.status_code == 200
    assert web.outbox_count("sign_in") == before


def ready_for_scoring(world: World, people: list[str]) -> None:
    for person in people:
        world.submit_self(person)
        if world.state(person) is State.PEER_INPUT:
            world.answer_peers(person)


def test_team_page_lists_everyone_and_the_next_to_score(web: WebWorld) -> None:
    ready_for_scoring(web.world, ["S1", "S2"])
    browser = web.sign_in("H1")
    page = browser.get("/team")
    text = text_of(page.text)
    for name in ("Phạm Thị Lan", "Hoàng Văn Nam", "Vũ Thị Mai", "Đỗ Minh Quân"):
        assert name in text
    assert "Người cần chấm tiếp theo" in text
    assert "Giám đốc" not in text  # the head's own evaluation is not H1's team


def test_supervisor_scores_with_a_draft_then_submits(web: WebWorld) -> None:
    ready_for_scoring(web.world, ["S1"])
    browser = web.sign_in("H1")
    path = f"/e/{web.world.ev('S1')}/score"
    assert "chưa thể gửi" in browser.get(path).text  # scoring opens on 8 May
    web.clock.set("2026-05-08 09:00")
    page = browser.get(path)
    proposed = pages.evaluation_file(web.svc, web.world.ev("S1")).self_assessment
    assert proposed is not None
    points = proposed["criteria"]["innovation"]["points"]
    assert re.search(rf'id="f-criteria-innovation-points"[^>]*value="{points}"', page.text) \
        or re.search(rf'value="{points}"[^>]*id="f-criteria-innovation-points"', page.text)
    fields = score_fields(web.world.framework("S1"), points="12", op="submit",
                          csrf_token=web.csrf(browser, path))
    bad = browser.post(path, data=fields)
    assert bad.status_code == 422, text_of(bad.text)[-600:]
    assert field_has_error(bad.text, "criteria.innovation.points")
    assert web.world.state("S1") is State.SUPERVISOR_SCORING
    fields.update({f"criteria.{c}.points": "9" for c in
                   ("political_quality", "competence_attitude", "innovation")})
    saved = browser.post(path, data={**fields, "op": "save_draft"})
    assert saved.status_code == 200 and "Đã lưu nháp" in saved.text
    done = browser.post(path, data=fields)
    assert done.status_code == 200 and "Đã lưu kết quả chấm" in done.text
    assert web.world.state("S1") is State.CALIBRATION
    assert browser.post(path, data=fields).status_code == 409  # already moved on


# --- calibration, result, appeal ------------------------------------------------------


def everyone_scored(web: WebWorld) -> None:
    from tests.integration.test_full_cycle import to_calibration

    to_calibration(web.world, {"S1": 0.97, "S2": 0.97})
    web.clock.set("2026-05-15 10:00")


def test_calibration_shows_the_quota_and_refuses_to_approve_while_it_breaks(
        web: WebWorld) -> None:
    everyone_scored(web)
    browser = web.sign_in("D1")
    path = f"/calibration/{web.world.cycle_id}"
    page = browser.get(path)
    view = calibration.view(web.svc, web.world.cycle_id)
    assert view.breaking and "vượt" in page.text
    refused = browser.post(path, data={"op": "approve", "csrf_token": web.csrf(browser, path)})
    assert refused.status_code == 409
    assert web.world.state("S1") is State.CALIBRATION


def test_calibrator_moves_down_with_a_reason_then_approves(web: WebWorld) -> None:
    everyone_scored(web)
    browser = web.sign_in("D1")
    path = f"/calibration/{web.world.cycle_id}"
    excellent = [m for m in calibration.view(web.svc, web.world.cycle_id).members
                 if m.final_class == "excellent"]
    assert excellent
    # The first D1 decides: D1's own evaluation, listed first, is UB1's (recusal).
    first = next(m.evaluation_id for m in excellent if m.decided_by == "D1")
    token = web.csrf(browser, path)
    no_reason = browser.post(path, data={"op": "move", "evaluation_id": str(first),
                                         "reason": " ", "csrf_token": token})
    assert no_reason.status_code == 422
    assert field_has_error(no_reason.text.replace('name="reason" type="text"', ""),
                           f"reason.{first}") or f'id="e-f-reason-{first}"' in no_reason.text
    own = web.world.ev("D1")  # D1 may not decide their own evaluation (recusal)
    for m in excellent:
        if m.evaluation_id == own:
            refused = browser.post(path, data={"op": "move", "evaluation_id": str(own),
                                                "reason": "Tỷ lệ", "csrf_token": token})
            assert refused.status_code == 403, text_of(refused.text)
            move_class(web.svc, own, "well_completed", "Tỷ lệ theo Nghị định 335", "D1",
                       now=web.clock.now)
            continue
        moved = browser.post(path, data={"op": "move", "evaluation_id": str(m.evaluation_id),
                                          "reason": "Tỷ lệ theo Nghị định 335",
                                          "csrf_token": token})
        assert moved.status_code == 200, text_of(moved.text)
    approved = confirmed(browser, path, {"op": "approve", "csrf_token": token})
    assert approved.status_code == 200 and "Đã phê duyệt" in approved.text
    assert web.world.state("S1") is State.APPEAL_WINDOW


def to_appeal_window(web: WebWorld) -> None:
    from tests.integration.test_full_cycle import approve

    everyone_scored(web)
    approve(web.world)
    web.clock.set("2026-05-18 09:00")


def test_result_page_shows_score_class_breakdown_and_the_appeal_deadline(
        web: WebWorld) -> None:
    to_appeal_window(web)
    page = web.client.get(web.link("S2", "result"))  # S2 reads English
    text = text_of(page.text)
    assert page.status_code == 200
    assert "Score" in text and "Class:" in text and "Breakdown" in text
    assert "until" in text and "2026" in text
    # calibrated down from excellent: both classes and the calibrator's reason
    assert ("Class by score Excellently completed Class after calibration Well completed "
            "Reason recorded by the calibrator quota: fewer than five well completed in the "
            "pool") in text


def test_scores_are_written_with_the_readers_decimal_mark(web: WebWorld) -> None:
    to_appeal_window(web)
    scores = {p: web.world.row(p)["score"] for p in ("S1", "S2")}
    english = text_of(web.client.get(web.link("S2", "result")).text)
    assert f"Score {shown(Decimal(scores['S2']))} of 100" in english
    vietnamese = text_of(web.client.get(web.link("S1", "result")).text)
    written = shown(Decimal(scores["S1"])).replace(".", ",")
    assert "," in written and f"Điểm {written}/100" in vietnamese


def test_reviewee_appeals_with_reasons_and_the_reviewer_decides(web: WebWorld) -> None:
    to_appeal_window(web)
    link = web.link("S1", "result")
    token = web.csrf(web.client, link)
    empty = web.client.post(link, data={"op": "appeal", "reasons": "  ", "csrf_token": token})
    assert empty.status_code == 422 and field_has_error(empty.text, "reasons")
    assert web.world.state("S1") is State.APPEAL_WINDOW
    lodged = web.client.post(link, data={"op": "appeal", "csrf_token": token,
                                         "reasons": "Hai sản phẩm <b>đúng hạn</b>"})
    assert lodged.status_code == 200
    assert web.world.state("S1") is State.APPEAL_REVIEW
    reviewer = web.world.row("S1")["appeal_reviewer_id"]
    browser = web.sign_in(reviewer)
    path = f"/e/{web.world.ev('S1')}/appeal"
    page = browser.get(path)
    assert "Hai sản phẩm &lt;b&gt;đúng hạn&lt;/b&gt;" in page.text
    token = web.csrf(browser, path)
    no_reason = browser.post(path, data={"op": "uphold", "reason": "", "csrf_token": token})
    assert no_reason.status_code == 422 and field_has_error(no_reason.text, "reason")
    fields = score_fields(web.world.framework("S1"), points="abc", prefix="")
    revise = {f"score.{k}": v for k, v in fields.items()}
    bad = browser.post(path, data={**revise, "op": "revise", "revise_reason": "Sửa",
                                   "csrf_token": token})
    assert bad.status_code == 422
    assert field_has_error(bad.text, "score.criteria.innovation.points")
    assert web.world.state("S1") is State.APPEAL_REVIEW
    upheld = browser.post(path, data={"op": "uphold", "reason": "Đúng quy định",
                                      "csrf_token": token})
    assert upheld.status_code == 200
    assert web.world.state("S1") is State.FINALISED


def test_accepting_the_result_finalises_it(web: WebWorld) -> None:
    to_appeal_window(web)
    link = web.link("S3", "result")
    page = confirmed(web.client, link, {"op": "accept",
                                        "csrf_token": web.csrf(web.client, link)})
    assert page.status_code == 200
    assert web.world.state("S3") is State.FINALISED


# --- admin -------------------------------------------------------------------------------


def test_admin_dashboard_shows_progress_overdue_and_dead_letters(web: WebWorld) -> None:
    from sqlalchemy import update

    with web.svc.store.write() as s:
        s.execute(update(OUTBOX).where(OUTBOX.c.recipient_id == "S4")
                  .values(status="dead", last_error="550 no such user", attempts=3))
    web.clock.set("2026-05-09 09:00")
    browser = web.sign_in("A1")
    page = browser.get("/admin")
    text = text_of(page.text)
    assert page.status_code == 200
    assert "Phòng Một" in text and "550 no such user" in text
    assert "Quá hạn (7)" in text  # nobody self-assessed by the deadline, no sweep yet
    dead_id = re.search(r"/admin/outbox/(\d+)/resend", page.text)
    assert dead_id
    again = browser.post(f"/admin/outbox/{dead_id.group(1)}/resend",
                         data={"csrf_token": web.csrf(browser, "/admin")})
    assert again.status_code == 200
    with web.svc.store.read() as s:
        status = s.execute(select(OUTBOX.c.status).where(
            OUTBOX.c.id == int(dead_id.group(1)))).scalar_one()
    assert status == "pending"


def test_admin_actions_extend_cancel_and_resend_with_bad_input_explained(
        web: WebWorld) -> None:
    browser = web.sign_in("A1")
    eid = web.world.ev("S3")
    path = f"/admin/e/{eid}"
    token = web.csrf(browser, path)
    bad_date = browser.post(path, data={"op": "extend", "new_due": "someday",
                                        "extend_reason": "ốm", "approved_by": "D1",
                                        "csrf_token": token})
    assert bad_date.status_code == 422 and field_has_error(bad_date.text, "new_due")
    extended = browser.post(path, data={"op": "extend", "new_due": "2026-05-12T17:00",
                                        "extend_reason": "ốm", "approved_by": "D1",
                                        "csrf_token": token})
    assert extended.status_code == 200, text_of(extended.text)
    assert web.world.row("S3")["extended"] is True
    before = web.outbox_count("task_self_assessment")
    assert browser.post(path, data={"op": "resend", "csrf_token": token}).status_code == 200
    assert web.outbox_count("task_self_assessment") == before + 1
    no_reason = browser.post(path, data={"op": "cancel", "cancel_reason": "",
                                         "csrf_token": token})
    assert no_reason.status_code == 422 and field_has_error(no_reason.text, "cancel_reason")
    cancelled = confirmed(browser, path, {"op": "cancel", "cancel_reason": "chuyển công tác",
                                          "csrf_token": token})
    assert cancelled.status_code == 200
    assert web.world.state("S3") is State.CANCELLED


def test_admin_delegates_scoring_to_an_acting_supervisor(web: WebWorld) -> None:
    browser = web.sign_in("A1")
    token = web.csrf(browser, "/admin")
    path = f"/admin/cycle/{web.world.cycle_id}/delegate"
    bad = browser.post(path, data={"supervisor": "H1", "acting": "A1", "until": "",
                                   "reason": "nghỉ phép", "csrf_token": token})
    assert bad.status_code == 422
    done = browser.post(path, data={"supervisor": "H1", "acting": "S4",
                                    "until": "2026-05-30T17:00", "reason": "nghỉ phép",
                                    "csrf_token": token})
    assert done.status_code == 200, text_of(done.text)
    team = web.sign_in("S4").get("/team")
    assert "Phạm Thị Lan" in text_of(team.text)


def test_admin_reassigns_a_supervisor_and_a_peer_and_reopens_a_finalised_one(
        web: WebWorld) -> None:
    browser = web.sign_in("A1")
    eid = web.world.ev("S1")
    path = f"/admin/e/{eid}"
    token = web.csrf(browser, path)
    unknown = browser.post(path, data={"op": "reassign_supervisor", "new_supervisor": "X9",
                                       "reassign_supervisor_reason": "x", "csrf_token": token})
    assert unknown.status_code == 409 and web.world.row("S1")["supervisor_id"] == "H1"
    moved = browser.post(path, data={"op": "reassign_supervisor", "new_supervisor": "D1",
                                     "reassign_supervisor_reason": "H1 nghỉ hưu",
                                     "csrf_token": token})
    assert moved.status_code == 200 and web.world.row("S1")["supervisor_id"] == "D1"
    old = web.world.peers_of("S1")[0]
    new = next(p for p in ("S2", "S3", "S4") if p not in web.world.peers_of("S1"))
    swapped = browser.post(path, data={"op": "reassign_peer", "old_peer": old, "new_peer": new,
                                       "reassign_peer_reason": "ốm dài ngày",
                                       "csrf_token": token})
    assert swapped.status_code == 200, text_of(swapped.text)
    assert new in web.world.peers_of("S1") and old not in web.world.peers_of("S1")
    to_appeal_window(web)
    web.world.fire("S1", Trigger.ACCEPT_RESULT, "S1", {}, when="2026-05-18 09:00")
    assert web.world.state("S1") is State.FINALISED
    reopened = browser.post(path, data={"op": "reopen", "reopen_reason": "sai sót nhập liệu",
                                        "csrf_token": token})
    assert reopened.status_code == 200
    assert web.world.state("S1") is State.SUPERVISOR_SCORING


def test_the_dashboard_links_each_cycle_to_its_report_with_charts_and_signals(
        web: WebWorld) -> None:
    everyone_scored(web)
    browser = web.sign_in("A1")
    path = f"/admin/cycle/{web.world.cycle_id}/report"
    assert f'href="{path}"' in browser.get("/admin").text
    page = browser.get(path)
    assert page.status_code == 200
    assert page.text.count("<svg") >= 2  # the class distribution and the histogram
    # In the admin's language (A1 reads Vietnamese), as the rest of the page.
    assert "Xếp loại theo đơn vị" in page.text
    assert "Dấu hiệu cần lưu ý về tính khách quan" in page.text
    assert browser.get("/admin/cycle/no-such-cycle/report").status_code == 404
    assert web.sign_in("H1").get(path).status_code == 403  # a supervisor, not an admin


def test_the_calibration_page_shows_the_fairness_signals_as_information(
        web: WebWorld) -> None:
    everyone_scored(web)
    page = web.sign_in("D1").get(f"/calibration/{web.world.cycle_id}")
    assert page.status_code == 200
    assert "Dấu hiệu bất thường của kỳ đánh giá" in page.text
    assert 'class="kpi-signals"' in page.text and "Cách xác định:" in page.text


def test_a_non_admin_cannot_act_on_the_record(web: WebWorld) -> None:
    browser = web.sign_in("H1")
    eid = web.world.ev("S1")
    token = web.csrf(browser, "/team")
    refused = browser.post(f"/admin/e/{eid}", data={"op": "cancel", "cancel_reason": "x",
                                                    "csrf_token": token})
    assert refused.status_code == 403
    assert web.world.state("S1") is State.SELF_ASSESSMENT
