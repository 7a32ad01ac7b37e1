"""Block writes (workflow/store/bulk.py) store what one statement per row stores.

SQLite takes many rows per INSERT or UPDATE statement, PostgreSQL takes a plain
INSERT's rows by COPY: both must keep every value (markup and quotes, JSON, NULLs,
flags, instants), skip a conflicting row inside a block as ON CONFLICT says, and
count a compare-and-set's matched rows, so that a stale row in a batch is found.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.support import World, at, seeded_small_world
from workflow.service.core import Service
from workflow.service.transition import _compare_and_set
from workflow.store import bulk
from workflow.store.tables import EVALUATION, OUTBOX

pytestmark = pytest.mark.both_stores
WHEN = at("2026-05-05 09:00")
# More than one block (bulk._MAX_ROWS is 500) and an uneven last one.
MANY = 1_203


def outbox_row(i: int, key: str | None = None) -> dict[str, Any]:
    return {"dedupe_key": key or f"block-{i}", "event": "task_assigned", "evaluation_id": None,
            "recipient_id": f"P{i}", "recipient_email": f"p{i}@example.vn",
            "recipient_name": f"<b>Nguyễn \"Văn\" {i}</b> O'Neil",
            "locale": "vi" if i % 2 else "en", "timezone": "UTC" if i % 3 else "Asia/Ho_Chi_Minh",
            "context": {"name": f"<i>{i}</i>", "score": "89.995", "nested": [i, None, True]},
            "status": "pending", "attempts": i % 4, "available_at": WHEN + timedelta(seconds=i),
            "lease_until": None, "last_error": None if i % 5 else "'quoted' \\ error",
            "message_id": f"<m{i}@kpi.example>", "created_at": WHEN, "sent_at": None}


def stored_outbox(svc: Service) -> list[tuple[Any, ...]]:
    cols = [c for c in OUTBOX.c if c.name != "id"]
    with svc.store.read() as s:
        return [tuple(r) for r in s.execute(select(*cols).order_by(OUTBOX.c.id))]


def test_a_block_of_rows_stores_what_one_row_at_a_time_stores(
        new_service: Any) -> None:
    rows = [outbox_row(i) for i in range(MANY)]
    blocks, singles = new_service("blocks.sqlite3"), new_service("singles.sqlite3")
    with blocks.store.write() as s:
        assert bulk.insert_rows(s, OUTBOX, rows) == MANY
    with singles.store.write() as s:
        for row in rows:
            bulk.insert_rows(s, OUTBOX, [row])
    stored = stored_outbox(blocks)
    assert len(stored) == MANY
    assert stored == stored_outbox(singles)


def test_a_failing_block_names_one_row_not_the_whole_block(svc: Service) -> None:
    rows = [outbox_row(i) for i in range(MANY)]
    rows[700] = {**rows[700], "message_id": None}  # NOT NULL
    with pytest.raises(IntegrityError) as failed, svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, rows)
    assert "message_id" in str(failed.value)
    assert len(str(failed.value)) < 3_000
    assert stored_outbox(svc) == []  # nothing half written


def test_a_conflict_inside_a_block_skips_only_that_row(svc: Service) -> None:
    rows = [outbox_row(i) for i in range(600)]
    rows[450] = outbox_row(450, key="block-3")  # the same key as an earlier row
    with svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, rows, ignore_conflict_on="dedupe_key")
    stored = stored_outbox(svc)
    assert len(stored) == 599
    assert [r[0] for r in stored].count("block-3") == 1


@pytest.fixture
def world(seeded_service: Callable[..., Service]) -> World:
    return seeded_small_world(seeded_service)


def test_a_block_compare_and_set_counts_the_rows_it_matched(world: World) -> None:
    """One stale version in a block: the count says so, as one UPDATE per row's did."""
    svc = world.svc
    with svc.store.read() as s:
        current = [(r.id, r.version) for r in s.execute(
            select(EVALUATION.c.id, EVALUATION.c.version).order_by(EVALUATION.c.id))]
        before = {r.id: r for r in s.execute(select(EVALUATION.c.id, EVALUATION.c.due_at,
                                                    EVALUATION.c.escalation_level))}
    assert len(current) >= 3
    cols = ("due_at", "escalation_level")
    params = [{"_id": eid, "_version": version + (1 if n == 1 else 0),
               "v_due_at": WHEN + timedelta(days=n), "v_escalation_level": n}
              for n, (eid, version) in enumerate(current)]
    with svc.store.write() as s:
        matched = bulk.execute_many(s, ("compare_and_set", cols),
                                    partial(_compare_and_set, cols), params)
    assert matched == len(current) - 1
    with svc.store.read() as s:
        after = {r.id: r for r in s.execute(select(EVALUATION.c.id, EVALUATION.c.version,
                                                   EVALUATION.c.due_at,
                                                   EVALUATION.c.escalation_level))}
    for n, (eid, version) in enumerate(current):
        if n == 1:  # the stale one: untouched
            assert after[eid].version == version
            assert after[eid].escalation_level == before[eid].escalation_level
            assert after[eid].due_at == before[eid].due_at
        else:
            assert after[eid].version == version + 1
            assert after[eid].escalation_level == n
            assert after[eid].due_at == WHEN + timedelta(days=n)


def test_rows_skipping_conflicts_are_stored_in_their_order_with_every_value(
        new_service: Any) -> None:
    """PostgreSQL stages such rows (COPY into a temporary table, then one INSERT ...
    SELECT): they must come out as one row at a time stores them, ids in order."""
    rows = [outbox_row(i) for i in range(MANY)]
    rows.reverse()  # the ids follow the rows' order, not the keys'
    staged, singles = new_service("staged.sqlite3"), new_service("singles.sqlite3")
    for target in (staged, singles):
        with target.store.write() as s:
            bulk.insert_rows(s, OUTBOX, rows[:5], ignore_conflict_on="dedupe_key")
    with staged.store.write() as s:
        bulk.insert_rows(s, OUTBOX, rows, ignore_conflict_on="dedupe_key")
        # A second chunk in the same transaction reuses the emptied staging table.
        bulk.insert_rows(s, OUTBOX, [outbox_row(i, f"again-{i}") for i in range(30)],
                         ignore_conflict_on="dedupe_key")
    with singles.store.write() as s:
        for row in [*rows, *(outbox_row(i, f"again-{i}") for i in range(30))]:
            bulk.insert_rows(s, OUTBOX, [row], ignore_conflict_on="dedupe_key")
    stored = stored_outbox(staged)
    assert len(stored) == MANY + 30
    assert [r[0] for r in stored[:MANY]] == [r["dedupe_key"] for r in rows]
    assert stored == stored_outbox(singles)


def test_a_failing_row_among_rows_skipping_conflicts_leaves_nothing(svc: Service) -> None:
    rows = [outbox_row(i) for i in range(600)]
    rows[300] = {**rows[300], "message_id": None}  # NOT NULL
    with pytest.raises(IntegrityError) as failed, svc.store.write() as s:
        bulk.insert_rows(s, OUTBOX, rows, ignore_conflict_on="dedupe_key")
    assert "message_id" in str(failed.value)
    assert len(str(failed.value)) < 3_000
    assert stored_outbox(svc) == []
