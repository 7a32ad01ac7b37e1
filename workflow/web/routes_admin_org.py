"""The admin console's organisation and bulk pages (issue 18 items 1 and 6).

/admin/org: upload the organisation file (CSV or XLSX), read what it would change and
every bad row with its line, then apply it all or nothing after a confirmation. The
file is kept on the server between the preview and the confirmation
(workflow/service/org_uploads.py): the confirmation form carries only a token, and
applies exactly the bytes previewed, against the organisation previewed.

/admin/bulk: extend a phase, send task emails again, move a departing supervisor's
evaluations: a dry run lists what would change, the confirmation runs it item by item
and shows each result (workflow/service/bulk_actions.py). Both pages see only what the
admin's scope reaches (workflow/service/admin_scope.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from workflow.catalog import N_
from workflow.errors import (
    OrgChangedSincePreview,
    OrgImportError,
    Problem,
    StagedFileGone,
    SubmissionInvalid,
)
from workflow.inputfile import MB
from workflow.service import admin_scope, bulk_actions, org_uploads
from workflow.service.admin_scope import AdminScope
from workflow.service.org import REQUIRED_COLUMNS, OrgPreview
from workflow.web.context import Req, form_fields, get_req
from workflow.web.i18n import CSRF_FAILED
from workflow.web.routes_admin import scope
from workflow.web.security import BodyTooLarge

router = APIRouter(prefix="/admin")
PREVIEW_PATH = "/admin/org/preview"
# A province's organisation (tens of thousands of people, ~150 bytes a row) fits well
# under this; the whole country's is for `kpi org import`.
UPLOAD_CAP = 20 * MB
SHOWN = 300  # people listed per part of a preview; the counts say how many in all
TOO_BIG = N_("The file is larger than %(cap)s MB; nothing was read. Check that it is the "
             "organisation file, or import it with `kpi org import` on the server.")
NO_FILE = N_("Choose the organisation file (CSV or XLSX) to upload.")
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    file_name: str = ""
    raw: bytes | None = None
    too_big: bool = False


async def upload_fields(request: Request) -> Upload:
    """The posted form with its one file, read within UPLOAD_CAP (BodyLimit stops it)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > UPLOAD_CAP):
        return Upload(too_big=True)
    try:
        form = await request.form(max_files=1, max_fields=20)
    except BodyTooLarge:
        return Upload(too_big=True)
    out = Upload()
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                out.file_name = (value.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
                out.file_name = out.file_name[:200]
                out.raw = await value.read()
            else:
                out.fields[key] = value
    finally:
        await form.close()  # the spooled temporary file of the upload
    return out


UploadDep = Annotated[Upload, Depends(upload_fields)]


def _page(req: Req, *, status: int = 200, preview: OrgPreview | None = None, token: str = "",
          problems: list[tuple[int, str]] | None = None, file_name: str = "",
          message: str | None = None, errors: dict[str, str] | None = None,
          done: dict[str, int] | None = None) -> HTMLResponse:
    return req.render("admin_org.html", status=status, preview=preview, token=token,
                      problems=problems or [], file_name=file_name, message=message,
                      errors=errors or {}, done=done, columns=REQUIRED_COLUMNS, shown=SHOWN,
                      values={})


def _importer(req: Req) -> str:
    """The signed-in admin allowed to import (NotPermitted: the 403 page)."""
    admin = scope(req)
    org_uploads.require_importer(req.svc, admin.admin_id)
    return admin.admin_id


@router.get("/org", response_class=HTMLResponse)
def org_page(req: ReqDep) -> Response:
    _importer(req)
    return _page(req)


@router.post("/org/preview", response_class=HTMLResponse)
def org_preview(req: ReqDep, upload: UploadDep) -> Response:
    admin_id = _importer(req)
    if upload.too_big:
        return _page(req, status=413, errors={"_form": Problem(TOO_BIG, cap=UPLOAD_CAP // MB)})
    if not req.csrf_ok(upload.fields):
        return _page(req, status=403, errors={"_form": req.gettext(CSRF_FAILED)})
    if upload.raw is None or not upload.file_name:
        return _page(req, status=422, errors={"organisation": Problem(NO_FILE)})
    try:
        staged = org_uploads.stage(req.svc, session_id=req.session_id, admin_id=admin_id,
                                   file_name=upload.file_name, raw=upload.raw, now=req.now())
    except OrgImportError as exc:
        return _page(req, status=422, problems=exc.problems, file_name=upload.file_name)
    return _page(req, preview=staged.preview, token=staged.token, file_name=upload.file_name)


@router.post("/org/apply", response_class=HTMLResponse)
def org_apply(req: ReqDep, fields: FormDep) -> Response:
    admin_id = _importer(req)
    if not req.csrf_ok(fields):
        return _page(req, status=403, errors={"_form": req.gettext(CSRF_FAILED)})
    token = fields.get("upload", "")
    try:
        file_name, report = org_uploads.confirm(req.svc, token, session_id=req.session_id,
                                                admin_id=admin_id, now=req.now())
    except StagedFileGone as exc:
        return _page(req, status=409, errors={"_form": req.error_text(exc)})
    except OrgChangedSincePreview as exc:
        message = req.error_text(exc)
        try:
            preview = org_uploads.restage(req.svc, token, session_id=req.session_id,
                                          admin_id=admin_id, now=req.now())
        except OrgImportError as bad:
            return _page(req, status=409, problems=bad.problems, file_name=bad.path,
                         errors={"_form": message})
        return _page(req, status=409, preview=preview, token=token,
                     file_name=preview.file_name, errors={"_form": message})
    except OrgImportError as exc:  # the organisation changed so that the file no longer fits
        return _page(req, status=409, problems=exc.problems, file_name=exc.path)
    return _page(req, file_name=file_name, done={
        "added": len(report.added), "changed": len(report.changed),
        "unchanged": len(report.unchanged)})


# --- bulk actions ------------------------------------------------------------------

BULK_FIELDS = {
    bulk_actions.EXTEND: ("cycle", "phase", "unit", "new_due", "reason", "approved_by"),
    bulk_actions.RESEND: ("cycle", "unit"),
    bulk_actions.REASSIGN: ("cycle", "departing", "new_supervisor", "reason"),
}
UNKNOWN_ACTION = N_("This action is not known; nothing was done.")


def _bulk_page(req: Req, admin: AdminScope, *, status: int = 200, op: str = "",
               values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
               plan: bulk_actions.BulkPlan | None = None,
               run: bulk_actions.BulkRun | None = None) -> HTMLResponse:
    return req.render("admin_bulk.html", status=status, op=op, values=values or {},
                      errors=errors or {}, plan=plan, run=run, cycles=admin.cycles,
                      phases=[p.value for p in bulk_actions.EXTENDABLE],
                      carried=_carried(op, values or {}) if plan else {},
                      max_items=bulk_actions.MAX_ITEMS)


def _carried(op: str, values: Mapping[str, str]) -> dict[str, str]:
    """The preview's parameters, posted again with the confirmation (and checked again)."""
    return {f"{op}.{k}": values.get(f"{op}.{k}", "") for k in BULK_FIELDS.get(op, ())}


def _plan(req: Req, admin: AdminScope, op: str, fields: Mapping[str, str]
          ) -> bulk_actions.BulkPlan:
    def get(name: str) -> str:
        return fields.get(f"{op}.{name}", "").strip()

    cycle_id = get("cycle")
    if op == bulk_actions.EXTEND:
        return bulk_actions.plan_extend(req.svc, admin, cycle_id, get("phase"), get("new_due"),
                                        get("reason"), unit_id=get("unit"), now=req.now())
    if op == bulk_actions.RESEND:
        return bulk_actions.plan_resend(req.svc, admin, cycle_id, unit_id=get("unit"),
                                        now=req.now())
    return bulk_actions.plan_reassign(req.svc, admin, cycle_id, get("departing"),
                                      get("new_supervisor"), get("reason"), now=req.now())


def _bulk(req: Req, fields: Mapping[str, str], *, confirm: bool) -> Response:
    admin = scope(req)
    op = fields.get("op", "")
    values = {k: v for k, v in fields.items() if k not in ("csrf_token", "ids")}
    if not req.csrf_ok(fields):
        return _bulk_page(req, admin, status=403, op=op, values=values,
                          errors={"_form": req.gettext(CSRF_FAILED)})
    if op not in BULK_FIELDS:
        return _bulk_page(req, admin, status=422, values=values,
                          errors={"_form": req.gettext(UNKNOWN_ACTION)})
    cycle_id = fields.get(f"{op}.cycle", "").strip()
    if not cycle_id:
        return _bulk_page(req, admin, status=422, op=op, values=values,
                          errors={f"{op}.cycle": Problem(bulk_actions.REQUIRED)})
    admin_scope.require_cycle(admin, cycle_id)  # a cycle not theirs: the 403 page
    try:
        plan = _plan(req, admin, op, fields)
    except SubmissionInvalid as exc:
        errors = {k if k == "_form" else f"{op}.{k}": v for k, v in exc.fields.items()}
        return _bulk_page(req, admin, status=422, op=op, values=values, errors=errors)
    if not confirm:
        return _bulk_page(req, admin, op=op, values=values, plan=plan)
    ids = [int(i) for i in fields.get("ids", "").split(",") if i.strip().isdigit()]
    run = bulk_actions.apply(req.svc, admin, plan, ids, fields.get(f"{op}.reason", ""),
                             approved_by=fields.get(f"{op}.approved_by", "").strip(),
                             now=req.now())
    return _bulk_page(req, admin, op=op, values={}, run=run)


@router.get("/bulk", response_class=HTMLResponse)
def bulk_page(req: ReqDep) -> Response:
    return _bulk_page(req, scope(req))


@router.post("/bulk/preview", response_class=HTMLResponse)
def bulk_preview(req: ReqDep, fields: FormDep) -> Response:
    return _bulk(req, fields, confirm=False)


@router.post("/bulk/apply", response_class=HTMLResponse)
def bulk_apply(req: ReqDep, fields: FormDep) -> Response:
    return _bulk(req, fields, confirm=True)
