"""The petition (kiến nghị) rules of a regime, as validated data. Pure.

A regime file's ``petition:`` section says how a person may contest their result:
what starts the window (the result's notification to the person, or its publication
in the unit), how long the window lasts and how long the resolution may take (in
calendar days or working days of the cycle's holiday calendar), who resolves it (the
evaluator's direct superior, or the evaluator), whether a decision can be reviewed
again, and whether a cycle file may set its own window and resolution time
(``phases.appeal_window`` / ``phases.appeal_review``) instead of the regime's.

The engine turns these rules into the appeal_window and appeal_review phases of a
cycle (``workflow.petition``), so the deadlines, reminders, the simulation of
`kpi cycle check` and the emails all follow them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PetitionTime(_Strict):
    """A length of time: exactly one of ``days`` (calendar days) or ``working_days``.

    A period in calendar days that ends on a day off ends on the next working day
    (as the other deadlines do, and ``kpi cycle check`` says so).
    """

    days: int | None = Field(default=None, ge=1, le=90)
    working_days: int | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _one_unit(self) -> PetitionTime:
        if (self.days is None) == (self.working_days is None):
            raise ValueError("give exactly one of days (calendar days) or working_days "
                             "(working days of the cycle's holiday calendar), e.g. {days: 5} "
                             "or {working_days: 10}")
        return self

    def describe(self) -> str:
        """``5 days`` / ``10 working days``: how `kpi cycle check` says it."""
        if self.days is not None:
            return f"{self.days} day{'s' if self.days != 1 else ''}"
        return f"{self.working_days} working day{'s' if self.working_days != 1 else ''}"


class PetitionRules(_Strict):
    """How a result is contested under a regime (the petition, kiến nghị)."""

    # notification: the window starts when the person is told their result (the
    # evaluation enters appeal_window); publication: when the results of the person's
    # unit are published (every evaluation of the unit has its result).
    starts: Literal["notification", "publication"] = "notification"
    window: PetitionTime
    resolution: PetitionTime
    # evaluator_superior: the direct superior of whoever gave the score (or the
    # council a cycle file names), never the scorer. evaluator: the one who classified
    # decides the petition against their own classification (Decree 90's rule; the Law
    # on Public Employees lets the person choose, this engine takes the authority); the
    # scorer then reviews, and only if they may not (their own evaluation, a conflict of
    # interest) the case goes up the line as with evaluator_superior.
    resolved_by: Literal["evaluator_superior", "evaluator"] = "evaluator_superior"
    # Whether the petition's decision may be petitioned again. The engine decides a
    # petition once (appeal_review ends finalised): a regime that allows a second
    # review is refused on load rather than silently run as if it did not.
    re_review: bool = False
    # Whether a cycle file may set its own phases.appeal_window / appeal_review (the
    # regime's rules are then the default); false: the law fixes them, and a cycle
    # file that sets them is refused with a message saying so.
    cycle_may_override: bool = False
    # Where each rule comes from, and what could not be verified (free text, shown by
    # `kpi cycle check`; the file's comments say the same at each key).
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()

    @field_validator("re_review")
    @classmethod
    def _once(cls, v: bool) -> bool:
        if v:
            raise ValueError("true is not supported: this engine decides a petition once "
                             "(the decision finalises the evaluation); write false, a further "
                             "complaint then goes outside the engine (Law on Complaints)")
        return v

    def describe(self) -> str:
        """One line for `kpi cycle check`."""
        start = "its notification" if self.starts == "notification" else \
            "the publication of the unit's results"
        who = "the scorer's direct superior" if self.resolved_by == "evaluator_superior" \
            else "the one who classified it (the scorer)"
        return (f"petition within {self.window.describe()} of {start}, resolved within "
                f"{self.resolution.describe()} by {who}"
                f"{'' if self.re_review else ', no re-review'}")


class PublicationRules(_Strict):
    """What the publication of a unit's results shows its members: each person's
    name, position and class, and their score when ``show_score`` is true."""

    show_score: bool = False


PetitionStart = Literal["notification", "publication"]
