"""Exports, records and the file of an evaluation from the admin console (issue 18,
items 4 and 5), through the web app on a real SQLite file and a real SMTP server.

The world: the small cycle; S1 ("Phạm "Lan" <b>Thị</b>", Vietnamese) self-assessed with
a note in markup, both peers answered, and H1 scored exactly 89.995 ("well completed",
shown 89.99); S3's address is refused by the mail server (a dead letter); A1 (Vietnamese)
administers the cycle; UB1 is in the organisation but not in the cycle.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.conftest import make_settings
from tests.support import DATA, World, at
from tests.web_support import WebWorld, confirmed, make_web, text_of
from workflow.domain import State, Trigger
from workflow.service import admin_exports, records, report_cache
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.db import Store
from workflow.store.tables import AUDIT, REPORT_CHUNK, REPORT_FILE
from workflow.web.security import LANG_COOKIE

HOSTILE = 'Phạm "Lan" <b>Thị</b>'
NOTE = '<script>alert("x")</script> Đã hoàn thành & gửi'
RUBRIC = ("political_quality", "competence_attitude", "innovation")
REFUSED = "mai@snv.example.gov.vn"  # S3's address


def score_payload() -> dict[str, Any]:
    """8.12 + 8.12 + 8.13 + tasks 65.625 = exactly 89.995 (tests/integration/
    test_score_display.py has the arithmetic)."""
    items = [{"title": f"Báo cáo <i>\"{i + 1}\"</i>", "completed": True,
              "meets_requirements": True, "failed_assessments": 0,
              "delays": 1 if i < 3 else 0} for i in range(4)]
    return {"criteria": {c: {"points": p} for c, p in zip(RUBRIC, ("8.12", "8.12", "8.13"),
                                                          strict=True)},
            "ratios": {}, "tasks": items, "comment": "Tốt <b>lắm</b>"}


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, schema_template: Path,
        smtp: RecordingServer) -> Iterator[WebWorld]:
    folder = tmp_path_factory.mktemp("adminfiles")
    path = folder / "kpi.sqlite3"
    shutil.copy(schema_template, path)
    url = f"sqlite:///{path}"
    svc = Service(Store(url), make_settings(url, smtp_port=smtp.port))
    org = (DATA / "small_org.csv").read_text(encoding="utf-8")
    assert "S1,Phạm Thị Lan," in org
    org_file = folder / "org.csv"
    org_file.write_text(org.replace("S1,Phạm Thị Lan,", 'S1,"Phạm ""Lan"" <b>Thị</b>",'),
                        encoding="utf-8")
    import_org(svc, org_file, now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    smtp.script.rcpt_replies[REFUSED] = ["550 5.1.1 no such mailbox"]
    assert send_due(svc, now=at("2026-05-04 08:00")).dead == 1
    self_payload = {k: v for k, v in score_payload().items() if k != "comment"}
    w.fire("S1", Trigger.SUBMIT_SELF_ASSESSMENT, "S1", {**self_payload, "note": NOTE})
    w.answer_peers("S1")
    w.fire("S1", Trigger.SUBMIT_SCORE, "H1", score_payload(), when="2026-05-12 09:00")
    assert w.state("S1") is State.CALIBRATION
    assert Decimal(w.row("S1")["score"]) == Decimal("89.995")
    made = make_web(w)
    made.clock.set("2026-05-12 10:00")
    yield made
    svc.store.dispose()


@pytest.fixture(scope="module")
def admin(web: WebWorld) -> TestClient:
    return web.sign_in("A1")


def kept_files(web: WebWorld, artefact: str) -> list[int]:
    with web.svc.store.read() as s:
        return [int(i) for i in s.execute(select(REPORT_FILE.c.id).where(
            REPORT_FILE.c.artefact == artefact).order_by(REPORT_FILE.c.id)).scalars()]


def test_the_exports_page_offers_every_file_and_says_which_are_ready(
        web: WebWorld, admin: TestClient) -> None:
    page = admin.get(f"/admin/cycle/{web.world.cycle_id}/exports")
    assert page.status_code == 200
    for artefact in report_cache.DOWNLOADS:
        assert f"/download/{artefact}\"" in page.text
    assert "/admin/dead-letters.csv" in page.text
    assert text_of(page.text).count("chuẩn bị khi Anh/Chị tải") >= 7, text_of(page.text)
    dashboard = admin.get("/admin")
    assert f"/admin/cycle/{web.world.cycle_id}/exports" in dashboard.text


def test_each_report_format_downloads_with_the_vietnamese_file_name_and_the_shown_score(
        web: WebWorld, admin: TestClient) -> None:
    cycle = web.world.cycle_id
    base = f"/admin/cycle/{cycle}/download"
    xlsx = admin.get(f"{base}/report.xlsx")
    assert xlsx.status_code == 200, text_of(xlsx.text)
    disposition = xlsx.headers["content-disposition"]
    assert disposition == (f"attachment; filename=\"bao-cao-{cycle}.xlsx\"; "
                           f"filename*=UTF-8''{quote('báo-cáo')}-{cycle}.xlsx")
    assert xlsx.headers["cache-control"] == "no-store"
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True)["P1"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    s1 = next(r for r in rows if "S1" in r)
    assert HOSTILE in s1 and 89.99 in s1 and 89.995 not in s1
    table = admin.get(f"{base}/report.csv")
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    body = table.content.decode("utf-8-sig")
    s1_row = next(r for r in csv.reader(io.StringIO(body)) if "S1" in r)
    # In the page's language: the figure as the Vietnamese pages write it.
    assert HOSTILE in s1_row and "89,99" in s1_row and "89.99" not in s1_row
    assert "89.995" not in body and "89,995" not in body
    page = admin.get(f"{base}/report.html")
    assert page.headers["content-type"].startswith("text/html")
    assert "<b>Thị</b>" not in page.text and "<!doctype html>" in page.text.lower()
    pdf = admin.get(f"{base}/report.pdf")
    assert pdf.content.startswith(b"%PDF-") and pdf.headers["content-type"] == "application/pdf"
    assert int(pdf.headers["content-length"]) == len(pdf.content)


def test_a_second_download_is_the_kept_file_and_any_change_gives_a_new_one(
        web: WebWorld, admin: TestClient, tmp_path: Path) -> None:
    path = f"/admin/cycle/{web.world.cycle_id}/download/report.csv"
    first = admin.get(path).content
    kept = kept_files(web, "report.csv")
    assert admin.get(path).content == first and kept_files(web, "report.csv") == kept
    ready = admin.get(f"/admin/cycle/{web.world.cycle_id}/exports")
    assert "sẵn sàng" in text_of(ready.text)
    # A change on the record (a deadline moved) is a new state: the file is built again.
    records.extend(web.svc, web.world.ev("S2"), at("2026-05-20 17:00"), "ốm", "D1", "A1",
                   now=at("2026-05-12 10:00"))
    again = admin.get(path).content
    now_kept = kept_files(web, "report.csv")
    assert len(now_kept) == 2 and now_kept[0] == kept[-1] and now_kept[1] > kept[-1]
    s2 = next(r for r in csv.reader(io.StringIO(again.decode("utf-8-sig"))) if "S2" in r)
    assert s2[-2] == "có", s2  # "extended": the rebuilt report has the change
    # A name corrected in the organisation file is a new state too.
    org = (DATA / "small_org.csv").read_text(encoding="utf-8")
    org = org.replace("S1,Phạm Thị Lan,", 'S1,"Phạm ""Lan"" <b>Thị</b>",')
    renamed = tmp_path / "org.csv"
    renamed.write_text(org.replace("Hoàng Văn Nam", "Hoàng Văn Nam Mới"), encoding="utf-8")
    import_org(web.svc, renamed, now=at("2026-05-12 10:00"))
    assert "Hoàng Văn Nam Mới" in admin.get(path).content.decode("utf-8-sig")
    # The report page reads its kept fragment the same way.
    report = f"/admin/cycle/{web.world.cycle_id}/report"
    assert admin.get(report).status_code == 200
    fragments = kept_files(web, "fragment.html")
    assert admin.get(report).status_code == 200 and kept_files(web, "fragment.html") == fragments


def test_the_decision_lists_and_the_dead_letters_download_as_csv(
        web: WebWorld, admin: TestClient) -> None:
    base = f"/admin/cycle/{web.world.cycle_id}/download"
    for which in ("not-completed", "excellent", "training"):
        got = admin.get(f"{base}/list-{which}.csv")
        assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
        header = next(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert "Mã công chức" in header and "employee_id" not in header
    dead = admin.get("/admin/dead-letters.csv")
    assert dead.status_code == 200
    assert "filename*=UTF-8''email-kh%C3%B4ng-g%E1%BB%ADi-%C4%91%C6%B0%E1%BB%A3c.csv" \
        in dead.headers["content-disposition"], dead.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(dead.content.decode("utf-8-sig"))))
    (row,) = rows
    assert row["failed_address"] == REFUSED and row["recipient_id"] == "S3"
    assert row["current_address"] == REFUSED and "550" in row["last_error"]


def test_a_persons_record_downloads_as_pdf_and_html(web: WebWorld, admin: TestClient) -> None:
    path = f"/admin/cycle/{web.world.cycle_id}/record"
    html = admin.get(path, params={"person": " S1 ", "format": "html"})
    assert html.status_code == 200, text_of(html.text)
    disposition = html.headers["content-disposition"]
    # Quotes, slashes and brackets out; the Vietnamese letters kept where they can be.
    assert 'filename="ho-so-S1-Pham_Lan_bThib.html"' in disposition, disposition
    assert f"filename*=UTF-8''{quote('hồ-sơ-S1-Phạm Lan bThịb.html')}" in disposition
    assert "<b>Thị</b>" not in html.text and "&lt;b&gt;Thị&lt;/b&gt;" in html.text
    assert "Tổng điểm: 89,99/100" in text_of(html.text)
    pdf = admin.get(path, params={"person": "S1", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"person": "   ", "format": "pdf"}, "person", "bắt buộc"),
    ({"person": "X9<b>", "format": "pdf"}, "person", "X9<b>"),
    ({"person": "UB1", "format": "pdf"}, "person", "UB1 không có đánh giá"),
    ({"person": "S1", "format": "docx"}, "format", "“docx”"),
    ({"person": "S" * 65, "format": "pdf"}, "person", "64"),
])
def test_a_bad_record_request_comes_back_on_the_page_next_to_its_field(
        web: WebWorld, admin: TestClient, params: dict[str, str], field: str, says: str
        ) -> None:
    got = admin.get(f"/admin/cycle/{web.world.cycle_id}/record", params=params)
    assert got.status_code == 422
    assert f'id="e-f-{field}"' in got.text
    assert says in text_of(got.text), text_of(got.text)[:800]
    assert "X9<b>" not in got.text  # what was typed is shown escaped


def test_unknown_cycles_formats_and_people_outside_the_admins_cycles_are_refused(
        web: WebWorld, admin: TestClient) -> None:
    unknown = admin.get("/admin/cycle/no-such-cycle/download/report.csv")
    assert unknown.status_code == 404 and "no-such-cycle" in text_of(unknown.text)
    assert admin.get("/admin/cycle/no-such-cycle/exports").status_code == 404
    docx = admin.get(f"/admin/cycle/{web.world.cycle_id}/download/report.docx")
    assert docx.status_code == 404
    assert "“report.docx”" in text_of(docx.text) and "report.xlsx" in text_of(docx.text)
    fragment = admin.get(f"/admin/cycle/{web.world.cycle_id}/download/fragment.html")
    assert fragment.status_code == 404
    # Someone who administers nothing: no page, no file, no list of failed addresses.
    staff = web.sign_in("H1")  # a supervisor, who administers nothing
    for path in (f"/admin/cycle/{web.world.cycle_id}/exports",
                 f"/admin/cycle/{web.world.cycle_id}/download/report.csv",
                 f"/admin/cycle/{web.world.cycle_id}/record?person=S1",
                 "/admin/dead-letters.csv", f"/admin/e/{web.world.ev('S1')}"):
        refused = staff.get(path)
        assert refused.status_code == 403, path
        assert "content-disposition" not in refused.headers
    assert web.client_for().get("/admin/dead-letters.csv").status_code == 401
    with web.svc.store.read() as s, pytest.raises(admin_exports.NotAnAdmin):
        admin_exports.person_in_scope(web.svc, s, "S2", "S1")


def test_the_file_of_an_evaluation_shows_breakdown_submissions_audit_and_emails(
        web: WebWorld, admin: TestClient) -> None:
    ev = web.world.ev("S1")
    page = admin.get(f"/admin/e/{ev}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Tổng điểm: 89,99/100" in text and "Tổng điểm: 90,00" not in text
    assert 'Báo cáo <i>"1"</i>' in text and '<i>"1"</i>' not in page.text
    assert "Xếp loại: Hoàn thành tốt nhiệm vụ" in text
    assert NOTE in text and "<script>" not in page.text and "<b>lắm</b>" not in page.text
    assert "Tốt <b>lắm</b>" in text  # the supervisor's comment, escaped
    assert text.count("một đồng nghiệp (ẩn danh)") >= 2  # the peers' submissions and rows
    peers = web.world.peers_of("S1")
    assert all(f"{p} (đồng nghiệp)" not in text for p in peers)
    assert "còn nguyên vẹn" in text
    assert "nhiệm vụ tự đánh giá" in text  # the task emails, with their delivery
    # Calibration: the pool's deadline and no task email of its own; cancel and reassign.
    assert 'value="reassign_supervisor"' in page.text and 'value="cancel"' in page.text
    assert 'value="extend"' not in page.text and 'value="resend"' not in page.text
    english = web.client_for()  # the same admin's session, the page in English
    for cookie in admin.cookies.jar:
        english.cookies.set(cookie.name, cookie.value or "", domain=cookie.domain)
    english.cookies.set(LANG_COOKIE, "en", domain=next(iter(admin.cookies.jar)).domain)
    text = text_of(english.get(f"/admin/e/{ev}").text)
    assert "Total: 89.99 of 100" in text and "a peer (anonymous)" in text


def test_a_changed_audit_row_is_named_on_the_file(web: WebWorld, admin: TestClient) -> None:
    ev = web.world.ev("S3")
    with web.svc.store.write() as s:
        seq = s.execute(select(func.max(AUDIT.c.seq)).where(AUDIT.c.evaluation_id == ev)
                        ).scalar_one()
        reason = s.execute(select(AUDIT.c.reason).where(AUDIT.c.seq == seq)).scalar()
        s.execute(update(AUDIT).where(AUDIT.c.seq == seq).values(reason="sửa lén"))
    try:
        text = text_of(admin.get(f"/admin/e/{ev}").text)
        assert f"Mục {seq} của nhật ký" in text, text
        assert "còn nguyên vẹn" not in text
    finally:
        with web.svc.store.write() as s:
            s.execute(update(AUDIT).where(AUDIT.c.seq == seq).values(reason=reason))


def test_a_closed_evaluation_offers_no_action_and_a_cancel_takes_the_confirmation_step(
        web: WebWorld, admin: TestClient) -> None:
    ev = web.world.ev("S4")
    path = f"/admin/e/{ev}"
    token = web.csrf(admin, path)
    done = confirmed(admin, path, {"op": "cancel", "cancel_reason": "chuyển công tác",
                                   "csrf_token": token})
    assert done.status_code == 200 and web.world.state("S4") is State.CANCELLED
    page = admin.get(path)
    assert "Không còn gì: đánh giá đã đóng." in text_of(page.text)
    assert 'name="op"' not in page.text


def test_a_large_cycles_first_build_runs_in_the_background_and_the_page_says_so(
        web: WebWorld, admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_cache, "INLINE_LIMIT", 0)  # the small cycle counts as large
    records.extend(web.svc, web.world.ev("S2"), at("2026-05-21 17:00"), "ốm", "D1", "A1",
                   now=at("2026-05-12 11:00"))  # a new state: nothing kept for it yet
    path = f"/admin/cycle/{web.world.cycle_id}/download/list-excellent.csv"
    first = admin.get(path)
    assert first.status_code in (200, 202)
    if first.status_code == 202:  # the thread may already be done: both are right
        assert "content-disposition" not in first.headers
        assert "Đang chuẩn bị tệp" in text_of(first.text)
    report_cache.wait(web.world.cycle_id, "list-excellent.csv")
    done = admin.get(path)
    assert done.status_code == 200 and "content-disposition" in done.headers


@pytest.mark.both_stores
def test_a_kept_export_round_trips_through_the_store(new_service: Any, tmp_path: Path) -> None:
    """LargeBinary chunks and RETURNING on both databases; an export of more than one
    chunk comes back whole and in order."""
    from tests.support import small_world

    svc: Service = new_service()
    w = small_world(svc)
    now = at("2026-05-05 09:00")  # (a deadline passing later is a new state: late)
    first = report_cache.kept(svc, w.cycle_id, "report.html", "en", now=now)
    assert first.built_now and first.chunks == 1
    again = report_cache.kept(svc, w.cycle_id, "report.html", "en", now=now)
    assert again.id == first.id and not again.built_now
    data = b"".join(report_cache.chunks(svc, again))
    assert len(data) == first.size and data.startswith(b"<!doctype html>")
    big = bytes(range(256)) * (report_cache.CHUNK_BYTES // 128 + 3)  # 2 chunks and a bit
    with svc.store.write() as s:
        s.execute(update(REPORT_CHUNK).where(REPORT_CHUNK.c.file_id == first.id)
                  .values(data=big[:report_cache.CHUNK_BYTES]))
        s.execute(REPORT_CHUNK.insert().values(
            file_id=first.id, seq=1, data=big[report_cache.CHUNK_BYTES:]))
        s.execute(update(REPORT_FILE).where(REPORT_FILE.c.id == first.id)
                  .values(chunks=2, size=len(big)))
    reread = report_cache.kept(svc, w.cycle_id, "report.html", "en", now=now)
    assert b"".join(report_cache.chunks(svc, reread)) == big
