"""A series of cycles in use: check it, open one period, schedule the periods for the sweep.

``workflow.series`` generates the cycles of a year from a series file (pure); here
they meet the store. A period is opened as any cycle file is (``open_loaded``: one
transaction, all or nothing). A scheduled period is a row (``SCHEDULED_OPEN``) with
the generated cycle file's text as checked; the sweep (``open_due``, called by every
``tick``) opens each due row once: the row is claimed and marked opened in the very
transaction that creates the cycle, so two workers, a crash or a sweep after
downtime open it exactly once.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from workflow.catalog import N_
from workflow.configfile import LoadedFile
from workflow.cycle_config import parse_cycle_text
from workflow.errors import (
    ConfigFileError,
    ConfigFileErrors,
    CycleError,
    KpiError,
    NotFound,
    NotUtf8Text,
    Problem,
)
from workflow.inputfile import CONFIG_CAP, MB, decode
from workflow.series import GeneratedCycle, LoadedSeries, load_series, parse_series_text
from workflow.service.admin_scope import AdminScope
from workflow.service.core import Service
from workflow.service.cycle_editor import (
    OutsideTheirAgencies,
    configurer,
    require_population,
    write_whole,
)
from workflow.service.cycles import OpenReport, open_loaded
from workflow.service.rules import CycleRules, load_rules_from_files
from workflow.store.results import rows_matched
from workflow.store.tables import CYCLE, SCHEDULED_OPEN

log = logging.getLogger("kpi.series")
PENDING, OPENED, FAILED = "pending", "opened", "failed"
SERIES_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.yaml$")


@dataclass(frozen=True, slots=True)
class PeriodStatus:
    """One generated period and where it stands in the database."""

    cycle: GeneratedCycle
    rules: CycleRules
    opened_at: datetime | None  # the cycle is open since
    scheduled: str | None  # pending, opened, failed; None: not scheduled
    schedule_problem: str | None


@dataclass(frozen=True, slots=True)
class SeriesCheck:
    series: LoadedSeries
    periods: tuple[PeriodStatus, ...]


def check_series(svc: Service, path: str | Path) -> SeriesCheck:
    """The series and every period it generates, with its rules and its status; a
    ConfigFileError when a series file of config/series/ written before it generates any
    of the same cycle ids (``clashes``)."""
    loaded = load_series(path)
    _refuse_clashes(svc, loaded, Path(path).read_text("utf-8"), before=_written(Path(path)))
    return _statuses(svc, loaded)


SERIES_CLASH = N_("the cycle ids %(ids)s are made by the series file %(other)s already: two "
                  "series cannot make the same cycle; give this series its own id (the cycles' "
                  "ids start with it), or edit %(other)s instead")


def _written(path: Path) -> tuple[float, str] | None:
    """When a file of config/series/ was written (its order among the files); None for a
    file outside it or not there: every file there came before it."""
    try:
        return (path.stat().st_mtime, path.name)
    except OSError:
        return None


def clashes(svc: Service, loaded: LoadedSeries, *, before: tuple[float, str] | None
            ) -> tuple[str, tuple[str, ...]] | None:
    """The first series file of config/series/ (other than ``loaded``'s own, written
    before ``before``) that makes some of the same cycle ids: (its name, those ids). A
    file outside config/series/ with the same series id is a draft of it, not a clash."""
    ours = {c.cycle_id for c in loaded.cycles}
    own = loaded.path.name if loaded.path.parent.resolve() == series_dir(svc).resolve() \
        else None
    others = []
    for other in series_dir(svc).glob("*.yaml"):
        written = _written(other)
        if other.name == own or written is None or (before is not None and written >= before):
            continue
        others.append((written, other))
    for _written_at, other in sorted(others):
        try:
            their_series = load_series(other)
        except (ConfigFileError, ConfigFileErrors, UnicodeDecodeError):
            continue  # a broken file makes no cycle; its own problems are shown with it
        if own is None and their_series.series.id == loaded.series.id:
            # A file outside config/series/ with the series' own id is a draft of that
            # series (checked, or opened period by period, before it replaces the file).
            continue
        theirs = {c.cycle_id for c in their_series.cycles}
        same = tuple(sorted(ours & theirs))
        if same:
            return other.name, same
    return None


def _refuse_clashes(svc: Service, loaded: LoadedSeries, text: str, *,
                    before: tuple[float, str] | None) -> None:
    found = clashes(svc, loaded, before=before)
    if found is None:
        return
    other, ids = found
    shown = ", ".join(ids[:6]) + (f" (+{len(ids) - 6})" if len(ids) > 6 else "")
    line = LoadedFile(loaded.path, text).line_of(("id",))
    raise ConfigFileError(str(loaded.path), line, "id",
                          Problem(SERIES_CLASH, ids=shown, other=other))


def _statuses(svc: Service, loaded: LoadedSeries) -> SeriesCheck:
    ids = [c.cycle_id for c in loaded.cycles]
    with svc.store.read() as session:
        opened = dict(session.execute(select(CYCLE.c.id, CYCLE.c.opened_at)
                                      .where(CYCLE.c.id.in_(ids))).all())
        scheduled = {r.cycle_id: (r.status, _reason(r.problem)) for r in session.execute(
            select(SCHEDULED_OPEN.c.cycle_id, SCHEDULED_OPEN.c.status,
                   SCHEDULED_OPEN.c.problem).where(SCHEDULED_OPEN.c.cycle_id.in_(ids)))}
    out = []
    for c in loaded.cycles:
        rules = load_rules_from_files(c.cycle, svc.settings.config_dir)
        status, problem = scheduled.get(c.cycle_id, (None, None))
        out.append(PeriodStatus(c, rules, opened.get(c.cycle_id), status, problem))
    return SeriesCheck(loaded, tuple(out))


def check_series_text(svc: Service, text: str, path: Path) -> SeriesCheck:
    """``check_series`` for a file's text not written yet (an upload), named ``path``:
    every other file of config/series/ came before it."""
    loaded = parse_series_text(text, str(path))
    _refuse_clashes(svc, loaded, text, before=None)
    return _statuses(svc, loaded)


def next_period(check: SeriesCheck) -> PeriodStatus:
    """The first period whose cycle is not open yet."""
    for p in check.periods:
        if p.opened_at is None:
            return p
    raise CycleError(f"every period of series {check.series.series.id!r} is open already")


def open_period(svc: Service, path: str | Path, period: str | None, *, actor_id: str,
                now: datetime) -> OpenReport:
    """Open one period of the series now (``period``: its key or cycle id; None: the next
    one not open yet). A pending schedule of it is marked opened in the same transaction."""
    check = check_series(svc, path)
    chosen = next_period(check) if period is None else next(
        p for p in check.periods if p.cycle is check.series.period(period))
    cycle_id = chosen.cycle.cycle_id

    def settle(session: Session) -> None:
        session.execute(update(SCHEDULED_OPEN).where(
            SCHEDULED_OPEN.c.cycle_id == cycle_id, SCHEDULED_OPEN.c.status == PENDING)
            .values(status=OPENED, done_at=now, problem="opened by hand"))

    return open_loaded(svc, chosen.cycle.cycle, chosen.rules, actor_id=actor_id, now=now,
                       first=settle)


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    scheduled: tuple[tuple[str, datetime], ...]  # (cycle id, when it opens)
    already: tuple[str, ...]  # open or scheduled before
    past: tuple[str, ...]  # its opening has passed: open it by hand


def schedule(svc: Service, path: str | Path, *, actor_id: str, now: datetime,
             periods: list[str] | None = None) -> ScheduleReport:
    """Let the sweep open each period of the series (or of ``periods``) when its
    self-assessment opens. Idempotent: a period open or scheduled already is left as it
    is; one whose opening has passed is not scheduled (it would open at once)."""
    check = check_series(svc, path)
    wanted = check.periods if periods is None else tuple(
        p for p in check.periods if any(p.cycle is check.series.period(k) for k in periods))
    scheduled: list[tuple[str, datetime]] = []
    already: list[str] = []
    past: list[str] = []
    with svc.store.write() as session:
        for p in wanted:
            c = p.cycle
            exists = session.execute(select(SCHEDULED_OPEN.c.status).where(
                SCHEDULED_OPEN.c.cycle_id == c.cycle_id)).first()
            if p.opened_at is not None or (exists is not None and exists[0] != FAILED):
                already.append(c.cycle_id)
                continue
            if c.opens_at <= now:
                past.append(c.cycle_id)
                continue
            values = {"series_id": check.series.series.id, "period_key": c.period_key,
                      "source": str(check.series.path)[:500], "cycle_text": c.cycle.text,
                      "open_at": c.opens_at, "status": PENDING, "problem": None,
                      "scheduled_by": actor_id, "scheduled_at": now, "done_at": None}
            if exists is not None:  # failed before: scheduled again with today's check
                session.execute(update(SCHEDULED_OPEN)
                                .where(SCHEDULED_OPEN.c.cycle_id == c.cycle_id).values(**values))
            else:
                session.execute(SCHEDULED_OPEN.insert().values(cycle_id=c.cycle_id, **values))
            scheduled.append((c.cycle_id, c.opens_at))
    return ScheduleReport(tuple(scheduled), tuple(already), tuple(past))


class _TakenElsewhere(Exception):
    """Another worker opened this scheduled period first: this transaction rolls back."""


def open_due(svc: Service, now: datetime, *, actor_id: str = "scheduler"
             ) -> list[tuple[str, str]]:
    """Open every scheduled period due at ``now``, once; (cycle id, opened or the problem).

    A period that cannot open (someone named is no longer in the organisation...) is
    marked failed with the reason and nothing of it is written; admins see it on the
    series page and in `kpi cycle series check`, and may schedule it again."""
    with svc.store.read() as session:
        due = session.execute(
            select(SCHEDULED_OPEN.c.cycle_id, SCHEDULED_OPEN.c.source,
                   SCHEDULED_OPEN.c.cycle_text)
            .where(SCHEDULED_OPEN.c.status == PENDING, SCHEDULED_OPEN.c.open_at <= now)
            .order_by(SCHEDULED_OPEN.c.open_at, SCHEDULED_OPEN.c.cycle_id)).all()
    done: list[tuple[str, str]] = []
    for row in due:
        cycle_id = row.cycle_id

        def claim(session: Session, cycle_id: str = cycle_id) -> None:
            # The compare-and-set that makes the open happen once: on PostgreSQL a second
            # worker waits here for the first one's commit and then finds nothing pending.
            done_row = session.execute(update(SCHEDULED_OPEN).where(
                SCHEDULED_OPEN.c.cycle_id == cycle_id, SCHEDULED_OPEN.c.status == PENDING)
                .values(status=OPENED, done_at=now))
            if not rows_matched(done_row):
                raise _TakenElsewhere(cycle_id)

        try:
            loaded = parse_cycle_text(row.cycle_text, f"{row.source}#{cycle_id}")
            rules = load_rules_from_files(loaded, svc.settings.config_dir)
            open_loaded(svc, loaded, rules, actor_id=actor_id, now=now, first=claim)
        except _TakenElsewhere:
            continue
        except KpiError as exc:
            with svc.store.write() as session:
                session.execute(update(SCHEDULED_OPEN).where(
                    SCHEDULED_OPEN.c.cycle_id == cycle_id, SCHEDULED_OPEN.c.status == PENDING)
                    .values(status=FAILED, done_at=now, problem=_kept(exc)))
            log.warning("scheduled cycle %s did not open: %s", cycle_id, exc)
            done.append((cycle_id, str(exc)))
            continue
        log.info("scheduled cycle %s opened", cycle_id)
        done.append((cycle_id, OPENED))
    return done


def _kept(exc: KpiError) -> str:
    """Why a scheduled open failed, as kept in its row: the error's catalogue message and
    values (the series page says it in its language) with its English (the CLI's)."""
    return json.dumps({"en": str(exc)[:2000], "m": type(exc).user_message,
                       "p": {k: _value(v) for k, v in exc.user_params().items()}},
                      ensure_ascii=False)


def _value(value: object) -> Any:
    if isinstance(value, Problem):
        return {"en": str(value), "m": value.message,
                "p": {k: _value(v) for k, v in value.params.items()}}
    return str(value)


def _reason(kept: str | None) -> str | None:
    """A failed open's reason read back: a Problem (whose text is the English), or the
    text as kept by an older row."""
    if not kept or not kept.startswith("{"):
        return kept
    try:
        said: str = _problem(json.loads(kept))
        return said
    except (ValueError, KeyError, TypeError):
        return kept


def _problem(data: Any) -> Any:
    if not isinstance(data, dict):
        return str(data)
    return Problem(str(data["m"]), english=str(data["en"]),
                   **{k: _problem(v) for k, v in dict(data["p"]).items()})


# --- the admin console ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesEntry:
    """A file of ``config/series/`` as the series page shows it."""

    name: str
    check: SeriesCheck | None
    problems: tuple[str, ...]  # the file's problems (file:line: key: ...), if any

    @property
    def next_period(self) -> PeriodStatus | None:
        """The first period not open yet (the one "open the next period" opens)."""
        return next((p for p in self.check.periods if p.opened_at is None), None) \
            if self.check else None


def series_dir(svc: Service) -> Path:
    return svc.settings.config_dir / "series"


def _series_path(svc: Service, name: str) -> Path:
    if not SERIES_FILE.match(name):
        raise NotFound(f"{name!r} is not the name of a series file")
    path = series_dir(svc) / name
    if not path.is_file():
        raise NotFound(f"no series file {name!r}")
    return path


def _require_series(svc: Service, scope: AdminScope, text: str) -> None:
    """OutsideTheirAgencies when the series' cycles (the template's population, or the
    year-end cycle's own) take in units outside the admin's agencies."""
    try:
        raw = LoadedFile(Path("series.yaml"), text).data
    except ConfigFileError:
        return  # not YAML: nothing is generated from it, its problem is shown instead
    template = raw.get("template")
    template = template if isinstance(template, dict) else {}
    require_population(svc, scope, template)
    year_end = raw.get("year_end")
    overrides = year_end.get("overrides") if isinstance(year_end, dict) else None
    if isinstance(overrides, dict) and "population" in overrides:
        require_population(svc, scope, overrides)


AT_KEY = N_("%(where)s: %(key)s: %(detail)s")
AT_FILE = N_("%(where)s: %(detail)s")


def said(error: ConfigFileError) -> Problem:
    """A problem of the file as `kpi cycle series check` prints it (its English), with
    what is wrong said in the page's language where the check has the words for it."""
    where = f"{error.path}:{error.line}" if error.line else error.path
    if error.key:
        return Problem(AT_KEY, english=str(error), where=where, key=error.key,
                       detail=error.problem)
    return Problem(AT_FILE, english=str(error), where=where, detail=error.problem)


def _entry(svc: Service, path: Path, text: str | None = None) -> SeriesEntry:
    try:
        check = check_series(svc, path) if text is None else check_series_text(svc, text, path)
        return SeriesEntry(path.name, check, ())
    except ConfigFileErrors as exc:
        return SeriesEntry(path.name, None, tuple(said(e) for e in exc.errors))
    except ConfigFileError as exc:
        return SeriesEntry(path.name, None, (said(exc),))


def series_files(svc: Service, admin_id: str) -> list[SeriesEntry]:
    """Every series file the admin may use, checked (a series of other agencies than an
    admin's own is not shown to them)."""
    scope = configurer(svc, admin_id)
    out = []
    for path in sorted(series_dir(svc).glob("*.yaml")):
        try:
            _require_series(svc, scope, path.read_text("utf-8"))
        except OutsideTheirAgencies:
            continue
        except UnicodeDecodeError:
            pass  # shown with the problem the check gives it
        out.append(_entry(svc, path))
    return out


def require_series_file(svc: Service, admin_id: str, name: str) -> None:
    """NotFound or NotPermitted unless ``admin_id`` may open or schedule the series file
    ``name`` (asked before its confirmation page too: a crafted request gets the 403
    naming the other agency, not a page offering to go ahead)."""
    scope = configurer(svc, admin_id)
    _require_series(svc, scope, _series_path(svc, name).read_text("utf-8"))


def admin_open_period(svc: Service, admin_id: str, name: str, period: str, *,
                      now: datetime) -> OpenReport:
    scope = configurer(svc, admin_id)
    path = _series_path(svc, name)
    _require_series(svc, scope, path.read_text("utf-8"))
    return open_period(svc, path, period or None, actor_id=admin_id, now=now)


def admin_schedule(svc: Service, admin_id: str, name: str, *, now: datetime
                   ) -> ScheduleReport:
    scope = configurer(svc, admin_id)
    path = _series_path(svc, name)
    _require_series(svc, scope, path.read_text("utf-8"))
    return schedule(svc, path, actor_id=admin_id, now=now)


# What an upload says when it is not kept (the file's own problems are the check's).
UPLOAD_NAME = N_("“%(name)s” cannot be the name of a series file: use letters, digits, '.', "
                 "'_' and '-', ending in .yaml (e.g. snv-2026.yaml)")
UPLOAD_TOO_BIG = N_("%(name)s is larger than %(cap)s MB; nothing was read. A series file is a "
                   "few kilobytes of YAML: check that it is the right file")
UPLOAD_UTF16 = N_("%(name)s is saved as UTF-16 (or UTF-32) text, not UTF-8: open it in a "
                  "text editor, save it with the encoding UTF-8 and upload it again")
UPLOAD_NOT_UTF8 = N_("%(name)s, line %(line)s: not UTF-8 text (perhaps saved as Windows "
                     "Vietnamese, cp1258): open it in a text editor, save it with the encoding "
                     "UTF-8 and upload it again")
UPLOAD_EXISTS = N_("a series file %(name)s is there already: tick “Replace the file of this "
                   "name” to replace it, or give the file another name")


@dataclass(frozen=True, slots=True)
class Uploaded:
    """An uploaded series file: kept (``problems`` empty) or not (nothing written)."""

    name: str
    entry: SeriesEntry | None
    problems: tuple[str, ...]  # a Problem (the page's words) or the check's own lines


def admin_upload(svc: Service, admin_id: str, file_name: str, raw: bytes, *,
                 replace: bool) -> Uploaded:
    """Check an uploaded series file as `kpi cycle series check` checks one, and keep it
    in ``config/series/`` only if it has no problem (and its cycles are within the
    admin's agencies: OutsideTheirAgencies otherwise). Nothing is written otherwise."""
    scope = configurer(svc, admin_id)
    name = Path(file_name.replace("\\", "/")).name.strip()
    if not SERIES_FILE.match(name):
        return Uploaded(name, None, (Problem(UPLOAD_NAME, name=name[:100]),))
    path = series_dir(svc) / name
    if len(raw) > CONFIG_CAP:
        return Uploaded(name, None, (Problem(UPLOAD_TOO_BIG, name=name, cap=CONFIG_CAP // MB),))
    try:
        text = decode(name, raw, "series file")
    except NotUtf8Text as exc:
        # decode's own words are the command line's (PowerShell, "run the command"):
        # the browser's fix is said here, with the file and the line.
        said = Problem(UPLOAD_UTF16, english=str(exc), name=name) if exc.found \
            else Problem(UPLOAD_NOT_UTF8, english=str(exc), name=name, line=exc.line or 1)
        return Uploaded(name, None, (said,))
    if path.exists() and not replace and path.read_bytes() != text.encode("utf-8"):
        return Uploaded(name, None, (Problem(UPLOAD_EXISTS, name=name),))
    _require_series(svc, scope, text)
    entry = _entry(svc, path, text)
    if entry.problems:
        return Uploaded(name, entry, entry.problems)
    write_whole(path, text)
    return Uploaded(name, entry, ())
