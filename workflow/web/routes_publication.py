"""The publication of a unit's results: ``/t/{token}`` with a publication link shows
the page, ``/t/{token}/results.csv`` the same list as a file.

The link is the reviewee's own (from their result email); it names their evaluation,
and so their unit: there is no unit in the address to change. A member moved to
another unit, or gone, is refused (``access`` checks it with every link).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from workflow.service import access, lookups, publication
from workflow.service.access import Grant
from workflow.service.notices import PUBLICATION_ACTION
from workflow.web.context import Req, get_req

router = APIRouter()
ReqDep = Annotated[Req, Depends(get_req)]


def page(req: Req, grant: Grant, post_to: str) -> HTMLResponse:
    """The unit's published results, for the holder of a publication link."""
    assert grant.evaluation_id is not None
    pub = publication.publication_of_evaluation(req.svc, grant.evaluation_id)
    regime = lookups.cycle_rules(req.svc, pub.cycle_id).regime
    return req.render("publication.html", pub=pub, regime=regime,
                      csv_url=f"{post_to}/results.csv")


@router.get("/t/{token}/results.csv")
def results_csv(token: str, req: ReqDep) -> Response:
    grant = access.resolve(req.svc, token, now=req.now())
    req.acting = grant.person
    if grant.action != PUBLICATION_ACTION or grant.evaluation_id is None:
        raise access.LinkMismatch()
    pub = publication.publication_of_evaluation(req.svc, grant.evaluation_id)
    body = publication.publication_csv(pub, req.locale)
    name = f"{pub.cycle_id}-{pub.unit_id}.csv"
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
