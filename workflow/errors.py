"""One error root for the whole engine, with precise subclasses.

Every message names the ids that matter and, where there is one, the fix. The
CLI prints ``str(error)`` (English, for operators) on one line and exits non-zero.
People on the web read another text: each class has a catalogue message
(``user_message``, in the domain's words, without ids, commands or field paths) and
the values it needs (``user_params``); the web says it in the reader's language by
class, never by reading the English. Field problems of a submission are ``Problem``
records (a catalogue message and its values), English when read as a string.
Nothing here is ever raised for a programming error: those stay ordinary Python
exceptions and show a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from workflow.catalog import N_
from workflow.domain import State


def _english(message: str, params: Mapping[str, object]) -> str:
    # The message id is the English text: filled here without loading any catalogue, so
    # that pure code (states, scoring) raising a Problem does no IO.
    return message % dict(params) if params else message


def _state(value: str) -> State | str:
    """A state id as a State, so that a page can name it; anything else as it is."""
    try:
        return State(value)
    except ValueError:
        return value


class Problem(str):
    """What is wrong with one field: a catalogue message with its values.

    As a ``str`` it is the English text, the message id filled in (the CLI, logs,
    ``str(SubmissionInvalid)``); a page says ``message`` in its own language with
    ``params``. ``english`` replaces the English text where operators need more detail
    than a person's page shows.
    """

    message: str
    params: Mapping[str, object]

    def __new__(cls, message: str, /, english: str | None = None, **params: object
                ) -> Problem:
        text = english if english is not None else _english(message, params)
        self = super().__new__(cls, text)
        self.message = message
        self.params = params
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_problem, (self.message, str(self), dict(self.params)))


# A field problem raised in pure scoring code, kept here with the engine's messages.
GROUP_NOT_SCORABLE = N_("nothing in “%(group)s” can be scored: give its inputs (the assigned "
                        "items, the periods worked), or ask the HR administrator to cancel "
                        "the evaluation with a reason")


def _problem(message: str, english: str, params: dict[str, object]) -> Problem:
    return Problem(message, english=english, **params)


class KpiError(Exception):
    """Root of every error a user of kpi-workflow can cause and fix."""

    default_message = "kpi-workflow could not do that"
    exit_code = 1
    # What a person reads on a page instead of str(self): a catalogue message whose
    # %(name)s values come from user_params().
    user_message: ClassVar[str] = N_(
        "This cannot be done now; nothing was saved. If it happens again, tell the HR "
        "administrator.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    def user_params(self) -> dict[str, object]:
        """The values of ``user_message`` (states as State, instants as datetime)."""
        return {}


# --- configuration and input files -------------------------------------------------


class ConfigError(KpiError):
    """A settings, cycle, regime or framework file is wrong."""

    default_message = "a configuration file is invalid"
    exit_code = 2
    user_message = N_("The system's settings have a problem, so this cannot be done now; "
                      "nothing was saved. Please tell the HR administrator.")


class ConfigFileError(ConfigError):
    """A value in a file is wrong; the message names the file, the line and the key."""

    def __init__(self, path: str, line: int | None, key: str, problem: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class ConfigFileErrors(ConfigError):
    """Several values in one file are wrong; each is reported, none is applied."""

    def __init__(self, errors: list[ConfigFileError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class InputFileError(KpiError):
    """A file given to a command is too big, not UTF-8 text, or nested too deeply; it
    was not read (workflow/inputfile.py). The message says what to do instead."""

    exit_code = 2

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        super().__init__(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")


class NotUtf8Text(InputFileError):
    """A file is not UTF-8 text. ``found`` is what it is when its bytes say so
    ("UTF-16", "UTF-32"), else None (some 8-bit encoding, or broken bytes): an edge that
    words the fix its own way reads this, not the English of ``problem``."""

    def __init__(self, path: str, problem: str, line: int | None = None, *,
                 found: str | None = None) -> None:
        self.found = found
        super().__init__(path, problem, line)


class CsvRowsError(KpiError):
    """Rows of an imported CSV file are wrong; nothing was imported. Each problem is
    named by its line."""

    exit_code = 2
    user_message = N_("Some rows of the file are wrong; nothing was imported.")

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}:{line}: {problem}" for line, problem in problems]
        lines.append(f"nothing was imported from {path}; fix the rows above and run it again")
        super().__init__("\n".join(lines))


class OrgImportError(CsvRowsError):
    """Rows of an organisation CSV are wrong; nothing was imported."""


class OrgChangedSincePreview(KpiError):
    """The organisation changed between an import's preview and its confirmation (someone
    else imported, or a person was edited): nothing was imported; preview it again."""

    exit_code = 2
    user_message = N_("The organisation changed since this file was previewed (someone else "
                      "imported or edited it); nothing was imported. Look at the new preview "
                      "and confirm again.")

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: the organisation changed since the preview; nothing was "
                         "imported; preview the file again")


class StagedFileGone(KpiError):
    """The uploaded file a confirmation names is not kept for this session any more
    (applied already, expired, or uploaded in another browser)."""

    user_message = N_("This upload is no longer waiting for a confirmation (it was applied "
                      "already, or it expired after two hours); nothing was imported. Upload "
                      "the file again.")

    def __init__(self) -> None:
        super().__init__("the uploaded file is not waiting for a confirmation any more; "
                         "upload it again")


class PeriodImportError(CsvRowsError):
    """Rows of a CSV of a former agency's period scores are wrong; nothing was imported."""


# --- lookups ----------------------------------------------------------------------


class NotFound(KpiError):
    """An id given by a user names nothing."""

    default_message = "not found"
    user_message = N_("There is nothing at this address.")


class EvaluationNotFound(NotFound):
    user_message = N_("Evaluation %(evaluation)s does not exist.")

    def user_params(self) -> dict[str, object]:
        return {"evaluation": self.evaluation_id}

    def __init__(self, evaluation_id: int | str) -> None:
        self.evaluation_id = evaluation_id
        super().__init__(
            f"evaluation {evaluation_id} does not exist; `kpi status` lists the cycles"
        )


class CycleNotFound(NotFound):
    user_message = N_("The evaluation cycle %(cycle)s does not exist.")

    def user_params(self) -> dict[str, object]:
        return {"cycle": self.cycle_id}

    def __init__(self, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        super().__init__(f"cycle {cycle_id!r} does not exist; open it with `kpi cycle open FILE`")


class PersonNotFound(NotFound):
    user_message = N_("Nobody with the employee id %(person)s is in the organisation. Check "
                      "the id; a new colleague is added by the HR administrator.")

    def user_params(self) -> dict[str, object]:
        return {"person": self.person_id}

    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        super().__init__(
            f"person {person_id!r} is not in the organisation; import it with `kpi org import`"
        )


# --- the workflow -----------------------------------------------------------------


class WorkflowError(KpiError):
    """An action on an evaluation cannot happen."""

    user_message = N_("This cannot be done now; nothing was saved.")


class EvaluationAlreadyChanged(WorkflowError):
    """Someone else moved the evaluation on first (the losing side of a race)."""

    user_message = N_("Someone else changed this evaluation first; nothing of yours was "
                      "saved. Reload the page and look again.")

    def __init__(self, evaluation_id: int, expected: str, actual: str) -> None:
        self.evaluation_id = evaluation_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"evaluation {evaluation_id} has already moved on (it was {expected}, "
            f"it is now {actual}); nothing of yours was saved: reload it and look again"
        )


class TransitionNotAllowed(WorkflowError):
    """The action is not one that the evaluation's current state accepts."""

    user_message = N_("This evaluation is at the step “%(state)s”, where this cannot be "
                      "done; nothing was saved.")

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}

    def __init__(self, evaluation_id: int, trigger: str, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.trigger = trigger
        self.state = state
        super().__init__(
            f"evaluation {evaluation_id} is in {state}; {trigger} is not possible there"
        )


class NotPermitted(WorkflowError):
    """The actor's role does not allow the action (checked apart from the state)."""

    user_message = N_("Your role does not allow this page or action.")

    def __init__(self, evaluation_id: int, actor_id: str, action: str, why: str) -> None:
        self.evaluation_id = evaluation_id
        self.actor_id = actor_id
        self.action = action
        super().__init__(f"{actor_id} may not {action} on evaluation {evaluation_id}: {why}")


class Recused(NotPermitted):
    """The actor would decide their own case, or the case of someone they declared a
    conflict of interest with: it is decided by the next person up (workflow.recusal)."""

    user_message = N_("You may not decide this evaluation: it is your own, or you have "
                      "declared a conflict of interest with this person. The next person up "
                      "decides it.")


class NotTheirCalibration(NotPermitted):
    """A calibration move or undo by someone who does not decide that evaluation's
    calibration: refused before its content is read, naming who decides it."""

    user_message = N_("You do not decide the calibration of this evaluation: %(decider)s "
                      "does. Nothing was saved.")

    def __init__(self, evaluation_id: int, actor_id: str, action: str, why: str,
                 decider_id: str | None, decider_name: str) -> None:
        self.decider_id = decider_id
        self.decider_name = decider_name or decider_id or "?"
        super().__init__(evaluation_id, actor_id, action,
                         f"{why}; {decider_id or 'nobody'} decides its calibration")

    def user_params(self) -> dict[str, object]:
        return {"decider": self.decider_name}


class RecusedFromCalibration(Recused, NotTheirCalibration):
    """Like ``NotTheirCalibration``, for the reviewee or whoever stepped aside."""

    user_message = N_("You may not decide this evaluation: it is your own, or you have "
                      "declared a conflict of interest with this person. %(decider)s "
                      "decides its calibration. Nothing was saved.")


class SubmissionInvalid(WorkflowError):
    """A submission's content is wrong; ``fields`` maps each field to what is wrong
    (a ``Problem``; a plain text given here becomes one)."""

    user_message = N_("Nothing was saved. Please correct what is shown beside each field.")

    def __init__(self, evaluation_id: int | None, fields: Mapping[str, str]) -> None:
        self.evaluation_id = evaluation_id
        self.fields: dict[str, Problem] = {
            k: v if isinstance(v, Problem) else Problem(v) for k, v in fields.items()}
        listed = "; ".join(f"{k}: {v}" for k, v in fields.items())
        where = f"evaluation {evaluation_id}: " if evaluation_id is not None else ""
        super().__init__(f"{where}nothing was saved: {listed}")


class CycleError(WorkflowError):
    """A cycle cannot be opened or changed as asked."""

    user_message = N_("The evaluation cycle cannot be opened or changed as asked.")


class CalibrationError(WorkflowError):
    """A calibration step breaks a rule (quota, direction of a move, missing reason)."""

    user_message = N_("This calibration step is not allowed; nothing was saved.")


class QuotaNotHeld(CalibrationError):
    """Approval asked while a pool has more in the limited class than its quota allows.

    ``pools``: (pool key, number in the limited class, allowed, number in the class the
    ratio is taken of), per pool over its quota."""

    user_message = N_("The quota does not hold in %(pools)s. Move some evaluations rated "
                      "“%(limited)s” down to “%(to)s”, each with a reason, then approve.")

    def __init__(self, cycle_id: str, pools: Sequence[tuple[str, int, int, int]],
                 limited: object, to: object) -> None:
        self.cycle_id = cycle_id
        self.pools = list(pools)
        self.limited = limited  # the class labels (the regime's Labels)
        self.to = to
        worst = "; ".join(f"{pool}: {n} excellent, at most {allowed} allowed "
                          f"({relative} well completed)" for pool, n, allowed, relative in pools)
        super().__init__(f"cycle {cycle_id}: the quota does not hold: {worst}. "
                         "Move some excellent down to well completed, with reasons.")

    def user_params(self) -> dict[str, object]:
        return {"pools": tuple(p[0] for p in self.pools), "limited": self.limited,
                "to": self.to}


class PoolIncomplete(CalibrationError):
    """Approval asked while some evaluations of the cycle are not scored yet."""

    user_message = N_("Not every evaluation has reached calibration yet (%(count)s still "
                      "to be scored); approval needs every one of them scored.")

    def __init__(self, cycle_id: str, count: int) -> None:
        self.cycle_id = cycle_id
        self.count = count
        super().__init__(f"cycle {cycle_id}: {count} evaluation(s) have not reached "
                         "calibration yet; the pool is complete only when every one is scored")

    def user_params(self) -> dict[str, object]:
        return {"count": self.count}


class NothingToCalibrate(CalibrationError):
    """Approval asked while no evaluation of the cycle waits in calibration."""

    user_message = N_("No evaluation waits in calibration.")

    def __init__(self, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        super().__init__(f"cycle {cycle_id}: no evaluation waits in calibration")


class NotInCalibration(CalibrationError):
    """A class move on an evaluation that does not wait in calibration."""

    user_message = N_("This evaluation is at the step “%(state)s”; classes move only while "
                      "it waits in calibration.")

    def __init__(self, evaluation_id: int, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        super().__init__(f"evaluation {evaluation_id} is in {state}; classes move only while "
                         "it waits in calibration")

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


class MoveNotAllowed(CalibrationError):
    """A class move other than the one the quota allows (limited class one step down)."""

    user_message = N_("Calibration may only move “%(limited)s” down to “%(to)s”; a score "
                      "never changes.")

    def __init__(self, evaluation_id: int, current: str | None, limited: str, to: str,
                 labels: tuple[object, object] | None = None) -> None:
        self.evaluation_id = evaluation_id
        self.current = current  # None: not classified yet
        self.limited_id = limited
        self.to_id = to
        self.labels = labels  # (limited, to) as the regime's Labels
        super().__init__(f"evaluation {evaluation_id} is {current}; calibration may only move "
                         f"{limited} down to {to}, never change a score")

    def user_params(self) -> dict[str, object]:
        limited, to = self.labels or (self.limited_id, self.to_id)
        return {"limited": limited, "to": to}


class NothingToUndo(CalibrationError):
    """An undo asked of an evaluation whose class no calibration move has changed."""

    user_message = N_("No calibration move of this evaluation is left to undo: its class is "
                      "the one its score gives.")

    def __init__(self, evaluation_id: int, final_class: str | None) -> None:
        self.evaluation_id = evaluation_id
        self.final_class = final_class
        super().__init__(f"evaluation {evaluation_id} has no calibration move to undo (its "
                         f"class {final_class} is the one its score gives)")


class RestoreRefused(CalibrationError):
    """An appeal reviewer asked to restore the class calibration moved, and cannot."""

    user_message = N_("Calibration did not move this class, so there is nothing to restore. "
                      "Uphold the result, or revise the score if it was wrong.")

    def __init__(self, evaluation_id: int, detail: str = "no calibration move changed its "
                 "class") -> None:
        self.evaluation_id = evaluation_id
        super().__init__(f"evaluation {evaluation_id}: the class cannot be restored: {detail}; "
                         "uphold the result, or revise the score")


class RestoreBreaksQuota(RestoreRefused):
    """Restoring the limited class would break the quota of an approved calibration."""

    user_message = N_("The class cannot be restored to “%(limited)s”: the calibration was "
                      "approved, and %(pools)s has no room left under the quota, so one more "
                      "“%(limited)s” would break it. Uphold the result, or revise the score if "
                      "it was wrong.")

    def __init__(self, evaluation_id: int, pools: Sequence[str], limited: object) -> None:
        self.pools = tuple(pools)
        self.limited = limited  # the class's Labels
        super().__init__(evaluation_id, f"{', '.join(self.pools)} would then have more "
                         f"{getattr(limited, 'en', limited)} than the approved calibration's "
                         "quota allows")

    def user_params(self) -> dict[str, object]:
        return {"limited": self.limited, "pools": self.pools}


class NoQuota(CalibrationError):
    """Calibration asked of a regime without a quota."""

    user_message = N_("The rules of this cycle have no quota, so there is nothing to "
                      "calibrate.")

    def __init__(self, regime_id: str) -> None:
        self.regime_id = regime_id
        super().__init__(f"regime {regime_id} has no quota to calibrate")


class ExceptionRatioRefused(CalibrationError):
    """An exception ratio without its decision on record, or above the regime's ceiling."""

    user_message = N_("The exceptional ratio %(ratio)s of this cycle needs a decision on "
                      "record within what the rules allow; the HR administrator has to "
                      "settle it before approval.")

    def __init__(self, cycle_id: str, ratio: object, message: str) -> None:
        self.cycle_id = cycle_id
        self.ratio = ratio
        super().__init__(message)

    def user_params(self) -> dict[str, object]:
        return {"ratio": self.ratio}


class NoDeadlineToExtend(WorkflowError):
    """An extension asked for an evaluation (or a phase) that has no deadline."""

    user_message = N_("At the step “%(state)s” there is no deadline to extend.")

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(message)

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


class PoolDeadline(WorkflowError):
    """An extension of one evaluation in a phase whose deadline the whole pool shares."""

    user_message = N_("At the step “%(state)s” the deadline is shared by the whole pool; it "
                      "is extended for the whole cycle at once, not for one evaluation.")

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(message)

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


class EvaluationClosed(WorkflowError):
    """A change on the record asked of a finalised or cancelled evaluation."""

    user_message = N_("This evaluation is “%(state)s”; reopen it first.")

    def __init__(self, evaluation_id: int, state: str, message: str) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        super().__init__(message)

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


class PeersClosed(WorkflowError):
    """A peer reassignment after peer input has closed."""

    user_message = N_("This evaluation is at the step “%(state)s”; peers can only change "
                      "before peer input closes.")

    def __init__(self, evaluation_id: int, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        super().__init__(f"evaluation {evaluation_id} is {state}; peers can only change "
                         "before peer input closes")

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


class NothingToDelegate(WorkflowError):
    """A delegation for a supervisor who has no open evaluation to score in the cycle."""

    user_message = N_("%(supervisor)s has no open evaluation to delegate in this cycle.")

    def __init__(self, supervisor_id: str, cycle_id: str) -> None:
        self.supervisor_id = supervisor_id
        self.cycle_id = cycle_id
        super().__init__(f"{supervisor_id} has no open evaluation to delegate in cycle "
                         f"{cycle_id}")

    def user_params(self) -> dict[str, object]:
        return {"supervisor": self.supervisor_id}


class NotOpenYet(WorkflowError):
    """A task done before its phase opens."""

    user_message = N_("This task opens on %(when)s; it cannot be done before then.")

    def __init__(self, evaluation_id: int, state: str, opens_at: datetime) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        self.opens_at = opens_at
        opens = opens_at.isoformat(timespec="minutes")
        super().__init__(f"evaluation {evaluation_id}: {state} opens at {opens}; "
                         "it cannot be done before then")

    def user_params(self) -> dict[str, object]:
        return {"when": self.opens_at}


class AlreadyAppealed(WorkflowError):
    """A second appeal (kiến nghị) of one result where the regime allows only one (or
    after an admin reopened the evaluation: the reopening is the correction)."""

    user_message = N_("An appeal against this result was already lodged on %(when)s; the "
                      "rules allow one appeal against it. Nothing was saved.")

    def __init__(self, evaluation_id: int, lodged_at: datetime) -> None:
        self.evaluation_id = evaluation_id
        self.lodged_at = lodged_at
        super().__init__(f"evaluation {evaluation_id}: an appeal was already lodged on "
                         f"{lodged_at:%Y-%m-%d}; the rules allow one appeal against a result")

    def user_params(self) -> dict[str, object]:
        return {"when": self.lodged_at}


class AppealLimitReached(AlreadyAppealed):
    """An appeal beyond the regime's ``re_review_limit``: the last review was final."""

    user_message = N_("This result was already appealed %(rounds)s times, the last time "
                      "on %(when)s: the rules allow a first appeal and %(limit)s further "
                      "review(s), so the decision of review %(rounds)s is final. Nothing was "
                      "saved.")

    def __init__(self, evaluation_id: int, lodged_at: datetime, rounds: int,
                 limit: int) -> None:
        self.rounds = rounds
        self.limit = limit
        WorkflowError.__init__(
            self, f"evaluation {evaluation_id}: appealed {rounds} times, the last on "
            f"{lodged_at:%Y-%m-%d}; the regime's petition.re_review_limit ({limit}) allows "
            f"no further review, the decision of round {rounds} is final")
        self.evaluation_id = evaluation_id
        self.lodged_at = lodged_at

    def user_params(self) -> dict[str, object]:
        return {"when": self.lodged_at, "rounds": self.rounds, "limit": self.limit}


class AppealUnderReview(WorkflowError):
    """An appeal lodged while the one before is still being reviewed."""

    user_message = N_("Your appeal against this result (review %(round)s) is already being "
                      "reviewed; you will get the decision by email. Nothing was saved.")

    def __init__(self, evaluation_id: int, petition_round: int) -> None:
        self.evaluation_id = evaluation_id
        self.petition_round = petition_round
        super().__init__(f"evaluation {evaluation_id}: the appeal of round {petition_round} "
                         "is being reviewed; a further appeal waits for its decision")

    def user_params(self) -> dict[str, object]:
        return {"round": self.petition_round}


class NoAppealReviewer(WorkflowError):
    """An appeal that nobody may review (no one above the scorer, none named)."""

    user_message = N_("Nobody can review this appeal yet; nothing was saved. Please ask the "
                      "HR administrator to name an appeal reviewer.")

    def __init__(self, evaluation_id: int) -> None:
        self.evaluation_id = evaluation_id
        super().__init__(f"evaluation {evaluation_id}: nobody can review this appeal (no "
                         "supervisor above the scorer, no appeal_reviewer and no admin "
                         "in the cycle file); ask an admin to name one")


class NotADeadLetter(WorkflowError):
    """Sending again an outbox message that did not fail for good."""

    user_message = N_("Email %(id)s was not undeliverable; only undeliverable emails are "
                      "sent again.")

    def __init__(self, outbox_id: int, status: str) -> None:
        self.outbox_id = outbox_id
        self.status = status
        super().__init__(f"outbox message {outbox_id} is {status}, not a dead letter; only "
                         "dead letters are sent again")

    def user_params(self) -> dict[str, object]:
        return {"id": self.outbox_id}


class NoTaskEmail(WorkflowError):
    """Sending again the task email of an evaluation that waits on nobody by email."""

    user_message = N_("At the step “%(state)s” there is no task email to send again.")

    def __init__(self, evaluation_id: int, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.state = state
        super().__init__(f"evaluation {evaluation_id} is {state}: no task email to send again "
                         "(calibration links go to the calibrator from the calibration page)")

    def user_params(self) -> dict[str, object]:
        return {"state": _state(self.state)}


# --- storage and delivery ---------------------------------------------------------


class StoreError(KpiError):
    """The database is not in a state the engine can work with."""

    user_message = N_("The system cannot reach its records now; nothing was saved. Please "
                      "try again later or tell the HR administrator.")


class SchemaOutOfDate(StoreError):
    default_message = "the database schema is older than this version; run `kpi init`"


class DatabaseLocked(StoreError):
    """A write waited its whole budget for the SQLite file's write lock: another process
    holds it (workflow/store/db.py, ``SQLITE_WRITE_WAIT_MS``)."""

    user_message = N_("The system is busy with other work on its records and could not save "
                      "this; nothing was saved. Please try again in a minute. If it happens "
                      "again, tell the HR administrator.")

    def __init__(self, database: str, waited_s: float, attempts: int, said: str) -> None:
        self.database = database
        self.waited_s = waited_s
        self.attempts = attempts
        super().__init__(
            f"the SQLite database {database} stayed locked for {waited_s:.1f} s ({attempts} "
            f"attempt{'s' if attempts != 1 else ''} to begin a write; SQLite said: {said}): "
            "another process holds its write lock, a `kpi serve`, `kpi tick`, "
            "`kpi mail send`, `kpi init` or `kpi org import` on the same file, a `sqlite3` "
            "shell or a backup in the middle of a transaction. Find it with "
            f"`fuser -v {database}` (or `lsof {database}`), let it finish or stop it, and "
            "run only one kpi process on a SQLite file (several: use PostgreSQL)")


class AuditChainBroken(StoreError):
    """`kpi audit verify` found a row whose hash does not follow from the one before."""

    def __init__(self, seq: int, problem: str) -> None:
        self.seq = seq
        super().__init__(f"audit chain broken at row {seq}: {problem}")


class DeliveryError(KpiError):
    """Mail could not be delivered and will not be retried without an admin."""

    user_message = N_("The email could not be delivered.")
