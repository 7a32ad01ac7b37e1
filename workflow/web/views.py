"""The task pages, each drawn the same way whether it was reached by a personal link or
by a signed-in person: self-assessment, peer input, scoring, result, appeal review,
calibration. Each takes the values to show and the problems to show beside them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import HTMLResponse
from markupsafe import Markup

from workflow import catalog, formatting
from workflow.domain import State, SubmissionKind
from workflow.reports.html import fairness_fragment
from workflow.scoring.model import CriterionKind, Framework, Quota
from workflow.scoring.quota_explain import allowance_rule
from workflow.service import calibration, drafts, lookups
from workflow.service.pages import EvaluationFile
from workflow.web import forms, i18n
from workflow.web.context import Req, localized_score

FORM_META = ("csrf_token", "op", "evaluation_id", "extra_rows", "lang")


def form_values(fields: Mapping[str, str]) -> dict[str, str]:
    """What the person typed, without the form's own hidden fields."""
    return {k: v for k, v in fields.items() if k not in FORM_META}


def criteria_of(framework: Framework, *, peer_only: bool = False) -> dict[str, Any]:
    rubric = [c for c in framework.criteria if c.kind is CriterionKind.RUBRIC
              and (c.peer_rated or not peer_only)]
    ratios = [] if peer_only else [c for c in framework.criteria
                                   if c.kind is CriterionKind.RATIO]
    has_tasks = not peer_only and any(c.kind is CriterionKind.TASKS for c in framework.criteria)
    return {"rubric": rubric, "ratios": ratios, "has_tasks": has_tasks}


def _extra(fields: Mapping[str, str] | None) -> int:
    raw = (fields or {}).get("extra_rows", "0")
    return min(60, int(raw)) if raw.isdigit() else 0


def self_assessment(req: Req, file: EvaluationFile, post_to: str, *,
                    values: Mapping[str, str] | None = None,
                    errors: Mapping[str, str] | None = None, status: int = 200,
                    saved_at: datetime | None = None, extra_rows: int = 0,
                    author_id: str | None = None) -> HTMLResponse:
    if values is None:
        draft = drafts.load(req.svc, file.id, author_id or file.reviewee.id,
                            SubmissionKind.SELF_ASSESSMENT)
        values, saved_at = (draft if draft else ({}, None))
    return req.render("self_assessment.html", status=status, file=file, post_to=post_to,
                      values=values, errors=errors or {}, saved_at=saved_at,
                      rows=forms.task_rows(values, extra=extra_rows), extra_rows=extra_rows,
                      **criteria_of(file.framework))


def peer_input(req: Req, file: EvaluationFile, post_to: str, *,
               values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
               status: int = 200) -> HTMLResponse:
    return req.render("peer_input.html", status=status, file=file, post_to=post_to,
                      values=values or {}, errors=errors or {},
                      **criteria_of(file.framework, peer_only=True))


def score_prefill(file: EvaluationFile) -> dict[str, str]:
    """Start from the reviewee's proposal: their points and their items, not their notes."""
    values = forms.fields_from_payload(file.self_assessment)
    return {k: v for k, v in values.items()
            if not k.endswith(".evidence") and k not in ("note", "comment")}


def score(req: Req, file: EvaluationFile, post_to: str, scorer_id: str, *,
          values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
          status: int = 200, saved_at: datetime | None = None, extra_rows: int = 0
          ) -> HTMLResponse:
    if values is None:
        draft = drafts.load(req.svc, file.id, scorer_id, SubmissionKind.SUPERVISOR_SCORE)
        values, saved_at = draft if draft else (score_prefill(file), None)
    return req.render("score.html", status=status, file=file, post_to=post_to, values=values,
                      errors=errors or {}, saved_at=saved_at, extra_rows=extra_rows,
                      rows=forms.task_rows(values, extra=extra_rows),
                      open=file.state is State.SUPERVISOR_SCORING,
                      **criteria_of(file.framework))


def result(req: Req, file: EvaluationFile, post_to: str, *,
           values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
           status: int = 200) -> HTMLResponse:
    return req.render("result.html", status=status, file=file, post_to=post_to,
                      values=values or {}, errors=errors or {},
                      open=file.state is State.APPEAL_WINDOW)


def appeal_review(req: Req, file: EvaluationFile, post_to: str, *,
                  values: Mapping[str, str] | None = None,
                  errors: Mapping[str, str] | None = None, status: int = 200,
                  extra_rows: int = 0) -> HTMLResponse:
    prefill = forms.fields_from_payload(file.score_payload, prefix="score.")
    if values is None:
        values = prefill
    elif not any(k.startswith("score.") for k in values):
        # The uphold form was posted: the revise form beside it keeps the score given.
        values = {**prefill, **values}
    return req.render("appeal_review.html", status=status, file=file, post_to=post_to,
                      values=values, errors=errors or {}, extra_rows=extra_rows,
                      rows=forms.task_rows(values, prefix="score.", extra=extra_rows),
                      open=file.state is State.APPEAL_REVIEW, **criteria_of(file.framework))


def pool_label(req: Req, pool: str) -> str:
    """A quota pool as people say it (never its key, ``task_group:B``)."""
    return i18n.pool_name(req.locale, pool)


def calibration_page(req: Req, cycle_id: str, post_to: str, viewer_id: str, *,
                     errors: Mapping[str, str] | None = None, message: str | None = None,
                     values: Mapping[str, str] | None = None, status: int = 200
                     ) -> HTMLResponse:
    """The pools of a cycle for ``viewer_id``: move and undo forms only on the evaluations
    they decide; the others say who decides them (recusal)."""
    view = calibration.view(req.svc, cycle_id)
    rules = lookups.cycle_rules(req.svc, cycle_id)
    quota: Quota | None = rules.regime.quota
    labels = {c.id: c.label for c in rules.regime.classes}
    return req.render("calibration.html", status=status, view=view, quota=quota,
                      members=view.members, viewer_id=viewer_id,
                      class_labels=labels, post_to=post_to,
                      cycle_name=rules.config.name, cycle_id=cycle_id,
                      pool_label=lambda p: pool_label(req, p), errors=errors or {},
                      message=message, values=values or {},
                      ratio_text=percent(quota.max_ratio) if quota else "",
                      allowance=lambda meter: allowance_rule(
                          meter, view.exception_decision if view.exception_ratio else None),
                      group_pool=lambda group: f"task_group:{group}",
                      plan_text=lambda needed: "; ".join(
                          req.ngettext("%(num)s move in %(pool)s", "%(num)s moves in %(pool)s",
                                       n, pool=pool_label(req, f"task_group:{g}"))
                          for g, n in needed.by_task_group.items()),
                      # Information for the calibrator, never an automatic change; the
                      # fragment comes from our own autoescaped report templates.
                      signals=Markup(fairness_fragment(req.svc, cycle_id, locale=req.locale)))


def percent(ratio: Decimal) -> str:
    """0.2 as "20%" (never "2E+1%")."""
    text = f"{ratio * 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def confirm(req: Req, template: str, post_to: str, *, confirm_op: str,
            carry: Mapping[str, str] | None = None, check: list[tuple[str, str]] | None = None,
            back_op: str | None = None, back_href: str | None = None,
            evaluation_id: int | None = None, danger: bool = False,
            **context: Any) -> HTMLResponse:
    """The check-and-confirm step before an action that cannot be taken back: what will be
    done, the values in hidden fields (``carry``) and a fresh CSRF token; the confirm
    button posts ``confirm_op``, the back button ``back_op`` (or a link to ``back_href``)."""
    return req.render(template, post_to=post_to, confirm_op=confirm_op, carry=carry or {},
                      check=check or [], back_op=back_op, back_href=back_href or post_to,
                      evaluation_id=evaluation_id, danger=danger, **context)


def self_assessment_check(req: Req, framework: Framework, clean: Mapping[str, Any]
                          ) -> list[tuple[str, str]]:
    """A validated self-assessment as the lines of its confirmation page: each criterion
    with the points proposed (and the evidence), each item with its outcome, the note."""
    locale = req.locale

    def named(c: Any) -> str:
        return str(c.label.vi if locale == "vi" else c.label.en)

    lines: list[tuple[str, str]] = []
    for c in framework.criteria:
        if c.kind is CriterionKind.RUBRIC:
            entry = (clean.get("criteria") or {}).get(c.id) or {}
            shown = f"{localized_score(entry.get('points'), locale) or '—'} / " \
                f"{localized_score(c.max, locale)}"
            evidence = str(entry.get("evidence") or "")
            lines.append((named(c), shown + (f"\n{evidence}" if evidence else "")))
        elif c.kind is CriterionKind.RATIO:
            entry = (clean.get("ratios") or {}).get(c.id) or {}
            actual = formatting.shown_number(entry.get("actual"), locale)
            target = formatting.shown_number(str(c.target), locale)
            lines.append((named(c), f"{actual} / {target} {c.unit or ''}".strip()))
    for i, item in enumerate(clean.get("tasks") or []):
        outcome = [req.gettext("Completed")] if item.get("completed") else [
            catalog.gettext(locale, catalog.N_("not completed"))]
        if item.get("meets_requirements"):
            outcome.append(req.gettext("Meets the requirements"))
        failed = item.get("failed_assessments") or 0
        outcome.append(f"{req.gettext('Failed assessments')}: {failed}")
        outcome.append(f"{req.gettext('Delays')}: {item.get('delays') or 0}")
        text = f"{item.get('title', '')}\n{'; '.join(outcome)}"
        if item.get("evidence"):
            text += f"\n{item['evidence']}"
        lines.append((req.gettext("Item %(n)s", n=i + 1), text))
    if clean.get("note"):
        lines.append((req.gettext("Note"), str(clean["note"])))
    return lines
