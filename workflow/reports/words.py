"""The glossary's words the reports show for the engine's ids (states, flags, pools).

The reports never print an id to people: a state, a flag or a quota pool is named
the way the glossary (``workflow/locale/glossary.md``) names it, in the report's
language, from the catalogue (``reports.po``).
"""

from __future__ import annotations

from collections.abc import Mapping

from workflow import catalog
from workflow.catalog import N_
from workflow.scoring.explain import pool_name
from workflow.states.names import STATE_NAMES

STATES: Mapping[str, str] = STATE_NAMES
FLAGS = {
    "self_assessment_missing": N_("Self-assessment missing"),
    "peer_quorum_not_reached": N_("Too few peer answers (withheld)"),
    "escalated": N_("Escalated"),
    "extended": N_("Deadline extended"),
    "reopened": N_("Reopened"),
}
ROLES = {
    "reviewee": N_("reviewee"),
    "peer": N_("peer"),
    "supervisor": N_("supervisor"),
    "acting_supervisor": N_("acting supervisor"),
    "escalation_supervisor": N_("the supervisor's supervisor"),
    "calibrator": N_("calibrator"),
    "appeal_reviewer": N_("appeal reviewer"),
    "admin": N_("administrator"),
    "system": N_("the system"),
}
# What an audit row records, in the glossary's words for the actions.
ACTIONS = {
    "open": N_("opened"),
    "open_cycle": N_("cycle opened"),
    "submit_self_assessment": N_("self-assessment submitted"),
    "self_assessment_missed": N_("self-assessment deadline passed"),
    "submit_peer_input": N_("peer input submitted"),
    "peer_input_closed": N_("peer input closed"),
    "submit_score": N_("score submitted"),
    "approve_calibration": N_("calibration approved"),
    "approve_calibration_pools": N_("calibration approved"),
    "move_class": N_("class moved by calibration"),
    "accept_result": N_("result accepted"),
    "lodge_appeal": N_("appeal lodged"),
    "appeal_window_closed": N_("appeal window closed: accepted"),
    "uphold_score": N_("result upheld"),
    "revise_score": N_("score revised"),
    "cancel": N_("cancelled"),
    "reopen": N_("reopened"),
    "extend": N_("deadline extended"),
    "reassign": N_("reassigned"),
    "delegate": N_("delegated"),
    "escalate": N_("escalated"),
    "recompute_unit_results": N_("unit results recomputed"),
    "import_periods": N_("period scores imported"),
    "org_import": N_("organisation imported"),
    "resend_dead_letter": N_("email sent again"),
    "resend_task": N_("task email sent again"),
}


def state(state_id: str, locale: str) -> str:
    """A state's name in ``locale`` (the glossary's word)."""
    return catalog.gettext(locale, STATES[state_id]) if state_id in STATES else state_id


def flag(flag_id: str, locale: str) -> str:
    return catalog.gettext(locale, FLAGS[flag_id]) if flag_id in FLAGS else \
        flag_id.replace("_", " ")


def role(role_id: str, locale: str) -> str:
    return catalog.gettext(locale, ROLES[role_id]) if role_id in ROLES else role_id


def action(trigger: str, locale: str) -> str:
    """What an audit row records (its trigger), as the glossary says it."""
    return catalog.gettext(locale, ACTIONS[trigger]) if trigger in ACTIONS else \
        trigger.replace("_", " ")


def pool(pool_key: str, locale: str) -> str:
    """A quota pool ("agency", "task_group:A") as people say it: "the agency", "task group A"."""
    names = pool_name(pool_key)
    return names.get(locale, names["en"])
