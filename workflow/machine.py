"""The evaluation state machine, declared once as data.

``TRANSITIONS`` is the whole graph: one row per (source, trigger, destination), with
the condition that picks between rows sharing a trigger. One ``transitions.Machine``
is built from it when this module is imported and serves every evaluation: it keeps
no per-evaluation state (no ``add_model``), the evaluation is wrapped in a small
adapter for the length of one call (shared/research/libraries.md, section 1).

Who may fire a trigger is not decided here: see ``workflow.permissions``. This module
only answers *when*: which triggers the current state accepts and where they lead.
"""

from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine, MachineError

from workflow.domain import State, Trigger
from workflow.errors import TransitionNotAllowed


@dataclass(frozen=True)
class Transition:
    """One row of the table. ``dest`` None means the state does not change."""

    source: State
    trigger: Trigger
    dest: State | None
    when: str | None = None  # a fact that must be true (see ``Facts``)
    unless: str | None = None  # a fact that must be false


@dataclass(frozen=True)
class Facts:
    """What the conditions of the table may look at. Computed by the caller."""

    awaits_peers: bool = False  # peer input is on and someone was asked
    peers_outstanding: bool = False  # after this answer, some peer has still not answered
    calibration_enabled: bool = True  # the cycle calibrates a quota
    # the regime lets this petition's decision be petitioned again (re_review, and the
    # person has not used up re_review_limit): the decision opens a fresh window
    may_petition_again: bool = False


_S, _T = State, Trigger
_OPEN = (
    _S.SELF_ASSESSMENT,
    _S.PEER_INPUT,
    _S.SUPERVISOR_SCORING,
    _S.CALIBRATION,
    _S.APPEAL_WINDOW,
    _S.APPEAL_REVIEW,
)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(_S.SELF_ASSESSMENT, _T.SUBMIT_SELF_ASSESSMENT, _S.PEER_INPUT, when="awaits_peers"),
    Transition(
        _S.SELF_ASSESSMENT, _T.SUBMIT_SELF_ASSESSMENT, _S.SUPERVISOR_SCORING, unless="awaits_peers"
    ),
    Transition(_S.SELF_ASSESSMENT, _T.SELF_ASSESSMENT_MISSED, _S.PEER_INPUT, when="awaits_peers"),
    Transition(
        _S.SELF_ASSESSMENT, _T.SELF_ASSESSMENT_MISSED, _S.SUPERVISOR_SCORING, unless="awaits_peers"
    ),
    Transition(_S.PEER_INPUT, _T.SUBMIT_PEER_INPUT, None, when="peers_outstanding"),
    Transition(
        _S.PEER_INPUT, _T.SUBMIT_PEER_INPUT, _S.SUPERVISOR_SCORING, unless="peers_outstanding"
    ),
    Transition(_S.PEER_INPUT, _T.PEER_INPUT_CLOSED, _S.SUPERVISOR_SCORING),
    Transition(
        _S.SUPERVISOR_SCORING, _T.SUBMIT_SCORE, _S.CALIBRATION, when="calibration_enabled"
    ),
    Transition(
        _S.SUPERVISOR_SCORING, _T.SUBMIT_SCORE, _S.APPEAL_WINDOW, unless="calibration_enabled"
    ),
    Transition(_S.CALIBRATION, _T.APPROVE_CALIBRATION, _S.APPEAL_WINDOW),
    Transition(_S.APPEAL_WINDOW, _T.ACCEPT_RESULT, _S.FINALISED),
    Transition(_S.APPEAL_WINDOW, _T.LODGE_APPEAL, _S.APPEAL_REVIEW),
    Transition(_S.APPEAL_WINDOW, _T.APPEAL_WINDOW_CLOSED, _S.FINALISED),
    Transition(_S.APPEAL_REVIEW, _T.UPHOLD_SCORE, _S.APPEAL_WINDOW, when="may_petition_again"),
    Transition(_S.APPEAL_REVIEW, _T.UPHOLD_SCORE, _S.FINALISED, unless="may_petition_again"),
    Transition(_S.APPEAL_REVIEW, _T.REVISE_SCORE, _S.APPEAL_WINDOW, when="may_petition_again"),
    Transition(_S.APPEAL_REVIEW, _T.REVISE_SCORE, _S.FINALISED, unless="may_petition_again"),
    *(Transition(source, _T.CANCEL, _S.CANCELLED) for source in _OPEN),
    Transition(_S.FINALISED, _T.REOPEN, _S.SUPERVISOR_SCORING),
)


class _Adapter:
    """Wraps a state and the facts for one trigger call; the machine reads and sets ``state``."""

    __slots__ = ("facts", "state")

    def __init__(self, state: State, facts: Facts) -> None:
        self.state = state.value
        self.facts = facts

    def __getattr__(self, name: str) -> object:
        # Conditions are named after fields of Facts; transitions looks them up on the model.
        facts = object.__getattribute__(self, "facts")
        if name in Facts.__dataclass_fields__:
            return lambda **_: getattr(facts, name)
        raise AttributeError(name)


def _machine_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for t in TRANSITIONS:
        row: dict[str, object] = {
            "trigger": t.trigger.value,
            "source": t.source.value,
            "dest": t.dest.value if t.dest else None,
        }
        if t.when:
            row["conditions"] = t.when
        if t.unless:
            row["unless"] = t.unless
        rows.append(row)
    return rows


MACHINE = Machine(
    model=None,
    states=[s.value for s in State],
    transitions=_machine_rows(),
    initial=None,
    auto_transitions=False,
    model_attribute="state",
    send_event=False,
)


def next_state(
    evaluation_id: int, state: State, trigger: Trigger, facts: Facts | None = None
) -> State:
    """Where ``trigger`` takes an evaluation in ``state``; the same state for internal rows.

    Raises TransitionNotAllowed when the state does not accept the trigger.
    """
    key = (state, trigger, facts or _NO_FACTS)
    try:
        dest = _ANSWERS[key]
    except KeyError:
        dest = _ANSWERS[key] = _ask_machine(state, trigger, key[2])
    if dest is None:
        raise TransitionNotAllowed(evaluation_id, trigger.value, state.value)
    return dest


def _ask_machine(state: State, trigger: Trigger, facts: Facts) -> State | None:
    """The machine's answer: the destination, or None when no row applies."""
    adapter = _Adapter(state, facts)
    try:
        fired = MACHINE.events[trigger.value].trigger(adapter)
    except MachineError:
        return None
    if not fired:  # a condition said no for every row: no row applies
        return None
    return State(adapter.state)


# The machine's answers, asked once per (state, trigger, facts): the table has no
# callbacks and its conditions read only the frozen facts, so an answer never changes,
# and a step is spared the transitions call (about a tenth of a step's own time).
# At most states x triggers x 16 combinations of the four facts.
_NO_FACTS = Facts()
_ANSWERS: dict[tuple[State, Trigger, Facts], State | None] = {}


def accepts(state: State, trigger: Trigger) -> bool:
    """True when some row of the table leaves ``state`` on ``trigger``."""
    return any(t.source is state and t.trigger is trigger for t in TRANSITIONS)


def triggers_from(state: State) -> list[Trigger]:
    """The triggers ``state`` accepts, in table order."""
    seen: list[Trigger] = []
    for t in TRANSITIONS:
        if t.source is state and t.trigger not in seen:
            seen.append(t.trigger)
    return seen


def mermaid() -> str:
    """The state diagram of the table as Mermaid ``stateDiagram-v2`` (for the README)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.SELF_ASSESSMENT.value}"]
    for t in TRANSITIONS:
        dest = (t.dest or t.source).value
        guard = f" [{t.when}]" if t.when else (f" [not {t.unless}]" if t.unless else "")
        lines.append(f"    {t.source.value} --> {dest}: {t.trigger.value}{guard}")
    lines.append(f"    {State.FINALISED.value} --> [*]")
    lines.append(f"    {State.CANCELLED.value} --> [*]")
    return "\n".join(lines)
