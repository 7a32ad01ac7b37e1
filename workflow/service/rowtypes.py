"""The frozen records that rows travel in from the service to the edges.

A page or a command gets these, never a row mapping: a misspelt column is a type
error, not a ``KeyError`` at the moment a user opens the page, and nobody downstream
can change what the service read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from workflow.domain import State


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """One evaluation row as read (``workflow.store.tables.Evaluation``)."""

    id: int
    cycle_id: str
    reviewee_id: str
    unit_id: str
    task_group: str
    position_group: str
    is_leader: bool
    framework_id: str
    framework_hash: str
    supervisor_id: str | None
    appeal_reviewer_id: str | None
    state: State
    version: int
    phase_entered_at: datetime
    phase_opens_at: datetime
    due_at: datetime | None
    escalation_level: int
    self_assessment_missing: bool
    peer_quorum_not_reached: bool
    escalated: bool
    extended: bool
    reopened: bool
    petition_round: int  # 0: no petition yet; 1: the first; 2: against its decision...
    score: str | None  # a Decimal's exact text
    score_class: str | None
    final_class: str | None
    scored_by: str | None
    scored_at: datetime | None
    score_stamp: Mapping[str, Any] | None  # the rule files and breakdown the score used
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> EvaluationRecord:
        """The record of a row mapping holding (at least) every column."""
        values = {f.name: row[f.name] for f in fields(cls)}
        values["state"] = State(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    """Someone asked to act beside the evaluation's fixed parts (a peer, a delegation)."""

    id: int
    evaluation_id: int
    person_id: str
    role: str
    status: str  # pending | answered | withdrawn
    valid_from: datetime
    valid_until: datetime | None
    created_by: str
    reason: str | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> AssignmentRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class ExtensionRecord:
    """One deadline extension, on the record with its reason and approver."""

    id: int
    evaluation_id: int
    phase: str
    old_due_at: datetime | None
    new_due_at: datetime
    reason: str
    approved_by: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> ExtensionRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class PoolMemberLine:
    """One evaluation of a cycle as the calibration page and `kpi calibration` list it."""

    evaluation_id: int
    reviewee_id: str
    reviewee_name: str  # empty when the person has left the organisation's file
    unit_id: str
    task_group: str
    state: State
    score: str | None
    score_class: str | None
    final_class: str | None
    breaks: tuple[str, ...]  # the pools whose quota this one breaks
    # Who decides its calibration (moves, undoes, approves it): whoever took it on by
    # recusal, else the cycle's calibrator; None when the cycle names no calibrator.
    decided_by: str | None = None
    decided_by_name: str = ""  # empty when the person has left the organisation's file


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """An evaluation past its due time in an open state, for `kpi status` and the
    admin dashboard."""

    evaluation_id: int
    reviewee_id: str
    reviewee_name: str  # the id when the person has left the organisation's file
    state: State
    due_at: datetime
    waiting_on: str | None  # who has to act, when one person does
    escalation_level: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row parked after a permanent failure (or too many transient ones)."""

    id: int
    event: str
    recipient_email: str
    attempts: int
    last_error: str | None
    evaluation_id: int | None
    # The recipient's address in the organisation now: a retry goes there.
    current_email: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluationMatch:
    """An evaluation found by the admin search, with its reviewee's name."""

    id: int
    reviewee_id: str
    full_name: str
    state: State
    due_at: datetime | None
    unit_id: str
