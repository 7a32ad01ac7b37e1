"""A second regime run as data, and `kpi score explain` / `kpi score check` on real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import make_settings
from tests.support import CONFIG, DATA, World
from workflow.cli import main
from workflow.demo import run_demo
from workflow.domain import State, Trigger
from workflow.scoring import shown_total
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import EVALUATION

NY = ZoneInfo("America/New_York")


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(UTC)


def ratings(mission: int, service: int, technical: int, teamwork: int) -> dict[str, object]:
    values = {"mission_results": mission, "customer_service": service,
              "technical_competence": technical, "teamwork": teamwork}
    return {"criteria": {k: {"points": str(v)} for k, v in values.items()},
            "comment": "Rating of record"}


def test_a_us_5_cfr_430_cycle_runs_on_the_same_engine(svc: Service) -> None:
    import_org(svc, DATA / "us_org.csv", now=ny("2026-09-28 09:00"))
    report = open_cycle(svc, DATA / "us_cycle.yaml", now=ny("2026-09-30 09:00"))
    assert report.evaluations == 5  # DEP is not in the cycle's units: DEP rates SEC
    w = World(svc, "us-fy2026")
    tick(svc, ny("2026-10-09 18:00"))  # self-assessments missed: on to the rating official
    assert {w.state(p) for p in w.ids()} == {State.SUPERVISOR_SCORING}
    given = {"E1": ratings(5, 5, 5, 5), "E2": ratings(1, 5, 5, 5), "E3": ratings(4, 3, 4, 3),
             "M1": ratings(2, 5, 5, 5), "SEC": ratings(3, 3, 3, 1)}
    for person, payload in given.items():
        out = w.fire(person, Trigger.SUBMIT_SCORE, w.row(person)["supervisor_id"], payload,
                     when="2026-10-13 09:00")
        assert out.to_state is State.APPEAL_WINDOW  # no calibration: no forced distribution
    classes = {p: (Decimal(w.row(p)["score"]), w.row(p)["final_class"]) for p in given}
    assert classes == {"E1": (100, "level_5"), "E2": (80, "level_1"), "E3": (70, "level_4"),
                       "M1": (85, "level_2"), "SEC": (50, "level_3")}
    lines = [line.text("en") for line in explain(svc, w.ev("E2")).lines]
    assert "Class by score: Level 4: Exceeds Fully Successful (70 to under 90)" in lines
    assert ("Rule: A critical element is rated Unacceptable (5 CFR 430.208(d)) (Mission "
            "results): at most Level 1: Unacceptable") in lines
    assert lines[-1] == "Class: Level 1: Unacceptable"
    assert "  Mission results: 1.00 of 5, x 5 = 5.00" in lines
    vi = [line.text("vi") for line in explain(svc, w.ev("E3")).lines]
    assert vi[-1] == "Xếp loại: Mức 4: Vượt yêu cầu"
    tick(svc, ny("2026-10-30 09:00"))
    assert {w.state(p) for p in given} == {State.FINALISED}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory, schema_template: Path) -> str:
    """The demo's database, played once for the tests of this module."""

    path = tmp_path_factory.mktemp("demo") / "kpi.sqlite3"
    url = f"sqlite:///{path}"
    svc = Service(Store(url), make_settings(url))
    run_demo(svc, CONFIG, lambda _line: None)
    svc.store.dispose()
    return url


def test_kpi_score_explain_works_on_the_demo_cycle(demo_db: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_DATABASE_URL", demo_db)
    runner = CliRunner()
    result = runner.invoke(main, ["score", "explain", "10"])
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[0].startswith("evaluation 10: ") and out[1].startswith("Rules: regime "
                                                                      "vn-decree-335-2025")
    total = next(line for line in out if line.startswith("Total: "))
    vi = runner.invoke(main, ["score", "explain", "10", "--lang", "vi"])
    assert vi.exit_code == 0 and "Tổng điểm: " in vi.output and "Xếp loại" in vi.output
    data = json.loads(runner.invoke(main, ["score", "explain", "10", "--json"]).output)
    assert data["recomputed_matches"] is True
    shown = Decimal(next(x["shown"] for x in data["lines"] if x["kind"] == "total"))
    assert total.startswith(f"Total: {shown:.2f} of 100")
    assert sum(Decimal(x["shown"]) for x in data["lines"] if x["adds_to_total"]) == shown
    assert all(set(x["label"]) == {"en", "vi"} for x in data["lines"])


def test_every_score_of_the_demo_is_recomputed_exactly_from_its_stamp(demo_db: str) -> None:

    svc = Service(Store(demo_db), make_settings(demo_db))
    try:
        with svc.store.read() as s:
            rows = s.execute(select(EVALUATION.c.id, EVALUATION.c.score)).all()
        for r in rows:
            e = explain(svc, r.id)
            assert e.recomputed_matches is True, r.id
            assert e.result is not None
            assert e.stamp["regime_id"] == "vn-decree-335-2025"
            assert e.stamp["framework_hash"] == e.result.framework.content_hash
            total = next(line for line in e.lines if line.kind == "total")
            assert total.shown == f"{shown_total(Decimal(r.score), e.result.regime):.2f}"
    finally:
        svc.store.dispose()


def test_kpi_score_check_names_file_line_and_key(tmp_path: Path) -> None:
    regime = tmp_path / "vn-decree-335-2025.yaml"
    text = (CONFIG / "regimes" / "vn-decree-335-2025.yaml").read_text(encoding="utf-8")
    regime.write_text(text.replace("    min: 70\n", "    min: 95\n"), encoding="utf-8")
    runner = CliRunner()
    bad = runner.invoke(main, ["score", "check", str(regime)])
    assert bad.exit_code == 2
    line = 1 + text.splitlines().index("    min: 70")
    assert f"kpi: error: {regime}:{line}: classes[1].min: thresholds out of order: 95 is not " \
           "below the threshold of excellent (90)" in bad.output
    good = runner.invoke(main, ["score", "check", *map(str, sorted(
        (CONFIG / "regimes").glob("*.yaml"))), *map(str, sorted(
            (CONFIG / "frameworks").glob("*.yaml")))])
    assert good.exit_code == 0, good.output
    # 3 regimes and 6 frameworks (the public employees regime brought two of them).
    assert good.output.count("ok: ") == 9
