"""Cycle calendars and series in the admin console (issue 18, items 2 and 3).

The cycle form edits a cycle file of ``config/cycles/`` key by key, checks it as
`kpi cycle check` does, shows its simulation as month grids and the emails by day,
saves it, and opens the cycle after a confirmation. The series page checks each
file of ``config/series/``, opens a period or schedules the periods for the sweep.
Every read and action goes through the service with the signed-in admin's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from babel.dates import format_date, get_day_names
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow import calendar, cycle_form, formatting
from workflow.catalog import N_
from workflow.errors import (
    ConfigFileError,
    ConfigFileErrors,
    KpiError,
    NotFound,
    NotPermitted,
    Problem,
)
from workflow.inputfile import CONFIG_CAP, MB
from workflow.service import cycle_editor
from workflow.service import series as series_admin
from workflow.web import views
from workflow.web.context import Req, form_fields, get_req
from workflow.web.i18n import CSRF_FAILED
from workflow.web.routes_admin_org import UploadDep

router = APIRouter(prefix="/admin")
ReqDep = Annotated[Req, Depends(get_req)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]
FORM = "/admin/cycles/form"
# A problem of the cycle check, said at its field: the key and the check's own words
# (those of `kpi cycle check`, in English: they name keys and values of the file).
CHECK_SAYS = N_("%(key)s: %(detail)s")
NOTE_SAYS = N_("Note on %(key)s: %(detail)s")
ONE_MORE = N_("%(first)s; %(then)s")
UPLOAD_PATH = "/admin/series/upload"
SERIES_CAP = CONFIG_CAP  # what `kpi cycle series check` reads at most
SERIES_TOO_BIG = N_("The file is larger than %(cap)s MB; nothing was read. A series file is a "
                    "few kilobytes of YAML: check that it is the right file.")
NO_SERIES_FILE = N_("Choose the series file (YAML) to upload.")
SERIES_NOT_KEPT = N_("%(name)s was not kept: correct what is listed below and upload it again.")


REASONS = {
    "weekend": N_("weekend"),
    "day off (cycle calendar)": N_("the agency's own day off"),
    "working day (cycle calendar)": N_("worked (the agency's calendar)"),
    "swapped working day": N_("swapped working day"),
}


def _cal(req: Req) -> dict[str, Any]:
    """Dates of the calendar pages, the locale's way."""
    locale = req.locale
    days = get_day_names("abbreviated", locale=locale)

    def reason(text: str | None) -> str:
        known = REASONS.get(text or "")
        # A public holiday by the package's name for it in the page's language.
        return req.gettext(known) if known else calendar.holiday_name(text or "", locale)

    return {
        "short": lambda instant, tz: formatting.short_time(instant, tz, locale),
        "day": lambda value, tz: formatting.day(value, tz, locale),
        "numeric": lambda value: formatting.numeric_date(value, locale),
        "month": lambda first: format_date(first, "LLLL yyyy", locale=locale),
        "weekdays": [days[i] for i in range(7)],
        "reason": reason,
    }


def _admin(req: Req) -> str:
    """The signed-in admin who may configure cycles (NotPermitted: the 403 page); what
    they may configure is narrowed by the service (their agencies)."""
    return cycle_editor.configurer(req.svc, req.require_person().id).admin_id


@router.get("/cycles", response_class=HTMLResponse)
def cycles_home(req: ReqDep) -> Response:
    files = cycle_editor.cycle_files(req.svc, _admin(req))
    return req.render("admin_cycles.html", files=files, cal=_cal(req))


@router.get("/cycles/new", response_class=HTMLResponse)
def cycle_new(req: ReqDep, copy: str = "") -> Response:
    """A new cycle: from the defaults, or a copy of a file (under a new id)."""
    admin = _admin(req)
    if copy:
        data = cycle_editor.file_data(req.svc, admin, copy)
        data = {**data, "id": "", "name": data.get("name", "")}
    else:
        data = cycle_form.new_cycle_data()
    return _form(req, cycle_form.to_form(data), editing="")


@router.get("/cycles/edit/{name}", response_class=HTMLResponse)
def cycle_edit(name: str, req: ReqDep) -> Response:
    data = cycle_editor.file_data(req.svc, _admin(req), name)
    return _form(req, cycle_form.to_form(data), editing=name)


@router.get("/cycles/file/{name}")
def cycle_download(name: str, req: ReqDep) -> Response:
    text = cycle_editor.file_text(req.svc, _admin(req), name)
    return Response(text, media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _form(req: Req, values: Mapping[str, str], *, editing: str, status: int = 200,
          errors: Mapping[str, str] | None = None, notes: Mapping[str, str] | None = None,
          checked: cycle_editor.CycleCheck | None = None, saved: str = "",
          message: str | None = None) -> Response:
    rows = {prefix: cycle_form.row_count(values, prefix) for prefix in cycle_form.ROWS}
    return req.render("admin_cycle_form.html", status=status, values=values, rows=rows,
                      editing=editing, errors=errors or {}, notes=notes or {},
                      checked=checked, saved=saved, message=message, phases=cycle_form.PHASES,
                      appeal_phases=cycle_form.APPEAL_PHASES, escalate_to=cycle_form.ESCALATE_TO,
                      lang_form="cycle-form", cal=_cal(req))


@router.post("/cycles/form", response_class=HTMLResponse)
def cycle_post(req: ReqDep, fields: FormDep) -> Response:
    admin = _admin(req)
    op = fields.get("op", "check")
    editing = fields.get("editing", "")
    if editing and not cycle_editor.FILE_NAME.match(editing):
        raise NotFound(f"{editing!r} is not the name of a cycle file")
    values = {k: v for k, v in fields.items() if k not in ("csrf_token", "op", "lang")}
    if not req.csrf_ok(fields):
        return _form(req, values, editing=editing, status=403,
                     errors={"_form": req.gettext(CSRF_FAILED)})
    if req.switch_locale(fields):
        return _form(req, values, editing=editing)
    if op.startswith("add:"):
        return _form(req, cycle_form.add_row(values, op.removeprefix("add:")), editing=editing)
    if op == "confirm_open":
        return _open(req, admin, fields.get("file", ""), values, editing)
    parsed = cycle_form.from_form(values)
    if parsed.problems:
        return _form(req, values, editing=editing, status=422, errors=dict(parsed.problems))
    now = req.now()
    try:
        if op in {"save", "open"}:
            name, checked = cycle_editor.save(req.svc, admin, parsed.data,
                                              editing=editing or None, opened_at=now,
                                              locale=req.locale)
        else:
            name, checked = "", cycle_editor.check(req.svc, admin, parsed.data,
                                                   editing=editing or None, opened_at=now,
                                                   locale=req.locale)
    except cycle_editor.OutsideTheirAgencies as exc:
        # Refused as a link would be (403), with the form as typed and the agency named
        # at the population.
        return _form(req, values, editing=editing, status=403,
                     errors={parsed.field_for("population.units"): req.error_text(exc)})
    errors = _placed(parsed, checked.problems, CHECK_SAYS)
    notes = _placed(parsed, checked.notes, NOTE_SAYS)
    if errors:
        return _form(req, values, editing=editing, status=422, errors=errors, notes=notes)
    if op == "open" and checked.can_open:
        return views.confirm(req, "admin_cycle_confirm_open.html", FORM,
                             confirm_op="confirm_open", carry={"file": name, "editing": name},
                             back_href=f"/admin/cycles/edit/{name}", checked=checked,
                             cal=_cal(req))
    message = req.gettext("The cycle file %(file)s was saved.", file=name) if name else None
    return _form(req, values, editing=name or editing, notes=notes, checked=checked,
                 saved=name, message=message)


def _placed(parsed: cycle_form.Parsed, found: list[tuple[str, str]], say: str
            ) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, detail in found:
        name = parsed.field_for(key) if key else "_form"
        problem = Problem(say, key=key or "-", detail=detail)
        # Several problems at one field are said one after the other, each in the page's
        # language (a detail is a catalogue message, or the check's plain words).
        out[name] = problem if name not in out else Problem(ONE_MORE, first=out[name],
                                                            then=problem)
    return out


def _open(req: Req, admin: str, name: str, values: dict[str, str], editing: str) -> Response:
    try:
        report = cycle_editor.open_file(req.svc, admin, name, now=req.now())
    except (ConfigFileError, ConfigFileErrors, KpiError) as exc:
        data = cycle_editor.file_data(req.svc, admin, name) if name else {}
        return _form(req, cycle_form.to_form(data) if data else values, editing=editing,
                     status=409, errors={"_form": _refusal(req, exc)})
    return req.render("admin_cycle_opened.html", report=report, cal=_cal(req))


def _refusal(req: Req, exc: KpiError) -> str:
    """Why a file could not be opened, in the page's language: a file's problems each at
    its line and key (as the check prints them), an engine error by its class."""
    if isinstance(exc, ConfigFileError):
        return series_admin.said(exc)
    if isinstance(exc, ConfigFileErrors):
        said: str = series_admin.said(exc.errors[0])
        for e in exc.errors[1:]:
            said = Problem(ONE_MORE, first=said, then=series_admin.said(e))
        return said
    return req.error_text(exc)


# --- series -------------------------------------------------------------------------


@router.get("/series", response_class=HTMLResponse)
def series_home(req: ReqDep) -> Response:
    return _series(req)


def _series(req: Req, *, message: str | None = None, errors: Mapping[str, Any] | None = None,
            status: int = 200, uploaded: series_admin.Uploaded | None = None) -> Response:
    found = series_admin.series_files(req.svc, _admin(req))
    return req.render("admin_series.html", status=status, found=found, message=message,
                      errors=errors or {}, uploaded=uploaded, cal=_cal(req))


@router.post(UPLOAD_PATH.removeprefix("/admin"), response_class=HTMLResponse)
def series_upload(req: ReqDep, upload: UploadDep) -> Response:
    """A series file from the admin's computer: checked as `kpi cycle series check`
    checks one, kept in config/series/ only when it has no problem."""
    admin = _admin(req)
    if upload.too_big:
        return _series(req, status=413, errors={"series_file": Problem(
            SERIES_TOO_BIG, cap=SERIES_CAP // MB)})
    if not req.csrf_ok(upload.fields):
        return _series(req, errors={"_form": req.gettext(CSRF_FAILED)}, status=403)
    if upload.raw is None or not upload.file_name:
        return _series(req, status=422, errors={"series_file": Problem(NO_SERIES_FILE)})
    done = series_admin.admin_upload(req.svc, admin, upload.file_name, upload.raw,
                                     replace=upload.fields.get("replace") == "1")
    if done.problems:
        return _series(req, status=422, uploaded=done,
                       errors={"series_file": Problem(SERIES_NOT_KEPT, name=done.name)})
    return _series(req, uploaded=done, message=req.gettext(
        "The series file %(name)s has no problem: it is kept in config/series/. Open its next "
        "period or let each period open on its date below.", name=done.name))


@router.post("/series", response_class=HTMLResponse)
def series_post(req: ReqDep, fields: FormDep) -> Response:
    admin = _admin(req)
    if not req.csrf_ok(fields):
        return _series(req, errors={"_form": req.gettext(CSRF_FAILED)}, status=403)
    op, name, period = fields.get("op", ""), fields.get("file", ""), fields.get("period", "")
    try:
        if op in {"open", "schedule"}:  # each asks first, on a page of its own
            series_admin.require_series_file(req.svc, admin, name)
            return views.confirm(req, "admin_series_confirm.html", "/admin/series",
                                 confirm_op=f"confirm_{op}",
                                 carry={"file": name, "period": period},
                                 back_href="/admin/series", period=period, file_name=name,
                                 scheduling=op == "schedule", cal=_cal(req))
        if op == "confirm_open":
            report = series_admin.admin_open_period(req.svc, admin, name, period, now=req.now())
            return _series(req, message=req.ngettext(
                "Cycle %(cycle)s is open: %(num)s evaluation.",
                "Cycle %(cycle)s is open: %(num)s evaluations.", report.evaluations,
                cycle=report.cycle_id))
        if op == "confirm_schedule":
            done = series_admin.admin_schedule(req.svc, admin, name, now=req.now())
            return _series(req, message=req.ngettext(
                "%(num)s period will open on its date.", "%(num)s periods will open on their "
                "dates.", len(done.scheduled)))
    except (ConfigFileError, ConfigFileErrors, KpiError) as exc:
        if isinstance(exc, NotFound | NotPermitted):
            raise
        return _series(req, status=409, errors={"_form": _refusal(req, exc)})
    return _series(req, status=422, errors={"_form": req.gettext(
        "This action is not known; nothing was done.")})
