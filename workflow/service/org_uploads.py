"""The organisation file uploaded in the browser: previewed, kept on the server, applied.

The admin page never trusts the browser with the preview: ``stage`` previews the file
(``workflow.service.org.preview_org``, the same call as `kpi org import --dry-run`) and
keeps its bytes in the store, tied to the admin's sign-in session, with the file's
digest and the fingerprint of the organisation it was previewed against; the form
carries only a random token. ``confirm`` applies exactly those bytes, all or nothing,
and only if the organisation is still the one previewed; otherwise ``OrgChangedSincePreview``
and ``restage`` previews the same file against the organisation as it is now.

Importing the organisation is a province-level act (the file may touch every agency):
only an admin whose scope is everything may do it (workflow/service/admin_scope.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, insert, or_, select, update

from workflow.clock import utc_now
from workflow.errors import StagedFileGone
from workflow.service import admin_scope
from workflow.service.core import Service
from workflow.service.org import ImportReport, OrgPreview, apply_in_session, preview_org
from workflow.store.tables import STAGED_FILE

KIND = "org"
# Long enough to read a preview of a large organisation and ask a colleague; a staged
# file is deleted once applied, or by the next upload after it expires.
LIFETIME = timedelta(hours=2)
TOKEN_BYTES = 24


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Staged:
    token: str  # for the confirmation form; only its hash is stored
    preview: OrgPreview


def require_importer(svc: Service, admin_id: str) -> None:
    """NotPermitted unless ``admin_id`` administers everything."""
    if not admin_scope.scope_for(svc, admin_id).everything:
        raise admin_scope.ProvinceRightNeeded(admin_id, "org_import")


def stage(svc: Service, *, session_id: str, admin_id: str, file_name: str, raw: bytes,
          now: datetime | None = None) -> Staged:
    """Preview ``raw`` and keep it for the confirmation; OrgImportError (nothing kept)
    when rows are bad. The session's earlier upload, and expired ones, are dropped."""
    now = now or utc_now()
    require_importer(svc, admin_id)
    preview = preview_org(svc, file_name, raw)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with svc.store.write() as session:
        session.execute(delete(STAGED_FILE).where(or_(
            STAGED_FILE.c.expires_at < now,
            (STAGED_FILE.c.session_hash == _hash(session_id)) & (STAGED_FILE.c.kind == KIND))))
        session.execute(insert(STAGED_FILE).values(
            token_hash=_hash(token), session_hash=_hash(session_id), person_id=admin_id,
            kind=KIND, file_name=file_name, digest=preview.digest,
            fingerprint=preview.fingerprint, content=raw, created_at=now,
            expires_at=now + LIFETIME))
    return Staged(token, preview)


def _where(token: str, session_id: str, admin_id: str, now: datetime
           ) -> tuple[ColumnElement[bool], ...]:
    return (STAGED_FILE.c.token_hash == _hash(token),
            STAGED_FILE.c.session_hash == _hash(session_id),
            STAGED_FILE.c.person_id == admin_id, STAGED_FILE.c.kind == KIND,
            STAGED_FILE.c.expires_at >= now)


def confirm(svc: Service, token: str, *, session_id: str, admin_id: str,
            now: datetime | None = None) -> tuple[str, ImportReport]:
    """Apply the staged file exactly as previewed and drop it, in one transaction.

    StagedFileGone: no such upload for this session (applied already, expired, another
    browser's); OrgChangedSincePreview: the organisation changed, nothing imported."""
    now = now or utc_now()
    require_importer(svc, admin_id)
    with svc.store.write() as session:
        row = session.execute(select(STAGED_FILE).where(
            *_where(token, session_id, admin_id, now))).first()
        if row is None or hashlib.sha256(row.content).hexdigest() != row.digest:
            raise StagedFileGone()
        report = apply_in_session(session, row.file_name, bytes(row.content), actor_id=admin_id,
                           now=now, expected_fingerprint=row.fingerprint, svc=svc)
        session.execute(delete(STAGED_FILE).where(STAGED_FILE.c.id == row.id))
    return row.file_name, report


def restage(svc: Service, token: str, *, session_id: str, admin_id: str,
            now: datetime | None = None) -> OrgPreview:
    """The staged file previewed again against the organisation as it is now; the
    confirmation then applies against that. OrgImportError if it no longer fits."""
    now = now or utc_now()
    require_importer(svc, admin_id)
    with svc.store.read() as session:
        row = session.execute(select(STAGED_FILE.c.file_name, STAGED_FILE.c.content).where(
            *_where(token, session_id, admin_id, now))).first()
    if row is None:
        raise StagedFileGone()
    preview = preview_org(svc, row.file_name, bytes(row.content))
    with svc.store.write() as session:
        session.execute(update(STAGED_FILE).where(*_where(token, session_id, admin_id, now))
                        .values(fingerprint=preview.fingerprint))
    return preview
