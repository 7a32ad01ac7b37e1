"""Calibration against the quota, on real SQLite files (Decree 335 Art 20(5))."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.integration.test_scoring_leaders import give, pay, to_scoring
from tests.support import (
    CONFIG,
    DATA,
    World,
    approve_pool,
    at,
    move_class,
    sample_world,
    small_world,
)
from workflow.domain import State, Trigger
from workflow.errors import CalibrationError, ConfigFileError, NotPermitted, RestoreRefused
from workflow.service import calibration, records
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.store.db import Store
from workflow.store.tables import APPROVAL, AUDIT, EVALUATION

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

LEADERS = ("SNV001", "SNV002", "SNV003")


def pools_hold(svc: Service, cycle_id: str) -> bool:
    return not calibration.view(svc, cycle_id).breaking


def test_the_sample_agency_cannot_approve_until_its_quota_holds(svc: Service) -> None:
    w = sample_world(svc)
    to_scoring(w)
    order = sorted(w.ids(), key=lambda p: (p in LEADERS, p == "SNV001", p))
    for i, person in enumerate(order):  # two in three excellent: far over the quota
        give(w, person, "1" if i % 3 else "0.5", 4)
    view = calibration.view(svc, w.cycle_id)
    assert view.not_yet_scored == 0 and view.breaking and not view.can_approve
    with pytest.raises(CalibrationError, match="the quota does not hold: agency: "):
        approve_pool(svc, w.cycle_id, "SNV001", now=at("2026-05-14 10:00"))
    # moving down only some of those who break it is not enough
    breakers = [m for m in view.members if m.breaks]
    move_class(svc, breakers[0].evaluation_id, "well_completed",
                           "lowest score of the pool", "SNV001", now=at("2026-05-14 10:00"))
    with pytest.raises(CalibrationError, match="the quota does not hold"):
        approve_pool(svc, w.cycle_id, "SNV001", now=at("2026-05-14 10:05"))
    assert {w.state(p) for p in w.ids()} == {State.CALIBRATION}
    while calibration.view(svc, w.cycle_id).breaking:
        m = next(m for m in calibration.view(svc, w.cycle_id).members if m.breaks)
        move_class(svc, m.evaluation_id, "well_completed",
                               "Art 20(5): the pool's quota", "SNV001",
                               now=at("2026-05-14 10:10"))
    n = approve_pool(svc, w.cycle_id, "SNV001", now=at("2026-05-14 11:00"))
    assert n == len(w.ids())
    assert {w.state(p) for p in w.ids()} == {State.APPEAL_WINDOW}
    assert pools_hold(svc, w.cycle_id)
    with svc.store.read() as s:
        # The calibrator's approval, then the one of whoever took their own case on.
        row, _ = s.execute(select(APPROVAL.c.pools).order_by(APPROVAL.c.id))
        entry, _ = s.execute(select(AUDIT).where(AUDIT.c.trigger == "approve_calibration_pools")
                             .order_by(AUDIT.c.seq))
    assert row.pools["pools"]["agency"]["limited"] <= row.pools["pools"]["agency"]["allowed"]
    assert entry.reason.startswith("every pool holds its quota: agency ")
    # a moved evaluation keeps its score, and says why it is well completed
    moved = breakers[0].evaluation_id
    e = explain(svc, moved)
    assert e.stored_score == breakers[0].score and e.final_class == "well_completed"
    assert any(line.text("en").startswith("Calibration: moved from Excellently completed to "
                                          "Well completed by SNV001 on 2026-05-14: lowest "
                                          "score of the pool")
               for line in e.lines)


def test_only_the_calibrator_approves_and_only_excellent_moves_down(svc: Service) -> None:
    w = small_world(svc)
    to_scoring(w)
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4)  # 85: well completed
    with pytest.raises(NotPermitted):
        approve_pool(svc, w.cycle_id, "H1", now=at("2026-05-14 10:00"))
    with pytest.raises(CalibrationError, match="may only move excellent down to well_completed"):
        move_class(svc, w.ev("S1"), "completed", "no", "D1",
                               now=at("2026-05-14 10:00"))


def cycle_text(**calibration_keys: str) -> str:
    keys = ", ".join(f"{k}: {v}" for k, v in calibration_keys.items())
    return (DATA / "small_cycle.yaml").read_text(encoding="utf-8").replace(
        "calibration: {enabled: true, calibrator: D1}",
        f"calibration: {{enabled: true, calibrator: D1, {keys}}}")


def open_small(svc: Service, tmp_path: Path, text: str) -> World:
    path = tmp_path / "cycle.yaml"
    path.write_text(text, encoding="utf-8")
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, path, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    to_scoring(w)
    return w


def test_an_exception_ratio_needs_its_decision_and_is_recorded_with_the_approval(
        svc: Service, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(cycle_text(exception_ratio="0.5"), encoding="utf-8")
    with pytest.raises(ConfigFileError, match="exception_ratio needs exception_decision"):
        open_cycle(svc, bad, now=at("2026-05-02 10:00"))
    w = open_small(svc, tmp_path, cycle_text(exception_ratio="0.5",
                                             exception_decision='"QĐ 99/QĐ-UBND"'))
    for person, share in [("S1", "1"), ("S2", "0.5"), ("S3", "0.5"), ("S4", "0.5"),
                          ("A1", "0.5"), ("H1", "0.5"), ("D1", "0.5")]:
        give(w, person, share, 4)
    meter = calibration.view(svc, w.cycle_id).meters[0]
    assert (meter.pool, meter.limited, meter.relative, meter.allowed) == ("agency", 1, 6, 3)
    # task group C has S1 excellent and three well completed: 50% of 3 = 1 allowed
    approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-14 10:00"))
    with svc.store.read() as s:
        # One approval per approver: D1 for the pool, UB1 for D1's own evaluation
        # (recusal); each records the decision.
        rows = list(s.execute(select(APPROVAL.c.pools)))
        entries = list(s.execute(select(AUDIT).where(
            AUDIT.c.trigger == "approve_calibration_pools")))
    assert rows and len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert row.pools["exception_decision"] == "QĐ 99/QĐ-UBND"
        assert row.pools["exception_ratio"] == "0.5"
        assert entry.reason.endswith("exception ratio 0.5 by decision QĐ 99/QĐ-UBND")


def with_config(svc: Service, folder: Path) -> Service:
    return Service(svc.store, replace(svc.settings, config_dir=folder))


@pytest.fixture
def config_with(tmp_path: Path) -> Callable[[str, str], Path]:
    """A copy of config/ with one line of the Decree 335 regime file changed."""
    def make(old: str, new: str) -> Path:
        folder = tmp_path / "config"
        shutil.copytree(CONFIG, folder, dirs_exist_ok=True)
        regime = folder / "regimes" / "vn-decree-335-2025.yaml"
        text = regime.read_text(encoding="utf-8")
        assert old in text
        regime.write_text(text.replace(old, new), encoding="utf-8")
        return folder
    return make


@pytest.mark.parametrize(("setting", "can_approve"), [
    ("floor", False), ("at_least_one", True), ("agency_only", True)])
def test_a_small_pool_is_treated_as_the_regime_says(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path],
        tmp_path: Path, setting: str, can_approve: bool) -> None:
    """Task group C: S1 excellent, S2-S4 well completed (fewer than five)."""
    folder = config_with("  small_pool: floor ", f"  small_pool: {setting} ")
    svc = with_config(new_service(), folder)
    w = open_small(svc, tmp_path, (DATA / "small_cycle.yaml").read_text(encoding="utf-8"))
    give(w, "S1", "1", 4)
    for person in ["S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4)
    view = calibration.view(svc, w.cycle_id)
    pool_c = next(m for m in view.meters if m.pool == "task_group:C")
    assert pool_c.small and pool_c.relative == 3
    # the agency pool: 1 excellent of 6 well completed, 1 allowed: it holds in every case
    assert not next(m for m in view.meters if m.pool == "agency").breaks
    assert view.can_approve is can_approve
    if can_approve:
        approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-14 10:00"))
        assert w.row("S1")["final_class"] == "excellent"
    else:
        with pytest.raises(CalibrationError, match="task_group:C: 1 excellent, at most 0"):
            approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-14 10:00"))


def test_an_exception_ratio_above_the_regimes_ceiling_is_refused(
        new_service: Callable[..., Service], config_with: Callable[[str, str], Path],
        tmp_path: Path) -> None:
    folder = config_with("  exception_max_ratio: null", "  exception_max_ratio: 0.25")
    svc = with_config(new_service(), folder)
    w = open_small(svc, tmp_path, cycle_text(exception_ratio="0.5",
                                             exception_decision='"QĐ 99"'))
    for person in ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]:
        give(w, person, "0.5", 4)
    with pytest.raises(CalibrationError, match="above the most regime vn-decree-335-2025 "
                                               r"allows \(0.25\)"):
        approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-14 10:00"))


# --- the quota holds after any approved calibration, and after what follows it -----------

PEOPLE = ["S1", "S2", "S3", "S4", "A1", "H1", "D1"]
level = st.sampled_from([("1", 4), ("0.7", 4), ("0.5", 4), ("0.5", 2), ("0.3", 1)])
after_approval = st.lists(st.tuples(st.sampled_from(["revise", "override", "restore"]),
                                    st.sampled_from(PEOPLE), level), max_size=3)


@pytest.fixture(scope="module")
def hypothesis_services(tmp_path_factory: pytest.TempPathFactory, schema_template: Path
                        ) -> Iterator[Callable[[], Service]]:
    made: list[Service] = []
    folder = tmp_path_factory.mktemp("quota")

    def make() -> Service:
        path = folder / f"kpi{len(made)}.sqlite3"
        shutil.copy(schema_template, path)
        svc = Service(Store(f"sqlite:///{path}"), make_settings(f"sqlite:///{path}"))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.store.dispose()


def counts_hold(svc: Service, cycle_id: str) -> bool:
    with svc.store.read() as s:
        n = s.execute(select(func.count()).select_from(EVALUATION)
                      .where(EVALUATION.c.cycle_id == cycle_id,
                             EVALUATION.c.state == State.CALIBRATION.value)).scalar_one()
    return n == 0 and pools_hold(svc, cycle_id)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(levels=st.lists(level, min_size=7, max_size=7), moves=st.data(), later=after_approval)
def test_after_any_approved_calibration_every_pool_holds_its_quota(
        hypothesis_services: Callable[[], Service], levels: list[tuple[str, int]],
        moves: st.DataObject, later: list[tuple[str, str, tuple[str, int]]]) -> None:
    svc = hypothesis_services()
    w = small_world(svc)
    to_scoring(w)
    for person, (share, done) in zip(PEOPLE, levels, strict=True):
        give(w, person, share, done)
    # the calibrator moves down any excellent, in any order, until approval succeeds
    while True:
        try:
            approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-14 10:00"))
            break
        except CalibrationError:
            excellent = [m.evaluation_id for m in calibration.view(svc, w.cycle_id).members
                         if m.final_class == "excellent"]
            pick = moves.draw(st.sampled_from(excellent))
            move_class(svc, pick, "well_completed", "quota", "D1",
                                   now=at("2026-05-14 09:00"))
    assert counts_hold(svc, w.cycle_id)
    for i, (what, person, (share, done)) in enumerate(later):
        when = f"2026-05-{18 + i} 09:00"
        if w.state(person) is not State.APPEAL_WINDOW:
            continue
        if what == "revise":
            w.fire(person, Trigger.LODGE_APPEAL, person, {"reasons": "r"}, when=when)
            reviewer = w.row(person)["appeal_reviewer_id"]
            w.fire(person, Trigger.REVISE_SCORE, reviewer, {
                "reason": "xem xét lại", "score": pay(w.framework(person), share, done)},
                when=f"2026-05-{18 + i} 10:00")
        elif what == "restore":  # the reviewer asks to restore the class calibration moved
            w.fire(person, Trigger.LODGE_APPEAL, person, {"reasons": "r"}, when=when)
            reviewer = w.row(person)["appeal_reviewer_id"]
            try:
                w.fire(person, Trigger.UPHOLD_SCORE, reviewer,
                       {"reason": "khôi phục", "restore_class": True},
                       when=f"2026-05-{18 + i} 10:00")
            except RestoreRefused:  # not moved, or no room left: nothing changed
                assert w.state(person) is State.APPEAL_REVIEW
        else:
            records.record_override(svc, w.ev(person), "degradation_conclusion", "KL 1", "A1",
                                    now=at(when))
        assert counts_hold(svc, w.cycle_id)
