"""A new hire's year-end class: the regime's minimum months worked, and what happens below it.

S4 is hired in October: the August and September cycles leave them out, October scores
them. The year-end cycle (January to October) then rests on one month for S4 and three
for everyone else. The regime (a copy of Decree 335's, its ``year_end:`` section set by
the test) asks for three months: below it, either S4 is not classified this year (the
score is refused, saying why, and nothing is stored) or classified on the month worked,
the breakdown saying it fell short of the minimum.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications.render import render
from tests.integration.test_scoring_leaders import give
from tests.mail_words import html_text
from tests.support import CONFIG, DATA, SMALL_CYCLE_PEERS, World, at, monthly_cycle_text
from tests.web_support import make_web, text_of
from workflow.cli import main
from workflow.domain import State
from workflow.errors import SubmissionInvalid
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.service.sweep import tick
from workflow.store.tables import OUTBOX

pytestmark = pytest.mark.both_stores

SMALL = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
MONTHS = {  # cycle: (period, self-assessment opens, all in scoring by, scoring time)
    "h-2026-08": ("{kind: month, start: 2026-08-01, end: 2026-08-31}", "2026-09-03 08:00",
                  "2026-09-14 18:00", "2026-09-15 10:00"),
    "h-2026-09": ("{kind: month, start: 2026-09-01, end: 2026-09-30}", "2026-10-01 08:00",
                  "2026-10-12 18:00", "2026-10-13 10:00"),
    "h-2026-10": ("{kind: month, start: 2026-10-01, end: 2026-10-31}", "2026-11-02 08:00",
                  "2026-11-12 18:00", "2026-11-13 10:00"),
}
EVERYONE = ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]
YEAR = "h-2026"


def month_text(cycle_id: str) -> str:
    period, opens, _, _ = MONTHS[cycle_id]
    return monthly_cycle_text(cycle_id, period, opens, None if cycle_id == "h-2026-10"  # hired
                              else "\"hired 1 October <b>'QĐ 12'</b>\"")  # on 1 October


def year_text(calibration: bool = True) -> str:
    text = SMALL if calibration else SMALL.replace(
        "calibration: {enabled: true, calibrator: D1}", "calibration: {enabled: false}")
    return (text.replace("id: t-2026-04", f"id: {YEAR}")
            .replace('name: "Test cycle April 2026"', 'name: "Xếp loại năm 2026 <i>"')
            .replace("{kind: month, start: 2026-04-01, end: 2026-04-30}",
                     "{kind: year, start: 2026-01-01, end: 2026-10-31}")
            .replace('opens: "2026-05-04 08:00"', 'opens: "2026-12-01 08:00"')
            .replace(SMALL_CYCLE_PEERS, "peers: {enabled: false}\nframeworks: [vn-year-end]"))


def regime_with(config: Path, year_end: str) -> None:
    """Decree 335's regime file with its ``year_end:`` section replaced."""
    path = config / "regimes" / "vn-decree-335-2025.yaml"
    text = path.read_text(encoding="utf-8")
    text, n = re.subn(r"^year_end:\n(?:  .*\n|    .*\n)+", year_end, text, flags=re.M)
    assert n == 1
    path.write_text(text, encoding="utf-8")


def play(new_service: Callable[..., Service], tmp_path: Path, year_end: str,
         calibration: bool = True) -> World:
    config = tmp_path / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    regime_with(config, year_end)
    made = new_service()
    svc = Service(made.store, replace(made.settings, config_dir=config))
    import_org(svc, DATA / "small_org.csv", now=at("2026-08-20 09:00"))
    for cycle_id, (_, opens, scored_by, scoring) in MONTHS.items():
        path = tmp_path / f"{cycle_id}.yaml"
        path.write_text(month_text(cycle_id), encoding="utf-8")
        open_cycle(svc, path, now=at(opens) - (at("2026-01-02 08:00") - at("2026-01-01 08:00")))
        w = World(svc, cycle_id)
        tick(svc, at(scored_by))
        for person in w.ids():
            give(w, person, "1", 4, when=scoring)
    tick(svc, at("2026-11-30 09:00"))  # every appeal window has closed
    path = tmp_path / "year.yaml"
    path.write_text(year_text(calibration), encoding="utf-8")
    open_cycle(svc, path, now=at("2026-11-30 10:00"))
    year = World(svc, YEAR)
    tick(svc, at("2026-12-08 18:00"))
    assert {year.state(p) for p in year.ids()} == {State.SUPERVISOR_SCORING}
    return year


NOT_CLASSIFIED = """year_end:
  min_months: 3
  below_minimum: not_classified
"""
ON_PERIODS_WORKED = """year_end:
  min_months: 3
  below_minimum: classified_on_periods_worked
"""


def test_a_hire_in_october_is_not_classified_below_the_regimes_minimum(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, NOT_CLASSIFIED)
    before = year.row("S4")
    with pytest.raises(SubmissionInvalid) as refused:
        year.score("S4", payload={}, when="2026-12-09 10:00")
    assert "not classified this year: 1 month(s) worked in the year, fewer than the 3 that " \
           "regime vn-decree-335-2025 (year_end.min_months) requires" in str(refused.value)
    assert list(refused.value.fields) == ["annual_general"]  # the form shows it there
    assert year.row("S4") == before  # nothing stored
    # Three months worked meet the minimum: classified, the breakdown says the rule.
    year.score("S1", payload={}, when="2026-12-09 10:00")
    assert (Decimal(year.row("S1")["score"]), year.row("S1")["score_class"]) == \
        (100, "excellent")
    out = CliRunner().invoke(main, ["score", "explain", str(year.ev("S1"))],
                             env={"KPI_DATABASE_URL": year.svc.settings.database_url})
    assert out.exit_code == 0, out.output
    assert "at least 3 month(s) worked for a year-end class (regime year_end.min_months): " \
           "met" in out.output
    assert "over 3 period(s) worked (3 months)" in out.output


def test_a_hire_in_october_is_classified_on_the_month_worked_where_the_regime_says_so(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, ON_PERIODS_WORKED)
    year.score("S4", payload={}, when="2026-12-09 10:00")
    assert (Decimal(year.row("S4")["score"]), year.row("S4")["score_class"]) == \
        (100, "excellent")
    en = [line.text("en") for line in explain(year.svc, year.ev("S4")).lines]
    assert "    1 month(s) worked, fewer than the 3 the regime asks for a year-end class: " \
           "classified on the periods worked, as the regime says (year_end.below_minimum)" \
        in en
    assert "      h-2026-10 (2026-10-01 to 2026-10-31): 30.00, weight 1 month(s)" in en
    out = CliRunner().invoke(main, ["score", "explain", str(year.ev("S4")), "--lang", "vi"],
                             env={"KPI_DATABASE_URL": year.svc.settings.database_url})
    assert out.exit_code == 0, out.output
    assert "1 tháng công tác, ít hơn 3 tháng" in out.output


def test_a_regime_with_a_bad_year_end_section_is_refused_naming_the_key(tmp_path: Path) -> None:
    from workflow.errors import ConfigError
    from workflow.scoring.model import load_regime

    config = tmp_path / "config"
    shutil.copytree(CONFIG / "regimes", config / "regimes")
    for bad, says in (("year_end:\n  min_months: 0\n", "min_months"),
                      ("year_end:\n  min_months: 6\n  below_minimum: skip\n",
                       "below_minimum"),
                      ("year_end:\n  min_month: 6\n", "min_month")):
        regime_with(config, bad)
        with pytest.raises(ConfigError, match=says):
            load_regime(config / "regimes" / "vn-decree-335-2025.yaml")
        shutil.copy(CONFIG / "regimes" / "vn-decree-335-2025.yaml", config / "regimes")


def test_the_score_form_says_the_new_hire_is_not_classified_this_year(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, NOT_CLASSIFIED)
    web = make_web(year)
    web.clock.set("2026-12-09 10:00")
    browser = web.sign_in("H1")
    path = f"/e/{year.ev('S4')}/score"
    page = browser.post(path, data={"comment": "Xác nhận <b>kết quả</b>", "op": "submit",
                                    "csrf_token": web.csrf(browser, path)})
    assert page.status_code == 422, text_of(page.text)[-800:]
    assert "không xếp loại năm nay: 1 tháng công tác trong năm, ít hơn 3 tháng mà Nghị định " \
           "335/2025/NĐ-CP (công chức) yêu cầu để xếp loại cuối năm" in text_of(page.text)
    assert year.state("S4") is State.SUPERVISOR_SCORING


def test_the_result_email_says_the_class_rests_on_the_months_worked(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, ON_PERIODS_WORKED, calibration=False)
    year.score("S4", payload={}, when="2026-12-09 10:00")
    year.score("S1", payload={}, when="2026-12-09 10:00")
    settings = year.svc.settings
    with year.svc.store.read() as s:
        rows = {r.evaluation_id: r for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == "result"))}
    for locale, says in (
            ("vi", "xếp loại theo 1 tháng công tác, ít hơn 3 tháng mà quy định yêu cầu để "
                   "xếp loại cuối năm"),
            ("en", "classified on 1 month(s) worked, fewer than the 3 the rules ask for a "
                   "year-end class")):
        row = rows[year.ev("S4")]
        out = render(event="result", locale=locale, timezone=row.timezone,
                     recipient_name=row.recipient_name, recipient_id=row.recipient_id,
                     context=row.context, base_url=settings.base_url,
                     templates_dir=settings.templates_dir)
        assert says in out.text, out.text
        assert says in html_text(out.html)
        three = rows[year.ev("S1")]
        other = render(event="result", locale=locale, timezone=three.timezone,
                       recipient_name=three.recipient_name, recipient_id=three.recipient_id,
                       context=three.context, base_url=settings.base_url,
                       templates_dir=settings.templates_dir)
        assert "1 month" not in other.text and "1 tháng" not in other.text


# --- the exports (issue 17, item 6d): the report and the record read as the web does ---


def kpi_in(year: World, *args: str) -> str:
    out = CliRunner().invoke(main, list(args), env={
        "KPI_DATABASE_URL": year.svc.settings.database_url,
        "KPI_CONFIG_DIR": str(year.svc.settings.config_dir)})
    assert out.exit_code == 0, out.output
    return out.output


def class_cells(year: World, tmp_path: Path, lang: str | None) -> dict[str, str]:
    """Each person's final class as the report's CSV (and XLSX) writes it."""
    import csv

    from openpyxl import load_workbook

    suffix = lang or "ids"
    out = tmp_path / f"year-{suffix}.csv"
    kpi_in(year, "report", YEAR, "--out", str(out), *(["--lang", lang] if lang else []))
    with out.open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    header = table[0]
    person = header.index("employee_id" if lang is None else
                           ("Mã công chức" if lang == "vi" else "Employee id"))
    label = header.index("final_class_label" if lang is None else
                         ("Xếp loại cuối cùng" if lang == "vi" else "Final class"))
    cells = {row[person]: row[label] for row in table[1:]}
    xlsx = tmp_path / f"year-{suffix}.xlsx"
    kpi_in(year, "report", YEAR, "--out", str(xlsx), *(["--lang", lang] if lang else []))
    book = load_workbook(xlsx, read_only=True)
    for sheet in book.worksheets[1:]:  # the summary first, then a sheet per unit
        rows = list(sheet.iter_rows(values_only=True))
        for row in rows[1:]:
            assert cells[str(row[person])] == (row[label] or ""), (sheet.title, row)
    return cells


def test_the_report_says_not_classified_with_the_months_worked_and_needed(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, NOT_CLASSIFIED)
    year.score("S1", payload={}, when="2026-12-09 10:00")
    for lang, says in ((None, "not classified this year (1 of the 3 months needed)"),
                       ("en", "not classified this year (1 of the 3 months needed)"),
                       ("vi", "không xếp loại năm nay (1 trong số 3 tháng cần có)")):
        cells = class_cells(year, tmp_path, lang)
        assert cells["S4"] == says, (lang, cells)
        assert "tháng" not in cells["S1"] and "month" not in cells["S1"], cells["S1"]
        assert cells["S1"]  # classified: the class's label
    # Cancelled by the HR administrator with that reason, as the score form asks: the
    # report still says why.
    kpi_in(year, "--now", at("2026-12-10 09:00").isoformat(), "cancel", str(year.ev("S4")),
           "--by", "A1", "--reason", "Không xếp loại năm nay: mới tuyển <b>'QĐ 12'</b>")
    assert year.state("S4") is State.CANCELLED
    assert class_cells(year, tmp_path, "vi")["S4"] == \
        "không xếp loại năm nay (1 trong số 3 tháng cần có)"
    # The HTML report lists who is below the minimum, in its language.
    page = tmp_path / "year.html"
    kpi_in(year, "report", YEAR, "--out", str(page), "--lang", "en")
    html = page.read_text(encoding="utf-8")
    row = re.search(r'<tr data-person="S4">(.*?)</tr>', html, re.S)
    assert row, html[:2000]
    assert "not classified this year (1 of the 3 months needed)" in row.group(1)
    assert 'data-person="S1"' not in html
    # The personnel record says it as the result page does, in the person's language or
    # the one asked for; someone unscored with months enough is simply not scored yet.
    for lang, says in (("en", "Not classified this year (1 of the 3 months needed)."),
                       ("vi", "Không xếp loại năm nay (1 trong số 3 tháng cần có).")):
        assert says in year_end_record(year, tmp_path, "S4", lang), lang
    s2 = year_end_record(year, tmp_path, "S2", "en")
    assert "Not scored." in s2 and "months needed" not in s2, s2


def year_end_record(year: World, tmp_path: Path, person: str, lang: str) -> str:
    """The text of the year-end evaluation's section of ``person``'s personnel record."""
    out = tmp_path / f"record-{person}-{lang}.html"
    kpi_in(year, "record", person, "--out", str(out), "--lang", lang)
    html = out.read_text(encoding="utf-8")
    section = re.search(rf'<section class="evaluation" data-evaluation="{year.ev(person)}"'
                        r'.*?</section>', html, re.S)
    assert section, html[:3000]
    return html_text(section.group(0))


def test_the_report_and_the_record_say_the_class_rests_on_the_months_worked(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, ON_PERIODS_WORKED, calibration=False)
    year.score("S4", payload={}, when="2026-12-09 10:00")
    year.score("S1", payload={}, when="2026-12-09 10:00")
    vi = class_cells(year, tmp_path, "vi")
    assert vi["S4"].endswith(" (xếp loại theo 1 tháng công tác, ít hơn 3 tháng mà quy định "
                             "yêu cầu để xếp loại cuối năm)"), vi["S4"]
    assert vi["S4"].startswith(vi["S1"])  # the same class, with the note
    en = class_cells(year, tmp_path, "en")
    assert en["S4"] == f"{en['S1']} (classified on 1 month(s) worked, fewer than the 3 the " \
                       "rules ask for a year-end class)", en
    page = tmp_path / "year.html"
    kpi_in(year, "report", YEAR, "--out", str(page), "--lang", "vi")
    row = re.search(r'<tr data-person="S4">(.*?)</tr>', page.read_text(encoding="utf-8"), re.S)
    assert row and "xếp loại theo 1 tháng công tác" in row.group(1)
    # The personnel record (HTML; the PDF prints the same page).
    record = tmp_path / "s4.html"
    kpi_in(year, "record", "S4", "--out", str(record), "--lang", "en")
    text = html_text(record.read_text(encoding="utf-8"))
    assert "classified on 1 month(s) worked, fewer than the 3 the rules ask for a year-end " \
           "class" in text, text[:3000]
    other = tmp_path / "s1.html"
    kpi_in(year, "record", "S1", "--out", str(other), "--lang", "en")
    assert "fewer than the 3" not in html_text(other.read_text(encoding="utf-8"))


# --- the unit's publication says it as the exports do ----------------------------------


def published_classes(year: World, lang: str) -> tuple[dict[str, str], str]:
    """Each member's class in P1's published list (the CSV in ``lang``, by employee id),
    and the text of the publication page S1 opens from their result email (Vietnamese)."""
    import csv
    import io

    from workflow.service import publication

    pub = publication.unit_publication(year.svc, YEAR, "P1")
    assert pub.published_at is not None
    names = {r.full_name: r.person_id for r in pub.results}
    table = list(csv.reader(io.StringIO(publication.publication_csv(pub, lang).lstrip("\ufeff"))))
    cells = {names[row[1]]: row[3] for row in table[1:]}
    with year.svc.store.read() as s:
        [mail] = s.execute(select(OUTBOX.c.context).where(
            OUTBOX.c.event == "result", OUTBOX.c.evaluation_id == year.ev("S1"))).scalars()
    web = make_web(year)
    web.clock.set("2026-12-10 10:00")
    page = web.client.get(str(mail["publication_url"]).removeprefix("http://kpi.test"))
    assert page.status_code == 200, text_of(page.text)[-600:]
    return cells, text_of(page.text)


def test_the_publication_says_not_classified_with_the_months_as_the_report_does(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, NOT_CLASSIFIED, calibration=False)
    for person in ("S1", "S2", "S3", "A1", "H1"):
        year.score(person, payload={}, when="2026-12-09 10:00")
    kpi_in(year, "--now", at("2026-12-10 09:00").isoformat(), "cancel", str(year.ev("S4")),
           "--by", "A1", "--reason", "Không xếp loại năm nay: mới tuyển <b>'QĐ 12'</b>")
    report = class_cells(year, tmp_path, "vi")
    vi, page = published_classes(year, "vi")
    assert vi["S4"] == report["S4"] == "không xếp loại năm nay (1 trong số 3 tháng cần có)"
    assert vi["S1"] == report["S1"] and "tháng" not in vi["S1"]
    assert "Đỗ Minh Quân" in page and vi["S4"] in page
    en, _ = published_classes(year, "en")
    assert en["S4"] == class_cells(year, tmp_path, "en")["S4"] == \
        "not classified this year (1 of the 3 months needed)"
    assert set(en) == set(vi) == {"S1", "S2", "S3", "S4", "A1", "H1"}


def test_the_publication_gives_the_class_on_the_months_worked_with_its_note(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    year = play(new_service, tmp_path, ON_PERIODS_WORKED, calibration=False)
    for person in ("S1", "S2", "S3", "S4", "A1", "H1"):
        year.score(person, payload={}, when="2026-12-09 10:00")
    for lang in ("vi", "en"):
        published, page = published_classes(year, lang)
        report = class_cells(year, tmp_path, lang)
        assert published["S4"] == report["S4"], (lang, published, report)
        assert published["S4"].startswith(published["S1"] + " (")
        assert ("xếp loại theo 1 tháng công tác" if lang == "vi" else
                "classified on 1 month(s) worked") in published["S4"]
        assert "xếp loại theo 1 tháng công tác, ít hơn 3 tháng" in page  # S1 reads vi
