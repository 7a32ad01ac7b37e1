"""The audit log is append-only and tamper-evident: any change breaks the chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from tests.support import seeded_small_world
from workflow.service.core import Service
from workflow.service.queries import verify_audit
from workflow.store import audit
from workflow.store.tables import AUDIT
from workflow.store.tables import AUDIT_HEAD as HEAD

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

T0 = datetime(2026, 5, 4, 2, tzinfo=UTC)


@pytest.fixture
def chained(seeded_service: Callable[..., Service]) -> Service:
    svc = seeded_small_world(seeded_service).svc
    with svc.store.write() as s:
        audit.append(s, [audit.AuditEntry("A1", "admin", T0 + timedelta(minutes=i), "note",
                                          reason=f"entry {i}", payload={"i": i})
                         for i in range(5)])
    return svc


def rows(svc: Service) -> int:
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(AUDIT)).scalar_one())


def test_an_untouched_chain_verifies(chained: Service) -> None:
    result = verify_audit(chained)
    assert result.ok and result.rows == rows(chained)


def test_changing_a_row_breaks_it_at_that_row(chained: Service) -> None:
    with chained.store.write() as s:
        s.execute(update(AUDIT).where(AUDIT.c.seq == 5).values(actor_id="somebody"))
    result = verify_audit(chained)
    assert (result.ok, result.first_broken_seq) == (False, 5)
    assert "content does not match its hash" in (result.problem or "")


def test_changing_a_row_and_its_hash_breaks_the_next_row(chained: Service) -> None:
    with chained.store.write() as s:
        row = dict(s.execute(select(AUDIT).where(AUDIT.c.seq == 5)).one()._mapping)
        row["reason"] = "rewritten"
        # Even with the chain's key (an insider who has it), the next row breaks.
        s.execute(update(AUDIT).where(AUDIT.c.seq == 5).values(
            reason="rewritten", row_hash=audit.row_hash(row["prev_hash"], row,
                                                        audit.key_for(s))))
    result = verify_audit(chained)
    assert (result.ok, result.first_broken_seq) == (False, 6)


def test_removing_a_row_in_the_middle_is_named(chained: Service) -> None:
    with chained.store.write() as s:
        s.execute(delete(AUDIT).where(AUDIT.c.seq == 3))
    result = verify_audit(chained)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "row 3 is missing" in (result.problem or "")


def test_cutting_rows_off_the_end_is_noticed(chained: Service) -> None:
    last = rows(chained)
    with chained.store.write() as s:
        s.execute(delete(AUDIT).where(AUDIT.c.seq >= last - 1))
    result = verify_audit(chained)
    assert not result.ok and "rows were removed from the end" in (result.problem or "")


def test_appends_continue_the_chain_from_its_head(chained: Service) -> None:
    before = rows(chained)
    with chained.store.write() as s:
        seqs = audit.append(s, [audit.AuditEntry("A1", "admin", T0, "note")])
        head = s.execute(select(HEAD.c.last_seq)).scalar_one()
    assert seqs == [before + 1] == [head]
    assert verify_audit(chained).ok


def test_a_failed_transaction_leaves_no_audit_row(chained: Service) -> None:
    before = rows(chained)
    with pytest.raises(RuntimeError), chained.store.write() as s:
        audit.append(s, [audit.AuditEntry("A1", "admin", T0, "note")])
        raise RuntimeError("the change failed after writing its audit row")
    assert rows(chained) == before and verify_audit(chained).ok
