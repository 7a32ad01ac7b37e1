"""The transitions table, pinned, and what the static machine does with it."""

from __future__ import annotations

import contextlib

import pytest

from workflow import machine
from workflow.domain import OPEN_STATES, State, Trigger
from workflow.errors import TransitionNotAllowed
from workflow.machine import Facts, next_state

S, T = State, Trigger

# The complete graph. A change to the machine must change this set on purpose.
EXPECTED = {
    (S.SELF_ASSESSMENT, T.SUBMIT_SELF_ASSESSMENT, S.PEER_INPUT),
    (S.SELF_ASSESSMENT, T.SUBMIT_SELF_ASSESSMENT, S.SUPERVISOR_SCORING),
    (S.SELF_ASSESSMENT, T.SELF_ASSESSMENT_MISSED, S.PEER_INPUT),
    (S.SELF_ASSESSMENT, T.SELF_ASSESSMENT_MISSED, S.SUPERVISOR_SCORING),
    (S.PEER_INPUT, T.SUBMIT_PEER_INPUT, None),
    (S.PEER_INPUT, T.SUBMIT_PEER_INPUT, S.SUPERVISOR_SCORING),
    (S.PEER_INPUT, T.PEER_INPUT_CLOSED, S.SUPERVISOR_SCORING),
    (S.SUPERVISOR_SCORING, T.SUBMIT_SCORE, S.CALIBRATION),
    (S.SUPERVISOR_SCORING, T.SUBMIT_SCORE, S.APPEAL_WINDOW),
    (S.CALIBRATION, T.APPROVE_CALIBRATION, S.APPEAL_WINDOW),
    (S.APPEAL_WINDOW, T.ACCEPT_RESULT, S.FINALISED),
    (S.APPEAL_WINDOW, T.LODGE_APPEAL, S.APPEAL_REVIEW),
    (S.APPEAL_WINDOW, T.APPEAL_WINDOW_CLOSED, S.FINALISED),
    (S.APPEAL_REVIEW, T.UPHOLD_SCORE, S.FINALISED),
    (S.APPEAL_REVIEW, T.REVISE_SCORE, S.FINALISED),
    # a regime with re_review: the decision opens a fresh petition window
    (S.APPEAL_REVIEW, T.UPHOLD_SCORE, S.APPEAL_WINDOW),
    (S.APPEAL_REVIEW, T.REVISE_SCORE, S.APPEAL_WINDOW),
    (S.SELF_ASSESSMENT, T.CANCEL, S.CANCELLED),
    (S.PEER_INPUT, T.CANCEL, S.CANCELLED),
    (S.SUPERVISOR_SCORING, T.CANCEL, S.CANCELLED),
    (S.CALIBRATION, T.CANCEL, S.CANCELLED),
    (S.APPEAL_WINDOW, T.CANCEL, S.CANCELLED),
    (S.APPEAL_REVIEW, T.CANCEL, S.CANCELLED),
    (S.FINALISED, T.REOPEN, S.SUPERVISOR_SCORING),
}


def test_the_table_is_exactly_the_pinned_graph() -> None:
    assert {(t.source, t.trigger, t.dest) for t in machine.TRANSITIONS} == EXPECTED


def test_every_trigger_and_every_state_appear_in_the_table() -> None:
    assert {t.trigger for t in machine.TRANSITIONS} == set(Trigger)
    reached = {t.dest for t in machine.TRANSITIONS} | {S.SELF_ASSESSMENT}
    assert reached - {None} == set(State)


def test_the_one_machine_is_built_from_the_table() -> None:
    assert set(machine.MACHINE.events) == {t.value for t in Trigger}
    assert set(machine.MACHINE.states) == {s.value for s in State}


@pytest.mark.parametrize(("facts", "dest"), [
    (Facts(awaits_peers=True), S.PEER_INPUT),
    (Facts(awaits_peers=False), S.SUPERVISOR_SCORING),
])
def test_self_assessment_goes_to_peers_only_when_someone_was_asked(facts: Facts,
                                                                   dest: State) -> None:
    assert next_state(1, S.SELF_ASSESSMENT, T.SUBMIT_SELF_ASSESSMENT, facts) is dest
    assert next_state(1, S.SELF_ASSESSMENT, T.SELF_ASSESSMENT_MISSED, facts) is dest


def test_peer_input_stays_open_until_the_last_peer_answers() -> None:
    waiting = Facts(peers_outstanding=True)
    last = Facts(peers_outstanding=False)
    assert next_state(1, S.PEER_INPUT, T.SUBMIT_PEER_INPUT, waiting) is S.PEER_INPUT
    assert next_state(1, S.PEER_INPUT, T.SUBMIT_PEER_INPUT, last) is S.SUPERVISOR_SCORING


def test_scoring_skips_calibration_when_the_cycle_has_none() -> None:
    assert next_state(1, S.SUPERVISOR_SCORING, T.SUBMIT_SCORE,
                      Facts(calibration_enabled=False)) is S.APPEAL_WINDOW
    assert next_state(1, S.SUPERVISOR_SCORING, T.SUBMIT_SCORE,
                      Facts(calibration_enabled=True)) is S.CALIBRATION


@pytest.mark.parametrize("trigger", [t for t in Trigger if t is not T.REOPEN])
def test_finalised_accepts_nothing_but_reopen(trigger: Trigger) -> None:
    with pytest.raises(TransitionNotAllowed, match="finalised"):
        next_state(5, S.FINALISED, trigger)


@pytest.mark.parametrize("trigger", list(Trigger))
def test_cancelled_accepts_nothing(trigger: Trigger) -> None:
    with pytest.raises(TransitionNotAllowed):
        next_state(5, S.CANCELLED, trigger)


def test_the_machine_keeps_no_state_between_calls() -> None:
    # One Machine serves every evaluation: nothing is attached to it.
    before = list(machine.MACHINE.models)
    for state in OPEN_STATES:
        for trigger in machine.triggers_from(state):
            with contextlib.suppress(TransitionNotAllowed):
                next_state(1, state, trigger, Facts(awaits_peers=True))
    assert list(machine.MACHINE.models) == before == []


def test_the_diagram_shows_every_row_of_the_table() -> None:
    diagram = machine.mermaid()
    assert diagram.startswith("stateDiagram-v2")
    for t in machine.TRANSITIONS:
        assert f"{t.source.value} --> {(t.dest or t.source).value}: {t.trigger.value}" \
            in diagram


def test_the_readme_shows_the_diagram_generated_from_the_table() -> None:
    from workflow.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{machine.mermaid()}\n```" in readme, "run `make diagram`, paste it"


def test_a_decision_finalises_unless_it_may_be_petitioned_again() -> None:
    for trigger in (T.UPHOLD_SCORE, T.REVISE_SCORE):
        assert next_state(1, S.APPEAL_REVIEW, trigger) is S.FINALISED
        assert next_state(1, S.APPEAL_REVIEW, trigger,
                          Facts(may_petition_again=True)) is S.APPEAL_WINDOW
