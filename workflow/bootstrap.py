"""The composition root: settings and store in, a Service out. Edges call only this."""

from __future__ import annotations

from workflow.service.core import Service
from workflow.settings import Settings, load_settings
from workflow.store.db import Store


def build_service(settings: Settings | None = None, *, check_schema: bool = True) -> Service:
    """A Service on the configured database; SchemaOutOfDate unless `kpi init` was run."""
    settings = settings or load_settings()
    store = Store(settings.database_url)
    if check_schema:
        store.require_current_schema()
    return Service(store=store, settings=settings)
