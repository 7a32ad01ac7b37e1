"""A series of cycles (``config/series/*.yaml``): one agency's year from one template. Pure.

A series file names a year, whether its periods are months or quarters, whether the
year-end classification follows, and a ``template``: the keys of a cycle file that
stay the same from period to period (time zone, holidays, phases in working days,
reminders, escalation, who is in it...). ``generate`` turns it into one cycle file's
data per period, each with its own id, name and period, and the moment its
self-assessment opens: the N-th working day after the period ends on the template's
own calendar (public holidays, the agency's days off and swapped working days).
Every generated cycle is validated as a cycle file; a problem is reported at the key
of the series file it comes from, with that file's line.
"""

from __future__ import annotations

import copy
import string
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflow.calendar import at_local, zone
from workflow.catalog import N_
from workflow.configfile import LoadedFile, _clean_loc, _explain, read_yaml, validate
from workflow.cycle_config import (
    PHASE_ORDER,
    CycleFile,
    Identifier,
    LoadedCycle,
    _parse_time,
    parse_cycle_text,
)
from workflow.domain import State
from workflow.errors import ConfigFileError, ConfigFileErrors, Problem
from workflow.timing import PhaseWindow, phase_window

IN_PERIOD = N_("%(problem)s (period %(period)s)")
# The keys a generated cycle gets from the series itself, never from the template.
OWN_KEYS = ("id", "name", "period")
NAME_FIELDS = {"month": ("month", "year"), "quarter": ("quarter", "year"), "year": ("year",)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Opening(_Strict):
    """When each period's self-assessment opens (and a scheduled open happens):
    the N-th working day after the period ends, at a local hour."""

    # 1: the first working day after the period (a cycle never opens before it ends).
    working_days_after_period: int = Field(default=1, ge=1, le=30)
    at: time = time(8, 0)

    _t = field_validator("at", mode="before")(_parse_time)


class YearEnd(_Strict):
    """The year-end classification cycle that closes the series."""

    # The last day the year's period covers ("11-30": the classification is due before
    # 15 December, Decree 335 Art 20, so the year's period ends before the year does).
    period_end: str = Field(default="11-30", pattern=r"^\d{2}-\d{2}$")
    opens: Opening = Opening()
    # Keys of a cycle file that replace the template's for the year-end cycle only
    # (its frameworks, peers off...); mappings are merged key by key.
    overrides: dict[str, Any] = Field(default_factory=dict)


class Names(_Strict):
    """The cycles' names, with {month}, {quarter} and {year} filled in."""

    month: str = Field(default="{month}/{year}", min_length=1, max_length=200)
    quarter: str = Field(default="Q{quarter}/{year}", min_length=1, max_length=200)
    year: str = Field(default="{year}", min_length=1, max_length=200)

    @field_validator("month", "quarter", "year")
    @classmethod
    def _fields(cls, v: str, info: Any) -> str:
        allowed = NAME_FIELDS[info.field_name]
        try:
            used = [f for _t, f, _s, _c in string.Formatter().parse(v) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{v!r}: {exc} (write {{{{ and }}}} for a literal brace)") from None
        for name in used:
            if name not in allowed:
                raise ValueError(f"{{{name}}} is not known here; a {info.field_name}'s name "
                                 f"can use {', '.join('{' + a + '}' for a in allowed)}")
        return v


class SeriesFile(_Strict):
    """The whole series file."""

    id: Identifier
    year: int = Field(ge=2000, le=2100)
    every: Literal["month", "quarter"]
    names: Names = Names()
    opens: Opening = Opening()
    year_end: YearEnd | None = None
    template: dict[str, Any]

    @field_validator("template")
    @classmethod
    def _not_own(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in OWN_KEYS:
            if key in v:
                raise ValueError(f"{key} comes from the series (id, names, year, every), not "
                                 "from the template: remove it")
        return v


@dataclass(frozen=True)
class GeneratedCycle:
    """One period of a series: its cycle file's data and text, validated."""

    period_key: str  # "2026-04", "2026-q2", "2026-year"
    cycle: LoadedCycle
    opens_at: datetime  # UTC: the self-assessment opens, a scheduled open happens

    @property
    def cycle_id(self) -> str:
        return self.cycle.config.id

    @property
    def config(self) -> CycleFile:
        return self.cycle.config

    def windows(self) -> list[PhaseWindow]:
        """Each phase's window if each runs its full time, from the opening."""
        config, cal = self.config, self.config.working_calendar()
        out: list[PhaseWindow] = []
        entered = self.opens_at
        for state in PHASE_ORDER:
            if not config.enabled(state):
                continue
            window = phase_window(config, cal, state, entered)
            out.append(window)
            entered = window.due_at
        return out


@dataclass(frozen=True)
class LoadedSeries:
    path: Path
    series: SeriesFile
    cycles: tuple[GeneratedCycle, ...]

    def period(self, key: str) -> GeneratedCycle:
        """The period ``key`` ("2026-04", "2026-q2", "2026-year" or the cycle id)."""
        for c in self.cycles:
            if key in (c.period_key, c.cycle_id):
                return c
        known = ", ".join(c.period_key for c in self.cycles)
        raise ConfigFileError(str(self.path), None, "", f"no period {key!r} in this series; "
                              f"its periods are {known}")


def periods(series: SeriesFile) -> list[tuple[str, str, date, date, dict[str, int]]]:
    """(period key, kind, start, end, name fields) of each period of the year, in order."""
    y = series.year
    out: list[tuple[str, str, date, date, dict[str, int]]] = []
    if series.every == "month":
        for m in range(1, 13):
            out.append((f"{y}-{m:02d}", "month", date(y, m, 1),
                        date(y, m, monthrange(y, m)[1]), {"month": m, "year": y}))
    else:
        for q in range(1, 5):
            last = 3 * q
            out.append((f"{y}-q{q}", "quarter", date(y, last - 2, 1),
                        date(y, last, monthrange(y, last)[1]), {"quarter": q, "year": y}))
    if series.year_end is not None:
        month, day = (int(p) for p in series.year_end.period_end.split("-"))
        out.append((f"{y}-year", "year", date(y, 1, 1), date(y, month, day), {"year": y}))
    return out


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def cycle_id(series_id: str, period_key: str) -> str:
    """``snv-2026`` and ``2026-04`` make ``snv-2026-04``; ``2026-year`` makes ``snv-2026-year``."""
    return f"{series_id}-{period_key.split('-', 1)[1]}"


def _opening(config: CycleFile, end: date, opening: Opening) -> datetime:
    cal = config.working_calendar()
    day = cal.add_working_days(end, opening.working_days_after_period)
    return at_local(day, opening.at, zone(config.timezone)).astimezone(UTC)


def generate(loaded: LoadedFile, series: SeriesFile) -> tuple[GeneratedCycle, ...]:
    """Every period's cycle, validated; the problems of all of them at once, each at the
    series key it comes from (``template.phases...``, ``year_end.overrides...``)."""
    errors: list[ConfigFileError] = []
    out: list[GeneratedCycle] = []
    for key, kind, start, end, fields in periods(series):
        is_year = kind == "year"
        data = _merged(series.template, series.year_end.overrides) \
            if is_year and series.year_end else copy.deepcopy(series.template)
        name_template = getattr(series.names, kind)
        data = {"id": cycle_id(series.id, key), "name": name_template.format(**fields),
                "period": {"kind": kind, "start": start.isoformat(), "end": end.isoformat()},
                **data}
        opening = series.year_end.opens if is_year and series.year_end else series.opens
        where = ("year_end", "overrides") if is_year else ("template",)
        try:
            probe = CycleFile.model_validate(_with_opens(data, "2000-01-01 00:00"))
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(_at(loaded, key, where, _clean_loc(err["loc"]), _explain(err)))
            continue
        opens_at = _opening(probe, end, opening)
        local_open = opens_at.astimezone(zone(probe.timezone))
        data = _with_opens(data, f"{local_open:%Y-%m-%d %H:%M}")
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        try:
            cycle = parse_cycle_text(text, f"{loaded.path}#{key}")
        except ConfigFileErrors as exc:
            errors.extend(_at(loaded, key, where, _loc(e.key), e.problem) for e in exc.errors)
            continue
        except ConfigFileError as exc:
            errors.append(_at(loaded, key, where, _loc(exc.key), exc.problem))
            continue
        out.append(GeneratedCycle(key, cycle, opens_at))
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigFileErrors(errors)
    return tuple(out)


def _with_opens(data: dict[str, Any], local: str) -> dict[str, Any]:
    """The self-assessment opens when the series says (the template's ``opens`` is ignored)."""
    phases = dict(data.get("phases") or {})
    first = phases.get(State.SELF_ASSESSMENT.value)
    if isinstance(first, dict):
        phases[State.SELF_ASSESSMENT.value] = {**first, "opens": local}
    return {**data, "phases": phases} if phases else data


def _loc(dotted: str) -> list[str | int]:
    out: list[str | int] = []
    for part in dotted.replace("[", ".[").split("."):
        if not part:
            continue
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return out


def _at(loaded: LoadedFile, period_key: str, where: tuple[str, ...],
        loc: list[str | int], problem: str) -> ConfigFileError:
    """A generated cycle's problem at the series key it comes from."""
    if loc and loc[0] in OWN_KEYS:
        target: list[str | int] = ["names"] if loc[0] == "name" else ["every"]
    elif where[0] == "year_end" and loaded.line_of([*where, *loc]) == loaded.line_of(where):
        target = ["template", *loc]  # the year-end cycle took this key from the template
    else:
        target = [*where, *loc]
    return loaded.error(target, Problem(IN_PERIOD, problem=problem, period=period_key))


def load_series(path: str | Path) -> LoadedSeries:
    """Read and validate a series file and every cycle it generates."""
    return _checked(read_yaml(path))


def parse_series_text(text: str, name: str) -> LoadedSeries:
    """Validate a series file's text (one uploaded in the browser) as ``load_series``
    validates a file: the same problems, at ``name``'s lines."""
    return _checked(LoadedFile(Path(name), text))


def _checked(loaded: LoadedFile) -> LoadedSeries:
    series = validate(loaded, SeriesFile)
    return LoadedSeries(loaded.path, series, generate(loaded, series))
