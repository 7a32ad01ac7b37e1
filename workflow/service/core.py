"""The composition root of the service layer and the snapshot of an evaluation.

``Service`` holds the store, the settings and the cache of cycle rules; every use case
is a function taking it first. ``load_snapshots`` reads evaluations with their
assignments and the people around them in a fixed number of queries, whatever the
number of evaluations, and (on PostgreSQL) locks them for the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from workflow import recusal
from workflow.domain import Role, State, SubmissionKind
from workflow.errors import EvaluationNotFound
from workflow.evaluation_rows import STATE_INDEX, STATES, AssignmentRecord, EvaluationRecord
from workflow.permissions import Delegation, EvaluationView
from workflow.settings import Settings
from workflow.store import audit, bulk
from workflow.store.db import Store
from workflow.store.tables import (
    ASSIGNMENT,
    EVALUATION,
    OVERRIDE,
    PUBLICATION,
    SUBMISSION,
)

if TYPE_CHECKING:
    from workflow.service.rules import CycleRules, RulesCache


@dataclass
class Service:
    """What every use case needs: the store, the settings, the rules of open cycles."""

    store: Store
    settings: Settings
    # Made on first use: the rules bring the scoring, the cycle files and the calendar,
    # which `kpi status` never needs (it started in 2.3 s of CPU with them; issue 15).
    _rules: RulesCache | None = field(default=None, repr=False)
    # Asked once per evaluation loaded (a sweep loads thousands): kept per cycle file.
    _admins: dict[tuple[Any, ...], frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # The audit chain of this database is keyed with the settings' key (not stored in it).
        audit.use_key(self.store.engine.url.render_as_string(hide_password=False),
                      audit.chain_key(self.settings.audit_key, self.settings.secret_key))

    @property
    def rules(self) -> RulesCache:
        """The cache of the rules of the cycles this service has read."""
        if self._rules is None:
            from workflow.service.rules import RulesCache  # noqa: PLC0415 (see _rules)

            self._rules = RulesCache()
        return self._rules

    def admins(self, rules: CycleRules) -> frozenset[str]:
        key = (rules.cycle_id, rules.config_hash, tuple(self.settings.admins))
        found = self._admins.get(key)
        if found is None:
            found = self._admins[key] = (frozenset(self.settings.admins)
                                         | frozenset(rules.config.admins))
        return found

    def scoped_admins(self, rules: CycleRules) -> frozenset[str]:
        """The admins of ``[admin_scope]`` who may reach some of this cycle: a grant of
        "*", of the cycle, or of a unit (which evaluations a unit grant reaches is the
        admin pages' question, workflow/service/admin_scope.py)."""
        wanted = {"*", f"cycle:{rules.cycle_id}"}
        return frozenset(pid for pid, grants in self.settings.admin_scope
                         if any(g in wanted or g.startswith("unit:") for g in grants))

    def is_any_admin(self, person_id: str) -> bool:
        """An admin of the settings (of everything, or of a scope)."""
        return person_id in self.settings.admins or \
            any(pid == person_id for pid, _ in self.settings.admin_scope)


@dataclass(frozen=True)
class PersonInfo:
    id: str
    full_name: str
    email: str
    locale: str
    timezone: str | None
    supervisor_id: str | None
    unit_id: str
    active: bool


_PERSON_COLUMNS = ("id", "full_name", "email", "locale", "timezone", "supervisor_id",
                   "unit_id", "active")


def _people_cache(session: Session) -> dict[str, PersonInfo | None]:
    """The people read in this transaction (None: looked for, not found), so that a
    step reads each person once however many parts of it ask."""
    cache: dict[str, PersonInfo | None] = bulk.transaction_cache(session).setdefault(
        "people", {})
    return cache


def _person(row: Sequence[Any]) -> PersonInfo:
    return PersonInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))


def load_people(session: Session, ids: Iterable[str | None]) -> dict[str, PersonInfo]:
    """The people ``ids`` that exist, read once per transaction."""
    cache = _people_cache(session)
    wanted = sorted({i for i in ids if i})
    unknown = [i for i in wanted if i not in cache]
    if unknown:
        dialect = bulk.dialect_name(session)
        sql = _PEOPLE_SQL[dialect]
        for start in range(0, len(unknown), 900):
            chunk = unknown[start:start + 900]
            cache.update(dict.fromkeys(chunk))
            for r in bulk.query(session, sql, [bulk.id_list(dialect, chunk)]):
                cache[r[0]] = _person(r)
    return {i: p for i in wanted if (p := cache.get(i)) is not None}


_PEOPLE_SQL = {d: f"SELECT {', '.join(_PERSON_COLUMNS)} FROM person WHERE id {bulk.in_ids(d)}"
               for d in ("sqlite", "postgresql")}


@dataclass
class Snapshot:
    """One evaluation as read in this transaction, with what decides who may act."""

    row: EvaluationRecord
    rules: CycleRules
    view: EvaluationView
    assignments: list[AssignmentRecord]
    # The evaluation of the reviewee's supervisor in the same cycle, if any: where it
    # is None nobody above can have their unit results changed (leaders.lock_above).
    above_id: int | None = None

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def state(self) -> State:
        return self.row.state

    @property
    def version(self) -> int:
        return self.row.version

    def pending_peers(self) -> list[str]:
        return [a.person_id for a in self.assignments
                if a.role == Role.PEER.value and a.status == "pending"]


def _view(row: EvaluationRecord, assignments: list[AssignmentRecord], rules: CycleRules,
          admins: frozenset[str], calibrator_id: str | None,
          scoped_admins: frozenset[str] = frozenset()) -> EvaluationView:
    peers = {a.person_id: a.status for a in assignments
             if a.role == Role.PEER.value and a.status != "withdrawn"}
    acting = tuple(
        Delegation(a.person_id, a.valid_from, a.valid_until)
        for a in assignments
        if a.role == Role.ACTING_SUPERVISOR.value and a.status != "withdrawn"
    )
    escalation = frozenset(a.person_id for a in assignments
                           if a.role == Role.ESCALATION_SUPERVISOR.value
                           and a.status != "withdrawn")
    recused = frozenset(a.person_id for a in assignments
                        if a.role == recusal.RECUSED and a.status != "withdrawn")
    # Whoever calibrates this evaluation instead of the cycle's calibrator (recusal).
    calibrator_id = next((a.person_id for a in assignments
                          if a.role == recusal.CALIBRATOR_INSTEAD
                          and a.status != "withdrawn"), calibrator_id)
    return EvaluationView(
        id=row.id, reviewee_id=row.reviewee_id, supervisor_id=row.supervisor_id,
        calibrator_id=calibrator_id, appeal_reviewer_id=row.appeal_reviewer_id,
        scored_by=row.scored_by, peers=peers, acting_supervisors=acting,
        escalation_supervisors=escalation, admins=admins, recused=recused,
        scoped_admins=scoped_admins,
        scorer_decides_petition=rules.scorer_decides_petition,
    )


@dataclass(frozen=True)
class _SnapshotSql:
    """The snapshot's statements for one dialect, compiled once, with the processors
    that turn the driver's values into what SQLAlchemy would have returned."""

    evaluations: str
    locked: str
    skip_locked: str
    assignments: str
    single: str  # SQLite, one evaluation: everything in one statement (or "")
    # PostgreSQL: ``assignments`` with a last column, the JSON of a score's reads
    # (SCORE_READS) of the one evaluation named by its last parameter.
    assignments_scored: str
    evaluation_columns: tuple[str, ...]
    assignment_columns: tuple[str, ...]
    evaluation_results: tuple[Any, ...]
    assignment_results: tuple[Any, ...]
    # The result processors of what a step reads besides: a submission's payload, an
    # override fact's instant (SCORE_READS), a publication's instant (UNIT_STATES).
    extra_results: tuple[Any, ...]
    # SQLite, one evaluation: ``single`` with what a step asks besides (SCORE_READS,
    # UNIT_STATES) as its last columns, by what is asked.
    singles: dict[frozenset[str], str] = field(default_factory=dict)

    def single_with(self, reads: frozenset[str]) -> str:
        found = self.singles.get(reads)
        if found is None:
            extra = ((", " + _score_reads_sql("sqlite", "e.id") if SCORE_READS in reads
                      else "") + (_UNIT_STATES_SQL if UNIT_STATES in reads else ""))
            head, rest = self.single.rsplit(" FROM evaluation e WHERE ", 1)
            found = self.singles[reads] = f"{head}{extra} FROM evaluation e WHERE {rest}"
        return found


def _snapshot_sql(session: Session) -> _SnapshotSql:
    dialect = bulk.dialect(session)
    found = _SNAPSHOT_SQL.get(dialect.name)
    if found is not None:
        return found
    ev_cols = tuple(c.name for c in EVALUATION.c)
    as_cols = tuple(c.name for c in ASSIGNMENT.c)
    where = f"e.id {bulk.in_ids(dialect.name)}"
    # The supervisor's evaluation in the same cycle comes in the same statement: it
    # tells lock_above whether anyone above can be affected, without a query of its own.
    above = ("(SELECT s.id FROM evaluation s WHERE s.cycle_id = e.cycle_id "
             "AND s.reviewee_id = e.supervisor_id)")
    select = f"SELECT {', '.join('e.' + c for c in ev_cols)}, {above}"
    # SQLite, one evaluation under the write lock: the supervisor's evaluation only
    # when someone up the tree has a score that a change of class here could change
    # (recompute_above skips the unscored). Else lock_above has nothing to walk, and
    # a supervisor's score sends neither the walk up nor the leaders' snapshots.
    # (PostgreSQL reads this before the rows are locked, where a leader could be
    # scored meanwhile: there the walk always runs under the lock.)
    scored_above = (
        "(SELECT s.id FROM evaluation s WHERE s.cycle_id = e.cycle_id "
        "AND s.reviewee_id = e.supervisor_id AND EXISTS (WITH RECURSIVE up(person) AS ("
        "SELECT s.reviewee_id UNION SELECT x.supervisor_id FROM up JOIN evaluation x "
        "ON x.cycle_id = e.cycle_id AND x.reviewee_id = up.person "
        "WHERE x.supervisor_id IS NOT NULL) "
        "SELECT 1 FROM up JOIN evaluation y ON y.cycle_id = e.cycle_id "
        "AND y.reviewee_id = up.person WHERE y.score IS NOT NULL))")
    select_single = f"SELECT {', '.join('e.' + c for c in ev_cols)}, {scored_above}"
    rest = f" FROM evaluation e WHERE {where} ORDER BY e.id"
    pg = dialect.name == "postgresql"
    people_ids = ("SELECT unnest(CAST(%s AS VARCHAR[]))" if pg
                  else "SELECT value FROM json_each(?)")
    # SQLite: a write transaction holds the one write lock from its BEGIN IMMEDIATE,
    # so the audit chain's head, which it will append to last, can be read now, in
    # this statement, rather than by a statement of its own (audit._head). On
    # PostgreSQL the head is locked last, on its own (transition.write says why).
    head = ("" if pg else ", (SELECT last_seq FROM audithead WHERE id = 1), "
            "(SELECT last_hash FROM audithead WHERE id = 1)")
    assignments = (
        f"SELECT 0, {', '.join(as_cols)}, {', '.join(['NULL'] * len(_PERSON_COLUMNS))}{{x}} "
        f"FROM assignment WHERE evaluation_id {bulk.in_ids(dialect.name)} UNION ALL "
        f"SELECT 1, {', '.join(['NULL'] * len(as_cols))}, {', '.join(_PERSON_COLUMNS)}{{x}} "
        # One IN over a UNION, not two ORed conditions: each part looks up the
        # person's primary key (an OR with a subquery scans the person table).
        f"FROM person WHERE id IN ({people_ids} UNION SELECT person_id FROM assignment "
        f"WHERE evaluation_id {bulk.in_ids(dialect.name)}){{scored}} ORDER BY 1, 2")
    nulls = ", ".join(["NULL"] * (len(as_cols) + len(_PERSON_COLUMNS)))
    sql = _SnapshotSql(
        evaluations=select + rest,
        locked=select + head + rest + (" FOR UPDATE OF e" if pg else ""),
        skip_locked=select + head + rest + (" FOR UPDATE OF e SKIP LOCKED" if pg else ""),
        # Read after the evaluations are locked: on PostgreSQL a statement's snapshot
        # is taken before it waits for a lock, so assignments read in the locking
        # statement could miss what the transaction it waited for committed. The
        # people around the evaluations come in the same statement (load_people then
        # finds them in the transaction's cache): assignment rows first, person rows
        # after, in one column layout.
        assignments=assignments.format(x="", scored=""),
        assignments_scored=assignments.format(
            x=", NULL", scored=f" UNION ALL SELECT 2, {nulls}, "
            f"{_score_reads_sql('postgresql', '%s')}") if pg else "",
        # SQLite, one evaluation (a step): nothing can change under the write lock, so
        # the assignments and the people come as JSON columns of the evaluation's row,
        # with the head: the whole snapshot in one statement. The extra people are the
        # calibrators and admins of the cycles this process knows.
        single="" if pg else (
            f"{select_single}{head}, (SELECT json_group_array(json(x)) FROM (SELECT json_array("
            f"{', '.join('a.' + c for c in as_cols)}) AS x FROM assignment a "
            "WHERE a.evaluation_id = e.id ORDER BY a.id)), "
            f"(SELECT json_group_array(json_array({', '.join('p.' + c for c in _PERSON_COLUMNS)}"
            ")) FROM person p WHERE p.id IN (SELECT e.reviewee_id UNION SELECT "
            "e.supervisor_id UNION SELECT e.appeal_reviewer_id UNION SELECT e.scored_by "
            "UNION SELECT a.person_id FROM assignment a WHERE a.evaluation_id = e.id "
            f"UNION SELECT value FROM json_each(?))){rest}"),
        evaluation_columns=ev_cols, assignment_columns=as_cols,
        evaluation_results=bulk.result_processors(dialect, list(EVALUATION.c)),
        assignment_results=bulk.result_processors(dialect, list(ASSIGNMENT.c)),
        extra_results=bulk.result_processors(dialect, [
            SUBMISSION.c.payload, OVERRIDE.c.recorded_at, PUBLICATION.c.published_at]),
    )
    _SNAPSHOT_SQL[dialect.name] = sql
    return sql


_SNAPSHOT_SQL: dict[str, _SnapshotSql] = {}
# In the transaction's cache: evaluation id -> its supervisor's evaluation in the
# cycle (None: nobody above), as the snapshots read it (leaders.lock_above).
ABOVE_KEY = "above"

# What a step's snapshot may read besides, so that the step sends no query of its own
# for it (issue 16: at most 8 statements a step). ``transition.fire`` asks by trigger.
# SCORE_READS: the submissions a score is computed from (the reviewee's and the peers')
# and the evaluation's override facts; in the transaction's cache by evaluation id, as
# rows (part, id, kind, payload, author, override id, document, recorded by, recorded
# at), payloads decoded and instants aware, for ``scoring_inputs`` to take once.
SCORE_READS = "score_reads"
# UNIT_STATES (SQLite): the evaluation's unit counted by state and its publication, as
# read under the write lock before the step, for ``publication.publish_ready``.
UNIT_STATES = "unit_states"
_KINDS_SCORED = (f"('{SubmissionKind.SELF_ASSESSMENT.value}', "
                 f"'{SubmissionKind.PEER_INPUT.value}')")


def _score_reads_sql(dialect: str, evaluation: str) -> str:
    """The JSON of a score's reads of the evaluation ``evaluation`` (an SQL expression)."""
    if dialect == "postgresql":
        return (
            "(SELECT json_agg(json_build_array(x.part, x.id, x.kind, x.payload, x.author_id, "
            "x.override_id, x.source_document, x.recorded_by, x.recorded_at) "
            "ORDER BY x.part, x.id)::text FROM (SELECT 0 AS part, s.id, s.kind, s.payload, "
            "s.author_id, NULL::varchar AS override_id, NULL::varchar AS source_document, "
            "NULL::varchar AS recorded_by, NULL::timestamp AS recorded_at FROM submission s "
            f"WHERE s.evaluation_id = {evaluation} AND s.kind IN {_KINDS_SCORED} UNION ALL "
            "SELECT 1, o.id, NULL, NULL, NULL, o.override_id, o.source_document, "
            "o.recorded_by, o.recorded_at FROM overridefact o "
            f"WHERE o.evaluation_id = {evaluation}) x)")
    return (
        "(SELECT json_group_array(json_array(x.part, x.id, x.kind, x.payload, x.author_id, "
        "x.override_id, x.source_document, x.recorded_by, x.recorded_at)) FROM ("
        "SELECT 0 AS part, s.id, s.kind, s.payload, s.author_id, NULL AS override_id, "
        "NULL AS source_document, NULL AS recorded_by, NULL AS recorded_at FROM submission s "
        f"WHERE s.evaluation_id = {evaluation} AND s.kind IN {_KINDS_SCORED} UNION ALL "
        "SELECT 1, o.id, NULL, NULL, NULL, o.override_id, o.source_document, o.recorded_by, "
        f"o.recorded_at FROM overridefact o WHERE o.evaluation_id = {evaluation} "
        "ORDER BY 1, 2) x)")


# SQLite: the evaluation's unit, counted by state, and when it was published (if it was).
_UNIT_STATES_SQL = (
    ", (SELECT json_group_array(json_array(u.state, u.n)) FROM (SELECT state, count(*) AS n "
    "FROM evaluation u WHERE u.cycle_id = e.cycle_id AND u.unit_id = e.unit_id "
    "GROUP BY state) u), (SELECT p.published_at FROM publication p "
    "WHERE p.cycle_id = e.cycle_id AND p.unit_id = e.unit_id)")


@dataclass(frozen=True)
class UnitAtRead:
    """SQLite: an evaluation's unit as the step's snapshot read it (before the step)."""

    cycle_id: str
    unit_id: str
    state: State  # the evaluation's own state when it was counted
    states: dict[str, int]
    published_at: datetime | None


def _keep_score_reads(session: Session, sql: _SnapshotSql, evaluation_id: int,
                      found: str | None, dialect: str) -> None:
    """Keep a score's reads, from their JSON, in the transaction's cache (SCORE_READS)."""
    payload_of, at_of, _ = sql.extra_results
    rows: list[tuple[Any, ...]] = []
    for part, id_, kind, stored, author, override_id, document, by, at_text in json.loads(
            found or "[]"):
        # SQLite gives the payload's stored text (PostgreSQL's JSON, the object), and the
        # instant's stored text (PostgreSQL's JSON, an ISO instant).
        payload = payload_of(stored) if isinstance(stored, str) and payload_of else stored
        at = (None if at_text is None else at_of(at_text) if dialect == "sqlite" and at_of
              else datetime.fromisoformat(at_text).replace(tzinfo=UTC))
        rows.append((part, id_, kind, payload, author, override_id, document, by, at))
    rows.sort(key=lambda r: (r[0], r[1]))
    bulk.transaction_cache(session).setdefault(SCORE_READS, {})[evaluation_id] = rows




def taken_score_reads(session: Session, evaluation_id: int) -> list[tuple[Any, ...]] | None:
    """The score's reads of ``evaluation_id`` that its snapshot read, taken once (None:
    not read with the snapshot, or taken already)."""
    held: dict[int, list[tuple[Any, ...]]] = bulk.transaction_cache(session).get(
        SCORE_READS, {})
    return held.pop(evaluation_id, None)


def taken_unit_states(session: Session, evaluation_id: int) -> UnitAtRead | None:
    """SQLite: the unit of ``evaluation_id`` as its snapshot read it, taken once."""
    held: dict[int, UnitAtRead] = bulk.transaction_cache(session).get(UNIT_STATES, {})
    return held.pop(evaluation_id, None)


def _values(rows: Sequence[Sequence[Any]], processors: tuple[Any, ...]
            ) -> Iterator[list[Any]]:
    """Each row's values in column order, through the processors of the columns that
    have one (a third of an evaluation's: its instants, flags and stamp); a row's
    extra columns after the table's are left out."""
    width = len(processors)
    todo = [(i, process) for i, process in enumerate(processors) if process is not None]
    for row in rows:
        values = list(row[:width])
        for i, process in todo:
            value = values[i]
            if value is not None:
                values[i] = process(value)
        yield values


# The record is made here, once, from the driver's tuple by position: every reader
# after the store boundary reads typed fields (workflow/evaluation_rows.py).
def _evaluations(rows: Sequence[Sequence[Any]], processors: tuple[Any, ...]
                 ) -> list[EvaluationRecord]:
    make = EvaluationRecord._make
    out = []
    for values in _values(rows, processors):
        values[STATE_INDEX] = STATES[values[STATE_INDEX]]
        out.append(make(values))
    return out


def _assignments(rows: Sequence[Sequence[Any]], processors: tuple[Any, ...]
                 ) -> list[AssignmentRecord]:
    return list(map(AssignmentRecord._make, _values(rows, processors)))


def _read_assignments_and_people(
        session: Session, sql: _SnapshotSql, rows: Sequence[EvaluationRecord],
        context: dict[str, tuple[CycleRules, str | None, frozenset[str]]],
        assignments: dict[int, list[AssignmentRecord]], scored: int | None = None) -> None:
    """The evaluations' assignments, and into the transaction's people cache the people
    a step on them may need (who they name, the cycle's calibrator and admins, whoever
    the assignments name), in one statement; with ``scored`` (PostgreSQL), that
    evaluation's score reads too (SCORE_READS)."""
    dialect = bulk.dialect_name(session)
    cache = _people_cache(session)
    wanted: set[str | None] = set()
    for row in rows:
        _, calibrator, admins = context[row.cycle_id]
        wanted.update((row.reviewee_id, row.supervisor_id, row.appeal_reviewer_id,
                       row.scored_by, calibrator, *admins))
    unknown = sorted(i for i in wanted if i and i not in cache)
    ids = bulk.id_list(dialect, [r.id for r in rows])
    params = [ids, bulk.id_list(dialect, unknown), ids]
    if scored is not None:
        raw = bulk.query(session, sql.assignments_scored, [*params, scored, scored])
    else:
        raw = bulk.query(session, sql.assignments, params)
    width = len(sql.assignment_columns)
    cache.update(dict.fromkeys(unknown))
    for r in raw:
        if r[0] == 2:
            _keep_score_reads(session, sql, scored or 0, r[-1], dialect)
        elif r[0] == 0:
            [a] = _assignments([r[1:width + 1]], sql.assignment_results)
            assignments[a.evaluation_id].append(a)
        else:
            cache[r[width + 1]] = _person(r[width + 1:])


def _load_one(svc: Service, session: Session, sql: _SnapshotSql, evaluation_id: int,
              reads: frozenset[str]) -> dict[int, Snapshot]:
    """SQLite, one evaluation in a write transaction: the snapshot in one statement,
    with what the step asks besides (``reads``)."""
    usual = sorted(svc.rules.usual_people() | set(svc.settings.admins))
    raw = bulk.query(session, sql.single_with(reads) if reads else sql.single,
                     [json.dumps(usual), json.dumps([evaluation_id])])
    if not raw:
        return {}
    width = len(sql.evaluation_columns)
    [row] = _evaluations(raw, sql.evaluation_results)
    tail = raw[0][width:]
    above_id, seq, last_hash, assignments_json, people_json = tail[:5]
    extra = list(tail[5:])
    if SCORE_READS in reads:
        _keep_score_reads(session, sql, row.id, extra.pop(0), "sqlite")
    if UNIT_STATES in reads:
        states_json, published_at = extra
        published_of = sql.extra_results[2]
        bulk.transaction_cache(session).setdefault(UNIT_STATES, {})[row.id] = UnitAtRead(
            row.cycle_id, row.unit_id, row.state,
            {state: int(n) for state, n in json.loads(states_json or "[]")},
            published_of(published_at) if published_at is not None and published_of
            else published_at)
    cache = bulk.transaction_cache(session)
    cache.setdefault(ABOVE_KEY, {})[row.id] = above_id
    if seq is not None:
        cache.setdefault(audit.HEAD_KEY, (int(seq), str(last_hash)))
    mine = _assignments(json.loads(assignments_json), sql.assignment_results)
    people = _people_cache(session)
    people.update(dict.fromkeys(i for i in (row.reviewee_id, row.supervisor_id,
                                            row.appeal_reviewer_id, row.scored_by, *usual)
                                if i and i not in people))
    for person in json.loads(people_json):
        people[person[0]] = _person(person)
    rules = svc.rules.get(session, row.cycle_id)
    calibrator = svc.rules.calibrator(session, row.cycle_id)
    view = _view(row, mine, rules, svc.admins(rules), calibrator, svc.scoped_admins(rules))
    return {row.id: Snapshot(row, rules, view, mine, above_id)}


def load_snapshots(svc: Service, session: Session, ids: Sequence[int], *,
                   lock: bool = True, skip_locked: bool = False,
                   reads: frozenset[str] = frozenset()) -> dict[int, Snapshot]:
    """Snapshots of the evaluations ``ids`` (those that exist), locked when ``lock``.

    With ``skip_locked`` (the sweep), evaluations another worker holds are left out.
    Two statements per chunk of 900, run by the driver: the evaluations (locked, in
    id order) with their supervisors' evaluations, then their assignments and the
    people around them (kept for ``load_people`` in this transaction).

    ``reads`` (one evaluation, locked: a step): what else to read in those statements,
    into the transaction's cache (SCORE_READS; UNIT_STATES, on SQLite only, where the
    write lock is held from the start: PostgreSQL counts after the cycle's lock).
    """
    sql = _snapshot_sql(session)
    dialect = bulk.dialect_name(session)
    stmt = (sql.skip_locked if skip_locked else sql.locked) if lock else sql.evaluations
    out: dict[int, Snapshot] = {}
    ordered = sorted(set(ids))
    width = len(sql.evaluation_columns)
    one = len(ordered) == 1 and lock
    if one and sql.single:
        return _load_one(svc, session, sql, ordered[0], reads)
    scored = ordered[0] if one and SCORE_READS in reads else None
    for start in range(0, len(ordered), 900):
        chunk = ordered[start:start + 900]
        raw = bulk.query(session, stmt, [bulk.id_list(dialect, chunk)])
        rows = _evaluations(raw, sql.evaluation_results)
        above = {r[0]: r[width] for r in raw}
        bulk.transaction_cache(session).setdefault(ABOVE_KEY, {}).update(above)
        if raw and lock and dialect == "sqlite" and raw[0][width + 1] is not None:
            bulk.transaction_cache(session).setdefault(
                audit.HEAD_KEY, (int(raw[0][width + 1]), str(raw[0][width + 2])))
        found = [r.id for r in rows]
        assignments: dict[int, list[AssignmentRecord]] = {i: [] for i in found}
        context = {row.cycle_id: (rules := svc.rules.get(session, row.cycle_id),
                                  svc.rules.calibrator(session, row.cycle_id),
                                  svc.admins(rules)) for row in rows}
        if found:
            _read_assignments_and_people(session, sql, rows, context, assignments,
                                         scored if scored in found else None)
        for row in rows:
            rules, calibrator, admins = context[row.cycle_id]
            mine = assignments[row.id]
            out[row.id] = Snapshot(row, rules, _view(row, mine, rules, admins, calibrator,
                                                     svc.scoped_admins(rules)),
                                   mine, above[row.id])
    return out


def load_snapshot(svc: Service, session: Session, evaluation_id: int, *,
                  lock: bool = True, reads: frozenset[str] = frozenset()) -> Snapshot:
    snaps = load_snapshots(svc, session, [evaluation_id], lock=lock, reads=reads)
    if evaluation_id not in snaps:
        raise EvaluationNotFound(evaluation_id)
    return snaps[evaluation_id]
