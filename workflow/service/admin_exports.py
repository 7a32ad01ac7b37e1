"""What an admin downloads from the web (issue 18, item 4): a cycle's report and lists
(kept per cycle state, ``report_cache``), a person's record, the dead letters.

Every read here takes the signed-in admin's id and goes through ``admin_cycles``,
the one place that says which cycles (and so which people and emails) an admin may
see: a narrower scope (per agency) narrows every export at once.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select, true
from sqlmodel import Session

from workflow import catalog
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.errors import CycleNotFound, NotFound, NotPermitted, PersonNotFound
from workflow.reports.csv_files import safe_text
from workflow.reports.html import record_html, write_pdf
from workflow.service import admin_scope, report_cache
from workflow.service.core import Service
from workflow.store.tables import CYCLE, EVALUATION, OUTBOX, PERSON

RECORD_FORMATS = ("pdf", "html")
# The stem of each download's file name, in the reader's language.
STEMS = {
    "report": N_("report"),
    "list-not-completed": N_("not-completed"),
    "list-excellent": N_("excellent"),
    "list-training": N_("training"),
    "signals": N_("fairness-signals"),
    "record": N_("record"),
    "dead-letters": N_("undeliverable-emails"),
}
DEAD_LETTER_HEADER = ("outbox_id", "event", "recipient_id", "recipient_name",
                      "failed_address", "current_address", "attempts", "last_error",
                      "evaluation_id", "cycle_id", "created_at")
MAX_DEAD_LETTERS = 100_000


class NotAnAdmin(NotPermitted):
    user_message = N_("Only the HR administrators of an evaluation cycle see this page.")

    def __init__(self, person_id: str) -> None:
        super().__init__(0, person_id, "admin", "they administer no cycle")


class NotAdminOfCycle(NotPermitted):
    user_message = N_("You do not administer the evaluation cycle %(cycle)s, so its files "
                      "are not shown.")

    def user_params(self) -> dict[str, object]:
        return {"cycle": self.cycle_id}

    def __init__(self, person_id: str, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        super().__init__(0, person_id, "export", f"they do not administer cycle {cycle_id}")


class CycleNotTheirs(NotAdminOfCycle):
    """A cycle they see nothing of, asked for by its address (its report page, its
    exports, a download): refused, as every cycle-wide file is (never "not found": the
    same answer on every route), naming the agencies whose evaluations it holds."""

    user_message = N_("You do not administer the evaluation cycle %(cycle)s (the agencies in "
                      "it: %(agencies)s), so its report and files are not shown. An "
                      "administrator of that cycle, or of the whole province, can see them.")

    def __init__(self, person_id: str, cycle_id: str, agencies: tuple[str, ...]) -> None:
        self.cycle_id = cycle_id
        self.agencies = agencies
        NotPermitted.__init__(self, 0, person_id, "export", (
            f"they do not administer cycle {cycle_id} (its agencies: "
            f"{'; '.join(agencies) or 'none'}); an admin of that cycle or of the whole "
            "deployment may see it"))

    def user_params(self) -> dict[str, object]:
        return {"cycle": self.cycle_id, "agencies": "; ".join(self.agencies)}


class PersonNotInScope(NotPermitted):
    user_message = N_("%(person)s has no evaluation in a cycle you administer, so their "
                      "record is not shown.")

    def user_params(self) -> dict[str, object]:
        return {"person": self.person_id}

    def __init__(self, admin_id: str, person_id: str) -> None:
        self.person_id = person_id
        super().__init__(0, admin_id, "record", f"{person_id} has no evaluation in a cycle "
                         "they administer")


class FormatNotOffered(NotFound):
    user_message = N_("“%(asked)s” is not a file offered here. The files offered are: "
                      "%(offered)s.")

    def user_params(self) -> dict[str, object]:
        return {"asked": self.asked, "offered": ", ".join(self.offered)}

    def __init__(self, asked: str, offered: tuple[str, ...]) -> None:
        self.asked = asked
        self.offered = offered
        super().__init__(f"{asked!r} is not offered; the files are {', '.join(offered)}")


@dataclass(frozen=True)
class Download:
    """A file to send: its name, type, size when known, and its bytes in pieces."""

    filename: str
    media_type: str
    body: Iterator[bytes]
    size: int | None = None
    built_at: datetime | None = None
    built_now: bool = False

    def content_disposition(self) -> str:
        return content_disposition(self.filename)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the real name in
    ``filename*`` (RFC 6266 with RFC 5987's UTF-8 encoding: Vietnamese names intact)."""
    return f"attachment; filename=\"{ascii_name(filename)}\"; filename*=UTF-8''" + quote(
        filename, safe="!#$&+-.^_`|~")


def ascii_name(filename: str) -> str:
    """The name without diacritics and with nothing a header or a file system could
    misread (quotes, slashes, control characters)."""
    plain = unicodedata.normalize("NFKD", filename.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = re.sub(r"[^A-Za-z0-9.-]+", "_", plain.encode("ascii", "ignore").decode())
    return plain.strip("._") or "download"


def file_name(locale: str, stem: str, *parts: str, ext: str) -> str:
    """``stem-part-part.ext``, the stem in ``locale``; parts lose what a name cannot hold."""
    words = [catalog.gettext(locale, STEMS[stem]), *parts]
    cleaned = (" ".join(re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "", w).split()) for w in words)
    name = "-".join(w for w in cleaned if w)
    return f"{name}.{ext}"


# --- scope ------------------------------------------------------------------------------


def admin_cycles(svc: Service, session: Session, admin_id: str) -> dict[str, str]:
    """The cycles ``admin_id`` administers (id -> name), oldest first: every export and
    file of this module reads through it."""
    # A cycle's exports cover every agency in it: only an admin who sees the whole cycle
    # (settings' admins, the cycle file's, a "*" or "cycle:" grant) downloads them.
    # An agency admin downloads those of their agency's own cycles (may_export_cycle).
    mine = admin_scope.scope_for(svc, admin_id)
    rows = session.execute(select(CYCLE.c.id, CYCLE.c.name).order_by(CYCLE.c.opened_at)).all()
    return {r.id: r.name for r in rows if mine.may_export_cycle(r.id)}


def _cycle_in_scope(svc: Service, admin_id: str, cycle_id: str) -> str:
    with svc.store.read() as session:
        cycles = admin_cycles(svc, session, admin_id)
        if cycle_id in cycles:
            return cycles[cycle_id]
        known = session.execute(select(CYCLE.c.id).where(CYCLE.c.id == cycle_id)).first()
    mine = admin_scope.scope_for(svc, admin_id)
    if not mine.is_admin:  # before "not found": which cycles exist is an admin's to know
        raise NotAnAdmin(admin_id)
    if known is None:
        raise CycleNotFound(cycle_id)
    # A cycle they see part of: the refusal names the other agency's units in it.
    admin_scope.require_cycle_files(svc, mine, cycle_id)
    with svc.store.read() as session:
        agencies = admin_scope.agencies_of_cycle(session, cycle_id)
    raise CycleNotTheirs(admin_id, cycle_id, agencies)


# --- the exports page -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportsPage:
    cycle_id: str
    cycle_name: str
    # download -> kept for the state, being prepared, or None (prepared when asked for)
    ready: dict[str, report_cache.KeptFile | report_cache.Preparing | None]
    evaluations: int
    dead_letters: int


def exports_page(svc: Service, admin_id: str, cycle_id: str, locale: str, *,
                 now: datetime | None = None) -> ExportsPage:
    """What the cycle's exports page shows: each download, and whether it is ready."""
    name = _cycle_in_scope(svc, admin_id, cycle_id)
    ready = report_cache.ready(svc, cycle_id, locale, now=now)
    with svc.store.read() as session:
        evaluations = int(session.execute(select(func.count()).select_from(EVALUATION).where(
            EVALUATION.c.cycle_id == cycle_id)).scalar_one())
        dead = sum(1 for _ in _dead_letter_rows(svc, session, admin_id, limit=1000))
    return ExportsPage(cycle_id, name, ready, evaluations, dead)


# --- downloads --------------------------------------------------------------------------


def cycle_download(svc: Service, admin_id: str, cycle_id: str, artefact: str, locale: str,
                   *, now: datetime | None = None) -> Download | report_cache.Preparing:
    """The cycle's report (``report.xlsx|csv|html|pdf``) or a list
    (``list-not-completed|excellent|training.csv``) or every fairness signal
    (``signals.csv``), for its current state; a large cycle's first one is prepared in
    the background (Preparing)."""
    _cycle_in_scope(svc, admin_id, cycle_id)
    if artefact not in report_cache.DOWNLOADS:
        raise FormatNotOffered(artefact, report_cache.DOWNLOADS)
    file = report_cache.kept_or_preparing(svc, cycle_id, artefact, locale, now=now)
    if isinstance(file, report_cache.Preparing):
        return file
    stem, ext = artefact.rsplit(".", 1)
    return Download(file_name(locale, stem, cycle_id, ext=ext), file.media_type,
                    report_cache.chunks(svc, file), file.size, file.built_at, file.built_now)


def report_fragment(svc: Service, admin_id: str, cycle_id: str, locale: str, *,
                    now: datetime | None = None
                    ) -> tuple[str, str | None, report_cache.KeptFile | report_cache.Preparing]:
    """(cycle name, the report's HTML fragment or None while it is prepared, the kept
    file or the build under way) for the admin report page."""
    name = _cycle_in_scope(svc, admin_id, cycle_id)
    file = report_cache.kept_or_preparing(svc, cycle_id, "fragment.html", locale, now=now)
    if isinstance(file, report_cache.Preparing):
        return name, None, file
    return name, report_cache.read_text(svc, file), file


def person_in_scope(svc: Service, session: Session, admin_id: str, person_id: str
                    ) -> list[str]:
    """The cycles of ``admin_id`` that ``person_id`` was evaluated in (PersonNotFound,
    PersonNotInScope when none)."""
    person = session.execute(select(PERSON.c.id).where(PERSON.c.id == person_id)).first()
    if person is None:
        raise PersonNotFound(person_id)
    # Their evaluations the admin sees, one by one (an agency admin: those of their
    # agency's units, in a cycle of several agencies too); someone of another agency is
    # refused naming it (PersonOutsideScope), before anything of theirs is read.
    mine = admin_scope.scope_for(svc, admin_id)
    if not mine.is_admin:
        raise NotAnAdmin(admin_id)
    evaluated = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id).where(
        EVALUATION.c.reviewee_id == person_id)).all()
    theirs = list(dict.fromkeys(str(r.cycle_id) for r in evaluated
                                if mine.may_see_evaluation(r.cycle_id, r.unit_id)))
    if not theirs:
        if mine.by_units:  # an agency admin: the person's own agency is named
            admin_scope.require_people(svc, mine, [person_id])
        raise PersonNotInScope(admin_id, person_id)
    return theirs


def record_download(svc: Service, admin_id: str, person_id: str, fmt: str, locale: str, *,
                    now: datetime | None = None) -> Download:
    """A person's record (their evaluations in the admin's cycles, each with its audit
    trail) as PDF or HTML, in the admin's language."""
    if fmt not in RECORD_FORMATS:
        raise FormatNotOffered(fmt, RECORD_FORMATS)
    with svc.store.read() as session:
        cycles = person_in_scope(svc, session, admin_id, person_id)
        full_name = session.execute(select(PERSON.c.full_name).where(
            PERSON.c.id == person_id)).scalar_one()
    html = record_html(svc, person_id, now=now or utc_now(), locale=locale, cycles=cycles)
    name = file_name(locale, "record", person_id, full_name, ext=fmt)
    if fmt == "html":
        data = html.encode("utf-8")
        return Download(name, "text/html; charset=utf-8", iter([data]), len(data))
    with tempfile.TemporaryDirectory(prefix="kpi-record-") as folder:
        path = Path(folder) / "record.pdf"
        write_pdf(html, path)
        data = path.read_bytes()
    return Download(name, "application/pdf", iter([data]), len(data))


def _dead_letter_rows(svc: Service, session: Session, admin_id: str,
                      limit: int = MAX_DEAD_LETTERS) -> Iterator[list[object]]:
    """The dead letters of the evaluations the admin sees (an agency admin: their
    agency's, in a cycle of several agencies too; an admin of everything: the ones of no
    evaluation as well, sign-in emails and digests), oldest first."""
    reach = admin_scope.evaluations_in_reach(admin_scope.scope_for(svc, admin_id))
    scope = true() if reach is None else reach
    rows = session.execute(
        select(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.recipient_id, OUTBOX.c.recipient_name,
               OUTBOX.c.recipient_email, PERSON.c.email.label("current_email"),
               OUTBOX.c.attempts, OUTBOX.c.last_error, OUTBOX.c.evaluation_id,
               EVALUATION.c.cycle_id, OUTBOX.c.created_at)
        .select_from(OUTBOX.outerjoin(PERSON, PERSON.c.id == OUTBOX.c.recipient_id)
                     .outerjoin(EVALUATION, EVALUATION.c.id == OUTBOX.c.evaluation_id))
        .where(OUTBOX.c.status == "dead", scope).order_by(OUTBOX.c.id).limit(limit))
    for r in rows:
        yield [r.id, r.event, r.recipient_id, r.recipient_name, r.recipient_email,
               r.current_email, r.attempts, r.last_error, r.evaluation_id, r.cycle_id,
               r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if r.created_at else ""]


def dead_letters_download(svc: Service, admin_id: str, locale: str) -> Download:
    """The undeliverable emails of the admin's cycles as CSV, with the address that failed
    and the one the organisation has now (a retry goes there)."""
    if not admin_scope.scope_for(svc, admin_id).is_admin:
        raise NotAnAdmin(admin_id)
    with svc.store.read() as session:
        rows = list(_dead_letter_rows(svc, session, admin_id))
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a spreadsheet then reads the Vietnamese names right
    writer = csv.writer(buffer)
    writer.writerow(DEAD_LETTER_HEADER)
    for row in rows:
        writer.writerow(["" if v is None else safe_text(v) if isinstance(v, str) else v
                         for v in row])
    data = buffer.getvalue().encode("utf-8")
    return Download(file_name(locale, "dead-letters", ext="csv"), "text/csv; charset=utf-8",
                    iter([data]), len(data))
