"""Read models for the web pages: one evaluation's file, a scorer's team, a person's work.

Each is read in one read transaction. What a viewer may see is the web app's to
decide by role; two rules hold here already, for everyone: peer answers never carry
their authors, and fewer answers than the cycle's ``min_responses`` are withheld.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select

from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, Role, State, SubmissionKind
from workflow.errors import EvaluationNotFound
from workflow.permissions import EvaluationView
from workflow.scoring.display import shown_breakdown
from workflow.scoring.model import Framework, Labels, Regime
from workflow.service import admin_scope
from workflow.service.class_note import ClassNote, class_note
from workflow.service.core import (
    PersonInfo,
    Service,
    load_people,
    load_snapshot,
)
from workflow.service.recusals import calibrates_instead
from workflow.service.rowtypes import (
    AssignmentRecord,
    EvaluationMatch,
    EvaluationRecord,
    ExtensionRecord,
)
from workflow.service.scoring_inputs import framework_of
from workflow.store.tables import (
    ASSIGNMENT,
    CYCLE,
    EVALUATION,
    EXTENSION,
    PERSON,
    SUBMISSION,
    UNIT,
    Cycle,
)

FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PeerSummary:
    """The peers' answers without their authors; empty when withheld."""

    asked: int
    answered: int
    min_responses: int
    # criterion -> (the mean of the points given, how many gave one): never each answer,
    # which with a known peer set and two peers would be each person's answer.
    points: dict[str, tuple[Decimal, int]]
    comments: list[str]  # sorted, so their order says nothing about who wrote them

    @property
    def withheld(self) -> bool:
        return self.answered < self.min_responses


@dataclass(frozen=True)
class EvaluationFile:
    """Everything about one evaluation a page might show."""

    id: int
    cycle_id: str
    cycle_name: str
    timezone: str
    state: State
    version: int
    due_at: datetime | None
    phase_opens_at: datetime
    reviewee: PersonInfo
    unit_name: str
    supervisor: PersonInfo | None
    appeal_reviewer_id: str | None
    framework: Framework
    regime: Regime
    row: EvaluationRecord
    view: EvaluationView
    self_assessment: dict[str, Any] | None
    peers: PeerSummary
    score_payload: dict[str, Any] | None  # the supervisor's (or the revised) score form
    appeal: dict[str, Any] | None
    decision: dict[str, Any] | None
    peer_assignments: list[AssignmentRecord] = field(default_factory=list)
    extensions: list[ExtensionRecord] = field(default_factory=list)
    # Why the class is not the score's (a calibration move), as the record says.
    calibration: ClassNote | None = None

    @property
    def class_id(self) -> str | None:
        return self.row.final_class or self.row.score_class

    @property
    def breakdown(self) -> list[dict[str, Any]]:
        """The stamp's lines, rounded by the regime's display rule (as every surface)."""
        return shown_breakdown(self.row.score, self.row.score_stamp, self.regime)

    def class_label(self, locale: str) -> str | None:
        return self.class_label_of(self.class_id, locale)

    def class_label_of(self, class_id: str | None, locale: str) -> str | None:
        """A class of this evaluation's regime in ``locale`` (None for no class)."""
        if not class_id:
            return None
        label = self.regime.band(class_id).label
        return label.vi if locale == "vi" else label.en


def _strip(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if not k.startswith("_")}


def peer_summary(answers: list[dict[str, Any]], asked: int, min_responses: int) -> PeerSummary:
    """Anonymous and quorum-aware: below ``min_responses`` nothing is shown."""
    if len(answers) < min_responses:
        return PeerSummary(asked, len(answers), min_responses, {}, [])
    given: dict[str, list[Decimal]] = {}
    for a in answers:
        for cid, entry in (a.get("criteria") or {}).items():
            if entry.get("points") not in (None, ""):
                given.setdefault(cid, []).append(Decimal(str(entry["points"])))
    points = {cid: ((sum(values, Decimal(0)) / len(values)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP), len(values)) for cid, values in given.items()}
    comments = sorted(str(a["comment"]) for a in answers if a.get("comment"))
    return PeerSummary(asked, len(answers), min_responses, points, comments)


def evaluation_file(svc: Service, evaluation_id: int) -> EvaluationFile:
    """One evaluation with its submissions, for the pages of everyone involved."""
    with svc.store.read() as session:
        snap = load_snapshot(svc, session, evaluation_id, lock=False)
        row = snap.row
        people = load_people(session, [row.reviewee_id, row.supervisor_id])
        cycle = session.get(Cycle, row.cycle_id)
        unit_name = session.execute(select(UNIT.c.name).where(
            UNIT.c.id == row.unit_id)).scalar() or row.unit_id
        # Every submission of the evaluation in one query, in the order they came.
        handed_in: dict[str, list[dict[str, Any]]] = {}
        for r in session.execute(select(SUBMISSION.c.kind, SUBMISSION.c.payload)
                                 .where(SUBMISSION.c.evaluation_id == snap.id)
                                 .order_by(SUBMISSION.c.id)):
            handed_in.setdefault(r.kind, []).append(dict(r.payload))
        selfs = handed_in.get(SubmissionKind.SELF_ASSESSMENT.value, [])
        peers = handed_in.get(SubmissionKind.PEER_INPUT.value, [])
        scores = handed_in.get(SubmissionKind.SUPERVISOR_SCORE.value, [])
        appeals = handed_in.get(SubmissionKind.APPEAL.value, [])
        decisions = handed_in.get(SubmissionKind.APPEAL_DECISION.value, [])
        extensions = [ExtensionRecord.of(r._mapping) for r in session.execute(
            select(EXTENSION).where(EXTENSION.c.evaluation_id == snap.id)
            .order_by(EXTENSION.c.id))]
        note = class_note(session, snap.id, row.score_class, row.final_class,
                          snap.rules.regime)
    peer_rows = [a for a in snap.assignments if a.role == Role.PEER.value]
    revised = [d for d in decisions if d.get("decision") == "revise_score"]
    score_payload = revised[-1]["score"] if revised else (_strip(scores[-1]) if scores else None)
    return EvaluationFile(
        id=snap.id, cycle_id=row.cycle_id,
        cycle_name=cycle.name if cycle else row.cycle_id, timezone=snap.rules.tz_name,
        state=snap.state, version=snap.version, due_at=row.due_at,
        phase_opens_at=row.phase_opens_at, reviewee=people[row.reviewee_id],
        unit_name=unit_name, supervisor=people.get(row.supervisor_id or ""),
        appeal_reviewer_id=row.appeal_reviewer_id, framework=framework_of(snap),
        regime=snap.rules.regime, row=row, view=snap.view,
        self_assessment=_strip(selfs[-1]) if selfs else None,
        peers=peer_summary(peers, len([a for a in peer_rows if a.status != "withdrawn"]),
                           snap.rules.min_peer_responses),
        score_payload=score_payload,
        appeal=_strip(appeals[-1]) if appeals else None,
        decision=_strip(decisions[-1]) if decisions else None,
        peer_assignments=peer_rows, extensions=extensions, calibration=note,
    )


def framework_of_evaluation(svc: Service, evaluation_id: int) -> Framework:
    """The framework an evaluation is scored by (one small query; the rules are cached)."""
    with svc.store.read() as session:
        row = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.framework_hash)
                              .where(EVALUATION.c.id == evaluation_id)).first()
        if row is None:
            raise EvaluationNotFound(evaluation_id)
        return svc.rules.get(session, row.cycle_id).frameworks[row.framework_hash]


class LazyFile:
    """An evaluation's file read only when a page needs more than its framework.

    A form that is submitted successfully needs only the framework (to read the form);
    the whole file is read when the page is drawn again (a problem to show).
    """

    def __init__(self, svc: Service, evaluation_id: int) -> None:
        self._svc = svc
        self.id = evaluation_id
        self.framework = framework_of_evaluation(svc, evaluation_id)
        self._file: EvaluationFile | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._file is None:
            self._file = evaluation_file(self._svc, self.id)
        return getattr(self._file, name)


# --- a scorer's team ----------------------------------------------------------------


@dataclass(frozen=True)
class TeamMember:
    evaluation_id: int
    cycle_id: str
    reviewee_id: str
    reviewee_name: str
    state: State
    due_at: datetime | None
    score: str | None
    class_id: str | None
    as_role: Role  # how the viewer scores them: supervisor, acting, escalation
    self_assessment_missing: bool
    peer_quorum_not_reached: bool
    class_label: Labels | None = None

    def overdue(self, now: datetime) -> bool:
        return self.state in OPEN_STATES and self.due_at is not None and self.due_at < now


@dataclass(frozen=True)
class Team:
    members: list[TeamMember]

    def next_to_score(self) -> TeamMember | None:
        """The waiting evaluation due first (then by name): the one to score next."""
        waiting = [m for m in self.members if m.state is State.SUPERVISOR_SCORING]
        waiting.sort(key=lambda m: (m.due_at is None, m.due_at or FAR_PAST, m.reviewee_name))
        return waiting[0] if waiting else None


def team(svc: Service, person_id: str, *, cycle_id: str | None = None,
         now: datetime | None = None) -> Team:
    """Every evaluation ``person_id`` scores or may score, in every open cycle."""
    now = now or utc_now()
    with svc.store.read() as session:
        delegated = {r.evaluation_id: Role(r.role) for r in session.execute(
            select(ASSIGNMENT.c.evaluation_id, ASSIGNMENT.c.role).where(
                ASSIGNMENT.c.person_id == person_id,
                ASSIGNMENT.c.role.in_([Role.ACTING_SUPERVISOR.value,
                                       Role.ESCALATION_SUPERVISOR.value]),
                ASSIGNMENT.c.status != "withdrawn",
                or_(ASSIGNMENT.c.valid_until.is_(None), ASSIGNMENT.c.valid_until > now)))}
        stmt = select(EVALUATION).where(or_(EVALUATION.c.supervisor_id == person_id,
                                            EVALUATION.c.id.in_(list(delegated))))
        if cycle_id:
            stmt = stmt.where(EVALUATION.c.cycle_id == cycle_id)
        rows = [dict(r._mapping) for r in session.execute(stmt)]
        names = load_people(session, [r["reviewee_id"] for r in rows])
        regimes = {c: svc.rules.get(session, c).regime for c in {r["cycle_id"] for r in rows}}

    def label(row: dict[str, Any]) -> Labels | None:
        class_id = row["final_class"] or row["score_class"]
        return regimes[row["cycle_id"]].band(class_id).label if class_id else None

    members = [TeamMember(
        r["id"], r["cycle_id"], r["reviewee_id"],
        names[r["reviewee_id"]].full_name if r["reviewee_id"] in names else r["reviewee_id"],
        State(r["state"]), r["due_at"], r["score"], r["final_class"] or r["score_class"],
        Role.SUPERVISOR if r["supervisor_id"] == person_id else delegated[r["id"]],
        r["self_assessment_missing"], r["peer_quorum_not_reached"], label(r),
    ) for r in rows if r["reviewee_id"] != person_id]
    members.sort(key=lambda m: (m.cycle_id, m.reviewee_name, m.evaluation_id))
    return Team(members)


# --- what waits for a signed-in person ----------------------------------------------


@dataclass(frozen=True)
class Workload:
    person: PersonInfo
    scoring: int  # evaluations waiting for their score
    team_size: int
    calibrations: list[tuple[str, str, int]]  # (cycle id, name, evaluations waiting)
    appeals: list[tuple[int, str, datetime | None]]  # (evaluation, reviewee name, due)
    admin_cycles: list[tuple[str, str]]  # cycles they administer

    @property
    def is_admin(self) -> bool:
        return bool(self.admin_cycles)


def workload(svc: Service, person_id: str, *, now: datetime | None = None) -> Workload:
    """What a signed-in person can do: score, calibrate, review appeals, administer."""
    now = now or utc_now()
    members = team(svc, person_id, now=now).members
    with svc.store.read() as session:
        person = load_people(session, [person_id])[person_id]
        cycles = session.execute(select(CYCLE.c.id, CYCLE.c.name, CYCLE.c.calibrator_id)
                                 .order_by(CYCLE.c.opened_at)).all()
        waiting = dict(session.execute(
            select(EVALUATION.c.cycle_id, func.count()).where(
                EVALUATION.c.state == State.CALIBRATION.value)
            .group_by(EVALUATION.c.cycle_id)).all())
        instead = calibrates_instead(session, person_id)
        calibrations = [(c.id, c.name, int(waiting.get(c.id, 0))) for c in cycles
                        if c.calibrator_id == person_id or c.id in instead]
        appeal_rows = session.execute(
            select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.due_at).where(
                EVALUATION.c.appeal_reviewer_id == person_id,
                EVALUATION.c.state == State.APPEAL_REVIEW.value)
            .order_by(EVALUATION.c.due_at)).all()
        names = load_people(session, [r.reviewee_id for r in appeal_rows])
    return Workload(
        person=person,
        scoring=sum(1 for m in members if m.state is State.SUPERVISOR_SCORING),
        team_size=len(members), calibrations=calibrations,
        appeals=[(r.id, names[r.reviewee_id].full_name if r.reviewee_id in names
                  else r.reviewee_id, r.due_at) for r in appeal_rows],
        admin_cycles=list(admin_scope.scope_for(svc, person_id).cycles))


def administers(svc: Service, person_id: str, cycle_id: str) -> bool:
    with svc.store.read() as session:
        return person_id in svc.admins(svc.rules.get(session, cycle_id))


def find_evaluations(svc: Service, cycle_id: str, query: str, *, limit: int = 50,
                     units: Collection[str] | None = None) -> list[EvaluationMatch]:
    """Evaluations of a cycle whose reviewee id or name contains ``query`` (admin search);
    ``units``: only in these units (an admin of some agencies), None: in all."""
    # % and _ typed in the search box are letters, not wildcards (an id like "S_1").
    escaped = query.strip().lower().replace("\\", "\\\\").replace("%", "\\%") \
        .replace("_", "\\_")
    text = f"%{escaped}%"
    with svc.store.read() as session:
        rows = session.execute(
            select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.state,
                   EVALUATION.c.due_at, EVALUATION.c.unit_id, PERSON.c.full_name)
            .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
            .where(EVALUATION.c.cycle_id == cycle_id,
                   *(() if units is None else (EVALUATION.c.unit_id.in_(sorted(units)),)),
                   or_(func.lower(PERSON.c.id).like(text, escape="\\"),
                       func.lower(PERSON.c.full_name).like(text, escape="\\")))
            .order_by(PERSON.c.full_name).limit(limit)).all()
    return [EvaluationMatch(id=r.id, reviewee_id=r.reviewee_id, full_name=r.full_name,
                            state=State(r.state), due_at=r.due_at, unit_id=r.unit_id)
            for r in rows]


def names_of(svc: Service, person_ids: list[str]) -> dict[str, str]:
    """Full names by person id (to name people on a page instead of their ids)."""
    with svc.store.read() as session:
        return {p.id: p.full_name for p in load_people(session, person_ids).values()}
