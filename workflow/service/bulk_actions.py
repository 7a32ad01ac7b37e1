"""Bulk actions with a dry run (issue 18 item 6): extend a phase for a cycle or a unit,
send the task emails again to everyone who has not acted, move a departing supervisor's
open evaluations to another person.

Each action has a ``plan_*`` (the dry run: which evaluations, what would change, and
those already known to be refused, with the reason; nothing written) and ``apply``,
which runs the existing single-item service call (``records.extend``,
``resend.resend_task``, ``records.reassign_supervisor``) on exactly the evaluations the
plan listed.

One transaction per item, not one for the run: each item is atomic (its own
compare-and-set, audit row and mail), so one evaluation that moved on meanwhile is
refused with its reason while the others are done, and a run cut short leaves every
finished item whole. The run itself is recorded after its items: one audit row naming
the action, its parameters, the items done and the items refused with why.

Everything is filtered by the admin's scope (workflow/service/admin_scope.py): an
evaluation out of reach is neither listed nor acted on, whatever the form posts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import select

from workflow import dates
from workflow.calendar import at_local, zone
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, Role, State
from workflow.errors import KpiError, PersonNotFound, Problem, SubmissionInvalid
from workflow.service import admin_scope, records, resend
from workflow.service.admin_scope import AdminScope
from workflow.service.core import Service, Snapshot, load_people, load_snapshots
from workflow.store import audit
from workflow.store.tables import EVALUATION, PERSON

EXTEND, RESEND, REASSIGN = "extend", "resend", "reassign"
ACTIONS = (EXTEND, RESEND, REASSIGN)
# The phases whose deadline is each evaluation's own (calibration's is the pool's:
# `kpi extend-bulk` moves it for the whole pool).
EXTENDABLE = (State.SELF_ASSESSMENT, State.PEER_INPUT, State.SUPERVISOR_SCORING,
              State.APPEAL_WINDOW, State.APPEAL_REVIEW)
# One run is at most this many items (each its own transaction): a larger one is
# narrowed to a unit, or done with `kpi extend-bulk`.
MAX_ITEMS = 1000
END_OF_DAY = time(17, 0)  # a date typed without a time: the end of the working day

REQUIRED = dates.REQUIRED
NOT_FUTURE = N_("must be later than now")
SAME_PERSON = N_("the new supervisor is the departing one; choose another person")
NOT_IN_PHASE = N_("choose one of the phases listed")
TOO_MANY = N_("%(num)s evaluations: at most %(max)s in one run; choose a unit")
NOTHING = N_("no evaluation of yours matches: nothing to do")
NOT_LATER = N_("the new deadline is not after its current one (%(due)s)")
OWN_SUPERVISOR = N_("they would supervise themselves")
NOT_PREVIEWED = N_("it no longer matches the preview (its state, unit or supervisor changed "
                   "since), or it was not in it")

def parse_local(text: str, tz: str, field_name: str = "new_due") -> datetime:
    """A local date (and time) as HR types it (``workflow.dates``: 20/05/2026 [17:00] or
    2026-05-20 [17:00]); without a time, 17:00. SubmissionInvalid naming ``field_name``
    with what is wrong otherwise ("“31/04/2026” is not a date: April 2026 has 30 days")."""
    try:
        day, clock = dates.parse_day_time(text)
        return at_local(day, clock or END_OF_DAY, zone(tz))
    except dates.NotADate as exc:
        raise SubmissionInvalid(None, {field_name: exc.problem}) from None
    except OverflowError:  # 0001-01-01 00:00 east of UTC is before the year 1
        raise SubmissionInvalid(None, {field_name: Problem(dates.NOT_A_DATETIME,
                                                           value=text.strip())}) from None


@dataclass(frozen=True)
class BulkItem:
    """One evaluation of a plan: what would happen to it, or why it would be refused."""

    evaluation_id: int
    reviewee_id: str
    reviewee_name: str
    unit_id: str
    state: State
    due_at: datetime | None
    waits_on: tuple[str, ...] = ()  # names of whoever the task waits on (resend)
    refusal: Problem | None = None


@dataclass(frozen=True)
class BulkPlan:
    action: str
    cycle_id: str
    timezone: str
    items: tuple[BulkItem, ...]
    new_due: datetime | None = None  # extend
    new_supervisor: str | None = None  # reassign: id and name
    new_supervisor_name: str = ""

    @property
    def doable(self) -> list[int]:
        return [i.evaluation_id for i in self.items if i.refusal is None]


@dataclass(frozen=True)
class BulkResult:
    evaluation_id: int
    reviewee_name: str
    done: bool
    problem: Problem | None = None  # why it was refused


@dataclass
class BulkRun:
    action: str
    cycle_id: str
    results: list[BulkResult] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for r in self.results if r.done)

    @property
    def refused(self) -> int:
        return sum(1 for r in self.results if not r.done)


@dataclass(frozen=True)
class _Row:
    id: int
    reviewee_id: str
    unit_id: str
    state: str
    due_at: datetime | None
    full_name: str


def _candidates(svc: Service, scope: AdminScope, cycle_id: str, states: Iterable[State],
                *, unit_id: str = "", supervisor_id: str = "") -> list[_Row]:
    admin_scope.require_cycle(scope, cycle_id)
    admin_scope.require_unit(svc, scope, cycle_id, unit_id)
    where = [EVALUATION.c.cycle_id == cycle_id,
             EVALUATION.c.state.in_([s.value for s in states])]
    if unit_id:
        where.append(EVALUATION.c.unit_id == unit_id)
    if supervisor_id:
        where.append(EVALUATION.c.supervisor_id == supervisor_id)
    units = scope.units_of(cycle_id)
    if units is not None:
        where.append(EVALUATION.c.unit_id.in_(sorted(units)))
    with svc.store.read() as session:
        rows = [_Row(**r._mapping) for r in session.execute(
            select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.unit_id,
                   EVALUATION.c.state, EVALUATION.c.due_at, PERSON.c.full_name)
            .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
            .where(*where).order_by(PERSON.c.full_name, EVALUATION.c.id)
            .limit(MAX_ITEMS + 1))]
    if not rows:
        raise SubmissionInvalid(None, {"_form": Problem(NOTHING)})
    if len(rows) > MAX_ITEMS:
        raise SubmissionInvalid(None, {"unit": Problem(TOO_MANY, num=f"{MAX_ITEMS}+",
                                                       max=MAX_ITEMS)})
    return rows


def _item(row: _Row, refusal: Problem | None = None,
          waits_on: tuple[str, ...] = ()) -> BulkItem:
    return BulkItem(evaluation_id=row.id, reviewee_id=row.reviewee_id,
                    reviewee_name=row.full_name, unit_id=row.unit_id, state=State(row.state),
                    due_at=row.due_at, waits_on=waits_on, refusal=refusal)


def _reason(reason: str) -> None:
    if not reason.strip():
        raise SubmissionInvalid(None, {"reason": Problem(REQUIRED)})


def plan_extend(svc: Service, scope: AdminScope, cycle_id: str, phase: str, new_due: str,
                reason: str, *, unit_id: str = "", now: datetime | None = None) -> BulkPlan:
    """The dry run of extending ``phase`` of ``cycle_id`` (one unit, or all) to
    ``new_due`` (local time of the cycle)."""
    now = now or utc_now()
    problems: dict[str, Problem] = {}
    if phase not in {s.value for s in EXTENDABLE}:
        problems["phase"] = Problem(NOT_IN_PHASE)
    tz = records.cycle_timezone(svc, cycle_id=cycle_id)
    until: datetime | None = None
    try:
        until = parse_local(new_due, tz)
        if until <= now:
            problems["new_due"] = Problem(NOT_FUTURE)
    except SubmissionInvalid as exc:
        problems.update(exc.fields)
    if not reason.strip():
        problems["reason"] = Problem(REQUIRED)
    if problems:
        raise SubmissionInvalid(None, problems)
    assert until is not None
    rows = _candidates(svc, scope, cycle_id, [State(phase)], unit_id=unit_id)
    items = []
    for row in rows:
        late = row.due_at is not None and until <= row.due_at
        items.append(_item(row, Problem(NOT_LATER, due=row.due_at) if late else None))
    return BulkPlan(EXTEND, cycle_id, tz, tuple(items), new_due=until)


def plan_resend(svc: Service, scope: AdminScope, cycle_id: str, *, unit_id: str = "",
                now: datetime | None = None) -> BulkPlan:
    """The dry run of emailing the task again to whoever each open evaluation waits on."""
    now = now or utc_now()
    tz = records.cycle_timezone(svc, cycle_id=cycle_id)
    rows = _candidates(svc, scope, cycle_id, resend.TASK_NOTICES, unit_id=unit_id)
    with svc.store.read() as session:
        snaps = load_snapshots(svc, session, [r.id for r in rows], lock=False)
        waiting = {i: _waits_on(s) for i, s in snaps.items()}
        names = {p.id: p.full_name for p in load_people(
            session, {p for ids in waiting.values() for p in ids}).values()}
    items = [_item(r, None, tuple(names.get(p, p) for p in waiting.get(r.id, ())))
             for r in rows]
    return BulkPlan(RESEND, cycle_id, tz, tuple(items))


def _waits_on(snap: Snapshot) -> list[str]:
    row = snap.row
    state = row.state
    if state in (State.SELF_ASSESSMENT, State.APPEAL_WINDOW):
        return [row.reviewee_id]
    if state is State.PEER_INPUT:
        return snap.pending_peers()
    if state is State.SUPERVISOR_SCORING:
        return [p for p in [row.supervisor_id] if p]
    if state is State.APPEAL_REVIEW:
        return [p for p in [row.appeal_reviewer_id] if p]
    return []


def plan_reassign(svc: Service, scope: AdminScope, cycle_id: str, departing: str,
                  new_supervisor: str, reason: str, *, now: datetime | None = None) -> BulkPlan:
    """The dry run of giving every open evaluation ``departing`` supervises in
    ``cycle_id`` to ``new_supervisor``."""
    departing, new_supervisor = departing.strip(), new_supervisor.strip()
    problems: dict[str, Problem] = {}
    for name, value in (("departing", departing), ("new_supervisor", new_supervisor),
                        ("reason", reason.strip())):
        if not value:
            problems[name] = Problem(REQUIRED)
    if departing and departing == new_supervisor:
        problems["new_supervisor"] = Problem(SAME_PERSON)
    if problems:
        raise SubmissionInvalid(None, problems)
    for name, person in (("departing", departing), ("new_supervisor", new_supervisor)):
        try:
            admin_scope.require_people(svc, scope, [person])
        except PersonNotFound as exc:
            problems[name] = _refusal(exc)
    if problems:
        raise SubmissionInvalid(None, problems)
    tz = records.cycle_timezone(svc, cycle_id=cycle_id)
    rows = _candidates(svc, scope, cycle_id, OPEN_STATES, supervisor_id=departing)
    with svc.store.read() as session:
        names = {p.id: p.full_name for p in load_people(session, [new_supervisor]).values()}
    items = [_item(r, Problem(OWN_SUPERVISOR) if r.reviewee_id == new_supervisor else None)
             for r in rows]
    return BulkPlan(REASSIGN, cycle_id, tz, tuple(items), new_supervisor=new_supervisor,
                    new_supervisor_name=names.get(new_supervisor, new_supervisor))


def _refusal(exc: KpiError) -> Problem:
    """What one refused item says: the field's own problem, or the error's message."""
    if isinstance(exc, SubmissionInvalid) and exc.fields:
        return next(iter(exc.fields.values()))
    params: dict[str, Any] = dict(exc.user_params())
    return Problem(type(exc).user_message, english=str(exc), **params)


def apply(svc: Service, scope: AdminScope, plan: BulkPlan, evaluation_ids: Sequence[int],
          reason: str, *, approved_by: str = "", now: datetime | None = None) -> BulkRun:
    """Run ``plan`` on ``evaluation_ids`` (those the confirmed preview listed), one
    transaction per item; then record the run. An id the plan does not list as doable
    is refused (a crafted form cannot widen the run)."""
    now = now or utc_now()
    # A crafted confirmation naming an evaluation out of reach is refused whole: no item
    # is done and no run is recorded (NotPermitted, the 403 page).
    admin_scope.require_evaluations(svc, scope, evaluation_ids, action=f"bulk_{plan.action}")
    if plan.action != RESEND:
        _reason(reason)
    listed = {i.evaluation_id: i for i in plan.items}
    run = BulkRun(plan.action, plan.cycle_id)
    for evaluation_id in dict.fromkeys(evaluation_ids):
        item = listed.get(evaluation_id)
        if item is None or item.refusal is not None:
            run.results.append(BulkResult(evaluation_id, item.reviewee_name if item else "",
                                          False, item.refusal if item else
                                          Problem(NOT_PREVIEWED)))
            continue
        try:
            _one(svc, plan, evaluation_id, reason, approved_by or scope.admin_id,
                 scope.admin_id, now)
        except KpiError as exc:
            run.results.append(BulkResult(evaluation_id, item.reviewee_name, False,
                                          _refusal(exc)))
        else:
            run.results.append(BulkResult(evaluation_id, item.reviewee_name, True))
    _record(svc, scope.admin_id, plan, run, reason, now)
    return run


def _one(svc: Service, plan: BulkPlan, evaluation_id: int, reason: str, approved_by: str,
         actor_id: str, now: datetime) -> None:
    if plan.action == EXTEND:
        assert plan.new_due is not None
        records.extend(svc, evaluation_id, plan.new_due, reason, approved_by, actor_id, now=now)
    elif plan.action == RESEND:
        resend.resend_task(svc, evaluation_id, actor_id, now=now)
    else:
        assert plan.new_supervisor is not None
        records.reassign_supervisor(svc, evaluation_id, plan.new_supervisor, reason,
                                    actor_id, now=now)


def _record(svc: Service, actor_id: str, plan: BulkPlan, run: BulkRun, reason: str,
            now: datetime) -> None:
    # The audit log keeps a payload's hash only: what was done is said in the text.
    done = [str(r.evaluation_id) for r in run.results if r.done]
    refused = [f"{r.evaluation_id} ({r.problem})" for r in run.results if not r.done]
    target = plan.new_due.isoformat() if plan.new_due else plan.new_supervisor or ""
    text = (f"bulk {plan.action}{' to ' + target if target else ''}: {len(done)} done"
            f" [{', '.join(done)}]; {len(refused)} refused [{'; '.join(refused)}]"
            + (f"; reason: {reason.strip()}" if reason.strip() else ""))
    with svc.store.write() as session:
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger=f"bulk_{plan.action}",
            cycle_id=plan.cycle_id, reason=text, payload={
                "new_due": plan.new_due.isoformat() if plan.new_due else None,
                "new_supervisor": plan.new_supervisor, "done": done, "refused": refused})])
