"""Pages for signed-in people: sign in and out, what waits for me, my team, scoring one
evaluation, deciding an appeal, calibrating a cycle. Each checks the person's role on
the evaluation or cycle before showing anything; the service checks it again on
every action."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow.domain import SCORER_ROLES, State, SubmissionKind, Trigger
from workflow.errors import (
    EvaluationAlreadyChanged,
    NotPermitted,
    RestoreRefused,
    SubmissionInvalid,
    WorkflowError,
)
from workflow.permissions import roles_of
from workflow.service import access, drafts, pages, race, transition
from workflow.service.pages import EvaluationFile
from workflow.web import forms, recusal_form, views
from workflow.web.context import Req, form_fields, get_req
from workflow.web.i18n import CSRF_FAILED, SIGN_OUT_REFUSED
from workflow.web.race_view import race_lost
from workflow.web.routes_task import (
    APPEAL_OPS,
    SCORE_OPS,
    _problems,
    appeal_decided,
    appeal_decision,
    appeal_problems,
    calibration_action,
    score_outcome_message,
    unknown_op,
)
from workflow.web.security import LANG_COOKIE, SESSION_COOKIE

router = APIRouter()
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def safe_next(raw: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme): no open redirect."""
    path = unquote(raw or "/")
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@router.get("/", response_class=HTMLResponse)
def home(req: ReqDep) -> Response:
    if req.person is None:
        return req.render("landing.html")
    work = pages.workload(req.svc, req.person.id, now=req.now())
    return req.render("home.html", work=work)


@router.get("/lang/{locale}")
def switch_language(locale: str, req: ReqDep, next: str = "/") -> Response:
    response = req.redirect(safe_next(next))
    if locale in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, locale, samesite="lax", secure=req.web.secure_cookies,
                            max_age=365 * 86400, path="/")
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(req: ReqDep) -> Response:
    return req.render("sign_in.html", values={}, errors={})


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in_request(req: ReqDep, fields: FormDep) -> Response:
    email = fields.get("email", "").strip()
    if not req.csrf_ok(fields):
        return req.render("sign_in.html", status=403, values={"email": email},
                          errors={"_form": req.gettext(CSRF_FAILED)})
    if not email or "@" not in email or len(email) > 320:
        return req.render("sign_in.html", status=422, values={"email": email},
                          errors={"email": req.gettext("required") if not email else
                                  req.gettext("not an email address (e.g. "
                                              "name@agency.gov.vn)")})
    access.request_sign_in(req.svc, email, now=req.now())
    minutes = int(access.SIGN_IN_LIFETIME.total_seconds() // 60)
    return req.render("sign_in_sent.html", email=email, minutes=minutes)


@router.post("/sign-out")
def sign_out(req: ReqDep, fields: FormDep) -> Response:
    """End the session, with the form's token only: refused as every other POST without
    it (a page from another site must not sign anyone out); the page then has a sign-out
    button of its own, with a fresh token."""
    if not req.csrf_ok(fields):
        return req.render("error.html", status=403, title=req.gettext("Not allowed"),
                          message=req.gettext(SIGN_OUT_REFUSED))
    req.end_session()
    response = req.redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/team", response_class=HTMLResponse)
def team_page(req: ReqDep, cycle: str | None = None) -> Response:
    person = req.require_person()
    team = pages.team(req.svc, person.id, cycle_id=cycle or None, now=req.now())
    return req.render("team.html", team=team, next_one=team.next_to_score(),
                      done=req.request.query_params.get("done"))


def _scorer_file(req: Req, evaluation_id: int) -> EvaluationFile:
    person = req.require_person()
    file = pages.evaluation_file(req.svc, evaluation_id)
    if not roles_of(person.id, file.view, req.now()) & SCORER_ROLES \
            or person.id == file.reviewee.id:
        raise NotPermitted(evaluation_id, person.id, "score", "only its scorers see it")
    return file


@router.get("/e/{evaluation_id}/score", response_class=HTMLResponse)
def score_page(evaluation_id: int, req: ReqDep) -> Response:
    file = _scorer_file(req, evaluation_id)
    return views.score(req, file, f"/e/{evaluation_id}/score", req.require_person().id)


@router.post("/e/{evaluation_id}/score", response_class=HTMLResponse)
def score_submit(evaluation_id: int, req: ReqDep, fields: FormDep) -> Response:
    file = _scorer_file(req, evaluation_id)
    person = req.require_person()
    post_to = f"/e/{evaluation_id}/score"
    values = views.form_values(fields)
    extra = views._extra(fields)
    if not req.csrf_ok(fields):
        return views.score(req, file, post_to, person.id, values=values, status=403,
                           errors={"_form": req.gettext(CSRF_FAILED)}, extra_rows=extra)
    if req.switch_locale(fields):  # the language button: the same form, as typed
        return views.score(req, file, post_to, person.id, values=values, extra_rows=extra)
    op = fields.get("op", "")
    if op == recusal_form.DECLARE_OP:
        return recusal_form.declare(req, file, person.id, fields, post_to)
    if op not in SCORE_OPS:
        return views.score(req, file, post_to, person.id, values=values, status=422,
                           errors={"_form": unknown_op(req, op)}, extra_rows=extra)
    if op in ("save_draft", "add_rows"):
        extra += 3 if op == "add_rows" else 0
        try:
            drafts.save(req.svc, evaluation_id, person.id, SubmissionKind.SUPERVISOR_SCORE,
                        values, now=req.now())
        except (WorkflowError, SubmissionInvalid) as exc:
            return views.score(req, file, post_to, person.id, values=values, status=409,
                               errors=_problems(req, exc), extra_rows=extra)
        return views.score(req, file, post_to, person.id, values=values, saved_at=req.now(),
                           extra_rows=extra)
    payload = forms.payload(fields, file.framework, texts=("comment",))
    try:
        outcome = transition.fire(req.svc, evaluation_id, Trigger.SUBMIT_SCORE, person.id,
                                  payload, now=req.now(),
                                  expected_state=State.SUPERVISOR_SCORING)
    except EvaluationAlreadyChanged:
        # Another scorer's or reviewer's submission was recorded first: what was kept
        # (none: it moved on some other way, cancelled...: the plain refusal).
        kept = race.first_recorded(req.svc, evaluation_id, (SubmissionKind.SUPERVISOR_SCORE,),
                                   person.id)
        if kept is None:
            raise
        return race_lost(req, kept)
    except SubmissionInvalid as exc:
        return views.score(req, file, post_to, person.id, values=values, status=422,
                           errors=_problems(req, exc), extra_rows=extra)
    drafts.discard(req.svc, evaluation_id, person.id)
    team = pages.team(req.svc, person.id, now=req.now())
    return req.render("team.html", team=team, next_one=team.next_to_score(),
                      message=score_outcome_message(req, file, outcome))


def _reviewer_file(req: Req, evaluation_id: int) -> EvaluationFile:
    person = req.require_person()
    file = pages.evaluation_file(req.svc, evaluation_id)
    if file.appeal_reviewer_id != person.id:
        raise NotPermitted(evaluation_id, person.id, "appeal_review",
                           "only its appeal reviewer sees it")
    return file


@router.get("/e/{evaluation_id}/appeal", response_class=HTMLResponse)
def appeal_page(evaluation_id: int, req: ReqDep) -> Response:
    file = _reviewer_file(req, evaluation_id)
    return views.appeal_review(req, file, f"/e/{evaluation_id}/appeal")


@router.post("/e/{evaluation_id}/appeal", response_class=HTMLResponse)
def appeal_decide(evaluation_id: int, req: ReqDep, fields: FormDep) -> Response:
    file = _reviewer_file(req, evaluation_id)
    person = req.require_person()
    post_to = f"/e/{evaluation_id}/appeal"
    values = views.form_values(fields)
    extra = views._extra(fields)
    if not req.csrf_ok(fields):
        return views.appeal_review(req, file, post_to, values=values, status=403,
                                   errors={"_form": req.gettext(CSRF_FAILED)}, extra_rows=extra)
    if req.switch_locale(fields):  # the language button: the same form, as typed
        return views.appeal_review(req, file, post_to, values=values, extra_rows=extra)
    op = fields.get("op", "")
    if op == "add_rows":
        return views.appeal_review(req, file, post_to, values=values, extra_rows=extra + 3)
    if op not in APPEAL_OPS:
        return views.appeal_review(req, file, post_to, values=values, status=422,
                                   errors={"_form": unknown_op(req, op)}, extra_rows=extra)
    trigger, payload = appeal_decision(fields, file, op)
    try:
        outcome = transition.fire(req.svc, evaluation_id, trigger, person.id, payload,
                                  now=req.now(), expected_state=State.APPEAL_REVIEW)
    except EvaluationAlreadyChanged:
        # Another scorer's or reviewer's submission was recorded first: what was kept
        # (none: it moved on some other way, cancelled...: the plain refusal).
        kept = race.first_recorded(req.svc, evaluation_id, (SubmissionKind.APPEAL_DECISION,),
                                   person.id)
        if kept is None:
            raise
        return race_lost(req, kept)
    except SubmissionInvalid as exc:
        return views.appeal_review(req, file, post_to, values=values, status=422,
                                   errors=appeal_problems(req, exc, op), extra_rows=extra)
    except RestoreRefused as exc:  # the quota of the approved calibration has no room
        return views.appeal_review(req, file, post_to, values=values, status=409,
                                   errors={"_form": req.error_text(exc)}, extra_rows=extra)
    return req.render("done.html", message=appeal_decided(req, file, trigger, outcome, op))


def _calibrator(req: Req, cycle_id: str) -> str:
    person = req.require_person()
    work = pages.workload(req.svc, person.id, now=req.now())
    if cycle_id not in {c for c, _n, _w in work.calibrations}:
        raise NotPermitted(0, person.id, "calibrate", f"only the calibrator of {cycle_id} "
                           "sees its calibration")
    return person.id


@router.get("/calibration/{cycle_id}", response_class=HTMLResponse)
def calibration_page(cycle_id: str, req: ReqDep) -> Response:
    person_id = _calibrator(req, cycle_id)
    return views.calibration_page(req, cycle_id, f"/calibration/{cycle_id}", person_id)


@router.post("/calibration/{cycle_id}", response_class=HTMLResponse)
def calibration_post(cycle_id: str, req: ReqDep, fields: FormDep) -> Response:
    person_id = _calibrator(req, cycle_id)
    return calibration_action(req, cycle_id, person_id, fields, f"/calibration/{cycle_id}")
