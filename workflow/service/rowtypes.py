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
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord

__all__ = [
    "AssignmentRecord",
    "DeadLetter",
    "EvaluationMatch",
    "EvaluationRecord",
    "ExtensionRecord",
    "OverdueItem",
    "PoolMemberLine",
]


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
