"""The sweep plans a deadline move once per shape of evaluation and rebinds it to the
others (workflow/service/sweep_plans.py), and opening copies a zone's task email for
each reviewee of that zone (cycles._opening_mail): what they write must be exactly
what planning and mailing every evaluation on its own writes.

Two databases get the same organisation (names with markup and quotes, Vietnamese
and English readers, two time zones, a delegation that keeps one unit's evaluations
out of any shape) and the same cycle; one is opened and swept as the engine does, the
other with sharing switched off. Every row the sweeps wrote is compared, the audit chain's
hashes included; only the random personal links differ.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import DATA, at
from workflow.service import cycles, sweep, sweep_plans
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.notices import hash_token
from workflow.service.org import import_org
from workflow.service.queries import verify_audit
from workflow.service.records import delegate
from workflow.store.tables import AUDIT, DEADLINE, EVALUATION, OUTBOX, TOKEN

pytestmark = pytest.mark.both_stores

HEADER = ("employee_id,full_name,email,unit_id,unit_name,position,position_group,"
          "supervisor_id,task_group,locale,is_leader,timezone")
ORG = [
    "UB1,Chủ tịch Trần Văn Tỉnh,chutich@ubnd.example.gov.vn,UBND,Ủy ban,Chủ tịch,leader,,A,vi,"
    "true,",
    "D1,Giám đốc Nguyễn Thị Sở,giamdoc@snv.example.gov.vn,BGD,Ban Giám đốc,Giám đốc,leader,,A,"
    "vi,true,",
    'H1,"Lê <b>Văn</b> ""Hùng""",hung@snv.example.gov.vn,P1,Phòng Một,Trưởng phòng,leader,D1,'
    "A,vi,true,",
    "H2,Jane O'Brien,jane@snv.example.gov.vn,P2,Phòng Hai,Trưởng phòng,leader,D1,A,en,true,"
    "Europe/Paris",
    "A1,Trịnh Thu Hằng,hang@snv.example.gov.vn,P1,Phòng Một,Chuyên viên,specialist,H1,B,vi,"
    "false,",
]
# Specialists of both units: markup and quotes in names, both languages, two zones.
ORG += [
    f'S{i},"Phạm <i>Thị</i> ""{i}"" Lan",s{i}@snv.example.gov.vn,{unit},{unit_name},'
    f"Chuyên viên,specialist,{head},C,{'en' if i % 3 == 0 else 'vi'},false,"
    f"{'Europe/Paris' if i % 4 == 0 else ''}"
    for i, (unit, unit_name, head) in enumerate(
        [("P1", "Phòng Một", "H1")] * 7 + [("P2", "Phòng Hai", "H2")] * 6, start=1)
]


def _world(svc: Service, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "org.csv").write_text("\n".join([HEADER, *ORG]) + "\n", encoding="utf-8")
    cycle = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    # No peers (a reviewee with peers has assignments: never shared); both units.
    cycle = cycle.replace("peers: {enabled: true", "peers: {enabled: false")
    cycle = cycle.replace("population: {units: [BGD, P1]}", "population: {units: [BGD, P1, P2]}")
    (folder / "cycle.yaml").write_text(cycle, encoding="utf-8")
    import_org(svc, folder / "org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, folder / "cycle.yaml", now=at("2026-05-02 10:00"))
    # An acting supervisor for H2's unit while she is away: an assignment on each of
    # those evaluations, so they are planned one by one.
    assert delegate(svc, "t-2026-04", "H2", "A1", at("2026-06-30 00:00"), "H2 on leave",
                    "A1", now=at("2026-05-02 11:00")) >= 6


def _swept(svc: Service, batch: int = 50) -> dict[str, list[tuple[Any, ...]]]:
    with svc.store.read() as s:
        due = s.execute(select(func.max(EVALUATION.c.due_at))).scalar_one()
    report = sweep.tick(svc, due + timedelta(minutes=1), batch=batch)
    assert report.transitions["self_assessment_missed"] >= 15
    assert verify_audit(svc).ok
    with svc.store.read() as s:
        def rows(table: Any, order: Any, leave: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
            return [tuple((k, v) for k, v in sorted(r._mapping.items()) if k not in leave)
                    for r in s.execute(select(table).order_by(order))]

        outbox = [dict(r._mapping) for r in s.execute(select(OUTBOX).order_by(OUTBOX.c.id))]
        tokens = {r.token_hash: (r.person_id, r.evaluation_id) for r in s.execute(select(TOKEN))}
    # Each link in an email is a stored token of its recipient and its evaluation.
    for r in outbox:
        if url := r["context"].get("action_url"):
            raw = url.rpartition("/t/")[2]
            assert tokens[hash_token(raw)] == (r["recipient_id"], r["evaluation_id"])
    with svc.store.read() as s:
        return {
            "evaluation": rows(EVALUATION, EVALUATION.c.id),
            "deadline": rows(DEADLINE, DEADLINE.c.id),
            "audit": rows(AUDIT, AUDIT.c.seq),
            "token": rows(TOKEN, TOKEN.c.id, ("id", "token_hash")),
            # The personal link differs; whether there is one does not.
            "outbox": [tuple(sorted({**r, "id": None, "context": sorted(
                {**r["context"], "action_url": bool(r["context"].get("action_url"))}.items())
            }.items())) for r in outbox],
        }


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reviewees whose deadline move the sweep planned (the others were rebound)."""
    seen: list[str] = []
    real_plan = sweep.plan

    def counting_plan(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[2].row.reviewee_id)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(sweep, "plan", counting_plan)
    return seen


@pytest.mark.parametrize("batch", [50, 4])  # one round; rounds that split the shapes
def test_shared_plans_write_what_planning_each_evaluation_writes(
        new_service: Callable[..., Service], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, planned: list[str], batch: int) -> None:
    copied: list[str] = []
    real_mail_like = cycles.mail_like

    def counting_mail_like(*args: Any, **kwargs: Any) -> Any:
        copied.append(kwargs["person"].id)
        return real_mail_like(*args, **kwargs)

    real_opening_mail = cycles._opening_mail

    def opening_mail_alone(svc: Service, mail: Any, made: dict[Any, Any], *args: Any) -> None:
        made.clear()  # nothing made before: each task email made on its own
        real_opening_mail(svc, mail, made, *args)

    shared_svc, alone_svc = new_service("shared.sqlite3"), new_service("alone.sqlite3")
    with monkeypatch.context() as m:
        m.setattr(cycles, "mail_like", counting_mail_like)
        _world(shared_svc, tmp_path, "shared")
    # Opening: the task emails of one zone are copies of its first (S1's, S4's...).
    assert len(copied) >= 10
    with monkeypatch.context() as m:
        m.setattr(cycles, "_opening_mail", opening_mail_alone)
        _world(alone_svc, tmp_path, "alone")

    shared = _swept(shared_svc, batch)
    planned_shared = list(planned)
    planned.clear()
    with monkeypatch.context() as m:
        m.setattr(sweep_plans.SharedPlans, "_shape", lambda *args: None)
        alone = _swept(alone_svc, batch)
    moved = sum(1 for row in alone["evaluation"] if dict(row)["state"] == "supervisor_scoring")

    assert len(planned) == moved  # sharing off: each evaluation planned on its own
    if batch > len(ORG):  # one round: H1's specialists of one zone make one shape
        assert len({"S1", "S2", "S3", "S5", "S6", "S7"} & set(planned_shared)) == 1
        assert len(planned_shared) < moved - 4
    else:  # shapes are the round's own: fewer are shared, some still are
        assert len(planned_shared) < moved
    for table in ("evaluation", "deadline", "audit", "token", "outbox"):
        assert shared[table] == alone[table], table


def test_a_reviewee_with_an_assignment_is_planned_on_their_own(
        new_service: Callable[..., Service], tmp_path: Path, planned: list[str]) -> None:
    svc = new_service()
    _world(svc, tmp_path, "one")
    _swept(svc)
    # H2's unit has an acting supervisor (an assignment on each evaluation): no shape.
    p2 = {f"S{i}" for i in range(8, 14)}
    assert p2 <= set(planned)
    # H1's specialists share one shape per time zone (S4 reads in Paris): S1 is
    # planned, the others of S1's zone are S1's change rebound.
    assert {"S1", "S4"} <= set(planned)
    assert not {"S2", "S3", "S5", "S6", "S7"} & set(planned)
