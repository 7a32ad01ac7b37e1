"""The report's fast paths give what the slow ones give, on hostile data (issue 18,
item 4).

The fast paths: the self-assessed and supervisor's totals of every evaluation
(``gaps.source_totals``: the stamp's fields read by the database, the supervisor's
payload read only where needed, ``scoring.fast.exact_total``) and the CSV's cell
writers chosen once per column (``csv_files.write_rows``). The slow paths they replace:
``scoring.score`` on every payload with the whole stamp and every submission decoded,
and ``csv_files.cell`` for every cell.

The world: the small cycle, names with markup and quotes, S1 self-assessed and scored
exactly 89.995 (shown 89.99), S2's items failed and late with a waiver confirmed by the
director, then S2's score revised on appeal; S4 and A1 missed their self-assessments;
the leaders scored on their teams.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.support import DATA, World, approve_pool, at, move_class
from workflow.domain import State, SubmissionKind, Trigger
from workflow.reports import csv_files
from workflow.reports.facts import cycle_facts
from workflow.reports.gaps import source_totals
from workflow.reports.rows import criteria_of, evaluation_rows
from workflow.reports.table import columns, localised
from workflow.scoring import ScoringInputs
from workflow.scoring.compute import score, to_decimal
from workflow.service.core import Service, load_snapshot
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.scoring_inputs import source_input, subordinates_of
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import EVALUATION, SUBMISSION

HOSTILE = {"S1": '<b>Lê "Thị" O\'Brien</b>', "S2": "=HYPERLINK(\"x\") Nam, & Co",
           "H1": "Trưởng phòng <i>Hùng</i> 'H1'"}
RUBRIC = ("political_quality", "competence_attitude", "innovation")
DIRECTOR = "Giám đốc Nguyễn Thị Sở"


def items(spec: list[tuple[bool, bool, int, int]]) -> list[dict[str, Any]]:
    return [{"title": f"Báo cáo <i>\"{i + 1}\"</i>", "completed": done, "meets_requirements": ok,
             "failed_assessments": failed, "delays": late}
            for i, (done, ok, failed, late) in enumerate(spec)]


def payload(points: tuple[str, ...], tasks: list[dict[str, Any]], **extra: Any
            ) -> dict[str, Any]:
    criteria = {c: {"points": p} for c, p in zip(RUBRIC, points, strict=False)}
    if len(points) > len(RUBRIC):
        criteria["organising_capacity"] = {"points": points[len(RUBRIC)]}
    return {"criteria": criteria, "ratios": {}, "tasks": tasks, **extra}


# 8.12 + 8.12 + 8.13 + tasks 65.625 = exactly 89.995 (test_score_display.py)
EXACT = payload(("8.12", "8.12", "8.13"), items([(True, True, 0, 1)] * 3 + [(True, True, 0, 0)]))
S2_SCORE = payload(("7.33", "6.67", "8.01"), items(
    [(True, True, 2, 1), (True, False, 0, 0), (False, False, 0, 0), (True, True, 1, 3)]))
S2_SCORE["tasks"][0]["quality_waiver"] = {"approver": DIRECTOR,
                                           "reason": "Mất điện <i>diện rộng</i>"}


def seed(svc: Service, folder: Path) -> World:
    org = (DATA / "small_org.csv").read_text(encoding="utf-8")
    for who, name in (("S1", "Phạm Thị Lan"), ("S2", "Hoàng Văn Nam"),
                      ("H1", "Trưởng phòng Lê Văn Hùng")):
        assert f"{who},{name}," in org
        quoted = HOSTILE[who].replace('"', '""')  # CSV quoting
        org = org.replace(f"{who},{name},", f'{who},"{quoted}",')
    (folder / "org.csv").write_text(org, encoding="utf-8")
    import_org(svc, folder / "org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    selfs = {
        "S1": {**EXACT, "note": '<script>alert("x")</script> & gửi'},
        "S2": payload(("9.99", "9.5", "10"), items([(True, True, 1, 2)] * 4), note="=1+1"),
        "S3": payload(("6.13", "7", "5.5"), items([(True, True, 0, 0), (True, False, 0, 0),
                                                    (False, False, 0, 0)]), note=""),
        "H1": payload(("8", "8.5", "9", "11.5"), items([(True, True, 0, 0)] * 2), note="x"),
        "D1": payload(("9", "9", "9", "12"), items([(True, True, 0, 0)] * 4), note="y"),
    }
    for person, given in selfs.items():
        w.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person, given, when="2026-05-05 09:00")
    for person in ("S1", "S2", "S3"):
        for p in w.peers_of(person):
            w.fire(person, Trigger.SUBMIT_PEER_INPUT, p,
                   {"criteria": {c: {"points": "8.33"} for c in RUBRIC}, "comment": "<b>p</b>"},
                   when="2026-05-06 09:00")
    tick(svc, at("2026-05-07 18:00"))  # S4 and A1 missed the self-assessment
    for person in ("S4", "A1"):
        for p in w.peers_of(person):
            w.fire(person, Trigger.SUBMIT_PEER_INPUT, p,
                   {"criteria": {c: {"points": "5"} for c in RUBRIC}, "comment": ""},
                   when="2026-05-08 09:00")
    scores = {"S1": EXACT, "S2": S2_SCORE,
              "S3": payload(("7", "7", "7"), items([(True, True, 0, 0), (False, False, 0, 0)])),
              "S4": payload(("4", "4.5", "4"), items([(True, False, 3, 5)])),
              "A1": payload(("9.5", "9.5", "9.5"), items([(True, True, 0, 0)] * 3))}
    for person, given in scores.items():
        w.fire(person, Trigger.SUBMIT_SCORE, "H1", {**given, "comment": "Tốt <b>lắm</b>"},
               when="2026-05-08 10:00")
    w.fire("H1", Trigger.SUBMIT_SCORE, "D1",
           payload(("8", "8", "8", "10"), items([(True, True, 0, 1)] * 4)), when="2026-05-12 11:00")
    w.fire("D1", Trigger.SUBMIT_SCORE, "UB1",
           payload(("9", "9", "9", "12"), items([(True, True, 0, 0)] * 4)), when="2026-05-12 12:00")
    assert Decimal(w.row("S1")["score"]) == Decimal("89.995")
    if w.row("A1")["final_class"] == "excellent":
        move_class(svc, w.ev("A1"), "well_completed", "quota: <b>A1</b> over the limit", "D1",
                   now=at("2026-05-13 09:00"))
    approve_pool(svc, w.cycle_id, "D1", now=at("2026-05-13 10:00"))
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "=SUM(A1) item 4 was done"},
           when="2026-05-14 09:00")
    w.fire("S2", Trigger.REVISE_SCORE, "D1",
           {"reason": "Item 4 <b>delivered</b>", "score": payload(
               ("8", "8", "8"), items([(True, True, 0, 0)] * 4))}, when="2026-05-15 09:00")
    return w


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, schema_template: Path) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("fastrows")
    path = folder / "kpi.sqlite3"
    shutil.copy(schema_template, path)
    svc = Service(Store(f"sqlite:///{path}"), make_settings(f"sqlite:///{path}"))
    yield seed(svc, folder)
    svc.store.dispose()


def slow_totals(svc: Service, cycle_id: str) -> dict[int, tuple[str, str, Decimal,
                                                                 Decimal | None]]:
    """Every scored evaluation's (reviewee, scorer, supervisor's total, self-assessed
    total), each total computed by ``scoring.score`` from its payload."""
    out = {}
    with svc.store.read() as s:
        rules = svc.rules.get(s, cycle_id)
        for r in s.execute(select(EVALUATION).where(
                EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.score.is_not(None),
                EVALUATION.c.state != State.CANCELLED.value)):
            given: dict[str, list[dict[str, Any]]] = {}
            for sub in s.execute(select(SUBMISSION).where(SUBMISSION.c.evaluation_id == r.id)
                                 .order_by(SUBMISSION.c.id)):
                given.setdefault(sub.kind, []).append(dict(sub.payload))
            framework = rules.frameworks[r.framework_hash]
            team = (subordinates_of(s, load_snapshot(svc, s, r.id, lock=False))
                    if r.is_leader else None)

            def total(p: dict[str, Any], team: Any = team, leader: bool = bool(r.is_leader),
                      framework: Any = framework) -> Decimal:
                return to_decimal(score(rules.regime, framework, ScoringInputs(
                    supervisor=source_input(p), subordinates=team, is_leader=leader)
                ).exact_total)

            selfs = given.get(SubmissionKind.SELF_ASSESSMENT.value)
            out[r.id] = (r.reviewee_id, r.scored_by,
                         total(given[SubmissionKind.SUPERVISOR_SCORE.value][-1]),
                         total(selfs[-1]) if selfs else None)
    return out


def test_the_fast_totals_are_the_slow_ones_on_hostile_data(hostile: World) -> None:
    svc = hostile.svc
    with svc.store.read() as s:
        fast = {t.evaluation_id: (t.reviewee_id, t.scorer_id, t.supervisor_total, t.self_total)
                for t in source_totals(svc, hostile.cycle_id, s)}
    slow = slow_totals(svc, hostile.cycle_id)
    assert fast == slow
    # The cases that matter are there: the exact 89.995 (never rounded on the way), a
    # revised score, the leaders on their teams, and the missed self-assessments.
    by_person = {who: (sup, own) for who, _by, sup, own in slow.values()}
    assert by_person["S1"] == (Decimal("89.995"), Decimal("89.995"))
    assert by_person["S4"][1] is None and by_person["A1"][1] is None
    assert {"S2", "H1", "D1"} <= set(by_person)


@pytest.mark.parametrize("locale", [None, "vi", "en"])
def test_the_csv_cells_are_the_cells_of_the_slow_writer(hostile: World, locale: str | None
                                                        ) -> None:
    svc = hostile.svc
    with svc.store.read() as s:
        facts = cycle_facts(svc, hostile.cycle_id, s, now=at("2026-06-01 09:00"))
        labels = {c.id: facts.label(c.id, locale or "en") for c in facts.classes}
        criteria = criteria_of(svc, s, hostile.cycle_id, locale or "en")
        cols = columns(criteria, facts.timezone, labels)
        if locale is not None:
            cols = localised(cols, locale, dict(criteria))
        rows = list(evaluation_rows(svc, hostile.cycle_id, s))
    out = io.StringIO()
    assert csv_files.write_rows(out, cols, rows, locale) == len(rows) == 7
    written = list(csv.reader(io.StringIO(out.getvalue())))
    assert written[0] == [c.header for c in cols]
    slow = [[csv_files.cell(c.kind, c.value(r), locale) for c in cols] for r in rows]
    assert written[1:] == slow
    s1 = next(line for line in written[1:] if HOSTILE["S1"] in line)
    # A file in a language writes the score as its pages do; one for scripts with a point.
    shown = "89,99" if locale == "vi" else "89.99"
    assert shown in s1 and "89.995" not in s1 and "89,995" not in s1
    assert any(cell.startswith("'=HYPERLINK") for line in written for cell in line)
