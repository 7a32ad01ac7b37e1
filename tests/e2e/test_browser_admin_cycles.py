"""The cycle calendar form in a real browser, on a 390 px phone, without any script:
a copy of a cycle file, the mistakes an HR officer makes, a row added, the calendar
checked, the cycle saved and opened after the confirmation; then a series' period."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_accessibility import Tour, _Sessions
from tests.support import CONFIG, DATA, small_world
from tests.web_support import Clock
from workflow.cycle_config import load_cycle
from workflow.service import sessions
from workflow.service.core import Service
from workflow.store.tables import CYCLE, EVALUATION
from workflow.web import create_app
from workflow.web.security import LANG_COOKIE, SESSION_COOKIE, SESSION_LIFETIME

pytestmark = pytest.mark.browser
HOSTILE = "Kỳ tháng 5 <b>\"đặc biệt\"</b> & 'thử'"


@pytest.fixture
def admin_site(new_service: Callable[..., Service], tmp_path: Path
               ) -> Iterator[tuple[LiveServer, Service, Any, Clock]]:
    config = tmp_path / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    (config / "cycles").mkdir()
    shutil.copy(DATA / "small_cycle.yaml", config / "cycles" / "t-2026-04.yaml")
    made = new_service(admins=("A1",))  # configuring cycles needs more than a cycle
    svc = Service(made.store, replace(made.settings, config_dir=config))
    small_world(svc)  # opens t-2026-04: A1 is its admin
    clock = Clock()
    clock.set("2026-05-20 09:00")
    app = create_app(svc, clock=clock)
    with LiveServer(app) as live:
        yield live, svc, app.state.web.signer, clock


def test_an_hr_officer_copies_checks_corrects_and_opens_a_cycle_on_a_phone(
        page: Page, admin_site: tuple[LiveServer, Service, Any, Clock]) -> None:
    live, svc, signer, _clock = admin_site
    page.set_viewport_size({"width": 390, "height": 844})
    page.context.add_cookies([
        {"name": SESSION_COOKIE, "url": live.base,
         "value": signer.session("A1", sessions.start(svc, "A1", SESSION_LIFETIME))},
        {"name": LANG_COOKIE, "value": "vi", "url": live.base}])
    page.goto(live.base + "/admin")
    page.get_by_role("link", name="Lịch các kỳ đánh giá").click()
    page.get_by_role("link", name="Sao chép t-2026-04.yaml").click()
    assert page.locator("#f-id").input_value() == ""
    # The file's dates shown as the hint asks for them (day/month/year).
    assert page.locator("#f-period-start").input_value() == "01/04/2026"
    assert page.locator("#f-phases-self_assessment-opens").input_value() == "04/05/2026 08:00"
    page.locator("#f-id").fill("t-2026-04")  # the id of the open cycle
    page.locator("#f-name").fill(HOSTILE)
    page.locator("#f-period-start").fill("01/05/2026")
    page.locator("#f-period-end").fill("31/04/2026")  # April has 30 days
    page.locator("#f-phases-self_assessment-opens").fill("01/06/2026 08:00")
    page.get_by_role("button", name="Kiểm tra và xem lịch").click()
    assert page.locator("#e-f-period-end").inner_text() == \
        "“31/04/2026” không phải là ngày có thật: tháng 4/2026 chỉ có 30 ngày"
    assert page.locator("#f-period-end").get_attribute("aria-invalid") == "true"
    page.locator("#f-period-end").fill("31/05/2026")
    # The year-end keys are in the form; on a month's cycle the check refuses them.
    page.locator("#f-year_end-special_agency").check()
    page.get_by_role("button", name="Kiểm tra và xem lịch").click()
    assert "bỏ year_end" in page.locator("#e-f-year_end-special_agency").inner_text()
    page.locator("#f-year_end-special_agency").uncheck()
    # The check's words (those of `kpi cycle check`, in the page's language), naming the key.
    assert "id: kỳ đánh giá 't-2026-04' đã được mở" in page.locator("#e-f-id").inner_text()
    page.locator("#f-id").fill("t-2026-05")
    # One more reminder: the form comes back with a blank row, what was typed kept.
    page.get_by_role("button", name="Thêm một lần nhắc").click()
    assert page.locator("#f-name").input_value() == HOSTILE
    page.locator("#f-reminders-1-working_days_before").fill("2")
    page.locator("#f-reminders-1-at").fill("25:00")
    page.get_by_role("button", name="Kiểm tra và xem lịch").click()
    assert "“25:00” không phải giờ trong ngày" in page.locator("#e-f-reminders-1-at").inner_text()
    page.locator("#f-reminders-1-at").fill("08:00")
    page.get_by_role("button", name="Kiểm tra và xem lịch").click()
    preview = page.locator("#preview")
    assert preview.is_visible()
    # From today (20 May) to the last deadline: May, June and July.
    assert page.locator("table.month caption").all_inner_texts()[:2] == [
        "Tháng 5 2026", "Tháng 6 2026"]
    assert preview.locator(".deadline").count() >= 5  # every phase's deadline in the grid
    assert "Tự đánh giá" in preview.inner_text() and "Thư theo từng ngày" in preview.inner_text()
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 1
    page.get_by_role("button", name="Lưu và mở kỳ đánh giá").click()
    assert "Mở kỳ đánh giá" in page.locator("h1").inner_text()
    with svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(CYCLE)).scalar_one() == 1
    page.get_by_role("button", name="Đồng ý, mở kỳ đánh giá").click()
    assert "Kỳ đánh giá t-2026-05 đã mở" in page.locator("main").inner_text()
    saved = load_cycle(svc.settings.config_dir / "cycles" / "t-2026-05.yaml").config
    assert saved.name == HOSTILE and len(saved.reminders) == 2
    with svc.store.read() as s:
        opened = s.execute(select(func.count()).select_from(EVALUATION)
                           .where(EVALUATION.c.cycle_id == "t-2026-05")).scalar_one()
    assert opened == 7


def test_the_cycle_checks_mistakes_in_english_and_vietnamese_pass_axe_on_a_phone(
        page: Page, admin_site: tuple[LiveServer, Service, Any, Clock]) -> None:
    """A deadline before its phase opens, a reminder after the deadline, a time zone
    that does not exist: each said beside its field in the page's language; every stop
    checked by axe at 1280 and 390 px."""
    live, svc, signer, _clock = admin_site
    tour = Tour(page, page.context, live.base, None)
    tour.as_person("A1", _Sessions(signer, svc))
    tour.language("en")
    page.goto(live.base + "/admin/cycles")
    page.get_by_role("link", name="Copy t-2026-04.yaml").click()
    page.locator("#f-id").fill("t-2026-06")
    page.locator("#f-name").fill(HOSTILE)
    page.locator("#f-period-start").fill("01/06/2026")
    page.locator("#f-period-end").fill(" 30/06/2026 ")
    page.locator("#f-phases-self_assessment-opens").fill("06/07/2026 08:00")
    page.locator("#f-phases-self_assessment-due-working_days").fill("")
    page.locator("#f-phases-self_assessment-due").fill("03/07/2026 17:00")
    page.get_by_role("button", name="Check and show the calendar").click()
    expect(page.locator("#e-f-phases-self_assessment-due")).to_contain_text(
        "phases.self_assessment.due: 03/07/2026 17:00 is not after opens (06/07/2026 08:00)")
    tour.check("admin-cycle-deadline-before-opening", "en")

    page.locator("#f-phases-self_assessment-due").fill("09/07/2026 17:00")
    page.locator("#f-reminders-0-working_days_before").fill("0")
    page.locator("#f-reminders-0-at").fill("18:00")
    page.get_by_role("button", name="Check and show the calendar").click()
    expect(page.locator("#n-f-reminders-0-at")).to_contain_text(
        "18:00 on the due day is not before the deadline (17:00)")
    expect(page.locator("#preview")).to_be_visible()
    tour.check("admin-cycle-late-reminder", "en")

    tour.language("vi")
    page.locator("#f-timezone").fill("Asia/Hanoi")
    page.get_by_role("button", name="Check and show the calendar").click()
    expect(page.locator("#e-f-timezone")).to_contain_text(
        "timezone: không có múi giờ 'Asia/Hanoi'")
    page.locator("#f-timezone").fill("Asia/Ho_Chi_Minh")
    page.get_by_role("button", name="Kiểm tra và xem lịch").click()
    expect(page.locator("#n-f-reminders-0-at")).to_contain_text(
        "18:00 của ngày đến hạn không sớm hơn hạn chót (17:00)")
    tour.check("admin-cycle-late-reminder", "vi")
    assert not (svc.settings.config_dir / "cycles" / "t-2026-06.yaml").exists()
    assert not tour.problems, "\n".join(tour.problems)

    # A second series file that makes the same cycle ids is refused, naming them and the
    # file that makes them already; nothing is kept.
    series = svc.settings.config_dir / "series"
    series.mkdir(exist_ok=True)
    shutil.copy(CONFIG / "series" / "snv-2026.yaml", series / "snv-2026.yaml")
    page.goto(live.base + "/admin/series")
    page.locator("#f-series_file").set_input_files(files=[{
        "name": "snv-copy.yaml", "mimeType": "application/yaml",
        "buffer": (series / "snv-2026.yaml").read_bytes()}])
    page.locator('form[action="/admin/series/upload"] button[type="submit"]').click()
    problems = page.locator("#upload-problems")
    expect(problems).to_contain_text("các mã kỳ đánh giá snv-2026-01, snv-2026-02")
    expect(problems).to_contain_text("đã được tạo bởi tệp chuỗi kỳ snv-2026.yaml")
    assert page.locator('[lang="en"]:not(.lang-switch):not([hreflang])').count() == 0
    assert not (series / "snv-copy.yaml").exists()
