"""A cycle's exports kept for the state they were built from (issue 18, item 4).

Gathering a cycle's report reads every evaluation (about three minutes at 100,000
people); the admins download the same report many times between two changes of the
cycle. Each export built is kept in the database (``ReportFile``, its bytes in 1 MiB
``ReportChunk`` rows, so that every web process of a deployment shares it) under the
cycle's **state key**: a hash of what the report reads and how it is written. Any
change gives a new key, so a kept file is never served for a state it was not built
from; it is rebuilt on the next request, and the one before it is kept until then so
that a download in progress can finish.

What the key covers, each one index probe, whatever the size of the cycle or of the
database (a few milliseconds at 100,000 people; the key read every evaluation, every
person and every unit before, 211 ms): the cycle's own last audit row (every change
of one of its evaluations, its pools or its publication appends one, in the change's
own transaction), the organisation's last import (the names in the report), the
cycle's file, the last of its deadlines that has passed by now (a deadline passing
turns "still open" into "late" without a change on the record: the report counts
it at the time of the build), and the report templates and catalogues of this
installation. A change in another cycle changes none of these.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Row, delete, func, insert, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from workflow import catalog
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import TimerKind
from workflow.errors import CycleNotFound, KpiError
from workflow.reports import csv_files, export, words
from workflow.reports.decisions import decision_list
from workflow.reports.html import cycle_report_fragment, cycle_report_html, gather, write_pdf
from workflow.reports.signal_table import signal_table
from workflow.service.core import Service
from workflow.store.tables import (
    AUDIT,
    CYCLE,
    DEADLINE,
    EVALUATION,
    REPORT_CHUNK,
    REPORT_FILE,
)

CHUNK_BYTES = 1 << 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Artefact:
    """One export a cycle offers."""

    name: str  # report.xlsx, list-excellent.csv...
    media_type: str
    localised: bool  # built once per language (else once, its words the CLI's)


ARTEFACTS: dict[str, Artefact] = {a.name: a for a in (
    Artefact("report.xlsx", XLSX, True),
    Artefact("report.csv", "text/csv; charset=utf-8", True),
    Artefact("report.html", "text/html; charset=utf-8", True),
    Artefact("report.pdf", "application/pdf", True),
    Artefact("list-not-completed.csv", "text/csv; charset=utf-8", True),
    Artefact("list-excellent.csv", "text/csv; charset=utf-8", True),
    Artefact("list-training.csv", "text/csv; charset=utf-8", True),
    # Every fairness signal of the cycle (the report page lists at most GAPS_SHOWN of
    # each gap kind, and links here).
    Artefact("signals.csv", "text/csv; charset=utf-8", True),
    # The admin report page's fragment: kept like the downloads, never offered as one.
    Artefact("fragment.html", "text/html; charset=utf-8", True),
)}
DOWNLOADS = tuple(a for a in ARTEFACTS if a != "fragment.html")
# Where the web serves a download of a cycle (routes_admin_files.admin_cycle_download):
# the report page's fragment, kept here, links to the signals download by it.
DOWNLOAD_PATH = "/admin/cycle/{cycle}/download/{artefact}"


def download_path(cycle_id: str, artefact: str) -> str:
    """The web path of a download of ``cycle_id`` (the id quoted for a URL's path)."""
    return DOWNLOAD_PATH.format(cycle=quote(cycle_id, safe=""), artefact=artefact)


@dataclass(frozen=True)
class KeptFile:
    """A kept export: where its bytes are and what state it was built from."""

    id: int
    cycle_id: str
    artefact: str
    locale: str
    state_key: str
    size: int
    chunks: int
    built_at: datetime
    build_seconds: float
    built_now: bool = False  # built by this request (it found none for the state)

    @property
    def media_type(self) -> str:
        return ARTEFACTS[self.artefact].media_type


class ExportGone(KpiError):
    """A kept export was replaced while it was being read (two state changes meanwhile)."""

    def __init__(self, file_id: int) -> None:
        super().__init__(f"kept export {file_id} was replaced while it was read; ask again")


@cache
def _code_key(templates_dir: Path) -> str:
    """The report templates and catalogues of this installation: an upgrade that changes
    how a report is written gives every cycle a new key."""
    locale_dir = Path(catalog.__file__).resolve().parent / "locale"
    files = sorted([*(templates_dir / "reports").glob("*"), *locale_dir.glob("*/LC_MESSAGES/*")])
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            stat = f.stat()
            digest.update(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def state_key(svc: Service, session: Session, cycle_id: str, now: datetime) -> str:
    """The cycle's state as far as its exports built at ``now`` go (see the module's
    docstring)."""
    config = session.execute(select(CYCLE.c.config_hash).where(CYCLE.c.id == cycle_id)
                             ).scalar()
    if config is None:
        raise CycleNotFound(cycle_id)
    # Each a MAX over the leading columns of an index: one probe (ix_auditevent_cycle_seq,
    # ix_auditevent_org_import: the literal predicate lets SQLite use the partial index,
    # ix_evaluation_cycle_due; a pool's deadline rows are a handful per cycle).
    last_change = session.execute(select(func.max(AUDIT.c.seq))
                                  .where(AUDIT.c.cycle_id == cycle_id)).scalar()
    last_import = session.execute(select(func.max(AUDIT.c.seq))
                                  .where(text("auditevent.trigger = 'org_import'"))).scalar()
    passed = session.execute(select(func.max(EVALUATION.c.due_at)).where(
        EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.due_at <= now)).scalar()
    pool_passed = session.execute(select(func.max(DEADLINE.c.fire_at)).where(
        DEADLINE.c.cycle_id == cycle_id, DEADLINE.c.evaluation_id.is_(None),
        DEADLINE.c.kind == TimerKind.DUE.value, DEADLINE.c.fire_at <= now)).scalar()
    parts = [cycle_id, str(config), str(last_change), str(last_import), str(passed),
             str(pool_passed), _code_key(svc.settings.templates_dir)]
    return hashlib.sha256("\x1d".join(parts).encode()).hexdigest()


def _record(row: Row[Any], built_now: bool = False) -> KeptFile:
    m = row._mapping
    return KeptFile(m["id"], m["cycle_id"], m["artefact"], m["locale"], m["state_key"],
                    m["size"], m["chunks"], m["built_at"], m["build_seconds"], built_now)


def _find(session: Session, cycle_id: str, artefact: str, locale: str, key: str
          ) -> KeptFile | None:
    row = session.execute(select(REPORT_FILE).where(
        REPORT_FILE.c.cycle_id == cycle_id, REPORT_FILE.c.artefact == artefact,
        REPORT_FILE.c.locale == locale, REPORT_FILE.c.state_key == key)).first()
    return None if row is None else _record(row)


def _locale_of(artefact: str, locale: str) -> str:
    if artefact not in ARTEFACTS:
        raise KeyError(artefact)
    return locale if ARTEFACTS[artefact].localised else ""


def ready(svc: Service, cycle_id: str, locale: str, *, now: datetime | None = None
          ) -> dict[str, KeptFile | Preparing | None]:
    """Each download of the cycle: kept for its current state (ready at once), being
    prepared in the background, or None (prepared when first asked for)."""
    with svc.store.read() as session:
        key = state_key(svc, session, cycle_id, now or utc_now())
        out: dict[str, KeptFile | Preparing | None] = {}
        for a in DOWNLOADS:
            lang = _locale_of(a, locale)
            out[a] = _find(session, cycle_id, a, lang, key) or _preparing(cycle_id, a, lang, key)
        return out


# --- in the background --------------------------------------------------------------
# A large cycle's first build takes minutes (bench/RESULTS.md, report-cache): longer than
# a browser or a proxy waits for an answer. Above ``INLINE_LIMIT`` evaluations the build
# runs in a thread of the web process and the page says so; the next request after it
# finishes finds the kept file. A cycle that small is built within the request.
INLINE_LIMIT = 1000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preparing:
    """An export being built in the background for the cycle's current state."""

    cycle_id: str
    artefact: str
    started_at: datetime


_THREADS: dict[tuple[str, str, str, str], tuple[threading.Thread, Preparing]] = {}


def _preparing(cycle_id: str, artefact: str, locale: str, key: str) -> Preparing | None:
    with _BUILDING_GUARD:
        found = _THREADS.get((cycle_id, artefact, locale, key))
    return found[1] if found is not None and found[0].is_alive() else None


def kept_or_preparing(svc: Service, cycle_id: str, artefact: str, locale: str, *,
                      now: datetime | None = None) -> KeptFile | Preparing:
    """The kept export for the cycle's current state; for a large cycle without one, a
    build started in the background (or the one already running), said as Preparing."""
    lang = _locale_of(artefact, locale)
    now = now or utc_now()
    with svc.store.read() as session:
        key = state_key(svc, session, cycle_id, now)
        found = _find(session, cycle_id, artefact, lang, key)
        if found is not None:
            return found
        size = int(session.execute(select(func.count()).select_from(EVALUATION).where(
            EVALUATION.c.cycle_id == cycle_id)).scalar_one())
    if size <= INLINE_LIMIT:
        return kept(svc, cycle_id, artefact, locale, now=now)
    with _BUILDING_GUARD:
        running = _THREADS.get((cycle_id, artefact, lang, key))
        if running is not None and running[0].is_alive():
            return running[1]
        preparing = Preparing(cycle_id, artefact, now)

        def build() -> None:
            try:
                kept(svc, cycle_id, artefact, locale, now=now)
            except Exception:  # the next request starts it again; the log says why
                log.exception("building %s of cycle %s failed", artefact, cycle_id)

        thread = threading.Thread(target=build, name=f"kpi-export-{cycle_id}-{artefact}",
                                  daemon=True)
        _THREADS[(cycle_id, artefact, lang, key)] = (thread, preparing)
        thread.start()
    return preparing


def wait(cycle_id: str, artefact: str) -> None:
    """Until the background builds of that export (any language, any state) are done."""
    with _BUILDING_GUARD:
        threads = [t for (c, a, _l, _k), (t, _p) in _THREADS.items()
                   if c == cycle_id and a == artefact]
    for thread in threads:
        thread.join()


# One build at a time per export in this process: a second request for the same
# export waits for the first build and is served its file.
_BUILDING: dict[tuple[str, str, str], threading.Lock] = {}
_BUILDING_GUARD = threading.Lock()


def _lock(cycle_id: str, artefact: str, locale: str) -> threading.Lock:
    with _BUILDING_GUARD:
        return _BUILDING.setdefault((cycle_id, artefact, locale), threading.Lock())


def kept(svc: Service, cycle_id: str, artefact: str, locale: str, *,
         now: datetime | None = None) -> KeptFile:
    """The export for the cycle's current state: the kept one, or built and kept now.

    CycleNotFound for an unknown cycle; KeyError for an artefact not in ``ARTEFACTS``
    (the caller says what is offered)."""
    locale = _locale_of(artefact, locale)
    # One instant for the key and the build: the report counts the deadlines passed by
    # the time its key says.
    now = now or utc_now()
    with svc.store.read() as session:
        key = state_key(svc, session, cycle_id, now)
        found = _find(session, cycle_id, artefact, locale, key)
    if found is not None:
        return found
    with _lock(cycle_id, artefact, locale), _claimed(svc, cycle_id, artefact, locale):
        with svc.store.read() as session:  # built by the request this one waited for?
            found = _find(session, cycle_id, artefact, locale, key)
        if found is not None:
            return found
        return _build_and_keep(svc, cycle_id, artefact, locale, key, now)


# --- one build across the processes of a deployment -----------------------------------
# Every `kpi serve` process of a deployment may be asked for the same export at once (a
# proxy spreads the admins' requests); a first build at national scale takes a minute of
# a core, so the second process waits for the first one's file instead of building it
# again. The claim is a lock the database server or the kernel drops when its holder
# dies (a session advisory lock on PostgreSQL, a flock on a file beside the SQLite
# database): a claim row would outlive a process killed in the middle of a build and
# need a lease. The unique key of ReportFile stays the last guard (IntegrityError).


def _claim_key(cycle_id: str, artefact: str, locale: str) -> bytes:
    return hashlib.sha256(f"kpi-export\x1d{cycle_id}\x1d{artefact}\x1d{locale}".encode()
                          ).digest()


@contextmanager
def _claimed(svc: Service, cycle_id: str, artefact: str, locale: str) -> Iterator[None]:
    """Held while this process builds one export (any state of it): another process
    asking for it waits here, then finds the file kept."""
    digest = _claim_key(cycle_id, artefact, locale)
    if svc.store.dialect == "postgresql":
        key = int.from_bytes(digest[:8], "big", signed=True)
        # Autocommit: the lock belongs to the session, and no transaction stays open
        # (nor its snapshot) for the minute the build takes.
        with svc.store.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    database = make_url(svc.store.url).database
    if not database or database == ":memory:":  # one process alone has that database
        yield
        return
    # One small file per export, in a folder beside the database (the processes sharing
    # an SQLite file share its folder): a lock per export, so that two exports build
    # at once; the files stay (a name is a few bytes, and removing one races a waiter).
    folder = Path(f"{database}-exports")
    folder.mkdir(exist_ok=True)
    with (folder / f"{digest.hex()[:32]}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released with the file, or the process
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(svc: Service, cycle_id: str, artefact: str, locale: str, now: datetime,
           folder: Path) -> Path:
    path = folder / artefact
    lang = locale or "en"
    if artefact == "fragment.html":
        path.write_text(cycle_report_fragment(
            svc, cycle_id, now=now, locale=lang,
            signals_download=download_path(cycle_id, "signals.csv")), encoding="utf-8")
    elif artefact == "signals.csv":
        write_signals(svc, cycle_id, lang, path, now)
    elif artefact == "report.pdf":
        write_pdf(cycle_report_html(svc, cycle_id, now=now, locale=lang), path)
    elif artefact.startswith("report."):
        export.write_report(svc, cycle_id, path, now=now, locale=lang)
    else:
        which = artefact.removeprefix("list-").removesuffix(".csv")
        write_list(svc, cycle_id, which, lang, path)
    return path


# The decision lists' columns in people's words (`kpi report --list` keeps the ids).
LIST_HEADERS = {
    "cycle_id": N_("Cycle"), "employee_id": N_("Employee id"), "full_name": N_("Full name"),
    "unit_id": N_("Unit id"), "unit": N_("Unit"), "position_group": N_("Position group"),
    "score": N_("Score"), "final_class": N_("Final class (id)"),
    "final_class_label": N_("Final class"), "overrides": N_("Overrides"),
    "state": N_("State"), "final": N_("Final"), "periods_below": N_("Periods in a row below"),
    "below_class": N_("Below the class"), "streak": N_("Those periods"),
}
NOT_FINAL = N_("no (provisional)")


def write_list(svc: Service, cycle_id: str, which: str, locale: str, path: Path) -> int:
    """A decision list as CSV in ``locale``: headers, classes and states in its words."""
    header, rows = decision_list(svc, cycle_id, which)
    with svc.store.read() as session:
        regime = svc.rules.get(session, cycle_id).regime

    def label(class_id: object) -> str:
        try:
            labels = regime.band(str(class_id)).label
        except (KeyError, ValueError):
            return str(class_id)
        return labels.vi if locale == "vi" else labels.en

    def say(name: str, value: object) -> object:
        if name == "score":  # as the report's CSV in the same language writes it
            return "" if value is None else csv_files.score_text(value, locale)
        if name in ("final_class_label", "below_class"):
            return label(value)
        if name == "state":
            return words.state(str(value), locale)
        if name == "final":
            return catalog.gettext(locale, N_("yes") if value == "yes" else NOT_FINAL)
        if name == "streak":  # "cycle class; cycle class"
            return "; ".join(f"{c} {label(k)}" for c, _, k in
                             (p.partition(" ") for p in str(value).split("; ") if p))
        return value

    localised = [[say(name, v) for name, v in zip(header, row, strict=True)] for row in rows]
    titles = [catalog.gettext(locale, LIST_HEADERS[h]) if h in LIST_HEADERS else h
              for h in header]
    return csv_files.write_table(path, titles, localised)


def write_signals(svc: Service, cycle_id: str, locale: str, path: Path, now: datetime
                  ) -> int:
    """Every fairness signal of the cycle as CSV in ``locale`` (the report page lists at
    most ``fairness.GAPS_SHOWN`` of each gap kind)."""
    facts, _found, fairness = gather(svc, cycle_id, locale=locale, now=now)
    header, rows = signal_table(fairness, facts, locale)
    return csv_files.write_table(path, header, rows)


def _build_and_keep(svc: Service, cycle_id: str, artefact: str, locale: str, key: str,
                    now: datetime) -> KeptFile:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kpi-export-") as folder:
        path = _build(svc, cycle_id, artefact, locale, now, Path(folder))
        seconds = time.perf_counter() - started
        size = path.stat().st_size
        same = (REPORT_FILE.c.cycle_id == cycle_id, REPORT_FILE.c.artefact == artefact,
                REPORT_FILE.c.locale == locale)
        try:
            with svc.store.write() as session, path.open("rb") as data:
                older = [int(i) for i in session.execute(
                    select(REPORT_FILE.c.id).where(*same).order_by(REPORT_FILE.c.id.desc())
                ).scalars()]
                # Keep the newest one before this (a download of it may be under way).
                gone = older[1:]
                if gone:
                    session.execute(delete(REPORT_CHUNK).where(REPORT_CHUNK.c.file_id.in_(gone)))
                    session.execute(delete(REPORT_FILE).where(REPORT_FILE.c.id.in_(gone)))
                chunks = -(-size // CHUNK_BYTES)
                file_id = int(session.execute(insert(REPORT_FILE).values(
                    cycle_id=cycle_id, artefact=artefact, locale=locale, state_key=key,
                    size=size, chunks=chunks, build_seconds=round(seconds, 3), built_at=now)
                    .returning(REPORT_FILE.c.id)).scalar_one())
                for seq in range(chunks):
                    session.execute(insert(REPORT_CHUNK).values(
                        file_id=file_id, seq=seq, data=data.read(CHUNK_BYTES)))
        except IntegrityError:
            # Another process kept the same export for the same state first: serve that.
            with svc.store.read() as session:
                found = _find(session, cycle_id, artefact, locale, key)
            if found is None:
                raise
            return found
    return KeptFile(file_id, cycle_id, artefact, locale, key, size, chunks, now,
                    round(seconds, 3), built_now=True)


def chunks(svc: Service, file: KeptFile) -> Iterator[bytes]:
    """The kept export's bytes, one chunk per short read (a slow download holds no
    transaction open)."""
    for seq in range(file.chunks):
        with svc.store.read() as session:
            data = session.execute(select(REPORT_CHUNK.c.data).where(
                REPORT_CHUNK.c.file_id == file.id, REPORT_CHUNK.c.seq == seq)).scalar()
        if data is None:
            raise ExportGone(file.id)
        yield bytes(data)


def read_text(svc: Service, file: KeptFile) -> str:
    """A kept text export whole (the report page's fragment)."""
    return b"".join(chunks(svc, file)).decode("utf-8")
