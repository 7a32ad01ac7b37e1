"""Reports on a seeded cycle whose every figure is worked out by hand below.

The small organisation (tests/data/small_org.csv): D1 heads BGD, H1 heads P1 with
S1-S4 (task group C) and A1 (task group B); UB1 scores D1. Every payload is explicit:
a specialist's score is the three rubric points plus 17.5 per completed task item
(4 items; 70 x completed/4 when each completed item meets requirements on time).

| who | supervisor's score          | self-assessed    | notes                          |
| --- | --------------------------- | ---------------- | ------------------------------ |
| S1  | 9+9+9 + 70   = 97 excellent | 100              | calibrated down, accepts       |
| S2  | 8+8+8 + 52.5 = 76.5 well    | 97 (gap 20.5)    | appeals: revised to 79.5       |
| S3  | 7+7+7 + 35   = 56 completed | 56               | self-assessment extended; scored late |
| S4  | 4+4+4 + 17.5 = 29.5 not c.  | missing          | appeals: upheld                |
| A1  | 8+8+8 + 70   = 94 excellent | 94               | calibrated down                |
| H1  | 24 + 42 + 7 + 10 = 83 well  | 83               | unit results 50% (S4), late    |
| D1  | 27 + 42 + 7 + 12 = 88 well  | 88               | unit results 50% (S4 in the    |
|     |                             |                  | subtree), late                 |

Peers give 8+8+8 = 24 to S1-S4 (quorum 2 reached): against the supervisor's 27, 24,
21 and 12 on those criteria, only S4's gap (12) reaches 20% of 30.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select, update

from tests.conftest import make_settings
from tests.support import DATA, SMALL_CYCLE_PEERS, World, approve_pool, at, move_class, small_world
from workflow.cli import main
from workflow.domain import Trigger
from workflow.reports import fairness
from workflow.reports import html as report_html
from workflow.reports.decisions import decision_list
from workflow.reports.export import write_list, write_record, write_report
from workflow.reports.facts import cycle_facts
from workflow.reports.gaps import gaps, single_source, stamped_supervisor_total
from workflow.reports.html import cycle_report_fragment, fairness_fragment, record_html
from workflow.service import records
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import AUDIT, PERSON, SUBMISSION

SPECIALIST_RUBRIC = ("political_quality", "competence_attitude", "innovation")


def tasks(done: int, items: int = 4) -> list[dict[str, Any]]:
    """``items`` task items, the first ``done`` completed, meeting requirements, on time."""
    return [{"title": f"Item {i + 1}", "completed": i < done, "meets_requirements": i < done,
             "failed_assessments": 0, "delays": 0} for i in range(items)]


def specialist(points: tuple[float, float, float], done: int) -> dict[str, Any]:
    return {"criteria": {c: {"points": str(p)} for c, p in zip(SPECIALIST_RUBRIC, points,
                                                               strict=True)},
            "ratios": {}, "tasks": tasks(done), "comment": "ok"}


def leader(points: tuple[float, float, float], done: int, organising: float) -> dict[str, Any]:
    payload = specialist(points, done)
    payload["criteria"]["organising_capacity"] = {"points": str(organising)}
    return payload


def self_of(payload: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in payload.items() if k != "comment"}
    out["note"] = "self"
    return out


def peer(points: float) -> dict[str, Any]:
    return {"criteria": {c: {"points": str(points)} for c in SPECIALIST_RUBRIC},
            "comment": "peer"}


SCORES = {
    "S1": specialist((9, 9, 9), 4), "S2": specialist((8, 8, 8), 3),
    "S3": specialist((7, 7, 7), 2), "S4": specialist((4, 4, 4), 1),
    "A1": specialist((8, 8, 8), 4), "H1": leader((8, 8, 8), 4, 10),
    "D1": leader((9, 9, 9), 4, 12),
}
SELFS = {"S1": specialist((10, 10, 10), 4), "S2": specialist((9, 9, 9), 4),
         "S3": SCORES["S3"], "A1": SCORES["A1"], "H1": SCORES["H1"], "D1": SCORES["D1"]}


def seed(svc: Service) -> World:
    """Play the seeded cycle of the module docstring."""
    w = small_world(svc)
    records.extend(svc, w.ev("S3"), at("2026-05-08 17:00"), "Sick leave 4-5 May", "D1", "A1",
                   now=at("2026-05-04 10:00"))
    for person, payload in SELFS.items():
        w.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person, self_of(payload),
               when="2026-05-05 09:00")
    for person in ("S1", "S2", "S3"):
        for p in w.peers_of(person):
            w.fire(person, Trigger.SUBMIT_PEER_INPUT, p, peer(8), when="2026-05-06 09:00")
    tick(svc, at("2026-05-07 18:00"))  # S4 missed the self-assessment
    for p in w.peers_of("S4"):
        w.fire("S4", Trigger.SUBMIT_PEER_INPUT, p, peer(8), when="2026-05-08 09:00")
    for person in ("S1", "S2", "S4", "A1"):
        w.fire(person, Trigger.SUBMIT_SCORE, "H1", SCORES[person], when="2026-05-08 10:00")
    w.fire("S3", Trigger.SUBMIT_SCORE, "H1", SCORES["S3"], when="2026-05-12 10:00")
    w.fire("H1", Trigger.SUBMIT_SCORE, "D1", SCORES["H1"], when="2026-05-12 11:00")
    w.fire("D1", Trigger.SUBMIT_SCORE, "UB1", SCORES["D1"], when="2026-05-12 12:00")
    for person in ("S1", "A1"):
        move_class(svc, w.ev(person), "well_completed",
                               f"quota: {person} is among the excellent over the 20% limit",
                               "D1", now=at("2026-05-13 09:00"))
    approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-13 10:00"))
    w.fire("S1", Trigger.ACCEPT_RESULT, "S1", {}, when="2026-05-14 09:00")
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "=HYPERLINK(\"x\") item 4 was done"},
           when="2026-05-14 09:00")
    w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "Item 2 was late for a reason"},
           when="2026-05-14 09:00")
    w.fire("S2", Trigger.REVISE_SCORE, "D1",
           {"reason": "Item 4 delivered, see the archive", "score": specialist((9, 9, 9), 3)},
           when="2026-05-15 09:00")
    w.fire("S4", Trigger.UPHOLD_SCORE, "D1", {"reason": "The delay is on record"},
           when="2026-05-15 09:00")
    tick(svc, at("2026-06-01 09:00"))
    return w


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, schema_template: Path
           ) -> Iterator[World]:
    """One seeded cycle for the whole module: the tests only read it (or copy it)."""
    path = tmp_path_factory.mktemp("seeded") / "kpi.sqlite3"
    shutil.copy(schema_template, path)
    svc = Service(Store(f"sqlite:///{path}"), make_settings(f"sqlite:///{path}"))
    yield seed(svc)
    svc.store.dispose()


# --- the figures, one by one ------------------------------------------------------------


def test_class_distribution_per_unit_is_counted_after_calibration(seeded: World) -> None:
    facts = cycle_facts(seeded.svc, seeded.cycle_id)
    units = {u.unit_id: u for u in facts.units}
    assert units["P1"].classes == {"well_completed": 4, "completed": 1, "not_completed": 1}
    assert units["BGD"].classes == {"well_completed": 1}
    assert units["P1"].scores.mean == pytest.approx(439 / 6)
    assert (units["P1"].low, units["P1"].high) == (29.5, 97.0)
    assert facts.states == {"finalised": 7}
    assert facts.calibration_moves == 2  # S1 and A1; D1 is well completed by score
    agency = next(m for m in facts.meters if m.pool == "agency")
    assert (agency.limited, agency.relative, agency.allowed, agency.breaks) == (0, 5, 1, False)


def test_histogram_puts_each_score_in_its_five_point_band(seeded: World) -> None:
    facts = cycle_facts(seeded.svc, seeded.cycle_id)
    counts = {int(b.low): b.count for b in facts.histogram if b.count}
    # 29.5, 56, 79.5 (revised), 83, 88, 94 and 97
    assert counts == {25: 1, 55: 1, 75: 1, 80: 1, 85: 1, 90: 1, 95: 1}


def test_scorer_figures_leave_out_the_score_revised_on_appeal(seeded: World) -> None:
    facts = cycle_facts(seeded.svc, seeded.cycle_id)
    h1 = next(s for s in facts.scorers if s.scorer_id == "H1")
    assert (h1.scored, h1.own.n) == (5, 4)
    assert h1.own.mean == pytest.approx((97 + 56 + 29.5 + 94) / 4)
    assert facts.agency.n == 6 and facts.agency.total == pytest.approx(276.5 + 83 + 88)


def test_appeal_rate_and_outcomes_per_supervisor(seeded: World) -> None:
    facts = cycle_facts(seeded.svc, seeded.cycle_id)
    appeals = {a.scorer_id: a for a in facts.appeals}
    h1 = appeals["H1"]
    assert (h1.scored, h1.lodged, h1.upheld, h1.revised, h1.pending) == (5, 2, 1, 1, 0)
    assert h1.rate == pytest.approx(0.4)
    assert (appeals["D1"].lodged, appeals["UB1"].lodged) == (0, 0)


def test_on_time_rate_per_phase_counts_the_deadline_in_force(seeded: World) -> None:
    facts = cycle_facts(seeded.svc, seeded.cycle_id)
    got = {t.phase: (t.on_time, t.late, t.still_open) for t in facts.timeliness}
    assert got == {
        "self_assessment": (6, 1, 0),  # S4 missed it; S3 met its extended deadline
        "peer_input": (4, 0, 0),
        "supervisor_scoring": (4, 3, 0),  # S3, H1 and D1 scored after their due time
        "calibration": (1, 0, 0),  # one deadline for the pool
        "appeal_review": (2, 0, 0),
    }
    assert facts.flags["self_assessment_missing"] == 1 and facts.flags["extended"] == 1


def test_self_and_peer_totals_are_computed_by_the_scoring_rules(seeded: World) -> None:
    found = gaps(seeded.svc, seeded.cycle_id, self_gap_points=Decimal(15),
                 peer_gap_share=Decimal("0.2"))
    h1 = found.by_scorer["H1"]
    assert (h1.self_n, h1.self_mean, h1.supervisor_mean_with_self) == (
        4, Decimal("86.75"), Decimal("80.875"))
    assert (h1.peer_n, h1.peer_mean, h1.supervisor_mean_with_peer) == (
        4, Decimal(24), Decimal(21))
    assert found.by_scorer["D1"].self_mean == found.by_scorer["D1"].supervisor_mean_with_self \
        == Decimal(83)
    assert [t.reviewee_id for t in found.large_self] == ["S2"]
    assert [t.reviewee_id for t in found.large_peer] == ["S4"]


def test_the_supervisors_total_is_read_from_the_stamp_only_where_it_is_that_computation(
        seeded: World) -> None:
    svc = seeded.svc
    read: dict[str, Decimal | None] = {}
    with svc.store.read() as s:
        rules = svc.rules.get(s, seeded.cycle_id)
        for who in ("S1", "S2", "S3", "S4", "A1", "H1", "D1"):
            row = seeded.row(who)
            framework = rules.frameworks[row["framework_hash"]]
            given = [dict(x.payload) for x in s.execute(select(SUBMISSION).where(
                SUBMISSION.c.evaluation_id == row["id"]).order_by(SUBMISSION.c.id))
                if x.kind == "supervisor_score"]
            revised = who in ("S2",)  # the appeal reviewer replaced S2's score
            stamped = stamped_supervisor_total(rules, framework, row["score_stamp"],
                                               row["framework_hash"], bool(row["is_leader"]),
                                               revised)
            read[who] = stamped
            if stamped is not None:  # exactly what the scoring rules give the payload
                assert stamped == single_source(rules, framework, given[-1], None, False), who
    # Read for the specialists; computed for the revised score and for the leaders (their
    # unit results come from the team, not the payload).
    assert read == {"S1": Decimal(97), "S2": None, "S3": Decimal(56), "S4": Decimal("29.5"),
                    "A1": Decimal(94), "H1": None, "D1": None}


def test_fairness_signals_of_the_seeded_cycle(seeded: World) -> None:
    report = fairness.signals(seeded.svc, seeded.cycle_id)
    kinds = sorted((s.kind, s.subject_id) for s in report.signals)
    assert kinds == [(fairness.PEER_GAP, str(seeded.ev("S4"))),
                     (fairness.SELF_GAP, str(seeded.ev("S2")))]
    self_gap = report.of_kind(fairness.SELF_GAP)[0]
    assert "self-assessed 97.00, supervisor 76.50: +20.50" in self_gap.figure
    # H1 scored only 4 people whose scores are still theirs: too few for a comparison.
    h1 = next(c for c in report.supervisors if c.scorer_id == "H1")
    assert h1.d is None and h1.n == 4


# --- CSV and XLSX ------------------------------------------------------------------------


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {r["employee_id"]: r for r in csv.DictReader(f)}


def test_csv_report_has_a_row_per_evaluation_with_its_story(seeded: World,
                                                            tmp_path: Path) -> None:
    written = write_report(seeded.svc, seeded.cycle_id, tmp_path / "r.csv")
    rows = read_csv(written.path)
    assert written.rows == 7 and set(rows) == {"S1", "S2", "S3", "S4", "A1", "H1", "D1"}
    s1 = rows["S1"]
    assert (s1["score"], s1["class_by_score"], s1["final_class"]) == (
        "97.00", "excellent", "well_completed")
    assert [s1[f"points:{c}"] for c in (*SPECIALIST_RUBRIC, "tasks")] == [
        "9.00", "9.00", "9.00", "70.00"]
    assert s1["points:unit_results"] == "" and s1["calibration_moves"] == "1"
    assert "excellent -> well_completed by D1 on 2026-05-13 09:00: quota: S1" in \
        s1["calibration_detail"]
    s2 = rows["S2"]
    assert (s2["score"], s2["appealed"], s2["appeal_outcome"], s2["appeal_reviewer_id"]) == (
        "79.50", "yes", "revised", "D1")
    assert s2["points:tasks"] == "52.50" and s2["points:innovation"] == "9.00"
    # A reason typed like a formula stays text in a spreadsheet.
    assert s2["appeal_reasons"].startswith("'=HYPERLINK")
    s4 = rows["S4"]
    assert (s4["appeal_outcome"], s4["appeal_decision_reason"]) == (
        "upheld", "The delay is on record")
    assert (s4["self_assessment_missing"], s4["extended"]) == ("yes", "no")
    assert rows["S3"]["extended"] == "yes" and rows["S3"]["scored_by"] == "H1"
    h1 = rows["H1"]
    assert [h1[f"points:{c}"] for c in ("tasks", "unit_results", "organising_capacity")] == [
        "42.00", "7.00", "10.00"]
    assert rows["D1"]["scored_by"] == "UB1" and rows["D1"]["leader"] == "yes"


def test_xlsx_report_has_a_summary_and_a_sheet_per_unit(seeded: World, tmp_path: Path) -> None:
    written = write_report(seeded.svc, seeded.cycle_id, tmp_path / "r.xlsx")
    wb = load_workbook(written.path)
    assert wb.sheetnames == ["Summary", "BGD", "P1"]
    summary = wb["Summary"]
    assert summary.freeze_panes == "B5"
    header = [c.value for c in summary[4]]
    assert header[:4] == ["unit_id", "unit", "evaluations", "scored"]
    p1 = next(r for r in summary.iter_rows(min_row=5) if r[0].value == "P1")
    values = dict(zip(header, [c.value for c in p1], strict=False))
    assert (values["evaluations"], values["scored"], values["class:well_completed"],
            values["class:not_completed"]) == (6, 6, 4, 1)
    assert values["mean_score"] == pytest.approx(439 / 6)
    assert p1[header.index("mean_score")].number_format == "0.00"
    sheet = wb["P1"]
    assert sheet.freeze_panes == "D2"
    head = [c.value for c in sheet[1]]
    assert all(c.font.bold for c in sheet[1])
    rows = {r[1].value: r for r in sheet.iter_rows(min_row=2)}
    assert set(rows) == {"A1", "H1", "S1", "S2", "S3", "S4"}
    s2 = rows["S2"]
    score = s2[head.index("score")]
    assert (score.value, score.number_format, score.data_type) == (79.5, "0.00", "n")
    scored_at = s2[head.index("scored_at")]
    assert scored_at.number_format == "yyyy-mm-dd hh:mm"
    assert scored_at.value.strftime("%Y-%m-%d %H:%M") == "2026-05-15 09:00"
    reasons = s2[head.index("appeal_reasons")]
    assert (reasons.value.startswith("=HYPERLINK"), reasons.data_type) == (True, "s")
    assert s2[head.index("appealed")].value is True
    assert s2[head.index("evaluation_id")].number_format == "0"
    assert rows["S4"][head.index("self_assessment_missing")].value is True
    assert wb["BGD"].max_row == 2  # the header and D1


def test_an_unknown_report_format_is_refused_before_anything_is_written(
        seeded: World, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"\.csv, \.xlsx, \.html"):
        write_report(seeded.svc, seeded.cycle_id, tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Exception, match="cycle 'nope' does not exist"):
        write_report(seeded.svc, "nope", tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == []


# --- HTML ----------------------------------------------------------------------------


class Page(HTMLParser):
    """What a reader (and a screen reader) finds in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, str | None]] = []
        self.figures = 0
        self.titles: dict[str, str] = {}
        self.text: list[str] = []
        self._in: str | None = None
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.attrs: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.attrs.append((tag, a))
        if tag == "svg":
            self.svgs.append(a)
        elif tag == "figure":
            self.figures += 1
        elif tag in ("title", "desc") and a.get("id"):
            self._in = str(a["id"])
            self.titles[self._in] = ""
        elif tag == "table":
            self._table = str(a.get("class"))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "desc"):
            self._in = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in:
            self.titles[self._in] += data
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_html_report_has_its_charts_with_text_alternatives(seeded: World,
                                                          tmp_path: Path) -> None:
    written = write_report(seeded.svc, seeded.cycle_id, tmp_path / "r.html", locale="en")
    html = written.path.read_text(encoding="utf-8")
    page = parse(html)
    names = {str(s["aria-labelledby"]).split()[0].removeprefix("chart-").removesuffix("-title")
             for s in page.svgs}
    assert names == {"classes", "quota", "histogram", "self_vs_supervisor", "appeals",
                     "timeliness"}
    assert page.figures == 6 == written.rows
    for svg in page.svgs:
        assert svg["role"] == "img"
        title_id, desc_id = str(svg["aria-labelledby"]).split()
        assert page.titles[title_id] and page.titles[desc_id]
    # The text alternatives carry the figures, not only a name.
    assert "Phòng Một: 0 Excellently completed, 4 Well completed, 1 Completed, " \
        "1 Not completed" in page.titles["chart-classes-desc"]
    assert "25 to 30: 1" in page.titles["chart-histogram-desc"]
    # Readable without colour: the series have hatch patterns.
    assert html.count("<pattern") >= 3
    ids = [a["id"] for _tag, a in page.attrs if a.get("id")]
    assert len(ids) == len(set(ids)), "element ids must be unique across the charts"
    timeliness = {r[0]: r[1:] for r in page.tables["timeliness"][1:]}
    assert timeliness["Supervisor scoring"] == ["4", "3", "0", "57%"]  # the state named
    appeals = {r[0]: r[1:] for r in page.tables["appeals"][1:]}
    assert appeals["Trưởng phòng Lê Văn Hùng (H1)"] == ["5", "2", "40%", "1", "1", "0"]
    text = " ".join(page.text)
    assert "Method:" in text and "standardised difference" in text


def test_a_chart_of_more_units_than_it_shows_says_which_and_the_table_keeps_all(
        seeded: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "MAX_BARS", 1)  # two units scored: one is shown
    report = report_html.build_report(seeded.svc, seeded.cycle_id, locale="en")
    assert report.chart_notes["classes"] == (
        "The chart shows the 1 units with the most people scored, of 2; the table lists "
        "every unit.")
    chart = str(report.charts["classes"])
    assert "Phòng Một (n=6)" in chart and "Ban Giám đốc" not in chart  # P1: 6 scored
    fragment = cycle_report_fragment(seeded.svc, seeded.cycle_id, locale="en")
    assert report.chart_notes["classes"] in fragment
    assert 'data-unit="BGD"' in fragment and 'data-unit="P1"' in fragment


def test_dashboard_fragment_is_the_report_without_the_page(seeded: World) -> None:
    fragment = cycle_report_fragment(seeded.svc, seeded.cycle_id)
    assert fragment.lstrip().startswith("<section")
    assert "<html" not in fragment and "<body" not in fragment
    assert fragment.count("<svg") == 6
    signals = fairness_fragment(seeded.svc, seeded.cycle_id)
    page = parse(signals)
    kinds = [a.get("data-kind") for tag, a in page.attrs if tag == "div"]
    assert sorted(kinds) == ["peer_gap", "self_gap"]


def test_report_never_names_a_peer(seeded: World, tmp_path: Path) -> None:
    with seeded.svc.store.read() as s:
        peers = {r.actor_id for r in s.execute(select(AUDIT.c.actor_id).where(
            AUDIT.c.evaluation_id == seeded.ev("S4"),
            AUDIT.c.trigger == Trigger.SUBMIT_PEER_INPUT.value))}
        names = {r.full_name for r in s.execute(select(PERSON.c.full_name).where(
            PERSON.c.id.in_(peers)))}
    assert len(peers) == 2 and "S4" not in peers
    html = record_html(seeded.svc, "S4", locale="en")
    page = parse(html)
    audit_rows = page.tables["audit"][1:]
    peer_rows = [r for r in audit_rows if r[4] == "peer input submitted"]
    assert len(peer_rows) == 2
    assert {r[2] for r in peer_rows} == {"a peer (anonymous)"}
    assert not peers & {r[2] for r in audit_rows}
    assert not any(name in html for name in names)


# --- decision lists ----------------------------------------------------------------------


def second_cycle(w: World, tmp_path: Path) -> str:
    """May 2026 for the same people, no calibration, no peers: S4 below completed again."""
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    text = (text.replace("id: t-2026-04", "id: t-2026-05")
            .replace("April 2026", "May 2026")
            .replace("{kind: month, start: 2026-04-01, end: 2026-04-30}",
                     "{kind: month, start: 2026-05-01, end: 2026-05-31}")
            .replace('opens: "2026-05-04 08:00"', 'opens: "2026-06-01 08:00"')
            .replace(SMALL_CYCLE_PEERS,
                     "peers: {enabled: false}")
            .replace("calibration: {enabled: true, calibrator: D1}",
                     "calibration: {enabled: false}"))
    path = tmp_path / "may.yaml"
    path.write_text(text, encoding="utf-8")
    open_cycle(w.svc, path, now=at("2026-05-30 10:00"))
    may = World(w.svc, "t-2026-05")
    order = ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]
    scorers = {"H1": "D1", "D1": "UB1"}
    for person in order:
        may.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person, self_of(SCORES[person]),
                 when="2026-06-01 09:00")
    for person in order:
        may.fire(person, Trigger.SUBMIT_SCORE, scorers.get(person, "H1"), SCORES[person],
                 when="2026-06-02 09:00")
    return may.cycle_id


def test_decision_lists(new_service: Callable[..., Service], tmp_path: Path) -> None:
    svc = new_service()
    april = seed(svc)
    _header, rows = decision_list(svc, april.cycle_id, "not-completed")
    assert [(r[1], r[6], r[7], r[11]) for r in rows] == [
        ("S4", Decimal("29.5"), "not_completed", "yes")]
    assert decision_list(svc, april.cycle_id, "excellent")[1] == []  # all calibrated down
    # One period below completed is not yet a training case.
    assert decision_list(svc, april.cycle_id, "training")[1] == []
    may = second_cycle(april, tmp_path)
    excellent = decision_list(svc, may, "excellent")[1]
    assert sorted((r[1], r[11]) for r in excellent) == [
        ("A1", "no (provisional)"), ("S1", "no (provisional)")]
    written = write_list(svc, may, "training", tmp_path / "training.csv")
    with written.path.open(encoding="utf-8-sig", newline="") as f:
        got = list(csv.DictReader(f))
    assert [(r["employee_id"], r["periods_below"], r["streak"]) for r in got] == [
        ("S4", "2", "t-2026-04 not_completed; t-2026-05 not_completed")]
    # A wider floor: under "well completed", S3 (completed twice) joins.
    wider = decision_list(svc, may, "training", below="well_completed")[1]
    assert sorted(r[0] for r in wider) == ["S3", "S4"]
    with pytest.raises(Exception, match="no class 'good'"):
        decision_list(svc, may, "training", below="good")


# --- the personnel record ----------------------------------------------------------------


def test_personnel_record_lists_every_evaluation_and_audit_row(seeded: World,
                                                               tmp_path: Path) -> None:
    with seeded.svc.store.read() as s:
        expected = [r.seq for r in s.execute(select(AUDIT.c.seq).where(
            AUDIT.c.evaluation_id == seeded.ev("S2")).order_by(AUDIT.c.seq))]
    written = write_record(seeded.svc, "S2", tmp_path / "s2.html", locale="en")
    page = parse(written.path.read_text(encoding="utf-8"))
    seqs = [int(a["data-seq"] or 0) for tag, a in page.attrs if tag == "tr" and "data-seq" in a]
    assert seqs == expected and len(seqs) >= 8
    evaluations = [a["data-evaluation"] for tag, a in page.attrs
                   if tag == "section" and a.get("data-evaluation")]
    assert evaluations == [str(seeded.ev("S2"))]
    chain = [a for tag, a in page.attrs if tag == "p" and "data-ok" in a]
    assert chain[0]["data-ok"] == "true"
    breakdown = page.tables["breakdown"]
    assert [r[1] for r in breakdown[1:]] == ["9.00", "9.00", "9.00", "52.50"]
    text = " ".join(page.text)
    assert "revised: Item 4 delivered, see the archive" in text


def test_personnel_record_reports_a_tampered_chain_as_broken(seeded: World,
                                                             tmp_path: Path) -> None:
    source = Path(str(seeded.svc.store.engine.url.database))
    copy = tmp_path / "tampered.sqlite3"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a consistent copy of the WAL database, to tamper with
    svc = Service(Store(f"sqlite:///{copy}"), make_settings(f"sqlite:///{copy}"))
    try:
        ev = seeded.ev("S4")
        with svc.store.read() as s:
            rows = [r.seq for r in s.execute(select(AUDIT.c.seq)
                                             .where(AUDIT.c.evaluation_id == ev)
                                             .order_by(AUDIT.c.seq))]
        target = rows[len(rows) // 2]
        with svc.store.write() as s:
            s.execute(update(AUDIT).where(AUDIT.c.seq == target)
                      .values(reason="score changed quietly"))
        page = parse(record_html(svc, "S4", locale="en"))
        chain = next(a for tag, a in page.attrs if tag == "p" and "data-ok" in a)
        assert chain["data-ok"] == "false"
        text = " ".join(page.text)
        assert f"BROKEN at row {target}" in text and "the row was changed" in text
        untrusted = [int(a["data-seq"] or 0) for tag, a in page.attrs
                     if tag == "tr" and a.get("data-trusted") == "false"]
        assert untrusted == [s for s in rows if s >= target]
        result = CliRunner().invoke(main, ["record", "S4", "--out", str(tmp_path / "s4.pdf")],
                                    env={"KPI_DATABASE_URL": f"sqlite:///{copy}"})
        assert result.exit_code == 0, result.output
        assert (tmp_path / "s4.pdf").read_bytes().startswith(b"%PDF")
    finally:
        svc.store.dispose()


def test_record_of_an_unknown_person_is_one_clear_error(seeded: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["record", "NOBODY", "--out", str(tmp_path / "x.html")],
        env={"KPI_DATABASE_URL": str(seeded.svc.store.engine.url)})
    assert result.exit_code != 0
    assert "kpi: error:" in result.output and "NOBODY" in result.output
    assert not (tmp_path / "x.html").exists()


def test_kpi_report_writes_each_format_and_list(seeded: World, tmp_path: Path) -> None:
    env = {"KPI_DATABASE_URL": str(seeded.svc.store.engine.url)}
    runner = CliRunner()
    for name, expected in (("r.csv", "7 evaluations"), ("r.xlsx", "7 evaluations"),
                           ("r.html", "6 charts")):
        result = runner.invoke(main, ["report", seeded.cycle_id, "--out",
                                      str(tmp_path / name)], env=env)
        assert result.exit_code == 0, result.output
        assert expected in result.output
    result = runner.invoke(main, ["report", seeded.cycle_id, "--list", "not-completed",
                                  "--out", str(tmp_path / "nc.csv")], env=env)
    assert result.exit_code == 0 and "1 people" in result.output
    assert set(read_csv(tmp_path / "nc.csv")) == {"S4"}
    result = runner.invoke(main, ["report", seeded.cycle_id, "--list", "excellent",
                                  "--out", str(tmp_path / "x.xlsx")], env=env)
    assert result.exit_code != 0 and "a decision list can be written as .csv" in result.output
