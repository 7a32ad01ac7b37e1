"""The year-end classification: a cycle of its own over the year's finalised periods."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.integration.test_scoring_leaders import give
from tests.support import (
    CONFIG,
    DATA,
    SMALL_CYCLE_PEERS,
    World,
    approve_pool,
    at,
    monthly_cycle_text,
    move_class,
)
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import CalibrationError, PeriodImportError, SubmissionInvalid
from workflow.service import calibration, records
from workflow.service.core import Service
from workflow.service.cycles import load_for_open, open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.service.sweep import tick
from workflow.service.year_end import import_periods
from workflow.store.tables import AUDIT, IMPORTED

SMALL = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
MONTHS = {  # cycle: (period, self-assessment opens, all scored by, scoring time)
    "t-2026-01": ("{kind: month, start: 2026-01-01, end: 2026-01-31}", "2026-02-02 08:00",
                  "2026-02-10 18:00", "2026-02-11 10:00"),
    "t-2026-02": ("{kind: month, start: 2026-02-01, end: 2026-02-28}", "2026-03-02 08:00",
                  "2026-03-12 18:00", "2026-03-13 10:00"),
    "t-2026-03": ("{kind: month, start: 2026-03-01, end: 2026-03-31}", "2026-04-01 08:00",
                  "2026-04-13 18:00", "2026-04-14 10:00"),
}
# (share of the rubric points, items done of 4) per person and month; None: not scored
LEVELS: dict[str, list[tuple[str, int] | None]] = {
    "S1": [("1", 4), ("0.5", 4), ("0.5", 2)],  # 100, 85, 50
    "S2": [("1", 4), None, ("1", 4)],  # February: maternity leave, cancelled
    "S3": [("1", 4), ("1", 4), ("1", 4)],
    "S4": [None, None, ("1", 4)],  # joined in March, from the Department of Finance
    "A1": [("0.5", 4), ("0.5", 4), ("0.5", 4)],
    "H1": [("1", 4), ("1", 4), ("1", 4)],
    "D1": [("1", 4), ("1", 4), ("1", 4)],
}
YEAR = "t-2026"


def month_text(cycle_id: str) -> str:
    period, opens, _, _ = MONTHS[cycle_id]
    return monthly_cycle_text(cycle_id, period, opens,
                              None if cycle_id == "t-2026-03" else "not yet here")


def year_text() -> str:
    return (SMALL.replace("id: t-2026-04", f"id: {YEAR}")
            .replace('name: "Test cycle April 2026"', 'name: "Xếp loại năm 2026"')
            .replace("{kind: month, start: 2026-04-01, end: 2026-04-30}",
                     "{kind: year, start: 2026-01-01, end: 2026-11-30}")
            .replace('opens: "2026-05-04 08:00"', 'opens: "2026-12-01 08:00"')
            .replace(SMALL_CYCLE_PEERS,
                     "peers: {enabled: false}\nframeworks: [vn-year-end]"))


def play_months(svc: Service, tmp_path: Path) -> None:
    import_org(svc, DATA / "small_org.csv", now=at("2026-01-05 09:00"))
    for month, cycle_id in enumerate(MONTHS):
        path = tmp_path / f"{cycle_id}.yaml"
        path.write_text(month_text(cycle_id), encoding="utf-8")
        _, opens, scored_by, scoring = MONTHS[cycle_id]
        open_cycle(svc, path, now=at(opens) - (at("2026-01-02 08:00") - at("2026-01-01 08:00")))
        w = World(svc, cycle_id)
        if cycle_id == "t-2026-02":
            w.fire("S2", Trigger.CANCEL, "A1", reason="maternity leave (nghỉ thai sản)",
                   when=scoring)
        tick(svc, at(scored_by))
        for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
            level = LEVELS[person][month]
            if level is not None:
                give(w, person, level[0], level[1], when=scoring)
    tick(svc, at("2026-05-20 09:00"))  # every appeal window closes: all finalised


CSV_HEADER = ("employee_id,source_agency,period_start,period_end,status,general,task_results,"
              "class_id,document\n")
GOOD_CSV = CSV_HEADER + (
    "S4,Sở Tài chính,2026-01-01,2026-01-31,worked,27,63,excellent,CV 15/STC-TCCB\n"
    "S4,Sở Tài chính,2026-02-01,2026-02-28,leave,,,,CV 15/STC-TCCB\n")


@pytest.fixture
def year(svc: Service, tmp_path: Path) -> World:
    play_months(svc, tmp_path)
    path = tmp_path / "year.yaml"
    path.write_text(year_text(), encoding="utf-8")
    open_cycle(svc, path, now=at("2026-11-30 10:00"))
    return World(svc, YEAR)


def test_the_year_is_the_mean_of_the_periods_worked_with_leave_left_out(
        year: World, tmp_path: Path) -> None:
    csv = tmp_path / "from-finance.csv"
    csv.write_text(GOOD_CSV, encoding="utf-8")
    report = import_periods(year.svc, YEAR, csv, "A1", now=at("2026-12-01 09:00"))
    assert (report.rows, report.people) == (2, ["S4"])
    tick(year.svc, at("2026-12-08 18:00"))
    assert {year.state(p) for p in year.ids()} == {State.SUPERVISOR_SCORING}
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        year.score(person, payload={"comment": "Xác nhận kết quả các kỳ."},
                   when="2026-12-09 10:00")
    scores = {p: Decimal(year.row(p)["score"]) for p in year.ids()}
    assert scores["S1"] == (Decimal(100) + 85 + 50) / 3  # every month worked
    assert scores["S2"] == 100  # February's leave is left out, not counted as zero
    assert scores["S4"] == 95  # January imported (90), February leave, March here (100)
    assert scores["A1"] == 85
    assert year.row("S1")["score_class"] == "well_completed"
    lines = [line.text("en") for line in explain(year.svc, year.ev("S4")).lines]
    assert "      2026-01 (2026-01-01 to 2026-01-31, from Sở Tài chính): 27.00, weight 1 " \
           "month(s)" in lines
    assert "      2026-02 (2026-02-01 to 2026-02-28, from Sở Tài chính): left out: leave" in lines
    assert "    mean of «General criteria» over 2 period(s) worked (2 months): 28.50 of 30" \
        in lines
    s2 = [line.text("vi") for line in explain(year.svc, year.ev("S2")).lines]
    assert "      t-2026-02 (2026-02-01 đến 2026-02-28): không tính: đã hủy (maternity leave " \
           "(nghỉ thai sản))" in s2
    # the quota applies to the annual classes
    view = calibration.view(year.svc, YEAR)
    agency = view.meters[0]
    assert (agency.limited, agency.relative, agency.allowed) == (5, 2, 0)
    with pytest.raises(CalibrationError, match="the quota does not hold"):
        approve_pool(year.svc, YEAR, "D1", now=at("2026-12-10 09:00"))
    for m in calibration.view(year.svc, YEAR).members:
        if m.breaks:
            move_class(year.svc, m.evaluation_id, "well_completed",
                                   "Art 20(5): the quota on the year's classes", "D1",
                                   now=at("2026-12-10 09:00"))
    approve_pool(year.svc, YEAR, "D1", now=at("2026-12-10 10:00"))
    assert {year.state(p) for p in year.ids()} == {State.APPEAL_WINDOW}


def test_discipline_in_the_year_makes_the_year_not_completed(year: World) -> None:
    records.record_override(year.svc, year.ev("S3"), "discipline_reprimand_or_higher",
                            "QĐ 7/QĐ-SNV khiển trách", "A1", now=at("2026-12-01 09:00"))
    tick(year.svc, at("2026-12-08 18:00"))
    year.score("S3", payload={}, when="2026-12-09 10:00")
    row = year.row("S3")
    assert (Decimal(row["score"]), row["score_class"]) == (100, "not_completed")


def test_nobody_is_classified_on_nothing(year: World, tmp_path: Path) -> None:
    """S4 worked only March here: without the import the year rests on that month alone.

    A year in which nobody has a finalised period (here 2025) cannot be scored at all:
    the supervisor is told what to do, and nothing is stored.
    """
    tick(year.svc, at("2026-12-08 18:00"))
    year.score("S4", payload={}, when="2026-12-09 10:00")
    assert Decimal(year.row("S4")["score"]) == 100
    path = tmp_path / "year-2025.yaml"
    path.write_text(year_text().replace(f"id: {YEAR}", "id: t-2025")
                    .replace("start: 2026-01-01, end: 2026-11-30", "start: 2025-01-01, "
                             "end: 2025-11-30"), encoding="utf-8")
    open_cycle(year.svc, path, now=at("2026-11-30 11:00"))
    empty = World(year.svc, "t-2025")
    tick(year.svc, at("2026-12-08 18:00"))
    before = empty.row("S1")
    with pytest.raises(SubmissionInvalid, match="nothing in 'General criteria' can be scored "
                                                r"\(annual_general: no period worked"):
        empty.score("S1", payload={}, when="2026-12-09 10:00")
    assert empty.row("S1") == before


BAD_CSV = CSV_HEADER + (
    "S9,Sở Tài chính,2026-01-01,2026-01-31,worked,27,63,,CV 15\n"
    "S4,Sở Tài chính,2026-01-01,2026-01-31,worked,31,63,,CV 15\n"
    "S4,Sở Tài chính,2025-12-01,2025-12-31,worked,20,60,,CV 15\n"
    "S4,Sở Tài chính,2026-02-01,2026-02-28,leave,10,,,CV 15\n"
    "S1,Sở Tài chính,2026-02-01,2026-02-28,worked,20,60,great,\n"
    "S1,Sở Tài chính,2026-02-15,2026-03-10,worked,20,60,,CV 15\n")


def test_a_bad_import_names_each_row_and_imports_nothing(year: World, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(BAD_CSV, encoding="utf-8")
    with pytest.raises(PeriodImportError) as excinfo:
        import_periods(year.svc, YEAR, csv, "A1", now=at("2026-12-01 09:00"))
    message = str(excinfo.value)
    for expected in (
            f"{csv}:2: employee_id: S9 has no evaluation in cycle t-2026",
            f"{csv}:3: general: must be between 0 and 30, got 31",
            f"{csv}:4: the period 2025-12-01 to 2025-12-31 is not inside the cycle's period "
            "2026-01-01 to 2026-11-30",
            f"{csv}:5: general: a leave period has no points; leave it empty",
            f"{csv}:6: document: required",
            f"{csv}:6: class_id: 'great' is not a class of regime vn-decree-335-2025",
            f"nothing was imported from {csv}"):
        assert expected in message
    with year.svc.store.read() as s:
        assert s.execute(select(IMPORTED)).first() is None


def test_import_is_refused_once_scored_and_replaces_only_when_asked(
        year: World, tmp_path: Path) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD_CSV, encoding="utf-8")
    import_periods(year.svc, YEAR, csv, "A1", now=at("2026-12-01 09:00"))
    with pytest.raises(PeriodImportError, match="already imported by A1 on 2026-12-01; use "
                                                "--replace"):
        import_periods(year.svc, YEAR, csv, "A1", now=at("2026-12-01 10:00"))
    report = import_periods(year.svc, YEAR, csv, "A1", replace=True, now=at("2026-12-01 10:00"))
    assert report.replaced == 2
    with year.svc.store.read() as s:
        entries = s.execute(select(AUDIT.c.reason).where(AUDIT.c.trigger == "import_periods")
                            ).scalars().all()
    assert entries == ["2 period(s) from Sở Tài chính (good.csv)"] * 2
    tick(year.svc, at("2026-12-08 18:00"))
    year.score("S4", payload={}, when="2026-12-09 10:00")
    with pytest.raises(PeriodImportError, match="is calibration; periods are imported before"):
        import_periods(year.svc, YEAR, csv, "A1", replace=True, now=at("2026-12-10 10:00"))


def test_kpi_year_end_import_on_the_command_line(year: World, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD_CSV, encoding="utf-8")
    monkeypatch.setenv("KPI_DATABASE_URL", year.svc.settings.database_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["--now", "2026-12-01T09:00", "year-end", "import", YEAR, str(csv),
                              "--by", "A1"])
    assert ok.exit_code == 0, ok.output
    assert ok.output == "cycle t-2026: 2 period(s) imported for 1 person(s)\n"
    refused = runner.invoke(main, ["year-end", "import", YEAR, str(csv), "--by", "S1"])
    assert refused.exit_code != 0
    assert "S1 may not import periods" in refused.output


def test_a_monthly_cycle_takes_no_imports(year: World, tmp_path: Path) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD_CSV, encoding="utf-8")
    with pytest.raises(Exception, match="has no period_mean criterion"):
        import_periods(year.svc, "t-2026-03", csv, "A1", now=at("2026-12-01 09:00"))


def test_the_sample_year_end_cycle_file_is_ready_to_open(svc: Service) -> None:
    loaded, rules = load_for_open(svc, CONFIG / "cycles" / "sample-2026-year.yaml")
    assert loaded.config.period.kind == "year"
    assert [fw.id for fw in rules.frameworks.values()] == ["vn-year-end"]
