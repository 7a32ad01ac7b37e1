"""One error root for the whole engine, with precise subclasses.

Every message names the ids that matter and, where there is one, the fix. The
CLI prints ``str(error)`` on one line and exits non-zero; the web app shows the
same text on the page. Nothing here is ever raised for a programming error:
those stay ordinary Python exceptions and show a traceback.
"""

from __future__ import annotations


class KpiError(Exception):
    """Root of every error a user of kpi-workflow can cause and fix."""

    default_message = "kpi-workflow could not do that"
    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


# --- configuration and input files -------------------------------------------------


class ConfigError(KpiError):
    """A settings, cycle, regime or framework file is wrong."""

    default_message = "a configuration file is invalid"
    exit_code = 2


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


class CsvRowsError(KpiError):
    """Rows of an imported CSV file are wrong; nothing was imported. Each problem is
    named by its line."""

    exit_code = 2

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}:{line}: {problem}" for line, problem in problems]
        lines.append(f"nothing was imported from {path}; fix the rows above and run it again")
        super().__init__("\n".join(lines))


class OrgImportError(CsvRowsError):
    """Rows of an organisation CSV are wrong; nothing was imported."""


class PeriodImportError(CsvRowsError):
    """Rows of a CSV of a former agency's period scores are wrong; nothing was imported."""


# --- lookups ----------------------------------------------------------------------


class NotFound(KpiError):
    """An id given by a user names nothing."""

    default_message = "not found"


class EvaluationNotFound(NotFound):
    def __init__(self, evaluation_id: int | str) -> None:
        self.evaluation_id = evaluation_id
        super().__init__(
            f"evaluation {evaluation_id} does not exist; `kpi status` lists the cycles"
        )


class CycleNotFound(NotFound):
    def __init__(self, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        super().__init__(f"cycle {cycle_id!r} does not exist; open it with `kpi cycle open FILE`")


class PersonNotFound(NotFound):
    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        super().__init__(
            f"person {person_id!r} is not in the organisation; import it with `kpi org import`"
        )


# --- the workflow -----------------------------------------------------------------


class WorkflowError(KpiError):
    """An action on an evaluation cannot happen."""


class EvaluationAlreadyChanged(WorkflowError):
    """Someone else moved the evaluation on first (the losing side of a race)."""

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

    def __init__(self, evaluation_id: int, trigger: str, state: str) -> None:
        self.evaluation_id = evaluation_id
        self.trigger = trigger
        self.state = state
        super().__init__(
            f"evaluation {evaluation_id} is in {state}; {trigger} is not possible there"
        )


class NotPermitted(WorkflowError):
    """The actor's role does not allow the action (checked apart from the state)."""

    def __init__(self, evaluation_id: int, actor_id: str, action: str, why: str) -> None:
        self.evaluation_id = evaluation_id
        self.actor_id = actor_id
        self.action = action
        super().__init__(f"{actor_id} may not {action} on evaluation {evaluation_id}: {why}")


class SubmissionInvalid(WorkflowError):
    """A submission's content is wrong; ``fields`` maps each field to what is wrong."""

    def __init__(self, evaluation_id: int | None, fields: dict[str, str]) -> None:
        self.evaluation_id = evaluation_id
        self.fields = fields
        listed = "; ".join(f"{k}: {v}" for k, v in fields.items())
        where = f"evaluation {evaluation_id}: " if evaluation_id is not None else ""
        super().__init__(f"{where}nothing was saved: {listed}")


class CycleError(WorkflowError):
    """A cycle cannot be opened or changed as asked."""


class CalibrationError(WorkflowError):
    """A calibration step breaks a rule (quota, direction of a move, missing reason)."""


# --- storage and delivery ---------------------------------------------------------


class StoreError(KpiError):
    """The database is not in a state the engine can work with."""


class SchemaOutOfDate(StoreError):
    default_message = "the database schema is older than this version; run `kpi init`"


class AuditChainBroken(StoreError):
    """`kpi audit verify` found a row whose hash does not follow from the one before."""

    def __init__(self, seq: int, problem: str) -> None:
        self.seq = seq
        super().__init__(f"audit chain broken at row {seq}: {problem}")


class DeliveryError(KpiError):
    """Mail could not be delivered and will not be retried without an admin."""
