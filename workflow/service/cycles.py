"""Opening a cycle: who is in it, in which part, and their first tasks.

``plan_population`` decides, from the organisation and the cycle file, each
reviewee's supervisor (or named evaluator), framework and peers, and who is left
out and why. `kpi cycle check` prints that plan; `kpi cycle open` writes it, set-based,
one unit and task group at a time so that memory stays flat with the size of the
organisation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlmodel import Session

from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.cycle_config import LoadedCycle, load_cycle
from workflow.domain import Role, State
from workflow.effects import core as effects
from workflow.errors import CycleError, Problem
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.permissions import EvaluationView
from workflow.progress import SILENT, Progress
from workflow.recusal import Recusal
from workflow.scoring.model import Framework
from workflow.service import collector, recusals
from workflow.service.core import PersonInfo, Service, Snapshot
from workflow.service.notices import Mail, mail_like, make_mail
from workflow.service.recusals import (
    OrgLine,
    hand_on_calibration,
    nobody_calibrates,
    nobody_scores,
)
from workflow.service.rules import CycleRules, load_rules_from_files, store_rulebook
from workflow.service.transition import write_mail
from workflow.store import audit, bulk
from workflow.store.tables import ASSIGNMENT, CYCLE, DEADLINE, EVALUATION, PERSON, UNIT, Cycle

CHUNK = 2000


class Member(NamedTuple):
    """A person as the cycle sees them (a tuple: opening makes one per person, and a
    frozen dataclass took four times as long to make)."""

    id: str
    full_name: str
    email: str
    unit_id: str
    position_group: str
    task_group: str
    supervisor_id: str | None
    is_leader: bool
    locale: str
    timezone: str | None


@dataclass(frozen=True)
class PlannedEvaluation:
    member: Member
    supervisor_id: str
    framework: Framework
    peers: tuple[str, ...]
    named_evaluator: bool = False
    # Who steps aside from deciding this evaluation (a conflict of interest), and who
    # takes the case on: written as assignment and audit rows when the cycle opens.
    recusals: tuple[Recusal, ...] = ()


@dataclass
class PopulationPlan:
    evaluations: list[PlannedEvaluation] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (person id, why)
    problems: list[str] = field(default_factory=list)  # block opening
    tops: list[str] = field(default_factory=list)  # people with no supervisor
    calibrator_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # said by `kpi cycle check`, not blocking
    recusals: list[Recusal] = field(default_factory=list)  # every one, for `kpi cycle check`


def _population_of(rules: CycleRules, *columns: Any) -> Any:
    """The statement over the cycle's people (``columns`` of the person table)."""
    units = rules.config.population.units
    stmt = select(*columns).where(PERSON.c.active.is_(True))
    if units != "all":
        stmt = stmt.where(PERSON.c.unit_id.in_(list(units)))
    return stmt


def _population(session: Session, rules: CycleRules) -> int:
    """How many people the cycle walks (the total of `kpi cycle open`'s progress)."""
    return int(session.execute(_population_of(rules, func.count())).scalar_one())


def _members(session: Session, rules: CycleRules) -> Iterator[list[Member]]:
    """The cycle's people grouped by (unit, task group), streamed in that order."""
    # The columns in Member's order, so that each row is a Member as it comes.
    stmt = _population_of(rules, *(PERSON.c[name] for name in Member._fields)).order_by(
        PERSON.c.unit_id, PERSON.c.task_group, PERSON.c.id)
    group: list[Member] = []
    key: tuple[str, str] | None = None
    for r in session.execute(stmt.execution_options(yield_per=CHUNK)):
        member = Member._make(r)
        if key is not None and (member.unit_id, member.task_group) != key:
            yield group
            group = []
        key = (member.unit_id, member.task_group)
        group.append(member)
    if group:
        yield group


def peer_draw_key(secret_key: str) -> bytes | None:
    """The secret the peers are drawn with: derived from the server's key (its own
    purpose), so the engine draws the same peers every run (`kpi cycle check` shows
    the ones `kpi cycle open` asks) and nobody without the key can compute them."""
    if not secret_key:
        return None
    return hmac.new(secret_key.encode("utf-8"), b"kpi-peer-draw", hashlib.sha256).digest()


def pick_peers(cycle_id: str, reviewee: Member, group: Sequence[Member], count: int,
               supervisors: Mapping[str, str], key: bytes | None = None) -> tuple[str, ...]:
    """Up to ``count`` colleagues of the same unit and task group, the same every run.

    Nobody is their own peer, and nobody who scores the reviewee (or whom the
    reviewee scores) is their peer. The order is an HMAC with ``key`` (the server's
    secret): someone with the employee list cannot compute who peers whom. Without
    a key (no KPI_SECRET_KEY) it is a plain hash, and `kpi cycle check` says so.
    """
    boss = supervisors.get(reviewee.id)
    candidates = [m.id for m in group
                  if m.id not in (reviewee.id, boss) and supervisors.get(m.id) != reviewee.id]

    def rank(candidate: str) -> str:
        message = f"{cycle_id}:{reviewee.id}:{candidate}".encode()
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    return tuple(sorted(candidates, key=rank)[:count])


PEERS_UNKEYED = N_("peers are drawn without a secret (KPI_SECRET_KEY is not set): anyone "
                   "with the employee list can compute who peers whom; set it before opening")
# The population's problems and the reasons people are left out: catalogue messages
# (a page says them in its language; the CLI prints their English, as before).
NOT_IN_ORG = N_("%(key)s: '%(person)s' is not in the organisation; import them with `kpi org "
                "import`, or correct the id")
UNIT_NOT_IN_ORG = N_("population.units: unit '%(unit)s' is not in the organisation; check the "
                     "unit's id, or import the organisation with `kpi org import`")
EXCLUDED = N_("excluded by the cycle file: %(reason)s")
TOP_WITHOUT_EVALUATOR = N_("top of the tree: no supervisor, and the cycle file names no "
                           "evaluator for them (evaluators: {%(person)s: EVALUATOR_ID})")
NO_FRAMEWORK = N_("position group '%(group)s' (%(people)s) has no framework among "
                  "%(frameworks)s; add it to a framework's position_groups")
AND_MORE = N_("%(ids)s and %(more)s more")
NO_CALIBRATOR = N_("calibration.calibrator: name the calibrator (the head of the agency); "
                   "%(found)s people without a supervisor found (%(ids)s)")


ALREADY_OPEN = N_("cycle '%(cycle)s' is already open; a new period needs a new cycle file "
                  "with its own id")
NOBODY_TO_EVALUATE = N_("cycle '%(cycle)s' has nobody to evaluate; check population.units and "
                        "`kpi org import`")
ONE_THEN = N_("%(first)s; %(then)s")


class CannotOpen(CycleError):
    """A cycle cannot be opened: each problem (a catalogue message with its ids and the
    fix) is listed; nothing was written. A page says them in its language, the CLI prints
    them one a line, as before."""

    user_message = N_("The cycle cannot be opened: %(problems)s")

    def __init__(self, problems: Sequence[str], *, heading: bool = True) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"cannot open the cycle:\n{lines}" if heading else lines)

    def user_params(self) -> dict[str, object]:
        return {"problems": said_together(self.problems)}


def said_together(problems: Sequence[str]) -> str:
    """Several problems as one text, each in the reader's language (``a; b; c``)."""
    said: str = problems[0] if problems else ""
    for p in problems[1:]:
        said = Problem(ONE_THEN, first=said, then=p)
    return said


def _check_people_exist(session: Session, rules: CycleRules, plan: PopulationPlan) -> None:
    config = rules.config
    named = {
        **{f"evaluators.{k}": v for k, v in config.evaluators.items()},
        **{f"evaluators (key) {k}": k for k in config.evaluators},
        **({"calibration.calibrator": config.calibration.calibrator}
           if config.calibration.calibrator else {}),
        **({"appeal_reviewer": config.appeal_reviewer} if config.appeal_reviewer else {}),
        **{f"recusal.{k}": v for k, v in config.recusal.model_dump().items() if v},
        **{f"admins[{i}]": a for i, a in enumerate(config.admins)},
    }
    found = {r.id for r in session.execute(
        select(PERSON.c.id).where(PERSON.c.id.in_(list(named.values()))))}
    for key, person_id in named.items():
        if person_id not in found:
            plan.problems.append(Problem(NOT_IN_ORG, key=key, person=person_id))
    if config.population.units != "all":
        known = {r.id for r in session.execute(select(UNIT.c.id))}
        for unit in config.population.units:
            if unit not in known:
                plan.problems.append(Problem(UNIT_NOT_IN_ORG, unit=unit))


def plan_groups(session: Session, rules: CycleRules, plan: PopulationPlan,
                draw_key: bytes | None = None) -> Iterator[list[PlannedEvaluation]]:
    """Planned evaluations one unit and task group at a time; fills plan's left_out/problems.

    ``draw_key`` (``peer_draw_key``) keeps the peer draw secret."""
    config = rules.config
    if draw_key is None and config.enabled(State.PEER_INPUT):
        plan.warnings.append(Problem(PEERS_UNKEYED))
    missing_framework: dict[str, list[str]] = {}
    line = OrgLine(session, config)
    for group in _members(session, rules):
        # Peers come from the same group, so the supervisors pick_peers needs are the
        # group's own: no map of the whole organisation is held.
        supervisors = {m.id: m.supervisor_id for m in group if m.supervisor_id is not None}
        planned: list[PlannedEvaluation] = []
        for m in group:
            if m.id in config.population.exclude:
                plan.left_out.append((m.id, Problem(
                    EXCLUDED, reason=config.population.exclude[m.id])))
                continue
            if m.supervisor_id is None:
                plan.tops.append(m.id)
            evaluator = m.supervisor_id or config.evaluators.get(m.id)
            if evaluator is None:
                plan.left_out.append((m.id, Problem(TOP_WITHOUT_EVALUATOR, person=m.id)))
                continue
            scorer, recused = line.scorer(m.id, evaluator)
            if scorer is None:
                plan.problems.append(nobody_scores(m.id, evaluator))
                continue
            plan.recusals.extend(recused)
            framework = rules.framework_for_group(m.position_group)
            if framework is None:
                missing_framework.setdefault(m.position_group, []).append(m.id)
                continue
            peers: tuple[str, ...] = ()
            if config.enabled(State.PEER_INPUT):
                # Nobody in conflict with the reviewee is asked about them.
                free = [g for g in group if g.id not in line.of(m.id)]
                peers = pick_peers(config.id, m, free, config.peers.per_person, supervisors,
                                   draw_key)
            planned.append(PlannedEvaluation(m, scorer, framework, peers,
                                             m.supervisor_id is None, tuple(recused)))
        yield planned
    for position_group, ids in missing_framework.items():
        shown: str = ", ".join(ids[:5])
        if len(ids) > 5:
            shown = Problem(AND_MORE, ids=shown, more=len(ids) - 5)
        plan.problems.append(Problem(NO_FRAMEWORK, group=position_group, people=shown,
                                     frameworks=", ".join(config.frameworks)))


def opening_snapshot(rules: CycleRules, planned: PlannedEvaluation, evaluation_id: int,
                     opened_at: datetime, calibrator_id: str | None,
                     admins: frozenset[str]) -> Snapshot:
    """The evaluation as `kpi cycle open` creates it (in its first state, peers asked),
    before its first phase is entered: what ``effects.opening`` reads. The simulation
    starts from the same."""
    member = planned.member
    row = EvaluationRecord(
        id=evaluation_id, cycle_id=rules.cycle_id, reviewee_id=member.id,
        unit_id=member.unit_id, task_group=member.task_group,
        position_group=member.position_group, is_leader=member.is_leader,
        framework_id=planned.framework.id, framework_hash=planned.framework.content_hash,
        supervisor_id=planned.supervisor_id, appeal_reviewer_id=None,
        state=State.SELF_ASSESSMENT, version=1, phase_entered_at=opened_at,
        phase_opens_at=opened_at, due_at=None, escalation_level=0,
        self_assessment_missing=False, peer_quorum_not_reached=False, escalated=False,
        extended=False, reopened=False, petition_round=0, score=None, score_class=None,
        final_class=None, scored_by=None, scored_at=None, score_stamp=None,
        created_at=opened_at, updated_at=opened_at)
    # Who opens the cycle is not known yet (`kpi cycle check`), and nothing reads it.
    assignments = [AssignmentRecord(
        id=i, evaluation_id=evaluation_id, person_id=peer, role=Role.PEER.value,
        status="pending", valid_from=opened_at, valid_until=None, created_by="",
        reason="picked for the cycle") for i, peer in enumerate(planned.peers)]
    view = EvaluationView(id=evaluation_id, reviewee_id=member.id,
                          supervisor_id=planned.supervisor_id, calibrator_id=calibrator_id,
                          peers=dict.fromkeys(planned.peers, "pending"), admins=admins,
                          recused=frozenset(r.person_id for r in planned.recusals),
                          scorer_decides_petition=rules.scorer_decides_petition)
    return Snapshot(row, rules, view, assignments)


def _calibrator(rules: CycleRules, plan: PopulationPlan) -> str | None:
    """The named calibrator, else the head of the agency (the one person at the top)."""
    config = rules.config
    if config.calibration.calibrator:
        return config.calibration.calibrator
    if not config.enabled(State.CALIBRATION):
        return None
    tops = plan.tops
    if len(tops) == 1:
        return tops[0]
    plan.problems.append(Problem(NO_CALIBRATOR, found=len(tops), ids=", ".join(tops[:5])))
    return None


def plan_population(svc: Service, session: Session, rules: CycleRules) -> PopulationPlan:
    """The whole plan in memory (for `kpi cycle check` and tests)."""
    plan = PopulationPlan()
    _check_people_exist(session, rules, plan)
    for group in plan_groups(session, rules, plan, peer_draw_key(svc.settings.secret_key)):
        plan.evaluations.extend(group)
    plan.calibrator_id = _calibrator(rules, plan)
    for r in OrgLine(session, rules.config).calibration(
            plan.calibrator_id, [e.member.id for e in plan.evaluations]):
        plan.recusals.append(r)
        if r.handed_to is None:
            plan.problems.append(nobody_calibrates(r))
    return plan


@dataclass
class OpenReport:
    cycle_id: str
    evaluations: int
    left_out: list[tuple[str, str]]
    emails: int
    by_unit: dict[str, int]


def load_for_open(svc: Service, path: str | Path) -> tuple[LoadedCycle, CycleRules]:
    loaded = load_cycle(path)
    return loaded, load_rules_from_files(loaded, svc.settings.config_dir)


def open_cycle(svc: Service, path: str | Path, *, actor_id: str = "cli",
               now: datetime | None = None, progress: Progress = SILENT) -> OpenReport:
    """Create the cycle's evaluations in self_assessment and queue the first emails.

    One transaction: either the whole cycle is open, or nothing was written.
    ``progress`` hears of the people walked, a chunk at a time.
    """
    now = now or utc_now()
    loaded, rules = load_for_open(svc, path)
    return open_loaded(svc, loaded, rules, actor_id=actor_id, now=now, progress=progress)


def open_loaded(svc: Service, loaded: LoadedCycle, rules: CycleRules, *, actor_id: str,
                now: datetime, first: Callable[[Session], None] | None = None,
                progress: Progress = SILENT) -> OpenReport:
    """``open_cycle`` for a cycle already loaded (a series' period, the browser's form);
    ``first`` runs at the start of the same transaction (a scheduled open claims its row
    there, so that it happens once)."""
    config = rules.config
    with svc.store.write() as session:
        if first is not None:
            first(session)
        if session.get(Cycle, config.id) is not None:
            raise CannotOpen([Problem(ALREADY_OPEN, cycle=config.id)], heading=False)
        plan = PopulationPlan()
        _check_people_exist(session, rules, plan)
        if plan.problems:
            raise CannotOpen(plan.problems)
        regime_hash = store_rulebook(session, "regime", rules.regime.id, rules.regime.version,
                                     (svc.settings.config_dir / "regimes" /
                                      f"{rules.regime.id}.yaml").read_text("utf-8"), now)
        for fw in rules.frameworks.values():
            store_rulebook(session, "framework", fw.id, fw.version,
                           (svc.settings.config_dir / "frameworks" / f"{fw.id}.yaml")
                           .read_text("utf-8"), now)
        store_rulebook(session, "cycle", config.id, 1, loaded.text, now)
        calibrator = config.calibration.calibrator
        session.execute(insert(CYCLE).values(
            id=config.id, name=config.name, period_kind=config.period.kind,
            period_start=config.period.start, period_end=config.period.end,
            timezone=config.timezone, regime_id=rules.regime.id, regime_hash=regime_hash,
            config_hash=loaded.content_hash, calibration_enabled=config.enabled(State.CALIBRATION),
            peer_input_enabled=config.enabled(State.PEER_INPUT), calibrator_id=calibrator,
            opened_at=now, opened_by=actor_id))
        svc.rules.put(rules)
        report = OpenReport(config.id, 0, [], 0, {})
        # The people walked: each is an evaluation written or someone left out.
        progress.start("people", _population(session, rules))
        walked = 0

        def chunk_written() -> None:
            nonlocal walked
            progress.advance(report.evaluations + len(plan.left_out) - walked)
            walked = report.evaluations + len(plan.left_out)

        # Groups are small (a unit's task group): gather them into chunks of about
        # CHUNK evaluations, so each table gets one statement per chunk.
        pending: list[PlannedEvaluation] = []
        for group in plan_groups(session, rules, plan, peer_draw_key(svc.settings.secret_key)):
            if plan.problems:
                continue  # keep walking to report every problem, write nothing more
            pending.extend(group)
            if len(pending) >= CHUNK:
                with collector.paused():
                    _write_chunk(svc, session, rules, pending, report, now, actor_id)
                pending = []
                chunk_written()
        if pending and not plan.problems:
            with collector.paused():
                _write_chunk(svc, session, rules, pending, report, now, actor_id)
        chunk_written()
        progress.done()
        if not calibrator and config.enabled(State.CALIBRATION):
            calibrator = _calibrator(rules, plan)
            session.execute(CYCLE.update().where(CYCLE.c.id == config.id)
                            .values(calibrator_id=calibrator))
        if config.enabled(State.CALIBRATION) and not plan.problems:
            plan.problems += hand_on_calibration(session, OrgLine(session, config), config.id,
                                                 calibrator, now, actor_id)
        if plan.problems:
            raise CannotOpen(plan.problems)
        if report.evaluations == 0:
            raise CannotOpen([Problem(NOBODY_TO_EVALUATE, cycle=config.id)], heading=False)
        report.left_out = plan.left_out
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="open_cycle",
            cycle_id=config.id, reason=f"{report.evaluations} evaluations",
            payload={"config_hash": loaded.content_hash})])
    # The cycle is open (committed); fresh statistics only help what comes next.
    bulk.analyze(svc.store, OPENED_TABLES)
    return report


# The tables opening a cycle fills, in bulk.
OPENED_TABLES = ("evaluation", "assignment", "deadline", "accesstoken", "outbox", "auditevent")


def _write_chunk(svc: Service, session: Session, rules: CycleRules,
                 group: Sequence[PlannedEvaluation], report: OpenReport, now: datetime,
                 actor_id: str) -> None:
    """Write one chunk of planned evaluations: one insert per table, set-based."""
    if not group:
        return
    config = rules.config
    first_state = State.SELF_ASSESSMENT.value  # read once: an enum's value is a property
    ids = dict(zip((e.member.id for e in group),
                   bulk.reserve_ids(session, EVALUATION, len(group)), strict=True))
    people = {e.member.id: _person(e.member) for e in group}
    admins = frozenset(svc.admins(rules))
    openings = _Openings(rules, now, people, admins)
    fxs = {e.member.id: openings.of(e, ids[e.member.id]) for e in group}
    rows = [{
        "id": ids[e.member.id],
        "cycle_id": config.id, "reviewee_id": e.member.id, "unit_id": e.member.unit_id,
        "task_group": e.member.task_group, "position_group": e.member.position_group,
        "is_leader": e.member.is_leader, "framework_id": e.framework.id,
        "framework_hash": e.framework.content_hash, "supervisor_id": e.supervisor_id,
        "appeal_reviewer_id": None, "state": first_state, "version": 1,
        "phase_entered_at": now, "escalation_level": 0, "self_assessment_missing": False,
        "peer_quorum_not_reached": False, "escalated": False, "extended": False,
        "reopened": False, "petition_round": 0, "created_at": now, "updated_at": now,
        "phase_opens_at": fxs[e.member.id].values["phase_opens_at"],
        "due_at": fxs[e.member.id].values["due_at"],
    } for e in group]
    bulk.insert_rows(session, EVALUATION, rows, CHUNK)
    assignments = [{
        "evaluation_id": ids[e.member.id], "person_id": peer, "role": Role.PEER.value,
        "status": "pending", "valid_from": now, "valid_until": None, "created_by": actor_id,
        "reason": "picked for the cycle",
    } for e in group for peer in e.peers]
    assignments += [a for e in group
                    for a in recusals.assignment_rows(ids[e.member.id], e.recusals, now,
                                                      actor_id)]
    bulk.insert_rows(session, ASSIGNMENT, assignments)
    timers: list[dict[str, Any]] = []
    mail = Mail([], [])
    made: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any] | None]] = {}
    entries: list[audit.AuditEntry] = []
    digests: dict[tuple[Any, ...], str] = {}
    # What every context of the chunk says alike, written once (the due dates are few).
    period_start, period_end = config.period.start.isoformat(), config.period.end.isoformat()
    shown_due: dict[datetime | None, str] = {}
    for e in group:
        eid = ids[e.member.id]
        fx = fxs[e.member.id]
        timers += fx.timers
        due_at = fx.values["due_at"]
        due_text = shown_due.get(due_at)
        if due_text is None and due_at is not None:
            due_text = shown_due[due_at] = due_at.isoformat()
        context = {
            "cycle_id": config.id, "cycle_name": config.name,
            "period_start": period_start, "period_end": period_end, "evaluation_id": eid,
            "reviewee_id": e.member.id, "reviewee_name": e.member.full_name,
            "state": first_state, "due_at": due_text,
            "cycle_timezone": config.timezone, "trigger": "open_cycle", "reason": None,
        }
        for send in fx.sends:
            for person_id in send.to:
                _opening_mail(svc, mail, made, send, people[person_id], e.member.id, context,
                              eid, now, due_at, rules)
        payload = {"supervisor_id": e.supervisor_id, "framework": e.framework.content_hash,
                   "peers": list(e.peers)}
        # A supervisor's reviewees share a payload (no peers, one framework): hashed once.
        digest_key = (e.supervisor_id, e.framework.content_hash, e.peers)
        digest = digests.get(digest_key)
        if digest is None:
            digest = digests[digest_key] = audit.payload_hash(payload)
        entries.append(audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="open",
            evaluation_id=eid, cycle_id=config.id, to_state=first_state,
            payload=payload, payload_digest=digest))
        entries += recusals.audit_entries(eid, config.id, e.recusals, now, actor_id,
                                          Role.ADMIN.value, first_state)
        report.by_unit[e.member.unit_id] = report.by_unit.get(e.member.unit_id, 0) + 1
    bulk.insert_rows(session, DEADLINE, timers, CHUNK * 3)
    write_mail(session, mail)
    audit.append(session, entries)
    report.evaluations += len(group)
    report.emails += len(mail.outbox)


def _opening_mail(svc: Service, mail: Mail,
                  made: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any] | None]],
                  send: effects.Send, person: PersonInfo, reviewee_id: str,
                  context: Mapping[str, Any], evaluation_id: int, now: datetime,
                  due_at: datetime | None, rules: CycleRules) -> None:
    """The opening's notice ``send`` to ``person``, into ``mail``.

    A reviewee's task email differs from the one of another reviewee of the same time
    zone only in whose it is: it is made once per zone and instant (``made``), and
    copied for the others with their own link (``mail_like``).
    """
    key = f"ev:{evaluation_id}:v1:{send.event}:{person.id}"
    shape = (person.timezone, send.event, send.at, due_at)
    known = made.get(shape) if person.id == reviewee_id else None
    if known is not None:
        row, token = mail_like(svc, *known, person=person, evaluation_id=evaluation_id,
                               dedupe_key=key, context=context)
        mail.outbox.append(row)
        if token is not None:
            mail.tokens.append(token)
        return
    one = make_mail(svc, event=send.event, person=person, dedupe_key=key, context=context,
                    now=now, evaluation_id=evaluation_id, available_at=send.at,
                    link_expires_at=due_at, cycle_tz=rules.tz_name,
                    # A notice held for a digest waits for a working day of the cycle's
                    # calendar, as it does when the sweep or a step queues it.
                    calendar=rules.calendar)
    mail.extend(one)
    if (person.id == reviewee_id and len(one.tokens) <= 1
            and bool(one.tokens) == bool(one.outbox[0]["context"]["action_url"])):
        made[shape] = (one.outbox[0], one.tokens[0] if one.tokens else None)


class _Openings:
    """``effects.opening`` for each evaluation of a chunk, decided once per time zone.

    The first phase's dates are the cycle's; its rows and its task email differ only
    by the reviewee (their id, their clock). When the core's answer names nobody but
    the reviewee, the answer for one reviewee of a zone is the answer for every
    reviewee of that zone with the ids swapped: the decision stays the core's, and
    100,000 evaluations do not each work out the same calendar again. An answer that
    names anyone else (a notice to the supervisor, say) is not shared.
    """

    def __init__(self, rules: CycleRules, now: datetime, people: Mapping[str, PersonInfo],
                 admins: frozenset[str]) -> None:
        self.rules, self.now, self.people, self.admins = rules, now, people, admins
        self.by_zone: dict[str | None, tuple[str, int, effects.Effects]] = {}

    def of(self, planned: PlannedEvaluation, evaluation_id: int) -> effects.Effects:
        member = planned.member
        known = self.by_zone.get(member.timezone)
        if known is not None:
            return _rebind(known, member.id, evaluation_id)
        snap = opening_snapshot(self.rules, planned, evaluation_id, self.now,
                                self.rules.config.calibration.calibrator, self.admins)
        fx = effects.opening(snap, self.now, self.people)
        named = {t["recipient_id"] for t in fx.timers} | {p for s in fx.sends for p in s.to}
        if named <= {member.id, None}:
            self.by_zone[member.timezone] = (member.id, evaluation_id, fx)
        return fx


def _rebind(known: tuple[str, int, effects.Effects], reviewee_id: str,
            evaluation_id: int) -> effects.Effects:
    """The opening of another reviewee of the same zone: the same, theirs."""
    was, _, fx = known

    def who(person_id: str | None) -> str | None:
        return reviewee_id if person_id == was else person_id

    return effects.Effects(
        fx.from_state, fx.to_state, fx.values,
        timers=[{**t, "evaluation_id": evaluation_id, "recipient_id": who(t["recipient_id"])}
                for t in fx.timers],
        sends=[effects.Send(s.event, (reviewee_id,) * len(s.to), s.at) for s in fx.sends],
        window=fx.window)


def _person(m: Member) -> PersonInfo:
    return PersonInfo(m.id, m.full_name, m.email, m.locale, m.timezone, m.supervisor_id,
                      m.unit_id, True)
