"""What a state owns, as a value: who acts, its deadline, its notices, its forms.

Each module in ``workflow/states/`` builds one ``StateSpec``. The machine
(``workflow.machine``) says where triggers lead; the spec says what the state means
for people: whom it waits on, what happens when its deadline passes, which emails
entering it sends, how a submission made in it is validated, and what each of its
triggers does to the evaluation beyond the move (``effects``: flags, the peers'
assignments), as pure functions that ``workflow.effects`` applies for the service,
the sweep and the pre-launch simulation alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from workflow.domain import Role, State, Trigger
from workflow.evaluation_rows import AssignmentRecord

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
class TriggerContext:
    """What a trigger's own effect may look at: who fired it and the assignments."""

    actor_id: str
    assignments: Sequence[AssignmentRecord]
    min_peer_responses: int
    petition_round: int = 0  # the evaluation's petition_round before the trigger

    def peers(self, status: str | None = None) -> list[AssignmentRecord]:
        return [a for a in self.assignments if a.role == Role.PEER.value
                and (status is None or a.status == status)]


@dataclass(frozen=True)
class TriggerEffect:
    """A trigger's own effect: columns it sets, assignment rows whose status it changes."""

    values: Mapping[str, Any] = field(default_factory=dict)
    assignment_status: tuple[tuple[int, str], ...] = ()


Effect = Callable[[TriggerContext], TriggerEffect]


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
    # What each trigger fired in this state does beyond the move (pure). Scores and the
    # appeal reviewer need the store and stay in the service.
    effects: Mapping[Trigger, Effect] = field(default_factory=dict)

    def notices_on_enter(self, trigger: Trigger) -> tuple[Notice, ...]:
        return self.on_enter_by.get(trigger, self.on_enter)

    def effect_of(self, trigger: Trigger, context: TriggerContext) -> TriggerEffect:
        """What ``trigger`` fired in this state does to the evaluation, beyond the move."""
        rule = self.effects.get(trigger)
        return rule(context) if rule is not None else TriggerEffect()
