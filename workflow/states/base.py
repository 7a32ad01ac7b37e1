"""What a state owns, as a value: who acts, its deadline, its notices, its forms.

Each module in ``workflow/states/`` builds one ``StateSpec``. The machine
(``workflow.machine``) says where triggers lead; the spec says what the state means
for people: whom it waits on, what happens when its deadline passes, which emails
entering it sends, and how a submission made in it is validated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from workflow.domain import State, Trigger

Recipient = Literal[
    "reviewee", "peers", "scorers", "calibrator", "appeal_reviewer", "supervisor", "admins"
]


@dataclass(frozen=True)
class Notice:
    """An email to send: the event names the template, ``to`` names who gets it."""

    event: str
    to: Recipient


@dataclass(frozen=True)
class DeadlineRule:
    """What the passing of this state's deadline does."""

    moves_with: Trigger | None  # the clock fires this trigger; None: the state never moves alone
    missed: tuple[Notice, ...] = ()  # sent when the deadline passes
    escalates: bool = False  # overdue repeats and the escalation ladder apply
    # The deadline belongs to the cycle's pool, not to each evaluation: it starts when
    # the pool is complete (calibration).
    pool_level: bool = False


Validator = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class StateSpec:
    state: State
    summary: str
    waits_on: Recipient | None  # whose action the state waits for (None: terminal)
    deadline: DeadlineRule | None
    on_enter: tuple[Notice, ...] = ()
    # Notices that replace ``on_enter`` when the state is entered by a given trigger.
    on_enter_by: Mapping[Trigger, tuple[Notice, ...]] = field(default_factory=dict)
    # How each trigger fired in this state validates its payload (pure; raises
    # SubmissionInvalid with one message per wrong field).
    validators: Mapping[Trigger, Validator] = field(default_factory=dict)

    def notices_on_enter(self, trigger: Trigger) -> tuple[Notice, ...]:
        return self.on_enter_by.get(trigger, self.on_enter)
