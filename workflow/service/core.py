"""The composition root of the service layer and the snapshot of an evaluation.

``Service`` holds the store, the settings and the cache of cycle rules; every use case
is a function taking it first. ``load_snapshots`` reads evaluations with their
assignments and the people around them in a fixed number of queries, whatever the
number of evaluations, and (on PostgreSQL) locks them for the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import Role, State
from workflow.errors import EvaluationNotFound
from workflow.permissions import Delegation, EvaluationView
from workflow.service.rules import CycleRules, RulesCache
from workflow.settings import Settings
from workflow.store import audit
from workflow.store.db import Store
from workflow.store.tables import (
    ASSIGNMENT,
    EVALUATION,
    PERSON,
    Cycle,
)


@dataclass
class Service:
    """What every use case needs: the store, the settings, the rules of open cycles."""

    store: Store
    settings: Settings
    rules: RulesCache = field(default_factory=RulesCache)
    # Asked once per evaluation loaded (a sweep loads thousands): kept per cycle file.
    _admins: dict[tuple[Any, ...], frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # The audit chain of this database is keyed with the settings' key (not stored in it).
        audit.use_key(self.store.engine.url.render_as_string(hide_password=False),
                      audit.chain_key(self.settings.audit_key, self.settings.secret_key))

    def admins(self, rules: CycleRules) -> frozenset[str]:
        key = (rules.cycle_id, rules.config_hash, tuple(self.settings.admins))
        found = self._admins.get(key)
        if found is None:
            found = self._admins[key] = (frozenset(self.settings.admins)
                                         | frozenset(rules.config.admins))
        return found


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


def load_people(session: Session, ids: Iterable[str | None]) -> dict[str, PersonInfo]:
    wanted = sorted({i for i in ids if i})
    out: dict[str, PersonInfo] = {}
    for start in range(0, len(wanted), 900):
        rows = session.execute(
            select(PERSON.c.id, PERSON.c.full_name, PERSON.c.email, PERSON.c.locale,
                   PERSON.c.timezone, PERSON.c.supervisor_id, PERSON.c.unit_id, PERSON.c.active)
            .where(PERSON.c.id.in_(wanted[start:start + 900]))
        ).all()
        for r in rows:
            out[r.id] = PersonInfo(r.id, r.full_name, r.email, r.locale, r.timezone,
                                   r.supervisor_id, r.unit_id, r.active)
    return out


@dataclass
class Snapshot:
    """One evaluation as read in this transaction, with what decides who may act."""

    row: dict[str, Any]
    rules: CycleRules
    view: EvaluationView
    assignments: list[dict[str, Any]]

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def state(self) -> State:
        return State(self.row["state"])

    @property
    def version(self) -> int:
        return int(self.row["version"])

    def pending_peers(self) -> list[str]:
        return [a["person_id"] for a in self.assignments
                if a["role"] == Role.PEER.value and a["status"] == "pending"]


def _view(row: dict[str, Any], assignments: list[dict[str, Any]], rules: CycleRules,
          admins: frozenset[str], calibrator_id: str | None) -> EvaluationView:
    peers = {a["person_id"]: a["status"] for a in assignments
             if a["role"] == Role.PEER.value and a["status"] != "withdrawn"}
    acting = tuple(
        Delegation(a["person_id"], a["valid_from"], a["valid_until"])
        for a in assignments
        if a["role"] == Role.ACTING_SUPERVISOR.value and a["status"] != "withdrawn"
    )
    escalation = frozenset(a["person_id"] for a in assignments
                           if a["role"] == Role.ESCALATION_SUPERVISOR.value
                           and a["status"] != "withdrawn")
    return EvaluationView(
        id=row["id"], reviewee_id=row["reviewee_id"], supervisor_id=row["supervisor_id"],
        calibrator_id=calibrator_id, appeal_reviewer_id=row["appeal_reviewer_id"],
        scored_by=row["scored_by"], peers=peers, acting_supervisors=acting,
        escalation_supervisors=escalation, admins=admins,
    )


def load_snapshots(svc: Service, session: Session, ids: Sequence[int], *,
                   lock: bool = True, skip_locked: bool = False) -> dict[int, Snapshot]:
    """Snapshots of the evaluations ``ids`` (those that exist), locked when ``lock``.

    With ``skip_locked`` (the sweep), evaluations another worker holds are left out.
    """
    out: dict[int, Snapshot] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 900):
        chunk = ordered[start:start + 900]
        stmt = select(EVALUATION).where(EVALUATION.c.id.in_(chunk)).order_by(EVALUATION.c.id)
        if lock:
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        rows = [dict(r._mapping) for r in session.execute(stmt)]
        found = [r["id"] for r in rows]
        assignments: dict[int, list[dict[str, Any]]] = {i: [] for i in found}
        if found:
            for a in session.execute(
                select(ASSIGNMENT).where(ASSIGNMENT.c.evaluation_id.in_(found))
                .order_by(ASSIGNMENT.c.id)
            ):
                assignments[a.evaluation_id].append(dict(a._mapping))
        calibrators: dict[str, str | None] = {}
        for row in rows:
            rules = svc.rules.get(session, row["cycle_id"])
            if row["cycle_id"] not in calibrators:
                cycle = session.get(Cycle, row["cycle_id"])
                calibrators[row["cycle_id"]] = cycle.calibrator_id if cycle else None
            calibrator = calibrators[row["cycle_id"]]
            out[row["id"]] = Snapshot(row, rules, _view(row, assignments[row["id"]], rules,
                                                        svc.admins(rules), calibrator),
                                      assignments[row["id"]])
    return out


def load_snapshot(svc: Service, session: Session, evaluation_id: int, *,
                  lock: bool = True) -> Snapshot:
    snaps = load_snapshots(svc, session, [evaluation_id], lock=lock)
    if evaluation_id not in snaps:
        raise EvaluationNotFound(evaluation_id)
    return snaps[evaluation_id]
