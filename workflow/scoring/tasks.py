"""Decree 335 Art 14: the task results of a period over its assigned items. Pure.

- quantity = items completed / items assigned;
- quality = completed items meeting the content requirements / items assigned, an
  item losing ``quality_deduction_per_failed_assessment`` (25%) of its quality
  point for each failed assessment;
- progress = completed items on time / items assigned, an item losing
  ``progress_deduction_per_delay`` (25%) of its progress point for each delay;
- a deduction is waived only for an objective cause confirmed by a named approver
  with a reason; a waiver without both is ignored, and the breakdown says so; the
  approver is a person allowed to confirm it (``confirm_waivers``: a leader or deputy
  above the reviewee, or one the regime names; the service works out who);
- the task score is the mean of the three.

Exact fractions throughout: a third stays a third until it is shown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from workflow.catalog import N_
from workflow.errors import Problem

ZERO = Fraction(0)
ONE = Fraction(1)


@dataclass(frozen=True)
class Waiver:
    """A deduction waived for an objective cause, confirmed by a named approver."""

    approver: str
    reason: str
    approver_id: str = ""  # the employee id the approver was recognised as (empty: older)

    @property
    def valid(self) -> bool:
        return bool(self.approver.strip()) and bool(self.reason.strip())


@dataclass(frozen=True)
class TaskItem:
    """One assigned product or work item of the period (Decree 335, Art 14)."""

    title: str
    completed: bool
    meets_requirements: bool = False
    failed_assessments: int = 0
    delays: int = 0
    quality_waiver: Waiver | None = None
    progress_waiver: Waiver | None = None


NoteKind = Literal["not_completed", "not_meeting", "quality_deduction", "progress_deduction",
                   "quality_waived", "progress_waived", "quality_waiver_ignored",
                   "progress_waiver_ignored"]


@dataclass(frozen=True)
class ItemNote:
    """Why one item did not earn its full point in quality or progress (or was spared)."""

    item: int  # 1-based position in the list
    title: str
    kind: NoteKind
    count: int = 0  # failed assessments or delays
    share_lost: Fraction = ZERO  # of the item's quality or progress point
    approver: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TasksResult:
    assigned: int
    completed: int
    meeting: int  # completed and meeting the requirements
    quantity: Fraction  # each 0..1
    quality: Fraction
    progress: Fraction
    notes: tuple[ItemNote, ...]

    @property
    def mean(self) -> Fraction:
        return (self.quantity + self.quality + self.progress) / 3


_KINDS: dict[str, tuple[NoteKind, NoteKind, NoteKind]] = {
    "quality": ("quality_waived", "quality_waiver_ignored", "quality_deduction"),
    "progress": ("progress_waived", "progress_waiver_ignored", "progress_deduction"),
}


def _deduction(item: TaskItem, n: int, count: int, per: Fraction, waiver: Waiver | None,
               what: Literal["quality", "progress"], notes: list[ItemNote]) -> Fraction:
    """The item's quality or progress point after ``count`` deductions of ``per`` each."""
    if count == 0:
        return ONE
    waived, ignored, deducted = _KINDS[what]
    if waiver is not None and waiver.valid:
        notes.append(ItemNote(n, item.title, waived, count, ZERO, waiver.approver.strip(),
                              waiver.reason.strip()))
        return ONE
    if waiver is not None:
        notes.append(ItemNote(n, item.title, ignored, count))
    kept = max(ZERO, ONE - per * count)
    notes.append(ItemNote(n, item.title, deducted, count, ONE - kept))
    return kept


@dataclass(frozen=True)
class Approver:
    """Someone who may confirm a deduction waiver for the reviewee."""

    person_id: str
    full_name: str


WAIVER_KINDS = ("quality_waiver", "progress_waiver")
APPROVER_NOT_ALLOWED = N_(
    "item %(n)s «%(title)s»: “%(given)s” may not confirm this waiver: a waiver is confirmed "
    "by a leader or deputy above the person evaluated, or by someone the regime names; here "
    "that is %(allowed)s (write the name or the employee id)")
APPROVER_AMBIGUOUS = N_(
    "item %(n)s «%(title)s»: “%(given)s” names more than one person who may confirm this "
    "waiver (%(allowed)s): write the employee id")
NOBODY_APPROVES = N_(
    "item %(n)s «%(title)s»: nobody may confirm a waiver for this person (no leader or deputy "
    "above them in the organisation, and the regime names nobody): leave the waiver out, or "
    "ask the HR administrator")


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split())).casefold()


def confirm_waivers(items: Sequence[Mapping[str, Any]], may_approve: Sequence[Approver]
                    ) -> tuple[list[dict[str, Any]], dict[str, Problem]]:
    """The validated items with each waiver's approver recognised, and the problems.

    An approver is written as an employee id or a full name (case and spacing aside) of
    someone in ``may_approve``; a recognised one is stored with that person's name and
    id, so the breakdown names them however they were typed. A name two of them share
    must be written as the id.
    """
    by_id = {_key(a.person_id): a for a in may_approve}
    by_name: dict[str, list[Approver]] = {}
    for a in may_approve:
        by_name.setdefault(_key(a.full_name), []).append(a)
    allowed = ", ".join(f"{a.full_name} ({a.person_id})" for a in may_approve)
    problems: dict[str, Problem] = {}
    out: list[dict[str, Any]] = []
    for i, given_item in enumerate(items):
        item = dict(given_item)
        for kind in WAIVER_KINDS:
            waiver = item.get(kind)
            if not waiver:
                continue
            given = str(waiver.get("approver") or "")
            field = f"tasks[{i}].{kind}.approver"
            named = {"n": i + 1, "title": item.get("title", ""), "given": given.strip()}
            found = by_id.get(_key(given))
            matches = [found] if found else by_name.get(_key(given), [])
            if not may_approve:
                problems[field] = Problem(NOBODY_APPROVES, **named)
            elif len(matches) > 1:
                problems[field] = Problem(APPROVER_AMBIGUOUS, allowed=", ".join(
                    f"{a.full_name} ({a.person_id})" for a in matches), **named)
            elif not matches:
                problems[field] = Problem(APPROVER_NOT_ALLOWED, allowed=allowed, **named)
            else:
                item[kind] = {**waiver, "approver": matches[0].full_name,
                              "approver_id": matches[0].person_id}
        out.append(item)
    return out, problems


def task_results(items: Sequence[TaskItem], quality_deduction: Fraction,
                 progress_deduction: Fraction) -> TasksResult:
    """Quantity, quality and progress (each 0..1) of a non-empty list of assigned items."""
    if not items:
        raise ValueError("task_results needs at least one assigned item")
    notes: list[ItemNote] = []
    completed = meeting = 0
    # Most items keep their whole point: those are counted as integers, and only the
    # deducted points are added as Fractions (each Fraction sum reduces by a gcd).
    whole_quality = whole_progress = 0
    quality_parts: list[Fraction] = []
    progress_parts: list[Fraction] = []
    for n, item in enumerate(items, 1):
        if not item.completed:
            notes.append(ItemNote(n, item.title, "not_completed"))
            continue
        completed += 1
        if item.meets_requirements:
            meeting += 1
            point = _deduction(item, n, item.failed_assessments, quality_deduction,
                               item.quality_waiver, "quality", notes)
            if point is ONE:
                whole_quality += 1
            else:
                quality_parts.append(point)
        else:
            notes.append(ItemNote(n, item.title, "not_meeting"))
        point = _deduction(item, n, item.delays, progress_deduction, item.progress_waiver,
                           "progress", notes)
        if point is ONE:
            whole_progress += 1
        else:
            progress_parts.append(point)
    assigned = len(items)
    quality = sum(quality_parts, Fraction(whole_quality))
    progress = sum(progress_parts, Fraction(whole_progress))
    return TasksResult(assigned, completed, meeting, Fraction(completed, assigned),
                       quality / assigned, progress / assigned, tuple(notes))
