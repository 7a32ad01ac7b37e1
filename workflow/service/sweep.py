"""`kpi tick`: one idempotent sweep that runs everything due as of ``now``.

Deadlines are rows (``deadline``). A sweep round takes the evaluations with the
earliest due rows, locks them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers
share the work; the write lock on SQLite), then fires each evaluation's due rows in
time order, marks them done, and writes all the changes of the round at once.
Locking the evaluation first and its rows second is the same order a person's
action takes, so the two never deadlock.

Workers share the due work: each round claims up to ``batch`` evaluations that have
due rows with ``FOR UPDATE SKIP LOCKED`` in one statement, looking further down the
due list when the first window is all held by other workers. The claim is a lease:
the row locks last exactly as long as the round's transaction. A worker that dies
gives its claim back at once (the server rolls its transaction back); one that hangs
between statements gives it back after ``sweep_lease_seconds``, when PostgreSQL ends
its session (``idle_in_transaction_session_timeout``, set for the round only). On
SQLite every write transaction is ``BEGIN IMMEDIATE``: one writer at a time, and a
dead process's lock goes with it.

Each row fires once: it is marked in the transaction that applies its effect. After
downtime, rounds repeat until nothing is due, so every missed deadline and
escalation step fires once and in order. What was only true at the time is not said
late: a reminder whose deadline has passed, or that a later due reminder replaces
("2 days left" beside "due today"), is skipped; the overdue series goes on from the
next repeat after now, not in a burst; a task whose phase opened and closed while
nobody swept is not handed out. Those decisions are the effects core's
(``workflow.effects.core.due_timer`` and ``transition``), shared with ``plan`` and the
pre-launch simulation; this module claims, reads and writes.
A phase entered because a deadline passed opens at that deadline's instant, not at
the time of the sweep: the calendar is the same however often the sweep runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from workflow.domain import Role, State, TimerStatus
from workflow.effects import core as effects
from workflow.permissions import SYSTEM_ACTOR
from workflow.progress import SILENT, Progress, Remaining
from workflow.service import collector, health, pool, series
from workflow.service.core import (
    PersonInfo,
    Service,
    Snapshot,
    load_people,
    load_snapshots,
)
from workflow.service.notices import STATE_ACTIONS, Mail, make_mail
from workflow.service.sweep_plans import SharedPlans
from workflow.service.timers import superseded_reminders
from workflow.service.transition import (
    Change,
    base_context,
    plan,
    write,
    write_mail,
)
from workflow.store import audit, bulk
from workflow.store.tables import DEADLINE, EVALUATION, Cycle

log = logging.getLogger("kpi.sweep")


@dataclass
class SweepReport:
    rounds: int = 0
    fired: Counter[str] = field(default_factory=Counter)  # by timer kind
    skipped: int = 0  # stale reminders, rows of a phase already left
    transitions: Counter[str] = field(default_factory=Counter)  # by trigger
    escalations: int = 0
    emails: int = 0
    cycles_opened: list[str] = field(default_factory=list)  # scheduled periods of a series

    def summary(self) -> str:
        moved = ", ".join(f"{k} {v}" for k, v in sorted(self.transitions.items())) or "none"
        fired = ", ".join(f"{k} {v}" for k, v in sorted(self.fired.items())) or "none"
        return (f"sweep: {sum(self.fired.values())} deadline rows fired ({fired}); "
                f"transitions: {moved}; {self.escalations} escalations; "
                f"{self.skipped} skipped; {self.emails} emails queued; {self.rounds} rounds"
                + (f"; cycles opened: {', '.join(self.cycles_opened)}"
                   if self.cycles_opened else ""))


@dataclass
class _Round:
    changes: list[Change] = field(default_factory=list)
    mail: Mail = field(default_factory=lambda: Mail([], []))
    marks: list[dict[str, Any]] = field(default_factory=list)
    new_timers: list[dict[str, Any]] = field(default_factory=list)
    superseded: set[int] = field(default_factory=set)  # stale reminder rows (downtime)
    plans: SharedPlans | None = None  # the round's deadline moves, planned once per shape


ANALYZE_AFTER = 10_000  # rows a tick moved or queued before it refreshes statistics
# The rewritten tables whose next readers are planned by their statistics: the digest
# folding and the dispatcher (outbox, evaluation states) and the next sweep's claim.
# Not the links (found by their unique hash) nor the audit rows (read by seq and by
# evaluation through their indexes, at any size): analysing those two was a quarter
# of the ANALYZE, 0.4 s of a 20,000 sweep on PostgreSQL (issue 16).
SWEPT_TABLES = ("evaluation", "deadline", "outbox")


def tick(svc: Service, now: datetime, *, batch: int = 500, max_rounds: int | None = None,
         progress: Progress = SILENT) -> SweepReport:
    """Run every deadline row due at ``now``, in rounds of ``batch`` evaluations;
    ``progress`` hears of the rows fired or skipped, a round at a time."""
    report = SweepReport()
    # The periods of a series scheduled to open by now (once each, however late).
    report.cycles_opened = [c for c, outcome in series.open_due(svc, now) if outcome == "opened"]
    rows = Remaining(progress, "deadline rows", lambda: health.due_deadline_rows(svc, now))
    while max_rounds is None or report.rounds < max_rounds:
        with svc.store.write() as session, collector.paused():
            start_lease(svc, session)
            done = _round(svc, session, now, batch, report)
        if not done:
            break
        report.rounds += 1
        rows.advance(done)
    rows.done()
    log.info(report.summary())
    if report.emails + sum(report.transitions.values()) >= ANALYZE_AFTER:
        # A sweep past a deadline rewrites a cycle's rows at once: the digest folding
        # and the dispatcher that follow are planned on fresh statistics (PostgreSQL).
        bulk.analyze(svc.store, SWEPT_TABLES)
    return report


def start_lease(svc: Service, session: Session) -> None:
    """On PostgreSQL, end this transaction (and free its claims) if it idles too long."""
    if svc.store.dialect == "postgresql":
        ms = max(1, int(svc.settings.sweep_lease_seconds * 1000))
        # SET takes no bind parameters; ``ms`` is an int from the typed settings.
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))


CLAIM_WINDOWS = 8  # windows of the due list looked at before a round gives up


def claim(svc: Service, session: Session, now: datetime, batch: int) -> dict[int, Snapshot]:
    """Lock up to ``batch`` evaluations with due rows that no other worker holds.

    The due list is read in windows, soonest first; each window's evaluations are
    locked with SKIP LOCKED in one statement, so a worker passes over what another
    holds instead of waiting for it, and looks at the next window when all of one
    is taken.
    """
    window = batch * 4
    dialect = bulk.dialect(session)
    due_sql, lock_sql, fire_at = _claim_sql(dialect)
    due = fire_at(now) if fire_at else now
    for k in range(CLAIM_WINDOWS):
        candidates = [r[0] for r in bulk.query(
            session, due_sql, (TimerStatus.PENDING.value, due, window, k * window))]
        ids = list(dict.fromkeys(candidates))
        if not ids:
            return {}
        locked = [r[0] for r in bulk.query(session, lock_sql,
                                           (bulk.id_list(dialect.name, ids), batch))]
        if locked:
            return load_snapshots(svc, session, locked, lock=False)  # ours until commit
        if len(candidates) < window:
            return {}
    return {}


_CLAIM_SQL: dict[str, tuple[str, str, Any]] = {}


def _claim_sql(dialect: Any) -> tuple[str, str, Any]:
    """The claim's two statements for ``dialect`` (a window of the due list; its
    evaluations locked, skipping those another worker holds) and the bind processor
    of the instant: made once per dialect. By the driver: a window is 2,000 ids, and
    SQLAlchemy's expanding IN compiled 2,000 parameters each round (issue 16)."""
    found = _CLAIM_SQL.get(dialect.name)
    if found is None:
        pg = dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        due_sql = (f"SELECT evaluation_id FROM deadline WHERE status = {mark} "
                   f"AND fire_at <= {mark} AND evaluation_id IS NOT NULL "
                   f"ORDER BY fire_at, id LIMIT {mark} OFFSET {mark}")
        lock_sql = (f"SELECT id FROM evaluation WHERE id {bulk.in_ids(dialect.name)} "
                    f"ORDER BY id LIMIT {mark}" + (" FOR UPDATE SKIP LOCKED" if pg else ""))
        found = _CLAIM_SQL[dialect.name] = (
            due_sql, lock_sql, DEADLINE.c.fire_at.type._cached_bind_processor(dialect))
    return found


def _round(svc: Service, session: Session, now: datetime, batch: int,
           report: SweepReport) -> int:
    fired = _pool_round(svc, session, now, batch, report)
    snaps = claim(svc, session, now, batch)
    if not snaps:
        return fired
    rows = _due_rows(session, list(snaps), now)
    people = _people_for(session, snaps.values())
    work = _Round(plans=SharedPlans(svc, people))
    effects.sweep_round(
        rows,
        lambda timer, superseded: _fire(svc, session, snaps[timer["evaluation_id"]], timer,
                                        now, people, work, report, superseded))
    if not work.marks:
        return fired
    _write_marks(session, work.marks)
    write(svc, session, work.changes)
    bulk.insert_rows(session, DEADLINE, work.new_timers)
    write_mail(session, work.mail)
    report.emails += len(work.mail.outbox) + sum(len(c.mail.outbox) for c in work.changes)
    return fired + len(work.marks)


def _due_rows(session: Session, ids: Sequence[int], now: datetime) -> list[dict[str, Any]]:
    """The claimed evaluations' due pending rows, locked, in firing order; read by the
    driver (a round reads a thousand: SQLAlchemy's rows cost more than the query)."""
    dialect = bulk.dialect(session)
    sql, fire_at, results = _due_sql(dialect)
    columns = _DEADLINE_COLUMNS
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 900):
        params = (bulk.id_list(dialect.name, ids[start:start + 900]),
                  TimerStatus.PENDING.value, fire_at(now) if fire_at else now)
        for raw in bulk.query(session, sql, params):
            out.append({name: (process(value) if process is not None and value is not None
                               else value)
                        for name, value, process in zip(columns, raw, results, strict=True)})
    # Each chunk is in order; chunks are of ascending evaluation ids.
    return out


_DEADLINE_COLUMNS = tuple(c.name for c in DEADLINE.c)
_DUE_SQL: dict[str, tuple[str, Any, tuple[Any, ...]]] = {}


def _due_sql(dialect: Any) -> tuple[str, Any, tuple[Any, ...]]:
    """The due rows' statement for ``dialect``, the instant's bind processor and the
    columns' result processors: made once per dialect."""
    found = _DUE_SQL.get(dialect.name)
    if found is None:
        pg = dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        sql = (f"SELECT {', '.join(_DEADLINE_COLUMNS)} FROM deadline "
               f"WHERE evaluation_id {bulk.in_ids(dialect.name)} AND status = {mark} "
               f"AND fire_at <= {mark} ORDER BY evaluation_id, fire_at, id"
               + (" FOR UPDATE" if pg else ""))
        found = _DUE_SQL[dialect.name] = (
            sql, DEADLINE.c.fire_at.type._cached_bind_processor(dialect),
            bulk.result_processors(dialect, list(DEADLINE.c)))
    return found


def _pool_round(svc: Service, session: Session, now: datetime, batch: int,
                report: SweepReport) -> int:
    """Fire the due rows of calibration pools (rows of a cycle, not of an evaluation)."""
    rows = [dict(r._mapping) for r in session.execute(
        select(DEADLINE)
        .where(DEADLINE.c.status == TimerStatus.PENDING.value, DEADLINE.c.fire_at <= now,
               DEADLINE.c.evaluation_id.is_(None))
        .order_by(DEADLINE.c.fire_at, DEADLINE.c.id).limit(batch)
        .with_for_update(skip_locked=True))]
    if not rows:
        return 0
    work = _Round(superseded=superseded_reminders(rows))
    entries: list[audit.AuditEntry] = []
    for timer in rows:
        _fire_pool(svc, session, timer, now, work, entries, report)
    _write_marks(session, work.marks)
    bulk.insert_rows(session, DEADLINE, work.new_timers)
    write_mail(session, work.mail)
    audit.append(session, entries)
    report.emails += len(work.mail.outbox)
    return len(rows)


def _fire_pool(svc: Service, session: Session, timer: Mapping[str, Any], now: datetime,
               work: _Round, entries: list[audit.AuditEntry], report: SweepReport) -> None:
    """Apply one due row of a calibration pool as the effects core decides."""
    cycle = session.get(Cycle, timer["cycle_id"])
    before, waiting = pool.counts(session, timer["cycle_id"])
    # A row is the calibrator's, or (recusal) that of whoever took some evaluations on:
    # each is reminded of, and escalated from, what they decide (service.pool.phase_rows).
    calibrator_id = timer["recipient_id"] or (cycle.calibrator_id if cycle else None)
    if cycle is not None and waiting:
        waiting = pool.waiting_for(session, cycle, calibrator_id, waiting)
    if cycle is None or not calibrator_id or before or not waiting:
        _mark(work, timer, TimerStatus.CANCELLED, now)  # approved, or reopened since
        report.skipped += 1
        return
    rules = svc.rules.get(session, cycle.id)
    due = session.execute(select(func.min(EVALUATION.c.due_at)).where(
        EVALUATION.c.cycle_id == cycle.id,
        EVALUATION.c.state == State.CALIBRATION.value)).scalar_one()
    admins = svc.admins(rules)
    people = load_people(session, [calibrator_id, *admins])
    calibrator = people.get(calibrator_id)
    # Whom the ladder may climb to: the calibrator's supervisor, or the named evaluator.
    people.update(load_people(session, [calibrator.supervisor_id if calibrator else None,
                                        rules.config.evaluators.get(calibrator_id)]))
    fx = effects.due_pool_timer(rules, timer, now, calibrator_id=calibrator_id, due=due,
                                people=people, admins=admins,
                                superseded=timer["id"] in work.superseded)
    _mark(work, timer, fx.status, now)
    if fx.status is not TimerStatus.DONE:
        report.skipped += 1
        return
    context = {"cycle_id": cycle.id, "cycle_name": rules.config.name,
               "state": State.CALIBRATION.value, "evaluations": waiting,
               "due_at": due.isoformat() if due else None, "cycle_timezone": rules.tz_name,
               "timer_kind": timer["kind"], "timer_seq": timer["seq"]}

    def send(event: str, to: Sequence[str], extra: Mapping[str, Any] | None = None,
             link: bool = True) -> None:
        for person_id in to:
            work.mail.extend(make_mail(
                svc, event=event, person=people[person_id],
                dedupe_key=f"ct:{timer['id']}:{event}:{person_id}",
                context={**context, **(extra or {})}, now=now, evaluation_id=None,
                link=STATE_ACTIONS[State.CALIBRATION] if link else None,
                link_expires_at=due, cycle_tz=rules.tz_name))

    for notice in fx.sends:
        send(notice.event, notice.to)
    work.new_timers += fx.timers
    step = fx.escalation
    if step is not None:
        send("escalation", step.told, {"escalation_level": step.level, "escalated_to": step.to,
                                       "assignee_name": calibrator.full_name
                                       if calibrator else calibrator_id}, link=False)
        targets = list(step.targets)
        entries.append(audit.AuditEntry(
            actor_id=SYSTEM_ACTOR, role=Role.SYSTEM.value, at=now, trigger="escalate",
            cycle_id=cycle.id, from_state=State.CALIBRATION.value,
            to_state=State.CALIBRATION.value,
            reason=f"calibration pool, step {step.level}: to {', '.join(targets) or 'nobody'}",
            payload={"step": step.level, "to": targets}))
        report.escalations += 1
    if fx.fired:
        report.fired[timer["kind"]] += 1


def _people_for(session: Session, snaps: Iterable[Snapshot]) -> dict[str, PersonInfo]:
    ids: set[str | None] = set()
    for s in snaps:
        ids.update({s.row.reviewee_id, s.row.supervisor_id, s.row.appeal_reviewer_id,
                    s.view.calibrator_id, *s.pending_peers(), *s.view.admins,
                    *s.view.escalation_supervisors,
                    *(d.person_id for d in s.view.acting_supervisors)})
    people = load_people(session, ids)
    # The people above them, for escalation: their supervisors, or for the head of
    # the agency the evaluator the cycle file names.
    named = {v for s in snaps for v in s.rules.config.evaluators.values()}
    above = ({p.supervisor_id for p in people.values()} | named) - set(people)
    people.update(load_people(session, above))
    return people


def _write_marks(session: Session, marks: list[dict[str, Any]]) -> None:
    """Each fired or skipped deadline row done: one UPDATE per status and instant (a
    round's marks share both), not one per row (on PostgreSQL each row of an
    executemany is a statement of the pipeline)."""
    ids: dict[tuple[str, datetime], list[int]] = {}
    for m in marks:
        ids.setdefault((m["_status"], m["_done"]), []).append(m["_tid"])
    if not ids:
        return
    dialect = bulk.dialect(session)
    mark = "%s" if dialect.name == "postgresql" else "?"
    sql = (f"UPDATE deadline SET status = {mark}, done_at = {mark} "
           f"WHERE id {bulk.in_ids(dialect.name)}")
    done_at = DEADLINE.c.done_at.type._cached_bind_processor(dialect)
    for (status, done), tids in ids.items():
        for start in range(0, len(tids), 900):
            bulk.run(session, sql, (status, done_at(done) if done_at else done,
                                    bulk.id_list(dialect.name, tids[start:start + 900])))


def _mark(work: _Round, timer: Mapping[str, Any], status: TimerStatus, now: datetime) -> None:
    work.marks.append({"_tid": timer["id"], "_status": status.value, "_done": now})


def _fire(svc: Service, session: Session, snap: Snapshot, timer: Mapping[str, Any],
          now: datetime, people: Mapping[str, PersonInfo], work: _Round,
          report: SweepReport, superseded: bool) -> effects.TimerEffects:
    """Apply one due row as the effects core decides; what the row did (``changes``:
    the evaluation's version moved on)."""
    kind = timer["kind"]
    fx = effects.due_timer(snap, timer, now, people, superseded=superseded)
    _mark(work, timer, fx.status, now)
    if fx.status is not TimerStatus.DONE:
        report.skipped += 1  # a phase already left, a stale reminder, nobody waited on
        return fx
    if fx.moves_with is not None:
        trigger, entered_at = fx.moves_with, timer["fire_at"]

        def planned(s: Snapshot) -> Change:
            return plan(svc, session, s, trigger, SYSTEM_ACTOR, now=now,
                        entered_at=entered_at, people=people)

        change = (planned(snap) if work.plans is None
                  else work.plans.plan(snap, trigger.value, entered_at, planned))
        work.changes.append(change)
        report.fired[kind] += 1
        report.transitions[change.action] += 1
        return fx
    if fx.escalation is not None:
        work.changes.append(_escalate(svc, snap, timer, fx.escalation, now, people))
        report.fired[kind] += 1
        report.escalations += 1
        return fx
    if not fx.fired:
        return fx  # a step past the ladder's end
    for send in fx.sends:
        _notify(svc, snap, send, timer, now, people, work)
    work.new_timers += fx.timers
    report.fired[kind] += 1
    return fx


def _dedupe_key(timer: Mapping[str, Any], event: str, person_id: str) -> str:
    return f"tm:{timer['id']}:{event}:{person_id}"


def _notify(svc: Service, snap: Snapshot, send: effects.Send, timer: Mapping[str, Any],
            now: datetime, people: Mapping[str, PersonInfo], work: _Round) -> None:
    context = base_context(snap, snap.row, people)
    context.update(timer_kind=timer["kind"], timer_seq=timer["seq"])
    link = STATE_ACTIONS.get(snap.state)
    for person_id in send.to:
        person = people.get(person_id)
        if person is None:
            continue
        work.mail.extend(make_mail(
            svc, event=send.event, person=person,
            dedupe_key=_dedupe_key(timer, send.event, person_id), context=context, now=now,
            evaluation_id=snap.id, link=link, available_at=send.at,
            link_expires_at=snap.row.due_at, cycle_tz=snap.rules.tz_name,
            calendar=snap.rules.calendar))


def _escalate(svc: Service, snap: Snapshot, timer: Mapping[str, Any], step: effects.Escalation,
              now: datetime, people: Mapping[str, PersonInfo]) -> Change:
    """The change a step of the ladder makes: the level, the emails, in scoring the
    right to score given to the person above, and the audit row."""
    values = {"escalation_level": step.level, "escalated": True, "updated_at": now}
    change = Change(snap.id, snap.row.cycle_id, snap.version, snap.state, snap.state,
                    "escalate", SYSTEM_ACTOR, Role.SYSTEM, now, values)
    context = base_context(snap, snap.row, people)
    assignee = step.assignee_id
    context.update(escalation_level=step.level, escalated_to=step.to,
                   assignee_name=people[assignee].full_name if assignee and assignee in people
                   else assignee)
    link = (STATE_ACTIONS[snap.state][0], step.role) if step.role is not None else None
    for person_id in step.told:
        change.mail.extend(make_mail(
            svc, event="escalation", person=people[person_id],
            dedupe_key=_dedupe_key(timer, "escalation", person_id), context=context,
            now=now, evaluation_id=snap.id, link=link, link_expires_at=snap.row.due_at,
            cycle_tz=snap.rules.tz_name))
    for person_id in step.new_scorers:
        assert step.role is not None
        change.new_assignments.append({
            "evaluation_id": snap.id, "person_id": person_id, "role": step.role.value,
            "status": "pending", "valid_from": now, "valid_until": None,
            "created_by": SYSTEM_ACTOR,
            "reason": f"escalation step {step.level}: {snap.state.value} overdue"})
    targets = list(step.targets)
    change.audit.append(audit.AuditEntry(
        actor_id=SYSTEM_ACTOR, role=Role.SYSTEM.value, at=now, trigger="escalate",
        evaluation_id=snap.id, cycle_id=snap.row.cycle_id, from_state=snap.state.value,
        to_state=snap.state.value,
        reason=f"step {step.level}: to {', '.join(targets) or 'nobody'}",
        payload={"step": step.level, "to": targets}))
    return change
