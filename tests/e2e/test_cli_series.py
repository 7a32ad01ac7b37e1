"""`kpi cycle series check|open` and the scheduled open of a series' periods by the sweep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from tests.support import CONFIG, kpi, ok
from workflow.store.tables import AUDIT, CYCLE, EVALUATION, SCHEDULED_OPEN

SERIES = CONFIG / "series" / "snv-2026.yaml"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kpi.sqlite3'}"
    monkeypatch.setenv("KPI_DATABASE_URL", url)
    monkeypatch.delenv("KPI_NOW", raising=False)
    ok(kpi("init"))
    ok(kpi("org", "import", str(CONFIG / "organisation.csv")))
    yield url


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as c:
        out = {
            "cycles": c.execute(select(func.count()).select_from(CYCLE)).scalar_one(),
            "evaluations": c.execute(select(func.count()).select_from(EVALUATION)).scalar_one(),
            "opens": c.execute(select(func.count()).select_from(AUDIT)
                               .where(AUDIT.c.trigger == "open_cycle")).scalar_one(),
            "pending": c.execute(select(func.count()).select_from(SCHEDULED_OPEN)
                                 .where(SCHEDULED_OPEN.c.status == "pending")).scalar_one(),
        }
    engine.dispose()
    return out


def test_series_check_prints_each_cycle_with_its_phase_dates(db: str) -> None:
    out = ok(kpi("cycle", "series", "check", str(SERIES)))
    assert "series snv-2026: 2026, every month, and the year-end cycle; 13 cycles" in out
    assert "snv-2026-08  month 2026-08-01 .. 2026-08-31  not open" in out
    # National Day (31 Aug - 2 Sep): August's cycle opens on Thursday 3 September.
    assert "  self_assessment      opens Thu 2026-09-03 08:00  due Tue 2026-09-08 17:00" in out
    assert "snv-2026-year  year 2026-01-01 .. 2026-11-30  not open" in out
    assert out.rstrip().endswith(f"{SERIES}: ok")


def test_a_wrong_series_file_is_one_error_line_naming_file_line_and_key(
        db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SERIES.read_text("utf-8").replace("every: month", "every: fortnight"),
                   encoding="utf-8")
    result = kpi("cycle", "series", "check", str(bad))
    assert result.exit_code != 0
    assert f"kpi: error: {bad}:7: every: Input should be 'month' or 'quarter'" in result.output


def test_series_open_opens_one_period_and_refuses_it_twice(db: str) -> None:
    out = ok(kpi("--now", "2026-06-01T07:00", "cycle", "series", "open", str(SERIES),
                 "--period", "2026-05", "--by", "SNV060"))
    assert out.startswith("opened cycle snv-2026-05: 58 evaluations in self_assessment")
    again = kpi("--now", "2026-06-01T07:05", "cycle", "series", "open", str(SERIES),
                "--period", "snv-2026-05")
    assert again.exit_code != 0 and "cycle 'snv-2026-05' is already open" in again.output
    unknown = kpi("cycle", "series", "open", str(SERIES), "--period", "2026-13")
    assert unknown.exit_code != 0 and "no period '2026-13' in this series" in unknown.output
    assert counts(db)["cycles"] == 1
    # Without --period: the first period not open yet.
    out = ok(kpi("--now", "2026-06-01T07:10", "cycle", "series", "open", str(SERIES)))
    assert out.startswith("opened cycle snv-2026-01:")


def test_the_sweep_opens_each_scheduled_period_once_even_after_downtime(db: str) -> None:
    out = ok(kpi("--now", "2026-05-20T09:00", "cycle", "series", "open", str(SERIES),
                 "--schedule", "--by", "SNV060"))
    assert "scheduled snv-2026-05: opens Mon 2026-06-01 08:00" in out
    # January to April opened on days already past: not scheduled, said so.
    assert "  snv-2026-04: its opening has passed; open it with --period" in out
    assert counts(db)["pending"] == 9  # May to December and the year end
    again = ok(kpi("--now", "2026-05-21T09:00", "cycle", "series", "open", str(SERIES),
                   "--schedule"))
    assert "scheduled" not in again.replace("scheduled already", "")
    before = ok(kpi("tick", "--now", "2026-06-01T07:59"))
    assert "cycles opened" not in before and counts(db)["cycles"] == 0
    # Down from 31 May to 2 July: the first sweep opens May and June, once each.
    after = ok(kpi("tick", "--now", "2026-07-02T10:00"))
    assert "cycles opened: snv-2026-05, snv-2026-06" in after
    ok(kpi("tick", "--now", "2026-07-02T10:01"))
    ok(kpi("tick", "--now", "2026-07-02T10:02"))
    now = counts(db)
    assert now["cycles"] == 2 and now["opens"] == 2 and now["evaluations"] == 2 * 58
    assert now["pending"] == 7
    # Opened by hand before its date: the schedule is settled, the sweep leaves it.
    ok(kpi("--now", "2026-07-20T09:00", "cycle", "series", "open", str(SERIES),
           "--period", "2026-07"))
    ok(kpi("tick", "--now", "2026-08-04T09:00"))
    assert counts(db)["cycles"] == 3 and counts(db)["opens"] == 3
    status = ok(kpi("cycle", "series", "check", str(SERIES)))
    assert "snv-2026-07  month 2026-07-01 .. 2026-07-31  open since Mon 2026-07-20 09:00" in status
    assert "snv-2026-08  month 2026-08-01 .. 2026-08-31  scheduled (pending)" in status


def test_a_scheduled_period_that_cannot_open_is_marked_failed_and_writes_nothing(
        db: str, tmp_path: Path) -> None:
    series = tmp_path / "series.yaml"
    series.write_text(SERIES.read_text("utf-8").replace("admins: [SNV060]", "admins: [SNV999]"),
                      encoding="utf-8")
    ok(kpi("--now", "2026-05-20T09:00", "cycle", "series", "open", str(series), "--schedule",
           "--period", "2026-05"))
    assert "cycles opened" not in ok(kpi("tick", "--now", "2026-06-01T09:00"))
    assert counts(db)["cycles"] == 0 and counts(db)["evaluations"] == 0
    result = kpi("cycle", "series", "check", str(series))
    assert "snv-2026-05  month 2026-05-01 .. 2026-05-31  scheduled (failed)" in result.output
    assert "problem: the scheduled open failed: cannot open the cycle:\nadmins[0]: 'SNV999' " \
           "is not in the organisation" in result.output
    # Fixed and scheduled again: it opens at the next sweep past its date.
    ok(kpi("--now", "2026-05-31T09:00", "cycle", "series", "open", str(SERIES), "--schedule",
           "--period", "2026-05"))
    assert "cycles opened: snv-2026-05" in ok(kpi("tick", "--now", "2026-06-01T09:05"))


def test_a_second_series_making_the_same_cycle_ids_is_refused_naming_the_first(
        db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    monkeypatch.setenv("KPI_CONFIG_DIR", str(config))
    # Another agency's file that kept the template's id: the same snv-2026-.. cycles.
    second = config / "series" / "snv-copy.yaml"
    second.write_text(SERIES.read_text("utf-8").replace("Sở Nội vụ", "Sở Tư pháp"),
                      encoding="utf-8")
    for command in (("check",), ("open", "--schedule")):
        result = kpi("--now", "2026-05-20T09:00", "cycle", "series", *command, str(second))
        assert result.exit_code == 2, result.output
        assert f"{second}:5: id: the cycle ids snv-2026-01, snv-2026-02" in result.output
        assert "are made by the series file snv-2026.yaml already" in result.output
    assert counts(db)["pending"] == 0
    # The first file is not refused for the second one's sake.
    assert ok(kpi("cycle", "series", "check", str(config / "series" / "snv-2026.yaml")))
    # Given its own id, the second series is its own.
    second.write_text(second.read_text("utf-8").replace("id: snv-2026 ", "id: stp-2026 "),
                      encoding="utf-8")
    assert "series stp-2026" in ok(kpi("cycle", "series", "check", str(second)))
