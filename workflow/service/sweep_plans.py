"""The sweep's deadline moves, planned once per shape of evaluation.

A sweep round past a deadline moves hundreds of evaluations of one cycle with the
same trigger at the same instant: into the same phase, with the same dates, deadline
rows and notices, differing only in whose they are. ``transition.plan`` (and the
effects core it calls) decides for the first evaluation of each shape; the others
get that change with their own ids and people. Their emails are made again by
``make_mail`` for their own recipients, so each gets a fresh personal link and its
own digest timing; their deadline rows and audit rows are the first's with the ids
swapped. At 20,000 evaluations ``plan`` per evaluation was about half of a sweep
(issue 16).

A shape is shared only where swapping the ids is the whole difference, and that is
checked rather than assumed:
- the key holds every column of the evaluation but those that name it or its people,
  the reviewee's and the supervisor's time zones (reminders fire at their local
  hour), the rules object, the calibrator and the admins;
- an evaluation with assignments (peers, delegates, escalation supervisors,
  recusals), without a supervisor, or scored by themselves is never shared;
- the first change must name nobody and nothing of its own but the evaluation, its
  reviewee and its supervisor (no result emails, submissions or assignments), and
  rebinding it to itself must give back exactly what ``plan`` made. Otherwise every
  evaluation of that shape is planned on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from workflow.domain import State
from workflow.evaluation_rows import EvaluationRecord
from workflow.service.change import Change
from workflow.service.core import PersonInfo, Service, Snapshot
from workflow.service.notices import mail_like
from workflow.store.audit import AuditEntry

# Columns that name the evaluation or its people: what a shared change swaps.
OWN_COLUMNS = frozenset({"id", "reviewee_id", "supervisor_id", "unit_id", "version",
                         "created_at", "updated_at"})
# The context keys make_mail fills in for each recipient.
PERSONAL_CONTEXT = frozenset({"action_url", "publication_url", "recipient_name",
                              "noticed_at"})
# Context keys that name the evaluation or its reviewee (base_context).
OWN_CONTEXT = frozenset({"evaluation_id", "reviewee_id", "reviewee_name"})
# Result emails carry the score, its breakdown and the class note: never shared.
RESULT_STATES = frozenset({State.APPEAL_WINDOW, State.FINALISED, State.APPEAL_REVIEW})

Planner = Callable[[Snapshot], Change]


class SharedPlans:
    """``plan`` for the deadline moves of one round, shared between evaluations of
    one shape (see the module's docstring)."""

    def __init__(self, svc: Service, people: Mapping[str, PersonInfo]) -> None:
        self.svc, self.people = svc, people
        # shape -> (the snapshot planned, its change), or None: not shareable
        self.known: dict[Hashable, tuple[Snapshot, Change] | None] = {}
        self.shared = 0  # changes made by rebinding (for the notes and the tests)

    def plan(self, snap: Snapshot, trigger: str, entered_at: datetime,
             planner: Planner) -> Change:
        """The change ``planner(snap)`` would make, rebound from an earlier one of the
        same shape when there is one."""
        key = self._shape(snap, trigger, entered_at)
        if key is None:
            return planner(snap)
        if key in self.known:
            found = self.known[key]
            if found is None:
                return planner(snap)
            self.shared += 1
            return self._rebound(*found, snap)
        change = planner(snap)
        self.known[key] = (snap, change) if self._shareable(snap, change) else None
        return change

    def _shape(self, snap: Snapshot, trigger: str, entered_at: datetime) -> Hashable | None:
        row = snap.row
        reviewee = self.people.get(row.reviewee_id)
        supervisor = self.people.get(row.supervisor_id or "")
        if (snap.assignments or reviewee is None or supervisor is None
                or reviewee.id == supervisor.id or not (reviewee.active and supervisor.active)):
            return None
        columns = _shared_columns(row._fields)(row)
        view = snap.view
        key = (trigger, entered_at, columns, reviewee.timezone, supervisor.timezone,
               id(snap.rules), view.calibrator_id, view.admins, view.scoped_admins)
        try:
            hash(key)
        except TypeError:  # a JSON column holds a value (a score stamp): not a shape
            return None
        return key

    def _shareable(self, snap: Snapshot, change: Change) -> bool:
        """Whether ``change`` names nothing of ``snap``'s own beyond what a rebinding
        swaps, and rebinding it to ``snap`` itself makes it again."""
        row = snap.row
        own_people = {row.reviewee_id, row.supervisor_id}
        if (change.submission or change.new_assignments or change.assignment_status
                or change.to_state in RESULT_STATES):
            return False
        if any(t["evaluation_id"] != snap.id or t["recipient_id"] not in (*own_people, None)
               for t in change.timers):
            return False
        if any(a.evaluation_id != snap.id or a.payload is not None for a in change.audit):
            return False
        assert row.supervisor_id is not None  # a shape has a supervisor (_shape)
        reviewee, supervisor = (self.people[p] for p in (row.reviewee_id,
                                                          row.supervisor_id))
        personal = {*own_people, row.unit_id, reviewee.full_name, supervisor.full_name,
                    reviewee.email, supervisor.email}
        if personal & {v for v in change.values.values() if isinstance(v, str)}:
            return False
        linked = [r for r in change.mail.outbox if r["context"].get("action_url")]
        if len(linked) != len(change.mail.tokens) or any(
                t["person_id"] != r["recipient_id"] or t["evaluation_id"] != snap.id
                for r, t in zip(linked, change.mail.tokens, strict=False)):
            return False  # a link that is not the task link of its email
        for r in change.mail.outbox:
            ctx = r["context"]
            if r["recipient_id"] not in own_people or ctx.get("publication_url"):
                return False
            if r["dedupe_key"] != _dedupe_key(snap, r["event"], r["recipient_id"]):
                return False
            if any(isinstance(v, str) and v in personal for k, v in ctx.items()
                   if k not in PERSONAL_CONTEXT and k not in OWN_CONTEXT):
                return False
        again = self._rebound(snap, change, snap)
        return bool(_comparable(again) == _comparable(change))

    def _rebound(self, was_snap: Snapshot, was: Change, snap: Snapshot) -> Change:
        """``was`` (planned for ``was_snap``) made ``snap``'s."""
        row = snap.row
        # Both have a supervisor: they have a shape (_shape).
        assert row.supervisor_id is not None and was_snap.row.supervisor_id is not None
        whose = {was_snap.row.reviewee_id: row.reviewee_id,
                 was_snap.row.supervisor_id: row.supervisor_id}
        change = Change(
            snap.id, row.cycle_id, snap.version, was.from_state, was.to_state, was.action,
            was.actor_id, was.role, was.at, dict(was.values),
            timers=[{**t, "evaluation_id": snap.id,
                     "recipient_id": whose.get(t["recipient_id"], t["recipient_id"])}
                    for t in was.timers],
            audit=[AuditEntry(**{**a.__dict__, "evaluation_id": snap.id}) for a in was.audit],
            cancel_kinds=was.cancel_kinds)
        reviewee = self.people[row.reviewee_id]
        tokens = iter(was.mail.tokens)
        for r in was.mail.outbox:
            person = self.people[whose[r["recipient_id"]]]
            # The time zone, the status and the digest instant are the first's: the
            # shape holds both people's zones, and the roles stay the same.
            again, link = mail_like(
                self.svc, r, next(tokens) if r["context"].get("action_url") else None,
                person=person, evaluation_id=snap.id,
                dedupe_key=_dedupe_key(snap, r["event"], person.id),
                context={"evaluation_id": snap.id, "reviewee_id": reviewee.id,
                         "reviewee_name": reviewee.full_name})
            change.mail.outbox.append(again)
            if link is not None:
                change.mail.tokens.append(link)
        return change


@lru_cache(maxsize=16)
def _shared_columns(names: tuple[str, ...]) -> Callable[[EvaluationRecord], Any]:
    """The getter of a row's columns that a shape holds (all rows of a table have the
    same names: made once)."""
    return itemgetter(*(i for i, n in enumerate(names) if n not in OWN_COLUMNS))


def _dedupe_key(snap: Snapshot, event: str, person_id: str) -> str:
    """The key ``transition.plan`` gives a notice of the change to version + 1."""
    return f"ev:{snap.id}:v{snap.version + 1}:{event}:{person_id}"


def _comparable(change: Change) -> Any:
    """A change without its random parts (the raw links and their hashes)."""
    outbox = [{**r, "context": {k: v for k, v in r["context"].items() if k != "action_url"},
               "has_link": bool(r["context"].get("action_url"))} for r in change.mail.outbox]
    tokens = [{k: v for k, v in t.items() if k != "token_hash"} for t in change.mail.tokens]
    return (change.__dict__ | {"mail": None}, outbox, tokens)
