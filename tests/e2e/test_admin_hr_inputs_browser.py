"""The admin console with an HR officer's bad inputs (issue 18), in Debian's chromium.

What the other admin browser tests leave out: each refusal in both languages, and the
whole way from a good file to a report in one session. One world is seeded for the
module (the small organisation, its April cycle open, a config folder of its own) and
copied for the test; one browser session, as UB1 (an admin of the whole deployment):

- the organisation file as Excel saves it wrongly: "CSV (Comma delimited)" in
  Windows-1258 with semicolons, "Unicode text" whose byte-order mark was lost: the
  page names the problem and the fix, in vi and in en, and nothing is applied;
- the cycle form: a day that does not exist (31/04/2026), a deadline before its phase
  opens (said once, beside the deadline, in the form's dd/mm/yyyy), a reminder after
  the deadline hour (a note), in vi and in en, the month grid's public holidays named
  in the page's language;
- then right: a good file (Excel's "CSV UTF-8", semicolons, a newcomer with markup in
  her name) previewed and applied; a May cycle built from a copy, checked, saved and
  opened; its self-assessment extended for everyone (first with a day that does not
  exist); its report downloaded (XLSX and CSV: the response's type and attachment
  name, a body that is the file).

Every stop: axe at 1280 and 390 px (no serious or critical violation), nothing to
scroll sideways, the page's ``lang``; a Vietnamese page has no English words (the
reading of tests/integration/test_web_admin_vi.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.e2e.admin_site import admin_site, seed_admin_folder
from tests.e2e.conftest import LiveServer
from tests.e2e.test_accessibility import Tour, _Sessions, screenshots
from tests.integration.test_web_admin_vi import vietnamese_only
from tests.support import DATA
from workflow.service.core import Service
from workflow.store.tables import CYCLE, EVALUATION, EXTENSION, PERSON

pytestmark = pytest.mark.browser

ADMIN = "UB1"
NEWCOMER = 'Ngô "Thị" <i>Mới</i> O\'Neil'
CYCLE_NAME = "Kỳ tháng 5 <b>\"thử\"</b> & 'HR'"
ORG_LINE = "S5,{name},moi@snv.example.gov.vn,P1,Phòng Một,Chuyên viên,specialist,H1,C,vi,false"
# What each refusal of the organisation file says, in each language: the problem and
# the fix (save the sheet as 'CSV UTF-8').
REFUSED = {
    "cp1258": {"vi": ("Windows-1258", "'CSV UTF-8'"), "en": ("Windows-1258", "'CSV UTF-8'")},
    "utf16": {"vi": ("UTF-16 không có dấu thứ tự byte", "'CSV UTF-8'"),
              "en": ("UTF-16 text without a byte-order mark", "'CSV UTF-8'")},
}
BUTTON = {
    "preview": {"vi": "Xem trước các thay đổi", "en": "Preview the changes"},
    "check": {"vi": "Kiểm tra và xem lịch", "en": "Check and show the calendar"},
    "copy": {"vi": "Sao chép t-2026-04.yaml", "en": "Copy t-2026-04.yaml"},
}
NO_SUCH_DAY = {"vi": "“31/04/2026” không phải là ngày có thật: tháng 4/2026 chỉ có 30 ngày",
               "en": "“31/04/2026” is not a date: April 2026 has 30 days"}
NOT_AFTER_OPENS = {"vi": "02/06/2026 17:00 không muộn hơn thời điểm mở (03/06/2026 08:00)",
                   "en": "02/06/2026 17:00 is not after opens (03/06/2026 08:00)"}
LATE_REMINDER = {"vi": "18:00 của ngày đến hạn không sớm hơn hạn chót (17:00)",
                 "en": "18:00 on the due day is not before the deadline (17:00)"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, schema_template: Path) -> Path:
    """The small organisation with its April cycle open, and a config folder of its own
    (the pages write into it); seeded once for the module."""
    return seed_admin_folder(tmp_path_factory.mktemp("hr"), schema_template, ADMIN)


@dataclass
class Console:
    svc: Service
    live: LiveServer
    sessions: _Sessions
    folder: Path

    def people(self) -> dict[str, str]:
        with self.svc.store.read() as s:
            return {r.id: r.full_name for r in s.execute(select(PERSON.c.id, PERSON.c.full_name))}


@pytest.fixture
def console(seeded: Path, tmp_path: Path) -> Iterator[Console]:
    with admin_site(seeded, tmp_path, ADMIN, "2026-05-20 09:00") as (svc, live, sessions):
        yield Console(svc, live, sessions, tmp_path)


def org_text(extra: str | None = None) -> str:
    text = (DATA / "small_org.csv").read_text(encoding="utf-8")
    return text + (extra + "\n" if extra else "")


def semicolons(text: str) -> str:
    """Excel's CSV in a locale whose decimal sign is the comma: values split by ';'."""
    return "\n".join(";".join(f'"{v}"' if '"' in v else v for v in split_row(line))
                     for line in text.splitlines()) + "\n"


def split_row(line: str) -> list[str]:
    return next(iter(csv.reader(io.StringIO(line))))


def test_an_hr_officers_bad_files_dates_and_deadlines_then_a_good_cycle_to_its_report(
        page: Page, console: Console) -> None:
    base = console.live.base
    tour = Tour(page, page.context, base, screenshots())
    tour.as_person(ADMIN, console.sessions)
    before = console.people()

    def stop(name: str, lang: str) -> str:
        """The tour's checks, and on a Vietnamese page no English words."""
        tour.check(name, lang)
        html = page.content()
        if lang == "vi":
            try:
                vietnamese_only(html, name)
            except AssertionError as exc:
                tour.problems.append(str(exc)[:600])
        return page.locator("main").inner_text()

    # --- the organisation file, saved wrongly, in each language -----------------------
    text = semicolons(org_text(ORG_LINE.format(name=NEWCOMER.replace('"', '""'))))
    cp1258 = console.folder / "to-chuc.csv"
    cp1258.write_bytes(text.encode("cp1258", errors="replace"))
    utf16 = console.folder / "to-chuc-unicode.txt"
    utf16.write_bytes(text.replace(";", "\t").encode("utf-16-le"))  # the mark lost
    for lang in ("vi", "en"):
        tour.language(lang)
        page.goto(base + "/admin/org")
        for kind, file in (("cp1258", cp1258), ("utf16", utf16)):
            page.locator("#f-organisation").set_input_files(str(file))
            page.get_by_role("button", name=BUTTON["preview"][lang]).click()
            problems = page.locator("#problems")
            for words in REFUSED[kind][lang]:
                expect(problems).to_contain_text(words)
            # Nothing to apply: no preview, no apply button.
            expect(page.locator("form[action$='/apply'], button:has-text('Áp dụng'), "
                                "button:has-text('Apply')")).to_have_count(0)
            stop(f"org-refused-{kind}", lang)
    assert console.people() == before

    # --- the cycle form: the mistakes, in each language -------------------------------
    for lang in ("vi", "en"):
        tour.language(lang)
        page.goto(base + "/admin/cycles")
        page.get_by_role("link", name=BUTTON["copy"][lang]).click()
        page.locator("#f-id").fill("t-2026-05")
        page.locator("#f-name").fill(CYCLE_NAME)
        page.locator("#f-period-start").fill("01/05/2026")
        page.locator("#f-period-end").fill("31/04/2026")
        page.get_by_role("button", name=BUTTON["check"][lang]).click()
        expect(page.locator("#e-f-period-end")).to_have_text(NO_SUCH_DAY[lang])
        assert page.locator("#f-period-end").get_attribute("aria-invalid") == "true"
        expect(page.locator("#f-name")).to_have_value(CYCLE_NAME)  # what was typed, kept
        stop("cycle-no-such-day", lang)

        page.locator("#f-period-end").fill("31/05/2026")
        page.locator("#f-phases-self_assessment-opens").fill("03/06/2026 08:00")
        page.locator("#f-phases-self_assessment-due-working_days").fill("")
        page.locator("#f-phases-self_assessment-due").fill("02/06/2026 17:00")
        page.get_by_role("button", name=BUTTON["check"][lang]).click()
        expect(page.locator("#e-f-phases-self_assessment-due")).to_contain_text(
            NOT_AFTER_OPENS[lang])
        said = stop("cycle-due-before-opens", lang)
        # Said once: beside the field (and in the list at the top, linking to it), not
        # again as phases out of order, and with the dates as the form writes them.
        beside = page.locator(".field-error, [id^='e-f-']").all_inner_texts()
        assert sum(NOT_AFTER_OPENS[lang] in t for t in beside) == 1, beside
        assert not re.search(r"\b2026-0\d-\d\d\b", said), said
        assert "out of order" not in said and "không theo thứ tự" not in said

        page.locator("#f-phases-self_assessment-due").fill("")
        page.locator("#f-phases-self_assessment-due-working_days").fill("3")
        page.locator("#f-reminders-0-working_days_before").fill("0")
        page.locator("#f-reminders-0-at").fill("18:00")
        page.get_by_role("button", name=BUTTON["check"][lang]).click()
        expect(page.locator("#n-f-reminders-0-at")).to_contain_text(LATE_REMINDER[lang])
        expect(page.locator("#preview")).to_be_visible()  # a note does not stop the check
        # Public holidays in the month grid by their name in the page's language.
        labour_day = {"vi": "Ngày Quốc tế Lao động", "en": "International Labor Day"}
        expect(page.locator("#preview table.month").first).to_contain_text(labour_day[lang])
        if lang == "vi":
            expect(page.locator("#preview")).not_to_contain_text("Labor Day")
        stop("cycle-late-reminder", lang)
    assert not (console.svc.settings.config_dir / "cycles" / "t-2026-05.yaml").exists()

    # --- then right: the good file, previewed and applied (vi) --------------------------
    tour.language("vi")
    good = console.folder / "to-chuc-utf8.csv"
    good.write_text(text, encoding="utf-8-sig")  # Excel's "CSV UTF-8": a mark, semicolons
    page.goto(base + "/admin/org")
    page.locator("#f-organisation").set_input_files(str(good))
    page.get_by_role("button", name=BUTTON["preview"]["vi"]).click()
    expect(page.locator("main")).to_contain_text(NEWCOMER)
    stop("org-preview", "vi")
    assert console.people() == before  # a preview applies nothing
    page.get_by_role("button", name="Áp dụng các thay đổi này").click()
    expect(page.get_by_role("status")).to_be_visible()
    stop("org-applied", "vi")
    assert console.people()["S5"] == NEWCOMER

    # --- the May cycle built, checked, saved and opened (en) ----------------------------
    tour.language("en")
    page.goto(base + "/admin/cycles")
    page.get_by_role("link", name=BUTTON["copy"]["en"]).click()
    page.locator("#f-id").fill("t-2026-05")
    page.locator("#f-name").fill(CYCLE_NAME)
    page.locator("#f-period-start").fill("01/05/2026")
    page.locator("#f-period-end").fill("31/05/2026")
    page.locator("#f-phases-self_assessment-opens").fill("01/06/2026 08:00")
    page.get_by_role("button", name=BUTTON["check"]["en"]).click()
    expect(page.locator("#preview")).to_be_visible()
    stop("cycle-preview", "en")  # leaves the page at the phone's width
    # A day's cell of the month grid on the phone: "8 emails" on at most two lines (the
    # page-wide indent of email lists once left it a letter wide, five lines high).
    lines = page.evaluate("""() => Array.from(document.querySelectorAll(
        'table.month .mails')).map(el => {
          const range = document.createRange(); range.selectNodeContents(el);
          const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
          return [el.textContent.trim(), tops.size]; })""")
    assert lines and all(n <= 2 for _text, n in lines), [x for x in lines if x[1] > 2]
    page.get_by_role("button", name="Save and open the cycle").click()
    stop("cycle-confirm-open", "en")
    page.get_by_role("button", name="Yes, open the cycle").click()
    expect(page.locator("main")).to_contain_text("t-2026-05")
    stop("cycle-opened", "en")
    with console.svc.store.read() as s:
        opened = s.execute(select(func.count()).select_from(EVALUATION)
                           .where(EVALUATION.c.cycle_id == "t-2026-05")).scalar_one()
        name = s.execute(select(CYCLE.c.name).where(CYCLE.c.id == "t-2026-05")).scalar_one()
    assert opened == 8 and name == CYCLE_NAME  # the newcomer is in it

    # --- its self-assessment extended for everyone (vi) ---------------------------------
    tour.language("vi")
    page.goto(base + "/admin/bulk")
    extend = page.locator("form:has(input[value=extend])")
    extend.locator("#f-extend-cycle").select_option("t-2026-05")
    extend.locator("#f-extend-phase").select_option("self_assessment")
    extend.locator("#f-extend-new_due").fill("31/04/2026")
    extend.locator("#f-extend-reason").fill('Nghỉ lễ <b>"30/4"</b>')
    extend.locator("button[type=submit]").click()
    expect(page.locator("#e-f-extend-new_due")).to_have_text(NO_SUCH_DAY["vi"])
    stop("bulk-no-such-day", "vi")
    page.locator("#f-extend-new_due").fill("10/06/2026 17:00")
    page.locator("form:has(input[value=extend]) button[type=submit]").click()
    stop("bulk-preview", "vi")
    page.locator("form[action='/admin/bulk/apply'] button[type=submit]").click()
    expect(page.get_by_role("status")).to_contain_text("8")
    stop("bulk-done", "vi")
    with console.svc.store.read() as s:
        extended = s.execute(select(func.count()).select_from(EXTENSION).join(
            EVALUATION, EVALUATION.c.id == EXTENSION.c.evaluation_id)
            .where(EVALUATION.c.cycle_id == "t-2026-05")).scalar_one()
    assert extended == 8

    # --- its report downloaded (XLSX by clicking, CSV by its response) ------------------
    for lang in ("vi", "en"):
        tour.language(lang)
        page.goto(base + "/admin/cycle/t-2026-05/exports")
        stop("exports", lang)
        with page.expect_download() as got:
            page.locator("a[href$='/download/report.xlsx']").click()
        saved = console.folder / f"report-{lang}.xlsx"
        got.value.save_as(saved)
        assert got.value.suggested_filename == ("báo-cáo-t-2026-05.xlsx" if lang == "vi"
                                                else "report-t-2026-05.xlsx")
        sheets = load_workbook(saved, read_only=True).sheetnames
        assert "P1" in sheets, sheets
        for artefact, kind in (("report.xlsx", "spreadsheetml"), ("report.csv", "text/csv")):
            answer = page.request.get(f"{base}/admin/cycle/t-2026-05/download/{artefact}")
            assert answer.status == 200, (artefact, answer.status)
            assert kind in answer.headers["content-type"], answer.headers
            disposition = answer.headers["content-disposition"]
            assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
            body = answer.body()
            assert len(body) > 200, (artefact, len(body))
            if artefact.endswith(".csv"):
                rows = body.decode("utf-8-sig").splitlines()
                assert len(rows) == 1 + 8 and any(NEWCOMER in r or "S5" in r for r in rows)
            else:
                assert body.startswith(b"PK")  # a zip: the workbook itself

    assert len(tour.seen) >= 20, tour.seen
    assert not tour.problems, "\n".join(tour.problems)
