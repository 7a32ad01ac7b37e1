"""Publishing a unit's results in the unit, and the page and file its members read.

The law has results notified to the person, published within the unit and kept in
the personnel file (Law on Public Employees 2025 Art 26; Decree 90 Arts 20-22). A
unit's results are published, automatically and once, at the first instant when
every evaluation of the unit in the cycle has its result: none is left in
self-assessment, peer input, supervisor scoring or calibration, and at least one is
in the appeal window, appeal review or finalised (cancelled ones are not published).
With calibration on, that is the pool's approval; with it off, the scoring of the
unit's last evaluation, or the cancellation of its last unscored one.

The publication is recorded (a ``publication`` row: cycle, unit, instant, how many
results) with an audit row, in the transaction of the change that completes the
unit (``transition.write`` calls ``publish_ready``). Where the regime runs the
petition window from publication (``petition.starts: publication``), the window of
each of the unit's evaluations waiting in the appeal window gets its deadline, its
reminders and its links' expiry then, and each reviewee is told by email
(``results_published``); an evaluation entering the appeal window later (reopened,
re-scored) gets its window from its own entry.

Members open the publication from the link in their result email (a personal link,
action ``publication``, the reviewee's): the page lists their own unit's results,
name, position and class, and the score when the regime says so
(``publication.show_score``), as a page and as a CSV file. The link names the unit
through its evaluation, so nobody can open another unit's list with it.

A year-end class resting on fewer months than the regime's minimum reads as the
cycle report and the result page say it (``year_end_standing``): the class with
"classified on 1 month(s) worked, ...", or, for someone the regime does not classify
(their evaluation cancelled for it), "not classified this year (1 of the 3 months
needed)". The file writes the score as the page does in its language (89,99 / 89.99).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlmodel import Session

from workflow import catalog
from workflow.catalog import N_
from workflow.domain import Role, State
from workflow.errors import CycleNotFound, WorkflowError
from workflow.petition import window_from_publication
from workflow.reports.csv_files import safe_text, score_text
from workflow.scoring import shown_total
from workflow.service import year_end_standing
from workflow.service.core import Service, load_people, taken_unit_states
from workflow.service.notices import LINK_GRACE, PUBLICATION_ACTION, Mail, make_mail
from workflow.service.rules import CycleRules
from workflow.service.year_end_standing import MonthsShort
from workflow.store import audit, bulk
from workflow.store.tables import (
    DEADLINE,
    EVALUATION,
    PERSON,
    PUBLICATION,
    TOKEN,
    UNIT,
)

BEFORE_RESULT = frozenset({State.SELF_ASSESSMENT, State.PEER_INPUT, State.SUPERVISOR_SCORING,
                           State.CALIBRATION})
WITH_RESULT = frozenset({State.APPEAL_WINDOW, State.APPEAL_REVIEW, State.FINALISED})
# The changes that may complete a unit: a result given, an unscored one cancelled.
COMPLETING = frozenset({State.APPEAL_WINDOW, State.CANCELLED})
PUBLISH_TRIGGER = "publish_results"
PUBLISHED_EVENT = "results_published"
SYSTEM = "system"


class UnitNotPublished(WorkflowError):
    """A unit's results are asked for as a file before they are published."""

    user_message = N_("The results of this unit are not published yet: they are published "
                      "when every evaluation of the unit has its result.")

    def __init__(self, cycle_id: str, unit_id: str, waiting: int) -> None:
        self.cycle_id, self.unit_id, self.waiting = cycle_id, unit_id, waiting
        super().__init__(f"cycle {cycle_id}: unit {unit_id} is not published yet: {waiting} "
                         "of its evaluations have no result (they are published when none "
                         "is left before the appeal window)")


class UnitNotInCycle(WorkflowError):
    def __init__(self, cycle_id: str, unit_id: str, known: Sequence[str]) -> None:
        super().__init__(f"cycle {cycle_id} has no evaluation in unit {unit_id!r}; its units "
                         f"are {', '.join(known) or 'none'}")


# --- publishing ---------------------------------------------------------------------


@dataclass
class Published:
    """What publishing did in one transaction: the emails and the audit rows."""

    mail: Mail
    audit: list[audit.AuditEntry]


def _counts(session: Session, cycle_id: str, units: Iterable[str]
            ) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(EVALUATION.c.unit_id, EVALUATION.c.state, func.count())
        .where(EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.unit_id.in_(sorted(units)))
        .group_by(EVALUATION.c.unit_id, EVALUATION.c.state))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for unit_id, state, n in rows:
        out[unit_id][state] = int(n)
    return out


def _published(session: Session, cycle_id: str, units: Iterable[str]) -> dict[str, datetime]:
    rows = session.execute(select(PUBLICATION.c.unit_id, PUBLICATION.c.published_at)
                           .where(PUBLICATION.c.cycle_id == cycle_id,
                                  PUBLICATION.c.unit_id.in_(sorted(units))))
    return {r.unit_id: r.published_at for r in rows}


# The units the changed evaluations belong to, each unit's evaluations counted by
# state, and the unit's publication if it has one: one statement on the driver's
# cursor (it was three SQLAlchemy queries, each built and compiled per score; issue 16).
_UNIT_STATES = (
    "SELECT e.cycle_id, e.unit_id, e.state, count(*), p.published_at "
    "FROM (SELECT DISTINCT cycle_id, unit_id FROM evaluation WHERE id {in_ids}) u "
    "JOIN evaluation e ON e.cycle_id = u.cycle_id AND e.unit_id = u.unit_id "
    "LEFT JOIN publication p ON p.cycle_id = u.cycle_id AND p.unit_id = u.unit_id "
    "GROUP BY e.cycle_id, e.unit_id, e.state, p.published_at")
_UNIT_STATES_SQL = {d: _UNIT_STATES.format(in_ids=bulk.in_ids(d)) for d in ("sqlite", "postgresql")}


@dataclass
class _Unit:
    """A unit of a changed evaluation: its evaluations by state, its publication."""

    states: dict[str, int]
    published_at: datetime | None


def _units(session: Session, ids: Sequence[int]) -> dict[str, dict[str, _Unit]]:
    """The units of the evaluations ``ids`` by cycle (read under the cycles' locks)."""
    dialect = bulk.dialect(session)
    [published_at] = bulk.result_processors(dialect, [PUBLICATION.c.published_at])
    out: dict[str, dict[str, _Unit]] = defaultdict(dict)
    for cycle_id, unit_id, state, n, at in bulk.query(
            session, _UNIT_STATES_SQL[dialect.name], [bulk.id_list(dialect.name, ids)]):
        unit = out[cycle_id].get(unit_id)
        if unit is None:
            unit = out[cycle_id][unit_id] = _Unit({}, None if at is None else
                                                  published_at(at) if published_at else at)
        unit.states[state] = int(n)
    return out


def _units_now(session: Session, changed: Sequence[tuple[int, str, State]],
               ids: Sequence[int]) -> dict[str, dict[str, _Unit]]:
    """The units of ``ids`` as they are now, the changes written: one step on SQLite
    takes them from what its snapshot read under the write lock (core.UNIT_STATES),
    its own evaluation moved from the state it was read in to its new one; else read."""
    if len(changed) == 1 and len(ids) == 1 and bulk.dialect_name(session) == "sqlite":
        read = taken_unit_states(session, ids[0])
        if read is not None:
            states = dict(read.states)
            states[read.state.value] -= 1
            new_state = changed[0][2].value
            states[new_state] = states.get(new_state, 0) + 1
            return {read.cycle_id: {read.unit_id: _Unit(
                {k: n for k, n in states.items() if n}, read.published_at)}}
    return _units(session, ids)


def publish_ready(svc: Service, session: Session, changed: Sequence[tuple[int, str, State]],
                  now: datetime, locked: Iterable[str] = ()) -> Published:
    """Publish each unit that ``changed`` (evaluation id, cycle, new state) completes;
    start the petition windows that wait for a publication. Called by
    ``transition.write`` in the change's own transaction, after the changes are
    written; ``locked``: the cycles whose row this transaction has locked already
    (transition.write's compare-and-set, pool.LOCK_CTE)."""
    out = Published(Mail([], []), [])
    ids = [ev_id for ev_id, _cycle, state in changed if state in COMPLETING]
    if not ids:
        return out
    # Two workers giving a unit's last two results at once would each count the
    # other's as missing, and neither would publish: the cycles' row locks make the
    # second count after the first commits (on SQLite the one writer already does).
    cycles = sorted({cycle_id for ev_id, cycle_id, state in changed if state in COMPLETING}
                    - set(locked))
    if bulk.dialect_name(session) == "postgresql" and cycles:
        bulk.query(session, "SELECT id FROM cycle WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                   [cycles])
    for cycle_id, units in sorted(_units_now(session, changed, ids).items()):
        rules = svc.rules.get(session, cycle_id)
        published: dict[str, datetime] = {
            unit_id: unit.published_at for unit_id, unit in units.items()
            if unit.published_at is not None}
        for unit_id, unit in sorted(units.items()):
            waiting = sum(n for s, n in unit.states.items() if State(s) in BEFORE_RESULT)
            results = sum(n for s, n in unit.states.items() if State(s) in WITH_RESULT)
            if unit_id in published or waiting or not results:
                continue
            session.execute(insert(PUBLICATION).values(
                cycle_id=cycle_id, unit_id=unit_id, published_at=now, evaluations=results))
            published[unit_id] = now
            out.audit.append(audit.AuditEntry(
                actor_id=SYSTEM, role=SYSTEM, at=now, trigger=PUBLISH_TRIGGER,
                cycle_id=cycle_id, reason=f"unit {unit_id}: {results} result"
                f"{'s' if results != 1 else ''} published",
                payload={"unit_id": unit_id, "evaluations": results,
                                            "published_at": now.isoformat()}))
        if rules.petition_from_publication and published:
            out.mail.extend(_start_windows(svc, session, rules, published, now))
    return out


def _start_windows(svc: Service, session: Session, rules: CycleRules,
                   units: Mapping[str, datetime], now: datetime) -> Mail:
    """The petition windows of the published units' evaluations that wait for one."""
    waiting = session.execute(
        select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.unit_id,
               EVALUATION.c.phase_entered_at)
        .where(EVALUATION.c.cycle_id == rules.cycle_id, EVALUATION.c.unit_id.in_(sorted(units)),
               EVALUATION.c.state == State.APPEAL_WINDOW.value, EVALUATION.c.due_at.is_(None))
    ).all()
    mail = Mail([], [])
    if not waiting:
        return mail
    people = load_people(session, [r.reviewee_id for r in waiting])
    timers: list[dict[str, Any]] = []
    for r in waiting:
        # The reviewee could answer since the result reached them; the window's
        # reminders count from the publication.
        window, rows = window_from_publication(rules, r.id, r.reviewee_id, now, people)
        timers += rows
        person = people.get(r.reviewee_id)
        if person is None or not person.active:
            continue
        mail.extend(make_mail(
            svc, event=PUBLISHED_EVENT, person=person,
            dedupe_key=f"ev:{r.id}:published:{now.isoformat()}",
            context={"cycle_id": rules.cycle_id, "cycle_name": rules.config.name,
                     "evaluation_id": r.id,
                     # The unit's publication date, even for one entering the window later.
                     "published_at": units[r.unit_id].isoformat(),
                     "due_at": window.due_at.isoformat(), "cycle_timezone": rules.tz_name,
                     "state": State.APPEAL_WINDOW.value},
            now=now, evaluation_id=r.id, link=("respond", Role.REVIEWEE),
            link_expires_at=window.due_at, cycle_tz=rules.tz_name, calendar=rules.calendar))
    ids = [r.id for r in waiting]
    session.execute(update(EVALUATION).where(EVALUATION.c.id.in_(ids))
                    .values(due_at=window.due_at))
    if timers:
        session.execute(insert(DEADLINE), timers)
    # The links of the result emails live as long as the window now does.
    session.execute(update(TOKEN).where(TOKEN.c.evaluation_id.in_(ids),
                                        TOKEN.c.action.in_(["respond", PUBLICATION_ACTION]),
                                        TOKEN.c.expires_at < window.due_at + LINK_GRACE)
                    .values(expires_at=window.due_at + LINK_GRACE))
    return mail


# --- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedResult:
    """One line of a unit's published results."""

    person_id: str
    full_name: str
    position: str
    class_id: str
    class_label: Mapping[str, str]  # {en, vi}; empty for someone not classified
    score: str | None  # as the regime shows it; None when the regime does not publish it
    # A year-end class below the regime's minimum months (or none, not classified).
    year_end: MonthsShort | None = None

    def class_in(self, locale: str) -> str:
        """The class as the page and the file say it in ``locale``, with the year-end
        note the cycle report gives (``year_end_standing.said``)."""
        label = self.class_label.get(locale) or self.class_label.get("en", "")
        if self.year_end is None:
            return label
        return year_end_standing.said(self.year_end, label, locale)


@dataclass(frozen=True)
class UnitPublication:
    """A unit's publication as its members read it."""

    cycle_id: str
    cycle_name: str
    unit_id: str
    unit_name: str
    timezone: str
    published_at: datetime | None  # None: not yet (``waiting`` still without a result)
    waiting: int
    show_score: bool
    results: tuple[PublishedResult, ...]
    # The petition rule in force for the unit (for the page's last paragraph).
    petition_from_publication: bool
    petition_due_at: datetime | None  # the reader's own window end, when they have one


def _results(svc: Service, session: Session, rules: CycleRules, unit_id: str
             ) -> tuple[PublishedResult, ...]:
    regime = rules.regime
    # Those the regime does not classify on their months (a year-end cycle only; {}
    # without a query otherwise): their evaluations are cancelled for it, and the
    # publication says so, as the cycle report does.
    unclassified = year_end_standing.not_classified(svc, session, rules.cycle_id)
    which: ColumnElement[bool] = EVALUATION.c.state.in_([s.value for s in WITH_RESULT])
    if unclassified:
        which = or_(which, and_(EVALUATION.c.state == State.CANCELLED.value,
                                EVALUATION.c.reviewee_id.in_(sorted(unclassified))))
    rows = session.execute(
        select(EVALUATION.c.reviewee_id, EVALUATION.c.final_class, EVALUATION.c.score_class,
               EVALUATION.c.score, EVALUATION.c.score_stamp, EVALUATION.c.state,
               PERSON.c.full_name, PERSON.c.position_id)
        .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
        .where(EVALUATION.c.cycle_id == rules.cycle_id, EVALUATION.c.unit_id == unit_id, which)
        .order_by(PERSON.c.full_name, EVALUATION.c.reviewee_id)).all()
    out = []
    for r in rows:
        if r.state == State.CANCELLED.value:
            out.append(PublishedResult(r.reviewee_id, r.full_name, r.position_id, "", {},
                                       None, unclassified[r.reviewee_id]))
            continue
        class_id = r.final_class or r.score_class
        if not class_id:
            continue
        label = regime.band(class_id).label
        score = None
        if regime.publication.show_score and r.score not in (None, ""):
            score = str(shown_total(Decimal(str(r.score)), regime))
        out.append(PublishedResult(r.reviewee_id, r.full_name, r.position_id, class_id,
                                   {"en": label.en, "vi": label.vi}, score,
                                   year_end_standing.from_stamp(r.score_stamp)))
    return tuple(out)


def unit_publication(svc: Service, cycle_id: str, unit_id: str,
                     evaluation_id: int | None = None) -> UnitPublication:
    """The publication of ``unit_id`` in ``cycle_id`` (its results only once published);
    ``evaluation_id``: the reader's own evaluation, for their petition deadline."""
    with svc.store.read() as session:
        rules = svc.rules.get(session, cycle_id)
        counts = _counts(session, cycle_id, [unit_id]).get(unit_id, {})
        if not counts:
            units = session.execute(select(EVALUATION.c.unit_id).where(
                EVALUATION.c.cycle_id == cycle_id).distinct().order_by(EVALUATION.c.unit_id))
            raise UnitNotInCycle(cycle_id, unit_id, [u for (u,) in units])
        published = _published(session, cycle_id, [unit_id]).get(unit_id)
        name = session.execute(select(UNIT.c.name).where(UNIT.c.id == unit_id)).scalar()
        due = None
        if evaluation_id is not None:
            due = session.execute(select(EVALUATION.c.due_at).where(
                EVALUATION.c.id == evaluation_id,
                EVALUATION.c.state == State.APPEAL_WINDOW.value)).scalar()
        return UnitPublication(
            cycle_id, rules.config.name, unit_id, name or unit_id, rules.tz_name, published,
            sum(n for s, n in counts.items() if State(s) in BEFORE_RESULT),
            rules.regime.publication.show_score,
            _results(svc, session, rules, unit_id) if published else (),
            rules.petition_from_publication, due)


def publication_of_evaluation(svc: Service, evaluation_id: int) -> UnitPublication:
    """The publication of the unit of ``evaluation_id`` (the one its reviewee belongs to)."""
    with svc.store.read() as session:
        row = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id)
                              .where(EVALUATION.c.id == evaluation_id)).first()
    if row is None:
        raise WorkflowError(f"no evaluation {evaluation_id}")
    return unit_publication(svc, row.cycle_id, row.unit_id, evaluation_id)


@dataclass(frozen=True)
class UnitStatus:
    """One line of `kpi publication CYCLE`."""

    unit_id: str
    unit_name: str
    published_at: datetime | None
    results: int
    waiting: int


def cycle_publications(svc: Service, cycle_id: str) -> list[UnitStatus]:
    """Every unit of the cycle: published when, how many results, how many still waiting."""
    with svc.store.read() as session:
        if session.execute(select(EVALUATION.c.id).where(
                EVALUATION.c.cycle_id == cycle_id).limit(1)).first() is None:
            raise CycleNotFound(cycle_id)
        units = [u for (u,) in session.execute(select(EVALUATION.c.unit_id).where(
            EVALUATION.c.cycle_id == cycle_id).distinct())]
        counts = _counts(session, cycle_id, units)
        published = _published(session, cycle_id, units)
        names = dict(session.execute(select(UNIT.c.id, UNIT.c.name)
                                     .where(UNIT.c.id.in_(units))).all())
    return [UnitStatus(u, names.get(u, u), published.get(u),
                       sum(n for s, n in counts[u].items() if State(s) in WITH_RESULT),
                       sum(n for s, n in counts[u].items() if State(s) in BEFORE_RESULT))
            for u in sorted(units)]


# --- the file -----------------------------------------------------------------------

CSV_HEADERS = (N_("Unit"), N_("Full name"), N_("Position"), N_("Class"), N_("Total score"))


def publication_csv(publication: UnitPublication, locale: str) -> str:
    """The published results as CSV (UTF-8 with a byte-order mark, so that a spreadsheet
    reads the Vietnamese names right): one row per person, headers, class and score in
    ``locale`` as the page writes them; the score column only when the regime publishes
    scores. Refused before the unit is published."""
    if publication.published_at is None:
        raise UnitNotPublished(publication.cycle_id, publication.unit_id, publication.waiting)
    headers = CSV_HEADERS if publication.show_score else CSV_HEADERS[:-1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([catalog.gettext(locale, h) for h in headers])
    for r in publication.results:
        row = [safe_text(publication.unit_name), safe_text(r.full_name), safe_text(r.position),
               r.class_in(locale)]
        if publication.show_score:
            row.append("" if r.score is None else score_text(r.score, locale))
        writer.writerow(row)
    return "\ufeff" + out.getvalue()
