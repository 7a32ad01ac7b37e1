"""The words of the domain, as enums. Pure: no IO, no framework."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where one evaluation (one reviewee, one period) stands."""

    SELF_ASSESSMENT = "self_assessment"  # the reviewee reports results per indicator
    PEER_INPUT = "peer_input"  # nominated colleagues give advisory input
    SUPERVISOR_SCORING = "supervisor_scoring"  # the supervisor (or acting one) scores
    CALIBRATION = "calibration"  # waits for the quota pool's calibration to be approved
    APPEAL_WINDOW = "appeal_window"  # the reviewee accepts the result or appeals
    APPEAL_REVIEW = "appeal_review"  # an appeal reviewer, never the scorer, decides
    FINALISED = "finalised"  # terminal, read-only, exported to the personnel record
    CANCELLED = "cancelled"  # terminal: transfer, long leave, created in error


TERMINAL_STATES = frozenset({State.FINALISED, State.CANCELLED})
OPEN_STATES = frozenset(State) - TERMINAL_STATES


class Trigger(StrEnum):
    """Everything that can happen to an evaluation, by a person or by the clock."""

    SUBMIT_SELF_ASSESSMENT = "submit_self_assessment"  # reviewee submits results
    SELF_ASSESSMENT_MISSED = "self_assessment_missed"  # clock: deadline passed, flagged
    SUBMIT_PEER_INPUT = "submit_peer_input"  # one peer answers
    PEER_INPUT_CLOSED = "peer_input_closed"  # clock: closes with what arrived
    SUBMIT_SCORE = "submit_score"  # supervisor, acting or escalated supervisor scores
    APPROVE_CALIBRATION = "approve_calibration"  # calibrator approves the pool
    ACCEPT_RESULT = "accept_result"  # reviewee accepts the result
    LODGE_APPEAL = "lodge_appeal"  # reviewee appeals, with reasons
    APPEAL_WINDOW_CLOSED = "appeal_window_closed"  # clock: accepted by silence
    UPHOLD_SCORE = "uphold_score"  # appeal reviewer keeps the score
    REVISE_SCORE = "revise_score"  # appeal reviewer sets a new score, with a reason
    CANCEL = "cancel"  # admin, with a reason
    REOPEN = "reopen"  # admin reopens a finalised evaluation, with a reason


class Role(StrEnum):
    """Who a person is for one evaluation. One person can hold several roles."""

    REVIEWEE = "reviewee"  # the civil servant being evaluated
    PEER = "peer"  # a colleague asked for input
    SUPERVISOR = "supervisor"  # the assigned supervisor (or named evaluator for the head)
    ACTING_SUPERVISOR = "acting_supervisor"  # delegated for a time
    ESCALATION_SUPERVISOR = "escalation_supervisor"  # supervisor's supervisor, after escalation
    CALIBRATOR = "calibrator"  # calibrates the quota pool
    APPEAL_REVIEWER = "appeal_reviewer"  # decides an appeal; never the original scorer
    ADMIN = "admin"  # HR: cancels, reopens, extends, reassigns
    SYSTEM = "system"  # the clock: deadline sweeps


SCORER_ROLES = frozenset({Role.SUPERVISOR, Role.ACTING_SUPERVISOR, Role.ESCALATION_SUPERVISOR})


class SubmissionKind(StrEnum):
    """What a person handed in; every submission is kept, none is overwritten."""

    SELF_ASSESSMENT = "self_assessment"
    PEER_INPUT = "peer_input"
    SUPERVISOR_SCORE = "supervisor_score"
    APPEAL = "appeal"
    APPEAL_DECISION = "appeal_decision"
    ACCEPTANCE = "acceptance"


class Flag(StrEnum):
    """Facts about how an evaluation went, shown in status and reports."""

    SELF_ASSESSMENT_MISSING = "self_assessment_missing"
    PEER_QUORUM_NOT_REACHED = "peer_quorum_not_reached"
    ESCALATED = "escalated"
    EXTENDED = "extended"
    REOPENED = "reopened"


class TimerKind(StrEnum):
    """What a deadline row does when its time comes."""

    DUE = "due"  # the phase's deadline: the state's deadline effect
    REMINDER = "reminder"  # before the deadline, to whoever must act
    OVERDUE = "overdue"  # after the deadline, repeated, in states that never move alone
    ESCALATION = "escalation"  # a step of the escalation ladder


class TimerStatus(StrEnum):
    PENDING = "pending"  # waits for its fire time
    DONE = "done"  # fired, its effect happened once
    SKIPPED = "skipped"  # its time came but it no longer applied (stale reminder)
    CANCELLED = "cancelled"  # the evaluation left the phase, or the deadline moved
