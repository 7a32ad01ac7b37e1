"""Regimes and KPI frameworks: the scoring rules, as validated data.

A *regime* (``config/regimes/*.yaml``) holds a jurisdiction's rules: the point groups
and their maxima, the class bands, the overrides, the quota, the weights of the
sources (supervisor, self, peers). A *framework* (``config/frameworks/*.yaml``)
holds the criteria of a group of positions. No formula is ever eval'd: criterion
kinds are a closed set, each computed by ``workflow.scoring.compute``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflow.configfile import read_yaml, validate
from workflow.errors import ConfigFileErrors

Points = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]
Ratio = Annotated[Decimal, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(_Strict):
    """A label in each language the product speaks."""

    en: str
    vi: str


class CriterionKind(StrEnum):
    """How a criterion's points are worked out."""

    RUBRIC = "rubric"  # points 0..max given by the scorer, the reviewee proposing
    RATIO = "ratio"  # actual / target, capped, times max
    TASKS = "tasks"  # Decree 335 quantity, quality and progress over assigned items
    UNIT_RESULTS = "unit_results"  # leaders: from the classes of the unit's subordinates


class Source(StrEnum):
    """Who gives points."""

    SUPERVISOR = "supervisor"
    SELF = "self"
    PEER = "peer"


class PointGroup(_Strict):
    id: str
    max: Points
    label: Labels


class ClassBand(_Strict):
    id: str
    min: Points  # inclusive lower bound of the total
    label: Labels


class Override(_Strict):
    """A recorded fact that forces a class regardless of the score."""

    id: str
    forces_class: str
    leaders_only: bool = False
    label: Labels


class Quota(_Strict):
    """At most ``max_ratio`` x (number in ``relative_to``) may hold ``limited_class``."""

    limited_class: str
    relative_to: str
    max_ratio: Ratio
    rounding: Literal["floor"] = "floor"
    pools: tuple[Literal["agency", "task_group"], ...] = ("agency", "task_group")
    # With floor rounding a pool with fewer than 1/max_ratio "well completed" gets no
    # excellent at all; agencies differ on whether that is intended.
    small_pool: Literal["floor", "at_least_one"] = "floor"
    may_move_to: str  # calibration may only move limited_class down to this class


class TaskRules(_Strict):
    quality_deduction_per_failed_assessment: Ratio = Decimal("0.25")
    progress_deduction_per_delay: Ratio = Decimal("0.25")


class UnitResultsRule(_Strict):
    """Leaders: the share of the criterion earned by the unit's results."""

    all_at_least: str  # every subordinate at least this class ...
    share_when_all: Ratio = Decimal(1)  # ... earns this share of the max
    share_otherwise: Ratio = Decimal("0.5")


class Regime(_Strict):
    """A jurisdiction's scoring rules (e.g. Decree 335/2025)."""

    id: str
    version: int = Field(ge=1)
    name: Labels
    scale: Points
    groups: tuple[PointGroup, ...]
    classes: tuple[ClassBand, ...]  # from the highest band down
    overrides: tuple[Override, ...] = ()
    source_weights: dict[Source, Ratio] = Field(
        default_factory=lambda: {Source.SUPERVISOR: Decimal(1)}
    )
    peer_min_responses: int = Field(default=3, ge=1)
    tasks: TaskRules = TaskRules()
    unit_results: UnitResultsRule | None = None
    quota: Quota | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Regime:
        total = sum((g.max for g in self.groups), Decimal(0))
        if total != self.scale:
            raise ValueError(
                f"the groups' maxima add up to {total}, but the scale is {self.scale}"
            )
        mins = [c.min for c in self.classes]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("classes must be listed from the highest threshold down, each lower")
        if not self.classes or self.classes[-1].min != 0:
            raise ValueError("the lowest class must start at 0 so every score has a class")
        if any(c.min > self.scale for c in self.classes):
            raise ValueError(f"a class threshold is above the scale {self.scale}")
        ids = {c.id for c in self.classes}
        for o in self.overrides:
            if o.forces_class not in ids:
                raise ValueError(f"override {o.id} forces unknown class {o.forces_class!r}")
        if self.quota:
            for name in (self.quota.limited_class, self.quota.relative_to, self.quota.may_move_to):
                if name not in ids:
                    raise ValueError(f"quota names unknown class {name!r}")
        if self.unit_results and self.unit_results.all_at_least not in ids:
            raise ValueError(f"unit_results names unknown class {self.unit_results.all_at_least!r}")
        if not self.source_weights.get(Source.SUPERVISOR):
            raise ValueError("source_weights.supervisor must be above 0: the supervisor scores")
        return self

    def group(self, group_id: str) -> PointGroup:
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(group_id)

    def class_index(self, class_id: str) -> int:
        """Position of a class from the top (0 = best)."""
        return [c.id for c in self.classes].index(class_id)

    def band(self, class_id: str) -> ClassBand:
        return self.classes[self.class_index(class_id)]


class Criterion(_Strict):
    id: str
    kind: CriterionKind
    group: str
    max: Points
    label: Labels
    help: Labels | None = None
    target: Decimal | None = Field(default=None, gt=0)  # ratio: the value that earns max
    cap: Decimal = Field(default=Decimal(1), ge=0)  # ratio: at most cap x max
    unit: str | None = None  # ratio: what is counted (documents, cases...)
    peer_rated: bool = False  # rubric: peers may give points too

    @model_validator(mode="after")
    def _kind_fields(self) -> Criterion:
        if self.kind is CriterionKind.RATIO and self.target is None:
            raise ValueError(f"criterion {self.id} is a ratio and needs a target")
        if self.kind is not CriterionKind.RATIO and self.target is not None:
            raise ValueError(f"criterion {self.id}: target only applies to ratio criteria")
        if self.peer_rated and self.kind is not CriterionKind.RUBRIC:
            raise ValueError(f"criterion {self.id}: only rubric criteria can be peer-rated")
        if self.cap > 1:
            raise ValueError(f"criterion {self.id}: cap above 1 would give more than max")
        return self


class Framework(_Strict):
    """The criteria of a group of positions, under one regime."""

    id: str
    version: int = Field(ge=1)
    regime: str
    name: Labels
    position_groups: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    content_hash: str = ""  # filled by the loader: stamped on every score

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        seen: set[str] = set()
        for c in criteria:
            if c.id in seen:
                raise ValueError(f"criterion id {c.id!r} is used twice")
            seen.add(c.id)
        return criteria

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def check_against(self, regime: Regime) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems of this framework under ``regime``, as (key path, message)."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.regime != regime.id:
            problems.append((("regime",), f"names regime {self.regime!r}, expected {regime.id!r}"))
        group_ids = {g.id for g in regime.groups}
        for i, c in enumerate(self.criteria):
            if c.group not in group_ids:
                problems.append(
                    (("criteria", i, "group"), f"unknown group {c.group!r}; the regime has "
                     f"{', '.join(sorted(group_ids))}")
                )
            if c.kind is CriterionKind.UNIT_RESULTS and regime.unit_results is None:
                problems.append(
                    (("criteria", i, "kind"), "unit_results needs the regime's unit_results rule")
                )
        for g in regime.groups:
            total = sum((c.max for c in self.criteria if c.group == g.id), Decimal(0))
            if total != g.max:
                problems.append(
                    (("criteria",), f"the maxima of group {g.id!r} add up to {total}, "
                     f"the regime's maximum for it is {g.max}")
                )
        return problems


def load_regime(path: str | Path) -> Regime:
    """Read and validate a regime file; errors name the file, line and key."""
    loaded = read_yaml(path)
    return validate(loaded, Regime)


def load_framework(path: str | Path, regime: Regime) -> Framework:
    """Read a framework file and check it against its regime (group maxima, kinds)."""
    loaded = read_yaml(path)
    framework = validate(loaded, Framework)
    problems = framework.check_against(regime)
    if problems:
        errors = [loaded.error(loc, msg) for loc, msg in problems]
        raise errors[0] if len(errors) == 1 else ConfigFileErrors(errors)
    return framework.model_copy(update={"content_hash": loaded.content_hash})
