"""Exports and records from the web (issue 18, item 4): a cycle's report as XLSX, CSV,
HTML or PDF, its decision lists, a person's record, the undeliverable emails.

Downloads stream from the kept exports (``workflow.service.report_cache``): the report
of a cycle is gathered once per state of the cycle, however often it is downloaded.
Every read goes through ``workflow.service.admin_exports`` with the signed-in admin's
id, which decides what they may see. All of it is read-only: plain links and a GET
form (nothing to protect from a forged request; the session cookie is SameSite=Lax).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from workflow.catalog import N_
from workflow.domain import SubmissionKind
from workflow.errors import PersonNotFound, Problem
from workflow.reports import words
from workflow.service import admin_exports, admin_scope, evaluation_file, pages
from workflow.service.admin_exports import Download, FormatNotOffered, PersonNotInScope
from workflow.web.context import Req, get_req

router = APIRouter(prefix="/admin")
ReqDep = Annotated[Req, Depends(get_req)]
MAX_ID = 64  # an employee id is at most 64 characters (the organisation's column)
SUBMISSION_KINDS = {
    SubmissionKind.SELF_ASSESSMENT.value: N_("self-assessment"),
    SubmissionKind.PEER_INPUT.value: N_("peer input"),
    SubmissionKind.SUPERVISOR_SCORE.value: N_("score"),
    SubmissionKind.APPEAL.value: N_("appeal"),
    SubmissionKind.APPEAL_DECISION.value: N_("appeal decision"),
    SubmissionKind.ACCEPTANCE.value: N_("result accepted"),
}


def file_context(req: Req, evaluation_id: int, file: pages.EvaluationFile) -> dict[str, Any]:
    """What the admin page of an evaluation adds to show its whole file (item 5): the
    file itself, read for the signed-in admin, and the words for its ids."""
    locale = req.locale
    return {
        "dossier": evaluation_file.admin_file(req.svc, req.require_person().id, evaluation_id,
                                              file),
        "audit_action": lambda trigger: words.action(str(trigger), locale),
        "audit_role": lambda role: words.role(str(role), locale),
        "submission_kind": lambda kind: req.gettext(SUBMISSION_KINDS[kind])
        if kind in SUBMISSION_KINDS else req.gettext(N_("other")),
    }


def stream(download: Download) -> StreamingResponse:
    """The file as an attachment, in pieces as they are read; never kept by a cache on
    the way (personal data)."""
    headers = {"Content-Disposition": download.content_disposition(),
               "Cache-Control": "no-store"}
    if download.size is not None:
        headers["Content-Length"] = str(download.size)
    return StreamingResponse(download.body, media_type=download.media_type, headers=headers)


def exports_page(req: Req, cycle_id: str, *, values: Mapping[str, str] | None = None,
                 errors: Mapping[str, str] | None = None, status: int = 200) -> HTMLResponse:
    person = req.require_person()
    page = admin_exports.exports_page(req.svc, person.id, cycle_id, req.locale,
                                      now=req.now())
    return req.render("admin_exports.html", status=status, page=page,
                      values=values or {"format": "pdf"}, errors=errors or {},
                      formats=admin_exports.RECORD_FORMATS)


@router.get("/cycle/{cycle_id}/exports", response_class=HTMLResponse)
def admin_exports_page(cycle_id: str, req: ReqDep) -> Response:
    return exports_page(req, cycle_id)


@router.get("/cycle/{cycle_id}/download/{artefact}")
def admin_cycle_download(cycle_id: str, artefact: str, req: ReqDep) -> Response:
    """``report.xlsx|csv|html|pdf``, ``list-not-completed|excellent|training.csv``,
    ``signals.csv``."""
    person = req.require_person()
    got = admin_exports.cycle_download(req.svc, person.id, cycle_id, artefact, req.locale,
                                       now=req.now())
    if isinstance(got, Download):
        return stream(got)
    # A large cycle's first build runs in the background: say so, and where to look.
    return req.render("admin_exports_preparing.html", status=202, cycle_id=cycle_id,
                      preparing=got)


@router.get("/cycle/{cycle_id}/record", response_class=HTMLResponse)
def admin_record(cycle_id: str, req: ReqDep, person: str = "", format: str = "pdf"
                 ) -> Response:
    """A person's record, asked for with the form of the exports page; a problem with
    what was typed comes back on that page, next to the field."""
    admin = req.require_person()
    wanted = person.strip()
    values = {"person": person[:200], "format": format[:10]}
    problem: str | None = None
    field = "person"
    status = 422
    if not wanted:
        problem = Problem(N_("required"))
    elif len(wanted) > MAX_ID:
        problem = Problem(N_("an employee id has at most %(max)s characters"), max=MAX_ID)
    if problem is None:
        try:
            return stream(admin_exports.record_download(req.svc, admin.id, wanted, format,
                                                        req.locale, now=req.now()))
        except (PersonNotFound, PersonNotInScope) as exc:
            problem = req.error_text(exc)
        except admin_scope.PersonOutsideScope as exc:  # beside the field, as a refusal
            problem, status = req.error_text(exc), 403
        except FormatNotOffered as exc:
            field, problem = "format", req.error_text(exc)
    return exports_page(req, cycle_id, values=values, errors={field: problem}, status=status)


@router.get("/dead-letters.csv")
def admin_dead_letters(req: ReqDep) -> Response:
    """The undeliverable emails of the admin's cycles, with the address that failed."""
    person = req.require_person()
    return stream(admin_exports.dead_letters_download(req.svc, person.id, req.locale))
