"""The losing side of a race: what was recorded first, told to the one whose
submission was not (issue 15, item 5).

Two people may submit the same step at once (a supervisor and an acting supervisor,
an appeal reviewer and an admin), or one person twice (two tabs, a double click).
The compare-and-set keeps the first and refuses the second with nothing stored
(``LinkUsed``, ``LinkClosed`` or ``EvaluationAlreadyChanged``, depending on how far
the second had got when the first committed). Those say "already submitted" or "moved
on"; the loser, whose values were discarded, is owed more: that another submission
was recorded first, by whom and when as far as their role may know, and what was
kept. ``first_recorded`` reads exactly that, in one read transaction.

Who may know: a peer sees only their own input (another peer's is never read here);
everyone else sees the author's name (the people who may score or decide one
evaluation are named to each other on the record anyway) or "you".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from workflow.domain import State, SubmissionKind, Trigger
from workflow.errors import EvaluationAlreadyChanged, KpiError, NotPermitted
from workflow.service.access import LinkClosed, LinkUsed
from workflow.service.core import Service
from workflow.service.notices import hash_token
from workflow.service.transition import SUBMISSION_OF
from workflow.store.tables import EVALUATION, PERSON, SUBMISSION, TOKEN

# What each task link submits (workflow.service.access's actions).
KINDS_OF_ACTION: Mapping[str, tuple[SubmissionKind, ...]] = {
    "self_assessment": (SubmissionKind.SELF_ASSESSMENT,),
    "peer_input": (SubmissionKind.PEER_INPUT,),
    "score": (SubmissionKind.SUPERVISOR_SCORE,),
    "respond": (SubmissionKind.ACCEPTANCE, SubmissionKind.APPEAL),
    "appeal_review": (SubmissionKind.APPEAL_DECISION,),
}


@dataclass(frozen=True)
class FirstRecorded:
    """The submission that was kept when the reader's own was not."""

    evaluation_id: int
    kind: SubmissionKind
    submitted_at: datetime
    by_reader: bool  # the reader's own earlier submission (another tab, a double click)
    author_id: str | None  # None when the reader's role may not know who
    author_name: str | None
    payload: Mapping[str, Any]  # what was kept, as validated and stored
    state: State  # where the evaluation is now
    score: str | None  # the evaluation's score and class now
    class_id: str | None

    @property
    def decision(self) -> str | None:
        """For an appeal decision: ``uphold_score`` or ``revise_score``."""
        value = self.payload.get("decision")
        return str(value) if value else None


def first_recorded(svc: Service, evaluation_id: int, kinds: Sequence[SubmissionKind],
                   reader_id: str) -> FirstRecorded | None:
    """The newest submission of ``kinds`` on the evaluation, as ``reader_id`` may see it;
    None when there is none (the refusal was about something else)."""
    with svc.store.read() as session:
        query = (select(SUBMISSION.c.kind, SUBMISSION.c.author_id, SUBMISSION.c.payload,
                        SUBMISSION.c.submitted_at)
                 .where(SUBMISSION.c.evaluation_id == evaluation_id,
                        SUBMISSION.c.kind.in_([k.value for k in kinds]))
                 .order_by(SUBMISSION.c.id.desc()).limit(1))
        peer = tuple(kinds) == (SubmissionKind.PEER_INPUT,)
        if peer:  # a peer's answer is anonymous: only the reader's own is ever read
            query = query.where(SUBMISSION.c.author_id == reader_id)
        kept = session.execute(query).first()
        if kept is None:
            return None
        ev = session.execute(select(EVALUATION.c.state, EVALUATION.c.score,
                                    EVALUATION.c.score_class, EVALUATION.c.final_class)
                             .where(EVALUATION.c.id == evaluation_id)).one()
        by_reader = kept.author_id == reader_id
        name = None if by_reader or peer else session.execute(
            select(PERSON.c.full_name).where(PERSON.c.id == kept.author_id)).scalar()
    return FirstRecorded(evaluation_id, SubmissionKind(kept.kind), kept.submitted_at,
                         by_reader, None if peer else kept.author_id, name,
                         dict(kept.payload or {}), State(ev.state),
                         ev.score, ev.final_class or ev.score_class)


def first_recorded_for_link(svc: Service, raw_token: str) -> FirstRecorded | None:
    """``first_recorded`` for what a task link submits, as its holder may see it; None
    for an unknown link, a sign-in link, or when nothing of its kind was submitted."""
    if not raw_token or not raw_token.isascii() or len(raw_token) > 200:
        return None
    with svc.store.read() as session:
        token = session.execute(
            select(TOKEN.c.evaluation_id, TOKEN.c.person_id, TOKEN.c.action)
            .where(TOKEN.c.token_hash == hash_token(raw_token))).first()
    if token is None or token.evaluation_id is None or token.action not in KINDS_OF_ACTION:
        return None
    return first_recorded(svc, token.evaluation_id, KINDS_OF_ACTION[token.action],
                          token.person_id)


def first_recorded_for_trigger(svc: Service, evaluation_id: int, trigger: Trigger,
                               actor_id: str) -> FirstRecorded | None:
    """``first_recorded`` for what ``trigger`` submits (`kpi act`); None for a trigger
    that submits nothing (cancel, reopen...)."""
    kind = SUBMISSION_OF.get(trigger)
    if kind is None:
        return None
    kinds = KINDS_OF_ACTION["respond"] if kind in KINDS_OF_ACTION["respond"] else (kind,)
    return first_recorded(svc, evaluation_id, kinds, actor_id)


# The refusals a race's loser gets, depending on how far their transaction had got when
# the first one committed: the link used, the step left, the compare-and-set missed,
# or (a peer's second answer, read after the first) no longer a pending peer.
RACE_REFUSALS = (LinkUsed, LinkClosed, EvaluationAlreadyChanged, NotPermitted)


def explains(exc: KpiError, kept: FirstRecorded | None) -> bool:
    """Whether ``kept`` is why ``exc`` refused the reader: another submission of the
    step was recorded first. A refusal of the reader's role is one only when the first
    submission was the reader's own (a role taken away is said as such)."""
    if kept is None or not isinstance(exc, RACE_REFUSALS):
        return False
    return kept.by_reader or not isinstance(exc, NotPermitted)
