"""Demo-only pages: the caught emails, and the control that jumps the demo's clock to the
next deadline. Mounted only when ``create_app`` is given ``demo`` hooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow.errors import NotFound
from workflow.service.sweep import SweepReport
from workflow.web.context import Req, form_fields, get_req
from workflow.web.i18n import CSRF_FAILED

router = APIRouter(prefix="/demo")
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _hooks(req: Req) -> object:
    if req.web.demo is None:
        raise NotFound("the demo pages exist only in the demo")
    return req.web.demo


@router.get("/mail", response_class=HTMLResponse)
def mail_list(req: ReqDep) -> Response:
    _hooks(req)
    assert req.web.demo is not None
    return req.render("demo_mail.html", mails=req.web.demo.mails(), message=None)


@router.post("/clock/next", response_class=HTMLResponse)
def jump(req: ReqDep, fields: FormDep) -> Response:
    _hooks(req)
    assert req.web.demo is not None
    if not req.csrf_ok(fields):
        return req.render("demo_mail.html", status=403, mails=req.web.demo.mails(),
                          message=req.gettext(CSRF_FAILED))
    moved = req.web.demo.jump()
    if moved is None:
        message = req.gettext("No deadline is pending.")
    else:
        when, report = moved
        req._now = None  # the page shows the new demo time
        message = req.gettext("The clock moved to %(when)s. %(what)s", when=req.when(when),
                              what=jump_log(req, report))
    return req.render("demo_mail.html", mails=req.web.demo.mails(), message=message)


def jump_log(req: Req, report: SweepReport) -> str:
    """What the sweep did, as a sentence of the page's language."""
    parts = [
        req.ngettext("%(num)s deadline or reminder came due", "%(num)s deadlines or reminders "
                     "came due", sum(report.fired.values())),
        req.ngettext("%(num)s evaluation moved on", "%(num)s evaluations moved on",
                     sum(report.transitions.values())),
        req.ngettext("%(num)s escalation", "%(num)s escalations", report.escalations),
        req.ngettext("%(num)s email queued", "%(num)s emails queued", report.emails),
    ]
    return req.gettext("%(parts)s.", parts="; ".join(parts))
