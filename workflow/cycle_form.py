"""The cycle file as a web form, and back. Pure.

Every key of a cycle file (``workflow.cycle_config``) has a form field named after
its key path (``period.start``, ``reminders[0].at``), so that a problem the cycle
check reports at a key is shown next to the field it came from. ``to_form`` turns a
file's data into field values, ``from_form`` the posted fields into a file's data
plus the problems of what was typed (a date like 31/04/2026, a time like 8h); the
data is then checked by the very code `kpi cycle check` runs.

Repeating keys (reminders, escalation steps, days off, exclusions, evaluators) are
numbered rows: the form shows the filled rows plus blank ones, and an "add a row"
button posts the form back with one more (no script needed). Blank rows are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workflow import dates, formatting
from workflow.catalog import N_
from workflow.cycle_config import PHASE_ORDER, CycleFile
from workflow.domain import State
from workflow.errors import Problem

# Repeating keys: their row fields, and how many blank rows the form offers.
ROWS: Mapping[str, tuple[str, ...]] = {
    "holidays.extra_days_off": ("date", "name"),
    "holidays.extra_working_days": ("",),
    "reminders": ("working_days_before", "at"),
    "escalation": ("after_working_days", "to", "at"),
    "population.exclude": ("person", "reason"),
    "evaluators": ("person", "evaluator"),
}
BLANK_ROWS = 1
MAX_ROWS = 40
ESCALATE_TO = ("assignee_supervisor", "admins")
# The phases the form asks for, in order; the appeal keys are handled together below.
PHASES = tuple(s.value for s in PHASE_ORDER)
# The keys of the appeal window and the appeal review in one place (they may move
# into the regime file: then only APPEAL_* and _appeal_* change).
APPEAL_PHASES = (State.APPEAL_WINDOW.value, State.APPEAL_REVIEW.value)
APPEAL_KEYS = ("appeal_reviewer", "re_appeal_reviewer")
# Who takes a case on when the one who would decide it has a conflict of interest.
RECUSAL_KEYS = ("calibration", "appeal_review")
# The phases a switch turns off, and the switch's field.
OPTIONAL = {State.PEER_INPUT.value: "peers.enabled", State.CALIBRATION.value: "calibration.enabled"}

NOT_A_WHOLE_NUMBER = N_("“%(value)s” is not a whole number")
NOT_A_RATIO = N_("“%(value)s” is not a number between 0 and 1 (e.g. 0.25)")
REQUIRED = dates.REQUIRED
DUE_BOTH = N_("give either the date and time it is due or a number of working days, not "
              "both")
DUE_ONE = N_("give only one of: the date and time it is due, a number of working days, or "
             "a number of calendar days")
DUE_NEITHER = N_("give the date and time it is due, or a number of working days after the "
                 "phase opens")
ROW_HALF = N_("this row is half filled in: fill in the rest or empty it")

_INT = re.compile(r"^\d{1,4}$")


@dataclass
class Parsed:
    """What the form said: the cycle file's data, the typing problems by field, and
    where each key of the data came from (the field to show the check's problems at)."""

    data: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def field_for(self, key: str) -> str:
        """The form field a problem at ``key`` (``phases.peer_input.due``) belongs to."""
        parts = re.split(r"(?=\[)|\.", key)
        while parts:
            dotted = ".".join(parts).replace(".[", "[")
            if dotted in self.origins:
                return self.origins[dotted]
            parts = parts[:-1]
        return "_form"


# --- values -------------------------------------------------------------------------


def _date(text: str) -> tuple[str | None, Problem | None]:
    try:
        return dates.parse_day(text).isoformat(), None
    except dates.NotADate as exc:
        return None, exc.problem


def _time(text: str) -> tuple[str | None, Problem | None]:
    try:
        return f"{dates.parse_clock(text):%H:%M}", None
    except dates.NotADate as exc:
        return None, exc.problem


def _datetime(text: str) -> tuple[str | None, Problem | None]:
    try:
        day, clock = dates.parse_day_time(text)
    except dates.NotADate as exc:
        return None, exc.problem
    # A bare date: due at deadline_time that day.
    return day.isoformat() if clock is None else f"{day.isoformat()} {clock:%H:%M}", None


def _int(text: str) -> tuple[int | None, Problem | None]:
    if not _INT.match(text):
        return None, Problem(NOT_A_WHOLE_NUMBER, value=text)
    return int(text), None


def _ratio(text: str) -> tuple[str | None, Problem | None]:
    number = text.replace(",", ".")
    if not re.fullmatch(r"0?\.\d+|1(\.0*)?|0", number):
        return None, Problem(NOT_A_RATIO, value=text)
    return number, None


def _words(text: str) -> list[str]:
    """Ids typed in one box, separated by commas, spaces or new lines."""
    return [w for w in re.split(r"[\s,;]+", text) if w]


# --- form -> data -------------------------------------------------------------------


class _Reader:
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.out = Parsed()

    def text(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def take(self, name: str, parse: Any, key: str | None = None, *,
             required: bool = False) -> Any:
        """The parsed value of field ``name`` (None when empty or wrong)."""
        text = self.text(name)
        self.out.origins[key or name] = name
        if not text:
            if required:
                self.out.problems[name] = Problem(REQUIRED)
            return None
        value, problem = parse(text)
        if problem is not None:
            self.out.problems[name] = problem
            return None
        return value

    def flag(self, name: str) -> bool:
        self.out.origins[name] = name
        return self.text(name) not in ("", "0")

    def rows(self, prefix: str) -> list[tuple[int, dict[str, str]]]:
        """The filled rows of ``prefix`` with their row number."""
        count = row_count(self.values, prefix)
        out = []
        for i in range(count):
            cells = {part: self.text(f"{prefix}[{i}]" + (f".{part}" if part else ""))
                     for part in ROWS[prefix]}
            if any(cells.values()):
                out.append((i, cells))
        return out

    def cell(self, prefix: str, i: int, part: str) -> str:
        return f"{prefix}[{i}]" + (f".{part}" if part else "")


def row_count(values: Mapping[str, str], prefix: str) -> int:
    """How many rows of ``prefix`` the form has (its hidden ``rows.`` count)."""
    text = (values.get(f"rows.{prefix}") or "").strip()
    return min(int(text), MAX_ROWS) if text.isdigit() else BLANK_ROWS


def from_form(values: Mapping[str, str]) -> Parsed:
    """The cycle file's data from the posted fields, with what was mistyped."""
    r = _Reader(values)
    data: dict[str, Any] = {}
    for key in ("id", "name"):
        data[key] = r.take(key, lambda t: (t, None), required=True)
    data["period"] = {
        "kind": r.take("period.kind", lambda t: (t, None), required=True),
        "start": r.take("period.start", _date, required=True),
        "end": r.take("period.end", _date, required=True),
    }
    data["timezone"] = r.take("timezone", lambda t: (t, None)) or "Asia/Ho_Chi_Minh"
    data["holidays"] = _holidays(r)
    data["deadline_time"] = r.take("deadline_time", _time) or "17:00"
    data["regime"] = r.take("regime", lambda t: (t, None), required=True)
    data["frameworks"] = _words(r.text("frameworks"))
    r.out.origins["frameworks"] = "frameworks"
    if not data["frameworks"]:
        r.out.problems["frameworks"] = Problem(REQUIRED)
    data["phases"] = _phases(r)
    data["reminders"] = _reminders(r)
    data["overdue"] = {
        "every_working_days": r.take("overdue.every_working_days", _int, required=True),
        "at": r.take("overdue.at", _time, required=True),
        "max_repeats": r.take("overdue.max_repeats", _int, required=True),
    }
    data["escalation"] = _escalation(r)
    data["peers"] = _peers(r)
    data["calibration"] = _calibration(r)
    data["population"] = _population(r)
    data["evaluators"] = _pairs(r, "evaluators", "person", "evaluator")
    year_end = _year_end(r)
    if year_end:
        data["year_end"] = year_end
    data.update(_appeal_from_form(r))
    data["admins"] = _words(r.text("admins"))
    r.out.origins["admins"] = "admins"
    r.out.data = _drop_none(data)
    return r.out


def _drop_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(v) for v in data]
    return data


def _holidays(r: _Reader) -> dict[str, Any]:
    off: list[dict[str, Any]] = []
    prefix = "holidays.extra_days_off"
    for i, cells in r.rows(prefix):
        n = len(off)
        r.out.origins[f"{prefix}[{n}]"] = r.cell(prefix, i, "date")
        r.out.origins[f"{prefix}[{n}].name"] = r.cell(prefix, i, "name")
        day = r.take(r.cell(prefix, i, "date"), _date, f"{prefix}[{n}].date", required=True)
        entry: dict[str, Any] = {"date": day}
        if cells["name"]:
            entry["name"] = cells["name"]
        off.append(entry)
    worked: list[str | None] = []
    prefix = "holidays.extra_working_days"
    for i, _cells in r.rows(prefix):
        worked.append(r.take(r.cell(prefix, i, ""), _date, f"{prefix}[{len(worked)}]"))
    return {"country": r.take("holidays.country", lambda t: (t.upper(), None)) or "VN",
            "extra_days_off": off, "extra_working_days": worked}


def _phase(r: _Reader, state: str) -> dict[str, Any]:
    base = f"phases.{state}"
    phase: dict[str, Any] = {}
    opens = r.take(f"{base}.opens", _datetime)
    if opens is not None:
        phase["opens"] = opens
    absolute = r.text(f"{base}.due")
    days = r.text(f"{base}.due.working_days")
    calendar_days = r.text(f"{base}.due.days")
    if sum(1 for given in (absolute, days, calendar_days) if given) > 1:
        r.out.problems[f"{base}.due"] = Problem(DUE_ONE if calendar_days else DUE_BOTH)
        return phase
    if absolute:
        phase["due"] = r.take(f"{base}.due", _datetime)
        r.out.origins[f"{base}.due"] = f"{base}.due"
    elif calendar_days or days:
        # {days: N} counts calendar days (as a regime's petition window may), else
        # {working_days: N}; either with an optional hour.
        unit = "days" if calendar_days else "working_days"
        r.out.origins[f"{base}.due"] = f"{base}.due.{unit}"
        due: dict[str, Any] = {unit: r.take(f"{base}.due.{unit}", _int, f"{base}.due.{unit}")}
        at = r.take(f"{base}.due.at", _time)
        if at is not None:
            due["at"] = at
        phase["due"] = due
    else:
        r.out.origins[f"{base}.due"] = f"{base}.due.working_days"
        r.out.problems[f"{base}.due.working_days"] = Problem(DUE_NEITHER)
    r.out.origins[base] = f"{base}.due.working_days"
    return phase


def _phases(r: _Reader) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for state in PHASES:
        if state in APPEAL_PHASES:
            continue
        switch = OPTIONAL.get(state)
        if switch and not r.flag(switch):
            # Switched off: its times are kept when given (switched on again later, they
            # are there), else it is left out of phases, as a file may.
            base = f"phases.{state}"
            if any(r.text(f"{base}.{part}") for part in ("due", "due.working_days", "opens")):
                # The section's switch turns it off; the phase's own ``enabled: false``
                # stays where the file had it (a hidden field carries it).
                off = {"enabled": False} if r.text(f"{base}.enabled") == "0" else {}
                phases[state] = {**off, **_phase(r, state)}
            continue
        phases[state] = _phase(r, state)
    phases.update(_appeal_phases(r))
    r.out.origins["phases"] = "phases.self_assessment.due.working_days"
    return {s: phases[s] for s in PHASES if s in phases}


def _reminders(r: _Reader) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prefix = "reminders"
    for i, _cells in r.rows(prefix):
        n = len(out)
        r.out.origins[f"{prefix}[{n}]"] = r.cell(prefix, i, "working_days_before")
        out.append({
            "working_days_before": r.take(r.cell(prefix, i, "working_days_before"), _int,
                                          f"{prefix}[{n}].working_days_before", required=True),
            "at": r.take(r.cell(prefix, i, "at"), _time, f"{prefix}[{n}].at", required=True)})
    return out


def _escalation(r: _Reader) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prefix = "escalation"
    for i, cells in r.rows(prefix):
        n = len(out)
        if set(cells) == {"to", "at", "after_working_days"} and not cells["after_working_days"] \
                and not cells["at"] and cells["to"]:
            continue  # only the select has a value: a blank row
        r.out.origins[f"{prefix}[{n}]"] = r.cell(prefix, i, "after_working_days")
        r.out.origins[f"{prefix}[{n}].to"] = r.cell(prefix, i, "to")
        step: dict[str, Any] = {
            "after_working_days": r.take(r.cell(prefix, i, "after_working_days"), _int,
                                         f"{prefix}[{n}].after_working_days", required=True),
            "to": cells["to"] or None}
        at = r.take(r.cell(prefix, i, "at"), _time, f"{prefix}[{n}].at")
        if at is not None:
            step["at"] = at
        out.append(step)
    return out


def _peers(r: _Reader) -> dict[str, Any]:
    peers: dict[str, Any] = {"enabled": r.flag("peers.enabled")}
    if not peers["enabled"]:
        return peers
    peers["per_person"] = r.take("peers.per_person", _int, required=True)
    peers["min_responses"] = r.take("peers.min_responses", _int)
    reason = r.text("peers.min_responses_exception.reason")
    decision = r.text("peers.min_responses_exception.decision")
    r.out.origins["peers.min_responses_exception"] = "peers.min_responses_exception.reason"
    for part in ("reason", "decision"):
        name = f"peers.min_responses_exception.{part}"
        r.out.origins[name] = name
    if reason or decision:
        peers["min_responses_exception"] = {"reason": reason, "decision": decision}
    peers["nomination"] = r.flag("peers.nomination")
    return peers


def _calibration(r: _Reader) -> dict[str, Any]:
    calibration: dict[str, Any] = {"enabled": r.flag("calibration.enabled")}
    if not calibration["enabled"]:
        return calibration
    calibration["calibrator"] = r.take("calibration.calibrator", lambda t: (t, None))
    calibration["exception_ratio"] = r.take("calibration.exception_ratio", _ratio)
    calibration["exception_decision"] = r.take("calibration.exception_decision",
                                               lambda t: (t, None))
    return calibration


def _population(r: _Reader) -> dict[str, Any]:
    units = _words(r.text("population.units"))
    r.out.origins["population.units"] = "population.units"
    return {"units": units or "all",
            "exclude": _pairs(r, "population.exclude", "person", "reason")}


def _year_end(r: _Reader) -> dict[str, Any]:
    """The year-end keys (``year_end: {special_agency: true, decision: ...}``); none
    when neither is given, as a file leaves them out (the 15 December limit)."""
    special = r.flag("year_end.special_agency")
    decision = r.text("year_end.decision")
    r.out.origins["year_end"] = "year_end.special_agency"
    r.out.origins["year_end.decision"] = "year_end.decision"
    if not special and not decision:
        return {}
    return {"special_agency": special, **({"decision": decision} if decision else {})}


def _pairs(r: _Reader, prefix: str, key: str, value: str) -> dict[str, str]:
    """Rows of (person, something) as a mapping of the file (``{SNV003: reason}``)."""
    out: dict[str, str] = {}
    for i, cells in r.rows(prefix):
        for part in (key, value):
            if not cells[part]:
                r.out.problems[r.cell(prefix, i, part)] = Problem(ROW_HALF)
        if cells[key] and cells[value]:
            out[cells[key]] = cells[value]
            r.out.origins[f"{prefix}.{cells[key]}"] = r.cell(prefix, i, key)
    r.out.origins[prefix] = r.cell(prefix, 0, key)
    return out


def _appeal_phases(r: _Reader) -> dict[str, Any]:
    """The appeal phases given; one left blank is left out of the file, whose regime's
    petition rules then give it (``cycle_config`` refuses the omission where they do
    not, at its key)."""
    return {state: _phase(r, state) for state in APPEAL_PHASES
            if any(r.text(f"phases.{state}.{part}")
                   for part in ("due", "due.working_days", "due.days", "due.at", "opens"))}


def _appeal_from_form(r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {key: r.take(key, lambda t: (t, None)) for key in APPEAL_KEYS}
    recusal = {key: r.take(f"recusal.{key}", lambda t: (t, None)) for key in RECUSAL_KEYS}
    r.out.origins["recusal"] = "recusal.calibration"
    if any(v is not None for v in recusal.values()):
        out["recusal"] = recusal
    return out


# --- data -> form -------------------------------------------------------------------


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _day(value: object) -> str:
    """A date of the file (a YAML date, or text such as ``2026-07-01 08:00``) as the
    form asks for it (01/07/2026 08:00); what is not a date is shown as written, for the
    check to name."""
    if isinstance(value, datetime):
        return formatting.typed_date_time(value.date(), value.time())
    if isinstance(value, date):
        return formatting.typed_date(value)
    text = _s(value)
    try:
        day, clock = dates.parse_day_time(text)
    except dates.NotADate:
        return text
    return formatting.typed_date_time(day, clock)


def to_form(data: Mapping[str, Any], *, extra_rows: Mapping[str, int] | None = None
            ) -> dict[str, str]:
    """A cycle file's data (as read from YAML) as the form's field values."""
    # A key left out of a file has the cycle file's default (two reminders, two steps).
    data = {"reminders": DEFAULT_REMINDERS, "escalation": DEFAULT_ESCALATION, **data}
    v: dict[str, str] = {"id": _s(data.get("id")), "name": _s(data.get("name"))}
    period = data.get("period") or {}
    for part in ("kind", "start", "end"):
        value = period.get(part)
        v[f"period.{part}"] = _s(value) if part == "kind" else _day(value)
    v["timezone"] = _s(data.get("timezone") or "Asia/Ho_Chi_Minh")
    hol = data.get("holidays") or {}
    v["holidays.country"] = _s(hol.get("country") or "VN")
    rows: dict[str, list[dict[str, str]]] = {
        "holidays.extra_days_off": [
            {"date": _day(d), "name": ""} if not isinstance(d, Mapping)
            else {"date": _day(d.get("date")), "name": _s(d.get("name"))}
            for d in hol.get("extra_days_off") or []],
        "holidays.extra_working_days": [{"": _day(d)}
                                        for d in hol.get("extra_working_days") or []],
        "reminders": [{"working_days_before": _s(x.get("working_days_before")),
                       "at": _s(x.get("at"))} for x in data.get("reminders") or []],
        "escalation": [{"after_working_days": _s(x.get("after_working_days")),
                        "to": _s(x.get("to")), "at": _s(x.get("at"))}
                       for x in data.get("escalation") or []],
        "population.exclude": [{"person": _s(k), "reason": _s(w)} for k, w in
                               ((data.get("population") or {}).get("exclude") or {}).items()],
        "evaluators": [{"person": _s(k), "evaluator": _s(w)}
                       for k, w in (data.get("evaluators") or {}).items()],
    }
    v["deadline_time"] = _s(data.get("deadline_time") or "17:00")
    v["regime"] = _s(data.get("regime") or "vn-decree-335-2025")
    v["frameworks"] = ", ".join(_s(f) for f in data.get("frameworks") or
                                ("vn-specialist", "vn-leader"))
    phases = data.get("phases") or {}
    for state in PHASES:
        phase = phases.get(state) or {}
        base = f"phases.{state}"
        v[f"{base}.opens"] = _day(phase.get("opens"))
        if state in OPTIONAL:
            v[f"{base}.enabled"] = "0" if phase.get("enabled") is False else ""
        due = phase.get("due")
        if isinstance(due, Mapping):
            v[f"{base}.due.working_days"] = _s(due.get("working_days"))
            v[f"{base}.due.days"] = _s(due.get("days"))
            v[f"{base}.due.at"] = _s(due.get("at"))
        else:
            v[f"{base}.due"] = _day(due)
    overdue = data.get("overdue") or {}
    v["overdue.every_working_days"] = _s(overdue.get("every_working_days", 1))
    v["overdue.at"] = _s(overdue.get("at", "08:00"))
    v["overdue.max_repeats"] = _s(overdue.get("max_repeats", 10))
    peers = data.get("peers") or {}
    def on(key: str, section: Mapping[str, Any]) -> bool:
        phase = phases.get(key) or {}
        return bool(section.get("enabled", True)) and bool(phase.get("enabled", True))

    v["peers.enabled"] = _s(on(State.PEER_INPUT.value, peers))
    v["peers.per_person"] = _s(peers.get("per_person", 2))
    v["peers.min_responses"] = _s(peers.get("min_responses"))
    exception = peers.get("min_responses_exception") or {}
    v["peers.min_responses_exception.reason"] = _s(exception.get("reason"))
    v["peers.min_responses_exception.decision"] = _s(exception.get("decision"))
    v["peers.nomination"] = _s(peers.get("nomination", True))
    cal = data.get("calibration") or {}
    v["calibration.enabled"] = _s(on(State.CALIBRATION.value, cal))
    for part in ("calibrator", "exception_ratio", "exception_decision"):
        v[f"calibration.{part}"] = _s(cal.get(part))
    units = (data.get("population") or {}).get("units", "all")
    v["population.units"] = "" if units == "all" else ", ".join(_s(u) for u in units or [])
    year_end = data.get("year_end") or {}
    year_end = year_end if isinstance(year_end, Mapping) else {}
    v["year_end.special_agency"] = _s(bool(year_end.get("special_agency", False)))
    v["year_end.decision"] = _s(year_end.get("decision"))
    v.update(_appeal_to_form(data))
    v["admins"] = ", ".join(_s(a) for a in data.get("admins") or [])
    for prefix, entries in rows.items():
        count = len(entries) + BLANK_ROWS + (extra_rows or {}).get(prefix, 0)
        v[f"rows.{prefix}"] = str(min(count, MAX_ROWS))
        for i, cells in enumerate(entries):
            for part, value in cells.items():
                v[f"{prefix}[{i}]" + (f".{part}" if part else "")] = value
    return v


def _appeal_to_form(data: Mapping[str, Any]) -> dict[str, str]:
    recusal = data.get("recusal") or {}
    recusal = recusal if isinstance(recusal, Mapping) else {}
    return {**{key: _s(data.get(key)) for key in APPEAL_KEYS},
            **{f"recusal.{key}": _s(recusal.get(key)) for key in RECUSAL_KEYS}}


DEFAULT_REMINDERS = [{"working_days_before": r.working_days_before, "at": f"{r.at:%H:%M}"}
                     for r in CycleFile.model_fields["reminders"].default]
DEFAULT_ESCALATION = [{"after_working_days": e.after_working_days, "to": e.to,
                       "at": f"{e.at:%H:%M}"}
                      for e in CycleFile.model_fields["escalation"].default]


def add_row(values: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The form posted back with one more blank row of ``prefix``."""
    if prefix not in ROWS:
        return dict(values)
    return {**values, f"rows.{prefix}": str(min(row_count(values, prefix) + 1, MAX_ROWS))}


def new_cycle_data() -> dict[str, Any]:
    """What a new cycle starts from: the sample's phases, reminders and ladder."""
    return {
        "period": {"kind": "month"},
        "phases": {
            State.SELF_ASSESSMENT.value: {"due": {"working_days": 3}},
            State.PEER_INPUT.value: {"due": {"working_days": 2}},
            State.SUPERVISOR_SCORING.value: {"due": {"working_days": 3}},
            State.CALIBRATION.value: {"due": {"working_days": 3}},
            State.APPEAL_WINDOW.value: {"due": {"working_days": 5}},
            State.APPEAL_REVIEW.value: {"due": {"working_days": 10}},
        },
        "reminders": DEFAULT_REMINDERS,
        "escalation": DEFAULT_ESCALATION,
    }
