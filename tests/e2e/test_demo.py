"""`kpi demo` as a newcomer uses it: everything reached from the printed link and the
caught emails page, clicked in a real browser, one evaluation from start to end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, free_port
from workflow.service.core import Service
from workflow.settings import PROJECT_ROOT
from workflow.web import DemoHooks, create_app
from workflow.web.demo import DemoClock, jumper, mail_source, prepare

pytestmark = pytest.mark.browser


def open_mail(page: Page, base: str, subject: str, nth: int = 0, to: str = "") -> None:
    """Open the ``nth`` newest caught email with this subject (to this address, when
    given) and follow its link."""
    page.goto(f"{base}/demo/mail")
    mail = page.locator("li.mail").filter(has_text=subject).filter(has_text=to)
    mail.nth(nth).get_by_role("link", name="Mở đường liên kết").click()


def test_a_newcomer_clicks_one_evaluation_through_the_demo(
        page: Page, new_service: Callable[..., Service], artifacts: Path) -> None:
    port = free_port()
    svc = new_service("demo.sqlite3")
    svc.settings = replace(svc.settings, base_url=f"http://127.0.0.1:{port}")
    plan = prepare(svc, PROJECT_ROOT / "config", lambda _line: None)
    clock = DemoClock()
    app = create_app(svc, clock=clock, demo=DemoHooks(jump=jumper(svc, clock),
                                                      mails=mail_source(svc, None)))
    with LiveServer(app, port) as live:
        # 1. The reviewee, from the link the demo prints.
        page.goto(plan.self_assessment_link)
        for field in page.get_by_label("Điểm Anh/Chị tự đề xuất (từ 0 đến 10)").all():
            field.fill("9")
        page.get_by_label("Tên sản phẩm, công việc").first.fill("Thẩm định hồ sơ")
        page.get_by_label("Đã hoàn thành").first.check()
        page.get_by_label("Đạt yêu cầu chất lượng").first.check()
        page.get_by_role("button", name="Gửi", exact=True).click()
        expect(page.get_by_role("heading", name="Kiểm tra bản tự đánh giá")).to_be_visible()
        page.get_by_role("button", name="Gửi bản tự đánh giá").click()
        expect(page.get_by_text("Đã gửi bản tự đánh giá")).to_be_visible()
        # 2. Both peers, from the caught emails.
        page.goto(f"{live.base}/demo/mail")
        page.screenshot(path=str(artifacts / "20-demo-mail.png"), full_page=False)
        # The demo names each email by its event, in the glossary's words.
        asked = f"Nhiệm vụ góp ý: {plan.protagonist_name}"
        expect(page.locator("li.mail").filter(has_text=asked)).to_have_count(2)
        for n in range(2):
            open_mail(page, live.base, asked, nth=n)
            for field in page.get_by_label("Điểm (từ 0 đến 10)").all():
                field.fill("8")
            page.get_by_role("button", name="Gửi", exact=True).click()
            expect(page.get_by_text("Đã ghi nhận góp ý")).to_be_visible(), n
        # 3. The supervisor signs in with the address the demo prints.
        page.goto(f"{live.base}/sign-in")
        page.get_by_label("Địa chỉ email").fill(plan.supervisor_email)
        page.get_by_role("button", name="Gửi đường liên kết đăng nhập").click()
        open_mail(page, live.base, "Đường liên kết đăng nhập")
        page.get_by_role("button", name="Đăng nhập").click()
        page.get_by_role("link", name="Đơn vị của tôi").click()
        page.get_by_role("link", name=f"Người cần chấm tiếp theo: {plan.protagonist_name}").click()
        page.get_by_role("button", name="Gửi kết quả chấm").click()
        expect(page.get_by_text(f"Đã lưu kết quả chấm cho {plan.protagonist_name}")).to_be_visible()
        # 4. The director calibrates: moves down whoever breaks the quota, approves.
        # (The director's own evaluation is calibrated by whoever took it on: another
        # email; the director's page offers no move on it.)
        open_mail(page, live.base, "Nhiệm vụ rà soát tỷ lệ", to=plan.calibrator_email)
        page.screenshot(path=str(artifacts / "21-demo-calibration.png"), full_page=True)
        while page.locator("tr.breaks form.move").count():
            row = page.locator("tr.breaks form.move").first
            row.get_by_role("textbox").fill("Tỷ lệ theo Điều 20 Nghị định 335")
            row.get_by_role("button").click()
            expect(page.get_by_text("Đã chuyển")).to_be_visible()
        page.get_by_role("button", name="Phê duyệt kết quả rà soát").click()
        page.get_by_role("button", name="Phê duyệt", exact=True).click()  # the confirmation
        expect(page.get_by_text("Đã phê duyệt kết quả rà soát")).to_be_visible()
        # 5. The reviewee appeals; 6. the appeal reviewer decides.
        open_mail(page, live.base, f"Kết quả: {plan.protagonist_name}")
        page.get_by_label("Lý do kiến nghị").fill("Đề nghị xem lại điểm nhiệm vụ.")
        page.get_by_role("button", name="Gửi kiến nghị").click()
        expect(page.get_by_text("Đã gửi kiến nghị")).to_be_visible()
        open_mail(page, live.base, "Nhiệm vụ xem xét kiến nghị")  # the reviewer reads English
        page.get_by_label("Reason").first.fill("According to the rules.")
        page.get_by_role("button", name="Uphold the score").click()
        expect(page.get_by_text("Decision recorded")).to_be_visible()
        page.get_by_role("link", name="Tiếng Việt").click()
        # The demo clock control jumps to the next deadline.
        page.get_by_role("button", name="Chuyển tới hạn chót kế tiếp").click()
        expect(page.get_by_text("Đồng hồ đã chuyển")).to_be_visible()
