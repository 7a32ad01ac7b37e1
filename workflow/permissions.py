"""Who may fire what: roles derived from an evaluation, checked apart from its state.

The machine decides *when* a trigger applies; this module decides *who* may fire
it. Both must agree before anything changes. Pure: works on ``EvaluationView``, a
plain snapshot the service builds from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from workflow.domain import SCORER_ROLES, Role, Trigger
from workflow.errors import NotPermitted, Recused

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Delegation:
    person_id: str
    valid_from: datetime
    valid_until: datetime | None

    def active(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_until is None or now < self.valid_until)


@dataclass(frozen=True)
class EvaluationView:
    """What the permission rules need to know about one evaluation."""

    id: int
    reviewee_id: str
    supervisor_id: str | None
    calibrator_id: str | None = None
    appeal_reviewer_id: str | None = None
    scored_by: str | None = None
    peers: Mapping[str, str] = field(default_factory=dict)  # person -> pending|answered
    acting_supervisors: tuple[Delegation, ...] = ()
    escalation_supervisors: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    # Who steps aside from deciding this evaluation: a conflict of interest with the
    # reviewee (workflow.recusal). The reviewee never decides it either.
    recused: frozenset[str] = frozenset()
    # Admins of part of the deployment (settings' [admin_scope]): they act as admins,
    # within the agencies the admin pages let them reach (workflow/service/admin_scope.py),
    # but are not sent the cycle's mails to admins, which name people of every agency.
    scoped_admins: frozenset[str] = frozenset()
    # The regime has the one who classified decide the petition against it
    # (``petition.resolved_by: evaluator``): the scorer may then be its reviewer.
    scorer_decides_petition: bool = False


# The one table of who may fire each trigger. The system (the clock) fires only
# the deadline triggers; people never fire those.
MAY_FIRE: dict[Trigger, frozenset[Role]] = {
    Trigger.SUBMIT_SELF_ASSESSMENT: frozenset({Role.REVIEWEE}),
    Trigger.SELF_ASSESSMENT_MISSED: frozenset({Role.SYSTEM}),
    Trigger.SUBMIT_PEER_INPUT: frozenset({Role.PEER}),
    Trigger.PEER_INPUT_CLOSED: frozenset({Role.SYSTEM}),
    Trigger.SUBMIT_SCORE: SCORER_ROLES,
    Trigger.APPROVE_CALIBRATION: frozenset({Role.CALIBRATOR}),
    Trigger.ACCEPT_RESULT: frozenset({Role.REVIEWEE}),
    Trigger.LODGE_APPEAL: frozenset({Role.REVIEWEE}),
    Trigger.APPEAL_WINDOW_CLOSED: frozenset({Role.SYSTEM}),
    Trigger.UPHOLD_SCORE: frozenset({Role.APPEAL_REVIEWER}),
    Trigger.REVISE_SCORE: frozenset({Role.APPEAL_REVIEWER}),
    Trigger.CANCEL: frozenset({Role.ADMIN}),
    Trigger.REOPEN: frozenset({Role.ADMIN}),
}
assert set(MAY_FIRE) == set(Trigger), "every trigger needs its roles"

# The triggers that decide a case: nobody fires them on their own evaluation or on the
# evaluation of someone they are in conflict with.
DECIDING = frozenset({Trigger.SUBMIT_SCORE, Trigger.APPROVE_CALIBRATION,
                      Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE})

# Actions on the record beside the transitions.
MAY_RECORD: dict[str, frozenset[Role]] = {
    "extend": frozenset({Role.ADMIN}),
    "reassign": frozenset({Role.ADMIN}),
    "delegate": frozenset({Role.ADMIN, Role.SUPERVISOR}),
    "record_override": frozenset({Role.ADMIN}),
    "move_class": frozenset({Role.CALIBRATOR}),
    "undo_move": frozenset({Role.CALIBRATOR}),
}
# The actions on the record that decide a class (a calibration move and its undo): like
# the DECIDING triggers, never taken on one's own evaluation or one stepped aside from.
DECIDING_RECORDS = frozenset({"move_class", "undo_move"})


def roles_of(person_id: str, view: EvaluationView, now: datetime) -> frozenset[Role]:
    """Every role ``person_id`` holds on this evaluation at ``now``."""
    if person_id == SYSTEM_ACTOR:
        return frozenset({Role.SYSTEM})
    roles: set[Role] = set()
    if person_id == view.reviewee_id:
        roles.add(Role.REVIEWEE)
    if person_id == view.supervisor_id:
        roles.add(Role.SUPERVISOR)
    if any(d.person_id == person_id and d.active(now) for d in view.acting_supervisors):
        roles.add(Role.ACTING_SUPERVISOR)
    if person_id in view.escalation_supervisors:
        roles.add(Role.ESCALATION_SUPERVISOR)
    if person_id in view.peers:
        roles.add(Role.PEER)
    if person_id == view.calibrator_id:
        roles.add(Role.CALIBRATOR)
    if person_id == view.appeal_reviewer_id:
        roles.add(Role.APPEAL_REVIEWER)
    if person_id in view.admins or person_id in view.scoped_admins:
        roles.add(Role.ADMIN)
    return frozenset(roles)


def acting_role(trigger: Trigger, roles: frozenset[Role]) -> Role | None:
    """The role under which the actor fires ``trigger``, or None if none allows it."""
    allowed = MAY_FIRE[trigger] & roles
    if not allowed:
        return None
    # The most specific role, for the audit row: the assigned supervisor before an
    # acting one, before the escalation supervisor.
    order = [Role.SYSTEM, Role.REVIEWEE, Role.PEER, Role.SUPERVISOR, Role.ACTING_SUPERVISOR,
             Role.ESCALATION_SUPERVISOR, Role.CALIBRATOR, Role.APPEAL_REVIEWER, Role.ADMIN]
    return next(r for r in order if r in allowed)


def check(trigger: Trigger, person_id: str, view: EvaluationView, now: datetime) -> Role:
    """The role ``person_id`` acts in; NotPermitted, saying why, when they may not."""
    roles = roles_of(person_id, view, now)
    role = acting_role(trigger, roles)
    if trigger in DECIDING and (
            person_id in view.recused or person_id == view.reviewee_id):
        why = ("it is their own evaluation" if person_id == view.reviewee_id else
               "they have a conflict of interest with the reviewee and stepped aside")
        raise Recused(view.id, person_id, trigger.value, f"{why}; the next person up decides")
    if role is None:
        needed = ", ".join(sorted(r.value for r in MAY_FIRE[trigger]))
        held = ", ".join(sorted(r.value for r in roles)) or "no role"
        raise NotPermitted(view.id, person_id, trigger.value,
                           f"it needs the role {needed}; they hold {held} here")
    if role is Role.PEER and view.peers.get(person_id) != "pending":
        raise NotPermitted(view.id, person_id, trigger.value, "they have already answered")
    if role is Role.APPEAL_REVIEWER and person_id == view.scored_by \
            and not view.scorer_decides_petition:
        raise NotPermitted(view.id, person_id, trigger.value,
                           "an appeal is never decided by the person who gave the score")
    return role


def check_record(action: str, person_id: str, view: EvaluationView, now: datetime) -> Role:
    """Like ``check`` for the actions on the record (extend, reassign, delegate...)."""
    roles = roles_of(person_id, view, now)
    allowed = MAY_RECORD[action] & roles
    # Whoever stepped aside is told so even though the case's calibrator role has passed
    # on to someone else (the cycle's calibrator on their own evaluation holds none).
    if action in DECIDING_RECORDS and (
            person_id in view.recused or (allowed and person_id == view.reviewee_id)):
        raise Recused(view.id, person_id, action, "it is their own evaluation or one they "
                      "have a conflict of interest with; the next person up calibrates it")
    if not allowed:
        needed = ", ".join(sorted(r.value for r in MAY_RECORD[action]))
        raise NotPermitted(view.id, person_id, action, f"it needs the role {needed}")
    return sorted(allowed)[0]
