"""One evaluation reads the same on every surface: web pages, emails, `kpi score explain`
(text and JSON), `kpi act`, CSV, XLSX, `kpi record` (HTML) and `kpi cycle list`.

Two evaluations of the small world, scored through `kpi act`:
- S1 (Vietnamese): 8.12 + 8.12 + 8.13 + tasks 65.625 = exactly 89.995: "well completed"
  (the class is decided on the exact total), shown 89.99 (never 90.00), its task line
  65.62 so that the lines add up to the shown total;
- S2 (English): 8 + 8 + 7.5 + tasks 65.625 = 89.125: shown 89.13, the task line 65.63.
Four task items, all completed and meeting the requirements, three delays between them:
progress 13/16, tasks 70 x (1 + 1 + 13/16) / 3 = 65.625.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from notifications.render import render
from tests.conftest import make_settings
from tests.support import DATA, SMALL_CYCLE_PEERS, World, at
from tests.web_support import make_web, text_of
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.db import Store
from workflow.store.tables import OUTBOX

RUBRIC = ("political_quality", "competence_attitude", "innovation")
# What every surface must show: total, class (vi, en), each line (criterion: points).
EXPECTED = {
    "S1": {"total": "89.99", "class": ("Hoàn thành tốt nhiệm vụ", "Well completed"),
           "lines": {"political_quality": "8.12", "competence_attitude": "8.12",
                     "innovation": "8.13", "tasks": "65.62"}},
    "S2": {"total": "89.13", "class": ("Hoàn thành tốt nhiệm vụ", "Well completed"),
           "lines": {"political_quality": "8.00", "competence_attitude": "8.00",
                     "innovation": "7.50", "tasks": "65.63"}},
}
POINTS = {"S1": ("8.12", "8.12", "8.13"), "S2": ("8", "8", "7.5")}
ACTED: dict[str, str] = {}  # what `kpi act submit_score` printed, by reviewee


def vi(figure: str) -> str:
    return figure.replace(".", ",")


def payload(person: str) -> dict[str, Any]:
    items = [{"title": f"Báo cáo <b>\"{i + 1}\"</b>", "completed": True,
              "meets_requirements": True, "failed_assessments": 0,
              "delays": 1 if i < 3 else 0} for i in range(4)]
    return {"criteria": {c: {"points": p} for c, p in zip(RUBRIC, POINTS[person], strict=True)},
            "ratios": {}, "tasks": items, "comment": "ok"}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, schema_template: Path
           ) -> Iterator[tuple[World, str, Path]]:
    """The small world without peers or calibration; S1 and S2 scored through `kpi act`."""
    folder = tmp_path_factory.mktemp("display")
    path = folder / "kpi.sqlite3"
    shutil.copy(schema_template, path)
    url = f"sqlite:///{path}"
    svc = Service(Store(url), make_settings(url))
    cycle = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    cycle = cycle.replace(SMALL_CYCLE_PEERS, "peers: {enabled: false}")
    cycle = cycle.replace("calibration: {enabled: true, calibrator: D1}",
                          "calibration: {enabled: false}")
    assert "peers: {enabled: false}" in cycle and "calibrator" not in cycle
    cycle_file = folder / "t-2026-04.yaml"
    cycle_file.write_text(cycle, encoding="utf-8")
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, cycle_file, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    for person in EXPECTED:
        w.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person,
               {**{k: v for k, v in payload(person).items() if k != "comment"}, "note": "x"},
               when="2026-05-05 09:00")
        assert w.state(person) is State.SUPERVISOR_SCORING
    runner = CliRunner(env={"KPI_DATABASE_URL": url, "KPI_NOW": "2026-05-08T03:00:00+00:00"})
    for person in EXPECTED:
        file = folder / f"{person}.json"
        file.write_text(json.dumps(payload(person)), encoding="utf-8")
        out = runner.invoke(main, ["act", str(w.ev(person)), "submit_score", "--by", "H1",
                                   "--file", str(file)])
        assert out.exit_code == 0, out.output
        ACTED[person] = out.output
        assert w.state(person) is State.APPEAL_WINDOW
    yield w, url, folder
    svc.store.dispose()


def test_the_exact_totals_are_what_the_surfaces_round(scored: tuple[World, str, Path]) -> None:
    w, _url, _folder = scored
    assert Decimal(w.row("S1")["score"]) == Decimal("89.995")
    assert w.row("S1")["final_class"] == "well_completed"
    assert Decimal(w.row("S2")["score"]) == Decimal("89.125")


def test_kpi_act_and_cycle_list_show_the_shown_total_and_the_class(
        scored: tuple[World, str, Path]) -> None:
    w, url, _folder = scored
    runner = CliRunner(env={"KPI_DATABASE_URL": url})
    listed = runner.invoke(main, ["cycle", "list", w.cycle_id]).output
    for person, want in EXPECTED.items():
        line = next(x for x in listed.splitlines() if f" {person} " in x)
        assert f"score  {want['total']} " in line and "well_completed" in line
        assert "89.995" not in line
    for person, want in EXPECTED.items():  # `kpi act` said it when the score was given
        assert f"(score {want['total']}, Well completed)" in ACTED[person], ACTED[person]


def test_kpi_score_explain_text_and_json_agree(scored: tuple[World, str, Path]) -> None:
    w, url, _folder = scored
    runner = CliRunner(env={"KPI_DATABASE_URL": url})
    for person, want in EXPECTED.items():
        ev = str(w.ev(person))
        text = runner.invoke(main, ["score", "explain", ev]).output
        assert f"Total: {want['total']} of 100" in text
        assert "Class: Well completed" in text
        for_vi = runner.invoke(main, ["score", "explain", ev, "--lang", "vi"]).output
        assert f"Tổng điểm: {vi(want['total'])}/100" in for_vi
        assert "Xếp loại: Hoàn thành tốt nhiệm vụ" in for_vi
        data = json.loads(runner.invoke(main, ["score", "explain", ev, "--json"]).output)
        lines = {x["key"]: x for x in data["lines"] if x["adds_to_total"]}
        assert {k: x["shown"] for k, x in lines.items()} == want["lines"]
        assert f"{want['lines']['tasks']} of 70" in lines["tasks"]["label"]["en"]
        total = next(x for x in data["lines"] if x["kind"] == "total")
        assert total["shown"] == want["total"]
        groups = {x["key"]: x for x in data["lines"] if x["kind"] == "group"}
        assert Decimal(groups["general"]["shown"]) + Decimal(groups["task_results"]["shown"]) \
            == Decimal(want["total"])
        assert groups["task_results"]["shown"] == want["lines"]["tasks"]
        assert sum(Decimal(x["shown"]) for x in lines.values()) == Decimal(want["total"])


def test_csv_and_xlsx_show_what_the_pages_show(scored: tuple[World, str, Path]) -> None:
    w, url, folder = scored
    runner = CliRunner(env={"KPI_DATABASE_URL": url})
    csv_path, xlsx_path = folder / "r.csv", folder / "r.xlsx"
    for path in (csv_path, xlsx_path):
        out = runner.invoke(main, ["report", w.cycle_id, "--out", str(path)])
        assert out.exit_code == 0, out.output
    import csv
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["employee_id"]: r for r in csv.DictReader(handle)}
    book = load_workbook(xlsx_path)
    sheet = book["P1"]
    header = [c.value for c in sheet[1]]
    cells = {row[header.index("employee_id")].value: row for row in sheet.iter_rows(min_row=2)}
    for person, want in EXPECTED.items():
        assert rows[person]["score"] == want["total"]
        assert rows[person]["final_class"] == "well_completed"
        for criterion, figure in want["lines"].items():
            assert rows[person][f"points:{criterion}"] == figure
        row = cells[person]
        score = row[header.index("score")]
        assert Decimal(str(score.value)) == Decimal(want["total"])
        assert score.number_format == "0.00"  # the cell reads what the CSV reads
        tasks = row[header.index("points:tasks")]
        assert Decimal(str(tasks.value)) == Decimal(want["lines"]["tasks"])
        assert tasks.number_format == "0.00"


def test_the_personnel_record_shows_the_same_figures(scored: tuple[World, str, Path]) -> None:
    _w, url, folder = scored
    runner = CliRunner(env={"KPI_DATABASE_URL": url})
    for person, want in EXPECTED.items():
        path = folder / f"record-{person}.html"
        out = runner.invoke(main, ["record", person, "--out", str(path)])  # their language
        assert out.exit_code == 0, out.output
        page = text_of(path.read_text(encoding="utf-8"))
        if person == "S1":
            assert f"Điểm {vi(want['total'])}, xếp loại {want['class'][0]}" in page
            assert vi(want["lines"]["tasks"]) in page
            exact = "(chính xác 89,995"
        else:
            assert f"Score {want['total']}, class {want['class'][1]}" in page
            assert want["lines"]["tasks"] in page
            exact = "(exactly 89.995"
        assert "65.625" not in page and "65,625" not in page and "90.00 ," not in page
        # The exact total appears only where the computation says why it is not rounded up.
        assert page.count("89.995") + page.count("89,995") == page.count(exact)


def _results(w: World) -> list[Any]:
    with w.svc.store.read() as s:
        return list(s.execute(select(OUTBOX).where(OUTBOX.c.event == "result")
                              .order_by(OUTBOX.c.id)))


def test_the_result_emails_show_the_same_total_class_and_lines(
        scored: tuple[World, str, Path]) -> None:
    w, _url, _folder = scored
    sent = {r.recipient_id: r for r in _results(w)}
    assert set(sent) >= set(EXPECTED)
    for person, want in EXPECTED.items():
        row = sent[person]
        locale = row.locale
        assert locale == ("vi" if person == "S1" else "en")
        mail = render(event="result", locale=locale, timezone=row.timezone,
                      recipient_name=row.recipient_name, context=row.context,
                      base_url=w.svc.settings.base_url, templates_dir=w.svc.settings.templates_dir)
        figure = vi if locale == "vi" else (lambda x: x)
        klass = want["class"][0 if locale == "vi" else 1]
        for part in (mail.subject, mail.text, text_of(mail.html)):
            assert figure(want["total"]) in part and klass in part
        for part in (mail.text, text_of(mail.html)):
            for criterion_figure in want["lines"].values():
                assert figure(criterion_figure) in part
            # No figure with more decimals than the rule, anywhere in the mail.
            assert not re.search(r"\d[.,]\d{3,}", part), part


def test_the_web_pages_show_the_same_total_class_and_lines(
        scored: tuple[World, str, Path]) -> None:
    w, _url, _folder = scored
    web = make_web(w)
    web.clock.set("2026-05-09 09:00")
    supervisor = web.sign_in("H1")
    team = text_of(supervisor.get("/team").text)
    admin = web.sign_in("A1")
    for person, want in EXPECTED.items():
        link = web.link(person, "result")
        page = web.client_for().get(link)
        assert page.status_code == 200, page.text
        locale = "vi" if person == "S1" else "en"
        figure = vi if locale == "vi" else (lambda x: x)
        klass = want["class"][0 if locale == "vi" else 1]
        text = text_of(page.text)
        assert figure(want["total"]) in text and klass in text
        for criterion_figure in want["lines"].values():
            assert figure(criterion_figure) in text
        assert not re.search(r"\d[.,]\d{3,}", text)
        assert vi(want["total"]) in team  # H1 reads Vietnamese
        file = text_of(admin.get(f"/admin/e/{w.ev(person)}").text)
        assert vi(want["total"]) in file and want["class"][0] in file
    assert "89,995" not in team and "90,00" not in team


def test_a_csv_asked_for_in_vietnamese_has_vietnamese_headers_and_the_same_figures(
        scored: tuple[World, str, Path]) -> None:
    w, url, folder = scored
    path = folder / "r-vi.csv"
    out = CliRunner(env={"KPI_DATABASE_URL": url}).invoke(
        main, ["report", w.cycle_id, "--out", str(path), "--lang", "vi"])
    assert out.exit_code == 0, out.output
    import csv
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["Mã công chức"]: r for r in csv.DictReader(handle)}
    tasks = w.framework("S1").criterion("tasks").label.vi
    for person, want in EXPECTED.items():
        row = rows[person]
        # The figures as the Vietnamese pages and emails write them (a decimal comma).
        assert row["Điểm"] == vi(want["total"])
        assert row[f"Điểm: {tasks}"] == vi(want["lines"]["tasks"])
        assert row["Xếp loại cuối cùng"] == want["class"][0]
        assert row["Trạng thái"] == "Thời hạn kiến nghị"
        assert row["Có kiến nghị"] == "không"
    assert not any("_" in header for header in rows["S1"])  # no column id left


def test_an_xlsx_asked_for_in_vietnamese_keeps_its_figures_and_speaks_vietnamese(
        scored: tuple[World, str, Path]) -> None:
    w, url, folder = scored
    path = folder / "r-vi.xlsx"
    out = CliRunner(env={"KPI_DATABASE_URL": url}).invoke(
        main, ["report", w.cycle_id, "--out", str(path), "--lang", "vi"])
    assert out.exit_code == 0, out.output
    book = load_workbook(path)
    assert book.sheetnames[0] == "Tổng hợp"
    summary = [str(c.value) for row in book["Tổng hợp"].iter_rows() for c in row if c.value]
    assert "Hoàn thành tốt nhiệm vụ" in summary and "Toàn cơ quan" in summary
    assert not [v for v in summary if re.fullmatch(r"[a-z]+(_[a-z]+)+(:\w+)?", v)]
    sheet = book["P1"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        person = row[header.index("Mã công chức")].value
        if person in EXPECTED:
            score = row[header.index("Điểm")]
            assert Decimal(str(score.value)) == Decimal(EXPECTED[person]["total"])
            assert score.number_format == "0.00"
