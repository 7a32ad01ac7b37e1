"""What people read on the admin's calendar and upload pages, in Debian's chromium.

One world seeded for the module (the small organisation, its April cycle open, a config
folder of its own), copied per test; one browser for the module, as UB1 (an admin of
the whole deployment):

- the cycle form's month grid on a 390 px phone, in English and Vietnamese: no word
  of a day's cell broken inside itself ("weeke nd"), nothing to scroll sideways, and
  the English holiday names' dates written as the English pages write dates;
- the file fields of the organisation import and the series upload: the words are
  the catalogue's ("Choose a file", "No file chosen" in the page's language, never
  Chromium's own English), the input is reached by the keyboard and shows its focus,
  the chosen file's name is shown, and the form uploads without any script.

Every stop: axe at 1280 and 390 px (no serious or critical violation), nothing to
scroll sideways on the phone, the page's ``lang``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.admin_site import admin_site, seed_admin_folder
from tests.e2e.conftest import LiveServer
from tests.e2e.test_accessibility import Tour, _Sessions, screenshots
from tests.support import DATA
from workflow.service.core import Service

pytestmark = pytest.mark.browser

ADMIN = "UB1"
# Each word of a day's cell that the browser laid out on more than one line: a word is
# a run of letters and digits (a hyphen or a slash may end a line, as in
# "Self-assessment" or "Liberation Day/Reunification Day").
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('table.month td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(/[^\\s\\-\\/()]+/gu)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects())
                             .filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""
# What the month grid's cells hold at their widest, by the page's language.
GRID_WORDS = {"en": ("weekend", "Day off (substituted from 22 Aug 2026)", "National Day"),
              "vi": ("cuối tuần", "Ngày nghỉ (thay cho ngày 22/08/2026)", "Quốc khánh")}
CHECK = {"vi": "Kiểm tra và xem lịch", "en": "Check and show the calendar"}
COPY = {"vi": "Sao chép t-2026-04.yaml", "en": "Copy t-2026-04.yaml"}
CHOOSE = {"vi": "Chọn tệp", "en": "Choose a file"}
NONE_CHOSEN = {"vi": "Chưa chọn tệp nào", "en": "No file chosen"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, schema_template: Path) -> Path:
    """The small organisation with its April cycle open, and a config folder of its own
    (the pages write into it); seeded once for the module."""
    return seed_admin_folder(tmp_path_factory.mktemp("words"), schema_template, ADMIN, series=True)


@dataclass
class Site:
    svc: Service
    live: LiveServer
    sessions: _Sessions
    folder: Path


@pytest.fixture
def site(seeded: Path, tmp_path: Path) -> Iterator[Site]:
    with admin_site(seeded, tmp_path, ADMIN, "2026-08-10 09:00") as (svc, live, sessions):
        yield Site(svc, live, sessions, tmp_path)


def test_the_month_grid_keeps_its_words_whole_on_a_phone(page: Page, site: Site) -> None:
    """An August cycle: its grid holds the weekends, Monday 31 August (off for Saturday
    22 August) and National Day, each named in a cell a seventh of a phone wide."""
    tour = Tour(page, page.context, site.live.base, screenshots())
    tour.as_person(ADMIN, site.sessions)
    for lang in ("en", "vi"):
        tour.language(lang)
        page.goto(site.live.base + "/admin/cycles")
        page.get_by_role("link", name=COPY[lang]).click()
        page.locator("#f-id").fill("t-2026-08")
        page.locator("#f-period-start").fill("01/08/2026")
        page.locator("#f-period-end").fill("31/08/2026")
        page.locator("#f-phases-self_assessment-opens").fill("26/08/2026 08:00")
        page.get_by_role("button", name=CHECK[lang]).click()
        grid = page.locator("#preview .months")
        expect(grid).to_be_visible()
        for words in GRID_WORDS[lang]:
            expect(grid).to_contain_text(words)
        assert "08/22/2026" not in grid.inner_text()
        tour.check("cycle-month-grid", lang)  # ends at the phone's width
        assert page.viewport_size == {"width": 390, "height": 844}
        if tour.shots is not None:  # the grids alone, to read them at both widths
            for width, height in ((1280, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                grid.screenshot(path=str(tour.shots / f"cycle-month-grid-{lang}-{width}-"
                                                      "grids.png"))
        assert page.evaluate(BROKEN_WORDS) == [], lang
        assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 1
        # On the phone a month is the list of its days, each named by its weekday.
        first = page.locator("table.month").first.locator("td:not(.outside)").first
        assert first.evaluate("td => getComputedStyle(td, '::before').content") == \
            ('"Sat"' if lang == "en" else '"Thứ 7"')
        page.set_viewport_size({"width": 1280, "height": 900})
        assert page.evaluate(BROKEN_WORDS) == [], (lang, 1280)
        page.set_viewport_size({"width": 390, "height": 844})
    assert not tour.problems, "\n".join(tour.problems)


def file_field(page: Page, field: str, lang: str) -> None:
    """The field's words are the catalogue's; the input is reached by Tab, shows its
    focus on the button people see, and has its label."""
    pick = page.locator(f".file-pick:has(#{field})")
    expect(pick.locator(".file-button")).to_have_text(CHOOSE[lang])
    expect(pick.locator(".file-none")).to_be_visible()
    expect(pick.locator(".file-none")).to_have_text(NONE_CHOSEN[lang])
    box = page.locator(f"#{field}")
    assert box.evaluate("el => el.tabIndex") == 0 and box.is_enabled()
    box.focus()
    outline = pick.locator(".file-button").evaluate(
        "el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline


def chosen(page: Page, field: str, name: str) -> None:
    """A file is chosen: "No file chosen" is gone and the input itself is shown, wide
    enough to show the name (the browser draws it: it is in no text of the page)."""
    pick = page.locator(f".file-pick:has(#{field})")
    expect(pick.locator(".file-none")).to_be_hidden()
    box = page.locator(f"#{field}")
    assert box.evaluate("el => el.files[0].name") == name
    shown = box.bounding_box()
    assert shown is not None and shown["width"] > 100 and shown["height"] > 10, shown


def test_the_file_fields_speak_the_pages_language_and_upload_without_script(
        browser: Browser, site: Site) -> None:
    base = site.live.base
    org = site.folder / "tổ-chức <mới>.csv"
    org.write_text((DATA / "small_org.csv").read_text(encoding="utf-8"), encoding="utf-8")
    series = site.folder / "chuỗi.yaml"
    series.write_text("not: [a, series", encoding="utf-8")
    context = browser.new_context()
    page = context.new_page()
    tour = Tour(page, context, base, screenshots())
    tour.as_person(ADMIN, site.sessions)
    for lang in ("vi", "en"):
        tour.language(lang)
        page.goto(base + "/admin/org")
        file_field(page, "f-organisation", lang)
        tour.check("org-upload-empty", lang)
        page.locator("#f-organisation").set_input_files(str(org))
        chosen(page, "f-organisation", org.name)
        tour.check("org-upload-chosen", lang)
        page.locator("form[action='/admin/org/preview'] button[type=submit]").click()
        # The file reached the server: its preview names it (the same organisation).
        expect(page.locator("#preview-h")).to_contain_text(org.name)
        page.goto(base + "/admin/series")
        file_field(page, "f-series_file", lang)
        tour.check("series-upload-empty", lang)
        page.locator("#f-series_file").set_input_files(str(series))
        chosen(page, "f-series_file", series.name)
        page.locator("form[action='/admin/series/upload'] button[type=submit]").click()
        # Refused by its content: the file was uploaded and read, and named.
        expect(page.locator("main")).to_contain_text(series.name)
        tour.check("series-upload-refused", lang)
    assert not tour.problems, "\n".join(tour.problems)
    context.close()
    # Without any script the file is chosen and posted all the same.
    bare = browser.new_context(java_script_enabled=False)
    page = bare.new_page()
    Tour(page, bare, base, None).as_person(ADMIN, site.sessions)
    page.goto(base + "/admin/org")
    expect(page.locator(".file-pick .file-button")).to_have_text(CHOOSE["vi"])
    page.locator("#f-organisation").set_input_files(str(org))
    page.locator("form[action='/admin/org/preview'] button[type=submit]").click()
    expect(page.locator("#preview-h")).to_contain_text(org.name)
    bare.close()
