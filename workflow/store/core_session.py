"""A write transaction on a Core connection, for the step's one hot transaction.

``transition.fire`` runs one short transaction per human step. Through an ORM
``Session`` its begin, connection lookup, commit and close cost about 140 us of CPU
(an empty write transaction: 194 us with a Session, 89 us on a Connection; issue
16, bench/PEERS.md), more than most of the step's statements, which go to the
driver's cursor anyway (``bulk``). ``CoreSession`` answers the calls the service
layer makes of a session (``execute`` of Core statements, ``info``, ``connection``,
``get_transaction``, ``get_bind``) on the Connection itself. Whatever needs the ORM
(``get`` of a model, an ORM-enabled ``select``) goes to a real Session joined to the
same connection and transaction, made on first use, so every caller sees one
transaction whatever it asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from workflow.store import bulk

if TYPE_CHECKING:
    from workflow.store.db import Store


class CoreSession:
    """What a service function asks of a session, answered on a Core connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._orm: Session | None = None
        # Lives as long as the transaction: ``bulk.transaction_cache`` keeps its
        # per-transaction reads here, as in a Session's ``info``.
        self.info: dict[str, Any] = {}

    def connection(self) -> Connection:
        return self._connection

    def get_transaction(self) -> Any:
        return self._connection.get_transaction()

    def get_bind(self) -> Engine:
        return self._connection.engine

    def execute(self, statement: Any, params: Any = None) -> Any:
        """A Core statement on the connection; an ORM-enabled one through the ORM."""
        if getattr(statement, "_propagate_attrs", {}).get("compile_state_plugin") == "orm":
            return self.orm().execute(statement, params)
        return self._connection.execute(statement, params)

    def orm(self) -> Session:
        """The ORM Session on this transaction's connection: it joins the transaction
        and never commits it (the connection does, once)."""
        if self._orm is None:
            self._orm = Session(bind=self._connection, join_transaction_mode="rollback_only",
                                expire_on_commit=False)
        return self._orm

    def __getattr__(self, name: str) -> Any:
        # Anything else a Session offers (``get`` of a model...) is the joined Session's.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.orm(), name)

    def _finish(self, *, flush: bool) -> None:
        """Flush (before the commit) and close the joined ORM Session, if one was made."""
        orm, self._orm = self._orm, None
        if orm is not None:
            try:
                if flush:
                    orm.flush()
            finally:
                orm.close()


@contextmanager
def write(store: Store) -> Iterator[Session]:
    """One write transaction on a Core connection of ``store`` (SQLite: ``BEGIN
    IMMEDIATE``, as ``Store.write``): committed when the block ends, rolled back on
    error; typed as a Session for the service functions it is handed to."""
    with store.engine.connect() as conn:
        session = CoreSession(conn)
        try:
            with conn.begin():
                yield cast(Session, session)
                session._finish(flush=True)
        finally:
            session._finish(flush=False)
            bulk.end_transaction_cache(session.info)
