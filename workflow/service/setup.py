"""`kpi init`: create or upgrade the schema, and the audit chain's head."""

from __future__ import annotations

from workflow.service.core import Service
from workflow.store import audit


def init_database(svc: Service) -> tuple[str | None, str]:
    """Bring the database to the newest migration; (revision before, revision after)."""
    before, after = svc.store.upgrade()
    with svc.store.write() as session:
        audit.ensure_head(session)
    return before, after
