"""Regimes and KPI frameworks: the scoring rules, as validated data.

A *regime* (``config/regimes/*.yaml``) holds a jurisdiction's rules: the point groups
and their maxima, the class bands, the overrides, the class rules, the quota, the
weights of the sources (supervisor, self, peers). A *framework*
(``config/frameworks/*.yaml``) holds the criteria of a group of positions. No
formula is ever eval'd: criterion kinds are a closed set, each computed by
``workflow.scoring.compute``.

Validation happens in two steps so that every error can name the line of the key
that is wrong: pydantic checks each value (types, ranges, unknown keys), then
``Regime.cross_checks`` and ``Framework.cross_checks`` / ``check_against`` check what
involves several keys (maxima that must add up, thresholds in order, class names
that must exist), each problem with the key path it belongs to. The loaders turn
those paths into ``file:line: key: problem`` through ``LoadedFile.error``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from workflow.configfile import LoadedFile, read_yaml, validate
from workflow.errors import ConfigFileErrors
from workflow.scoring.petition import PetitionRules, PublicationRules

Points = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]
PositivePoints = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=6)]
Ratio = Annotated[Decimal, Field(ge=0, le=1)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]

# Passed as the validation context by the loaders: the model validators then leave
# the cross-field checks to the loader, which reports each one at its own line.
DEFER_CROSS_CHECKS = {"defer_cross_checks": True}


def _deferred(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("defer_cross_checks"))


def _dotted(loc: KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raise_if_any(problems: list[Problem]) -> None:
    """For models built in code (tests, the stored copy of a file): one error, all problems."""
    if problems:
        raise ValueError("; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(_Strict):
    """A label in each language the product speaks."""

    en: str = Field(min_length=1)
    vi: str = Field(min_length=1)


class CriterionKind(StrEnum):
    """How a criterion's points are worked out."""

    RUBRIC = "rubric"  # points 0..max given by the scorer, the reviewee proposing
    RATIO = "ratio"  # actual / target, capped, times max
    TASKS = "tasks"  # Decree 335 quantity, quality and progress over assigned items
    UNIT_RESULTS = "unit_results"  # leaders: from the classes of the people they manage
    PERIOD_MEAN = "period_mean"  # a longer period: the mean of the shorter ones worked


class Source(StrEnum):
    """Who gives points."""

    SUPERVISOR = "supervisor"
    SELF = "self"
    PEER = "peer"


class PointGroup(_Strict):
    """A group of criteria with its maximum (Decree 335: general 30, task results 70).

    ``combine: sum`` (the default) adds the criteria's points: their maxima must add
    up to the group's. ``combine: mean`` gives every criterion the same weight, each
    counting as its share of its own maximum (ratings on a scale of their own).
    """

    id: Identifier
    max: PositivePoints
    label: Labels
    combine: Literal["sum", "mean"] = "sum"


class ClassBand(_Strict):
    """A class and the lowest exact total that earns it.

    A class with ``only_by_rule: true`` has no band of the score: only a class rule or
    an override gives it (5 CFR 430: level 1 if and only if a critical element is
    unacceptable).
    """

    id: Identifier
    min: Points | None = None  # inclusive lower bound of the exact total
    label: Labels
    only_by_rule: bool = False


class Override(_Strict):
    """A recorded fact (with its source document) that caps the class whatever the score."""

    id: Identifier
    forces_class: str  # the class is at most this one
    leaders_only: bool = False
    label: Labels


class ClassRule(_Strict):
    """A cap on the class that follows from the criteria themselves, not from a fact.

    ``critical_below``: when any criterion marked ``critical`` scores below ``share``
    of its maximum, the class is at most ``forces_class`` (5 CFR 430.208: level 1 when
    any critical element is unacceptable).
    """

    id: Identifier
    when: Literal["critical_below"]
    share: Ratio
    forces_class: str
    label: Labels


class Quota(_Strict):
    """At most ``max_ratio`` x (number in ``relative_to``) may hold ``limited_class``."""

    limited_class: str
    relative_to: str
    max_ratio: Ratio
    rounding: Literal["floor"] = "floor"
    pools: tuple[Literal["agency", "task_group"], ...] = ("agency", "task_group")
    # With floor rounding a pool with fewer than 1/max_ratio in relative_to gets no
    # limited class at all; agencies differ on whether that is intended:
    #   floor         it is (a small pool has no excellent);
    #   at_least_one  such a pool may still have one;
    #   agency_only   a small task-group pool is not metered on its own (the agency
    #                 pool still is).
    small_pool: Literal["floor", "at_least_one", "agency_only"] = "floor"
    may_move_to: str  # calibration may only move limited_class down to this class
    # The highest exception ratio a cycle may set (with a decision on record);
    # empty: any ratio up to 1 (the decree's ceiling is unverified).
    exception_max_ratio: Ratio | None = None


class TaskRules(_Strict):
    quality_deduction_per_failed_assessment: Ratio = Decimal("0.25")
    progress_deduction_per_delay: Ratio = Decimal("0.25")


class YearEndRules(_Strict):
    """The year-end class of someone who worked only part of the year (a new hire).

    ``min_months``: the fewest months worked (the periods used by the mean, each
    weighing the months it covers) for a year-end class. Below it,
    ``not_classified``: the person is not classified this year (the score cannot be
    given; the evaluation is cancelled with that reason); ``classified_on_periods_worked``:
    classified on the mean of the periods worked, the breakdown saying it was below
    the minimum. The default (one month, not classified) is what the engine always did:
    nobody is classified on no period at all.
    """

    min_months: int = Field(default=1, ge=1, le=12)
    below_minimum: Literal["not_classified", "classified_on_periods_worked"] = "not_classified"
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()


class WaiverRules(_Strict):
    """Who may confirm that a deduction is waived for an objective cause.

    A leader or deputy above the reviewee in the organisation (anyone on the line of
    supervisors above them who is marked a leader) always may; ``approvers`` adds
    others: a person id, or a position or position group of the organisation file
    (e.g. the head of personnel), compared without regard to case.
    """

    approvers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()


class UnitResultsRule(_Strict):
    """Leaders: the share of the criterion earned by the results of those they manage.

    ``scope: subtree`` counts everyone below the leader in the cycle's supervisor
    tree (Decree 335: the civil servants under their management; for a deputy, the
    people of the areas assigned to them); ``direct`` only their direct reports.
    """

    all_at_least: str  # every one of them at least this class ...
    share_when_all: Ratio = Decimal(1)  # ... earns this share of the max
    share_otherwise: Ratio = Decimal("0.5")
    scope: Literal["subtree", "direct"] = "subtree"


class ScoreDisplay(_Strict):
    """How a score is shown to people on every surface (never how it is decided).

    ``places`` decimals, rounded by ``rounding``. ``near_threshold`` says what is
    shown for a total that the rounding would carry across a class threshold:
    ``towards_class`` rounds it towards its own class instead (89.995 reads 89.99 and
    stays "well completed"; 69.995 reads 69.99), ``round`` shows the rounded value
    whatever the class (89.995 reads 90.00 beside "well completed").
    """

    places: int = Field(default=2, ge=0, le=4)
    rounding: Literal["half_up", "half_even", "floor", "ceiling", "down"] = "half_up"
    near_threshold: Literal["towards_class", "round"] = "towards_class"


class Regime(_Strict):
    """A jurisdiction's scoring rules (e.g. Decree 335/2025)."""

    id: Identifier
    version: int = Field(ge=1)
    name: Labels
    scale: PositivePoints
    groups: tuple[PointGroup, ...] = Field(min_length=1)
    classes: tuple[ClassBand, ...] = Field(min_length=1)  # from the highest band down
    overrides: tuple[Override, ...] = ()
    class_rules: tuple[ClassRule, ...] = ()
    source_weights: dict[Source, Ratio] = Field(
        default_factory=lambda: {Source.SUPERVISOR: Decimal(1)}
    )
    peer_min_responses: int = Field(default=3, ge=1)
    tasks: TaskRules = TaskRules()
    waivers: WaiverRules = WaiverRules()
    year_end: YearEndRules = YearEndRules()
    unit_results: UnitResultsRule | None = None
    quota: Quota | None = None
    # Optional so that a regime stored before the rule existed reads as it was shown.
    display: ScoreDisplay = ScoreDisplay()
    # How a result is contested (kiến nghị): window, resolution, who decides. None (a
    # regime stored before the rule existed, or one that leaves it to each cycle): the
    # cycle file's phases.appeal_window and appeal_review set it, as they used to.
    petition: PetitionRules | None = None
    # What the publication of a unit's results shows (the score or not).
    publication: PublicationRules = PublicationRules()

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Regime:
        if not _deferred(info):
            _raise_if_any(self.cross_checks())
        return self

    def cross_checks(self) -> list[Problem]:
        """Problems that involve several keys, each at the key it belongs to."""
        problems: list[Problem] = []
        _unique(problems, "groups", [g.id for g in self.groups], "group")
        total = sum((g.max for g in self.groups), Decimal(0))
        if total != self.scale:
            parts = " + ".join(f"{g.id} {g.max}" for g in self.groups)
            problems.append((("scale",), f"the groups' maxima add up to {total} ({parts}), "
                             f"but the scale is {self.scale}; they must be equal"))
        problems.extend(self._class_problems())
        ids = [c.id for c in self.classes]
        known = ", ".join(ids)
        _unique(problems, "overrides", [o.id for o in self.overrides], "override")
        for i, o in enumerate(self.overrides):
            if o.forces_class not in ids:
                problems.append((("overrides", i, "forces_class"),
                                 f"unknown class {o.forces_class!r}; the classes are {known}"))
        _unique(problems, "class_rules", [r.id for r in self.class_rules], "class rule")
        for i, r in enumerate(self.class_rules):
            if r.forces_class not in ids:
                problems.append((("class_rules", i, "forces_class"),
                                 f"unknown class {r.forces_class!r}; the classes are {known}"))
        if self.quota:
            problems.extend(self._quota_problems(ids))
        if self.unit_results:
            ur = self.unit_results
            if ur.all_at_least not in ids:
                problems.append((("unit_results", "all_at_least"),
                                 f"unknown class {ur.all_at_least!r}; the classes are {known}"))
            if ur.share_otherwise > ur.share_when_all:
                problems.append((("unit_results", "share_otherwise"),
                                 f"{ur.share_otherwise} is above share_when_all "
                                 f"({ur.share_when_all}); a unit with someone below "
                                 f"{ur.all_at_least} cannot earn more"))
        if not self.source_weights.get(Source.SUPERVISOR):
            problems.append((("source_weights", "supervisor"),
                             "must be above 0: the supervisor's points are what is scored"))
        return problems

    def _class_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        _unique(problems, "classes", [c.id for c in self.classes], "class")
        banded: list[tuple[int, ClassBand]] = []
        for i, c in enumerate(self.classes):
            if c.only_by_rule:
                if c.min is not None:
                    problems.append((("classes", i, "min"), "a class given only by a rule has "
                                                            "no threshold; remove min"))
                continue
            if c.min is None:
                problems.append((("classes", i, "min"), "required: the lowest total that earns "
                                                        f"{c.id}"))
                continue
            if c.min > self.scale:
                problems.append((("classes", i, "min"),
                                 f"{c.min} is above the scale {self.scale}: nobody could reach "
                                 f"{c.id}"))
            prev = banded[-1][1] if banded else None
            if prev is not None and prev.min is not None and c.min >= prev.min:
                problems.append((("classes", i, "min"),
                                 f"thresholds out of order: {c.min} is not below the threshold "
                                 f"of {prev.id} ({prev.min}); list the classes from the highest "
                                 "threshold down, each lower than the one before"))
            banded.append((i, c))
        if not banded:
            problems.append((("classes",), "at least one class needs a threshold (min)"))
        elif banded[-1][1].min != 0:
            i, last = banded[-1]
            problems.append((("classes", i, "min"),
                             f"the lowest class ({last.id}) starts at {last.min}; it must start "
                             "at 0 so that every score has a class"))
        return problems

    def _quota_problems(self, ids: list[str]) -> list[Problem]:
        assert self.quota is not None
        q = self.quota
        problems: list[Problem] = []
        for key in ("limited_class", "relative_to", "may_move_to"):
            name = getattr(q, key)
            if name not in ids:
                problems.append((("quota", key),
                                 f"unknown class {name!r}; the classes are {', '.join(ids)}"))
        if q.limited_class in ids and q.may_move_to in ids and \
                ids.index(q.may_move_to) <= ids.index(q.limited_class):
            problems.append((("quota", "may_move_to"),
                             f"{q.may_move_to!r} is not below {q.limited_class!r}: calibration "
                             "only moves the limited class down"))
        if q.relative_to == q.limited_class:
            problems.append((("quota", "relative_to"),
                             "must be another class than limited_class"))
        if not q.pools:
            problems.append((("quota", "pools"), "name at least one pool (agency, task_group)"))
        return problems

    def group(self, group_id: str) -> PointGroup:
        """The point group ``group_id`` (KeyError if there is none)."""
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(group_id)

    def class_index(self, class_id: str) -> int:
        """Position of a class from the top (0 = best)."""
        return [c.id for c in self.classes].index(class_id)

    def band(self, class_id: str) -> ClassBand:
        """The class ``class_id`` with its threshold and labels."""
        return self.classes[self.class_index(class_id)]

    def class_by_score(self, total: Decimal | Fraction) -> str:
        """The class the exact total earns (classes given only by a rule are skipped)."""
        # Decimal and Fraction compare exactly with each other (and with int): no
        # conversion, which cost two Fractions per class on every row of a report.
        value = total if isinstance(total, Decimal | Fraction | int) else Fraction(total)
        return next(c.id for c in self.classes
                    if not c.only_by_rule and c.min is not None and value >= c.min)

    def next_threshold(self, class_id: str) -> Decimal | None:
        """The threshold of the class above ``class_id`` (its band's exclusive upper bound)."""
        above = [c for c in self.classes[:self.class_index(class_id)] if not c.only_by_rule]
        return above[-1].min if above else None

    def override(self, override_id: str) -> Override:
        """The override ``override_id`` (KeyError if there is none)."""
        for o in self.overrides:
            if o.id == override_id:
                return o
        raise KeyError(override_id)

    def lower(self, a: str, b: str) -> str:
        """The lower of two classes."""
        return a if self.class_index(a) >= self.class_index(b) else b


class Criterion(_Strict):
    id: Identifier
    kind: CriterionKind
    group: str
    max: PositivePoints
    label: Labels
    help: Labels | None = None
    target: Decimal | None = Field(default=None, gt=0)  # ratio: the value that earns max
    cap: Decimal = Field(default=Decimal(1), ge=0)  # ratio: at most cap x max
    unit: str | None = None  # ratio: what is counted (documents, cases...)
    peer_rated: bool = False  # rubric: peers may give points too
    critical: bool = False  # a class rule may look at it (5 CFR 430 critical elements)
    of_group: str | None = None  # period_mean: the group whose points are averaged

    def problems(self) -> list[Problem]:
        """Problems of this criterion alone; key paths relative to the criterion."""
        problems: list[Problem] = []
        kind = self.kind
        if kind is CriterionKind.RATIO and self.target is None:
            problems.append((("target",), "a ratio criterion needs a target (the actual value "
                                          "that earns the maximum)"))
        if kind is not CriterionKind.RATIO and self.target is not None:
            problems.append((("target",), f"only ratio criteria have a target, this one is "
                                          f"{kind.value}"))
        if self.cap > 1:
            problems.append((("cap",), f"{self.cap} is above 1: the criterion would give more "
                                       "than its maximum"))
        if self.peer_rated and kind is not CriterionKind.RUBRIC:
            problems.append((("peer_rated",), f"only rubric criteria can be peer-rated, this one "
                                              f"is {kind.value}"))
        if kind is CriterionKind.PERIOD_MEAN and not self.of_group:
            problems.append((("of_group",), "a period_mean criterion names the group whose "
                                            "period points it averages"))
        if kind is not CriterionKind.PERIOD_MEAN and self.of_group:
            problems.append((("of_group",), "only period_mean criteria have of_group"))
        return problems


class Framework(_Strict):
    """The criteria of a group of positions, under one regime."""

    id: Identifier
    version: int = Field(ge=1)
    regime: str
    name: Labels
    position_groups: tuple[str, ...] = Field(min_length=1)
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    content_hash: str = ""  # filled by the loader: stamped on every score

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Framework:
        if not _deferred(info):
            _raise_if_any(self.cross_checks())
        return self

    def cross_checks(self) -> list[Problem]:
        """Problems of the file alone (without its regime)."""
        problems: list[Problem] = []
        _unique(problems, "criteria", [c.id for c in self.criteria], "criterion")
        for i, c in enumerate(self.criteria):
            problems.extend((("criteria", i, *loc), msg) for loc, msg in c.problems())
        return problems

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion ``criterion_id`` (KeyError if there is none)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def has(self, kind: CriterionKind) -> bool:
        """Whether some criterion is of ``kind``."""
        return any(c.kind is kind for c in self.criteria)

    def check_against(self, regime: Regime) -> list[Problem]:
        """Problems of this framework under ``regime``, as (key path, message)."""
        problems: list[Problem] = []
        if self.regime != regime.id:
            problems.append((("regime",), f"names regime {self.regime!r}, but it is used with "
                                          f"{regime.id!r}"))
        group_ids = [g.id for g in regime.groups]
        known = ", ".join(group_ids)
        critical_rule = any(r.when == "critical_below" for r in regime.class_rules)
        for i, c in enumerate(self.criteria):
            if c.group not in group_ids:
                problems.append((("criteria", i, "group"),
                                 f"unknown group {c.group!r}; regime {regime.id} has {known}"))
            if c.kind is CriterionKind.UNIT_RESULTS and regime.unit_results is None:
                problems.append((("criteria", i, "kind"),
                                 f"unit_results needs the regime's unit_results rule, and "
                                 f"{regime.id} has none"))
            if c.kind is CriterionKind.PERIOD_MEAN and c.of_group and c.of_group not in group_ids:
                problems.append((("criteria", i, "of_group"),
                                 f"unknown group {c.of_group!r}; regime {regime.id} has {known}"))
            if c.critical and not critical_rule:
                problems.append((("criteria", i, "critical"),
                                 f"has no effect: regime {regime.id} has no critical_below "
                                 "class rule"))
        for g in regime.groups:
            members = [(i, c) for i, c in enumerate(self.criteria) if c.group == g.id]
            if not members:
                problems.append((("criteria",), f"no criterion in group {g.id!r}; the regime "
                                                f"gives that group {g.max} points"))
                continue
            total = sum((c.max for _, c in members), Decimal(0))
            if g.combine == "sum" and total != g.max:
                parts = " + ".join(f"{c.id} {c.max}" for _, c in members)
                problems.append((("criteria", members[-1][0], "max"),
                                 f"the maxima of group {g.id!r} add up to {total} ({parts}), "
                                 f"but regime {regime.id} gives that group {g.max}"))
        return problems


def _unique(problems: list[Problem], key: str, ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, item_id in enumerate(ids):
        if item_id in seen:
            problems.append(((key, i, "id"), f"{what} id {item_id!r} is used twice"))
        seen.add(item_id)


def _raise_file_errors(loaded: LoadedFile, problems: list[Problem]) -> None:
    if problems:
        errors = [loaded.error(loc, msg) for loc, msg in problems]
        raise errors[0] if len(errors) == 1 else ConfigFileErrors(errors)


def regime_from(loaded: LoadedFile, expected_id: str | None = None) -> Regime:
    """Validate a parsed regime file; every problem names the file, line and key."""
    regime = validate(loaded, Regime, context=dict(DEFER_CROSS_CHECKS))
    problems = regime.cross_checks()
    if expected_id is not None and regime.id != expected_id:
        problems.insert(0, (("id",), f"is {regime.id!r}, but the file name says "
                                     f"{expected_id!r}; they must be the same"))
    _raise_file_errors(loaded, problems)
    return regime


def framework_from(loaded: LoadedFile, regime: Regime, expected_id: str | None = None
                   ) -> Framework:
    """Validate a parsed framework file on its own and against ``regime``."""
    framework = validate(loaded, Framework, context=dict(DEFER_CROSS_CHECKS))
    problems = framework.cross_checks() + framework.check_against(regime)
    if expected_id is not None and framework.id != expected_id:
        problems.insert(0, (("id",), f"is {framework.id!r}, but the file name says "
                                     f"{expected_id!r}; they must be the same"))
    _raise_file_errors(loaded, problems)
    return framework.model_copy(update={"content_hash": loaded.content_hash})


def load_regime(path: str | Path, expected_id: str | None = None) -> Regime:
    """Read and validate a regime file; errors name the file, line and key."""
    return regime_from(read_yaml(path), expected_id)


def load_framework(path: str | Path, regime: Regime, expected_id: str | None = None
                   ) -> Framework:
    """Read a framework file and check it against its regime (group maxima, kinds)."""
    return framework_from(read_yaml(path), regime, expected_id)


def framework_regime_id(path: str | Path) -> Any:
    """The ``regime`` key of a framework file, to find its regime before validating it."""
    data = read_yaml(path).data
    return data.get("regime") if isinstance(data, dict) else None
