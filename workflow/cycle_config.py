"""The cycle calendar file (``config/cycles/*.yaml``), validated with line numbers.

One file describes one cycle: its period, time zone, holidays, the due time of each
phase, reminders, escalation, who is in it and who plays which part. ``kpi cycle
check`` and ``kpi cycle open`` both start by loading it through ``load_cycle``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workflow.calendar import DayOffName, WorkingCalendar, zone
from workflow.catalog import N_
from workflow.configfile import LoadedFile, read_yaml, validate
from workflow.dates import FormDay, MonthName, Weekday
from workflow.domain import State
from workflow.errors import ConfigFileErrors
from workflow.errors import Problem as Said

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


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")


WEEKEND = N_("weekend")


def day_off_why(reason: str | None) -> object:
    """Why a day is off, as a check message's value: the weekend said by the catalogue,
    a public holiday by its name in the reader's language."""
    if reason == "weekend":
        return Said(WEEKEND)
    return DayOffName(reason or "")


def _parse_time(value: object) -> time:
    if isinstance(value, time):
        return value
    text = str(value).strip()
    match = _TIME.match(text)
    if match is None:
        raise ValueError(Said(N_("'%(value)s' is not a time of day (expected HH:MM on the "
                                 "24-hour clock, e.g. 08:00 or 17:00)"), value=text))
    hour, minute, second = (int(g or 0) for g in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(Said(N_("'%(value)s' is not a time of day: hours go 00..23 and "
                                 "minutes 00..59 (midnight is 00:00 of the next day)"),
                              value=text))
    return time(hour, minute, second)


def _checked_date(text: str, year: int, month: int, day: int) -> date:
    if not 1 <= month <= 12:
        raise ValueError(Said(N_("'%(value)s' is not a date that exists: there is no month "
                                 "%(month)s"), value=text, month=month))
    last = monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(Said(N_("'%(value)s' is not a date that exists: %(month)s has "
                                 "%(days)s days"), value=text, month=MonthName(year, month),
                              days=last))
    return date(year, month, day)


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()
    match = _DATE.match(text)
    if match is None:
        raise ValueError(Said(N_("'%(value)s' is not a date (expected YYYY-MM-DD, e.g. "
                                 "2026-05-04)"), value=text))
    return _checked_date(text, *(int(g) for g in match.groups()))


WITH_OFFSET = N_("'%(value)s': give a local time without an offset; the cycle's timezone "
                 "applies")


def _parse_local_datetime(value: object, *, date_only_at: time | None = None) -> datetime:
    """A local date-time; a bare date means ``date_only_at`` on that day (00:00 if None)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError(Said(WITH_OFFSET, value=str(value)))
        return value
    text = str(value).strip()
    if _DATE.match(text):
        return datetime.combine(_parse_date(text), date_only_at or time(0, 0))
    match = _DATETIME.match(text)
    if match is None:
        if re.search(r"(Z|[+-]\d{2}:?\d{2})$", text):
            raise ValueError(Said(WITH_OFFSET, value=text))
        raise ValueError(Said(N_("'%(value)s' is not a local date-time (expected YYYY-MM-DD "
                                 "HH:MM, e.g. 2026-05-07 17:00)"), value=text))
    y, mo, d, h, mi, sec = (int(g or 0) for g in match.groups())
    day = _checked_date(text, y, mo, d)
    clock = _parse_time(f"{h:02d}:{mi:02d}:{sec:02d}")
    return datetime.combine(day, clock)


LocalTime = Annotated[time, Field(description="HH:MM local")]
# (key path, what is wrong): a catalogue message with its values (``errors.Problem``), so
# that the check says it in the reader's language; a plain text is shown as it is.
Problem = tuple[tuple[str | int, ...], str]

# Beyond this, an absolute date is a typo (2062 for 2026), not a plan.
MAX_DAYS_AFTER_PERIOD = 366


class WorkingDaysAfter(_Strict):
    """N working days after the phase opens, at the given local time."""

    working_days: int = Field(ge=0, le=60)
    at: LocalTime | None = None

    _t = field_validator("at", mode="before")(lambda v: None if v is None else _parse_time(v))


class DaysAfter(_Strict):
    """N calendar days after the phase opens, at the given local time; a last day that
    is a day off moves to the next working day (the petition window of a regime that
    counts days, e.g. "within 5 days of publication")."""

    days: int = Field(ge=1, le=90)
    at: LocalTime | None = None

    _t = field_validator("at", mode="before")(lambda v: None if v is None else _parse_time(v))


def _due_kind(value: object) -> str:
    if isinstance(value, DaysAfter) or (isinstance(value, dict) and "days" in value):
        return _DAYS
    return _RELATIVE if isinstance(value, dict | WorkingDaysAfter) else _ABSOLUTE


# Tags of the forms of a due. With a tag pydantic reports only the errors of the
# form the admin wrote; the tags contain "[" so that error locations drop them
# (``configfile._clean_loc``), and the message names the key as written.
_ABSOLUTE, _RELATIVE, _DAYS = "due[local date-time]", "due[working days]", "due[days]"
Due = Annotated[
    Annotated[datetime, Tag(_ABSOLUTE)] | Annotated[WorkingDaysAfter, Tag(_RELATIVE)]
    | Annotated[DaysAfter, Tag(_DAYS)],
    Discriminator(_due_kind),
]


class Phase(_Strict):
    """When one phase's task can be acted on and when it is due."""

    enabled: bool = True
    opens: datetime | None = None  # earliest local time the task can be done
    due: Due

    @field_validator("opens", mode="before")
    @classmethod
    def _opens(cls, v: object) -> datetime | None:
        return None if v is None else _parse_local_datetime(v)

    @field_validator("due", mode="before")
    @classmethod
    def _due(cls, v: object) -> object:
        if isinstance(v, dict | WorkingDaysAfter | DaysAfter):
            return v
        number = str(v).strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", number):  # YAML numbers arrive as text
            raise ValueError(Said(N_("%(number)s: write {working_days: %(number)s} for "
                                     "%(number)s working days after the phase opens, or a "
                                     "local date-time such as '2026-05-07 17:00'"),
                                  number=number))
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
    """N working days after the deadline, tell someone higher up (who may then act).

    ``assignee_supervisor``: the supervisor of whoever must act (in supervisor
    scoring they may then score themselves); ``admins``: the cycle's admins.
    """

    after_working_days: int = Field(ge=0, le=60)
    to: Literal["assignee_supervisor", "admins"]
    at: LocalTime = time(8, 0)

    _t = field_validator("at", mode="before")(_parse_time)


class DayOff(_Strict):
    date: date
    name: str = Field(default="day off (cycle calendar)", min_length=1, max_length=200)

    _d = field_validator("date", mode="before")(_parse_date)

    @model_validator(mode="before")
    @classmethod
    def _plain_date(cls, v: object) -> object:
        # `- 2026-05-04` is as clear as `- {date: 2026-05-04}`: accept both.
        return {"date": v} if isinstance(v, str | date) else v


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
            raise ValueError(Said(N_("'%(value)s' is not a country the holidays package "
                                     "knows (ISO 3166 alpha-2, e.g. VN)"), value=v))
        return v


PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class Period(_Strict):
    kind: Literal["month", "quarter", "year"]
    start: date
    end: date

    _d = field_validator("start", "end", mode="before")(_parse_date)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(Said(N_("the period ends (%(end)s) before it starts (%(start)s)"),
                                  end=str(self.end), start=str(self.start)))
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
        if months > PERIOD_MONTHS[self.kind]:
            raise ValueError(Said(N_("a %(kind)s cannot run from %(start)s to %(end)s "
                                     "(%(months)s calendar months); check kind, start and "
                                     "end"), kind=self.kind, start=str(self.start),
                                  end=str(self.end), months=months))
        return self


class YearEnd(_Strict):
    """What the deadline of a year-end classification is (Decree 335: the class is given
    before 15 December; an agency with special characteristics finishes by 15 January
    of the next year, as its direct superior sets). `kpi cycle check` warns when the
    calendar cannot finish by it."""

    special_agency: bool = False  # the 15 January limit instead of 15 December
    # The superior's decision that makes the agency special (shown with the warning).
    decision: str | None = Field(default=None, min_length=3, max_length=500)

    def limit(self, year: int) -> date:
        """The last day the year's classification may be finalised on."""
        return date(year + 1, 1, 15) if self.special_agency else date(year, 12, 15)


class QuorumException(_Strict):
    """Why this cycle may show peers' answers with fewer answers than the regime's floor,
    and the decision on record that allows it (`kpi cycle check` prints both)."""

    reason: str = Field(min_length=3, max_length=2000)
    decision: str = Field(min_length=3, max_length=500)


class Peers(_Strict):
    enabled: bool = True
    per_person: int = Field(default=2, ge=0, le=10)
    # Default: the regime's peer_min_responses, also the floor (anonymity): lower only
    # with min_responses_exception.
    min_responses: int | None = Field(default=None, ge=1)
    min_responses_exception: QuorumException | None = None
    nomination: bool = True  # the reviewee may nominate peers in the self-assessment


class Calibration(_Strict):
    enabled: bool = True
    calibrator: Identifier | None = None  # default: the head of the agency
    exception_ratio: Decimal | None = Field(default=None, gt=0, le=1)
    exception_decision: str | None = None  # the decision on record allowing the ratio

    @model_validator(mode="after")
    def _exception_needs_decision(self) -> Calibration:
        if self.exception_ratio is not None and not self.exception_decision:
            raise ValueError(Said(N_("exception_ratio needs exception_decision: the reference "
                                     "of the decision on record that allows it")))
        return self


class RecusalTakers(_Strict):
    """Who takes a case on when its decider has a conflict of interest (workflow.recusal)."""

    calibration: Identifier | None = None  # default: the calibrator's own evaluator
    appeal_review: Identifier | None = None  # default: the next reviewee-free one in line


class Population(_Strict):
    units: Literal["all"] | tuple[Identifier, ...] = "all"
    exclude: dict[Identifier, str] = Field(default_factory=dict)  # person id -> reason


# Only these phases can be switched off; the others are the evaluation itself.
OPTIONAL_PHASES = {State.PEER_INPUT: "peers", State.CALIBRATION: "calibration"}
# The petition's phases: a regime with petition rules gives their due times, so a
# cycle file may leave them out (workflow.petition fills them in, or refuses the
# cycle's own when the regime does not allow them).
PETITION_PHASES = (State.APPEAL_WINDOW, State.APPEAL_REVIEW)


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
    # Who reviews a petition against a petition's decision (the regime's re_review);
    # default: the direct superior of whoever decided it.
    re_appeal_reviewer: Identifier | None = None
    recusal: RecusalTakers = RecusalTakers()
    admins: tuple[Identifier, ...] = ()
    # A year-end classification's deadline (only with period.kind: year).
    year_end: YearEnd | None = None

    _dt = field_validator("deadline_time", mode="before")(_parse_time)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: object) -> object:
        """A due given as a bare date is due at ``deadline_time`` that day; a phase that
        ``peers``/``calibration`` switch off may be left out of ``phases``."""
        if not isinstance(data, dict) or not isinstance(data.get("phases"), dict):
            return data
        try:
            clock = _parse_time(data.get("deadline_time", "17:00"))
        except ValueError:
            clock = None  # reported on deadline_time itself
        phases: dict[str, object] = {}
        for name, phase in data["phases"].items():
            due = phase.get("due") if isinstance(phase, dict) else None
            if clock is not None and isinstance(due, str) and _DATE.match(due.strip()):
                phases[name] = {**phase, "due": f"{due.strip()} {clock:%H:%M}"}
            else:
                phases[name] = phase
        for state, key in OPTIONAL_PHASES.items():
            section = data.get(key)
            off = isinstance(section, dict) and section.get("enabled") is False
            if off and state.value not in phases:
                phases[state.value] = {"enabled": False, "due": {"working_days": 0}}
        return {**data, "phases": phases}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        zone(v)
        return v

    @field_validator("phases", mode="before")
    @classmethod
    def _phase_names(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, dict):
            known = [s.value for s in PHASE_ORDER]
            for key in v:
                if key not in known:
                    raise ValueError(Said(N_("unknown phase '%(phase)s'; the phases are "
                                             "%(phases)s"), phase=key, phases=", ".join(known)))
            petition = {s.value for s in PETITION_PHASES}
            missing = [p for p in known if p not in v and p not in petition]
            if missing:
                raise ValueError(Said(N_("every phase needs a due time; missing: %(missing)s"),
                                      missing=", ".join(missing)))
        return v

    def cross_checks(self) -> list[Problem]:
        """Problems that involve several keys, each with the key path to report it at."""
        problems = self._date_checks()
        for state in self.listed_phases():
            if not self.phases[state].enabled and state not in OPTIONAL_PHASES:
                problems.append((("phases", state.value, "enabled"), Said(
                    N_("%(phase)s cannot be switched off; only %(optional)s can"),
                    phase=state.value, optional=", ".join(s.value for s in OPTIONAL_PHASES))))
        steps = [s.after_working_days for s in self.escalation]
        if steps != sorted(steps):
            problems.append((("escalation",), Said(
                N_("steps must be listed in the order they happen (after_working_days "
                   "%(steps)s)"), steps=", ".join(map(str, steps)))))
        seen_steps: set[tuple[int, str]] = set()
        for i, step in enumerate(self.escalation):
            if (step.after_working_days, step.to) in seen_steps:
                problems.append((("escalation", i), Said(
                    N_("the same step twice (%(to)s after %(days)s working days)"),
                    to=step.to, days=step.after_working_days)))
            seen_steps.add((step.after_working_days, step.to))
        seen_reminders: set[tuple[int, time]] = set()
        for i, reminder in enumerate(self.reminders):
            key = (reminder.working_days_before, reminder.at)
            if key in seen_reminders:
                problems.append((("reminders", i), Said(
                    N_("the same reminder twice (%(days)s working days before, at %(at)s)"),
                    days=reminder.working_days_before, at=f"{reminder.at:%H:%M}")))
            seen_reminders.add(key)
        off = {d.date for d in self.holidays.extra_days_off}
        for i, day in enumerate(self.holidays.extra_working_days):
            if day in off:
                problems.append((("holidays", "extra_working_days", i), Said(
                    N_("%(day)s is also listed in extra_days_off; a day is either off or "
                       "worked"), day=FormDay(day))))
        if self.peers.enabled and self.phases[State.PEER_INPUT].enabled \
                and self.peers.per_person == 0:
            problems.append((("peers", "per_person"), Said(
                N_("is 0 while peer input is on: nobody would be asked; set peers.enabled: "
                   "false to switch peer input off"))))
        if self.year_end is not None and self.period.kind != "year":
            problems.append((("year_end",), Said(
                N_("only a year-end cycle (period.kind: year) has a year-end deadline; this "
                   "cycle's period is a %(kind)s: remove year_end"), kind=self.period.kind)))
        if self.year_end is not None and self.year_end.decision \
                and not self.year_end.special_agency:
            problems.append((("year_end", "decision"), Said(
                N_("names the decision that makes the agency special, but special_agency is "
                   "false: set special_agency: true, or remove decision"))))
        for pid in self.population.exclude:
            if pid in self.evaluators:
                problems.append((("evaluators", pid),
                                 Said(N_("this person is excluded from the cycle"))))
        return problems

    def _date_checks(self) -> list[Problem]:
        problems: list[Problem] = []
        end_of_period = datetime.combine(self.period.end, time(23, 59))
        too_late = datetime.combine(self.period.end, time(0, 0)).toordinal() \
            + MAX_DAYS_AFTER_PERIOD
        last: tuple[State, str, datetime] | None = None
        for state in self.listed_phases():
            phase = self.phases[state]
            if not phase.enabled:
                continue
            for label, value in (("opens", phase.opens), ("due", phase.due)):
                if not isinstance(value, datetime):
                    continue
                loc: tuple[str | int, ...] = ("phases", state.value, label)
                if label == "due" and value <= end_of_period:
                    problems.append((loc, Said(
                        N_("%(when)s is before the period ends (%(end)s); nothing can be due "
                           "before there is something to evaluate"),
                        when=FormDay(value), end=FormDay(self.period.end))))
                elif value.toordinal() > too_late:
                    problems.append((loc, Said(
                        N_("%(day)s is more than %(max)s days after the period ends "
                           "(%(end)s); check the year"), day=FormDay(value.date()),
                        max=MAX_DAYS_AFTER_PERIOD, end=FormDay(self.period.end))))
                # A due before its own phase's opens is said once, by the check below
                # (it names opens, the fix), not also as phases out of order.
                if last and value < last[2] and not (last[0] is state and label == "due"):
                    problems.append((loc, Said(
                        N_("phases out of order: %(when)s comes before %(key)s (%(then)s); "
                           "phases run in the order %(order)s"),
                        when=FormDay(value), key=f"{last[0].value}.{last[1]}",
                        then=FormDay(last[2]),
                        order=", ".join(s.value for s in PHASE_ORDER))))
                last = (state, label, value)
            if phase.opens and isinstance(phase.due, datetime) and phase.due <= phase.opens:
                problems.append((("phases", state.value, "due"), Said(
                    N_("%(due)s is not after opens (%(opens)s)"),
                    due=FormDay(phase.due), opens=FormDay(phase.opens))))
        return problems

    def advice(self) -> list[Problem]:
        """Things that are allowed but probably not meant; `kpi cycle check` prints them."""
        notes: list[Problem] = []
        base = WorkingCalendar(self.holidays.country)  # without the cycle's own days
        for i, d in enumerate(self.holidays.extra_days_off):
            if not base.is_working_day(d.date):
                notes.append((("holidays", "extra_days_off", i), Said(
                    N_("%(day)s is already a day off (%(why)s); listing it changes nothing"),
                    day=FormDay(d.date), why=day_off_why(base.day_off_reason(d.date)))))
        for i, day in enumerate(self.holidays.extra_working_days):
            if base.is_working_day(day):
                notes.append((("holidays", "extra_working_days", i), Said(
                    N_("%(day)s (%(weekday)s) is already a working day; listing it changes "
                       "nothing"), day=FormDay(day), weekday=Weekday(day.weekday()))))
        for i, reminder in enumerate(self.reminders):
            if reminder.working_days_before == 0 and reminder.at >= self.deadline_time:
                notes.append((("reminders", i, "at"), Said(
                    N_("%(at)s on the due day is not before the deadline (%(deadline)s): this "
                       "reminder is never sent for phases due at deadline_time"),
                    at=f"{reminder.at:%H:%M}", deadline=f"{self.deadline_time:%H:%M}")))
        if self.peers.enabled and self.peers.min_responses is not None \
                and self.peers.min_responses > self.peers.per_person:
            notes.append((("peers", "min_responses"), Said(
                N_("%(min)s is more than per_person (%(per_person)s): unless reviewees "
                   "nominate more peers, every peer answer is withheld"),
                min=self.peers.min_responses, per_person=self.peers.per_person)))
        return notes

    # --- derived -----------------------------------------------------------------

    def year_end_limit(self) -> date | None:
        """The last day a year-end cycle may be finalised on; None for a shorter period."""
        if self.period.kind != "year":
            return None
        return (self.year_end or YearEnd()).limit(self.period.end.year)

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            country=self.holidays.country,
            extra_days_off={d.date: d.name for d in self.holidays.extra_days_off},
            extra_working_days=frozenset(self.holidays.extra_working_days),
        )

    def listed_phases(self) -> list[State]:
        """The phases the file (or, once resolved, its regime) gives, in phase order."""
        return [s for s in PHASE_ORDER if s in self.phases]

    def phase(self, state: State) -> Phase:
        try:
            return self.phases[state]
        except KeyError:
            # Only a cycle read without its regime lacks a petition phase; the rules a
            # cycle runs by always have both (workflow.petition.with_petition_phases).
            raise KeyError(f"{state.value}: the cycle file leaves it to the regime, and the "
                           "regime's petition rules were not applied") from None

    def enabled(self, state: State) -> bool:
        if state is State.PEER_INPUT:
            return self.peers.enabled and self.phase(state).enabled
        if state is State.CALIBRATION:
            return self.calibration.enabled and self.phase(state).enabled
        return self.phase(state).enabled


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

    def advice(self) -> list[str]:
        """The file's advisory notes, each as ``file:line: key: note``."""
        return [str(self._loaded.error(loc, note)) for loc, note in self.config.advice()]


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
