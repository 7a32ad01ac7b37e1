"""The pure parts of the reports: the stamp adapter, the statistics, the signals'
thresholds, the training streak, sheet names, formula-safe text and the charts."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest

from workflow.reports import charts
from workflow.reports.csv_files import safe_text
from workflow.reports.decisions import Period, streak
from workflow.reports.facts import (
    CycleFacts,
    ScorerFigures,
    Spread,
    UnitFigures,
    class_infos,
    pool_meters,
)
from workflow.reports.fairness import (
    LENIENT,
    SAME_CLASS,
    SAME_SCORE,
    SEVERE,
    SignalRules,
    assess,
)
from workflow.reports.spreadsheet import sheet_title
from workflow.reports.stamp import read_stamp
from workflow.scoring.model import load_regime
from workflow.settings import PROJECT_ROOT

REGIME = load_regime(PROJECT_ROOT / "config/regimes/vn-decree-335-2025.yaml")


def spread(scores: list[float]) -> Spread:
    return Spread(len(scores), sum(scores), sum(s * s for s in scores))


def facts(scorers: dict[str, list[float]], units: dict[str, dict[str, int]] | None = None,
          unit_scores: dict[str, list[float]] | None = None) -> CycleFacts:
    figures = [ScorerFigures(k, k, len(v), spread(v), {}) for k, v in scorers.items()]
    agency = spread([s for v in scorers.values() for s in v])
    given = unit_scores or {}
    unit_list = [UnitFigures(u, u, sum(c.values()), c, spread(given.get(u, [])),
                             min(given.get(u, [0])), max(given.get(u, [0])))
                 for u, c in (units or {}).items()]
    return CycleFacts("c", "c", "month", date(2026, 4, 1), date(2026, 4, 30), "UTC", REGIME,
                      class_infos(REGIME), {}, unit_list, figures, agency, [], [], [], [], {},
                      0)


def test_stamp_adapter_reads_the_breakdown_and_tolerates_what_it_lacks() -> None:
    view = read_stamp({"regime_id": "r", "regime_version": "1", "framework_id": "f",
                       "framework_version": "2", "forced_by": ["discipline"],
                       "breakdown": [{"criterion": "a", "label": {"en": "A", "vi": "Á"},
                                      "points": "7.5", "max": "10"},
                                     {"criterion": "b", "label": "B", "points": None,
                                      "max": "14"}]})
    assert (view.regime, view.framework, view.forced_by) == ("r v1", "f v2", ("discipline",))
    a, b = view.breakdown
    assert (a.label_vi, a.points, a.max) == ("Á", Decimal("7.5"), Decimal(10))
    assert (b.label_en, b.points) == ("B", None)
    empty = read_stamp(None)
    assert (empty.regime, empty.breakdown, empty.forced_by) == ("", (), ())


def test_spread_gives_the_mean_and_the_sample_deviation() -> None:
    s = spread([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.mean == 5
    assert s.sd == pytest.approx(math.sqrt(32 / 7))
    assert s.minus(spread([2, 4])).mean == pytest.approx(34 / 6)
    assert spread([3]).sd is None and Spread().mean is None


def test_a_lenient_supervisor_needs_a_large_difference_and_enough_people() -> None:
    rest = [60.0, 70, 80, 65, 75, 60, 70, 80, 65, 75]
    report = assess(facts({"H": [95, 96, 97, 98, 99], "K": rest}), None)
    assert [(s.kind, s.subject_id, s.people) for s in report.signals] == [
        (LENIENT, "H", 5), (SEVERE, "K", 10)]
    # The same scores from four people: too few to say anything.
    small = assess(facts({"H": [95, 96, 97, 98], "K": rest}), None)
    assert small.signals == []
    assert small.supervisors[0].d is None


def test_a_small_difference_is_no_signal_however_many_people() -> None:
    a = [70.0 + (i % 10) for i in range(200)]
    b = [71.0 + (i % 10) for i in range(200)]
    report = assess(facts({"A": a, "B": b}), None)
    assert report.signals == []
    d = report.supervisors[0].d
    assert d is not None and -0.8 < d < 0  # real, but small
    strict = assess(facts({"A": a, "B": b}), None, SignalRules(large_difference=0.3))
    assert {s.kind for s in strict.signals} == {LENIENT, SEVERE}


def test_egalitarian_units_are_signalled_by_class_and_by_score() -> None:
    units = {"same": {"well_completed": 9, "completed": 1},
             "mixed": {"well_completed": 8, "completed": 2},
             "tiny": {"excellent": 4}}
    scores = {"same": [80, 80.5, 81, 79.5, 80, 80, 80.5, 81, 79.5, 60],
              "mixed": [70, 72, 75, 80, 85, 88, 71, 73, 60, 55], "tiny": [95, 95, 95, 95]}
    report = assess(facts({}, units, scores), None)
    assert [(s.kind, s.subject_id) for s in report.signals] == [(SAME_CLASS, "same")]
    flat = assess(facts({}, {"flat": {"completed": 6}}, {"flat": [60, 60, 60.5, 60, 61, 60]}),
                  None)
    assert [s.kind for s in flat.signals] == [SAME_CLASS, SAME_SCORE]


def test_training_streak_counts_the_run_that_ends_with_the_last_period() -> None:
    def p(k: str) -> Period:
        return Period("c", date(2026, 1, 1), None, k)

    below = {"not_completed"}
    assert len(streak([p("not_completed"), p("completed"), p("not_completed"),
                       p("not_completed")], below)) == 2
    assert streak([p("not_completed"), p("not_completed"), p("completed")], below) == []
    assert streak([], below) == []


def test_pool_meters_from_counts_per_task_group() -> None:
    assert REGIME.quota is not None
    meters = pool_meters(REGIME.quota, {"A": {"excellent": 2, "well_completed": 10},
                                        "B": {"excellent": 1, "well_completed": 4}}, None)
    got = {m.pool: (m.limited, m.relative, m.allowed, m.breaks) for m in meters}
    assert got == {"agency": (3, 14, 2, True), "task_group:A": (2, 10, 2, False),
                   "task_group:B": (1, 4, 0, True)}


def test_sheet_titles_are_valid_and_unique() -> None:
    used: set[str] = set()
    assert sheet_title("P1", used) == "P1"
    assert sheet_title("p1", used) == "p1~2"  # Excel compares sheet names without case
    long = sheet_title("a/b:c*d?e[f]" + "x" * 40, used)
    assert len(long) <= 31 and not set("[]:*?/\\") & set(long)


def test_text_that_a_spreadsheet_would_run_is_made_inert() -> None:
    assert safe_text("=SUM(A1)") == "'=SUM(A1)"
    assert safe_text("+84 90") == "'+84 90"
    assert safe_text("@x") == "'@x"
    assert safe_text("Nguyễn = ok") == "Nguyễn = ok"


def test_charts_are_accessible_svg_with_escaped_text_and_own_ids() -> None:
    svg = charts.stacked_bars(
        "t1", "Title <b>", "Desc & figures", ["<script>alert(1)</script>", "$x$ Phòng"],
        [charts.Series("one", [1, 2]), charts.Series("two", [3, 0])], notes=["n", ""])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-t1-title chart-t1-desc"
    assert root.find(f"{ns}title").text == "Title <b>"  # type: ignore[union-attr]
    assert root.find(f"{ns}desc").text == "Desc & figures"  # type: ignore[union-attr]
    assert root.find(f".//{ns}script") is None
    texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "<script>alert(1)</script>" in texts and "$x$ Phòng" in texts
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids and all(str(i).startswith("chart-t1") for i in ids)
    assert root.find(f".//{ns}pattern") is not None  # the hatch of the second series
    again = charts.stacked_bars(
        "t1", "Title <b>", "Desc & figures", ["<script>alert(1)</script>", "$x$ Phòng"],
        [charts.Series("one", [1, 2]), charts.Series("two", [3, 0])], notes=["n", ""])
    assert again == svg  # deterministic: no date, stable ids
