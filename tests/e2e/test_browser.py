"""One evaluation clicked through in a real browser (Debian's chromium via Playwright):
the reviewee, a peer, the supervisor, the calibrator, the reviewee's appeal and the
reviewer's decision. A screenshot of each page is kept in tests/artifacts/.

Each link is read from the email as a real SMTP server on loopback received it
(``inbox.link``: the dispatcher delivers what is due, the test parses the text part).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.conftest import Inbox, LiveServer
from tests.support import World
from tests.web_support import Clock
from workflow.domain import State
from workflow.service import calibration
from workflow.store.tables import PERSON

pytestmark = pytest.mark.browser


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def sign_in(page: Page, live: LiveServer, world: World, inbox: Inbox, person: str
            ) -> None:
    with world.svc.store.read() as s:
        email = s.execute(select(PERSON.c.email).where(PERSON.c.id == person)).scalar_one()
    page.goto(f"{live.base}/sign-in")
    page.get_by_label("Địa chỉ email").fill(email)
    page.get_by_role("button", name="Gửi đường liên kết đăng nhập").click()
    expect(page.get_by_role("heading", name="Hãy kiểm tra email")).to_be_visible()
    page.goto(live.base + inbox.link(person, "sign_in"))
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_text("Đã đăng nhập")).to_be_visible()


def test_one_evaluation_from_self_assessment_to_the_appeal_decision(
        page: Page, live: LiveServer, world: World, clock: Clock, artifacts: Path,
        inbox: Inbox) -> None:
    # The reviewee opens the link from the task email and submits.
    page.goto(live.base + inbox.link("S1", "task_self_assessment"))
    expect(page.get_by_role("heading", name="Tự đánh giá: Phạm Thị Lan")).to_be_visible()
    for label in page.get_by_label("Điểm Anh/Chị tự đề xuất (từ 0 đến 10)").all():
        label.fill("9")
    page.get_by_label("Tên sản phẩm, công việc").first.fill("Báo cáo tổng hợp biên chế")
    page.get_by_label("Đã hoàn thành").first.check()
    page.get_by_label("Đạt yêu cầu chất lượng").first.check()
    page.get_by_label("Ghi chú", exact=True).fill("<b>Hoàn thành</b> đúng hạn")
    page.get_by_role("button", name="Lưu nháp", exact=True).click()
    expect(page.get_by_text("Đã lưu nháp")).to_be_visible()
    shot(page, artifacts, "01-self-assessment")
    page.get_by_role("button", name="Gửi", exact=True).click()
    expect(page.get_by_role("heading", name="Kiểm tra bản tự đánh giá")).to_be_visible()
    page.get_by_role("button", name="Gửi bản tự đánh giá").click()
    expect(page.get_by_text("Đã gửi bản tự đánh giá")).to_be_visible()
    assert world.state("S1") is State.PEER_INPUT

    # Each peer answers through their own link.
    for n, peer in enumerate(world.peers_of("S1")):
        # The secret draw may pick a colleague who reads English: this walk is read in
        # Vietnamese, so the page's language is chosen as a person would, on the switch.
        page.goto(live.base + "/lang/vi?next=" + quote(inbox.link(peer, "task_peer_input"),
                                                      safe=""))
        for field in page.get_by_label("Điểm (từ 0 đến 10)").all():
            field.fill("8")
        page.get_by_label("Nhận xét").fill(f"Phối hợp tốt ({n})")
        if n == 0:
            shot(page, artifacts, "02-peer-input")
        page.get_by_role("button", name="Gửi", exact=True).click()
        expect(page.get_by_text("Đã ghi nhận góp ý")).to_be_visible()
    assert world.state("S1") is State.SUPERVISOR_SCORING

    # The supervisor signs in, sees the team and scores S1.
    clock.set("2026-05-08 09:00")
    sign_in(page, live, world, inbox, "H1")
    page.get_by_role("link", name="Đơn vị của tôi").click()
    shot(page, artifacts, "03-team")
    page.get_by_role("link", name="Người cần chấm tiếp theo: Phạm Thị Lan").click()
    expect(page.get_by_text("Phối hợp tốt (0)")).to_be_visible()  # anonymous peer comments
    shot(page, artifacts, "04-score")
    page.get_by_label("Nhận xét").fill("Hoàn thành tốt nhiệm vụ")
    page.get_by_role("button", name="Gửi kết quả chấm").click()
    expect(page.get_by_text("Đã lưu kết quả chấm cho Phạm Thị Lan")).to_be_visible()
    assert world.state("S1") is State.CALIBRATION

    # Everyone else is scored through the service; then the director calibrates.
    for person in ["S2", "S3", "S4", "A1", "H1", "D1"]:
        world.submit_self(person, when="2026-05-06 09:00")
        if world.state(person) is State.PEER_INPUT:
            world.answer_peers(person, when="2026-05-07 09:00")
    for person in ["S2", "S3", "S4", "A1", "H1", "D1"]:
        world.score(person, level=0.97 if person == "S2" else 0.8, when="2026-05-08 10:00")
    clock.set("2026-05-11 09:00")
    page.get_by_role("button", name="Đăng xuất").click()
    sign_in(page, live, world, inbox, "D1")
    page.goto(f"{live.base}/calibration/{world.cycle_id}")
    shot(page, artifacts, "05-calibration")
    for member in calibration.view(world.svc, world.cycle_id).members:
        if member.final_class == "excellent":
            page.get_by_label(f"Lý do chuyển {member.reviewee_name}").fill(
                "Tỷ lệ theo Nghị định 335")
            row = page.locator(f"#ev-{member.evaluation_id}")
            row.get_by_role("button").click()
            expect(page.get_by_text(f"Đã chuyển {member.reviewee_name}")).to_be_visible()
    page.get_by_role("button", name="Phê duyệt kết quả rà soát").click()
    page.get_by_role("button", name="Phê duyệt", exact=True).click()  # the confirmation
    expect(page.get_by_text("Đã phê duyệt kết quả rà soát")).to_be_visible()
    assert world.state("S1") is State.APPEAL_WINDOW

    # The reviewee reads the result and appeals before the deadline shown.
    clock.set("2026-05-12 09:00")
    page.goto(live.base + inbox.link("S1", "result"))
    expect(page.get_by_text("Chi tiết điểm")).to_be_visible()
    shot(page, artifacts, "06-result")
    page.get_by_label("Lý do kiến nghị").fill("Sản phẩm thứ hai hoàn thành đúng hạn.")
    page.get_by_role("button", name="Gửi kiến nghị").click()
    expect(page.get_by_text("Đã gửi kiến nghị")).to_be_visible()
    assert world.state("S1") is State.APPEAL_REVIEW

    # The appeal reviewer signs in and upholds the score.
    reviewer = world.row("S1")["appeal_reviewer_id"]
    page.get_by_role("button", name="Đăng xuất").click()
    sign_in(page, live, world, inbox, reviewer)
    page.get_by_role("link", name="Phạm Thị Lan").click()
    expect(page.get_by_text("Sản phẩm thứ hai hoàn thành đúng hạn.")).to_be_visible()
    shot(page, artifacts, "07-appeal-review")
    page.get_by_label("Lý do").first.fill("Biên bản giao nhận ghi nhận trễ hạn.")
    page.get_by_role("button", name="Giữ nguyên kết quả").click()
    expect(page.get_by_text("Đã ghi nhận quyết định")).to_be_visible()
    assert world.state("S1") is State.FINALISED


def test_admin_dashboard_and_a_wrong_field_in_a_browser(
        page: Page, live: LiveServer, world: World, artifacts: Path, inbox: Inbox) -> None:
    page.goto(live.base + inbox.link("S2", "task_self_assessment"))  # S2 reads English
    page.get_by_label("Points you propose (0 to 10)").first.fill("NaN")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("must be a finite number")
    field = page.locator("#f-criteria-political_quality-points")
    expect(field).to_have_attribute("aria-invalid", "true")
    shot(page, artifacts, "08-self-assessment-errors")
    sign_in(page, live, world, inbox, "A1")
    page.goto(f"{live.base}/admin")
    expect(page.get_by_text("Tiến độ theo đơn vị và trạng thái")).to_be_visible()
    shot(page, artifacts, "09-admin")


def test_keyboard_phone_width_and_visible_focus(
        page: Page, live: LiveServer, world: World, artifacts: Path, inbox: Inbox) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live.base + inbox.link("S1", "task_self_assessment"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Chuyển đến nội dung")
    expect(skip).to_be_focused()
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"  # focus is visible
    wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert wide, "the page scrolls sideways on a phone"
    shot(page, artifacts, "10-phone")
