"""The state key of a cycle's kept exports (issue 18, item 4): the cycle's own state.

Two cycles of the small organisation in one database. A change on the record of one
of them rebuilds its exports and leaves the other's kept; a name changed in the
organisation and a deadline passing (no transition, no sweep) are new states too;
and every statement of the key is an index probe, never a scan of a table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.support import DATA, World, at, small_world
from workflow.reports import words
from workflow.reports.facts import cycle_facts
from workflow.service import report_cache
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org

SECOND = "t-2026-04-b"
NOW = at("2026-05-05 09:00")


def two_cycles(svc: Service, tmp_path: Path) -> tuple[World, World]:
    first = small_world(svc)
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    assert "id: t-2026-04\n" in text
    path = tmp_path / "second.yaml"
    path.write_text(text.replace("id: t-2026-04\n", f"id: {SECOND}\n")
                    .replace('"Test cycle April 2026"', "'Second <b>\"cycle\"</b>'"),
                    encoding="utf-8")
    open_cycle(svc, path, now=at("2026-05-02 10:00"))
    return first, World(svc, SECOND)


def test_a_change_in_one_cycle_rebuilds_its_exports_and_not_the_other_cycles(
        new_service: Any, tmp_path: Path) -> None:
    svc: Service = new_service()
    a, b = two_cycles(svc, tmp_path)
    kept_a = report_cache.kept(svc, a.cycle_id, "report.csv", "vi", now=NOW)
    kept_b = report_cache.kept(svc, b.cycle_id, "report.csv", "vi", now=NOW)
    assert kept_a.built_now and kept_b.built_now
    b.submit_self("S1", when="2026-05-05 09:00")  # on B's record only
    again_a = report_cache.kept(svc, a.cycle_id, "report.csv", "vi", now=NOW)
    again_b = report_cache.kept(svc, b.cycle_id, "report.csv", "vi", now=NOW)
    assert (again_a.id, again_a.built_now) == (kept_a.id, False)  # A's file served again
    assert again_b.built_now and again_b.id != kept_b.id
    a.submit_self("S2", when="2026-05-05 09:00")  # now a change in A
    rebuilt_a = report_cache.kept(svc, a.cycle_id, "report.csv", "vi", now=NOW)
    kept_b_now = report_cache.kept(svc, b.cycle_id, "report.csv", "vi", now=NOW)
    assert rebuilt_a.built_now and rebuilt_a.id != kept_a.id
    assert (kept_b_now.id, kept_b_now.built_now) == (again_b.id, False)
    # The rebuilt file has the change.
    data = b"".join(report_cache.chunks(svc, rebuilt_a)).decode("utf-8-sig")
    s2 = next(line for line in data.splitlines() if ",S2," in line)
    assert f",{words.state('peer_input', 'vi')}," in s2, s2


def test_a_name_changed_in_the_organisation_is_a_new_state_of_every_cycle(
        new_service: Any, tmp_path: Path) -> None:
    svc: Service = new_service()
    a, b = two_cycles(svc, tmp_path)
    keys = {c: _key(svc, c) for c in (a.cycle_id, b.cycle_id)}
    org = (DATA / "small_org.csv").read_text(encoding="utf-8")
    assert "Hoàng Văn Nam" in org
    renamed = tmp_path / "org.csv"
    renamed.write_text(org.replace("Hoàng Văn Nam", 'Hoàng "Nam" <i>Mới</i>'), encoding="utf-8")
    import_org(svc, renamed, now=at("2026-05-01 09:00"))  # the same instant as before
    assert all(_key(svc, c) != k for c, k in keys.items())


def test_a_deadline_passing_is_a_new_state_and_its_phase_counts_late_at_once(
        new_service: Any, tmp_path: Path) -> None:
    svc: Service = new_service()
    a, _b = two_cycles(svc, tmp_path)
    due = min(a.row(p)["due_at"] for p in ("S1", "S2", "S3"))
    before, after = _key(svc, a.cycle_id, due.replace(microsecond=0) - _second()), \
        _key(svc, a.cycle_id, due)
    assert before != after
    assert _key(svc, a.cycle_id, due) == _key(svc, a.cycle_id, due)  # the same instant
    # Nothing swept: the self-assessments still pending are late once their time passed.
    open_before = _phase(svc, a.cycle_id, due - _second())
    late_after = _phase(svc, a.cycle_id, due)
    assert open_before[1] == 0 and open_before[2] > 0
    assert late_after[1] == open_before[2] and late_after[2] == 0


def test_every_statement_of_the_state_key_is_an_index_probe(
        svc: Service, tmp_path: Path) -> None:
    """No timing here (bench/report_cache.py measures): SQLite's plan for each statement
    the key runs names an index, and none scans a table."""
    a, _b = two_cycles(svc, tmp_path)
    statements: list[tuple[str, Any]] = []
    engine = svc.store.engine

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any,
             _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        _key(svc, a.cycle_id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 5
    path = engine.url.database
    assert path is not None
    with sqlite3.connect(path) as db:
        for statement, parameters in statements:
            plan = " | ".join(str(r[3]) for r in db.execute(
                f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "SCAN" not in plan, (statement, plan)
            assert "INDEX" in plan or "PRIMARY KEY" in plan, (statement, plan)


def _key(svc: Service, cycle_id: str, now: Any = NOW) -> str:
    with svc.store.read() as s:
        return report_cache.state_key(svc, s, cycle_id, now)


def _second() -> Any:
    from datetime import timedelta
    return timedelta(seconds=1)


def _phase(svc: Service, cycle_id: str, now: Any) -> tuple[int, int, int]:
    t = next(t for t in cycle_facts(svc, cycle_id, now=now).timeliness
             if t.phase == "self_assessment")
    return t.on_time, t.late, t.still_open

