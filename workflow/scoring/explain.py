"""The breakdown of a score, line by line, in English and Vietnamese. Pure.

``lines(result)`` turns a ``ScoreResult`` into structured ``Line`` values: each has
a key (criterion, group or step), a kind, an indent level and a label in both
languages (``{"en": ..., "vi": ...}``). `kpi score explain`, the result email and the
result page all show these same lines, each in the person's language.

Two promises, both tested:
- the lines that add to the total (``adds_to_total``) add up to it exactly
  (``points``), and their shown values add up to the shown total (``shown``): each
  is rounded to the cent by the largest-remainder method, so a civil servant who
  adds the column gets the total that is printed under it;
- the shown total never contradicts the class. A total is shown half-up to two
  places, except within half a cent below a class threshold: 89.996 is not 90, is
  "well completed", and is shown as 89.99 (the exact value is printed beside it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.scoring.compute import (
    MISSING,
    CriterionResult,
    GroupResult,
    PeriodMeanDetail,
    RatioDetail,
    RubricDetail,
    ScoreResult,
    UnitResultsDetail,
    to_decimal,
)
from workflow.scoring.display import (
    ScoreLine,
    ShownScore,
    apportion,
    rounds_across,
    shown_score,
    shown_total,
)
from workflow.scoring.model import Labels, Regime, Source
from workflow.scoring.tasks import ItemNote, TasksResult

LANGS = ("en", "vi")


@dataclass(frozen=True)
class Line:
    """One line of the breakdown."""

    key: str  # criterion or group id, or the step (total, class, override...)
    kind: str  # group, criterion, missing, input, item, period, renormalised, total, ...
    level: int  # indent: 0 groups and steps, 1 criteria, 2 their inputs, 3 items
    label: Mapping[str, str]  # the text in each language
    points: Decimal | None = None  # exact, on lines that add to the total and the total
    shown: str | None = None  # the two-place value shown for ``points``
    max: Decimal | None = None
    adds_to_total: bool = False

    def text(self, lang: str = "en") -> str:
        """The line in one language, indented by its level."""
        return "  " * self.level + self.label[lang]

    def as_dict(self) -> dict[str, Any]:
        """The line as JSON-ready data (both languages)."""
        return {"key": self.key, "kind": self.kind, "level": self.level,
                "label": dict(self.label),
                "points": None if self.points is None else str(self.points),
                "shown": self.shown, "max": None if self.max is None else str(self.max),
                "adds_to_total": self.adds_to_total}


# --- formatting -------------------------------------------------------------------------
# The texts are the catalogue's (English ids, Vietnamese in reports.po); each line keeps
# both languages, so that one breakdown serves the CLI, the pages and the record.


@dataclass(frozen=True)
class Num:
    """A number shown in the reader's convention (Vietnamese uses a decimal comma)."""

    value: Decimal | Fraction | int
    places: int = 2
    strip: bool = False  # drop trailing zeros (percentages, factors, maxima)


def pct(value: Fraction) -> Num:
    """A share (0..1) as a percentage, without trailing zeros."""
    return Num(value * 100, 2, strip=True)


def number(value: Decimal | Fraction | int, lang: str, places: int = 2, strip: bool = False
           ) -> str:
    """A number half-up to ``places``, written the way of ``lang`` (``workflow.formatting``)."""
    return formatting.number(value, lang, places, strip=strip)


def _render(value: object, lang: str) -> str:
    if isinstance(value, Labels):
        return str(getattr(value, lang))
    if isinstance(value, Mapping):
        return str(value[lang])
    if isinstance(value, Num):
        return number(value.value, lang, value.places, value.strip)
    if isinstance(value, Decimal | Fraction):
        return number(value, lang)
    if isinstance(value, list | tuple):
        return ", ".join(_render(v, lang) for v in value)
    return str(value)


def msg(key: str, **params: object) -> dict[str, str]:
    """The message ``key`` of ``MESSAGES`` in both languages, from the catalogue
    (``workflow/locale/*/LC_MESSAGES/reports.po``), its parameters formatted for each."""
    return say(MESSAGES[key], **params)


def say(text: str, **params: object) -> dict[str, str]:
    """A catalogue text (marked with ``N_``) in both languages, its parameters formatted
    for each (for the breakdown's neighbours, e.g. ``quota_explain``)."""
    return {lang: catalog.translations(lang).ugettext(text)
            % {k: _render(v, lang) for k, v in params.items()} for lang in LANGS}


def pool_name(pool_key: str) -> dict[str, str]:
    """A quota pool ("agency", "task_group:A") as people say it, in both languages: "the
    agency" / "toàn cơ quan", "task group A" / "nhóm nhiệm vụ A" (never its key)."""
    kind, _, label = pool_key.partition(":")
    if pool_key == "agency":
        return {lang: catalog.translations(lang).ugettext(N_("the agency")) for lang in LANGS}
    if kind == "task_group":
        return {lang: catalog.translations(lang).ugettext(N_("task group %(label)s"))
                % {"label": label} for lang in LANGS}
    return dict.fromkeys(LANGS, pool_key)


def join(parts: Sequence[Mapping[str, str]], sep: str = "; ") -> dict[str, str]:
    """Bilingual parts joined into one bilingual text."""
    return {lang: sep.join(p[lang] for p in parts) for lang in LANGS}


MESSAGES: dict[str, str] = {
    "group": N_("%(label)s: %(points)s of at most %(max)s"),
    "group_mean": N_(
        "each criterion counts equally: %(max)s x the mean of the shares of their maxima"),
    "criterion": N_("%(label)s: %(points)s of %(max)s"),
    "criterion_scaled": N_("%(label)s: %(points)s of %(max)s, x %(factor)s = %(counted)s"),
    "missing": N_("%(label)s: %(why)s; left out, not counted as zero"),
    "renormalised": N_(
        "renormalised: the criteria given carry %(present)s of %(max)s points, so each is scaled "
        "by %(factor)s"),
    "src_supervisor": N_("supervisor %(points)s"),
    "src_self": N_("own proposal %(points)s"),
    "src_peer": N_("colleagues %(points)s, the mean of %(n)s answers"),
    "advisory": N_(" (advisory)"),
    "weights": N_("weighted mean, weights %(weights)s"),
    "w_supervisor": N_("supervisor %(w)s"),
    "w_self": N_("own %(w)s"),
    "w_peer": N_("colleagues %(w)s"),
    "peers_withheld": N_(
        "Colleagues' input left out: %(n)s answer(s) arrived, fewer than the %(quorum)s needed to "
        "keep them anonymous; it is not counted as zero"),
    "peers_renormalised": N_(
        "without colleagues the weights %(full)s are renormalised over the sources given: "
        "%(used)s"),
    "recorded_vs_recomputed": N_(
        "Recorded score: %(stored)s (%(stored_cls)s); recomputed now: %(total)s (%(cls)s). The "
        "recorded result stands until an admin reopens the evaluation."),
    "self_missing": N_(
        "No self-assessment (its deadline passed): it is left out, not counted as zero"),
    "ratio": N_("actual %(actual)s against a target of %(target)s: %(share)s%%"),
    "ratio_capped": N_(
        "actual %(actual)s against a target of %(target)s: %(share)s%%, capped at %(cap)s%%"),
    "tasks": N_(
        "%(n)s assigned items: quantity %(qty)s%% (%(completed)s completed), quality %(qual)s%%, "
        "progress %(prog)s%%; mean %(mean)s%%"),
    "not_completed": N_(
        "item %(n)s «%(title)s»: not completed (no quantity, quality or progress point)"),
    "not_meeting": N_(
        "item %(n)s «%(title)s»: completed, but not meeting the requirements (no quality point)"),
    "quality_deduction": N_(
        "item %(n)s «%(title)s»: quality -%(lost)s%% for %(count)s failed assessment(s)"),
    "progress_deduction": N_("item %(n)s «%(title)s»: progress -%(lost)s%% for %(count)s delay(s)"),
    "quality_waived": N_(
        "item %(n)s «%(title)s»: quality deduction for %(count)s failed assessment(s) waived by "
        "%(approver)s: %(reason)s"),
    "progress_waived": N_(
        "item %(n)s «%(title)s»: progress deduction for %(count)s delay(s) waived by "
        "%(approver)s: %(reason)s"),
    "waiver_ignored": N_(
        "item %(n)s «%(title)s»: waiver ignored: it needs a named approver and a reason"),
    "unit_results": N_(
        "%(n)s people under their management scored, %(below)s below «%(threshold)s»: %(share)s%% "
        "of the points"),
    "unit_below": N_("below «%(threshold)s»: %(ids)s"),
    "unit_not_scored": N_("%(n)s not scored yet: recomputed when they are"),
    "period_mean": N_(
        "mean of «%(group)s» over %(n)s period(s) worked (%(months)s months): %(mean)s of "
        "%(gmax)s"),
    "period_below_minimum": N_(
        "%(months)s month(s) worked, fewer than the %(minimum)s the regime asks for a "
        "year-end class: classified on the periods worked, as the regime says "
        "(year_end.below_minimum)"),
    "period_minimum": N_("at least %(minimum)s month(s) worked for a year-end class (regime "
                         "year_end.min_months): met"),
    "period_used": N_(
        "%(label)s (%(start)s to %(end)s%(source)s): %(points)s, weight %(weight)s month(s)"),
    "period_source": N_(", from %(agency)s"),
    "period_out": N_("%(label)s (%(start)s to %(end)s%(source)s): left out: %(why)s"),
    "why_leave": N_("leave"),
    "why_cancelled": N_("cancelled (%(note)s)"),
    "why_open": N_("not finalised yet"),
    "why_overlap": N_("overlaps %(note)s"),
    "why_incomplete": N_("incomplete (%(note)s)"),
    "total": N_("Total: %(total)s of %(scale)s"),
    "total_exact": N_(
        "Total: %(total)s of %(scale)s (exactly %(exact)s...: the class is decided on the exact "
        "total, so it is not rounded up to %(up)s)"),
    "class_top": N_("Class by score: %(cls)s (%(min)s or more)"),
    "class_band": N_("Class by score: %(cls)s (%(min)s to under %(next)s)"),
    "rule": N_("Rule: %(rule)s (%(criteria)s): at most %(cls)s"),
    "override": N_(
        "Override: %(rule)s (document %(document)s, recorded by %(by)s on %(at)s): at most "
        "%(cls)s"),
    "override_not_applied": N_(
        "Not applied: %(rule)s (document %(document)s) concerns leaders only"),
    "class": N_("Class: %(cls)s"),
    "rules": N_(
        "Rules: regime %(regime)s version %(regime_version)s, framework %(framework)s version "
        "%(framework_version)s (%(hash)s)"),
    "calibration": N_(
        "Calibration: moved from %(from_cls)s to %(to_cls)s by %(by)s on %(at)s: %(reason)s. The "
        "score did not change."),
    "calibration_undone": N_(
        "Calibration: the move was undone, back to %(to_cls)s, by %(by)s on %(at)s: %(reason)s"),
    "appeal_restored": N_(
        "Restored on appeal to %(cls)s by %(by)s on %(at)s: %(reason)s. The approved quota still "
        "holds; the score did not change."),
    "quota_cap": N_(
        "Quota: %(cls)s by score, but the pool's approved calibration has no room left "
        "(%(pools)s): %(to_cls)s. The score did not change."),
    "final_class": N_("Final class: %(cls)s"),
    "recomputed": N_("Recomputed on %(at)s: %(reason)s"),
    "stale": N_(
        "The classes of people under their management changed after this evaluation was finalised "
        "(%(reason)s); an admin may reopen it to apply that."),
    "appeal_revised": N_("Revised on appeal by %(by)s on %(at)s: %(reason)s"),
}


# --- rounding for display: the regime's rule (workflow.scoring.display) -------------

__all__ = ["Line", "apportion", "lines", "msg", "shown_total"]


# --- the lines ------------------------------------------------------------------------


def _why(code: str | None) -> dict[str, str]:
    """Why a criterion could not be given, in both languages (``compute.MISSING``)."""
    text = MISSING.get(code or "not_given", MISSING["not_given"])
    return {lang: catalog.translations(lang).ugettext(text) for lang in LANGS}


def _weights(weights: Mapping[Source, Fraction]) -> dict[str, str]:
    total = sum(weights.values(), Fraction(0))
    return join([msg(f"w_{s.value}", w=Num(w / total if total else 0, 4, strip=True))
                 for s, w in weights.items()], ", ")


def _renormalised(c: CriterionResult, d: RubricDetail, regime: Regime) -> list[Line]:
    """Peers withheld for want of quorum: how the weights of the rest were renormalised."""
    full = {s: Fraction(w) for s, w in regime.source_weights.items() if w}
    if Source.PEER not in full or not d.weights:
        return []  # the colleagues carry no weight here: nothing was renormalised
    return [Line(c.criterion.id, "renormalised", 2, msg(
        "peers_renormalised", full=_weights(full), used=_weights(d.weights)))]


def _rubric_lines(c: CriterionResult, d: RubricDetail) -> list[Line]:
    parts: list[dict[str, str]] = []
    for source, key in ((Source.SUPERVISOR, "src_supervisor"), (Source.SELF, "src_self"),
                        (Source.PEER, "src_peer")):
        if source not in d.given:
            continue
        part = msg(key, points=d.given[source], n=d.peer_answers)
        if source not in d.weights:
            part = join([part, msg("advisory")], "")
        parts.append(part)
    if len(d.weights) > 1:
        weights = [msg(f"w_{s.value}", w=Num(w, 4, strip=True)) for s, w in d.weights.items()]
        parts.append(msg("weights", weights=join(weights, ", ")))
    return [Line(c.criterion.id, "input", 2, join(parts))] if parts else []


def _task_lines(c: CriterionResult, d: TasksResult) -> list[Line]:
    lines = [Line(c.criterion.id, "input", 2, msg(
        "tasks", n=d.assigned, qty=pct(d.quantity), completed=d.completed, qual=pct(d.quality),
        prog=pct(d.progress), mean=pct(d.mean)))]
    for note in d.notes:
        lines.append(Line(c.criterion.id, "item", 3, _item(note)))
    return lines


def _item(note: ItemNote) -> dict[str, str]:
    common: dict[str, object] = {"n": note.item, "title": note.title, "count": note.count}
    if note.kind in ("quality_deduction", "progress_deduction"):
        return msg(note.kind, lost=pct(note.share_lost), **common)
    if note.kind in ("quality_waived", "progress_waived"):
        return msg(note.kind, approver=note.approver, reason=note.reason, **common)
    if note.kind.endswith("waiver_ignored"):
        return msg("waiver_ignored", **common)
    return msg(note.kind, **common)


def _unit_lines(c: CriterionResult, d: UnitResultsDetail, regime: Regime) -> list[Line]:
    threshold = regime.band(d.threshold_class).label
    lines = []
    if d.scored:
        lines.append(Line(c.criterion.id, "input", 2, msg(
            "unit_results", n=len(d.scored), below=len(d.below), threshold=threshold,
            share=pct(d.share))))
    if d.below:
        lines.append(Line(c.criterion.id, "input", 3, msg(
            "unit_below", threshold=threshold,
            ids=[{lang: f"{s.reviewee_id} ({getattr(regime.band(s.class_id or '').label, lang)})"
                  for lang in LANGS} for s in d.below])))
    if d.not_scored:
        lines.append(Line(c.criterion.id, "input", 3, msg("unit_not_scored", n=d.not_scored)))
    return lines


def _period_lines(c: CriterionResult, d: PeriodMeanDetail, regime: Regime) -> list[Line]:
    group = regime.group(d.of_group)
    sel = d.selection
    lines = []
    if d.mean is not None:
        lines.append(Line(c.criterion.id, "input", 2, msg(
            "period_mean", group=group.label, n=len(sel.used), months=sel.months, mean=d.mean,
            gmax=Num(d.of_group_max, 2, strip=True))))
        if d.below_minimum:
            lines.append(Line(c.criterion.id, "input", 2, msg(
                "period_below_minimum", months=sel.months, minimum=d.min_months)))
        elif d.min_months > 1:
            lines.append(Line(c.criterion.id, "input", 2, msg(
                "period_minimum", minimum=d.min_months)))
    events = [(p.start, 0, p, w, None, "") for p, w in sel.used] + \
             [(p.start, 1, p, 0, why, note) for p, why, note in sel.left_out]
    for _, _, p, weight, why, note in sorted(events, key=lambda e: (e[0], e[1], e[2].label)):
        source = msg("period_source", agency=p.source_agency) if p.source_agency else \
            dict.fromkeys(LANGS, "")
        common = {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat(),
                  "source": source}
        if why is None:
            lines.append(Line(c.criterion.id, "period", 3, msg(
                "period_used", points=p.groups[d.of_group], weight=weight, **common)))
        else:
            reason = msg(f"why_{why}", note=note or "-")
            lines.append(Line(c.criterion.id, "period", 3, msg("period_out", why=reason,
                                                              **common)))
    return lines


def _detail_lines(c: CriterionResult, regime: Regime, peers_withheld: bool = False
                  ) -> list[Line]:
    d = c.detail
    if isinstance(d, RubricDetail):
        extra = _renormalised(c, d, regime) if peers_withheld and c.criterion.peer_rated else []
        return _rubric_lines(c, d) + extra
    if isinstance(d, RatioDetail):
        share = d.actual / d.target
        key = "ratio_capped" if d.capped else "ratio"
        return [Line(c.criterion.id, "input", 2, msg(
            key, actual=Num(d.actual, 2, strip=True), target=Num(d.target, 2, strip=True),
            share=pct(share), cap=pct(d.cap)))]
    if isinstance(d, TasksResult):
        return _task_lines(c, d)
    if isinstance(d, UnitResultsDetail):
        return _unit_lines(c, d, regime)
    if isinstance(d, PeriodMeanDetail):
        return _period_lines(c, d, regime)
    return []


def _group_lines(g: GroupResult, shown: ShownScore, regime: Regime,
                 peers_withheld: bool = False) -> list[Line]:
    gmax = Num(g.group.max, 2, strip=True)
    places = shown.places
    subtotal = sum((shown.counted[c.criterion.id] for c in g.criteria if c.raw is not None),
                   Decimal(0))
    # The group's line carries its points too (`kpi score explain --json`): what its
    # shown criteria add up to, beside the exact value.
    lines = [Line(g.group.id, "group", 0, msg("group", label=g.group.label,
                                               points=Num(subtotal, places), max=gmax),
                  to_decimal(g.points), shown.text(subtotal), g.group.max)]
    if g.group.combine == "mean":
        lines.append(Line(g.group.id, "note", 1, msg("group_mean", max=gmax)))
    for c in g.criteria:
        label = c.criterion.label
        cmax = Num(c.criterion.max, 2, strip=True)
        if c.raw is None:
            lines.append(Line(c.criterion.id, "missing", 1, msg(
                "missing", label=label, why=_why(c.missing)), max=c.criterion.max))
        else:
            counted = shown.counted[c.criterion.id]
            if c.factor == 1:  # the apportioned value: the lines add up to the total shown
                text = msg("criterion", label=label, points=Num(counted, places), max=cmax)
            else:
                text = msg("criterion_scaled", label=label,
                           points=Num(shown.points[c.criterion.id] or 0, places), max=cmax,
                           factor=Num(c.factor, 4, strip=True), counted=Num(counted, places))
            lines.append(Line(c.criterion.id, "criterion", 1, text, to_decimal(c.counted),
                              shown.text(counted), c.criterion.max, adds_to_total=True))
        lines.extend(_detail_lines(c, regime, peers_withheld))
    if g.group.combine == "sum" and g.renormalised:
        lines.append(Line(g.group.id, "renormalised", 1, msg(
            "renormalised", present=Num(g.present_max, 2, strip=True), max=gmax,
            factor=Num(Fraction(g.group.max) / g.present_max, 4, strip=True))))
    return lines


def shown_result(result: ScoreResult) -> ShownScore:
    """What every surface shows of a computed result: the same figures as the stamp it
    stores gives (``display.shown_stamp``), since both start from the stored values."""
    return shown_score(result.exact_total, [
        ScoreLine(c.criterion.id, None if c.raw is None else to_decimal(c.raw),
                  to_decimal(c.counted)) for c in result.criteria], result.regime)


def _class_line(regime: Regime, class_id: str) -> dict[str, str]:
    band = regime.band(class_id)
    bound = Num(band.min or 0, 2, strip=True)
    upper = regime.next_threshold(class_id)
    if upper is None:
        return msg("class_top", cls=band.label, min=bound)
    return msg("class_band", cls=band.label, min=bound, next=Num(upper, 2, strip=True))


def lines(result: ScoreResult, *, self_missing: bool = False,
          peers_withheld: tuple[int, int] | None = None) -> list[Line]:
    """The whole breakdown of ``result``: groups, criteria, inputs, total, class and why.

    ``peers_withheld``: (answers that arrived, the quorum) when the colleagues' input was
    left out for want of quorum; the breakdown says so, and how the weights of the
    sources that remain were renormalised on each peer-rated criterion."""
    regime = result.regime
    shown = shown_result(result)
    out: list[Line] = []
    if self_missing:
        out.append(Line("self_assessment", "note", 0, msg("self_missing")))
    if peers_withheld is not None:
        out.append(Line("peer_input", "note", 0, msg(
            "peers_withheld", n=peers_withheld[0], quorum=peers_withheld[1])))
    for g in result.groups:
        out.extend(_group_lines(g, shown, regime, peers_withheld is not None))
    exact = to_decimal(result.exact_total)
    scale = Num(regime.scale, 2, strip=True)
    total = Num(shown.total, shown.places)
    plain = rounds_across(result.exact_total, regime)
    if plain is not None:
        text = msg("total_exact", total=total, scale=scale, exact=Num(exact, 6),
                   up=Num(plain, shown.places))
    else:
        text = msg("total", total=total, scale=scale)
    out.append(Line("total", "total", 0, text, exact, shown.text(shown.total), regime.scale))
    out.append(Line("class", "class_by_score", 0, _class_line(regime, result.score_class_id)))
    for hit in result.rule_hits:
        out.append(Line(hit.rule.id, "rule", 0, msg(
            "rule", rule=hit.rule.label, criteria=[result.framework.criterion(i).label
                                                   for i in hit.criteria],
            cls=regime.band(hit.rule.forces_class).label)))
    for o in result.override_hits:
        for note in o.notes:
            key = "override" if o.applies else "override_not_applied"
            out.append(Line(o.override.id, "override", 0, msg(
                key, rule=o.override.label, document=note.source_document or "-",
                by=note.recorded_by or "-", at=(note.recorded_at or "-")[:10],
                cls=regime.band(o.override.forces_class).label)))
    out.append(Line("class", "class", 0, msg("class", cls=regime.band(result.class_id).label)))
    return out
