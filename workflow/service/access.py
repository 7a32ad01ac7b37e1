"""Personal links: resolving a task link, acting through it once, signing in by email.

A task email carries ``{base_url}/t/{raw}``; only ``sha256(raw)`` is stored, with the
person, the evaluation, the role and the action it grants and when it expires. A link
is good only while its evaluation is still in the phase the link was made for, before
its expiry, and until the form it opens has been submitted: acting through the link
marks it used in the same transaction as the change it made, so a second submission
of the same form finds it used and nothing more is stored.

Supervisors, calibrators, appeal reviewers and admins can also ask for a sign-in
link by email (outbox event ``sign_in``); using it once starts a session in the web
app. Asking never says whether an address is known.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlmodel import Session

from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, SCORER_ROLES, Role, State, Trigger
from workflow.errors import KpiError, WorkflowError
from workflow.evaluation_rows import EvaluationRecord
from workflow.permissions import roles_of
from workflow.recusal import CALIBRATOR_INSTEAD
from workflow.service.core import (
    PersonInfo,
    Service,
    load_people,
    load_snapshot,
    load_snapshots,
)
from workflow.service.notices import (
    PUBLICATION_ACTION,
    STATE_ACTIONS,
    hash_token,
    make_mail,
)
from workflow.service.transition import Outcome, plan, write, write_mail
from workflow.states import SPECS
from workflow.store.results import rows_matched
from workflow.store.tables import ASSIGNMENT, CYCLE, DRAFT, EVALUATION, OUTBOX, PERSON, TOKEN

SIGN_IN_ACTION = "sign_in"
SIGN_IN_ROLE = "session"
SIGN_IN_LIFETIME = timedelta(minutes=20)
# At most one sign-in email per person in this window, however often it is asked for.
SIGN_IN_THROTTLE = timedelta(minutes=2)
MAX_RAW_TOKEN = 200

# The state each task action belongs to: a link is good only while its evaluation is there.
ACTION_STATE: Mapping[str, State] = {action: state
                                     for state, (action, _role) in STATE_ACTIONS.items()}
# Triggers a link may fire, per action.
ACTION_TRIGGERS: Mapping[str, frozenset[Trigger]] = {
    "self_assessment": frozenset({Trigger.SUBMIT_SELF_ASSESSMENT}),
    "peer_input": frozenset({Trigger.SUBMIT_PEER_INPUT}),
    "score": frozenset({Trigger.SUBMIT_SCORE}),
    "respond": frozenset({Trigger.ACCEPT_RESULT, Trigger.LODGE_APPEAL}),
    "appeal_review": frozenset({Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE}),
}
# The roles that may open a task link, per action, checked with ``roles_of`` when the
# link is opened (as the session pages check them): a supervisor reassigned away, an
# acting supervisor whose delegation ended, a peer withdrawn, hold none of them any more.
ACTION_ROLES: Mapping[str, frozenset[Role]] = {
    "self_assessment": frozenset({Role.REVIEWEE}),
    "peer_input": frozenset({Role.PEER}),
    "score": SCORER_ROLES,
    "respond": frozenset({Role.REVIEWEE}),
    "appeal_review": frozenset({Role.APPEAL_REVIEWER}),
}


# --- errors -------------------------------------------------------------------------


class LinkError(KpiError):
    """A personal link cannot be used; the message says why and what to do."""

    status_code = 403
    reason = "invalid"
    user_message = N_("This link is not valid: it may be mistyped or cut. Open it again "
                      "from the email.")


class LinkUnknown(LinkError):
    status_code = 404
    reason = "unknown"
    default_message = ("this link is not valid: it may have been mistyped or cut; open it "
                       "again from the email")


class LinkExpired(LinkError):
    status_code = 410
    reason = "expired"
    user_message = N_("This link expired on %(when)s. Please ask the HR administrator for a "
                      "new one.")

    def user_params(self) -> dict[str, object]:
        return {"when": self.expired_at}

    def __init__(self, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(f"this link expired on {expired_at:%Y-%m-%d %H:%M} UTC; ask your "
                         "HR administrator for a new one")


class LinkUsed(LinkError):
    status_code = 410
    reason = "used"
    user_message = N_("This form was already submitted on %(when)s; it cannot be submitted "
                      "again through this link. Nothing more to do.")

    def user_params(self) -> dict[str, object]:
        return {"when": self.used_at}

    def __init__(self, used_at: datetime) -> None:
        self.used_at = used_at
        super().__init__(f"this link was already used on {used_at:%Y-%m-%d %H:%M} UTC: the "
                         "form was submitted and cannot be submitted again")


class LinkClosed(LinkError):
    """The evaluation has left the phase the link was made for."""

    status_code = 410
    reason = "closed"
    user_message = N_("This task is closed: the evaluation has moved on to “%(state)s”.")

    def user_params(self) -> dict[str, object]:
        try:
            return {"state": State(self.state)}
        except ValueError:
            return {"state": self.state}

    def __init__(self, evaluation_id: int | None, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        super().__init__(f"this task is closed: evaluation {evaluation_id} is now in {state}")


class LinkRevoked(LinkError):
    """The holder no longer has the role the link was made for, or the phase it was made
    in was left and entered again (an admin's reopening): the link is dead for good."""

    reason = "revoked"

    def __init__(self, evaluation_id: int, person_id: str, action: str) -> None:
        self.evaluation_id = evaluation_id
        super().__init__(f"this link no longer works: {person_id} no longer holds the role "
                         f"its task ({action}) on evaluation {evaluation_id} needs, or the task "
                         "was given out again since; use the newest email, or ask the HR "
                         "administrator")


class LinkMismatch(LinkError):
    """The form names another evaluation or action than the link grants."""

    reason = "mismatch"
    user_message = N_("This link belongs to another evaluation or task; nothing was saved.")
    default_message = ("this link belongs to another evaluation or task; nothing was saved. "
                       "Open the link from your own email")


class DeadlinePassed(WorkflowError):
    """The phase's deadline has passed; the clock moves it on, people no longer can."""

    user_message = N_("The deadline passed on %(when)s; nothing was saved.")

    def user_params(self) -> dict[str, object]:
        return {"when": self.due_at}

    def __init__(self, evaluation_id: int, due_at: datetime) -> None:
        self.evaluation_id = evaluation_id
        self.due_at = due_at
        super().__init__(f"evaluation {evaluation_id}: the deadline passed on "
                         f"{due_at:%Y-%m-%d %H:%M} UTC; nothing was saved")


# --- resolving ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a valid link lets its holder do."""

    token_id: int
    person_id: str
    evaluation_id: int | None
    role: str
    action: str
    expires_at: datetime
    used_at: datetime | None
    person: PersonInfo


def _lookup(session: Session, raw: str) -> dict[str, Any]:
    if not raw or len(raw) > MAX_RAW_TOKEN or not raw.isascii():
        raise LinkUnknown()
    row = session.execute(select(TOKEN).where(TOKEN.c.token_hash == hash_token(raw))).first()
    if row is None:
        raise LinkUnknown()
    return dict(row._mapping)


def _check(svc: Service, session: Session, row: Mapping[str, Any], now: datetime, *,
           allow_used: bool) -> Grant:
    if row["used_at"] is not None and not allow_used:
        raise LinkUsed(row["used_at"])
    if row["expires_at"] <= now:
        raise LinkExpired(row["expires_at"])
    person = load_people(session, [row["person_id"]]).get(row["person_id"])
    if person is None or not person.active:
        raise LinkUnknown("this link belongs to a person who is no longer in the organisation")
    grant = Grant(row["id"], row["person_id"], row["evaluation_id"], row["role"],
                  row["action"], row["expires_at"], row["used_at"], person)
    wanted = ACTION_STATE.get(grant.action)
    if grant.evaluation_id is not None and wanted is not None:
        snaps = load_snapshots(svc, session, [grant.evaluation_id], lock=False)
        snap = snaps.get(grant.evaluation_id)
        if snap is None:
            raise LinkUnknown()
        if snap.state is not wanted:
            raise LinkClosed(grant.evaluation_id, snap.state.value)
        _check_holder(grant, snap.row, roles_of(grant.person_id, snap.view, now), row)
    if grant.action == PUBLICATION_ACTION:
        _check_member(session, grant)
    return grant


def _check_member(session: Session, grant: Grant) -> None:
    """A publication link opens the results of its holder's unit while they belong to
    it: moved to another unit (an organisation import), its holder reads them no more."""
    unit = session.execute(select(EVALUATION.c.unit_id).where(
        EVALUATION.c.id == grant.evaluation_id)).scalar()
    if unit is None:
        raise LinkUnknown()
    if unit != grant.person.unit_id:
        raise LinkRevoked(grant.evaluation_id or 0, grant.person_id, grant.action)


def _check_holder(grant: Grant, evaluation: EvaluationRecord, roles: frozenset[Role],
                  token: Mapping[str, Any]) -> None:
    """The holder still has the link's role now, and the link belongs to this round of
    the phase: one made before the phase was last entered (it was left, then an admin
    reopened it) does not come back to life."""
    allowed = ACTION_ROLES.get(grant.action, frozenset())
    if not roles & allowed or (grant.action == "score" and Role.REVIEWEE in roles):
        raise LinkRevoked(grant.evaluation_id or 0, grant.person_id, grant.action)
    if token["created_at"] < evaluation.phase_entered_at:
        raise LinkRevoked(grant.evaluation_id or 0, grant.person_id, grant.action)


def resolve(svc: Service, raw: str, *, now: datetime | None = None,
            allow_used: bool = False) -> Grant:
    """The grant of a task or sign-in link; LinkError (unknown, expired, used, closed)."""
    now = now or utc_now()
    with svc.store.read() as session:
        return _check(svc, session, _lookup(session, raw), now, allow_used=allow_used)


def _consume(session: Session, grant: Grant, now: datetime) -> None:
    done = session.execute(update(TOKEN).where(TOKEN.c.id == grant.token_id,
                                               TOKEN.c.used_at.is_(None))
                           .values(used_at=now))
    if rows_matched(done) != 1:
        raise LinkUsed(now)


def check_deadline(state: State, due_at: datetime | None, evaluation_id: int,
                   now: datetime) -> None:
    """People cannot act in a phase whose passing deadline moves the evaluation on."""
    deadline = SPECS[state].deadline
    if deadline is not None and deadline.moves_with is not None and due_at is not None \
            and now >= due_at:
        raise DeadlinePassed(evaluation_id, due_at)


def fire_by_link(svc: Service, raw: str, trigger: Trigger, payload: Mapping[str, Any] | None,
                 reason: str | None = None, *, evaluation_id: int | None = None,
                 now: datetime | None = None) -> Outcome:
    """Act through a task link: checks, the change and using up the link, in one transaction.

    ``evaluation_id`` is the evaluation the form was shown for; a form that names another
    one than the link grants is refused (LinkMismatch). Nothing is stored on any error.
    """
    now = now or utc_now()
    with svc.store.write() as session:
        grant = _check(svc, session, _lookup(session, raw), now, allow_used=False)
        if grant.evaluation_id is None or trigger not in ACTION_TRIGGERS.get(grant.action, ()) \
                or (evaluation_id is not None and evaluation_id != grant.evaluation_id):
            raise LinkMismatch()
        snap = load_snapshot(svc, session, grant.evaluation_id)
        check_deadline(snap.state, snap.row.due_at, snap.id, now)
        change = plan(svc, session, snap, trigger, grant.person_id, payload, reason, now=now,
                      expected_state=ACTION_STATE[grant.action])
        write(svc, session, [change])
        _consume(session, grant, now)
        session.execute(delete(DRAFT).where(DRAFT.c.evaluation_id == snap.id,
                                            DRAFT.c.author_id == grant.person_id))
    return Outcome(snap.id, change.from_state, change.to_state, snap.version + 1,
                   change.values.get("score"), change.values.get("final_class"))


def use_link(svc: Service, grant: Grant, *, now: datetime | None = None) -> None:
    """Mark a link used (after an action the link does not fire itself, e.g. calibration)."""
    now = now or utc_now()
    with svc.store.write() as session:
        _consume(session, grant, now)


# --- signing in ---------------------------------------------------------------------


def may_sign_in(session: Session, svc: Service, person_id: str) -> bool:
    """Whether the person has something to do that needs a session (not reviewees, peers).

    Every check runs whoever asks (no early return): the work, and so the time, of a
    sign-in request says nothing about who the address belongs to.
    """
    open_states = [s.value for s in OPEN_STATES]
    scorer = session.execute(select(EVALUATION.c.id).where(
        or_(EVALUATION.c.supervisor_id == person_id,
            EVALUATION.c.appeal_reviewer_id == person_id),
        EVALUATION.c.state.in_(open_states)).limit(1)).first()
    assigned = session.execute(select(ASSIGNMENT.c.id).where(
        ASSIGNMENT.c.person_id == person_id,
        ASSIGNMENT.c.role.in_([Role.ACTING_SUPERVISOR.value, Role.ESCALATION_SUPERVISOR.value,
                               CALIBRATOR_INSTEAD]),
        ASSIGNMENT.c.status != "withdrawn").limit(1)).first()
    calibrator = session.execute(select(CYCLE.c.id).where(CYCLE.c.calibrator_id == person_id)
                                 .limit(1)).first()
    cycle_admin = [person_id in svc.admins(svc.rules.get(session, cid))
                   for cid in session.execute(select(CYCLE.c.id)).scalars()]
    return (svc.is_any_admin(person_id) or scorer is not None or assigned is not None
            or calibrator is not None or any(cycle_admin))


# Who an unknown address is looked up as: no person has this id (ids are short codes).
NOBODY = PersonInfo("~nobody~", "", "", "vi", None, None, "", False)


def request_sign_in(svc: Service, email: str, *, now: datetime | None = None,
                    locale: str | None = None) -> bool:
    """Queue a sign-in link for the person with this address, if they may sign in.

    Returns whether an email was queued; the web app says the same thing either way,
    so nobody can learn from it which addresses are known. The same statements run,
    and the same link and mail are made, for a known and an unknown address: only
    whether the finished mail is stored differs.
    """
    now = now or utc_now()
    address = (email or "").strip().lower()
    if not address or len(address) > 320:
        return False
    with svc.store.write() as session:
        person_id = session.execute(select(PERSON.c.id).where(
            func.lower(PERSON.c.email) == address, PERSON.c.active.is_(True))).scalar()
        who = person_id or NOBODY.id
        allowed = may_sign_in(session, svc, who)
        recent = session.execute(select(OUTBOX.c.id).where(
            OUTBOX.c.event == SIGN_IN_ACTION, OUTBOX.c.recipient_id == who,
            OUTBOX.c.created_at > now - SIGN_IN_THROTTLE).limit(1)).first()
        person = load_people(session, [who]).get(who, NOBODY)
        mail = make_mail(
            svc, event=SIGN_IN_ACTION, person=person,
            dedupe_key=f"sign_in:{who}:{secrets.token_hex(8)}",
            context={"expires_at": (now + SIGN_IN_LIFETIME).isoformat(),
                     "minutes": int(SIGN_IN_LIFETIME.total_seconds() // 60)},
            now=now, evaluation_id=None, link=(SIGN_IN_ACTION, Role.ADMIN))
        # A sign-in link lives minutes, not a phase: its own role and expiry.
        for token in mail.tokens:
            token["role"] = SIGN_IN_ROLE
            token["expires_at"] = now + SIGN_IN_LIFETIME
        if person_id is None or not allowed:
            return False
        if recent is None:
            write_mail(session, mail)
    return True


def sign_in(svc: Service, raw: str, *, now: datetime | None = None) -> PersonInfo:
    """Use a sign-in link once; the person to start a session for."""
    now = now or utc_now()
    with svc.store.write() as session:
        grant = _check(svc, session, _lookup(session, raw), now, allow_used=False)
        if grant.action != SIGN_IN_ACTION:
            raise LinkMismatch("this is a task link, not a sign-in link; open it as it is")
        _consume(session, grant, now)
    return grant.person
