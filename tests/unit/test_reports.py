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
    GAPS_SHOWN,
    LENIENT,
    PEER_GAP,
    SAME_CLASS,
    SAME_SCORE,
    SELF_GAP,
    SEVERE,
    SignalRules,
    assess,
    methods,
)
from workflow.reports.gaps import Gaps, SourceTotals
from workflow.reports.html import environment
from workflow.reports.signal_table import signal_table
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


# --- gap signals: the largest first, at most GAPS_SHOWN of each kind on the page -----------


def totals(evaluation_id: int, supervisor: str, own: str | None = None,
           peers: str | None = None, on_peer_criteria: str | None = None) -> SourceTotals:
    return SourceTotals(evaluation_id, f"P{evaluation_id}", "U1", "H1", Decimal(supervisor),
                        None if own is None else Decimal(own),
                        None if peers is None else Decimal(peers),
                        None if on_peer_criteria is None else Decimal(on_peer_criteria),
                        None if peers is None else Decimal(30))


def many_gaps() -> Gaps:
    """1,234 self-assessment gaps: ids 1..1234, 23.5 self-assessed against supervisor
    totals 40 + (id mod 50), so that many gaps tie; evaluation 7 scored exactly 89.995
    (the largest of all but the 100s'); two peer gaps, of 12.005 and of -9.5."""
    found = Gaps()
    for i in range(1, 1235):
        supervisor = "89.995" if i == 7 else str(40 + i % 50)
        found.large_self.append(totals(i, supervisor, own="23.5"))
    found.large_peer += [totals(2000, "80", peers="12.005", on_peer_criteria="0"),
                         totals(2001, "80", peers="10.5", on_peer_criteria="20")]
    return found


def named(found: Gaps) -> CycleFacts:
    out = facts({})
    out.names.update({t.reviewee_id: f'<b>"Tên"</b> {t.reviewee_id}'
                      for t in [*found.large_self, *found.large_peer]})
    out.names["P9"] = "=1+1"
    out.names["H1"] = "Trưởng phòng O'Brien"
    return out


def test_the_page_keeps_the_largest_gaps_of_each_kind_ties_by_evaluation_id() -> None:
    found = many_gaps()
    report = assess(named(found), found, limit=GAPS_SHOWN)
    kept = report.of_kind(SELF_GAP)
    assert len(kept) == GAPS_SHOWN == 100 and report.found_of(SELF_GAP) == 1234
    # Evaluation 7's 66.495 first; then 89 - 23.5 = 65.5 (the 24 ids 49, 99, ... 1199,
    # in that order), then 88's 24, then 87's... (the exact gaps, not the rounded ones).
    ids = [int(s.subject_id) for s in kept]
    assert ids[:3] == [7, 49, 99] and ids[24:26] == [1199, 48]
    assert ids == [7, *sorted((i for i in range(1, 1235) if i != 7),
                              key=lambda i: (-(i % 50), i))[:99]]
    gaps_kept = [abs(s.gap.gap) for s in kept if s.gap is not None]
    assert gaps_kept == sorted(gaps_kept, reverse=True)
    assert report.found_of(PEER_GAP) == 2 and len(report.of_kind(PEER_GAP)) == 2
    everything = assess(named(found), found)
    assert report.found_of(SELF_GAP) == len(everything.of_kind(SELF_GAP)) == 1234
    assert [s.subject_id for s in everything.of_kind(SELF_GAP)][:100] == \
        [s.subject_id for s in kept]


def test_a_gap_signal_shows_the_totals_by_the_display_rule_and_their_difference() -> None:
    """89.995 reads 89.99 ("well completed") as on the person's own page, and the gap is
    what the reader computes from the two figures shown (23.50 - 89.99), not the
    exact -66.495 rounded half-up (-66.50)."""
    found = many_gaps()
    for locale, figure in (("en", "self-assessed 23.50, supervisor 89.99: -66.49"),
                           ("vi", "23,50")):
        [seven] = [s for s in assess(named(found), found, locale=locale, limit=10)
                   .of_kind(SELF_GAP) if s.subject_id == "7"]
        assert figure in seven.figure and "90" not in seven.figure, seven.figure
        assert seven.gap is not None
        assert (seven.gap.source, seven.gap.supervisor, seven.gap.gap) == (
            Decimal("23.50"), Decimal("89.99"), Decimal("-66.49"))
    peers = assess(named(found), found).of_kind(PEER_GAP)
    assert [s.subject_id for s in peers] == ["2000", "2001"]  # 12.005 first, then -9.5
    assert "peers' mean 12.01, supervisor 0.00 of 30.00 on the peer-rated criteria: +12.01" \
        in peers[0].figure
    assert peers[1].figure.endswith(": -9.50")


@pytest.mark.parametrize(("locale", "said"), [
    ("en", "100 of 1,234 shown, the largest gaps first."),
    ("vi", "Hiển thị 100 trên tổng số 1.234, chênh lệch lớn nhất trước."),
])
def test_the_signals_section_says_how_many_there_are_and_links_to_all(
        locale: str, said: str) -> None:
    found = many_gaps()
    report = assess(named(found), found, locale=locale, limit=GAPS_SHOWN)
    link = "/admin/cycle/c/download/signals.csv"
    page = environment(PROJECT_ROOT / "templates", locale).get_template(
        "signals.html.j2").render(fair=report, f=named(found), signals_download=link,
                                  methods=methods(report.rules, locale))
    assert page.count('<div class="signal" data-kind="self_gap"') == 100
    assert page.count("<div ") == page.count("</div>")
    assert page.count('<div class="signal" data-kind="peer_gap"') == 2
    assert said in page and page.count(f'href="{link}"') == 2  # the section's, the kind's
    assert 'data-shown="100" data-total="1234"' in page
    assert "<b>" not in page and "&lt;b&gt;&#34;Tên&#34;&lt;/b&gt; P7" in page
    # Without a link (the HTML report file, the calibration page): every signal.
    whole = environment(PROJECT_ROOT / "templates", locale).get_template(
        "signals.html.j2").render(fair=assess(named(found), found, locale=locale),
                                  f=named(found), signals_download=None,
                                  methods=methods(report.rules, locale))
    assert whole.count('<div class="signal" data-kind="self_gap"') == 1234
    assert "signals-shown" not in whole and "signals.csv" not in whole


def test_the_signal_table_has_every_signal_with_its_figures_as_numbers() -> None:
    found = many_gaps()
    report = assess(named(found), found, locale="vi")
    header, rows = signal_table(report, named(found), "vi")
    assert header[:2] == ["Dấu hiệu", "Mã dấu hiệu"] and header[-1] == "Chênh lệch"
    assert len(rows) == 1236 and {r[1] for r in rows} == {SELF_GAP, PEER_GAP}
    seven = next(r for r in rows if r[2] == "7")
    assert seven[7:] == ["P7", '<b>"Tên"</b> P7', "H1", "Trưởng phòng O'Brien",
                         Decimal("23.50"), Decimal("89.99"), "", Decimal("-66.49")]
    nine = next(r for r in rows if r[2] == "9")
    assert nine[8] == "=1+1"  # made safe by the CSV writer (csv_files.write_table)
    peer = next(r for r in rows if r[2] == "2000")
    assert peer[13] == Decimal(30) and f"{peer[13]:f}" == "30"

