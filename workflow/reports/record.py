"""The personnel record of one person: every evaluation, its breakdown, the whole
audit trail of each, and the result of verifying the audit chain.

Peers stay anonymous here too: an audit row written by a peer shows "a peer", never
who. A row at or after the first broken link of the chain is marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from workflow.clock import utc_now
from workflow.domain import Role
from workflow.errors import PersonNotFound
from workflow.reports.facts import FLAG_NAMES
from workflow.reports.rows import Appeal, Move, moves_and_appeals
from workflow.reports.stamp import BreakdownLine, read_stamp
from workflow.scoring.display import ShownScore, shown_stamp
from workflow.scoring.model import Labels, Regime
from workflow.service.core import Service
from workflow.service.queries import Explanation, explain
from workflow.service.year_end_standing import MonthsShort, from_stamp, not_classified
from workflow.store import audit
from workflow.store.tables import (
    AUDIT,
    CYCLE,
    EVALUATION,
    EXTENSION,
    OVERRIDE,
    PERSON,
    UNIT,
)

ANONYMOUS_PEER = "a peer (anonymous)"


@dataclass(frozen=True)
class AuditLine:
    seq: int
    at: datetime
    actor: str
    role: str
    trigger: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    row_hash: str
    trusted: bool  # False: at or after the first broken link of the chain


@dataclass
class RecordEvaluation:
    evaluation_id: int
    cycle_id: str
    cycle_name: str
    period_start: date
    period_end: date
    timezone: str
    state: str
    score: Decimal | None
    score_class: str | None
    final_class: str | None
    class_label: str
    supervisor_id: str | None
    scored_by: str | None
    breakdown: tuple[BreakdownLine, ...]
    forced_by: tuple[str, ...]
    explanation: Explanation | None
    moves: list[Move]
    appeal: Appeal | None
    extensions: list[dict[str, object]]
    overrides: list[dict[str, object]]
    flags: dict[str, bool]
    audit: list[AuditLine] = field(default_factory=list)
    shown: ShownScore | None = None  # the score and its lines as every surface shows them
    class_labels: dict[str, Labels] = field(default_factory=dict)  # by class id
    year_end: MonthsShort | None = None  # a year-end class on fewer months than the minimum

    def shown_points(self, criterion: str) -> Decimal | None:
        return None if self.shown is None else self.shown.points.get(criterion)


@dataclass
class PersonnelRecord:
    person_id: str
    full_name: str
    unit: str
    position: str
    evaluations: list[RecordEvaluation]
    chain: audit.VerifyResult
    generated_at: datetime
    locale: str = "vi"  # the person's own language: the record is printed in it

    @property
    def audit_rows(self) -> int:
        return sum(len(e.audit) for e in self.evaluations)


def _actor(role: str, actor_id: str) -> str:
    """Who a trail line names: a peer stays anonymous in the record too."""
    return ANONYMOUS_PEER if role == Role.PEER.value else actor_id


def personnel_record(svc: Service, person_id: str, *, now: datetime | None = None
                     ) -> PersonnelRecord:
    """Everything on record about ``person_id``'s evaluations, oldest period first."""
    with svc.store.read() as session:
        person = session.execute(
            select(PERSON.c.id, PERSON.c.full_name, PERSON.c.position_id, PERSON.c.locale,
                   UNIT.c.name.label("unit_name"), PERSON.c.unit_id)
            .outerjoin(UNIT, UNIT.c.id == PERSON.c.unit_id)
            .where(PERSON.c.id == person_id)).first()
        if person is None:
            raise PersonNotFound(person_id)
        chain = audit.verify(session)
        rows = [dict(r._mapping) for r in session.execute(
            select(EVALUATION, CYCLE.c.name.label("cycle_name"), CYCLE.c.period_start,
                   CYCLE.c.period_end, CYCLE.c.timezone)
            .join(CYCLE, CYCLE.c.id == EVALUATION.c.cycle_id)
            .where(EVALUATION.c.reviewee_id == person_id)
            .order_by(CYCLE.c.period_start, EVALUATION.c.id))]
        ids = [r["id"] for r in rows]
        moves, appeals = moves_and_appeals(session, ids) if ids else ({}, {})
        trails: dict[int, list[AuditLine]] = {i: [] for i in ids}
        extensions: dict[int, list[dict[str, object]]] = {}
        overrides: dict[int, list[dict[str, object]]] = {}
        broken_from = chain.first_broken_seq if not chain.ok else None
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            for a in session.execute(select(AUDIT).where(AUDIT.c.evaluation_id.in_(chunk))
                                     .order_by(AUDIT.c.seq)):
                trails[a.evaluation_id].append(AuditLine(
                    a.seq, a.at, _actor(a.role, a.actor_id), a.role, a.trigger, a.from_state,
                    a.to_state, a.reason, a.row_hash, broken_from is None or a.seq < broken_from))
            for x in session.execute(select(EXTENSION).where(EXTENSION.c.evaluation_id.in_(chunk))
                                     .order_by(EXTENSION.c.id)):
                extensions.setdefault(x.evaluation_id, []).append(dict(x._mapping))
            for o in session.execute(select(OVERRIDE).where(OVERRIDE.c.evaluation_id.in_(chunk))
                                     .order_by(OVERRIDE.c.id)):
                overrides.setdefault(o.evaluation_id, []).append(dict(o._mapping))
        # A year end that does not classify them (too few months) has no score to read
        # it from: the periods it rests on say it, as on the result page.
        unclassified = {c: not_classified(svc, session, c).get(person_id) for c in
                        sorted({r["cycle_id"] for r in rows if r["score"] is None})}
        labels = {}
        regimes: dict[int, Regime] = {}
        for r in rows:
            regime = regimes[r["id"]] = svc.rules.get(session, r["cycle_id"]).regime
            labels[r["id"]] = {c.id: c.label for c in regime.classes}
    evaluations = []
    for r in rows:
        stamp = read_stamp(r["score_stamp"])
        klass = r["final_class"] or r["score_class"]
        evaluations.append(RecordEvaluation(
            r["id"], r["cycle_id"], r["cycle_name"], r["period_start"], r["period_end"],
            r["timezone"], r["state"], None if r["score"] is None else Decimal(r["score"]),
            r["score_class"], r["final_class"],
            labels[r["id"]][klass].en if klass in labels[r["id"]] else "",
            r["supervisor_id"], r["scored_by"], stamp.breakdown, stamp.forced_by,
            explain(svc, r["id"]) if r["score"] is not None else None,
            moves.get(r["id"], []), appeals.get(r["id"]), extensions.get(r["id"], []),
            overrides.get(r["id"], []), {f: bool(r[f]) for f in FLAG_NAMES},
            trails[r["id"]],
            None if r["score"] is None else shown_stamp(r["score"], r["score_stamp"],
                                                        regimes[r["id"]]),
            labels[r["id"]], from_stamp(r["score_stamp"]) if r["score"] is not None
            else unclassified[r["cycle_id"]]))
    return PersonnelRecord(person.id, person.full_name, person.unit_name or person.unit_id,
                           person.position_id, evaluations, chain, now or utc_now(),
                           person.locale or "vi")
