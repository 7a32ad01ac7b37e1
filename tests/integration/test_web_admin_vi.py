"""The admin console speaks Vietnamese everywhere (issue 18): every admin page, and every
refusal an admin can reach with bad input, in vi, with no fragment marked lang="en" and
no English words left in the page.

In-process (the app's test client), on the seeded world of test_web_admin_cycles.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.integration.test_web_admin_cycles import (
    FORM,
    errors_of,
    fields_of,
    form_of,
    july,
    signed_in,
    web,
)
from tests.support import at
from tests.web_support import WebWorld, text_of
from workflow import cycle_form
from workflow.service import series as series_admin

__all__ = ["web"]  # the fixture, shared with test_web_admin_cycles

UPLOAD = "/admin/series/upload"
# Words of English that no Vietnamese sentence has (ids, keys and file names aside).
ENGLISH = re.compile(r"\b(the|is|not|and|with|cannot|was|were|this|file|before|after|"
                     r"open|opened|already|nothing|must|save|upload|line|warning)\b", re.I)
# What a page may show as it is in both languages: keys of the cycle file, ids, file
# names, the language switch (it is named in its own language, English).
# The sample cycle file's own words (an admin's text, shown as they wrote it): none in
# English any more (its day off is named in Vietnamese, as the agency writes it).
DATA: tuple[str, ...] = ()
AS_WRITTEN = re.compile(r"[A-Za-z_][\w-]*(\.[\w\[\]-]+)+|`[^`]*`|\{[^}]*\}|\b[A-Z_]{2,}\w*\b")


def vietnamese_only(html: str, where: str) -> None:
    """No fragment marked English and no English words, but the language switch."""
    page = re.sub(r'<(a|button)[^>]*(hreflang="en"|class="lang-switch")[^>]*>.*?</\1>', "",
                  html, flags=re.S)
    assert 'lang="en"' not in page, (where, page[page.index('lang="en"') - 300:][:600])
    text = text_of(page)
    for written in DATA:
        text = text.replace(written, " ")
    text = AS_WRITTEN.sub(" ", text)
    found = ENGLISH.findall(text)
    if found:
        at_word = ENGLISH.search(text)
        assert at_word is not None
        start = max(at_word.start() - 200, 0)
        raise AssertionError(f"{where}: English {found[:8]} in …{text[start:start + 400]}…")


def upload(client: TestClient, w: WebWorld, name: str, raw: bytes, replace: bool = False
           ) -> str:
    token = w.csrf(client, "/admin/series")
    data = {"csrf_token": token, **({"replace": "1"} if replace else {})}
    page = client.post(UPLOAD, data=data, files={"series_file": (name, raw, "application/yaml")})
    return page.text



def series_text(w: WebWorld) -> str:
    return (w.svc.settings.config_dir / "series" / "snv-2026.yaml").read_text("utf-8")


def test_every_admin_page_is_in_vietnamese(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    for path in ("/admin", "/admin/cycles", "/admin/cycles/new",
                 "/admin/cycles/new?copy=sample-2026-07.yaml",
                 "/admin/cycles/edit/sample-2026-07.yaml", "/admin/series"):
        page = admin.get(path)
        assert page.status_code == 200, (path, page.status_code)
        vietnamese_only(page.text, path)
    # The preview of the calendar (phases, month grids, emails by day).
    page = admin.post(FORM, data=july(web, admin, op="check"))
    assert page.status_code == 200, text_of(page.text)[:500]
    vietnamese_only(page.text, "preview")


REFUSALS = {
    "31-april": {"period.end": "31/04/2026"},
    "due-before-opens": {"phases.self_assessment.opens": "05/08/2026 08:00",
                         "phases.self_assessment.due.working_days": "",
                         "phases.self_assessment.due": "04/08/2026 17:00"},
    "reminder-after-deadline": {"reminders[1].working_days_before": "0",
                                "reminders[1].at": "18:00"},
    "open-id": {"id": "snv-2026-04"},
    "unknown-unit": {"population.units": "VP, KHONG-CO"},
    "year-end-on-a-month": {"year_end.special_agency": "1"},
}


def test_every_refusal_of_the_cycle_form_is_in_vietnamese(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    for case, changes in REFUSALS.items():
        page = admin.post(FORM, data=july(web, admin, op="check", **changes))
        assert page.status_code in (200, 422), (case, text_of(page.text)[:500])
        vietnamese_only(page.text, case)
        # Something was said: a field's problem, a note, or the population's problems.
        assert errors_of(page.text) or "error-summary" in page.text \
            or "field-note" in page.text or 'class="notice"' in page.text, case
    unknown = text_of(admin.post(FORM, data=july(web, admin, op="check",
                                                 **REFUSALS["unknown-unit"])).text)
    assert "đơn vị 'KHONG-CO' không có trong tổ chức" in unknown


def test_every_refusal_of_the_series_upload_is_in_vietnamese(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    text = series_text(web).replace("id: snv-2026 ", "id: snv2-2026 ")
    cases = {
        # Saved from Excel/Notepad as Windows Vietnamese: "Sở" is not UTF-8.
        "cp1258.yaml": text.encode("cp1258", errors="replace"),
        "utf16.yaml": text.encode("utf-16"),
        "unknown-key.yaml": text.replace("every: month", "every: month\nevrey: month")
        .encode("utf-8"),
        # The same cycle ids as snv-2026.yaml (the file that has them already).
        "clash.yaml": series_text(web).encode("utf-8"),
    }
    for name, raw in cases.items():
        page = upload(admin, web, name, raw)
        vietnamese_only(page, name)
        assert "không được giữ lại" in text_of(page) or "cần sửa" in text_of(page), name
        assert not (web.svc.settings.config_dir / "series" / name).exists(), name
    clash = text_of(upload(admin, web, "clash.yaml", cases["clash.yaml"]))
    assert "snv-2026-01" in clash and "snv-2026.yaml" in clash, clash[:2000]
    cp1258 = text_of(upload(admin, web, "cp1258.yaml", cases["cp1258.yaml"]))
    assert "cp1258.yaml, dòng" in cp1258 and "UTF-8" in cp1258


def test_a_failed_schedule_says_why_in_vietnamese(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    # A series of other cycle ids whose admin has left the organisation: scheduled, it
    # fails on its date (the population is checked when a period opens).
    text = series_text(web).replace("id: snv-2026 ", "id: snv2-2026 ") \
        .replace("admins: [SNV060]", "admins: [SNV060, SNV999]")
    page = upload(admin, web, "snv2-2026.yaml", text.encode("utf-8"))
    assert "không có lỗi" in text_of(page), text_of(page)[:1500]
    token = web.csrf(admin, "/admin/series")
    admin.post("/admin/series", data={"csrf_token": token, "op": "confirm_schedule",
                                      "file": "snv2-2026.yaml"})
    done = series_admin.open_due(web.svc, at("2026-08-04 09:00"))
    assert done and all(outcome != series_admin.OPENED for _c, outcome in done)
    # The command line keeps its English reason.
    assert "'SNV999' is not in the organisation" in done[0][1]
    page = admin.get("/admin/series")
    vietnamese_only(page.text, "failed schedule")
    assert "admins[1]: 'SNV999' không có trong tổ chức" in text_of(page.text)


def test_the_form_shows_dates_as_its_hint_asks_for_them(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    for lang in ("vi", "en"):
        admin.cookies.set("kpi_lang", lang)
        fields = form_of(web, admin, "/admin/cycles/edit/sample-2026-07.yaml")
        assert fields["period.start"] == "01/07/2026", fields["period.start"]
        assert fields["period.end"] == "31/07/2026"
        assert not any(re.search(r"\d{4}-\d{2}-\d{2}", v) for v in fields.values()), lang
    # What the form shows, posted back, is the file's data again.
    data = cycle_form.from_form(fields)
    assert data.problems == {} and data.data["period"]["start"] == "2026-07-01"


def test_the_year_end_keys_are_in_the_form_with_the_checks_words(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    fields = july(web, admin, op="check", **{"year_end.decision": "Quyết định 12/QĐ"})
    page = admin.post(FORM, data=fields)
    assert page.status_code == 422
    problems = errors_of(page.text)
    # The words of `kpi cycle check`, in Vietnamese, beside their field.
    assert "year_end" in problems.get("f-year_end-special_agency", "") + \
        problems.get("f-year_end-decision", ""), problems
    # Round trip: a file's year_end keys come back in the form.
    values = cycle_form.to_form({**cycle_form.new_cycle_data(),
                                 "year_end": {"special_agency": True, "decision": "QĐ 7"}})
    assert values["year_end.special_agency"] == "1" and values["year_end.decision"] == "QĐ 7"
    back = cycle_form.from_form(values).data
    assert back["year_end"] == {"special_agency": True, "decision": "QĐ 7"}
    assert "year_end" not in cycle_form.from_form(cycle_form.to_form(
        cycle_form.new_cycle_data())).data
    assert fields_of(page.text)["year_end.decision"] == "Quyết định 12/QĐ"


def test_the_preview_warns_once_when_the_year_end_cannot_finish_in_time(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    year = {"id": "snv-2026-nam", "period.kind": "year", "period.start": "01/01/2026",
            "period.end": "30/11/2026", "phases.self_assessment.opens": "21/12/2026 08:00",
            "phases.appeal_review.due": "", "phases.appeal_review.due.working_days": "10"}
    page = admin.post(FORM, data=july(web, admin, op="check", **year))
    assert page.status_code == 200, errors_of(page.text) or text_of(page.text)[:800]
    text = text_of(page.text)
    # Said once (the preview listed its warnings twice before).
    assert text.count("không thể hoàn thành trước 2026-12-15") == 1, text[-3000:]
    vietnamese_only(page.text, "year-end warning")
    # A special agency (15 January) with its decision: the warning names that limit.
    page = admin.post(FORM, data=july(web, admin, op="check", **year, **{
        "year_end.special_agency": "1", "year_end.decision": "Quyết định 12/QĐ-UBND"}))
    assert page.status_code == 200, errors_of(page.text)
    assert text_of(page.text).count("không thể hoàn thành trước 2027-01-15") == 1
