"""Personal links: ``/t/{token}`` opens the one task the link was emailed for.

GET shows the task's page; POST does what the page's form asks (``op``): save a draft,
submit, accept, appeal, uphold, revise, move a class, approve, or sign in. Every POST
checks the CSRF token first; every problem comes back on the same page, beside the
field it concerns, with nothing stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, cast

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow import catalog
from workflow.domain import State, SubmissionKind, Trigger
from workflow.errors import (
    CalibrationError,
    KpiError,
    RestoreRefused,
    SubmissionInvalid,
    WorkflowError,
)
from workflow.service import access, calibration, calibration_moves, drafts, lookups, pages, race
from workflow.service.access import DeadlinePassed, Grant
from workflow.service.notices import PUBLICATION_ACTION
from workflow.service.pages import EvaluationFile
from workflow.service.transition import Outcome
from workflow.states.self_assessment import validate_self_assessment
from workflow.web import forms, recusal_form, routes_publication, views
from workflow.web.context import Req, form_fields, get_req, localized_score
from workflow.web.i18n import CSRF_FAILED, LINK_MISMATCH
from workflow.web.race_view import race_lost

# The actions each decision form offers; anything else posted is refused, never
# taken as the last of them (an appeal lodged, a score revised, by a stray value).
# The result page's actions: accepting goes through its confirmation step.
RESPOND_OPS = frozenset({"accept", "confirm_accept", "appeal"})
APPEAL_OPS = frozenset({"uphold", "revise", "restore"})
SELF_ASSESSMENT_OPS = frozenset({"save_draft", "add_rows", "edit", "submit", "confirm_submit"})
PEER_OPS = frozenset({"submit"})
SCORE_OPS = frozenset({"save_draft", "add_rows", "submit"})
UNKNOWN_OP = catalog.N_("This form has no action “%(op)s”; nothing was saved. Use one of "
                        "its buttons.")

router = APIRouter()
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _grant(req: Req, token: str) -> Grant:
    grant = access.resolve(req.svc, token, now=req.now())
    req.acting = grant.person
    return grant


def calibrator_cycle(req: Req, grant: Grant) -> str:
    """The cycle a calibration link is for: the one asked for, among the person's own."""
    work = pages.workload(req.svc, grant.person_id, now=req.now())
    own = [c for c, _name, waiting in work.calibrations if waiting] or \
        [c for c, _name, _w in work.calibrations]
    asked = req.request.query_params.get("cycle")
    if asked in own:
        return str(asked)
    if not own:
        raise access.LinkClosed(None, State.CALIBRATION.value)
    return own[0]


def show(req: Req, grant: Grant, post_to: str) -> HTMLResponse:
    """The page of a link, freshly read."""
    if grant.action == access.SIGN_IN_ACTION:
        return req.render("sign_in_confirm.html", post_to=post_to, who=grant.person)
    if grant.action == "calibrate":
        cycle_id = calibrator_cycle(req, grant)
        return views.calibration_page(req, cycle_id, f"{post_to}?cycle={cycle_id}",
                                      grant.person_id)
    assert grant.evaluation_id is not None
    if grant.action == PUBLICATION_ACTION:
        return routes_publication.page(req, grant, post_to)
    file = pages.evaluation_file(req.svc, grant.evaluation_id)
    if grant.action == "self_assessment":
        return views.self_assessment(req, file, post_to, author_id=grant.person_id)
    if grant.action == "peer_input":
        return views.peer_input(req, file, post_to)
    if grant.action == "score":
        return views.score(req, file, post_to, grant.person_id)
    if grant.action == "respond":
        return views.result(req, file, post_to)
    if grant.action == "appeal_review":
        return views.appeal_review(req, file, post_to)
    raise access.LinkUnknown()


@router.get("/t/{token}", response_class=HTMLResponse)
def open_link(token: str, req: ReqDep) -> Response:
    grant = _grant(req, token)
    return show(req, grant, f"/t/{token}")


def _posted_evaluation(fields: Mapping[str, str]) -> int | None:
    raw = fields.get("evaluation_id", "")
    return int(raw) if raw.isdigit() else -1 if raw else None


def _token(post_to: str) -> str:
    return post_to.removeprefix("/t/").partition("?")[0]


def _fire(req: Req, token: str, trigger: Trigger, payload: Mapping[str, object] | None,
          fields: Mapping[str, str], reason: str | None = None) -> Outcome:
    return access.fire_by_link(req.svc, token, trigger, payload, reason,
                               evaluation_id=_posted_evaluation(fields), now=req.now())


def done(req: Req, message: str) -> HTMLResponse:
    return req.render("done.html", message=message)


@router.post("/t/{token}", response_class=HTMLResponse)
def act_by_link(token: str, req: ReqDep, fields: FormDep) -> Response:
    try:
        return _act_by_link(token, req, fields)
    except KpiError as exc:
        # The loser of a race (or a second tab): say what was recorded first and kept,
        # not only that the link was used or the step moved on.
        kept = race.first_recorded_for_link(req.svc, token) \
            if isinstance(exc, race.RACE_REFUSALS) else None
        if not race.explains(exc, kept):
            raise
        assert kept is not None
        return race_lost(req, kept)


def _act_by_link(token: str, req: Req, fields: Mapping[str, str]) -> Response:
    grant = _grant(req, token)
    post_to = f"/t/{token}"
    op = fields.get("op", "")
    if grant.action == access.SIGN_IN_ACTION:
        if not req.csrf_ok(fields):
            return req.render("sign_in_confirm.html", status=403, post_to=post_to,
                              who=grant.person, errors={"_form": req.gettext(CSRF_FAILED)})
        person = access.sign_in(req.svc, token, now=req.now())
        return req.start_session(person.id, "/")
    if grant.action == "calibrate":
        return calibrate(req, grant, fields, post_to)
    assert grant.evaluation_id is not None
    if grant.action == PUBLICATION_ACTION:  # a page to read: nothing to post
        raise access.LinkMismatch()
    if _posted_evaluation(fields) not in (None, grant.evaluation_id):
        # Checked here too, not only when the engine fires: the confirmation step and the
        # language button draw a page, and must never draw it for another evaluation.
        raise access.LinkMismatch()
    file = cast(EvaluationFile, pages.LazyFile(req.svc, grant.evaluation_id))
    handler = {
        "self_assessment": _self_assessment, "peer_input": _peer_input, "score": _score,
        "respond": _respond, "appeal_review": _appeal_review,
    }[grant.action]
    if not req.csrf_ok(fields):
        return handler(req, grant, file, fields, post_to, op, csrf_failed=True)
    if req.switch_locale(fields):
        return redraw(req, grant, file, fields, post_to)
    return handler(req, grant, file, fields, post_to, op)


def redraw(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
           post_to: str) -> HTMLResponse:
    """The link's form again, with what was typed (after the language button)."""
    values = views.form_values(fields)
    extra = views._extra(fields)
    if grant.action == "self_assessment":
        return views.self_assessment(req, file, post_to, values=values, extra_rows=extra)
    if grant.action == "peer_input":
        return views.peer_input(req, file, post_to, values=values)
    if grant.action == "score":
        return views.score(req, file, post_to, grant.person_id, values=values,
                           extra_rows=extra)
    if grant.action == "respond":
        return views.result(req, file, post_to, values=values)
    return views.appeal_review(req, file, post_to, values=values, extra_rows=extra)


def _problems(req: Req, exc: Exception) -> dict[str, str]:
    """An engine refusal as problems to show on the form."""
    if isinstance(exc, SubmissionInvalid):
        return dict(exc.fields)
    return {"_form": req.error_text(exc)} if isinstance(exc, KpiError) else {}


def _self_assessment(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
                     post_to: str, op: str, csrf_failed: bool = False) -> HTMLResponse:
    values = views.form_values(fields)
    extra = views._extra(fields)
    if csrf_failed:
        return views.self_assessment(req, file, post_to, values=values, status=403,
                                     errors={"_form": req.gettext(CSRF_FAILED)}, extra_rows=extra)
    if op not in SELF_ASSESSMENT_OPS:
        return views.self_assessment(req, file, post_to, values=values, status=422,
                                     errors={"_form": unknown_op(req, op)}, extra_rows=extra)
    if op in ("save_draft", "add_rows"):
        extra += 3 if op == "add_rows" else 0
        try:
            access.check_deadline(file.state, file.due_at, file.id, req.now())
            drafts.save(req.svc, file.id, grant.person_id, SubmissionKind.SELF_ASSESSMENT,
                        values, now=req.now())
        except (WorkflowError, SubmissionInvalid) as exc:
            return views.self_assessment(req, file, post_to, values=values, status=409,
                                         errors=_problems(req, exc), extra_rows=extra)
        return views.self_assessment(req, file, post_to, values=values, saved_at=req.now(),
                                     extra_rows=extra)
    if op == "edit":  # back from the confirmation step, with everything as typed
        return views.self_assessment(req, file, post_to, values=values, extra_rows=extra)
    payload = forms.payload(fields, file.framework, texts=("note",))
    try:
        if op != "confirm_submit":
            return _check_self_assessment(req, grant, file, values, payload, post_to)
        outcome = _fire(req, _token(post_to), Trigger.SUBMIT_SELF_ASSESSMENT, payload, fields)
    except (SubmissionInvalid, DeadlinePassed) as exc:
        return views.self_assessment(req, file, post_to, values=values, errors=_problems(req, exc),
                                     status=422 if isinstance(exc, SubmissionInvalid) else 409,
                                     extra_rows=extra)
    drafts.discard(req.svc, file.id, grant.person_id)  # sent: the draft has served
    return done(req, self_assessment_next(req, outcome))


def _check_self_assessment(req: Req, grant: Grant, file: EvaluationFile,
                           values: Mapping[str, str], payload: Mapping[str, object],
                           post_to: str) -> HTMLResponse:
    """The confirmation step: checked as the engine will check it (problems go back to
    the form), saved as a draft (nothing is lost if the person leaves here), then shown
    for confirmation with the values in hidden fields."""
    access.check_deadline(file.state, file.due_at, file.id, req.now())
    clean = validate_self_assessment(payload, file.framework)
    drafts.save(req.svc, file.id, grant.person_id, SubmissionKind.SELF_ASSESSMENT, values,
                now=req.now())
    return views.confirm(req, "confirm_self_assessment.html", post_to,
                         confirm_op="confirm_submit", back_op="edit", carry=values,
                         evaluation_id=file.id,
                         check=views.self_assessment_check(req, file.framework, clean))


def self_assessment_next(req: Req, outcome: Outcome) -> str:
    """What happens after a self-assessment, as it really is: the peers are asked (when
    the cycle has peer input and peers were picked), or the supervisor has it."""
    if outcome.to_state is State.PEER_INPUT:
        return catalog.gettext(req.locale, catalog.N_(
            "Your self-assessment was submitted. Your colleagues are now asked for their "
            "input; after that your supervisor scores it."))
    return req.gettext("Your self-assessment was submitted. Your supervisor has it now.")


def _peer_input(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
                post_to: str, op: str, csrf_failed: bool = False) -> HTMLResponse:
    values = views.form_values(fields)
    if csrf_failed:
        return views.peer_input(req, file, post_to, values=values, status=403,
                                errors={"_form": req.gettext(CSRF_FAILED)})
    if op not in PEER_OPS:
        return views.peer_input(req, file, post_to, values=values, status=422,
                                errors={"_form": unknown_op(req, op)})
    payload = forms.payload(fields, file.framework, texts=("comment",))
    payload.pop("tasks", None)
    payload.pop("ratios", None)
    try:
        _fire(req, _token(post_to), Trigger.SUBMIT_PEER_INPUT, payload, fields)
    except (SubmissionInvalid, DeadlinePassed) as exc:
        return views.peer_input(req, file, post_to, values=values, errors=_problems(req, exc),
                                status=422 if isinstance(exc, SubmissionInvalid) else 409)
    return done(req, req.gettext("Your peer input was recorded, anonymously."))


def score_outcome_message(req: Req, file: EvaluationFile, outcome: Outcome) -> str:
    klass = outcome.class_id or ""
    label = file.regime.band(klass).label if klass else None
    shown = (label.vi if req.locale == "vi" else label.en) if label else klass
    return req.gettext("Score saved for %(name)s: %(score)s points, %(klass)s.",
                       name=file.reviewee.full_name,
                 score=localized_score(outcome.score, req.locale, file.regime) or "—", klass=shown)


def _score(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
           post_to: str, op: str, csrf_failed: bool = False) -> HTMLResponse:
    values = views.form_values(fields)
    extra = views._extra(fields)
    if csrf_failed:
        return views.score(req, file, post_to, grant.person_id, values=values, status=403,
                           errors={"_form": req.gettext(CSRF_FAILED)}, extra_rows=extra)
    if op == recusal_form.DECLARE_OP:
        return recusal_form.declare(req, file, grant.person_id, fields, post_to)
    if op not in SCORE_OPS:
        return views.score(req, file, post_to, grant.person_id, values=values, status=422,
                           errors={"_form": unknown_op(req, op)}, extra_rows=extra)
    if op in ("save_draft", "add_rows"):
        extra += 3 if op == "add_rows" else 0
        try:
            drafts.save(req.svc, file.id, grant.person_id, SubmissionKind.SUPERVISOR_SCORE,
                        values, now=req.now())
        except (WorkflowError, SubmissionInvalid) as exc:
            return views.score(req, file, post_to, grant.person_id, values=values, status=409,
                               errors=_problems(req, exc), extra_rows=extra)
        return views.score(req, file, post_to, grant.person_id, values=values,
                           saved_at=req.now(), extra_rows=extra)
    payload = forms.payload(fields, file.framework, texts=("comment",))
    try:
        outcome = _fire(req, _token(post_to), Trigger.SUBMIT_SCORE, payload, fields)
    except (SubmissionInvalid, DeadlinePassed) as exc:
        return views.score(req, file, post_to, grant.person_id, values=values,
                           errors=_problems(req, exc), status=422, extra_rows=extra)
    return done(req, score_outcome_message(req, file, outcome))


def _respond(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
             post_to: str, op: str, csrf_failed: bool = False) -> HTMLResponse:
    values = views.form_values(fields)
    if csrf_failed:
        return views.result(req, file, post_to, values=values, status=403,
                            errors={"_form": req.gettext(CSRF_FAILED)})
    if op not in RESPOND_OPS:
        return views.result(req, file, post_to, values=values, status=422,
                            errors={"_form": unknown_op(req, op)})
    try:
        if op == "accept":  # the confirmation step first: accepting ends the appeal window
            return views.confirm(
                req, "confirm_accept.html", post_to, confirm_op="confirm_accept",
                evaluation_id=file.id,
                shown_score=localized_score(file.row.score, req.locale, file.regime) or "—",
                klass=file.class_label(req.locale) or req.gettext("not scored yet"))
        if op == "confirm_accept":
            _fire(req, _token(post_to), Trigger.ACCEPT_RESULT, {}, fields)
            return done(req, req.gettext("You accepted the result. It is now final."))
        _fire(req, _token(post_to), Trigger.LODGE_APPEAL, {"reasons": fields.get("reasons", "")},
              fields)
    except (SubmissionInvalid, DeadlinePassed) as exc:
        return views.result(req, file, post_to, values=values, errors=_problems(req, exc),
                            status=422 if isinstance(exc, SubmissionInvalid) else 409)
    return done(req, req.gettext("Your appeal was lodged; the appeal reviewer has been told."))


def revise_problems(errors: Mapping[str, str]) -> dict[str, str]:
    """The revise form's problems under its own field names (``score.*``, ``revise_reason``)."""
    out: dict[str, str] = {}
    for key, value in errors.items():
        if key == "reason":
            out["revise_reason"] = value
        elif key in ("_form", "score"):
            out["_form" if key == "_form" else "score"] = value
        else:
            out[f"score.{key}"] = value
    return out


def unknown_op(req: Req, op: str) -> str:
    """The form's problem when it was posted with an action it does not offer."""
    return catalog.gettext(req.locale, UNKNOWN_OP, op=op[:40] or "-")


def appeal_decision(fields: Mapping[str, str], file: EvaluationFile, op: str
                    ) -> tuple[Trigger, dict[str, object]]:
    """The trigger and payload of an appeal decision; ``op`` is one of APPEAL_OPS."""
    assert op in APPEAL_OPS, op
    if op == "uphold":
        return Trigger.UPHOLD_SCORE, {"reason": fields.get("reason", "")}
    if op == "restore":  # uphold the score, and restore the class calibration moved
        return Trigger.UPHOLD_SCORE, {"reason": fields.get("restore_reason", ""),
                                      "restore_class": True}
    score = forms.payload(fields, file.framework, prefix="score.", texts=("comment",))
    return Trigger.REVISE_SCORE, {"reason": fields.get("revise_reason", ""), "score": score}


def _appeal_review(req: Req, grant: Grant, file: EvaluationFile, fields: Mapping[str, str],
                   post_to: str, op: str, csrf_failed: bool = False) -> HTMLResponse:
    values = views.form_values(fields)
    extra = views._extra(fields)
    if csrf_failed:
        return views.appeal_review(req, file, post_to, values=values, status=403,
                                   errors={"_form": req.gettext(CSRF_FAILED)}, extra_rows=extra)
    if op == "add_rows":
        return views.appeal_review(req, file, post_to, values=values, extra_rows=extra + 3)
    if op not in APPEAL_OPS:
        return views.appeal_review(req, file, post_to, values=values, status=422,
                                   errors={"_form": unknown_op(req, op)}, extra_rows=extra)
    trigger, payload = appeal_decision(fields, file, op)
    try:
        outcome = _fire(req, _token(post_to), trigger, payload, fields)
    except (SubmissionInvalid, DeadlinePassed) as exc:
        return views.appeal_review(req, file, post_to, values=values, status=422,
                                   errors=appeal_problems(req, exc, op), extra_rows=extra)
    except RestoreRefused as exc:  # the quota of the approved calibration has no room
        return views.appeal_review(req, file, post_to, values=values, status=409,
                                   errors={"_form": req.error_text(exc)}, extra_rows=extra)
    return done(req, appeal_decided(req, file, trigger, outcome, op))


def appeal_problems(req: Req, exc: Exception, op: str) -> dict[str, str]:
    """An appeal decision's problems under the field names of the form it came from."""
    problems = _problems(req, exc)
    if op == "revise":
        return revise_problems(problems)
    if op == "restore":
        return {"restore_reason" if k == "reason" else k: v for k, v in problems.items()}
    return problems


def appeal_decided(req: Req, file: EvaluationFile, trigger: Trigger, outcome: Outcome,
                   op: str = "") -> str:
    """The decision as recorded; after a revision, the new score and class themselves."""
    if op == "restore":
        restored = file.class_label_of(outcome.class_id, req.locale) or "—"
        return req.gettext(
            "Decision recorded: the score is upheld and the class restored to “%(klass)s”. "
            "The evaluation is final.", klass=restored)
    if trigger is not Trigger.REVISE_SCORE or outcome.score is None:
        return req.gettext("Decision recorded: the evaluation is now final.")
    klass = file.regime.band(outcome.class_id).label if outcome.class_id else None
    return catalog.gettext(
        req.locale, catalog.N_("Decision recorded: the score is now %(score)s, %(klass)s. "
                               "The evaluation is final."),
        score=localized_score(outcome.score, req.locale, file.regime) or "—",
        klass=(klass.vi if req.locale == "vi" else klass.en) if klass else "—")


def calibrate(req: Req, grant: Grant, fields: Mapping[str, str], post_to: str) -> HTMLResponse:
    """A calibration form: move one evaluation down with a reason, or approve the pool."""
    cycle_id = calibrator_cycle(req, grant)
    return calibration_action(req, cycle_id, grant.person_id, fields,
                              f"{post_to}?cycle={cycle_id}",
                              on_approve=lambda: access.use_link(req.svc, grant, now=req.now()))


def calibration_action(req: Req, cycle_id: str, person_id: str, fields: Mapping[str, str],
                       post_to: str, on_approve: object = None) -> HTMLResponse:
    values = views.form_values(fields)
    page = partial(views.calibration_page, req, cycle_id, post_to, person_id)
    if not req.csrf_ok(fields):
        return page(values=values, status=403, errors={"_form": req.gettext(CSRF_FAILED)})
    op = fields.get("op", "")
    try:
        if op == "approve":  # the confirmation step first: approving sends the results
            return _check_approval(req, cycle_id, post_to, person_id)
        if op == "confirm_approve":
            n = calibration.approve(req.svc, cycle_id, person_id, now=req.now())
            if callable(on_approve):
                on_approve()
            return page(message=req.ngettext(
                "Calibration approved: %(num)s result sent to the reviewee.",
                "Calibration approved: %(num)s results sent to the reviewees.", n))
        raw = fields.get("evaluation_id", "")
        evaluation_id = int(raw) if raw.isdigit() else -1
        quota = lookups.cycle_rules(req.svc, cycle_id).regime.quota
        to_class = quota.may_move_to if quota else ""
        members = {m.evaluation_id: m for m in calibration.view(req.svc, cycle_id).members}
        if evaluation_id not in members:
            return page(values=values, status=422,
                        errors={"_form": req.gettext(LINK_MISMATCH)})
        if op == "undo":
            back = calibration_moves.undo_move(req.svc, evaluation_id,
                                               fields.get("undo_reason", ""), person_id,
                                               now=req.now())
            return page(message=req.gettext(
                "The move of %(name)s was undone: back to “%(to)s”.",
                name=members[evaluation_id].reviewee_name,
                to=_class_label(req, cycle_id, back)))
        calibration.move_class(req.svc, evaluation_id, to_class, fields.get("reason", ""),
                               person_id, now=req.now())
    except SubmissionInvalid as exc:
        eid = fields.get("evaluation_id", "")
        field = "undo_reason" if op == "undo" else "reason"
        errors = {f"{field}.{eid}" if k == "reason" else k: v for k, v in exc.fields.items()}
        return page(values=values, status=422, errors=errors)
    except CalibrationError as exc:
        return page(values=values, status=409, errors={"_form": req.error_text(exc)})
    name = members[evaluation_id].reviewee_name
    return page(message=req.gettext(
        "%(name)s moved to “%(to)s”.", name=name, to=_class_label(req, cycle_id, to_class)))


def _check_approval(req: Req, cycle_id: str, post_to: str, person_id: str) -> HTMLResponse:
    view = calibration.view(req.svc, cycle_id)
    if not view.can_approve:
        return views.calibration_page(req, cycle_id, post_to, person_id, status=409,
                                      errors={"_form": req.gettext(
                                          "Approval needs every evaluation scored and every "
                                          "pool within its quota.")})
    return views.confirm(req, "confirm_approve.html", post_to, confirm_op="confirm_approve",
                         waiting=view.waiting)


def _class_label(req: Req, cycle_id: str, class_id: str) -> str:
    band = lookups.cycle_rules(req.svc, cycle_id).regime.band(class_id)
    return band.label.vi if req.locale == "vi" else band.label.en
