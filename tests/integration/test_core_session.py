"""The step's transaction on a Core connection (workflow/store/core_session.py).

``Store.write_core`` answers a session's calls without the ORM's transaction
machinery; what needs the ORM goes to a Session joined to the same transaction.
Checked on both stores: Core and ORM writes are one transaction (both kept, or
neither), the transaction's driver cursor does not outlive it, and a step fired on
a fresh service (whose rules are read with ``session.get``) writes every row.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from tests.support import small_world
from workflow.service.core import Service
from workflow.store import bulk
from workflow.store.tables import AUDIT, SUBMISSION, UNIT, Unit

pytestmark = pytest.mark.both_stores

NAME = 'Phòng "Kế hoạch" <b>'


def unit_names(svc: Service) -> dict[str, str]:
    with svc.store.read() as s:
        return {r.id: r.name for r in s.execute(select(UNIT.c.id, UNIT.c.name))}


def test_core_and_orm_writes_are_one_transaction(svc: Service) -> None:
    with svc.store.write_core() as session:
        session.execute(insert(UNIT).values(id="u-core", name=NAME))
        # The ORM part sees the Core part's uncommitted row: the same transaction.
        found = session.get(Unit, "u-core")
        assert found is not None and found.name == NAME
        session.add(Unit(id="u-orm", name="added through the ORM"))
    assert unit_names(svc) == {"u-core": NAME, "u-orm": "added through the ORM"}


def test_an_error_keeps_nothing_of_either_part(svc: Service) -> None:
    with pytest.raises(RuntimeError, match="half way"), svc.store.write_core() as session:
        session.execute(insert(UNIT).values(id="u-core", name=NAME))
        session.add(Unit(id="u-orm", name="added through the ORM"))
        bulk.run(session, "INSERT INTO unit (id, name) VALUES ("
                 + ("%s, %s)" if bulk.dialect_name(session) == "postgresql" else "?, ?)"),
                 ("u-cursor", "on the driver's cursor"))
        raise RuntimeError("half way")
    assert unit_names(svc) == {}


def test_the_transaction_cache_and_its_cursor_end_with_the_transaction(svc: Service) -> None:
    with svc.store.write_core() as session:
        cursor = bulk.dbapi_cursor(session)
        assert bulk.transaction_cache(session)["cursor"] is cursor
    assert "kpi_tx" not in session.info
    with pytest.raises(svc.store.engine.dialect.loaded_dbapi.Error):
        cursor.execute("SELECT 1")  # closed with its transaction


def test_a_step_on_a_fresh_service_writes_every_row(svc: Service) -> None:
    world = small_world(svc)
    # A new service knows no cycle yet: the step reads the rules (session.get).
    fresh = Service(svc.store, svc.settings)
    world.svc = fresh
    outcome = world.submit_self("S1")
    assert outcome.version == 2
    with svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(SUBMISSION)).scalar_one() == 1
        assert s.execute(select(AUDIT.c.trigger).order_by(AUDIT.c.seq.desc())
                         .limit(1)).scalar_one() == "submit_self_assessment"
