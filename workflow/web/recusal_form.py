"""The scoring form's conflict-of-interest declaration: the scorer steps aside and the
case goes to the next person up (``workflow.service.recusals.declare_conflict``)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import HTMLResponse

from workflow.catalog import N_
from workflow.errors import KpiError, SubmissionInvalid
from workflow.service import pages, recusals
from workflow.service.pages import EvaluationFile
from workflow.web import views
from workflow.web.context import Req

DECLARE_OP = "declare_conflict"
STEPPED_ASIDE = N_("You stepped aside from scoring %(name)s. %(taker)s scores them now and "
                   "has been sent the task; your reason is on the record.")


def declare(req: Req, file: EvaluationFile, person_id: str, fields: Mapping[str, str],
            post_to: str) -> HTMLResponse:
    """Record the declaration, or show the form again saying what is missing. A task
    link used for it dies with it: its holder no longer scores the evaluation."""
    values = views.form_values(fields)
    try:
        taker = recusals.declare_conflict(req.svc, file.id, person_id,
                                          fields.get("conflict_reason", ""), now=req.now())
    except SubmissionInvalid as exc:
        return views.score(req, file, post_to, person_id, values=values,
                           errors=dict(exc.fields), status=422)
    except KpiError as exc:
        return views.score(req, file, post_to, person_id, values=values,
                           errors={"_form": req.error_text(exc)}, status=409)
    names = pages.names_of(req.svc, [taker])
    return req.render("done.html", message=req.gettext(
        STEPPED_ASIDE, name=file.reviewee.full_name, taker=names.get(taker, taker)))
