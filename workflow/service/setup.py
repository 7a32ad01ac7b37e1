"""`kpi init`: create or upgrade the schema, and the audit chain's head; and what to
tell the user when the database cannot be used at all."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from workflow.service.core import Service
from workflow.store import audit


def init_database(svc: Service) -> tuple[str | None, str]:
    """Bring the database to the newest migration; (revision before, revision after)."""
    before, after = svc.store.upgrade()
    with svc.store.write() as session:
        audit.ensure_head(session)
    return before, after


def database_failure(exc: BaseException) -> str | None:
    """The one line for the user when ``exc`` says the database cannot be used (missing
    file's folder, server down, locked past the busy timeout), else None."""
    if isinstance(exc, OperationalError):
        return f"the database cannot be used: {exc.orig}"
    return None
