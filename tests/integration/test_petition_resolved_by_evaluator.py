"""``petition.resolved_by: evaluator``: the one who classified decides the petition (kiến
nghị) against their classification (Decree 90's rule), the regime says so. Nobody decides
their own case all the same: where the scorer stepped aside (a conflict declared in the
organisation file), the one who scored instead classified and decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.test_recusal import org_with
from tests.integration.test_scoring_leaders import give, to_scoring
from tests.support import DATA, World, decree_335_changed, without_calibration
from tests.support import kpi_act as act
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import NotPermitted, Recused
from workflow.service.core import Service
from workflow.store.tables import OUTBOX

pytestmark = pytest.mark.both_stores

SCORED = "2026-05-13 09:00"


def evaluator_decides(new_service: Callable[..., Service], tmp_path: Path,
                      conflicts: dict[str, str] | None = None) -> World:
    config = decree_335_changed(tmp_path, r"^  resolved_by: evaluator_superior.*$",
                                "  resolved_by: evaluator")
    made = new_service()
    svc = Service(made.store, replace(made.settings, config_dir=config))
    org = org_with(tmp_path, conflicts) if conflicts else DATA / "small_org.csv"
    w = without_calibration(svc, tmp_path, org)
    to_scoring(w)
    return w


def mails(w: World, event: str) -> list[tuple[str, int | None]]:
    with w.svc.store.read() as s:
        return sorted((r.recipient_id, r.evaluation_id) for r in s.execute(
            OUTBOX.select().where(OUTBOX.c.event == event)))


def test_the_scorer_decides_the_petition_against_their_classification(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = evaluator_decides(new_service, tmp_path)
    give(w, "S1", "0.5", 2, when=SCORED)
    assert w.state("S1") is State.APPEAL_WINDOW
    lodged = act(w, "S1", "lodge_appeal", "S1",
                 {"reasons": "Hai sản phẩm <b>\"chưa\"</b> được tính"}, tmp_path,
                 "2026-05-14 09:00")
    assert lodged.exit_code == 0, lodged.output
    assert w.state("S1") is State.APPEAL_REVIEW
    assert w.row("S1")["appeal_reviewer_id"] == "H1"  # who scored, not D1 above them
    assert ("H1", w.ev("S1")) in mails(w, "task_appeal_review")
    assert ("D1", w.ev("S1")) not in mails(w, "task_appeal_review")
    # D1, above the scorer, is not the reviewer here.
    with pytest.raises(NotPermitted):
        w.fire("S1", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ nguyên"},
               when="2026-05-15 09:00")
    decided = act(w, "S1", "uphold_score", "H1", {"reason": "Đã rà soát: giữ nguyên <i>"},
                  tmp_path, "2026-05-15 09:00")
    assert decided.exit_code == 0, decided.output
    assert w.state("S1") is State.FINALISED


def test_where_the_supervisor_stepped_aside_the_one_who_scored_instead_decides(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    """H1 declared a conflict with S2 (the organisation file): D1 scores S2, so D1
    classified and decides S2's petition; H1 can do neither."""
    w = evaluator_decides(new_service, tmp_path, {"H1": "S2"})
    assert w.row("S2")["supervisor_id"] == "D1"
    give(w, "S2", "0.5", 2, when=SCORED)
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "Chưa đúng"},
           when="2026-05-14 09:00")
    assert w.row("S2")["appeal_reviewer_id"] == "D1"
    with pytest.raises((Recused, NotPermitted)):
        w.fire("S2", Trigger.UPHOLD_SCORE, "H1", {"reason": "x"}, when="2026-05-15 09:00")
    w.fire("S2", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ nguyên"},
           when="2026-05-15 09:00")
    assert w.state("S2") is State.FINALISED


def test_kpi_cycle_check_says_who_resolves(new_service: Callable[..., Service],
                                          tmp_path: Path) -> None:
    w = evaluator_decides(new_service, tmp_path)
    out = CliRunner().invoke(main, ["--now", "2026-05-02T10:00", "cycle", "check",
                                    str(DATA / "small_cycle.yaml")],
                             env={"KPI_DATABASE_URL": w.svc.settings.database_url,
                                  "KPI_CONFIG_DIR": str(w.svc.settings.config_dir)})
    assert "resolved within 10 working days by the one who classified it (the scorer), " \
           "no re-review" in out.output, out.output
