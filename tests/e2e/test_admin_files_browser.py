"""The admin's downloads and an evaluation's file, clicked through in Debian's chromium
(issue 18, items 4 and 5): one browser session signs A1 in through the emailed link,
follows the dashboard's link to the downloads, downloads the report and a record (the
names the browser saves them under), types what an HR officer mistypes in the record
form, and reads an evaluation's file at a phone's width.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Inbox, LiveServer
from tests.e2e.test_browser import shot, sign_in
from tests.support import World
from tests.web_support import Clock

pytestmark = pytest.mark.browser


def test_an_admin_downloads_the_report_and_a_record_and_reads_a_file(
        page: Page, live: LiveServer, world: World, clock: Clock, artifacts: Path,
        inbox: Inbox, tmp_path: Path) -> None:
    world.submit_self("S1", when="2026-05-05 09:00")
    world.answer_peers("S1", when="2026-05-07 09:00")
    world.score("S1", when="2026-05-08 10:00")
    clock.set("2026-05-08 11:00")
    sign_in(page, live, world, inbox, "A1")
    page.goto(f"{live.base}/admin")
    page.get_by_role("link", name="Tải về: báo cáo, danh sách, hồ sơ").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tải về")
    shot(page, artifacts, "20-admin-exports")

    with page.expect_download() as got:
        page.get_by_role("link", name="Bảng tính (XLSX)", exact=False).click()
    download = got.value
    assert download.suggested_filename == f"báo-cáo-{world.cycle_id}.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert "P1" in load_workbook(saved, read_only=True).sheetnames
    page.reload()  # the page now says the spreadsheet is ready for this state
    expect(page.get_by_text("sẵn sàng", exact=False).first).to_be_visible()

    # The record form: nothing typed, an id nobody has, someone outside the cycle.
    box = page.get_by_label("Mã công chức")
    for typed, says in (("", "bắt buộc"), ("S 1", "S 1"), ("UB1", "UB1 không có đánh giá")):
        box.fill(typed)
        page.get_by_role("button", name="Tải hồ sơ").click()
        expect(page.get_by_role("alert")).to_contain_text(says)
        expect(page.get_by_label("Mã công chức")).to_have_attribute("aria-invalid", "true")
    shot(page, artifacts, "21-admin-record-problem")
    page.get_by_label("Mã công chức").fill("S1")
    page.get_by_label("Tài liệu để in (PDF)").check()
    with page.expect_download() as got:
        page.get_by_role("button", name="Tải hồ sơ").click()
    record = got.value
    assert record.suggested_filename == "hồ-sơ-S1-Phạm Thị Lan.pdf"
    record.save_as(tmp_path / "record.pdf")
    assert (tmp_path / "record.pdf").read_bytes().startswith(b"%PDF-")

    # A file not offered, typed into the address bar.
    page.goto(f"{live.base}/admin/cycle/{world.cycle_id}/download/report.docx")
    expect(page.get_by_role("main")).to_contain_text("“report.docx”")

    # The file of S1's evaluation on a phone: the breakdown, the trail, the emails.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.base}/admin/e/{world.ev('S1')}")
    expect(page.get_by_role("heading", name="Chi tiết điểm")).to_be_visible()
    expect(page.get_by_text("Tổng điểm:", exact=False)).to_be_visible()
    expect(page.get_by_text("còn nguyên vẹn", exact=False)).to_be_visible()
    expect(page.get_by_role("heading", name="Email về phiếu đánh giá này")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 1
    expect(page.locator("main button[name=op][value=extend]")).to_have_count(0)  # the pool's
    expect(page.locator("main button[name=op][value=cancel]")).to_have_count(1)
    shot(page, artifacts, "22-admin-file-phone")
