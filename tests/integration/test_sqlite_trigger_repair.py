"""A SQLite file made by an earlier build of migration 0001 lacks the schema's triggers
(workflow/store/sqlite_triggers.py): opening it creates them, in one transaction, with the
rows they keep in step (the audit chain's head, the answered peers' assignments), and logs
it; an audit chain that does not follow on from its head is refused, naming the file.

The earlier build's file is a real one: migrated, its triggers dropped, then used by the
engine as that build used it (a self-assessment, then a peer's answer, whose assignment
stays "pending" and whose audit row the head does not follow).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import World, small_world
from workflow import sample
from workflow.bootstrap import build_service
from workflow.domain import State, Trigger
from workflow.service.core import Service
from workflow.store import audit
from workflow.store.sqlite_triggers import (
    AUDIT_HEAD,
    PEER_ANSWERED,
    SQLITE_TRIGGERS,
    TriggerRepairRefused,
)
from workflow.store.tables import ASSIGNMENT

CYCLE = "t-2026-04"


def file_of(svc: Service) -> Path:
    return Path(svc.settings.database_url.removeprefix("sqlite:///"))


def triggers(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))


def head_and_last(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        head = conn.execute("SELECT last_seq FROM audithead WHERE id = 1").fetchone()[0]
        last = conn.execute("SELECT max(seq) FROM auditevent").fetchone()[0]
    return int(head), int(last)


def peer_status(w: World, peer: str) -> str:
    with w.svc.store.read() as s:
        return str(s.execute(select(ASSIGNMENT.c.status).where(
            ASSIGNMENT.c.evaluation_id == w.ev("S1"), ASSIGNMENT.c.person_id == peer,
            ASSIGNMENT.c.role == "peer")).scalar_one())


def answer(w: World, peer: str) -> None:
    w.fire("S1", Trigger.SUBMIT_PEER_INPUT, peer, sample.peer_input(w.framework("S1"), w.rng, 0.8),
           when="2026-05-08 09:00")


def earlier_build(new_service: Callable[..., Service]) -> tuple[Service, Path, list[str]]:
    """A file of an earlier build, used by it: S1 self-assessed with the triggers there,
    then (the file as that build made it) the first peer answered without them."""
    svc = new_service()
    w = small_world(svc)
    w.submit_self("S1")
    peers = w.peers_of("S1")
    assert len(peers) == 2
    path = file_of(svc)
    svc.store.dispose()
    with sqlite3.connect(path) as conn:
        for trigger in SQLITE_TRIGGERS:
            conn.execute(f"DROP TRIGGER {trigger.name}")
    answer(w, peers[0])
    # The holes: the peer's answer left their assignment pending, and the head stayed
    # behind the answer's audit row.
    assert peer_status(w, peers[0]) == "pending"
    head, last = head_and_last(path)
    assert head < last
    svc.store.dispose()
    return svc, path, peers


@pytest.mark.sqlite_only
def test_opening_a_file_without_the_triggers_creates_them_and_catches_their_rows_up(
        new_service: Callable[..., Service], caplog: pytest.LogCaptureFixture) -> None:
    old, path, peers = earlier_build(new_service)
    assert triggers(path) == {}
    with caplog.at_level(logging.WARNING, logger="kpi.store"):
        svc = build_service(old.settings)  # what every command and `kpi serve` do
    try:
        # The same definitions as the migration's (one source: sqlite_triggers.py).
        assert triggers(path) == {t.name: t.create for t in SQLITE_TRIGGERS}
        said = caplog.text
        assert f"created the missing SQLite trigger(s) {AUDIT_HEAD.name}, " \
               f"{PEER_ANSWERED.name} on {path}" in said, said
        assert "moved the audit chain's head" in said
        assert "marked 1 peer assignment(s) answered" in said
        w = World(svc, CYCLE)
        assert peer_status(w, peers[0]) == "answered"
        head, last = head_and_last(path)
        assert head == last
        # The round goes on as on a file that always had them: the second answer is
        # marked by the trigger, and with both in, S1 moves on to scoring.
        answer(w, peers[1])
        assert peer_status(w, peers[1]) == "answered"
        assert w.state("S1") is State.SUPERVISOR_SCORING
        with svc.store.read() as s:
            checked = audit.verify(s)
        assert checked.ok, checked.problem
        # Opened again: nothing is missing, nothing is written.
        assert svc.store.repair_sqlite_triggers() is None
    finally:
        svc.store.dispose()


@pytest.mark.sqlite_only
def test_a_chain_that_does_not_follow_on_from_its_head_is_refused_naming_the_file(
        new_service: Callable[..., Service]) -> None:
    old, path, _peers = earlier_build(new_service)
    head, last = head_and_last(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE auditevent SET prev_hash = ? WHERE seq = ?", ("f" * 64, head + 1))
    before = path.read_bytes()
    with pytest.raises(TriggerRepairRefused) as refused:
        build_service(old.settings)
    said = str(refused.value)
    assert f"the SQLite database {path} lacks the trigger {AUDIT_HEAD.name}" in said
    assert f"row {head + 1} does not follow on from row {head}" in said
    assert "Nothing was changed" in said and "kpi audit verify" in said
    assert triggers(path) == {} and head_and_last(path) == (head, last)
    assert path.read_bytes() == before


@pytest.mark.sqlite_only
def test_a_file_lacking_only_the_peer_trigger_gets_it_and_its_head_is_left_alone(
        new_service: Callable[..., Service]) -> None:
    svc = new_service()
    w = small_world(svc)
    w.submit_self("S1")
    path = file_of(svc)
    svc.store.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TRIGGER {PEER_ANSWERED.name}")
    done = svc.store.repair_sqlite_triggers()
    assert done is not None and done.created == [PEER_ANSWERED.name]
    assert done.head_moved is None and done.peers_answered == 0
    assert triggers(path) == {t.name: t.create for t in SQLITE_TRIGGERS}
    svc.store.dispose()


@pytest.mark.both_stores
def test_a_database_made_by_this_build_needs_no_repair(svc: Service) -> None:
    svc.store.require_current_schema()
    assert svc.store.repair_sqlite_triggers() is None
    if svc.store.dialect == "sqlite":
        assert triggers(file_of(svc)) == {t.name: t.create for t in SQLITE_TRIGGERS}
