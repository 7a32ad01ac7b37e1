"""The SQLite schema's triggers: one definition, read by migration 0001 and by the store.

Migration 0001 creates them on a new SQLite file (PostgreSQL does the same work in
its own statements: store/audit.py, service/transition.py). A file made by an earlier
build of that one migration may lack some; the step that relies on one then goes wrong
(the audit chain's second append fails; a peer's answer leaves their assignment
"pending" and nothing fails). So the store checks for them when it opens a SQLite file
at the newest migration, and creates what is missing (``repair``) in one write
transaction, with the rows the trigger would have kept in step: it is logged, and
said to the caller. These statements are part of the released schema: a change to
one is a new migration, not an edit here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from workflow.errors import StoreError

log = logging.getLogger("kpi.store")


@dataclass(frozen=True)
class SqliteTrigger:
    """One trigger of the schema: its name and the statement that creates it."""

    name: str
    create: str


# The audit chain's head follows each appended row, in the row's own INSERT (a step
# saves the statement that moved it; PostgreSQL moves it in the audit row's own
# statement, a data-modifying CTE: store/audit.py).
AUDIT_HEAD = SqliteTrigger(
    "auditevent_moves_head",
    "CREATE TRIGGER auditevent_moves_head AFTER INSERT ON auditevent "
    "BEGIN UPDATE audithead SET last_seq = NEW.seq, last_hash = NEW.row_hash "
    "WHERE id = 1; END")
# A peer's answer marks their peer assignments of the evaluation answered in the
# answer's own INSERT (states/peer_input.peer_answered says which rows; the step then
# sends no assignment UPDATE: service/transition.py). PostgreSQL sends the UPDATE.
PEER_ANSWERED = SqliteTrigger(
    "submission_answers_peer",
    "CREATE TRIGGER submission_answers_peer AFTER INSERT ON submission "
    "WHEN NEW.kind = 'peer_input' "
    "BEGIN UPDATE assignment SET status = 'answered' "
    "WHERE evaluation_id = NEW.evaluation_id AND person_id = NEW.author_id "
    "AND role = 'peer'; END")
SQLITE_TRIGGERS: tuple[SqliteTrigger, ...] = (AUDIT_HEAD, PEER_ANSWERED)
# The tables the triggers are on and write to: a file without them is not a schema
# (yet) to repair.
TABLES = ("auditevent", "audithead", "submission", "assignment")


class TriggerRepairRefused(StoreError):
    """A SQLite file lacks the audit head's trigger and its audit rows after the head do
    not follow on from it: moving the head over them would vouch for rows nobody can
    vouch for."""

    def __init__(self, database: str, problem: str) -> None:
        self.database = database
        super().__init__(
            f"the SQLite database {database} lacks the trigger {AUDIT_HEAD.name} (a file of "
            f"an earlier build) and cannot be repaired safely: {problem}. Nothing was "
            f"changed. Run `kpi audit verify` on it to see which row breaks the chain, and "
            "restore the file from a backup taken before that row")


@dataclass
class Repair:
    """What ``repair`` did to one file."""

    created: list[str] = field(default_factory=list)  # the triggers' names
    head_moved: tuple[int, int] | None = None  # the audit head's seq, from -> to
    peers_answered: int = 0  # peer assignments marked answered after the fact

    def describe(self, database: str) -> str:
        said = [f"created the missing SQLite trigger(s) {', '.join(self.created)} on "
                f"{database} (a file of an earlier build)"]
        if self.head_moved:
            said.append(f"moved the audit chain's head from row {self.head_moved[0]} to "
                        f"row {self.head_moved[1]}, the last row it should have followed")
        if self.peers_answered:
            said.append(f"marked {self.peers_answered} peer assignment(s) answered whose "
                        "answer is on record")
        return "; ".join(said)


def missing(conn: Connection) -> list[SqliteTrigger]:
    """The schema's triggers the file lacks; none when it has not the tables."""
    names = {str(n) for n in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')").scalars()}
    if not set(TABLES) <= names:
        return []
    return [t for t in SQLITE_TRIGGERS if t.name not in names]


def repair(conn: Connection, database: str) -> Repair | None:
    """Create the triggers ``conn``'s file lacks, in the write transaction ``conn`` is
    in, first bringing the rows they keep in step to what they would have made them;
    None when nothing is missing (another process may have repaired it meanwhile).
    TriggerRepairRefused, having changed nothing, when that cannot be done safely."""
    lacking = missing(conn)
    if not lacking:
        return None
    done = Repair()
    names = {t.name for t in lacking}
    if AUDIT_HEAD.name in names:
        done.head_moved = _catch_up_audit_head(conn, database)
    if PEER_ANSWERED.name in names:
        done.peers_answered = _mark_answered_peers(conn)
    for trigger in lacking:
        conn.exec_driver_sql(trigger.create)
        done.created.append(trigger.name)
    log.warning("%s", done.describe(database))
    return done


def _catch_up_audit_head(conn: Connection, database: str) -> tuple[int, int] | None:
    """Move the head over the rows appended after it (each append saw the head where
    the trigger should have moved it from), once they are checked to follow on from it
    link by link (each row's ``prev_hash`` the one before's ``row_hash``; no key is
    needed for that). None when the head is already at the end."""
    head = conn.exec_driver_sql(
        "SELECT last_seq, last_hash FROM audithead WHERE id = 1").first()
    if head is None:
        return None  # no chain yet (`kpi init` writes the head)
    rows: Sequence[tuple[int, str, str]] = [
        (int(r[0]), str(r[1]), str(r[2])) for r in conn.exec_driver_sql(
            "SELECT seq, prev_hash, row_hash FROM auditevent WHERE seq > ? ORDER BY seq",
            (int(head[0]),))]
    if not rows:
        return None
    seq, prev = int(head[0]), str(head[1])
    for row_seq, prev_hash, row_hash in rows:
        if row_seq != seq + 1:
            raise TriggerRepairRefused(database, f"after row {seq} comes row {row_seq}")
        if prev_hash != prev:
            raise TriggerRepairRefused(
                database, f"row {row_seq} does not follow on from row {seq} (its prev_hash "
                          "is not the hash before it)")
        seq, prev = row_seq, row_hash
    conn.exec_driver_sql("UPDATE audithead SET last_seq = ?, last_hash = ? WHERE id = 1",
                         (seq, prev))
    return int(head[0]), seq


def _mark_answered_peers(conn: Connection) -> int:
    """What the trigger would have done for the answers already in: each pending peer
    assignment whose peer has answered that evaluation is answered. (One withdrawn or
    closed since stays so: that came after.)"""
    result = conn.exec_driver_sql(
        "UPDATE assignment SET status = 'answered' WHERE role = 'peer' "
        "AND status = 'pending' AND EXISTS (SELECT 1 FROM submission "
        "WHERE submission.kind = 'peer_input' "
        "AND submission.evaluation_id = assignment.evaluation_id "
        "AND submission.author_id = assignment.person_id)")
    return int(result.rowcount or 0)
