"""The admin dashboard: progress per unit and state, overdue items, dead letters, and the
actions on the record (extend, reassign, delegate, cancel, reopen, send again).

Only admins see it, and only what their scope reaches (workflow/service/admin_scope.py:
settings, cycle file, per-agency grants); the service checks the role again on every
action."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from workflow import catalog
from workflow.catalog import N_
from workflow.cycle_config import PHASE_ORDER
from workflow.domain import State, Trigger
from workflow.errors import (
    NotPermitted,
    PersonNotFound,
    Problem,
    SubmissionInvalid,
    WorkflowError,
)
from workflow.service import (
    admin_exports,
    admin_scope,
    bulk_actions,
    lookups,
    pages,
    queries,
    records,
    resend,
    sessions,
    transition,
)
from workflow.service.admin_scope import AdminScope
from workflow.web import routes_admin_files, views
from workflow.web.context import Req, form_fields, get_req
from workflow.web.i18n import CSRF_FAILED

router = APIRouter(prefix="/admin")
STATE_COLUMNS = [s.value for s in (*PHASE_ORDER, State.FINALISED, State.CANCELLED)]
SESSIONS_ENDED = catalog.NP_("%(num)s session of %(person)s ended",
                            "%(num)s sessions of %(person)s ended")
# Why an evaluation stayed with the supervisor (records.LEFT_OUT_WHY), said on the form.
LEFT_OUT = {
    "reviewee": catalog.N_("Left out: %(name)s, who is the person evaluated."),
    "peer": catalog.N_("Left out: %(name)s, on whom they give peer input (they would see the "
                       "other peers' answers)."),
    "subordinate": catalog.N_("Left out: %(name)s, their own supervisor."),
}
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def scope(req: Req) -> AdminScope:
    """The signed-in admin's scope: every admin page asks it first (NotPermitted for
    someone who administers nothing, or whose agencies have no cycle yet)."""
    person = req.require_person()
    found = admin_scope.require_admin(req.svc, person.id)
    if not found.cycles:
        raise NotPermitted(0, person.id, "admin", "no cycle of theirs is open yet")
    return found


def dashboard(req: Req, *, message: str | None = None, errors: Mapping[str, str] | None = None,
              values: Mapping[str, str] | None = None, status: int = 200) -> HTMLResponse:
    mine = scope(req)
    cycles = mine.cycles
    statuses = [queries.status(req.svc, cycle_id, now=req.now(),
                               units=mine.units_of(cycle_id)).cycles[0]
                for cycle_id, _name in cycles]
    # The outbox of every cycle; an admin of some agencies sees their agencies' mail only,
    # an admin of cycles only the mail of their cycles' units (mail_units).
    overall = queries.status(req.svc, cycles[0][0], now=req.now(), units=mine.mail_units)
    query = req.request.query_params.get("q", "").strip()[:100]
    found = {cycle_id: pages.find_evaluations(req.svc, cycle_id, query,
                                              units=mine.units_of(cycle_id))
             for cycle_id, _ in cycles} if query else {}
    return req.render("admin.html", status=status, states=STATE_COLUMNS, statuses=statuses,
                      outbox=overall.outbox,
                      dead=overall.dead_letters, query=query, found=found, message=message,
                      errors=errors or {}, values=values or {})


@router.get("", response_class=HTMLResponse)
def admin_home(req: ReqDep) -> Response:
    return dashboard(req)


@router.get("/cycle/{cycle_id}/report", response_class=HTMLResponse)
def admin_report(cycle_id: str, req: ReqDep) -> Response:
    """The cycle's report with its charts and fairness signals, as `kpi report` writes it
    to HTML. Its own page: at national scale the figures take a while to gather."""
    # Refused as the cycle's exports and downloads are, by the same check: someone who
    # administers nothing, a cycle not theirs (naming the agencies in it), one that
    # takes in another agency (naming its units there: the report covers the whole
    # cycle); an unknown cycle is not found.
    req.require_person()
    name, fragment, kept = admin_exports.report_fragment(
        req.svc, req.require_person().id, cycle_id, req.locale, now=req.now())
    # The fragment comes from our own report templates, autoescaped there; it is kept
    # for the cycle's state (``report_cache``), gathered again only after a change (in
    # the background for a large cycle: the page says since when).
    return req.render("admin_report.html", cycle_id=cycle_id, cycle_name=name,
                      report=None if fragment is None else Markup(fragment),
                      preparing=None if fragment is not None else kept)


def evaluation_page(req: Req, evaluation_id: int, *, message: str | None = None,
                    errors: Mapping[str, str] | None = None,
                    values: Mapping[str, str] | None = None, op: str = "",
                    status: int = 200) -> HTMLResponse:
    admin_scope.require_evaluation(req.svc, scope(req), evaluation_id)
    file = pages.evaluation_file(req.svc, evaluation_id)
    return req.render("admin_evaluation.html", status=status, file=file, message=message,
                      errors=errors or {}, values=values or {}, op=op,
                      **routes_admin_files.file_context(req, evaluation_id, file))


@router.get("/e/{evaluation_id}", response_class=HTMLResponse)
def admin_evaluation(evaluation_id: int, req: ReqDep) -> Response:
    return evaluation_page(req, evaluation_id)


def _instant(text: str, tz: str, field: str) -> tuple[datetime | None, dict[str, str]]:
    """A local date and time as the form sends it (``2026-05-10T17:00``) or as HR types
    it (``10/05/2026 17:00``; a date alone is 17:00): the bulk actions' parser, so that
    31/04/2026 is refused in the same words on every admin page. None with what is
    wrong, or the instant with no problems."""
    try:
        return bulk_actions.parse_local(text, tz, field), {}
    except SubmissionInvalid as exc:
        return None, dict(exc.fields)


@router.post("/e/{evaluation_id}", response_class=HTMLResponse)
def admin_act(evaluation_id: int, req: ReqDep, fields: FormDep) -> Response:
    person = req.require_person()
    op = fields.get("op", "")
    values = {k: v for k, v in fields.items() if k != "csrf_token"}
    if not req.csrf_ok(fields):
        return evaluation_page(req, evaluation_id, errors={"_form": req.gettext(CSRF_FAILED)},
                               values=values, op=op, status=403)
    mine = scope(req)  # before any page (the confirmation step too)
    admin_scope.require_evaluation(req.svc, mine, evaluation_id)
    file = pages.evaluation_file(req.svc, evaluation_id)
    now = req.now()
    reason = fields.get(f"{op}_reason", "")
    try:
        if op == "extend":
            until, problems = _instant(fields.get("new_due", ""), file.timezone, "new_due")
            if until is None:
                raise SubmissionInvalid(evaluation_id, problems)
            records.extend(req.svc, evaluation_id, until, reason,
                           fields.get("approved_by", ""), person.id, now=now)
            done = req.gettext("The deadline was extended.")
        elif op == "reassign_supervisor":
            admin_scope.require_people(req.svc, mine, [fields.get("new_supervisor", "").strip()])
            records.reassign_supervisor(req.svc, evaluation_id,
                                        fields.get("new_supervisor", "").strip(), reason,
                                        person.id, now=now)
            done = req.gettext("The supervisor was reassigned.")
        elif op == "reassign_peer":
            admin_scope.require_people(req.svc, mine, [fields.get("new_peer", "").strip()])
            records.reassign_peer(req.svc, evaluation_id, fields.get("old_peer", ""),
                                  fields.get("new_peer", "").strip(), reason, person.id, now=now)
            done = req.gettext("The peer was replaced.")
        elif op == "cancel":  # the confirmation step first: cancelling cannot be undone
            if not reason.strip():
                raise SubmissionInvalid(evaluation_id, {"reason": Problem(
                    N_("a reason is required"), english="cancel needs a reason")})
            return views.confirm(req, "confirm_cancel.html", f"/admin/e/{evaluation_id}",
                                 confirm_op="confirm_cancel", danger=True,
                                 carry={"cancel_reason": reason},
                                 check=[(req.gettext("Reason"), reason)],
                                 name=file.reviewee.full_name)
        elif op == "confirm_cancel":
            reason = fields.get("cancel_reason", "")
            transition.fire(req.svc, evaluation_id, Trigger.CANCEL, person.id, None, reason,
                            now=now)
            done = req.gettext("The evaluation was cancelled.")
        elif op == "reopen":
            transition.fire(req.svc, evaluation_id, Trigger.REOPEN, person.id, None, reason,
                            now=now)
            done = req.gettext("The evaluation was reopened for scoring.")
        elif op == "resend":
            resend.resend_task(req.svc, evaluation_id, person.id, now=now)
            done = req.gettext("The task email was sent again.")
        else:
            return evaluation_page(req, evaluation_id, status=422, values=values, op=op,
                                   errors={"_form": req.gettext(
                                       "This action is not known; nothing was done.")})
    except SubmissionInvalid as exc:
        op = op.removeprefix("confirm_")  # the form the problem belongs to
        # The engine names its own fields; the form's inputs are named after the action.
        form_names = {"reason": f"{op}_reason", "new_due_at": "new_due", "peer": "new_peer",
                      "supervisor": "new_supervisor"}
        problems = {form_names.get(k, k): v for k, v in exc.fields.items()}
        return evaluation_page(req, evaluation_id, errors=problems, values=values, op=op,
                               status=422)
    except NotPermitted:
        raise
    except PersonNotFound as exc:
        field = {"reassign_supervisor": "new_supervisor", "reassign_peer": "new_peer"}.get(
            op, "_form")
        return evaluation_page(req, evaluation_id, values=values, op=op, status=409,
                               errors={field: req.error_text(exc)})
    except WorkflowError as exc:
        return evaluation_page(req, evaluation_id, values=values, op=op, status=409,
                               errors={"_form": req.error_text(exc)})
    return evaluation_page(req, evaluation_id, message=done)


@router.post("/cycle/{cycle_id}/delegate", response_class=HTMLResponse)
def admin_delegate(cycle_id: str, req: ReqDep, fields: FormDep) -> Response:
    person = req.require_person()
    mine = scope(req)
    admin_scope.require_cycle(mine, cycle_id)
    # The dashboard shows one delegate form per cycle, its fields named "<cycle>.supervisor"
    # etc. so that ids stay unique on the page; the bare names are accepted too (scripts).
    fields = {k.removeprefix(f"{cycle_id}."): v for k, v in fields.items()}
    values = {f"{cycle_id}.{k}": v for k, v in fields.items() if k != "csrf_token"}
    if not req.csrf_ok(fields):
        return dashboard(req, errors={"_form": req.gettext(CSRF_FAILED)}, values=values,
                         status=403)
    tz = lookups.cycle_rules(req.svc, cycle_id).tz_name
    until, problems = _instant(fields.get("until", ""), tz, "until")
    # Both named people must be in reach, whoever the admin is (an admin of a whole
    # cycle only reaches its people): NotPermitted is the 403 page, like a link.
    named = [fields.get("supervisor", "").strip(), fields.get("acting", "").strip()]
    try:
        admin_scope.require_people(req.svc, mine, named)
    except PersonNotFound as exc:
        return dashboard(req, errors={"_form": req.error_text(exc)}, values=values,
                         status=409)
    try:
        if until is None:
            raise SubmissionInvalid(None, problems)
        report = records.delegate_report(
            req.svc, cycle_id, fields.get("supervisor", "").strip(),
            fields.get("acting", "").strip(), until,
            fields.get("reason", ""), person.id, now=req.now())
    except SubmissionInvalid as exc:
        return dashboard(req, errors={f"{cycle_id}.{k}": v for k, v in exc.fields.items()},
                         values=values, status=422)
    except PersonNotFound as exc:
        return dashboard(req, errors={"_form": req.error_text(exc)}, values=values, status=409)
    except WorkflowError as exc:
        return dashboard(req, errors={"_form": req.error_text(exc)},
                         values=values, status=409)
    n = report.delegated
    message = req.ngettext(
        "Scoring delegated: %(num)s evaluation.", "Scoring delegated: %(num)s evaluations.", n)
    if report.left_out:
        names = pages.names_of(req.svc, [r for _i, r, _w in report.left_out])
        message += " " + " ".join(
            catalog.gettext(req.locale, LEFT_OUT[why], name=names.get(r, r))
            for _i, r, why in report.left_out)
    return dashboard(req, message=message)


@router.post("/outbox/{outbox_id}/resend", response_class=HTMLResponse)
def admin_resend(outbox_id: int, req: ReqDep, fields: FormDep) -> Response:
    person = req.require_person()
    reach = scope(req)
    mine = [c for c, _name in reach.cycles]
    if not req.csrf_ok(fields):
        return dashboard(req, errors={"_form": req.gettext(CSRF_FAILED)}, status=403)
    admin_scope.require_outbox(req.svc, reach, outbox_id)
    try:
        resend.requeue_dead_letters(req.svc, [outbox_id], person.id, now=req.now(),
                                    cycles=mine)
    except WorkflowError as exc:
        return dashboard(req, errors={"_form": req.error_text(exc)},
                         status=409)
    return dashboard(req, message=req.gettext(
        "Email %(id)s queued to be sent again.", id=outbox_id))


@router.post("/sessions/revoke", response_class=HTMLResponse)
def admin_revoke_sessions(req: ReqDep, fields: FormDep) -> Response:
    """End every session of a person (issue 14: a person's sessions can be revoked)."""
    person = req.require_person()
    mine = scope(req)
    values = {k: v for k, v in fields.items() if k.startswith("revoke.")}
    if not req.csrf_ok(fields):
        return dashboard(req, errors={"_form": req.gettext(CSRF_FAILED)}, values=values,
                         status=403)
    target = fields.get("revoke.person", "").strip()
    if not target:
        return dashboard(req, errors={"revoke.person": Problem(N_("required"))},
                         values=values, status=422)
    try:
        admin_scope.require_people(req.svc, mine, [target])
        n = sessions.revoke_all(req.svc, target, person.id, fields.get("revoke.reason", ""),
                                now=req.now())
    except PersonNotFound as exc:
        return dashboard(req, errors={"revoke.person": req.error_text(exc)}, values=values,
                         status=409)
    return dashboard(req, message=catalog.ngettext(
        req.locale, *SESSIONS_ENDED, n, num=n, person=target))
