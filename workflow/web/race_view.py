"""The page a race's loser gets (workflow/service/race.py): another submission of the
same step was recorded first, by whom and when as far as the reader may know, and
what was kept; status 409, nothing of theirs stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import HTMLResponse

from workflow import catalog
from workflow.domain import SubmissionKind, Trigger
from workflow.service import pages
from workflow.service.race import FirstRecorded
from workflow.web import views
from workflow.web.context import Req, localized_score

# The free texts of each kind of submission, with their label.
TEXTS = (("comment", catalog.N_("Comment")), ("reasons", catalog.N_("Reasons")),
         ("reason", catalog.N_("Reason")))
ACCEPTED = catalog.N_("The result was accepted.")
APPEALED = catalog.N_("An appeal was lodged.")
REVISED = catalog.N_("The score was revised.")
UPHELD = catalog.N_("The score was upheld.")


def kept_lines(req: Req, kept: FirstRecorded) -> list[tuple[str, str]]:
    """What was kept, as lines of label and value in the reader's language."""
    file = pages.evaluation_file(req.svc, kept.evaluation_id)
    payload = kept.payload
    lines: list[tuple[str, str]] = []
    if kept.kind is SubmissionKind.ACCEPTANCE:
        lines.append((req.gettext("Decision"), req.gettext(ACCEPTED)))
    elif kept.kind is SubmissionKind.APPEAL:
        lines.append((req.gettext("Decision"), req.gettext(APPEALED)))
    elif kept.kind is SubmissionKind.APPEAL_DECISION:
        decided = REVISED if kept.decision == Trigger.REVISE_SCORE.value else UPHELD
        lines.append((req.gettext("Decision"), req.gettext(decided)))
    if kept.kind in (SubmissionKind.SUPERVISOR_SCORE, SubmissionKind.APPEAL_DECISION) \
            and kept.score is not None:
        label = file.regime.band(kept.class_id).label if kept.class_id else None
        shown = localized_score(kept.score, req.locale, file.regime) or "—"
        klass = (label.vi if req.locale == "vi" else label.en) if label else "—"
        lines.append((req.gettext("Score"), f"{shown} ({klass})"))
    revised = payload.get("score")  # a revision carries its score form inside
    scored: Mapping[str, Any] = revised if isinstance(revised, dict) else payload
    lines += views.self_assessment_check(req, file.framework, scored)
    for key, label_text in TEXTS:
        if payload.get(key):
            lines.append((req.gettext(label_text), str(payload[key])))
    return lines


def race_lost(req: Req, kept: FirstRecorded) -> HTMLResponse:
    """The loser's page: 409, what was recorded first and kept."""
    return req.render("race_lost.html", status=409, kept=kept, lines=kept_lines(req, kept))
