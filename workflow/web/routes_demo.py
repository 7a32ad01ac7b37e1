"""Demo-only pages: the caught emails, and the control that jumps the demo's clock to the
next deadline. Mounted only when ``create_app`` is given ``demo`` hooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow.errors import NotFound
from workflow.web.context import Req, form_fields, get_req

router = APIRouter(prefix="/demo")
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _hooks(req: Req) -> object:
    if req.web.demo is None:
        raise NotFound("the demo pages exist only in `kpi demo`")
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
                          message=req.t("csrf_failed"))
    moved = req.web.demo.jump()
    if moved is None:
        message = req.t("demo_next_none")
    else:
        when, summary = moved
        req._now = None  # the page shows the new demo time
        message = req.t("demo_jumped", when=req.when(when), summary=summary)
    return req.render("demo_mail.html", mails=req.web.demo.mails(), message=message)
