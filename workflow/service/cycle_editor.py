"""The cycle calendar from the browser: the files of ``config/cycles/``, checked, previewed,
saved and opened by an admin.

The browser and the command line share one source of truth: what the form saves is
a cycle file in ``config/cycles/`` (written whole, atomically), which `kpi cycle check`
and `kpi cycle open` read as they read any other; the form starts from a file (to
edit it or copy it) or from the sample's defaults. The check is `kpi cycle check`'s:
the same validation (``parse_cycle_text``), the same rules, population and simulation
(``lookups.check_cycle``); the preview lays its result out as month grids and the
emails by day.

Every function takes the signed-in admin's id and checks it first (``configurer``),
then the cycle's population against the admin's agencies (``require_population``):
an admin of some agencies configures only cycles within them.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import yaml
from sqlalchemy import select

from workflow.calendar import zone
from workflow.catalog import N_
from workflow.configfile import LoadedFile
from workflow.cycle_config import PHASE_ORDER, parse_cycle_text
from workflow.domain import State
from workflow.errors import ConfigFileError, ConfigFileErrors, NotFound, NotPermitted, Problem
from workflow.service import admin_scope, lookups
from workflow.service.admin_scope import AdminScope
from workflow.service.core import Service
from workflow.service.cycles import OpenReport, open_cycle
from workflow.service.notices import DIGEST_EVENT
from workflow.service.rules import CycleRules, load_rules_from_files
from workflow.store.tables import CYCLE, PERSON, UNIT
from workflow.timing import phase_window

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.yaml$")
MAX_NAMES = 6  # recipients named per line of the email list; the rest are counted


# --- who may ------------------------------------------------------------------------


class OutsideTheirAgencies(NotPermitted):
    """A cycle's population reaches units an admin of some agencies does not administer:
    they may neither edit, save, check nor open it (a province admin may)."""

    user_message = N_("This cycle takes in %(units)s of the agency %(agency)s, which you do not "
                      "administer: nothing was saved or opened. Keep the population to your "
                      "own agencies' units, or ask an administrator of the whole province.")

    def __init__(self, admin_id: str, units: tuple[str, ...], agency: str) -> None:
        self.units = units
        self.agency = agency
        super().__init__(0, admin_id, "configure cycles",
                         f"the population takes in {', '.join(units)} of the agency {agency}, "
                         "outside the agencies they administer")

    def user_params(self) -> dict[str, object]:
        return {"units": ", ".join(self.units), "agency": self.agency}


def configurer(svc: Service, admin_id: str) -> AdminScope:
    """The scope of ``admin_id`` if they may configure cycles (an admin of the settings,
    of some agencies, or of an open cycle), else NotPermitted. What they may configure is
    narrowed by ``require_population`` (the cycle's population against their agencies)."""
    scope = admin_scope.scope_for(svc, admin_id)
    if not scope.is_admin:
        raise NotPermitted(0, admin_id, "configure cycles", "only admins configure cycles")
    admin_scope.require_configurer(scope)  # an admin of cycles only follows their own
    return scope


def population_units(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The units a cycle file's data (as written) takes in; None: every unit ("all",
    or no population key, the file's default)."""
    population = data.get("population")
    units = population.get("units", "all") if isinstance(population, dict) else "all"
    if not isinstance(units, list | tuple):
        return None
    return tuple(str(u) for u in units)


def require_population(svc: Service, scope: AdminScope, data: Mapping[str, Any]) -> None:
    """OutsideTheirAgencies when ``data``'s population takes in a unit outside the
    agencies ``scope`` reaches. An admin of everything, or of cycles only (no agency
    grant: they configure as before scopes existed), passes; a unit nobody is in yet is
    left to the population check (it evaluates nobody)."""
    require_units(svc, scope, population_units(data))


def require_units(svc: Service, scope: AdminScope, wanted: Sequence[str] | None) -> None:
    """``require_population`` for a population's units (None: every unit)."""
    if not scope.by_units:
        return
    with svc.store.read() as session:
        people = session.execute(
            select(PERSON.c.id, PERSON.c.unit_id, PERSON.c.supervisor_id, PERSON.c.full_name)
            .where(PERSON.c.active.is_(True))).all()
        names = dict(session.execute(select(UNIT.c.id, UNIT.c.name)).all())
    peopled = {p.unit_id for p in people}
    outside = sorted(u for u in (peopled if wanted is None else wanted)
                     if u in peopled and not scope.may_see_unit(u))
    if not outside:
        return
    agency = _agency_of(outside[0], people, names)
    same = tuple(u for u in outside if _agency_of(u, people, names) == agency)
    raise OutsideTheirAgencies(scope.admin_id, tuple(f"{u} ({names.get(u, u)})" for u in same),
                               agency)


def _agency_of(unit_id: str, people: Sequence[Any], names: Mapping[str, str]) -> str:
    return admin_scope.agency_named(unit_id, people, names)


def cycles_dir(svc: Service) -> Path:
    return svc.settings.config_dir / "cycles"


def _path(svc: Service, name: str) -> Path:
    if not FILE_NAME.match(name):
        raise NotFound(f"{name!r} is not the name of a cycle file")
    return cycles_dir(svc) / name


# --- the files ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleFileEntry:
    name: str  # the file's name in config/cycles/
    cycle_id: str  # "" when the file cannot be read
    title: str
    period: str  # "month 2026-04-01 .. 2026-04-30"
    opened: bool  # a cycle with this id is open
    problem: str | None  # the first problem `kpi cycle check` would report


def cycle_files(svc: Service, admin_id: str) -> list[CycleFileEntry]:
    """The cycle files an admin can edit, copy, download or open: those whose population
    is within their agencies (an admin of some agencies does not see the others')."""
    scope = configurer(svc, admin_id)
    with svc.store.read() as session:
        opened = {r for (r,) in session.execute(select(CYCLE.c.id))}
    out = []
    for path in sorted(cycles_dir(svc).glob("*.yaml")):
        if not _in_reach(svc, scope, _raw(path.read_text("utf-8"))):
            continue
        try:
            loaded = parse_cycle_text(path.read_text("utf-8"), str(path))
        except (ConfigFileError, ConfigFileErrors) as exc:
            raw = _raw(path.read_text("utf-8"))
            out.append(CycleFileEntry(path.name, str(raw.get("id") or ""),
                                      str(raw.get("name") or ""), "",
                                      str(raw.get("id")) in opened, str(exc).split("\n")[0]))
            continue
        c = loaded.config
        out.append(CycleFileEntry(path.name, c.id, c.name,
                                  f"{c.period.kind} {c.period.start} .. {c.period.end}",
                                  c.id in opened, None))
    return out


def _in_reach(svc: Service, scope: AdminScope, data: Mapping[str, Any]) -> bool:
    try:
        require_population(svc, scope, data)
    except OutsideTheirAgencies:
        return False
    return True


def _raw(text: str) -> dict[str, Any]:
    try:
        data = LoadedFile(Path("x.yaml"), text).data
    except ConfigFileError:
        return {}
    return data if isinstance(data, dict) else {}


def file_text(svc: Service, admin_id: str, name: str) -> str:
    """The text of one cycle file (to download, edit or copy it); OutsideTheirAgencies
    when its population is outside the admin's agencies."""
    scope = configurer(svc, admin_id)
    path = _path(svc, name)
    if not path.is_file():
        raise NotFound(f"no cycle file {name!r} in {cycles_dir(svc)}")
    text = path.read_text("utf-8")
    require_population(svc, scope, _raw(text))
    return text


def file_data(svc: Service, admin_id: str, name: str) -> dict[str, Any]:
    """A cycle file's keys as written (to fill the form); {} when it is not YAML."""
    return _raw(file_text(svc, admin_id, name))


def to_text(data: dict[str, Any]) -> str:
    """The cycle file the form's data makes (YAML, keys in the documented order)."""
    header = "# Written by the cycle form of the admin console; `kpi cycle check` reads it.\n"
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


# --- the check ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayCell:
    day: date
    in_month: bool
    off: str | None  # why it is not a working day ("weekend" or the day's name)
    worked: str | None  # why a weekend day is worked
    phases: tuple[State, ...]  # the phases whose window covers the day
    due: tuple[State, ...]  # the phases due that day
    moved: tuple[tuple[State, date, str], ...]  # (phase, the day off it was due, why)
    emails: int


@dataclass(frozen=True, slots=True)
class MonthGrid:
    first: date  # the first of the month
    weeks: tuple[tuple[DayCell, ...], ...]  # Monday first


@dataclass(frozen=True, slots=True)
class PhaseLine:
    state: State
    opens_at: datetime
    due_at: datetime
    working_days: int | None  # None: an absolute date
    moved_from: datetime | None
    moved_because: str | None


@dataclass(frozen=True, slots=True)
class EmailLine:
    time: str  # HH:MM on the recipient's clock
    zone: str  # the recipient's time zone
    event: str
    count: int
    people: int  # how many recipients
    names: tuple[str, ...]  # the first few recipients (one may get several)
    digest: bool  # goes out inside the daily digest


@dataclass(frozen=True, slots=True)
class EmailDay:
    day: date
    lines: tuple[EmailLine, ...]


@dataclass
class CycleCheck:
    """What the check found: problems by key (nothing else when there are any), or
    the preview of the cycle if it opened at ``opened_at`` and nobody acted."""

    problems: list[tuple[str, str]] = field(default_factory=list)  # (key, problem)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (key, note)
    text: str = ""
    cycle_id: str = ""
    name: str = ""
    timezone: str = ""
    opened_at: datetime | None = None
    phases: list[PhaseLine] = field(default_factory=list)
    months: list[MonthGrid] = field(default_factory=list)
    email_days: list[EmailDay] = field(default_factory=list)
    emails: int = 0
    held: int = 0
    evaluations: int = 0
    by_unit: dict[str, int] = field(default_factory=dict)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    population_problems: list[str] = field(default_factory=list)  # block opening
    warnings: list[str] = field(default_factory=list)

    @property
    def can_open(self) -> bool:
        return not self.problems and not self.population_problems


def _problems_of(exc: ConfigFileError | ConfigFileErrors) -> list[tuple[str, str]]:
    errors = exc.errors if isinstance(exc, ConfigFileErrors) else [exc]
    return [(e.key, e.problem) for e in errors]


def check(svc: Service, admin_id: str, data: dict[str, Any], *, editing: str | None,
          opened_at: datetime, locale: str = "en") -> CycleCheck:
    """Check the form's data as `kpi cycle check` checks a file, and lay out its preview.

    ``editing``: the name of the file being edited (its own id is no clash). An admin of
    some agencies checks only a population within them, and edits only such a file:
    OutsideTheirAgencies otherwise."""
    scope = configurer(svc, admin_id)
    require_population(svc, scope, data)
    if editing and _path(svc, editing).is_file():
        file_text(svc, admin_id, editing)  # the file as it stands must be theirs too
    text = to_text(data)
    out = CycleCheck(text=text)
    cycle_id = str(data.get("id") or "")
    out.problems += _id_clashes(svc, cycle_id, editing)
    try:
        loaded = parse_cycle_text(text, f"config/cycles/{editing or cycle_id + '.yaml'}")
        rules = load_rules_from_files(loaded, svc.settings.config_dir)
    except (ConfigFileError, ConfigFileErrors) as exc:
        out.problems += _problems_of(exc)
        return out
    if out.problems:
        return out
    out.notes = [(_dotted(loc), note) for loc, note in loaded.config.advice()]
    _preview(svc, rules, opened_at, out, locale)
    return out


def _dotted(loc: tuple[str | int, ...]) -> str:
    """A key path as the check names it: ``reminders[1].at``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _id_clashes(svc: Service, cycle_id: str, editing: str | None) -> list[tuple[str, str]]:
    if not cycle_id:
        return []
    with svc.store.read() as session:
        if session.execute(select(CYCLE.c.id).where(CYCLE.c.id == cycle_id)).first():
            return [("id", Problem(N_("a cycle '%(id)s' is already open; a new period needs "
                                      "its own id"), id=cycle_id))]
    for path in cycles_dir(svc).glob("*.yaml"):
        if path.name == editing:
            continue
        if str(_raw(path.read_text("utf-8")).get("id") or "") == cycle_id:
            return [("id", Problem(N_("the cycle file %(file)s already has the id '%(id)s': "
                                      "edit that file, or give this cycle its own id"),
                                   file=path.name, id=cycle_id))]
    return []


def _preview(svc: Service, rules: CycleRules, opened_at: datetime, out: CycleCheck,
             locale: str) -> None:
    config, cal = rules.config, rules.calendar
    tz = zone(config.timezone)
    out.cycle_id, out.name, out.timezone, out.opened_at = (
        config.id, config.name, config.timezone, opened_at)
    result = lookups.check_cycle(svc, rules, opened_at)
    plan, sim = result.plan, result.simulation
    out.evaluations = len(plan.evaluations)
    for planned in plan.evaluations:
        unit = planned.member.unit_id
        out.by_unit[unit] = out.by_unit.get(unit, 0) + 1
    out.left_out, out.population_problems, out.warnings = (
        list(plan.left_out), list(plan.problems), list(plan.warnings))
    entered = opened_at
    for state in PHASE_ORDER:
        if not config.enabled(state):
            continue
        w = phase_window(config, cal, state, entered)
        due = config.phase(state).due
        out.phases.append(PhaseLine(state, w.opens_at, w.due_at,
                                    getattr(due, "working_days", None),
                                    w.moved_from, w.moved_because))
        entered = w.due_at
    # The emails by the recipient's local day, grouped by hour and event.
    grouped: dict[date, dict[tuple[str, str, str, bool], list[str]]] = defaultdict(
        lambda: defaultdict(list))
    for e in sim.emails:
        person = result.people.get(e.recipient_id)
        name = person.full_name if person else e.recipient_id
        grouped[e.local_day][(f"{e.local:%H:%M}", e.timezone, e.event,
                              e.held and e.event != DIGEST_EVENT)].append(name)
    out.emails = len(sim.delivered)
    out.held = len(sim.emails) - len(sim.delivered)
    out.email_days = [EmailDay(day, tuple(
        EmailLine(t, z, ev, len(names), len(set(names)),
                  tuple(dict.fromkeys(names))[:MAX_NAMES], held)
        for (t, z, ev, held), names in sorted(lines.items())))
        for day, lines in sorted(grouped.items())]
    per_day = {d.day: sum(line.count for line in d.lines if not line.digest)
               for d in out.email_days}
    start = opened_at.astimezone(tz).date()
    last = max([entered.astimezone(tz).date(), *per_day])
    out.months = _months(rules, start, last, out.phases, per_day, locale)


def _months(rules: CycleRules, start: date, last: date, phases: list[PhaseLine],
            emails: dict[date, int], locale: str) -> list[MonthGrid]:
    cal = rules.calendar
    tz = zone(rules.config.timezone)
    names = _holiday_names(rules.config.holidays.country, start.year, last.year, locale)
    own = {d.date: d.name for d in rules.config.holidays.extra_days_off}
    months = []
    first = start.replace(day=1)
    while first <= last:
        nxt = (first + timedelta(days=32)).replace(day=1)
        day = first - timedelta(days=first.weekday())
        weeks = []
        while day < nxt:
            week = []
            for _ in range(7):
                local_phases = tuple(p.state for p in phases
                                     if p.opens_at.astimezone(tz).date() <= day
                                     <= p.due_at.astimezone(tz).date())
                due = tuple(p.state for p in phases if p.due_at.astimezone(tz).date() == day)
                moved = tuple((p.state, p.moved_from.astimezone(tz).date(),
                               p.moved_because or "") for p in phases
                              if p.moved_from is not None
                              and p.moved_from.astimezone(tz).date() == day)
                off = cal.day_off_reason(day)
                if off and off != "weekend":
                    off = own.get(day) or names.get(day) or off
                week.append(DayCell(day, day.month == first.month, off,
                                    cal.working_day_reason(day), local_phases, due, moved,
                                    emails.get(day, 0)))
                day += timedelta(days=1)
            weeks.append(tuple(week))
        months.append(MonthGrid(first, tuple(weeks)))
        first = nxt
    return months


def _holiday_names(country: str, first_year: int, last_year: int, locale: str
                   ) -> dict[date, str]:
    """The public holidays' names in the page's language when the package has it."""
    try:
        table = holidays.country_holidays(country, years=range(first_year, last_year + 1),
                                          language="vi" if locale == "vi" else "en_US")
    except (NotImplementedError, KeyError):
        return {}
    return {d: str(n) for d, n in table.items()}


# --- save and open ------------------------------------------------------------------


def save(svc: Service, admin_id: str, data: dict[str, Any], *, editing: str | None,
         opened_at: datetime, locale: str = "en") -> tuple[str, CycleCheck]:
    """Write the checked data as a cycle file (the edited one, or ``<id>.yaml``); nothing
    is written when the check finds a problem. (file name, the check)."""
    checked = check(svc, admin_id, data, editing=editing, opened_at=opened_at, locale=locale)
    if checked.problems:
        return "", checked
    name = editing or f"{data['id']}.yaml"
    write_whole(_path(svc, name), checked.text)
    return name, checked


def write_whole(path: Path, text: str) -> None:
    """Write a configuration file whole or not at all: a reader (`kpi cycle check`, the
    sweep) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_file(svc: Service, admin_id: str, name: str, *, now: datetime) -> OpenReport:
    """Open the cycle of a saved file, as `kpi cycle open` does, on the admin's name (a
    file whose population is outside their agencies: OutsideTheirAgencies)."""
    file_text(svc, admin_id, name)
    return open_cycle(svc, _path(svc, name), actor_id=admin_id, now=now)

