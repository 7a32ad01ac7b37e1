"""The glossary's name of each state, as people read it (never the state's id).

One table for every surface: the emails (``notifications.phrases``), the web
(``workflow.web.i18n``) and the reports (``workflow.reports.words``) say a state the
same way (``workflow/locale/glossary.md``).
"""

from __future__ import annotations

from collections.abc import Mapping

from workflow.catalog import N_
from workflow.domain import State

STATE_NAMES: Mapping[str, str] = {
    # L10N: the glossary's names of the steps (workflow/locale/glossary.md).
    State.SELF_ASSESSMENT: N_("Self-assessment"),
    State.PEER_INPUT: N_("Peer input"),
    State.SUPERVISOR_SCORING: N_("Supervisor scoring"),
    State.CALIBRATION: N_("Calibration"),
    State.APPEAL_WINDOW: N_("Appeal window"),
    State.APPEAL_REVIEW: N_("Appeal review"),
    State.FINALISED: N_("Finalised"),
    State.CANCELLED: N_("Cancelled"),
}
