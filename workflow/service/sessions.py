"""Web sessions kept on the server: started at sign-in, ended by signing out or by an admin.

The session cookie carries a random session id (signed, with the person's id); the
database keeps only its hash, the person, when it expires and whether it was revoked.
A cookie is a session only while its row says so: after sign-out, a copy of the cookie
replayed by someone else is refused (401), and an admin can end every session of a
person at once (a stolen laptop, someone who left), on the record.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlmodel import Session

from workflow.clock import utc_now
from workflow.domain import Role
from workflow.errors import NotPermitted, PersonNotFound
from workflow.service.core import Service
from workflow.store import audit
from workflow.store.results import rows_matched
from workflow.store.tables import CYCLE, PERSON, WEB_SESSION

SESSION_ID_BYTES = 32


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def start(svc: Service, person_id: str, lifetime: timedelta, *,
          now: datetime | None = None) -> str:
    """A new session for ``person_id``; the raw session id for the cookie."""
    now = now or utc_now()
    raw = secrets.token_urlsafe(SESSION_ID_BYTES)
    with svc.store.write() as session:
        session.execute(insert(WEB_SESSION).values(
            session_hash=_hash(raw), person_id=person_id, created_at=now,
            expires_at=now + lifetime, revoked_at=None))
    return raw


def holder(svc: Service, session_id: str, person_id: str) -> bool:
    """Whether ``session_id`` is a live session of ``person_id`` (started, not revoked).

    Its lifetime is the signed cookie's, checked by the web layer on the real clock:
    the app's own clock may jump days ahead (the demo, the tests) and must not sign
    people out."""
    if not session_id or len(session_id) > 200:
        return False
    with svc.store.read() as session:
        row = session.execute(select(WEB_SESSION.c.person_id, WEB_SESSION.c.revoked_at)
                              .where(WEB_SESSION.c.session_hash == _hash(session_id))).first()
    return row is not None and row.person_id == person_id and row.revoked_at is None


def end(svc: Service, session_id: str, *, now: datetime | None = None) -> None:
    """Sign out: this session is over, on the server too."""
    now = now or utc_now()
    with svc.store.write() as session:
        session.execute(update(WEB_SESSION).where(
            WEB_SESSION.c.session_hash == _hash(session_id),
            WEB_SESSION.c.revoked_at.is_(None)).values(revoked_at=now, revoked_by="sign_out"))


def revoke_all(svc: Service, person_id: str, actor_id: str, reason: str, *,
               now: datetime | None = None) -> int:
    """End every live session of ``person_id``, by an admin, with an audit row; how many.

    Admins are those of the settings or of any cycle file (``may_administer``)."""
    now = now or utc_now()
    text = (reason or "").strip()
    with svc.store.write() as session:
        if not may_administer(svc, session, actor_id):
            raise NotPermitted(0, actor_id, "revoke_sessions", "it needs the role admin")
        if session.execute(select(PERSON.c.id).where(PERSON.c.id == person_id)).first() is None:
            raise PersonNotFound(person_id)
        done = session.execute(update(WEB_SESSION).where(
            WEB_SESSION.c.person_id == person_id, WEB_SESSION.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor_id))
        count = rows_matched(done)
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="revoke_sessions",
            reason=text or None, payload={"person": person_id, "sessions": count})])
    return count


def may_administer(svc: Service, session: Session, person_id: str) -> bool:
    """An admin of the settings or of any cycle's file."""
    if svc.is_any_admin(person_id):
        return True
    return any(person_id in svc.admins(svc.rules.get(session, cid))
               for cid in session.execute(select(CYCLE.c.id)).scalars())
