"""The tables. SQLModel classes used for the schema and for reading; writes on hot
paths go through SQLAlchemy Core statements on the same tables.

Every table is also exported once, typed, as a Core ``Table`` (``EVALUATION``,
``OUTBOX``...): the service's statements are built on those, never on a
``Model.__table__`` of their own.

Conventions: instants are aware UTC datetimes (``UTCDateTime``); scores are Decimal
strings (SQLite has no decimal type, and a float would lose the exact value);
ids of people, units and cycles are the organisation's own strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel

from workflow.store.types import UTCDateTime


def _instant(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any = None) -> Any:
    return Field(default=default, sa_column=Column(JSON, nullable=default is None))


class Unit(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)


class Position(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=300)  # the position's title
    position_group: str = Field(max_length=64)


class Person(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)  # employee_id
    full_name: str = Field(max_length=300)
    email: str = Field(max_length=320, unique=True)
    unit_id: str = Field(foreign_key="unit.id", index=True, max_length=64)
    position_id: str = Field(foreign_key="position.id", max_length=300)
    position_group: str = Field(max_length=64)
    supervisor_id: str | None = Field(default=None, foreign_key="person.id", index=True,
                                      max_length=64)
    task_group: str = Field(max_length=64)
    locale: str = Field(default="vi", max_length=8)
    is_leader: bool = False
    timezone: str | None = Field(default=None, max_length=64)
    # Whom this person declared a conflict of interest with (relatives...): employee ids,
    # one space between, sorted. They never decide each other's case (workflow.recusal).
    conflicts_with: str | None = Field(default=None, max_length=2000)
    active: bool = True
    updated_at: datetime = _instant()


class Rulebook(SQLModel, table=True):
    """A regime, framework or cycle file exactly as used, so any score can be recomputed."""

    __table_args__ = (UniqueConstraint("kind", "content_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # regime | framework | cycle
    name: str = Field(max_length=64)
    version: int = 1
    content_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    stored_at: datetime = _instant()


class Cycle(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    period_kind: str = Field(max_length=16)
    period_start: date
    period_end: date
    timezone: str = Field(max_length=64)
    regime_id: str = Field(max_length=64)
    regime_hash: str = Field(max_length=64)
    config_hash: str = Field(max_length=64)  # Rulebook(kind="cycle") holds the text
    calibration_enabled: bool = True
    peer_input_enabled: bool = True
    calibrator_id: str | None = Field(default=None, max_length=64)
    opened_at: datetime = _instant()
    opened_by: str = Field(max_length=64)


class Evaluation(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("cycle_id", "reviewee_id"),
        Index("ix_evaluation_cycle_state", "cycle_id", "state"),
        # The last deadline of a cycle that has passed (a kept report's state key: a
        # deadline passing turns "still open" into "late" without a transition), and a
        # cycle's overdue list (`kpi status`). Every query of due_at names the cycle, so
        # there is no index of due_at alone: most steps move due_at, and each index of
        # it was one more page a step (bench/PEERS.md, branch h-step2).
        Index("ix_evaluation_cycle_due", "cycle_id", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", max_length=64)
    reviewee_id: str = Field(foreign_key="person.id", index=True, max_length=64)
    unit_id: str = Field(max_length=64)
    task_group: str = Field(max_length=64)
    position_group: str = Field(max_length=64)
    is_leader: bool = False
    framework_id: str = Field(max_length=64)
    framework_hash: str = Field(max_length=64)
    supervisor_id: str | None = Field(default=None, index=True, max_length=64)
    appeal_reviewer_id: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=32)
    version: int = 1
    phase_entered_at: datetime = _instant()
    phase_opens_at: datetime = _instant()
    due_at: datetime | None = _instant(nullable=True)
    escalation_level: int = 0
    self_assessment_missing: bool = False
    peer_quorum_not_reached: bool = False
    escalated: bool = False
    extended: bool = False
    reopened: bool = False
    # Which petition against the result this is (0: none yet; 1: the first, under review
    # or decided; 2: a petition against that decision, where the regime allows re_review).
    petition_round: int = 0
    score: str | None = Field(default=None, max_length=40)
    score_class: str | None = Field(default=None, max_length=32)  # by score and overrides
    final_class: str | None = Field(default=None, max_length=32)  # after calibration
    scored_by: str | None = Field(default=None, max_length=64)
    scored_at: datetime | None = _instant(nullable=True)
    score_stamp: dict[str, Any] | None = _json()
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class Assignment(SQLModel, table=True):
    """Someone asked to act on an evaluation beside its fixed parts: peers, delegations."""

    __table_args__ = (Index("ix_assignment_person_role", "person_id", "role"),)
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    person_id: str = Field(foreign_key="person.id", max_length=64)
    role: str = Field(max_length=32)  # peer | acting_supervisor | escalation_supervisor
    status: str = Field(default="pending", max_length=16)  # pending | answered | withdrawn
    valid_from: datetime = _instant()
    valid_until: datetime | None = _instant(nullable=True)
    created_by: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class Submission(SQLModel, table=True):
    """Everything anyone handed in; append-only."""

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    kind: str = Field(max_length=32)
    author_id: str = Field(max_length=64)
    role: str = Field(max_length=32)
    payload: dict[str, Any] = _json(default={})
    payload_hash: str = Field(max_length=64)
    submitted_at: datetime = _instant()


class Draft(SQLModel, table=True):
    """A form saved but not submitted; replaced on each save, deleted on submit."""

    __table_args__ = (UniqueConstraint("evaluation_id", "author_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id")
    author_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = _json(default={})
    saved_at: datetime = _instant()


class Deadline(SQLModel, table=True):
    """A timer as a row: the sweep fires it once when ``fire_at`` has passed.

    Most belong to one evaluation; the calibration deadline belongs to a cycle's
    pool (``evaluation_id`` empty, ``cycle_id`` set): one calibrator, one clock.
    """

    # In the sweep's claim order (fire_at, id): a cycle's due rows share one fire_at,
    # and with fire_at alone each claim read and sorted every tied row (400 ms a
    # round at 1,000,000 evaluations) instead of stopping at its LIMIT.
    # A pool's rows are found by their cycle (every such query says evaluation_id IS
    # NULL); an evaluation's rows have no cycle, and an index of cycle_id over all of
    # them held one NULL entry per row: one more page for every timer a step adds.
    __table_args__ = (
        Index(
            "ix_deadline_pending_fire_at",
            "fire_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_deadline_pool_cycle", "cycle_id",
              sqlite_where=text("evaluation_id IS NULL"),
              postgresql_where=text("evaluation_id IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int | None = Field(default=None, foreign_key="evaluation.id", index=True)
    cycle_id: str | None = Field(default=None, foreign_key="cycle.id", max_length=64)
    phase: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    seq: int = 0
    recipient_id: str | None = Field(default=None, max_length=64)
    fire_at: datetime = _instant()
    status: str = Field(default="pending", max_length=16)
    done_at: datetime | None = _instant(nullable=True)


class Extension(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    phase: str = Field(max_length=32)
    old_due_at: datetime | None = _instant(nullable=True)
    new_due_at: datetime = _instant()
    reason: str = Field(max_length=2000)
    approved_by: str = Field(max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = _instant()


class OverrideFact(SQLModel, table=True):
    """A fact that forces a class (discipline, a conclusion), with its source document."""

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    override_id: str = Field(max_length=64)
    source_document: str = Field(max_length=500)
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = _instant()


class ImportedPeriod(SQLModel, table=True):
    """A period score sent by a person's former agency, for a year-end cycle.

    Decree 335: the agency where the person works at classification time classifies
    them, with the monthly and quarterly results the old agency sends. Imported by
    `kpi year-end import`; read with the cycle's own periods by ``period_mean``.
    """

    __table_args__ = (UniqueConstraint("cycle_id", "person_id", "period_start"),)
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True, max_length=64)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=64)
    source_agency: str = Field(max_length=300)
    period_start: date
    period_end: date
    status: str = Field(max_length=16)  # worked | leave
    groups: dict[str, Any] = _json(default={})  # points per group of the regime (strings)
    total: str | None = Field(default=None, max_length=40)
    class_id: str | None = Field(default=None, max_length=32)  # as the old agency classed it
    document: str = Field(max_length=500)  # the old agency's dispatch sending the results
    imported_by: str = Field(max_length=64)
    imported_at: datetime = _instant()


class CalibrationMove(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True, max_length=64)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    from_class: str = Field(max_length=32)
    to_class: str = Field(max_length=32)
    reason: str = Field(max_length=2000)
    moved_by: str = Field(max_length=64)
    moved_at: datetime = _instant()


class CalibrationApproval(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True, max_length=64)
    approved_by: str = Field(max_length=64)
    approved_at: datetime = _instant()
    pools: dict[str, Any] = _json(default={})  # the quota meter at approval


class Publication(SQLModel, table=True):
    """A unit's results published in the unit (Law on Public Employees 2025 Art 26;
    Decree 90 Arts 20-22): when, and how many results. The date starts the petition
    window where the regime says so (``petition.starts: publication``)."""

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", max_length=64)
    unit_id: str = Field(max_length=64)
    published_at: datetime = _instant()
    evaluations: int = 0  # the results published (cancelled evaluations are not)


class AuditEvent(SQLModel, table=True):
    """Append-only; each row's hash covers its content and the previous row's hash."""

    # The state keys of a cycle's kept exports (service/report_cache.py): the cycle's
    # last row, and the organisation's last import, each one index probe. Without them
    # the key read the chain's global head, and any row of any cycle rebuilt every
    # cycle's exports.
    __table_args__ = (
        Index("ix_auditevent_cycle_seq", "cycle_id", "seq"),
        Index("ix_auditevent_org_import", "seq", sqlite_where=text("trigger = 'org_import'"),
              postgresql_where=text("trigger = 'org_import'")),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    evaluation_id: int | None = Field(default=None, index=True)
    cycle_id: str | None = Field(default=None, max_length=64)
    actor_id: str = Field(max_length=64)
    role: str = Field(max_length=32)
    at: datetime = _instant()
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    trigger: str = Field(max_length=40)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """One row: the end of the chain. Updating it serialises appends across workers."""

    id: int = Field(default=1, primary_key=True)
    last_seq: int = 0
    last_hash: str = Field(max_length=64)


class Outbox(SQLModel, table=True):
    """Mail to send, written in the transaction that caused it."""

    # In the dispatcher's claim order (available_at, id), for the same reason as
    # the deadlines': a sweep's mail shares one available_at (1 s a claim at 339,000).
    # And in the digest folding's order: a recipient's held notices together. Without
    # it each fold of 2,000 sorted every held row (7 s a fold at 1,900,000 held).
    __table_args__ = (
        Index("ix_outbox_status_available", "status", "available_at", "id"),
        Index("ix_outbox_held_by_recipient", "recipient_email", "available_at", "id",
              sqlite_where=text("status = 'held'"), postgresql_where=text("status = 'held'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    event: str = Field(max_length=64)
    evaluation_id: int | None = Field(default=None, index=True)
    recipient_id: str | None = Field(default=None, max_length=64)
    recipient_email: str = Field(max_length=320)
    recipient_name: str = Field(max_length=300)
    locale: str = Field(max_length=8)
    timezone: str = Field(max_length=64)
    context: dict[str, Any] = _json(default={})
    status: str = Field(default="pending", max_length=16)  # pending|sending|sent|dead
    attempts: int = 0
    available_at: datetime = _instant()
    lease_until: datetime | None = _instant(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_id: str = Field(max_length=300)
    created_at: datetime = _instant()
    sent_at: datetime | None = _instant(nullable=True)


class AccessToken(SQLModel, table=True):
    """A personal link: the token is only stored hashed; scoped and expiring."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    # No index of person_id: no query looks links up by person (a link is found by its
    # hash, a publication's by evaluation), and people are never deleted.
    person_id: str = Field(foreign_key="person.id", max_length=64)
    evaluation_id: int | None = Field(default=None, index=True)
    role: str = Field(max_length=32)
    action: str = Field(max_length=40)
    expires_at: datetime = _instant()
    used_at: datetime | None = _instant(nullable=True)
    created_at: datetime = _instant()


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie names it, so signing out (or an admin) can end it
    on the server; a replayed cookie then finds it revoked. Only its hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    person_id: str = Field(foreign_key="person.id", index=True, max_length=64)
    created_at: datetime = _instant()
    expires_at: datetime = _instant()
    revoked_at: datetime | None = _instant(nullable=True)
    revoked_by: str | None = Field(default=None, max_length=64)


class ScheduledOpen(SQLModel, table=True):
    """A period of a series that the sweep opens at ``open_at``, once (workflow/series.py).

    ``cycle_text`` is the generated cycle file as it was checked when scheduled: what
    opens is what the admin saw. ``status``: pending, opened, or failed (``problem``
    says why; nothing of the cycle was written)."""

    __table_args__ = (
        Index("ix_scheduledopen_pending", "open_at",
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )
    cycle_id: str = Field(primary_key=True, max_length=64)
    series_id: str = Field(max_length=64, index=True)
    period_key: str = Field(max_length=16)
    source: str = Field(max_length=500)  # the series file it came from
    cycle_text: str = Field(sa_column=Column(Text, nullable=False))
    open_at: datetime = _instant()
    status: str = Field(default="pending", max_length=16)
    problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scheduled_by: str = Field(max_length=64)
    scheduled_at: datetime = _instant()
    done_at: datetime | None = _instant(nullable=True)


class StagedFile(SQLModel, table=True):
    """A file an admin uploaded to preview (the organisation), kept on the server until
    they confirm it or it expires: the confirmation applies exactly these bytes, never
    what a browser sends again. Tied to the sign-in session; only hashes of its token and
    of the session are stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    session_hash: str = Field(max_length=64)
    person_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # org
    file_name: str = Field(max_length=300)
    digest: str = Field(max_length=64)  # sha256 of content
    fingerprint: str = Field(max_length=64)  # of what it was previewed against
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _instant()
    expires_at: datetime = _instant(index=True)


class ReportFile(SQLModel, table=True):
    """An export of a cycle (the report in a format, a list) as built for one state of
    the cycle (``state_key``): served again while that state holds, rebuilt when it
    changes. At 100,000 people the report takes minutes to gather; a download of the
    kept file takes a second, and every web process of a deployment shares it."""

    __table_args__ = (UniqueConstraint("cycle_id", "artefact", "locale", "state_key"),)
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True, max_length=64)
    artefact: str = Field(max_length=40)  # report.xlsx, list-excellent.csv, fragment.html...
    locale: str = Field(max_length=8)
    state_key: str = Field(max_length=64)
    size: int = 0  # bytes
    chunks: int = 0
    build_seconds: float = 0.0
    built_at: datetime = _instant()


class ReportChunk(SQLModel, table=True):
    """One piece of a kept export (1 MiB at most): a download streams them in order."""

    file_id: int = Field(foreign_key="reportfile.id", primary_key=True)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


ALL_TABLES = [
    Unit, Position, Person, Rulebook, Cycle, Evaluation, Assignment, Submission, Draft,
    Deadline, Extension, OverrideFact, ImportedPeriod, CalibrationMove, CalibrationApproval,
    Publication, AuditEvent, AuditHead, Outbox, AccessToken, WebSession, ScheduledOpen,
    StagedFile, ReportFile, ReportChunk,
]


def _core_table(model: type[SQLModel]) -> Table:
    # SQLModel sets ``__table__`` when the class is created, which no type checker
    # can see: one checked look-up here instead of a ``type: ignore`` at every use.
    table = sa_inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


UNIT: Table = _core_table(Unit)
POSITION: Table = _core_table(Position)
PERSON: Table = _core_table(Person)
RULEBOOK: Table = _core_table(Rulebook)
CYCLE: Table = _core_table(Cycle)
EVALUATION: Table = _core_table(Evaluation)
ASSIGNMENT: Table = _core_table(Assignment)
SUBMISSION: Table = _core_table(Submission)
DRAFT: Table = _core_table(Draft)
DEADLINE: Table = _core_table(Deadline)
EXTENSION: Table = _core_table(Extension)
OVERRIDE: Table = _core_table(OverrideFact)
IMPORTED: Table = _core_table(ImportedPeriod)
MOVE: Table = _core_table(CalibrationMove)
APPROVAL: Table = _core_table(CalibrationApproval)
PUBLICATION: Table = _core_table(Publication)
AUDIT: Table = _core_table(AuditEvent)
AUDIT_HEAD: Table = _core_table(AuditHead)
OUTBOX: Table = _core_table(Outbox)
TOKEN: Table = _core_table(AccessToken)
WEB_SESSION: Table = _core_table(WebSession)
SCHEDULED_OPEN: Table = _core_table(ScheduledOpen)
STAGED_FILE: Table = _core_table(StagedFile)
REPORT_FILE: Table = _core_table(ReportFile)
REPORT_CHUNK: Table = _core_table(ReportChunk)
