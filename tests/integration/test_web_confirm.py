"""The confirmation step before what cannot be taken back (sending a self-assessment,
accepting a result, approving a calibration, cancelling an evaluation), the language
button that keeps what was typed, and the done pages saying what really happens next.
Through FastAPI's TestClient on a real SQLite file; no script anywhere."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.integration.test_full_cycle import approve
from tests.support import at, seeded_small_world
from tests.web_support import WebWorld, confirmed, make_web, self_fields, text_of
from workflow.domain import State, SubmissionKind, Trigger
from workflow.service import calibration, drafts, pages
from workflow.service.core import Service
from workflow.web.context import localized_score
from workflow.web.security import LANG_COOKIE

HOSTILE = 'Báo cáo "quý" <b>II</b> & tổng hợp'


@pytest.fixture
def web(seeded_service: Callable[..., Service]) -> WebWorld:
    return make_web(seeded_small_world(seeded_service))


def _self_form(web: WebWorld, person: str, **overrides: str) -> tuple[str, dict[str, str]]:
    link = web.link(person, "task_self_assessment")
    fields = self_fields(web.world.framework(person), **overrides)
    fields["csrf_token"] = web.csrf(web.client, link)
    return link, fields


def test_sending_a_self_assessment_asks_to_confirm_what_will_be_sent_and_stores_nothing(
        web: WebWorld) -> None:
    link, fields = _self_form(web, "S1", **{"tasks[0].title": HOSTILE})
    check = web.client.post(link, data={**fields, "op": "submit"})
    assert check.status_code == 200
    text = text_of(check.text)
    assert "Kiểm tra bản tự đánh giá trước khi gửi" in text
    assert HOSTILE in text  # what will be sent, shown escaped
    assert "&lt;b&gt;II&lt;/b&gt;" in check.text and "<b>II</b>" not in check.text
    assert f"{localized_score('8', 'vi')} / {localized_score(10, 'vi')}" in text
    assert web.world.state("S1") is State.SELF_ASSESSMENT and web.submissions() == 0
    assert web.used_links() == 0
    # The values wait in a draft too: leaving the confirmation page loses nothing.
    saved = drafts.load(web.svc, web.world.ev("S1"), "S1", SubmissionKind.SELF_ASSESSMENT)
    assert saved is not None and saved[0]["tasks[0].title"] == HOSTILE


def test_going_back_from_the_confirmation_shows_the_form_with_everything_typed(
        web: WebWorld) -> None:
    link, fields = _self_form(web, "S1", note='Ghi chú "có ngoặc"')
    back = web.client.post(link, data={**fields, "op": "edit"})
    assert back.status_code == 200
    assert 'id="task-form"' in back.text
    assert "Ghi chú &#34;có ngoặc&#34;" in back.text or "Ghi chú &quot;có ngoặc&quot;" in back.text
    assert web.world.state("S1") is State.SELF_ASSESSMENT


def test_bad_input_is_refused_at_the_check_not_after_the_confirmation(web: WebWorld) -> None:
    link, fields = _self_form(web, "S1", **{"criteria.innovation.points": "89.995"})
    check = web.client.post(link, data={**fields, "op": "submit"})
    assert check.status_code == 422
    assert "confirm_submit" not in check.text
    assert web.submissions() == 0


def test_after_a_self_assessment_with_peers_the_page_says_the_colleagues_are_asked(
        web: WebWorld) -> None:
    assert web.world.peers_of("S1")
    link, fields = _self_form(web, "S1")
    done = confirmed(web.client, link, {**fields, "op": "submit"})
    assert done.status_code == 200
    assert web.world.state("S1") is State.PEER_INPUT
    assert "đồng nghiệp" in text_of(done.text)
    # The draft has served once the assessment is sent.
    assert drafts.load(web.svc, web.world.ev("S1"), "S1", SubmissionKind.SELF_ASSESSMENT) is None


def test_after_a_self_assessment_without_peers_the_page_says_the_supervisor_has_it(
        web: WebWorld) -> None:
    assert not web.world.peers_of("A1")  # alone in task group B
    link, fields = _self_form(web, "A1")
    done = confirmed(web.client, link, {**fields, "op": "submit"})
    assert web.world.state("A1") is State.SUPERVISOR_SCORING
    text = text_of(done.text)
    assert "cấp trên" in text.lower() and "đồng nghiệp" not in text


def test_the_language_button_draws_the_form_again_in_english_with_what_was_typed(
        web: WebWorld) -> None:
    link, fields = _self_form(web, "S1", **{"tasks[0].title": HOSTILE})
    page = web.client.post(link, data={**fields, "lang": "en"})
    assert page.status_code == 200
    assert '<html lang="en">' in page.text and "Save draft" in page.text
    assert "Báo cáo &#34;quý&#34; &lt;b&gt;II&lt;/b&gt; &amp; tổng hợp" in page.text
    assert page.cookies.get(LANG_COOKIE) == "en" or \
        web.client.cookies.get(LANG_COOKIE) == "en"
    assert web.world.state("S1") is State.SELF_ASSESSMENT and web.submissions() == 0
    # The next page keeps the chosen language; the switch back is a button of the form.
    again = web.client.get(link)
    assert '<html lang="en">' in again.text
    assert 'form="task-form" name="lang" value="vi"' in again.text


def test_enter_in_a_field_cannot_submit_the_form_or_add_rows(web: WebWorld) -> None:
    """HTML's implicit submission (Enter) clicks the form's first submit button and does
    nothing when it is disabled: that button is the first of the page, before add-rows."""
    page = web.client.get(web.link("S1", "task_self_assessment")).text
    first = page.index('form="task-form"')
    guard = page[page.rindex("<button", 0, first):page.index(">", first)]
    assert "disabled" in guard and 'name="op"' not in guard
    assert first < page.index('value="add_rows"') < page.index('value="submit"')


def _to_appeal_window(web: WebWorld) -> None:
    from tests.integration.test_full_cycle import to_calibration

    to_calibration(web.world, {"S1": 0.97, "S2": 0.97})
    approve(web.world)
    web.clock.set("2026-05-18 09:00")


def test_accepting_a_result_asks_to_confirm_with_the_score_and_class(web: WebWorld) -> None:
    _to_appeal_window(web)
    link = web.link("S3", "result")
    check = web.client.post(link, data={"op": "accept", "csrf_token": web.csrf(web.client, link)})
    text = text_of(check.text)
    assert check.status_code == 200 and "Anh/Chị đồng ý với kết quả" in text
    assert "Hoàn thành" in text and "điểm" in text
    assert web.world.state("S3") is State.APPEAL_WINDOW and web.used_links() == 0
    done = confirmed(web.client, link, {"op": "accept",
                                        "csrf_token": web.csrf(web.client, link)})
    assert done.status_code == 200 and web.world.state("S3") is State.FINALISED


def test_approving_a_calibration_asks_to_confirm_how_many_results_go_out(
        web: WebWorld) -> None:
    from tests.integration.test_full_cycle import to_calibration

    to_calibration(web.world)
    for member in calibration.view(web.svc, web.world.cycle_id).members:
        if member.final_class == "excellent":  # the quota made to hold first
            calibration.move_class(web.svc, member.evaluation_id, "well_completed",
                                   "Tỷ lệ theo Nghị định 335", "D1", now=at("2026-05-15 09:00"))
    web.clock.set("2026-05-15 10:00")
    browser = web.sign_in("D1")
    path = f"/calibration/{web.world.cycle_id}"
    waiting = calibration.view(web.svc, web.world.cycle_id).waiting
    check = browser.post(path, data={"op": "approve", "csrf_token": web.csrf(browser, path)})
    assert check.status_code == 200 and f"{waiting} kết quả" in text_of(check.text)
    assert web.world.state("S1") is State.CALIBRATION
    done = confirmed(browser, path, {"op": "approve", "csrf_token": web.csrf(browser, path)})
    assert done.status_code == 200 and web.world.state("S1") is State.APPEAL_WINDOW


def test_cancelling_asks_to_confirm_with_the_reason_and_a_fresh_form(web: WebWorld) -> None:
    browser = web.sign_in("A1")
    path = f"/admin/e/{web.world.ev('S3')}"
    reason = 'Chuyển công tác "Sở Y tế" <ngay>'
    check = browser.post(path, data={"op": "cancel", "cancel_reason": reason,
                                     "csrf_token": web.csrf(browser, path)})
    assert check.status_code == 200 and "Vũ Thị Mai" in text_of(check.text)
    assert reason in text_of(check.text) and "<ngay>" not in check.text
    assert web.world.state("S3") is State.SELF_ASSESSMENT
    forged = browser.post(path, data={"op": "confirm_cancel", "cancel_reason": reason,
                                      "csrf_token": "forged"})
    assert forged.status_code == 403 and web.world.state("S3") is State.SELF_ASSESSMENT
    done = confirmed(browser, path, {"op": "cancel", "cancel_reason": reason,
                                     "csrf_token": web.csrf(browser, path)})
    assert done.status_code == 200 and web.world.state("S3") is State.CANCELLED
    assert web.world.row("S3")["state"] == "cancelled"


def test_after_revising_the_score_the_reviewer_sees_the_new_score_and_class(
        web: WebWorld) -> None:
    _to_appeal_window(web)
    web.world.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "Hai sản phẩm đúng hạn"},
                   when="2026-05-18 09:00")
    before = web.world.row("S1")["score"]
    reviewer = web.world.row("S1")["appeal_reviewer_id"]
    browser = web.sign_in(reviewer)
    path = f"/e/{web.world.ev('S1')}/appeal"
    page = browser.get(path).text
    # The revise form comes prefilled with the score given; the reviewer raises every point.
    fields = {m.group(1): m.group(2) for m in re.finditer(
        r'<input id="[^"]+" name="(score\.[^"]+)" type="text" value="([^"]*)"', page)}
    fields = {k: "10" if k.endswith(".points") else v for k, v in fields.items()}
    # ... and the ticked boxes as they came (an item's "completed" among them: without
    # it, an item carrying failed assessments is refused as not completed).
    fields.update({m.group(1): "1" for m in re.finditer(
        r'<input id="[^"]+" name="(score\.[^"]+)" type="checkbox" value="1" checked', page)})
    assert any(k.endswith(".points") for k in fields)
    done = browser.post(path, data={**fields, "op": "revise", "revise_reason": "Đủ minh chứng",
                                    "csrf_token": web.csrf(browser, path)})
    assert done.status_code == 200, text_of(done.text)
    assert web.world.state("S1") is State.FINALISED
    row = web.world.row("S1")
    assert row["score"] != before
    klass = pages.evaluation_file(web.svc, web.world.ev("S1")).class_label("vi")
    text = text_of(done.text)
    assert f"điểm mới là {localized_score(row['score'], 'vi')}, xếp loại {klass}" in text


def test_a_refused_uphold_keeps_the_revise_form_prefilled_with_the_score_given(
        web: WebWorld) -> None:
    _to_appeal_window(web)
    web.world.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "Xem lại"},
                   when="2026-05-18 09:00")
    browser = web.sign_in(web.world.row("S1")["appeal_reviewer_id"])
    path = f"/e/{web.world.ev('S1')}/appeal"
    refused = browser.post(path, data={"op": "uphold", "reason": "",
                                       "csrf_token": web.csrf(browser, path)})
    assert refused.status_code == 422
    given = re.search(r'name="score\.criteria\.innovation\.points" type="text" value="([^"]*)"',
                      refused.text)
    assert given and given.group(1) not in ("", None)
