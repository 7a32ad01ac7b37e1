"""Who may see what in the admin pages: the one place an admin's reach is decided.

A province runs all its agencies in one database. An admin is
- of everything: listed in the settings' ``admins`` (or granted ``"*"``);
- of a cycle: named in the cycle file's ``admins`` (or granted ``"cycle:ID"``): every
  evaluation of that cycle;
- of part of the organisation: granted ``"unit:ID"`` in the settings' ``[admin_scope]``:
  the people of that unit and everyone below them in the supervisor tree, with their
  units. The unit of an agency's head is the whole agency (the organisation file has
  no tree of units; the supervisor tree is the agency).

An evaluation is seen when its cycle is granted whole, or its unit (as the cycle opened
it) is in reach; a person when their unit is in reach (an admin of cycles only, with no
unit grant, names anyone in their actions, as before scopes existed). Every admin page asks
``scope_for`` once per request and filters through it; ``require_*`` refuse with
NotPermitted naming what is out of reach, so a crafted POST fails like a link would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, text
from sqlmodel import Session

from workflow.catalog import N_
from workflow.errors import NotPermitted, PersonNotFound
from workflow.service.core import Service
from workflow.store.tables import AUDIT, CYCLE, EVALUATION, OUTBOX, PERSON

EVERYTHING = "*"


@dataclass(frozen=True)
class AdminScope:
    """What one admin may see; ``everything`` short-cuts every test."""

    admin_id: str
    everything: bool
    whole_cycles: frozenset[str]  # cycles granted whole (cycle file, "cycle:ID")
    units: frozenset[str]  # units in reach through "unit:ID" grants
    cycles: tuple[tuple[str, str], ...]  # (id, name) of the cycles they see, oldest first
    # The units of the evaluations of their whole cycles: the people an admin of cycles
    # only (no agency grant) reaches; they reach nobody outside their cycles.
    cycle_units: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return bool(self.cycles) or self.everything or bool(self.units)

    def may_see_cycle(self, cycle_id: str) -> bool:
        return any(c == cycle_id for c, _ in self.cycles)

    def sees_whole_cycle(self, cycle_id: str) -> bool:
        """Whether nothing of the cycle is hidden from them (its report covers it all)."""
        return self.everything or cycle_id in self.whole_cycles

    @property
    def by_units(self) -> bool:
        """Whether their reach over people is limited to granted units (an admin of
        cycles only reaches the people of their cycles: ``cycle_units``)."""
        return not self.everything and bool(self.units)

    @property
    def may_configure(self) -> bool:
        """Whether they may create, open or change cycles and series: an agency right
        (or the whole deployment) is needed; an admin of cycles only follows their own."""
        return self.everything or bool(self.units)

    def may_see_unit(self, unit_id: str) -> bool:
        if self.everything:
            return True
        return unit_id in (self.units if self.by_units else self.cycle_units)

    def may_see_evaluation(self, cycle_id: str, unit_id: str) -> bool:
        return self.may_see_cycle(cycle_id) and (
            self.sees_whole_cycle(cycle_id) or unit_id in self.units)

    def filter_cycles(self, cycle_ids: Iterable[str]) -> list[str]:
        return [c for c in cycle_ids if self.may_see_cycle(c)]

    def units_of(self, cycle_id: str) -> frozenset[str] | None:
        """The units of ``cycle_id`` they see, for a query's filter; None: all of them."""
        return None if self.sees_whole_cycle(cycle_id) else self.units


def _grants(svc: Service, admin_id: str) -> tuple[str, ...]:
    if admin_id in svc.settings.admins:
        return (EVERYTHING,)
    return next((g for pid, g in svc.settings.admin_scope if pid == admin_id), ())


def reach(units: Iterable[str], people: Iterable[tuple[str, str, str | None]]
          ) -> frozenset[str]:
    """The granted units and the units of everyone below their people, transitively.

    ``people``: (id, unit id, supervisor id) of the whole organisation. The rule, pure;
    ``scope_for`` reads it from the store as one recursive query (``reach_in_store``)."""
    by_unit: dict[str, list[str]] = {}
    below: dict[str, list[tuple[str, str]]] = {}
    for pid, unit_id, supervisor_id in people:
        by_unit.setdefault(unit_id, []).append(pid)
        if supervisor_id:
            below.setdefault(supervisor_id, []).append((pid, unit_id))
    seen_units = set(units)
    todo = [pid for u in seen_units for pid in by_unit.get(u, [])]
    seen_people = set(todo)
    while todo:
        pid = todo.pop()
        for sub, unit_id in below.get(pid, []):
            # A subordinate in another unit brings that whole unit (a deputy heading it).
            new = [sub] if unit_id in seen_units else by_unit.get(unit_id, [sub])
            seen_units.add(unit_id)
            for p in new:
                if p not in seen_people:
                    seen_people.add(p)
                    todo.append(p)
    return frozenset(seen_units)


# ``reach`` as one recursive query: the granted units, then the unit of everyone whose
# supervisor is in a unit reached (the people of a unit reached are all in reach, so a
# unit is the step). It reads the subtree through the indexes on person.unit_id and
# person.supervisor_id, not the whole organisation (``reach`` is the same rule, pure).
_REACH = text("""
WITH RECURSIVE reached(unit_id) AS (
    SELECT DISTINCT unit_id FROM person WHERE unit_id IN :granted
    UNION
    SELECT sub.unit_id FROM reached
    JOIN person AS boss ON boss.unit_id = reached.unit_id
    JOIN person AS sub ON sub.supervisor_id = boss.id
)
SELECT unit_id FROM reached
""").bindparams(bindparam("granted", expanding=True))


def reach_in_store(session: Session, units: Iterable[str]) -> frozenset[str]:
    """``reach`` of the organisation in the store, read as a recursive query."""
    granted = sorted(set(units))
    if not granted:
        return frozenset()
    found = {str(u) for u in session.execute(_REACH, {"granted": granted}).scalars()}
    return frozenset(found | set(granted))


# The reach of a set of grants and the cycles it touches, per state of what they are
# read from: the organisation (its last import: every change of a person or unit is
# one) and the evaluations (the last one made: a unit of an evaluation never changes).
# Every admin request asks for its scope; the organisation changes a few times a year.
_REACHES: OrderedDict[tuple[str, tuple[str, ...], object, object],
                      tuple[frozenset[str], frozenset[str]]] = OrderedDict()
_REACHES_GUARD = threading.Lock()
_REACHES_KEPT = 256


def _reach_and_cycles(svc: Service, session: Session, granted: list[str]
                      ) -> tuple[frozenset[str], frozenset[str]]:
    org = session.execute(select(func.max(AUDIT.c.seq))
                          .where(text("auditevent.trigger = 'org_import'"))).scalar()
    last = session.execute(select(func.max(EVALUATION.c.id))).scalar()
    key = (svc.store.url, tuple(sorted(granted)), org, last)
    with _REACHES_GUARD:
        found = _REACHES.get(key)
        if found is not None:
            _REACHES.move_to_end(key)
            return found
    units = reach_in_store(session, granted)
    # The cycles with an evaluation in reach (grouped in SQL, one row per pair): a pass
    # over the evaluations, once per state of the organisation and the evaluations.
    cycles = frozenset(r.cycle_id for r in session.execute(
        select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
        .group_by(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)) if r.unit_id in units)
    made = (units, cycles)
    with _REACHES_GUARD:
        _REACHES[key] = made
        while len(_REACHES) > _REACHES_KEPT:
            _REACHES.popitem(last=False)
    return made


def scope_for(svc: Service, admin_id: str) -> AdminScope:
    """What ``admin_id`` may see now (one read; ask once per request)."""
    grants = _grants(svc, admin_id)
    everything = EVERYTHING in grants
    with svc.store.read() as session:
        cycles = session.execute(select(CYCLE.c.id, CYCLE.c.name)
                                 .order_by(CYCLE.c.opened_at)).all()
        whole = {g.removeprefix("cycle:") for g in grants if g.startswith("cycle:")}
        whole |= {c.id for c in cycles if admin_id in svc.admins(svc.rules.get(session, c.id))}
        granted_units = [g.removeprefix("unit:") for g in grants if g.startswith("unit:")]
        units: frozenset[str] = frozenset()
        by_cycle: frozenset[str] = frozenset()
        if granted_units and not everything:
            units, by_cycle = _reach_and_cycles(svc, session, granted_units)
        cycle_units: frozenset[str] = frozenset()
        if whole and not everything and not granted_units:
            cycle_units = frozenset(session.execute(
                select(EVALUATION.c.unit_id).where(EVALUATION.c.cycle_id.in_(sorted(whole)))
                .distinct()).scalars())
    seen = tuple((c.id, c.name) for c in cycles
                 if everything or c.id in whole or c.id in by_cycle)
    return AdminScope(admin_id=admin_id, everything=everything, whole_cycles=frozenset(whole),
                      units=units, cycles=seen, cycle_units=cycle_units)


class CycleRightsOnly(NotPermitted):
    """An admin of cycles only (named in a cycle file, or granted "cycle:ID", with no
    agency grant) asked to create, open or change cycles or series, or to import the
    organisation: that needs a right over an agency."""

    user_message = N_("You administer only the cycles %(cycles)s: you may follow them, extend "
                      "deadlines, reassign, export and read their evaluation files, but not "
                      "create, open or change cycles or series. That needs the right to "
                      "administer an agency, which an administrator of the whole province "
                      "grants in the settings (admin_scope).")

    def __init__(self, scope: AdminScope, action: str) -> None:
        self.cycle_names = tuple(name for _, name in scope.cycles)
        super().__init__(0, scope.admin_id, action,
                         "they administer only cycles "
                         f"({', '.join(c for c, _ in scope.cycles) or 'none'}), no agency: "
                         "an admin of the whole deployment grants 'unit:ID' in [admin_scope]")

    def user_params(self) -> dict[str, object]:
        return {"cycles": ", ".join(self.cycle_names)}


def require_configurer(scope: AdminScope) -> None:
    """CycleRightsOnly unless ``scope`` may create, open or change cycles and series."""
    if scope.is_admin and not scope.may_configure:
        raise CycleRightsOnly(scope, "configure cycles")


def require_admin(svc: Service, admin_id: str) -> AdminScope:
    """Their scope, or NotPermitted when they administer nothing."""
    scope = scope_for(svc, admin_id)
    if not scope.cycles and not scope.everything and not scope.units:
        raise NotPermitted(0, admin_id, "admin", "only admins see the admin pages")
    return scope


def require_cycle(scope: AdminScope, cycle_id: str) -> None:
    if not scope.may_see_cycle(cycle_id):
        raise NotPermitted(0, scope.admin_id, "admin", f"cycle {cycle_id} is not theirs")


def require_evaluation(svc: Service, scope: AdminScope, evaluation_id: int) -> None:
    """NotPermitted unless the evaluation is in reach (an unknown one passes: the page
    that loads it says it does not exist)."""
    with svc.store.read() as session:
        row = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
                              .where(EVALUATION.c.id == evaluation_id)).first()
    if row is not None and not scope.may_see_evaluation(row.cycle_id, row.unit_id):
        raise NotPermitted(evaluation_id, scope.admin_id, "admin",
                           "the evaluation is outside the agencies they administer")


def require_people(svc: Service, scope: AdminScope, person_ids: Iterable[str]) -> None:
    """PersonNotFound for an id that names nobody, NotPermitted for one out of reach
    (checked before any action that names people: a reassignment, a delegation)."""
    wanted = [p for p in dict.fromkeys(person_ids) if p]
    with svc.store.read() as session:
        units: Mapping[str, str] = dict(session.execute(
            select(PERSON.c.id, PERSON.c.unit_id).where(PERSON.c.id.in_(wanted))).all())
    for pid in wanted:
        if pid not in units:
            raise PersonNotFound(pid)
        if not scope.may_see_unit(units[pid]):
            raise NotPermitted(0, scope.admin_id, "admin",
                               f"{pid} is outside the agencies they administer")


def require_outbox(svc: Service, scope: AdminScope, outbox_id: int) -> None:
    """NotPermitted when the email belongs to an evaluation out of reach, or to none
    while the admin does not see everything (a digest names people of many units)."""
    if scope.everything:
        return
    with svc.store.read() as session:
        row = session.execute(
            select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
            .select_from(OUTBOX.outerjoin(EVALUATION, EVALUATION.c.id == OUTBOX.c.evaluation_id))
            .where(OUTBOX.c.id == outbox_id)).first()
    if row is not None and (row.cycle_id is None
                            or not scope.may_see_evaluation(row.cycle_id, row.unit_id)):
        raise NotPermitted(0, scope.admin_id, "resend",
                           f"email {outbox_id} is outside the agencies they administer")
