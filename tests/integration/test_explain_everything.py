"""Issue 17 item 7: `kpi score explain` (text and --json), the calibration page and the
cycle report say everything the record knows, on real SQLite files.

- a finalised leader whose unit results went stale: the recorded score beside the
  recomputed one;
- colleagues' input left out for want of quorum: said, with the renormalised weights;
- a pool the small-pool rule exempts reads "not metered", and every pool names the
  rule that gave its allowance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from tests.integration.test_calibration import config_with, with_config
from tests.integration.test_full_cycle import approve
from tests.integration.test_scoring_leaders import give, pay, score_team, to_scoring
from tests.support import World, small_world
from tests.web_support import make_web, text_of
from workflow.cli.main import main
from workflow.domain import Trigger
from workflow.service.core import Service, load_snapshot
from workflow.store.tables import AUDIT

__all__ = ["config_with"]  # the fixture, imported for this module's tests


def kpi(svc: Service, *args: str) -> tuple[int, str]:
    env = {"KPI_DATABASE_URL": svc.settings.database_url,
           "KPI_CONFIG_DIR": str(svc.settings.config_dir)}
    out = CliRunner(env=env).invoke(main, list(args))
    return out.exit_code, out.output


def test_a_stale_leader_shows_the_recorded_score_beside_the_recomputed_one(
        svc: Service) -> None:
    w = small_world(svc)
    to_scoring(w)
    score_team(w, low="S4")  # S4 not completed: H1 gets half the unit results (93)
    approve(w)
    w.fire("H1", Trigger.ACCEPT_RESULT, "H1", {}, when="2026-05-18 09:00")
    w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "r"}, when="2026-05-18 09:00")
    w.fire("S4", Trigger.REVISE_SCORE, "D1", {
        "reason": "xác nhận", "score": pay(w.framework("S4"), "0.5", 4)},
        when="2026-05-19 09:00")
    with svc.store.read() as s:
        assert s.execute(select(AUDIT.c.seq).where(AUDIT.c.trigger == "unit_results_stale",
                                                   AUDIT.c.evaluation_id == w.ev("H1"))).first()
    h1 = str(w.ev("H1"))
    code, text = kpi(svc, "score", "explain", h1)
    assert code == 0, text
    assert ("Recorded score: 93.00 (Excellently completed); recomputed now: 100.00 "
            "(Excellently completed). The recorded result stands until an admin reopens the "
            "evaluation.") in text
    code, vi = kpi(svc, "score", "explain", h1, "--lang", "vi")
    assert "Điểm đã ghi nhận: 93,00 (Hoàn thành xuất sắc nhiệm vụ); tính lại hiện nay: " \
           "100,00 (Hoàn thành xuất sắc nhiệm vụ)" in vi
    code, raw = kpi(svc, "score", "explain", h1, "--json")
    data = json.loads(raw)
    assert data["stale"] is True and data["recomputed_matches"] is False
    assert (data["score"], data["class"]) == ("93", "excellent")
    assert (data["recomputed_score"], data["recomputed_class"]) == ("100", "excellent")
    assert [x["kind"] for x in data["lines"]].count("recorded") == 1


def test_colleagues_left_out_for_want_of_quorum_are_said_with_the_renormalised_weights(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path]) -> None:
    """The regime weighs colleagues 0.2 here; S1's one answer is below the quorum of 2."""
    svc = with_config(new_service(), config_with(
        "source_weights: {supervisor: 1, self: 0, peer: 0}",
        "source_weights: {supervisor: 0.8, self: 0, peer: 0.2}"))
    w = small_world(svc)
    w.submit_self("S1", when="2026-05-04 09:00")
    with svc.store.read() as s:
        peer = load_snapshot(svc, s, w.ev("S1"), lock=False).pending_peers()[0]
    w.fire("S1", Trigger.SUBMIT_PEER_INPUT, peer,
           {"criteria": {c.id: {"points": str(c.max)} for c in w.framework("S1").criteria
                         if c.peer_rated}, "comment": "tốt"}, when="2026-05-05 09:00")
    to_scoring(w)
    give(w, "S1", "0.5", 4)
    assert w.row("S1")["peer_quorum_not_reached"]
    code, text = kpi(svc, "score", "explain", str(w.ev("S1")))
    assert code == 0, text
    assert ("Colleagues' input left out: 1 answer(s) arrived, fewer than the 2 needed to keep "
            "them anonymous; it is not counted as zero") in text
    peer_rated = [c for c in w.framework("S1").criteria if c.peer_rated]
    assert text.count("without colleagues the weights supervisor 0.8, colleagues 0.2 are "
                      "renormalised over the sources given: supervisor 1") == len(peer_rated)
    code, vi = kpi(svc, "score", "explain", str(w.ev("S1")), "--lang", "vi")
    assert "Không tính góp ý của đồng nghiệp: chỉ nhận được 1 ý kiến" in vi
    code, raw = kpi(svc, "score", "explain", str(w.ev("S1")), "--json")
    lines = json.loads(raw)["lines"]
    assert [x["key"] for x in lines if x["kind"] == "renormalised"] == \
        [c.id for c in peer_rated]


def test_pool_meters_say_not_metered_and_the_rule_behind_each_allowance(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path],
        tmp_path: Path) -> None:
    """agency_only: task group C (S1 excellent, S2-S4 well completed) is small and not
    metered; the agency (1 of 6 well completed) is, by 20% rounded down."""
    svc = with_config(new_service(), config_with("  small_pool: floor ",
                                                 "  small_pool: agency_only "))
    w: World = small_world(svc)
    to_scoring(w)
    for person in ("S1", "S2", "S3", "S4", "A1", "H1", "D1"):
        give(w, person, "1" if person == "S1" else "0.5", 4)
    web = make_web(w)
    page = text_of(web.sign_in("D1").get(f"/calibration/{w.cycle_id}").text)
    assert "không áp dụng tỷ lệ: 20% của 3 làm tròn xuống thành 0" in page
    assert "20% của 6, làm tròn xuống: tối đa 1" in page
    code, shown = kpi(svc, "calibration", "show", w.cycle_id)
    assert code == 0, shown
    assert "not metered; not metered: 20% of 3 rounds down to 0" in shown
    assert "holds; 20% of 6, rounded down: 1 allowed" in shown
    # a move and its undo through the command, the undo refused without a reason
    s1 = str(w.ev("S1"))
    code, said = kpi(svc, "calibration", "move", s1, "--reason", "thử", "--by", "D1")
    assert code == 0 and "class moved to well_completed" in said, said
    code, said = kpi(svc, "calibration", "undo", s1, "--reason", " ", "--by", "D1")
    assert code != 0 and "undoing a calibration move needs a reason" in said, said
    code, said = kpi(svc, "calibration", "undo", s1, "--reason", "nhầm", "--by", "D1")
    assert code == 0 and "move undone; class back to excellent" in said, said
    assert w.row("S1")["final_class"] == "excellent"
    out = tmp_path / "report.html"
    code, said = kpi(svc, "report", w.cycle_id, "--out", str(out), "--lang", "en")
    assert code == 0, said
    report = text_of(out.read_text(encoding="utf-8"))
    assert "not metered not metered: 20% of 3 rounds down to 0" in report
    assert "20% of 6, rounded down: 1 allowed" in report
