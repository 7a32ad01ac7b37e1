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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, text
from sqlmodel import Session

from workflow.catalog import N_
from workflow.errors import NotPermitted, PersonNotFound
from workflow.service.core import Service
from workflow.store.tables import AUDIT, CYCLE, EVALUATION, OUTBOX, PERSON, UNIT

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
    # The cycles whose every evaluation is in the units they reach: an agency's own
    # cycles, whose reports and lists show nobody of another agency.
    contained: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return bool(self.cycles) or self.everything or bool(self.units)

    def may_see_cycle(self, cycle_id: str) -> bool:
        return any(c == cycle_id for c, _ in self.cycles)

    def sees_whole_cycle(self, cycle_id: str) -> bool:
        """Whether nothing of the cycle is hidden from them (its report covers it all)."""
        return self.everything or cycle_id in self.whole_cycles

    def may_export_cycle(self, cycle_id: str) -> bool:
        """Whether they download the cycle's report and lists: those cover the whole
        cycle (kept once per cycle state, ``report_cache``, the same file for everyone who
        downloads it), so only someone who sees all of it does, an agency admin included
        when the cycle is their agency's alone."""
        return self.sees_whole_cycle(cycle_id) or cycle_id in self.contained

    @property
    def mail_units(self) -> frozenset[str] | None:
        """The units whose evaluations' emails they see (None: every email, the digests
        and sign-in links included): an agency admin's units, or the units of an admin
        of cycles only's cycles, never another agency's mail."""
        if self.everything:
            return None
        return self.units if self.by_units else self.cycle_units

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
                      tuple[frozenset[str], frozenset[str], frozenset[str]]] = OrderedDict()
_REACHES_GUARD = threading.Lock()
_REACHES_KEPT = 256


def _reach_and_cycles(svc: Service, session: Session, granted: list[str]
                      ) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(the units reached, the cycles with an evaluation in them, the cycles with all
    their evaluations in them)."""
    org = session.execute(select(func.max(AUDIT.c.seq))
                          .where(AUDIT.c.trigger == "org_import")).scalar()
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
    pairs = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
                            .group_by(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)).all()
    cycles = frozenset(r.cycle_id for r in pairs if r.unit_id in units)
    outside = {r.cycle_id for r in pairs if r.unit_id not in units}
    made = (units, cycles, cycles - outside)
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
        contained: frozenset[str] = frozenset()
        if granted_units and not everything:
            units, by_cycle, contained = _reach_and_cycles(svc, session, granted_units)
        cycle_units: frozenset[str] = frozenset()
        if whole and not everything and not granted_units:
            cycle_units = frozenset(session.execute(
                select(EVALUATION.c.unit_id).where(EVALUATION.c.cycle_id.in_(sorted(whole)))
                .distinct()).scalars())
    seen = tuple((c.id, c.name) for c in cycles
                 if everything or c.id in whole or c.id in by_cycle)
    return AdminScope(admin_id=admin_id, everything=everything, whole_cycles=frozenset(whole),
                      units=units, cycles=seen, cycle_units=cycle_units,
                      contained=contained)


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


class NoAdminRights(NotPermitted):
    """Someone signed in who administers nothing now (never did, or their grant was
    taken out of the settings since their last request: the session carries no rights)."""

    user_message = N_("You administer no agency and no evaluation cycle now, so the admin "
                      "pages are not shown and nothing was changed. An administrator of the "
                      "whole province grants these rights in the settings.")

    def __init__(self, person_id: str) -> None:
        super().__init__(0, person_id, "admin", "they administer nothing: no entry in the "
                         "settings' admins or [admin_scope], no cycle file names them")


class ProvinceRightNeeded(NotPermitted):
    """Importing the organisation touches every agency (a person added to any unit, or
    moved from one agency to another): only an admin of everything does it."""

    user_message = N_("Importing the organisation file can add people to any agency and move "
                      "them from one agency to another, so only an administrator of the whole "
                      "province does it (the settings' admins). Nothing was read or changed.")

    def __init__(self, admin_id: str, action: str) -> None:
        super().__init__(0, admin_id, action, "importing the organisation touches every "
                         "agency: it needs an admin of the whole deployment (settings' admins)")


class OutsideTheirScope(NotPermitted):
    """Something of a unit the admin does not reach: the refusal names the unit and its
    agency (never the people in it), and says who may do it."""

    def __init__(self, admin_id: str, action: str, what: str, unit: str, agency: str,
                 evaluation_id: int = 0) -> None:
        self.what = what
        self.unit = unit
        self.agency = agency
        super().__init__(evaluation_id, admin_id, action,
                         f"{what} belongs to {unit} of the agency {agency}, outside the "
                         "agencies and cycles they administer; an admin of that agency or of "
                         "the whole province may do it")

    def user_params(self) -> dict[str, object]:
        return {"what": self.what, "unit": self.unit, "agency": self.agency}


class EvaluationOutsideScope(OutsideTheirScope):
    user_message = N_("Evaluation %(what)s belongs to %(unit)s of the agency %(agency)s, which "
                      "you do not administer: nothing was shown or changed. An administrator "
                      "of that agency, or of the whole province, can do it.")


class PersonOutsideScope(OutsideTheirScope):
    user_message = N_("%(what)s works in %(unit)s of the agency %(agency)s, which you do not "
                      "administer: nothing was shown or changed. An administrator of that "
                      "agency, or of the whole province, can do it.")


class UnitOutsideScope(OutsideTheirScope):
    user_message = N_("The unit %(unit)s belongs to the agency %(agency)s, which you do not "
                      "administer: nothing was listed or changed.")


class EmailOutsideScope(OutsideTheirScope):
    user_message = N_("Email %(what)s is about an evaluation of %(unit)s of the agency "
                      "%(agency)s, which you do not administer: it was not sent again.")


class EmailOfNoEvaluation(NotPermitted):
    """A digest or a sign-in email names people of many units: only an admin of
    everything sends it again."""

    user_message = N_("Email %(email)s is not about one evaluation (a daily digest or a "
                      "sign-in link): only an administrator of the whole province sends it "
                      "again. Nothing was sent.")

    def __init__(self, admin_id: str, outbox_id: int) -> None:
        self.outbox_id = outbox_id
        super().__init__(0, admin_id, "resend", f"email {outbox_id} is about no one evaluation; "
                         "only an admin of the whole deployment sends it again")

    def user_params(self) -> dict[str, object]:
        return {"email": self.outbox_id}


class CycleOutsideScope(NotPermitted):
    user_message = N_("You do not administer the evaluation cycle %(cycle)s: nothing was "
                      "changed.")

    def __init__(self, admin_id: str, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        super().__init__(0, admin_id, "admin", f"cycle {cycle_id} is not theirs")

    def user_params(self) -> dict[str, object]:
        return {"cycle": self.cycle_id}


class CycleFilesOutsideScope(NotPermitted):
    """The report and lists of a cycle that takes in another agency: they cover the whole
    cycle, so they are not cut to the admin's part (and the kept file is the cycle's)."""

    user_message = N_("The report and lists of the cycle %(cycle)s cover %(units)s of the agency "
                      "%(agency)s, which you do not administer, so they are not shown. Your "
                      "agency's evaluations are each on their own page and in each person's "
                      "record; an administrator of the whole province downloads the cycle's "
                      "files.")

    def __init__(self, admin_id: str, cycle_id: str, units: tuple[str, ...],
                 agency: str) -> None:
        self.cycle_id = cycle_id
        self.units = units
        self.agency = agency
        super().__init__(0, admin_id, "export", f"cycle {cycle_id} takes in {', '.join(units)} "
                         f"of the agency {agency}, outside their agencies")

    def user_params(self) -> dict[str, object]:
        return {"cycle": self.cycle_id, "units": ", ".join(self.units), "agency": self.agency}


def agency_named(unit_id: str, people: Sequence[Any], names: Mapping[str, str]) -> str:
    """The agency a unit belongs to, named by its head's unit: the top of the supervisor
    tree above the unit's first person (the organisation file has no tree of units).
    ``people``: (id, unit_id, supervisor_id) rows; ``names``: unit id -> name."""
    by_id = {p.id: p for p in people}
    person = next((p for p in people if p.unit_id == unit_id), None)
    if person is None:
        return f"{names.get(unit_id, unit_id)} ({unit_id})"
    seen = {person.id}
    while person.supervisor_id in by_id and person.supervisor_id not in seen:
        person = by_id[person.supervisor_id]
        seen.add(person.id)
    return f"{names.get(person.unit_id, person.unit_id)} ({person.unit_id})"


def _unit_and_agency(session: Session, unit_ids: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """("ID (name)" of those of ``unit_ids`` in the agency of the first, that agency):
    read only for a refusal, so the whole organisation is read."""
    people = session.execute(select(PERSON.c.id, PERSON.c.unit_id, PERSON.c.supervisor_id)).all()
    names: dict[str, str] = dict(session.execute(select(UNIT.c.id, UNIT.c.name)).all())
    agency = agency_named(unit_ids[0], people, names)
    same = [u for u in unit_ids if agency_named(u, people, names) == agency]
    return tuple(f"{u} ({names.get(u, u)})" for u in same), agency


def agencies_of_cycle(session: Session, cycle_id: str) -> tuple[str, ...]:
    """The agencies whose units have evaluations in ``cycle_id``, each named as
    ``agency_named`` does, sorted: read only for a refusal."""
    units = list(session.execute(select(EVALUATION.c.unit_id).where(
        EVALUATION.c.cycle_id == cycle_id).distinct()).scalars())
    if not units:
        return ()
    people = session.execute(select(PERSON.c.id, PERSON.c.unit_id, PERSON.c.supervisor_id)).all()
    names: dict[str, str] = dict(session.execute(select(UNIT.c.id, UNIT.c.name)).all())
    return tuple(sorted({agency_named(u, people, names) for u in units}))


def require_admin(svc: Service, admin_id: str) -> AdminScope:
    """Their scope, or NoAdminRights when they administer nothing."""
    scope = scope_for(svc, admin_id)
    if not scope.cycles and not scope.everything and not scope.units:
        raise NoAdminRights(admin_id)
    return scope


def require_cycle(scope: AdminScope, cycle_id: str) -> None:
    if not scope.may_see_cycle(cycle_id):
        raise CycleOutsideScope(scope.admin_id, cycle_id)


def require_cycle_files(svc: Service, scope: AdminScope, cycle_id: str) -> None:
    """CycleFilesOutsideScope unless ``scope`` may download the report and lists of
    ``cycle_id`` (a cycle they do not see at all is the caller's to refuse)."""
    if scope.may_export_cycle(cycle_id) or not scope.may_see_cycle(cycle_id):
        return
    with svc.store.read() as session:
        units = sorted(u for u in session.execute(
            select(EVALUATION.c.unit_id).where(EVALUATION.c.cycle_id == cycle_id).distinct())
            .scalars() if not scope.may_see_unit(u))
        named, agency = _unit_and_agency(session, units)
    raise CycleFilesOutsideScope(scope.admin_id, cycle_id, named, agency)


def require_evaluation(svc: Service, scope: AdminScope, evaluation_id: int) -> None:
    """EvaluationOutsideScope unless the evaluation is in reach (an unknown one passes:
    the page that loads it says it does not exist)."""
    require_evaluations(svc, scope, [evaluation_id])


def require_evaluations(svc: Service, scope: AdminScope, evaluation_ids: Iterable[int],
                        action: str = "admin") -> None:
    """``require_evaluation`` for each of ``evaluation_ids`` (a bulk run's: a crafted list
    naming another agency's evaluations is refused whole, before anything is done)."""
    if scope.everything:
        return
    wanted = sorted(set(evaluation_ids))
    if not wanted:
        return
    with svc.store.read() as session:
        rows = session.execute(select(EVALUATION.c.id, EVALUATION.c.cycle_id,
                                      EVALUATION.c.unit_id)
                               .where(EVALUATION.c.id.in_(wanted))).all()
        out = [r for r in rows if not scope.may_see_evaluation(r.cycle_id, r.unit_id)]
        if not out:
            return
        [unit], agency = _unit_and_agency(session, [out[0].unit_id])
    raise EvaluationOutsideScope(scope.admin_id, action, str(out[0].id), unit, agency,
                                 evaluation_id=out[0].id)


def require_unit(svc: Service, scope: AdminScope, cycle_id: str, unit_id: str) -> None:
    """UnitOutsideScope when ``unit_id`` is a unit of ``cycle_id`` they do not see (a bulk
    action asked for one unit: refused rather than answered "nothing to do")."""
    units = scope.units_of(cycle_id)
    if not unit_id or units is None or unit_id in units:
        return
    with svc.store.read() as session:
        known = session.execute(select(UNIT.c.id).where(UNIT.c.id == unit_id)).first()
        if known is None:
            return  # names no unit: the plan finds nothing to do and says so
        [unit], agency = _unit_and_agency(session, [unit_id])
    raise UnitOutsideScope(scope.admin_id, "bulk", unit_id, unit, agency)


def require_people(svc: Service, scope: AdminScope, person_ids: Iterable[str]) -> None:
    """PersonNotFound for an id that names nobody, PersonOutsideScope for one out of
    reach (checked before any action that names people: a reassignment, a delegation)."""
    wanted = [p for p in dict.fromkeys(person_ids) if p]
    with svc.store.read() as session:
        units: Mapping[str, str] = dict(session.execute(
            select(PERSON.c.id, PERSON.c.unit_id).where(PERSON.c.id.in_(wanted))).all())
        for pid in wanted:
            if pid not in units:
                raise PersonNotFound(pid)
            if not scope.may_see_unit(units[pid]):
                [unit], agency = _unit_and_agency(session, [units[pid]])
                raise PersonOutsideScope(scope.admin_id, "admin", pid, unit, agency)


def require_outbox(svc: Service, scope: AdminScope, outbox_id: int) -> None:
    """EmailOutsideScope when the email belongs to an evaluation out of reach,
    EmailOfNoEvaluation when to none while the admin does not see everything (a digest
    names people of many units)."""
    if scope.everything:
        return
    with svc.store.read() as session:
        row = session.execute(
            select(OUTBOX.c.evaluation_id, EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
            .select_from(OUTBOX.outerjoin(EVALUATION, EVALUATION.c.id == OUTBOX.c.evaluation_id))
            .where(OUTBOX.c.id == outbox_id)).first()
        if row is None:
            return  # no such email: the resend says so
        if row.cycle_id is None:
            raise EmailOfNoEvaluation(scope.admin_id, outbox_id)
        if scope.may_see_evaluation(row.cycle_id, row.unit_id):
            return
        [unit], agency = _unit_and_agency(session, [row.unit_id])
    raise EmailOutsideScope(scope.admin_id, "resend", str(outbox_id), unit, agency)


def evaluations_in_reach(scope: AdminScope) -> ColumnElement[bool] | None:
    """The condition on EVALUATION rows of what ``scope`` sees, for a query (None:
    everything): their cycles, whole or within their units."""
    if scope.everything:
        return None
    seen = EVALUATION.c.cycle_id.in_(sorted(c for c, _ in scope.cycles))
    whole = EVALUATION.c.cycle_id.in_(sorted(scope.whole_cycles))
    if not scope.units:
        return and_(seen, whole)
    return and_(seen, or_(whole, EVALUATION.c.unit_id.in_(sorted(scope.units))))
