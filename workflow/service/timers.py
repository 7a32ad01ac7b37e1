"""Deadline rows and the escalation ladder, for the service's modules.

They are pure and live in ``workflow.effects.rows`` (the one effects core that the
service, the sweep and the simulation share); this module keeps the old import path.
"""

from workflow.effects.rows import (
    assignee_of,
    escalation_role,
    escalation_targets,
    overdue_rows,
    person_zone,
    phase_timers,
    superseded_reminders,
    timer_row,
)

__all__ = ["assignee_of", "escalation_role", "escalation_targets", "overdue_rows",
           "person_zone", "phase_timers", "superseded_reminders", "timer_row"]
