"""What the effects core reads, as protocols: the core imports no store.

The service's ``Snapshot``, ``PersonInfo`` and ``CycleRules`` fit these shapes, and
so do the pre-launch simulation's evaluations held in memory; the core cannot tell
them apart, which is the point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from workflow.calendar import WorkingCalendar
from workflow.cycle_config import CycleFile
from workflow.domain import State
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.permissions import EvaluationView


class PersonLike(Protocol):
    """A person as the deadlines see them: whom they report to, their clock, if active."""

    @property
    def supervisor_id(self) -> str | None: ...

    @property
    def timezone(self) -> str | None: ...

    @property
    def active(self) -> bool: ...


class RulesLike(Protocol):
    """The rules of one cycle that decide dates, timers and ladders."""

    @property
    def cycle_id(self) -> str: ...

    @property
    def config(self) -> CycleFile: ...

    @property
    def calendar(self) -> WorkingCalendar: ...

    @property
    def tz_name(self) -> str: ...

    @property
    def min_peer_responses(self) -> int: ...

    @property
    def petition_from_publication(self) -> bool: ...

    @property
    def further_reviews(self) -> int: ...


class EvaluationLike(Protocol):
    """One evaluation as read: its row, who may act, its assignments, its rules."""

    @property
    def row(self) -> EvaluationRecord: ...

    @property
    def view(self) -> EvaluationView: ...

    @property
    def assignments(self) -> Sequence[AssignmentRecord]: ...

    @property
    def rules(self) -> RulesLike: ...

    @property
    def id(self) -> int: ...

    @property
    def state(self) -> State: ...

    @property
    def version(self) -> int: ...

    def pending_peers(self) -> list[str]: ...


People = Mapping[str, PersonLike]
