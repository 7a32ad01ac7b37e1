"""The cycle calendar file (``config/cycles/*.yaml``), validated with line numbers.

One file describes one cycle: its period, time zone, holidays, the due time of each
phase, reminders, escalation, who is in it and who plays which part. ``kpi cycle
check`` and ``kpi cycle open`` both start by loading it through ``load_cycle``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workflow.calendar import WorkingCalendar, zone
from workflow.configfile import LoadedFile, read_yaml, validate
from workflow.domain import State
from workflow.errors import ConfigFileErrors

PHASE_ORDER: tuple[State, ...] = (
    State.SELF_ASSESSMENT,
    State.PEER_INPUT,
    State.SUPERVISOR_SCORING,
    State.CALIBRATION,
    State.APPEAL_WINDOW,
    State.APPEAL_REVIEW,
)

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_time(value: object) -> time:
    if isinstance(value, time):
        return value
    text = str(value).strip()
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (expected HH:MM, e.g. 17:00)") from None


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a date that exists (expected YYYY-MM-DD; {exc})") from None


def _parse_local_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a date-time that exists (expected YYYY-MM-DD HH:MM; {exc})"
        ) from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{text!r}: give a local time without an offset; the cycle's "
                         "timezone applies")
    return parsed


LocalTime = Annotated[time, Field(description="HH:MM local")]


class WorkingDaysAfter(_Strict):
    """N working days after the phase opens, at the given local time."""

    working_days: int = Field(ge=0, le=60)
    at: LocalTime | None = None

    _t = field_validator("at", mode="before")(lambda v: None if v is None else _parse_time(v))


class Phase(_Strict):
    """When one phase's task can be acted on and when it is due."""

    enabled: bool = True
    opens: datetime | None = None  # earliest local time the task can be done
    due: datetime | WorkingDaysAfter

    @field_validator("opens", mode="before")
    @classmethod
    def _opens(cls, v: object) -> datetime | None:
        return None if v is None else _parse_local_datetime(v)

    @field_validator("due", mode="before")
    @classmethod
    def _due(cls, v: object) -> object:
        if isinstance(v, dict):
            return v
        return _parse_local_datetime(v)


class Reminder(_Strict):
    """A reminder N working days before the due day, at a local hour of the recipient."""

    working_days_before: int = Field(ge=0, le=30)
    at: LocalTime

    _t = field_validator("at", mode="before")(_parse_time)


class Overdue(_Strict):
    """After the deadline, in states that never move alone: a repeat notice."""

    every_working_days: int = Field(default=1, ge=1, le=30)
    at: LocalTime = time(8, 0)
    max_repeats: int = Field(default=10, ge=0, le=100)

    _t = field_validator("at", mode="before")(_parse_time)


class EscalationStep(_Strict):
    """N working days after the deadline, tell someone higher up (who may then act)."""

    after_working_days: int = Field(ge=0, le=60)
    to: Literal["assignee_supervisor", "admins"]
    at: LocalTime = time(8, 0)

    _t = field_validator("at", mode="before")(_parse_time)


class DayOff(_Strict):
    date: date
    name: str = "day off (cycle calendar)"

    _d = field_validator("date", mode="before")(_parse_date)


class Holidays(_Strict):
    country: str = "VN"
    extra_days_off: tuple[DayOff, ...] = ()
    extra_working_days: tuple[date, ...] = ()

    @field_validator("extra_working_days", mode="before")
    @classmethod
    def _dates(cls, v: object) -> object:
        if isinstance(v, list):
            return [_parse_date(x) for x in v]
        return v

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if v not in holidays.list_supported_countries():
            raise ValueError(f"{v!r} is not a country the holidays package knows "
                             "(ISO 3166 alpha-2, e.g. VN)")
        return v


class Period(_Strict):
    kind: Literal["month", "quarter", "year"]
    start: date
    end: date

    _d = field_validator("start", "end", mode="before")(_parse_date)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        return self


class Peers(_Strict):
    enabled: bool = True
    per_person: int = Field(default=2, ge=0, le=10)
    min_responses: int | None = Field(default=None, ge=1)  # default: the regime's
    nomination: bool = True  # the reviewee may nominate peers in the self-assessment


class Calibration(_Strict):
    enabled: bool = True
    calibrator: Identifier | None = None  # default: the head of the agency
    exception_ratio: Decimal | None = Field(default=None, gt=0, le=1)
    exception_decision: str | None = None  # the decision on record allowing the ratio

    @model_validator(mode="after")
    def _exception_needs_decision(self) -> Calibration:
        if self.exception_ratio is not None and not self.exception_decision:
            raise ValueError("exception_ratio needs exception_decision: the reference of the "
                             "decision on record that allows it")
        return self


class Population(_Strict):
    units: Literal["all"] | tuple[Identifier, ...] = "all"
    exclude: dict[Identifier, str] = Field(default_factory=dict)  # person id -> reason


class CycleFile(_Strict):
    """The whole cycle file."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    period: Period
    timezone: str = "Asia/Ho_Chi_Minh"
    holidays: Holidays = Holidays()
    deadline_time: LocalTime = time(17, 0)
    regime: Identifier = "vn-decree-335-2025"
    frameworks: tuple[Identifier, ...] = ("vn-specialist", "vn-leader")
    phases: dict[State, Phase]
    reminders: tuple[Reminder, ...] = (
        Reminder(working_days_before=2, at=time(8, 0)),
        Reminder(working_days_before=0, at=time(8, 0)),
    )
    overdue: Overdue = Overdue()
    escalation: tuple[EscalationStep, ...] = (
        EscalationStep(after_working_days=2, to="assignee_supervisor"),
        EscalationStep(after_working_days=5, to="admins"),
    )
    peers: Peers = Peers()
    calibration: Calibration = Calibration()
    population: Population = Population()
    evaluators: dict[Identifier, Identifier] = Field(default_factory=dict)  # top of tree
    appeal_reviewer: Identifier | None = None  # a named council/reviewer for everyone
    admins: tuple[Identifier, ...] = ()

    _dt = field_validator("deadline_time", mode="before")(_parse_time)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        zone(v)
        return v

    @field_validator("phases", mode="before")
    @classmethod
    def _phase_names(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, dict):
            known = {s.value for s in PHASE_ORDER}
            for key in v:
                if key not in known:
                    raise ValueError(f"unknown phase {key!r}; phases are {', '.join(known)}")
            missing = [p.value for p in PHASE_ORDER if p.value not in v]
            if missing:
                raise ValueError(f"every phase needs a due time; missing: {', '.join(missing)}")
        return v

    def cross_checks(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that involve several keys, each with the key path to report it at."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        end_of_period = datetime.combine(self.period.end, time(23, 59))
        last: tuple[State, str, datetime] | None = None
        for state in PHASE_ORDER:
            phase = self.phases[state]
            for label, value in (("opens", phase.opens), ("due", phase.due)):
                if not isinstance(value, datetime):
                    continue
                loc: tuple[str | int, ...] = ("phases", state.value, label)
                if label == "due" and value <= end_of_period:
                    problems.append((loc, (
                        f"{value:%Y-%m-%d %H:%M} is before the period ends "
                        f"({self.period.end}); nothing can be due before there is something "
                        "to evaluate")))
                if last and value < last[2]:
                    problems.append((loc, (
                        f"phases out of order: {value:%Y-%m-%d %H:%M} comes before "
                        f"{last[0].value}.{last[1]} ({last[2]:%Y-%m-%d %H:%M})")))
                last = (state, label, value)
            if phase.opens and isinstance(phase.due, datetime) and phase.due <= phase.opens:
                problems.append((("phases", state.value, "due"),
                                 f"{phase.due:%Y-%m-%d %H:%M} is not after opens "
                                 f"({phase.opens:%Y-%m-%d %H:%M})"))
        steps = [s.after_working_days for s in self.escalation]
        if steps != sorted(steps):
            problems.append((("escalation",), "steps must be listed in the order they happen"))
        for pid in self.population.exclude:
            if pid in self.evaluators:
                problems.append((("evaluators", pid), "this person is excluded from the cycle"))
        return problems

    # --- derived -----------------------------------------------------------------

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            country=self.holidays.country,
            extra_days_off={d.date: d.name for d in self.holidays.extra_days_off},
            extra_working_days=frozenset(self.holidays.extra_working_days),
        )

    def phase(self, state: State) -> Phase:
        return self.phases[state]

    def enabled(self, state: State) -> bool:
        if state is State.PEER_INPUT:
            return self.peers.enabled and self.phases[state].enabled
        if state is State.CALIBRATION:
            return self.calibration.enabled and self.phases[state].enabled
        return self.phases[state].enabled


class LoadedCycle:
    """A validated cycle file with where it came from and its hash."""

    def __init__(self, loaded: LoadedFile, cycle: CycleFile) -> None:
        self.path = loaded.path
        self.text = loaded.text
        self.content_hash = loaded.content_hash
        self.config = cycle
        self._loaded = loaded

    def error(self, loc: tuple[str | int, ...], problem: str) -> Exception:
        return self._loaded.error(loc, problem)


def load_cycle(path: str | Path) -> LoadedCycle:
    """Read and validate a cycle file; every error names the file, the line and the key."""
    return _checked(read_yaml(path))


def parse_cycle_text(text: str, name: str = "<cycle>") -> LoadedCycle:
    """Validate cycle text (tests, and the copy stored with each opened cycle)."""
    return _checked(LoadedFile(Path(name), text))


def _checked(loaded: LoadedFile) -> LoadedCycle:
    cycle = validate(loaded, CycleFile)
    problems = cycle.cross_checks()
    if problems:
        errors = [loaded.error(loc, msg) for loc, msg in problems]
        raise errors[0] if len(errors) == 1 else ConfigFileErrors(errors)
    return LoadedCycle(loaded, cycle)
