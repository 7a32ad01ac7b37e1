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
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import floor
from typing import Any

from workflow.scoring.compute import (
    CriterionResult,
    GroupResult,
    PeriodMeanDetail,
    RatioDetail,
    RubricDetail,
    ScoreResult,
    UnitResultsDetail,
    to_decimal,
)
from workflow.scoring.model import Labels, Regime, Source
from workflow.scoring.tasks import ItemNote, TasksResult

LANGS = ("en", "vi")
CENT = Decimal("0.01")


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
    """A number half-up to ``places``, with the decimal separator of ``lang``."""
    d = to_decimal(value) if isinstance(value, Fraction) else Decimal(value)
    text = f"{d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "vi" else text


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
    """A message of the catalogue in both languages, its parameters formatted for each."""
    return {lang: MESSAGES[key][lang].format(**{k: _render(v, lang) for k, v in params.items()})
            for lang in LANGS}


def join(parts: Sequence[Mapping[str, str]], sep: str = "; ") -> dict[str, str]:
    """Bilingual parts joined into one bilingual text."""
    return {lang: sep.join(p[lang] for p in parts) for lang in LANGS}


MESSAGES: dict[str, dict[str, str]] = {
    "group": {"en": "{label}: {points} of at most {max}",
              "vi": "{label}: {points}/{max} điểm tối đa"},
    "group_mean": {"en": "each criterion counts equally: {max} x the mean of the shares of "
                         "their maxima",
                   "vi": "các tiêu chí có trọng số như nhau: {max} x bình quân tỷ lệ điểm đạt "
                         "so với điểm tối đa"},
    "criterion": {"en": "{label}: {points} of {max}", "vi": "{label}: {points}/{max} điểm"},
    "criterion_scaled": {"en": "{label}: {points} of {max}, x {factor} = {counted}",
                         "vi": "{label}: {points}/{max} điểm, x {factor} = {counted}"},
    "missing": {"en": "{label}: {why}; left out, not counted as zero",
                "vi": "{label}: {why}; không tính, không bị coi là 0 điểm"},
    "renormalised": {"en": "renormalised: the criteria given carry {present} of {max} points, "
                           "so each is scaled by {factor}",
                     "vi": "quy đổi: các tiêu chí có dữ liệu chiếm {present}/{max} điểm, nên mỗi "
                           "tiêu chí được nhân hệ số {factor}"},
    # rubric sources
    "src_supervisor": {"en": "supervisor {points}", "vi": "cấp trên chấm {points}"},
    "src_self": {"en": "own proposal {points}", "vi": "tự chấm {points}"},
    "src_peer": {"en": "colleagues {points}, the mean of {n} answers",
                 "vi": "đồng nghiệp {points}, bình quân {n} ý kiến"},
    "advisory": {"en": " (advisory)", "vi": " (tham khảo)"},
    "weights": {"en": "weighted mean, weights {weights}", "vi": "bình quân có trọng số {weights}"},
    "w_supervisor": {"en": "supervisor {w}", "vi": "cấp trên {w}"},
    "w_self": {"en": "own {w}", "vi": "cá nhân {w}"},
    "w_peer": {"en": "colleagues {w}", "vi": "đồng nghiệp {w}"},
    "self_missing": {"en": "No self-assessment (its deadline passed): it is left out, not "
                           "counted as zero",
                     "vi": "Không có bản tự đánh giá (quá hạn): không tính, không bị coi là 0 "
                           "điểm"},
    # ratio
    "ratio": {"en": "actual {actual} against a target of {target}: {share}%",
              "vi": "thực hiện {actual} so với chỉ tiêu {target}: {share}%"},
    "ratio_capped": {"en": "actual {actual} against a target of {target}: {share}%, capped at "
                           "{cap}%",
                     "vi": "thực hiện {actual} so với chỉ tiêu {target}: {share}%, tối đa "
                           "{cap}%"},
    # tasks (Decree 335 Art 14)
    "tasks": {"en": "{n} assigned items: quantity {qty}% ({completed} completed), quality "
                    "{qual}%, progress {prog}%; mean {mean}%",
              "vi": "{n} sản phẩm, công việc được giao: số lượng {qty}% ({completed} hoàn "
                    "thành), chất lượng {qual}%, tiến độ {prog}%; bình quân {mean}%"},
    "not_completed": {"en": "item {n} «{title}»: not completed (no quantity, quality or "
                            "progress point)",
                      "vi": "sản phẩm {n} «{title}»: chưa hoàn thành (không được tính số "
                            "lượng, chất lượng, tiến độ)"},
    "not_meeting": {"en": "item {n} «{title}»: completed, but not meeting the requirements "
                          "(no quality point)",
                    "vi": "sản phẩm {n} «{title}»: hoàn thành nhưng không đạt yêu cầu (không "
                          "được tính chất lượng)"},
    "quality_deduction": {"en": "item {n} «{title}»: quality -{lost}% for {count} failed "
                                "assessment(s)",
                          "vi": "sản phẩm {n} «{title}»: chất lượng bị trừ {lost}% do {count} "
                                "lần thẩm định không đạt"},
    "progress_deduction": {"en": "item {n} «{title}»: progress -{lost}% for {count} delay(s)",
                           "vi": "sản phẩm {n} «{title}»: tiến độ bị trừ {lost}% do {count} "
                                 "lần chậm tiến độ"},
    "quality_waived": {"en": "item {n} «{title}»: quality deduction for {count} failed "
                             "assessment(s) waived by {approver}: {reason}",
                       "vi": "sản phẩm {n} «{title}»: không trừ điểm chất lượng ({count} lần "
                             "không đạt) theo xác nhận của {approver}: {reason}"},
    "progress_waived": {"en": "item {n} «{title}»: progress deduction for {count} delay(s) "
                              "waived by {approver}: {reason}",
                        "vi": "sản phẩm {n} «{title}»: không trừ điểm tiến độ ({count} lần "
                              "chậm) theo xác nhận của {approver}: {reason}"},
    "waiver_ignored": {"en": "item {n} «{title}»: waiver ignored: it needs a named approver "
                             "and a reason",
                       "vi": "sản phẩm {n} «{title}»: không áp dụng miễn trừ: cần người xác "
                             "nhận và lý do"},
    # leaders
    "unit_results": {"en": "{n} people under their management scored, {below} below "
                           "«{threshold}»: {share}% of the points",
                     "vi": "{n} công chức thuộc quyền quản lý đã được chấm, {below} người "
                           "dưới mức «{threshold}»: đạt {share}% số điểm"},
    "unit_below": {"en": "below «{threshold}»: {ids}", "vi": "dưới mức «{threshold}»: {ids}"},
    "unit_not_scored": {"en": "{n} not scored yet: recomputed when they are",
                        "vi": "{n} người chưa được chấm: sẽ tính lại khi được chấm"},
    # periods (year end)
    "period_mean": {"en": "mean of «{group}» over {n} period(s) worked ({months} months): "
                          "{mean} of {gmax}",
                    "vi": "bình quân «{group}» của {n} kỳ thực tế công tác ({months} tháng): "
                          "{mean}/{gmax} điểm"},
    "period_used": {"en": "{label} ({start} to {end}{source}): {points}, weight {weight} "
                          "month(s)",
                    "vi": "{label} ({start} đến {end}{source}): {points} điểm, trọng số "
                          "{weight} tháng"},
    "period_source": {"en": ", from {agency}", "vi": ", do {agency} chuyển"},
    "period_out": {"en": "{label} ({start} to {end}{source}): left out: {why}",
                   "vi": "{label} ({start} đến {end}{source}): không tính: {why}"},
    "why_leave": {"en": "leave", "vi": "nghỉ theo chế độ"},
    "why_cancelled": {"en": "cancelled ({note})", "vi": "đã hủy ({note})"},
    "why_open": {"en": "not finalised yet", "vi": "chưa hoàn tất"},
    "why_overlap": {"en": "overlaps {note}", "vi": "trùng thời gian với {note}"},
    "why_incomplete": {"en": "incomplete ({note})", "vi": "thiếu dữ liệu ({note})"},
    # why a criterion is missing
    "miss_not_given": {"en": "not given", "vi": "không có điểm"},
    "miss_no_actual": {"en": "no actual value given", "vi": "không có số liệu thực hiện"},
    "miss_no_items": {"en": "no assigned items", "vi": "không có sản phẩm, công việc được giao"},
    "miss_no_subordinates": {"en": "nobody under their management in the cycle",
                             "vi": "không có công chức thuộc quyền quản lý trong kỳ"},
    "miss_none_scored": {"en": "nobody under their management scored yet",
                         "vi": "chưa có công chức thuộc quyền quản lý được chấm"},
    "miss_no_period": {"en": "no period worked", "vi": "không có kỳ thực tế công tác"},
    # total and class
    "total": {"en": "Total: {total} of {scale}", "vi": "Tổng điểm: {total}/{scale}"},
    "total_exact": {"en": "Total: {total} of {scale} (exactly {exact}...: the class is decided "
                          "on the exact total, so it is not rounded up to {up})",
                    "vi": "Tổng điểm: {total}/{scale} (chính xác {exact}...: xếp loại theo "
                          "điểm chính xác nên không làm tròn lên {up})"},
    "class_top": {"en": "Class by score: {cls} ({min} or more)",
                  "vi": "Xếp loại theo điểm: {cls} (từ {min} điểm trở lên)"},
    "class_band": {"en": "Class by score: {cls} ({min} to under {next})",
                   "vi": "Xếp loại theo điểm: {cls} (từ {min} đến dưới {next} điểm)"},
    "rule": {"en": "Rule: {rule} ({criteria}): at most {cls}",
             "vi": "Quy tắc: {rule} ({criteria}): tối đa {cls}"},
    "override": {"en": "Override: {rule} (document {document}, recorded by {by} on {at}): "
                       "at most {cls}",
                 "vi": "Căn cứ: {rule} (văn bản {document}, {by} ghi nhận ngày {at}): tối đa "
                       "{cls}"},
    "override_not_applied": {"en": "Not applied: {rule} (document {document}) concerns "
                                   "leaders only",
                             "vi": "Không áp dụng: {rule} (văn bản {document}) chỉ áp dụng "
                                   "với lãnh đạo, quản lý"},
    "class": {"en": "Class: {cls}", "vi": "Xếp loại: {cls}"},
    # facts the service adds
    "rules": {"en": "Rules: regime {regime} version {regime_version}, framework {framework} "
                    "version {framework_version} ({hash})",
              "vi": "Quy định áp dụng: {regime} phiên bản {regime_version}, bộ tiêu chí "
                    "{framework} phiên bản {framework_version} ({hash})"},
    "calibration": {"en": "Calibration: moved from {from_cls} to {to_cls} by {by} on {at}: "
                          "{reason}. The score did not change.",
                    "vi": "Hiệu chỉnh theo tỷ lệ: chuyển từ {from_cls} xuống {to_cls} ({by}, "
                          "ngày {at}): {reason}. Điểm không thay đổi."},
    "quota_cap": {"en": "Quota: {cls} by score, but the pool's approved calibration has no "
                        "room left ({pools}): {to_cls}. The score did not change.",
                  "vi": "Tỷ lệ: điểm đạt mức {cls}, nhưng nhóm đã được phê duyệt hiệu chỉnh "
                        "không còn chỉ tiêu ({pools}): {to_cls}. Điểm không thay đổi."},
    "final_class": {"en": "Final class: {cls}", "vi": "Xếp loại cuối cùng: {cls}"},
    "recomputed": {"en": "Recomputed on {at}: {reason}", "vi": "Tính lại ngày {at}: {reason}"},
    "stale": {"en": "The classes of people under their management changed after this "
                    "evaluation was finalised ({reason}); an admin may reopen it to apply that.",
              "vi": "Xếp loại của công chức thuộc quyền quản lý thay đổi sau khi kết quả này "
                    "đã hoàn tất ({reason}); quản trị viên có thể mở lại để áp dụng."},
    "appeal_revised": {"en": "Revised on appeal by {by} on {at}: {reason}",
                       "vi": "Điều chỉnh khi giải quyết kiến nghị ({by}, ngày {at}): {reason}"},
}


# --- rounding for display -------------------------------------------------------------


def shown_total(total: Fraction | Decimal, regime: Regime) -> Decimal:
    """The total to two places: half-up, unless that would cross a class threshold."""
    exact = to_decimal(total) if isinstance(total, Fraction) else total
    up = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    if regime.class_by_score(up) == regime.class_by_score(exact):
        return up
    towards = ROUND_FLOOR if up > exact else ROUND_CEILING
    return exact.quantize(CENT, rounding=towards)


def apportion(values: Sequence[Fraction], target: Decimal) -> list[Decimal]:
    """Round each value to the cent so that they add up to ``target`` (largest remainder)."""
    cents = [floor(v * 100) for v in values]
    deficit = int(target * 100) - sum(cents)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] * 100 - cents[i]), i))
    if 0 <= deficit <= len(values):
        for i in order[:deficit]:
            cents[i] += 1
    else:  # only with negative points, which no input allows; show each half-up instead
        return [to_decimal(v).quantize(CENT, rounding=ROUND_HALF_UP) for v in values]
    return [Decimal(c) / 100 for c in cents]


# --- the lines ------------------------------------------------------------------------


def _why(code: str | None) -> dict[str, str]:
    return msg(f"miss_{code or 'not_given'}")


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


def _detail_lines(c: CriterionResult, regime: Regime) -> list[Line]:
    d = c.detail
    if isinstance(d, RubricDetail):
        return _rubric_lines(c, d)
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


def _group_lines(g: GroupResult, shown_points: Mapping[str, Decimal], regime: Regime
                 ) -> list[Line]:
    gmax = Num(g.group.max, 2, strip=True)
    subtotal = sum((shown_points[c.criterion.id] for c in g.criteria if c.raw is not None),
                   Decimal(0))
    lines = [Line(g.group.id, "group", 0, msg("group", label=g.group.label, points=subtotal,
                                                max=gmax), max=g.group.max)]
    if g.group.combine == "mean":
        lines.append(Line(g.group.id, "note", 1, msg("group_mean", max=gmax)))
    for c in g.criteria:
        label = c.criterion.label
        cmax = Num(c.criterion.max, 2, strip=True)
        if c.raw is None:
            lines.append(Line(c.criterion.id, "missing", 1, msg(
                "missing", label=label, why=_why(c.missing)), max=c.criterion.max))
        else:
            shown = shown_points[c.criterion.id]
            if c.factor == 1:  # the apportioned value: the lines add up to the total shown
                text = msg("criterion", label=label, points=shown, max=cmax)
            else:
                text = msg("criterion_scaled", label=label, points=c.raw, max=cmax,
                           factor=Num(c.factor, 4, strip=True), counted=shown)
            lines.append(Line(c.criterion.id, "criterion", 1, text, to_decimal(c.counted),
                              f"{shown:.2f}", c.criterion.max, adds_to_total=True))
        lines.extend(_detail_lines(c, regime))
    if g.group.combine == "sum" and g.renormalised:
        lines.append(Line(g.group.id, "renormalised", 1, msg(
            "renormalised", present=Num(g.present_max, 2, strip=True), max=gmax,
            factor=Num(Fraction(g.group.max) / g.present_max, 4, strip=True))))
    return lines


def _class_line(regime: Regime, class_id: str) -> dict[str, str]:
    band = regime.band(class_id)
    bound = Num(band.min or 0, 2, strip=True)
    upper = regime.next_threshold(class_id)
    if upper is None:
        return msg("class_top", cls=band.label, min=bound)
    return msg("class_band", cls=band.label, min=bound, next=Num(upper, 2, strip=True))


def lines(result: ScoreResult, *, self_missing: bool = False) -> list[Line]:
    """The whole breakdown of ``result``: groups, criteria, inputs, total, class and why."""
    regime = result.regime
    total_shown = shown_total(result.exact_total, regime)
    present = [c for c in result.criteria if c.raw is not None]
    shown_values = apportion([c.counted for c in present], total_shown)
    shown_points = {c.criterion.id: v for c, v in zip(present, shown_values, strict=True)}
    out: list[Line] = []
    if self_missing:
        out.append(Line("self_assessment", "note", 0, msg("self_missing")))
    for g in result.groups:
        out.extend(_group_lines(g, shown_points, regime))
    exact = to_decimal(result.exact_total)
    scale = Num(regime.scale, 2, strip=True)
    if exact.quantize(CENT, rounding=ROUND_HALF_UP) != total_shown:
        text = msg("total_exact", total=total_shown, scale=scale, exact=Num(exact, 6),
                   up=exact.quantize(CENT, rounding=ROUND_HALF_UP))
    else:
        text = msg("total", total=total_shown, scale=scale)
    out.append(Line("total", "total", 0, text, exact, f"{total_shown:.2f}", regime.scale))
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
