"""Two agencies in one deployment, in a real browser (issue 18, items 3 and 7): the
admin of agency STC uploads a series file (first as a Windows editor saved it, UTF-16,
then with a day that does not exist, then right), opens its next period after the
confirmation; the admin of agency SNV is refused the other agency's cycle file and a
population reaching into it, in the cycle form; the province admin delegates scoring
through the dashboard's own form. Every stop in vi or en, checked by axe at 1280 and
390 px."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_accessibility import Tour, _Sessions
from tests.support import DATA, TWO_AGENCY_SCOPES, at, two_agencies
from tests.web_support import Clock
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.store.tables import ASSIGNMENT, CYCLE, EVALUATION
from workflow.web import create_app

pytestmark = pytest.mark.browser
STC = "Ban Giám đốc Sở Tài chính (BTC)"


@pytest.fixture
def site(new_service: Callable[..., Any], tmp_path: Path, clock: Clock
         ) -> Iterator[tuple[Service, LiveServer, Any]]:
    svc = two_agencies(new_service, tmp_path)
    clock.set("2026-05-25 09:00")
    app = create_app(svc, clock=clock)
    with LiveServer(app) as live:
        yield svc, live, _Sessions(app.state.web.signer, svc)


def test_an_agency_admin_uploads_a_series_and_opens_its_next_period(
        page: Page, site: tuple[Service, LiveServer, Any], tmp_path: Path) -> None:
    svc, live, signer = site
    tour = Tour(page, page.context, live.base, None)
    tour.as_person("E9", signer)
    tour.language("vi")
    page.goto(live.base + "/admin/cycles")
    page.get_by_role("link", name="Chuỗi kỳ đánh giá").click()
    expect(page.locator("main")).to_contain_text("stc-2026.yaml")
    tour.check("admin-series", "vi")

    good = (DATA / "two_agencies_series.yaml").read_text("utf-8") \
        .replace("stc-2026", "stc-2027").replace("year: 2026", "year: 2027")
    upload = tmp_path / "stc-2027.yaml"
    upload.write_bytes(good.encode("utf-16"))  # Notepad's "Unicode"
    page.locator("#f-series_file").set_input_files(str(upload))
    page.get_by_role("button", name="Kiểm tra và lưu tệp").click()
    expect(page.locator("#upload-problems")).to_contain_text("UTF-16")
    expect(page.locator("#errors")).to_contain_text("stc-2027.yaml chưa được lưu")
    tour.check("admin-series-upload-problems", "vi")
    upload.write_text(good.replace("  timezone: Asia/Ho_Chi_Minh",
                                   "  timezone: Asia/Ho_Chi_Minh\n  holidays:\n"
                                   "    extra_days_off: [2027-04-31]"), encoding="utf-8")
    page.locator("#f-series_file").set_input_files(str(upload))
    page.get_by_role("button", name="Kiểm tra và lưu tệp").click()
    expect(page.locator("#upload-problems")).to_contain_text(
        "'2027-04-31' không phải là ngày có thật: tháng 4/2027 chỉ có 30 ngày")
    assert not (svc.settings.config_dir / "series" / "stc-2027.yaml").exists()

    upload.write_text(good, encoding="utf-8")
    page.locator("#f-series_file").set_input_files(str(upload))
    page.get_by_role("button", name="Kiểm tra và lưu tệp").click()
    expect(page.get_by_role("status").first).to_contain_text("stc-2027.yaml không có lỗi")
    tour.check("admin-series-uploaded", "vi")
    page.get_by_role("button", name="Mở ngay kỳ tiếp theo: stc-2026-q1").click()
    expect(page.locator("h1")).to_contain_text("2026-q1")
    tour.check("admin-series-confirm", "vi")
    with svc.store.read() as s:
        assert s.execute(select(CYCLE.c.id).where(CYCLE.c.id == "stc-2026-q1")).first() is None
    page.get_by_role("button", name="Đồng ý, mở ngay").click()
    expect(page.get_by_role("status").first).to_contain_text("stc-2026-q1")
    with svc.store.read() as s:
        units = set(s.execute(select(EVALUATION.c.unit_id)
                              .where(EVALUATION.c.cycle_id == "stc-2026-q1")).scalars())
    assert units == {"BTC", "P9"}
    assert not tour.problems, "\n".join(tour.problems)


def test_an_agency_admin_is_refused_the_other_agencys_cycles_in_the_form(
        page: Page, site: tuple[Service, LiveServer, Any]) -> None:
    svc, live, signer = site
    tour = Tour(page, page.context, live.base, None)
    tour.as_person("A1", signer)
    tour.language("en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live.base + "/admin/cycles")
    expect(page.locator("main")).to_contain_text("snv-2026-05.yaml")
    expect(page.locator("main")).not_to_contain_text("stc-2026-05.yaml")
    response = page.goto(live.base + "/admin/cycles/edit/stc-2026-05.yaml")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text(STC)
    tour.check("admin-cycle-other-agency", "en")

    page.goto(live.base + "/admin/cycles/edit/snv-2026-05.yaml")
    page.locator("#f-population-units").fill("BGD P1 P9")
    page.locator("#f-name").fill('Tháng 5 <b>"SNV"</b>')
    page.get_by_role("button", name="Save the file").click()
    expect(page.locator("#e-f-population-units")).to_contain_text(
        f"P9 (Phòng Ngân sách) of the agency {STC}")
    # What was typed is kept, the file is not changed.
    assert page.locator("#f-name").input_value() == 'Tháng 5 <b>"SNV"</b>'
    saved = (svc.settings.config_dir / "cycles" / "snv-2026-05.yaml").read_text("utf-8")
    assert "P9" not in saved.split("population")[1].split("\n")[0]
    tour.check("admin-cycle-population-refused", "en")
    assert not tour.problems, "\n".join(tour.problems)


def test_the_province_admin_delegates_scoring_through_the_dashboards_form(
        page: Page, site: tuple[Service, LiveServer, Any]) -> None:
    svc, live, signer = site
    tour = Tour(page, page.context, live.base, None)
    tour.as_person("UB1", signer)
    tour.language("en")
    page.goto(live.base + "/admin")
    page.get_by_text("Delegate scoring to an acting supervisor").click()
    form = page.locator("form[action='/admin/cycle/two-2026-04/delegate']")
    form.get_by_label("Supervisor (employee id)", exact=True).fill("G1")
    form.get_by_label("Acting supervisor (employee id)").fill("E9")
    form.get_by_label("Until (local time)").fill("2026-06-10T17:00")
    form.get_by_label("Reason").fill('Nghỉ phép <b>"ốm"</b>')
    form.get_by_role("button", name="Delegate").click()
    # E9 is one of G1's three: not their own acting supervisor.
    expect(page.get_by_role("status").first).to_have_text(
        "Scoring delegated: 2 evaluations. Left out: Lương Thị Én, who is the person evaluated.")
    tour.check("admin-delegated", "en")
    with svc.store.read() as s:
        rows = s.execute(select(ASSIGNMENT.c.person_id, ASSIGNMENT.c.reason)
                         .where(ASSIGNMENT.c.role == "acting_supervisor")).all()
    assert len(rows) == 2 and {(r.person_id, r.reason) for r in rows} == {
        ("E9", 'Nghỉ phép <b>"ốm"</b>')}
    assert not tour.problems, "\n".join(tour.problems)


def test_a_cycle_only_admin_follows_their_cycle_and_is_told_what_right_configuring_needs(
        page: Page, new_service: Callable[..., Any], tmp_path: Path, clock: Clock) -> None:
    """H1 holds only "cycle:snv-2026-05" (agency SNV's May cycle): the dashboard shows it
    and none of STC's people; the cycle pages are refused, saying what is missing."""
    made = two_agencies(new_service, tmp_path)
    svc = Service(made.store, replace(made.settings, admin_scope=(
        *TWO_AGENCY_SCOPES, ("H1", ("cycle:snv-2026-05",)))))
    open_cycle(svc, svc.settings.config_dir / "cycles" / "snv-2026-05.yaml",
               now=at("2026-05-25 10:00"))
    clock.set("2026-06-02 09:00")
    app = create_app(svc, clock=clock)
    with LiveServer(app) as live:
        tour = Tour(page, page.context, live.base, None)
        tour.as_person("H1", _Sessions(app.state.web.signer, svc))
        tour.language("vi")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(live.base + "/admin")
        main = page.locator("main")
        expect(main).to_contain_text("Two agencies May 2026")
        expect(main).not_to_contain_text("Two agencies April 2026")
        tour.check("admin-cycle-only", "vi")
        page.goto(live.base + "/admin?q=Lan")  # the search: their cycle's people only
        expect(main).to_contain_text("Phạm Thị Lan")
        for q, outsider in (("T2", "O'Brien"), ("Thu", "Tạ Thị Thu"), ("F1", "Bùi")):
            page.goto(live.base + f"/admin?q={q}")
            expect(main).not_to_contain_text(outsider)
        response = page.goto(live.base + "/admin/cycles")
        assert response is not None and response.status == 403
        expect(main).to_contain_text("Anh/Chị chỉ quản trị các kỳ đánh giá")
        expect(main).to_contain_text("quản trị viên toàn tỉnh")
        tour.check("admin-cycle-only-refused", "vi")
    assert not tour.problems, "\n".join(tour.problems)
