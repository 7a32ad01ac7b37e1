"""Issue 14, item 9: the audit trail proves the data, and cannot be recomputed.

An insider with write access to the database edits a submitted score, a class move or
an override, or rewrites an audit row and recomputes every hash after it and the head.
``kpi audit verify`` names the row each time; an anchor kept elsewhere catches even a
rewrite made with the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests.integration.test_full_cycle import approve, to_calibration
from tests.support import World, at, small_world
from workflow.cli.main import main
from workflow.domain import Trigger
from workflow.service import audit_check, records
from workflow.service.core import Service
from workflow.service.queries import verify_audit
from workflow.store import audit
from workflow.store.tables import AUDIT, AUDIT_HEAD, EVALUATION, MOVE, OVERRIDE, SUBMISSION

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

HEAD = AUDIT_HEAD


@pytest.fixture
def calibrated(svc: Service) -> World:
    """Every evaluation scored, S1 excellent and moved down, the pool approved."""
    world = small_world(svc)
    to_calibration(world, {"S1": 0.97, "S2": 0.97})
    approve(world)
    assert verify_audit(svc).ok
    return world


def recompute_from(svc: Service, seq: int, change: dict[str, Any],
                   key: bytes | None = None) -> None:
    """Change row ``seq``, then recompute its hash, every later one and the head, as an
    insider who knows the algorithm (and, with ``key``, the key) would."""
    with svc.store.write() as s:
        rows = [dict(r._mapping) for r in s.execute(
            select(AUDIT).where(AUDIT.c.seq >= seq).order_by(AUDIT.c.seq))]
        prev = rows[0]["prev_hash"]
        rows[0].update(change)
        for row in rows:
            row["prev_hash"] = prev
            prev = row["row_hash"] = audit.row_hash(prev, row, key)
            s.execute(update(AUDIT).where(AUDIT.c.seq == row["seq"]).values(
                **change if row["seq"] == seq else {}, prev_hash=row["prev_hash"],
                row_hash=row["row_hash"]))
        s.execute(update(HEAD).where(HEAD.c.id == 1).values(last_hash=prev))


def test_a_forged_row_with_the_chain_recomputed_without_the_key_is_named(
        calibrated: World) -> None:
    svc = calibrated.svc
    with svc.store.read() as s:
        seq = s.execute(select(AUDIT.c.seq).where(AUDIT.c.trigger == "move_class")).scalar()
    assert seq is not None
    recompute_from(svc, seq, {"reason": "no reason at all", "actor_id": "H1"})
    result = verify_audit(svc)
    assert (result.ok, result.first_broken_seq) == (False, seq)
    assert "without the audit key" in (result.problem or "")


def test_an_edited_submission_payload_is_named_even_with_its_hash_updated(
        calibrated: World) -> None:
    svc = calibrated.svc
    with svc.store.write() as s:
        sub = s.execute(select(SUBMISSION).where(
            SUBMISSION.c.evaluation_id == calibrated.ev("S3"),
            SUBMISSION.c.kind == "supervisor_score")).one()
        payload = json.loads(json.dumps(sub.payload))
        criterion = next(iter(payload["criteria"]))
        payload["criteria"][criterion]["points"] = 30
        s.execute(update(SUBMISSION).where(SUBMISSION.c.id == sub.id).values(
            payload=payload, payload_hash=audit.payload_hash(payload)))
        voucher = s.execute(select(AUDIT.c.seq).where(
            AUDIT.c.evaluation_id == sub.evaluation_id, AUDIT.c.trigger == "submit_score")
        ).scalar_one()
    result = verify_audit(svc)
    assert not result.ok
    assert result.first_broken_seq == voucher
    assert f"submission {sub.id} (supervisor_score of evaluation {sub.evaluation_id}" in (
        result.problem or "")


def test_an_edited_payload_with_its_old_hash_is_named(calibrated: World) -> None:
    svc = calibrated.svc
    with svc.store.write() as s:
        sub = s.execute(select(SUBMISSION).where(
            SUBMISSION.c.evaluation_id == calibrated.ev("S2"),
            SUBMISSION.c.kind == "self_assessment")).one()
        s.execute(update(SUBMISSION).where(SUBMISSION.c.id == sub.id).values(
            payload={**sub.payload, "note": "rewritten"}))
    result = verify_audit(svc)
    assert not result.ok and f"submission {sub.id}" in (result.problem or "")


def test_an_edited_score_is_named(calibrated: World) -> None:
    svc = calibrated.svc
    eid = calibrated.ev("S4")
    with svc.store.write() as s:
        s.execute(update(EVALUATION).where(EVALUATION.c.id == eid).values(score="95.00"))
    result = verify_audit(svc)
    assert not result.ok
    assert f"evaluation {eid}: the stored score 95.00" in (result.problem or "")


def test_a_class_nobody_moved_is_named(calibrated: World) -> None:
    svc = calibrated.svc
    eid = calibrated.ev("S3")
    with svc.store.write() as s:
        s.execute(update(EVALUATION).where(EVALUATION.c.id == eid).values(
            final_class="excellent"))
    result = verify_audit(svc)
    assert not result.ok and f"evaluation {eid}: its class excellent" in (result.problem or "")


def test_an_edited_calibration_move_is_named(calibrated: World) -> None:
    svc = calibrated.svc
    with svc.store.write() as s:
        move = s.execute(select(MOVE)).first()
        assert move is not None
        s.execute(update(MOVE).where(MOVE.c.id == move.id).values(reason="đã thống nhất"))
    result = verify_audit(svc)
    assert not result.ok and f"calibration move {move.id}" in (result.problem or "")


def test_an_edited_override_is_named(svc: Service) -> None:
    world = small_world(svc)
    world.submit_self("S2")
    records.record_override(svc, world.ev("S2"), "discipline_reprimand_or_higher",
                            "Quyết định số 12/QĐ-SNV ngày 02/5/2026", "A1",
                            now=at("2026-05-05 10:00"))
    assert verify_audit(svc).ok
    with svc.store.write() as s:
        s.execute(update(OVERRIDE).values(source_document="Quyết định <b>khác</b> \"x\""))
    result = verify_audit(svc)
    assert not result.ok and "override 1 (discipline_reprimand_or_higher" in (
        result.problem or "")


def test_an_anchor_catches_a_rewrite_made_with_the_key(calibrated: World) -> None:
    svc = calibrated.svc
    anchor = audit_check.anchor(svc, at("2026-05-16 09:00"))
    assert verify_audit(svc, anchor).ok
    calibrated.fire("S1", Trigger.ACCEPT_RESULT, "S1", {},
                    when="2026-05-18 09:00")
    assert verify_audit(svc, anchor).ok  # rows appended since the anchor are fine
    with svc.store.read() as s:
        key = audit.key_for(s)
    recompute_from(svc, 3, {"reason": "rewritten"}, key)
    assert verify_audit(svc).ok  # with the key the chain alone cannot tell...
    result = verify_audit(svc, anchor)
    assert (result.ok, result.first_broken_seq) == (False, anchor["rows"])  # ...the anchor can
    assert "rewritten" in (result.problem or "")


def test_a_changed_anchor_is_refused(calibrated: World) -> None:
    anchor = audit_check.anchor(calibrated.svc, at("2026-05-16 09:00"))
    result = verify_audit(calibrated.svc, {**anchor, "rows": anchor["rows"] - 1})
    assert not result.ok and "signature does not match" in (result.problem or "")


def test_the_commands_write_and_check_an_anchor(calibrated: World, tmp_path: Path) -> None:
    settings = calibrated.svc.settings
    env = {"KPI_DATABASE_URL": settings.database_url, "KPI_SECRET_KEY": settings.secret_key}
    runner = CliRunner()
    out = tmp_path / "anchor.json"
    made = runner.invoke(main, ["--now", "2026-05-16T09:00:00+07:00", "audit", "anchor",
                                "--out", str(out)], env=env)
    assert made.exit_code == 0, made.output
    checked = runner.invoke(main, ["audit", "verify", "--anchor", str(out)], env=env)
    assert checked.exit_code == 0 and "intact" in checked.output
    # Another key: the anchor's signature, and the chain, are not ours.
    other = runner.invoke(main, ["audit", "verify", "--anchor", str(out)],
                          env={**env, "KPI_AUDIT_KEY": "an-entirely-different-key-8u2Qp"})
    assert other.exit_code == 1 and "BROKEN at row 1" in other.output
