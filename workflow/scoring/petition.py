"""The petition (kiến nghị) rules of a regime, as validated data. Pure.

A regime file's ``petition:`` section says how a person may contest their result:
what starts the window (the result's notification to the person, or its publication
in the unit), how long the window lasts and how long the resolution may take (in
calendar days or working days of the cycle's holiday calendar), who resolves it (the
evaluator's direct superior, or the evaluator), whether a decision can be reviewed
again (``re_review``, up to ``re_review_limit`` times), and whether a cycle file may
set its own window and resolution time (``phases.appeal_window`` /
``phases.appeal_review``) instead of the regime's.

The engine turns these rules into the appeal_window and appeal_review phases of a
cycle (``workflow.petition``), so the deadlines, reminders, the simulation of
`kpi cycle check` and the emails all follow them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    # Whether the petition's decision may be petitioned again: the evaluation then goes
    # back to a fresh petition window (same length, from the decision's notification)
    # instead of finalising, and the next person up from whoever decided reviews it.
    re_review: bool = False
    # How many further reviews a person may ask for (with re_review: true).
    re_review_limit: int | None = Field(default=None, ge=1, le=5)
    # Whether a cycle file may set its own phases.appeal_window / appeal_review (the
    # regime's rules are then the default); false: the law fixes them, and a cycle
    # file that sets them is refused with a message saying so.
    cycle_may_override: bool = False
    # Where each rule comes from, and what could not be verified (free text, shown by
    # `kpi cycle check`; the file's comments say the same at each key).
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _limit_needs_re_review(self) -> PetitionRules:
        if self.re_review_limit is not None and not self.re_review:
            raise ValueError("re_review_limit is set but re_review is false: write "
                             "re_review: true to let a decision be reviewed again, or remove "
                             "re_review_limit")
        return self

    @property
    def further_reviews(self) -> int:
        """How many times a petition's decision may itself be petitioned (0: never)."""
        if not self.re_review:
            return 0
        return self.re_review_limit or 1

    def describe(self) -> str:
        """One line for `kpi cycle check`."""
        start = "its notification" if self.starts == "notification" else \
            "the publication of the unit's results"
        who = "the scorer's direct superior" if self.resolved_by == "evaluator_superior" \
            else "the one who classified it (the scorer)"
        again = ", no re-review"
        if self.further_reviews:
            times = "once" if self.further_reviews == 1 else f"up to {self.further_reviews} times"
            again = (f"; the decision may be petitioned again {times}, within "
                     f"{self.window.describe()} of the decision's notification, and is then "
                     "reviewed by the direct superior of whoever decided it")
        return (f"petition within {self.window.describe()} of {start}, resolved within "
                f"{self.resolution.describe()} by {who}{again}")


class PublicationRules(_Strict):
    """What the publication of a unit's results shows its members: each person's
    name, position and class, and their score when ``show_score`` is true."""

    show_score: bool = False


PetitionStart = Literal["notification", "publication"]
