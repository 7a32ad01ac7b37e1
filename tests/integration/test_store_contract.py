"""What the store guarantees, checked the same way on SQLite and on PostgreSQL.

Compare-and-set on (state, version), the audit hash chain, the outbox written in the
transition's own transaction, the unique constraints, exact Decimal scores and
aware UTC instants: the service relies on each, whichever store is underneath.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tests.support import World, at, seeded_small_world
from workflow import sample
from workflow.domain import State, Trigger
from workflow.errors import EvaluationAlreadyChanged
from workflow.service.core import Service, load_snapshot
from workflow.service.queries import verify_audit
from workflow.service.transition import plan, write
from workflow.store import audit
from workflow.store.tables import AUDIT, DEADLINE, EVALUATION, OUTBOX, PERSON, SUBMISSION

pytestmark = pytest.mark.both_stores
WHEN = at("2026-05-05 09:00")


@pytest.fixture
def world(seeded_service: Callable[..., Service]) -> World:
    return seeded_small_world(seeded_service)


def count(svc: Service, table: object, *where: object) -> int:
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(table)  # type: ignore[arg-type]
                             .where(*where)).scalar_one())  # type: ignore[arg-type]


def self_payload(world: World, who: str) -> dict[str, object]:
    return sample.self_assessment(world.framework(who), world.rng, 0.8)


def test_a_change_planned_from_a_stale_read_is_refused(world: World) -> None:
    """Two sessions read the same version; the second write finds it moved on."""
    svc, eid = world.svc, world.ev("S1")
    changes = []
    for _ in range(2):
        with svc.store.read() as s:
            snap = load_snapshot(svc, s, eid, lock=False)
            changes.append(plan(svc, s, snap, Trigger.SUBMIT_SELF_ASSESSMENT, "S1",
                                self_payload(world, "S1"), now=WHEN))
    with svc.store.write() as s:
        write(svc, s, [changes[0]])
    audit_rows = count(svc, AUDIT)
    # The loser's timers and submission ride in its compare-and-set's statement on
    # PostgreSQL (data-modifying CTEs): the refusal must take them back too.
    rows = {t.name: count(svc, t) for t in (DEADLINE, SUBMISSION, OUTBOX)}
    with pytest.raises(EvaluationAlreadyChanged, match="already moved on"), \
            svc.store.write() as s:
        write(svc, s, [changes[1]])
    assert world.row("S1")["version"] == 2  # the loser left nothing: one move, one audit row
    assert count(svc, AUDIT) == audit_rows
    assert {t.name: count(svc, t) for t in (DEADLINE, SUBMISSION, OUTBOX)} == rows


def test_two_people_acting_at_once_one_wins_the_other_is_told(world: World) -> None:
    eid = world.ev("S1")
    payloads = [self_payload(world, "S1") for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def act(payload: dict[str, object]) -> None:
        barrier.wait()
        try:
            results.append(world.fire("S1", Trigger.SUBMIT_SELF_ASSESSMENT, "S1", payload))
        except EvaluationAlreadyChanged as exc:
            results.append(exc)

    threads = [threading.Thread(target=act, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    errors = [r for r in results if isinstance(r, EvaluationAlreadyChanged)]
    assert len(results) == 2 and len(errors) == 1, results
    assert errors[0].evaluation_id == eid and "already moved on" in str(errors[0])
    assert world.row("S1")["version"] == 2


def test_the_audit_chain_holds_under_concurrent_appends(world: World) -> None:
    svc = world.svc

    def append(worker: int) -> None:
        for i in range(10):
            with svc.store.write() as s:
                audit.append(s, [audit.AuditEntry(f"W{worker}", "admin", WHEN, "note",
                                                  reason=f"{worker}/{i}", payload={"i": i})])

    threads = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    result = verify_audit(svc)
    assert result.ok, result.problem
    with svc.store.read() as s:
        seqs = s.execute(select(AUDIT.c.seq).order_by(AUDIT.c.seq)).scalars().all()
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no sequence number twice
    with svc.store.write() as s:
        s.execute(update(AUDIT).where(AUDIT.c.seq == seqs[-5]).values(reason="rewritten"))
    broken = verify_audit(svc)
    assert (broken.ok, broken.first_broken_seq) == (False, seqs[-5])


def test_a_failing_transition_leaves_neither_state_nor_outbox_nor_audit(world: World) -> None:
    svc, eid = world.svc, world.ev("S1")
    before = (count(svc, OUTBOX), count(svc, AUDIT), count(svc, DEADLINE))
    with pytest.raises(IntegrityError), svc.store.write() as s:
        snap = load_snapshot(svc, s, eid)
        change = plan(svc, s, snap, Trigger.SUBMIT_SELF_ASSESSMENT, "S1",
                      self_payload(world, "S1"), now=WHEN)
        write(svc, s, [change])
        assert change.mail.outbox  # the transition queued mail in this transaction...
        # ...and then the transaction fails: a second evaluation of S1 in the cycle.
        s.execute(insert(EVALUATION).values({**snap.row._asdict(), "id": None}))
    assert world.state("S1") is State.SELF_ASSESSMENT
    assert (count(svc, OUTBOX), count(svc, AUDIT), count(svc, DEADLINE)) == before
    world.submit_self("S1")  # and the same transition then goes through whole
    assert count(svc, OUTBOX) > before[0] and count(svc, AUDIT) == before[1] + 1


@pytest.mark.parametrize("table, row", [
    ("person", {"email": "lan@snv.example.gov.vn"}),
    ("outbox", {}),
])
def test_unique_constraints_refuse_a_second_row(world: World, table: str,
                                                row: dict[str, str]) -> None:
    svc = world.svc
    if table == "person":
        with svc.store.read() as s:
            other = dict(s.execute(select(PERSON).where(PERSON.c.id == "S2")).one()._mapping)
        with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), \
                svc.store.write() as s:
            s.execute(insert(PERSON).values({**other, "id": "S9", **row}))
        assert count(svc, PERSON, PERSON.c.id == "S9") == 0
    else:
        with svc.store.read() as s:
            first = dict(s.execute(select(OUTBOX).limit(1)).one()._mapping)
        with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), \
                svc.store.write() as s:
            s.execute(insert(OUTBOX).values({k: v for k, v in first.items() if k != "id"}))
        assert count(svc, OUTBOX, OUTBOX.c.dedupe_key == first["dedupe_key"]) == 1


def test_scores_round_trip_as_exact_decimals(world: World) -> None:
    svc, eid = world.svc, world.ev("S1")
    exact = Decimal("87.12345678901234567891")  # more digits than a float holds
    with svc.store.write() as s:
        s.execute(update(EVALUATION).where(EVALUATION.c.id == eid).values(score=str(exact)))
    assert Decimal(world.row("S1")["score"]) == exact
    assert Decimal(world.row("S1")["score"]) + Decimal("0.1") == Decimal(
        "87.22345678901234567891")


def test_instants_round_trip_as_aware_utc(world: World) -> None:
    svc, eid = world.svc, world.ev("S1")
    local = datetime(2026, 12, 31, 23, 59, 59, 123456, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    with svc.store.write() as s:
        s.execute(update(EVALUATION).where(EVALUATION.c.id == eid).values(due_at=local))
    back = world.row("S1")["due_at"]
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert back == local and back == datetime(2026, 12, 31, 16, 59, 59, 123456, tzinfo=UTC)
    with svc.store.read() as s:  # and compared in SQL as instants, not as local text
        found = s.execute(select(EVALUATION.c.id).where(
            EVALUATION.c.due_at > datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC))).scalars()
        assert list(found) == [eid]
    with pytest.raises(Exception, match="naive datetime"), svc.store.write() as s:
        s.execute(update(EVALUATION).where(EVALUATION.c.id == eid)
                  .values(due_at=datetime(2026, 1, 1)))


def _outbox_row(key: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "dedupe_key": key, "event": "task_self_assessment", "evaluation_id": None,
        "recipient_id": None, "recipient_email": "a@example.vn", "recipient_name": "Nguyễn Văn A",
        "locale": "vi", "timezone": "Asia/Ho_Chi_Minh",
        "context": {"score": "83.5", "items": [1, None, "ư"], "empty": None},
        "status": "pending", "attempts": 0, "available_at": WHEN,
        "lease_until": None, "last_error": None, "message_id": f"<{key}@kpi>",
        "created_at": WHEN.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")), "sent_at": None,
    }
    return {**row, **changes}


def _stored(svc: Service, keys: list[str]) -> list[tuple[object, ...]]:
    """The rows as the driver returns them, without what differs by design."""
    with svc.store.read() as s:
        got = {r.dedupe_key: r for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.dedupe_key.in_(keys)))}
        raw = s.connection().exec_driver_sql(
            "SELECT dedupe_key, context, available_at, created_at, lease_until, attempts "
            "FROM outbox ORDER BY id").all()
    stored = {r[0]: tuple(r[1:]) for r in raw}
    assert set(got) == set(keys), "every row given is stored"
    for key in keys:
        assert got[key].available_at == WHEN and got[key].created_at == WHEN
    return [stored[k] for k in keys]


def test_bulk_insert_stores_what_sqlalchemys_insert_stores(svc: Service) -> None:
    """The driver-level executemany (bind processors applied down each column) writes
    byte for byte what a Core insert of the same rows writes: instants as naive UTC,
    JSON the same, NULLs as NULL."""
    from workflow.store import bulk
    core = [_outbox_row(f"core-{i}", attempts=i) for i in range(3)]
    fast = [_outbox_row(f"fast-{i}", attempts=i) for i in range(3)]
    with svc.store.write() as s:
        s.execute(insert(OUTBOX), core)
        assert bulk.insert_rows(s, OUTBOX, fast) == 3
    assert _stored(svc, [r["dedupe_key"] for r in fast]) == \
        _stored(svc, [r["dedupe_key"] for r in core])  # type: ignore[misc]


def test_bulk_insert_skips_duplicates_only_when_asked(svc: Service) -> None:
    from workflow.store import bulk
    rows = [_outbox_row("dup-1"), _outbox_row("dup-2")]
    with svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, rows, ignore_conflict_on="dedupe_key")
    with svc.store.write() as s:  # the same notices again: nothing new, no error
        bulk.insert_rows(s, OUTBOX, [*rows, _outbox_row("dup-3")],
                         ignore_conflict_on="dedupe_key")
    assert count(svc, OUTBOX) == 3
    with pytest.raises(IntegrityError), svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, [_outbox_row("dup-4"), _outbox_row("dup-1")])
    assert count(svc, OUTBOX) == 3, "the failed chunk left nothing behind"


def test_bulk_insert_refuses_rows_with_other_keys(svc: Service) -> None:
    """A row missing a column the first row has is an error, not a silent default."""
    from workflow.store import bulk
    short = _outbox_row("short-2")
    del short["message_id"]
    with pytest.raises(Exception, match="message_id"), svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, [_outbox_row("short-1"), short])
    assert count(svc, OUTBOX) == 0


def test_opening_reserves_its_ids_and_leaves_statistics_for_the_planner(world: World) -> None:
    """Ids are taken before the rows go in, never one another transaction has; on
    PostgreSQL the opened tables are analysed once the cycle is committed, so the
    first sweep is not planned for empty tables (this machine runs no autovacuum)."""
    from sqlalchemy import text

    from workflow.service.cycles import OPENED_TABLES
    from workflow.store import bulk
    svc = world.svc
    evaluations = count(svc, EVALUATION)
    assert evaluations == len(world.ids())
    with svc.store.write() as s:
        highest = s.execute(select(func.max(EVALUATION.c.id))).scalar_one()
        reserved = bulk.reserve_ids(s, EVALUATION, 3)
    assert len(set(reserved)) == 3 and min(reserved) > highest
    if svc.store.dialect != "postgresql":
        return
    with svc.store.read() as s:
        estimated = dict(s.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(OPENED_TABLES)}).all())
    assert estimated["evaluation"] == evaluations  # exact: ANALYZE read every row
    assert all(estimated[t] >= 0 for t in OPENED_TABLES), estimated
