"""Each fairness signal, raised by data made to raise it and silent on data that
should not raise it, through real cycles on SQLite.

The organisation: a director DIR (unit BGD, scored by GOV) and four units U1-U4,
each a head Hk (scored by DIR) with five specialists scored by the head.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.integration.test_reports import leader, peer, self_of, specialist
from tests.support import DATA, World, at, small_world
from workflow.domain import Trigger
from workflow.reports import fairness
from workflow.reports.facts import cycle_facts
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.sweep import tick

HEADER = ("employee_id,full_name,email,unit_id,unit_name,position,position_group,"
          "supervisor_id,task_group,locale,is_leader")
CYCLE = """\
id: f-2026-04
name: "Fairness test cycle"
period: {kind: month, start: 2026-04-01, end: 2026-04-30}
phases:
  self_assessment: {opens: "2026-05-04 08:00", due: {working_days: 3}}
  peer_input: {due: {working_days: 2}}
  supervisor_scoring: {due: {working_days: 3}}
  calibration: {due: {working_days: 3}}
  appeal_window: {due: {working_days: 5}}
  appeal_review: {due: {working_days: 10}}
peers: {enabled: false}
calibration: {enabled: false}
evaluators: {DIR: GOV}
"""
MODERATE = [specialist(r, 3) for r in ((4, 3, 3), (5, 5, 5), (7, 7, 6), (9, 8, 8), (10, 10, 10))]
# 52.5 + 10, 15, 20, 25, 30 = 62.5 ... 82.5: two classes, spread out


def _staff(profile: str) -> list[dict[str, object]]:
    if profile == "lenient":  # 100, 99, 98, 97, 96: all excellent, nearly the same
        return [specialist(r, 4) for r in ((10, 10, 10), (10, 10, 9), (10, 9, 9), (9, 9, 9),
                                           (9, 9, 8))]
    if profile == "severe":  # 26.5 ... 38.5: all not completed
        return [specialist((p, p, p), 1) for p in (3, 4, 5, 6, 7)]
    return MODERATE


def world(svc: Service, tmp_path: Path, profiles: dict[str, str]) -> World:
    """Open the cycle, everyone self-assesses as scored, the heads score their teams."""
    lines = [HEADER, "GOV,Chủ tịch,gov@x.vn,UB,Ủy ban,Chủ tịch,leader,,A,vi,true",
             "DIR,Giám đốc,dir@x.vn,BGD,Ban Giám đốc,Giám đốc,leader,,A,vi,true"]
    for k in range(1, 5):
        lines.append(f"H{k},Trưởng phòng {k},h{k}@x.vn,U{k},Phòng {k},Trưởng phòng,leader,"
                     f"DIR,A,vi,true")
        lines += [f"S{k}{i},Chuyên viên {k}{i},s{k}{i}@x.vn,U{k},Phòng {k},Chuyên viên,"
                  f"specialist,H{k},C,vi,false" for i in range(1, 6)]
    org = tmp_path / "org.csv"
    org.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text(CYCLE, encoding="utf-8")
    import_org(svc, org, now=at("2026-05-01 09:00"))
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    w = World(svc, "f-2026-04")
    scores: dict[str, tuple[str, dict[str, object]]] = {}
    for k in range(1, 5):
        profile = profiles.get(f"U{k}", "moderate")
        for i, payload in enumerate(_staff(profile), 1):
            scores[f"S{k}{i}"] = (f"H{k}", payload)
        head = {"lenient": leader((10, 10, 8), 4, 14), "severe": leader((3, 3, 3), 1, 3)}
        scores[f"H{k}"] = ("DIR", head.get(profile, leader((8, 8, 8), 2, 10)))
    scores["DIR"] = ("GOV", leader((8, 8, 8), 2, 10))
    for person, (_by, payload) in scores.items():
        w.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person, self_of(payload),
               when="2026-05-05 09:00")
    for person, (by, payload) in scores.items():  # the teams before their heads
        w.fire(person, Trigger.SUBMIT_SCORE, by, payload, when="2026-05-06 09:00")
    return w


def kinds(report: fairness.FairnessReport, kind: str) -> list[str]:
    return sorted(s.subject_id for s in report.of_kind(kind))


def test_lenient_and_severe_supervisors_are_signalled_with_their_numbers(
        svc: Service, tmp_path: Path) -> None:
    w = world(svc, tmp_path, {"U1": "lenient", "U4": "severe"})
    report = fairness.signals(svc, w.cycle_id)
    assert kinds(report, fairness.LENIENT) == ["H1"]
    assert kinds(report, fairness.SEVERE) == ["H4"]
    lenient = report.of_kind(fairness.LENIENT)[0]
    assert lenient.people == 5
    assert "mean 98.00 against 60.75 for the other 20" in lenient.figure
    by_id = {c.scorer_id: c for c in report.supervisors}
    # The moderate heads are near the rest of the agency: no signal.
    assert by_id["H2"].d is not None and abs(by_id["H2"].d) < 0.8
    # DIR scored four heads: too few people to compare, whatever their scores.
    assert by_id["DIR"].n == 4 and by_id["DIR"].d is None
    # Egalitarianism: U1 all excellent at nearly one score, U4 all not completed.
    assert kinds(report, fairness.SAME_CLASS) == ["U1", "U4"]
    assert kinds(report, fairness.SAME_SCORE) == ["U1"]
    same = next(s for s in report.of_kind(fairness.SAME_CLASS) if s.subject_id == "U4")
    assert "6 of 6 (100%) are rated “Not completed”" in same.figure
    assert report.of_kind(fairness.SELF_GAP) == []  # everyone proposed what they got


def test_a_cycle_without_bias_raises_no_signal(svc: Service, tmp_path: Path) -> None:
    w = world(svc, tmp_path, {})
    report = fairness.signals(svc, w.cycle_id)
    assert report.signals == []
    facts = cycle_facts(svc, w.cycle_id)
    assert facts.agency.n == 25
    assert all(c.d is not None and abs(c.d) < 0.8 for c in report.supervisors if c.n >= 5)


def test_signals_never_change_a_score_or_a_class(svc: Service, tmp_path: Path) -> None:
    w = world(svc, tmp_path, {"U1": "lenient"})
    before = [w.row(p) for p in ("S11", "S21", "H1")]
    assert fairness.signals(svc, w.cycle_id).of_kind(fairness.LENIENT)
    after = [w.row(p) for p in ("S11", "S21", "H1")]
    assert [(r["score"], r["final_class"], r["version"]) for r in before] == \
        [(r["score"], r["final_class"], r["version"]) for r in after]


def test_peer_input_below_the_quorum_is_withheld_from_the_signals(svc: Service) -> None:
    w = small_world(svc)  # quorum 2, two peers each
    w.fire("S1", Trigger.SUBMIT_SELF_ASSESSMENT, "S1", self_of(specialist((2, 2, 2), 4)),
           when="2026-05-05 09:00")
    first = w.peers_of("S1")[0]
    w.fire("S1", Trigger.SUBMIT_PEER_INPUT, first, peer(10), when="2026-05-06 09:00")
    tick(svc, at("2026-05-12 09:00"))  # peer input closes with one answer of two
    assert w.row("S1")["peer_quorum_not_reached"]
    w.fire("S1", Trigger.SUBMIT_SCORE, "H1", specialist((2, 2, 2), 4), when="2026-05-12 10:00")
    report = fairness.signals(svc, w.cycle_id)
    assert report.of_kind(fairness.PEER_GAP) == []  # 30 against 6, but one answer only
    assert report.of_kind(fairness.SELF_GAP) == []
    html_free = " ".join(s.figure + s.subject for s in report.signals)
    assert first not in html_free


def test_a_large_self_assessment_gap_either_way_is_signalled(svc: Service) -> None:
    w = small_world(svc)
    w.fire("A1", Trigger.SUBMIT_SELF_ASSESSMENT, "A1", self_of(specialist((2, 2, 2), 1)),
           when="2026-05-05 09:00")  # 23.5, far below what H1 gives
    w.fire("A1", Trigger.SUBMIT_SCORE, "H1", specialist((9, 9, 9), 4), when="2026-05-06 09:00")
    report = fairness.signals(svc, w.cycle_id)
    [signal] = report.of_kind(fairness.SELF_GAP)
    assert signal.subject_id == str(w.ev("A1"))
    assert "self-assessed 23.50, supervisor 97.00: -73.50" in signal.figure
    assert DATA.exists()
    assert Decimal(w.row("A1")["score"]) == Decimal(97)
