"""The words the emails use for an evaluation's state: what the task is, what its button
says, and the step's name (the glossary's, ``workflow/locale/glossary.md``).

They are functions of the templates (``task_phrase``, ``action_label``, ``phase_name``;
names no fact of a context uses, since a context's names hide the globals), not Jinja
macros, for a reason: a macro file is compiled either escaping or not, and a phrase
that holds a name ("scoring <name>") must come out escaped in the HTML part and as
typed in the text part. These return plain ``str``, never markup: an HTML template
escapes the whole phrase where it prints it (the HTML injection of issue 14 came
from a text macro whose output an HTML template trusted). Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from workflow import catalog
from workflow.catalog import N_
from workflow.domain import State
from workflow.states.names import STATE_NAMES

# What the recipient is asked to do in each state; %(name)s is the reviewee.
TASKS: Mapping[str, str] = {
    # L10N: a task inside a sentence ("Reminder: %(task)s, due ..."); %(name)s is the
    # reviewee. Vietnamese: "việc ..." so that it reads as a noun phrase.
    State.SELF_ASSESSMENT: N_("your self-assessment"),
    State.PEER_INPUT: N_("your input on %(name)s's work"),
    State.SUPERVISOR_SCORING: N_("scoring %(name)s"),
    State.CALIBRATION: N_("the calibration of the quota"),
    State.APPEAL_WINDOW: N_("your answer to your result (accept or appeal)"),
    State.APPEAL_REVIEW: N_("reviewing %(name)s's appeal"),
}

# The button (or the line before the link) that opens the task's page.
ACTIONS: Mapping[str, str] = {
    State.SELF_ASSESSMENT: N_("Open my self-assessment"),
    State.PEER_INPUT: N_("Give my input"),
    State.SUPERVISOR_SCORING: N_("Score now"),
    State.CALIBRATION: N_("Open the calibration"),
    State.APPEAL_WINDOW: N_("See my result and answer"),
    State.APPEAL_REVIEW: N_("Review the appeal"),
}

# The glossary's name of each step, as people read it (never the state's id).
PHASES: Mapping[str, str] = STATE_NAMES


def known_state(state: object) -> bool:
    """Whether the emails have words for ``state`` (every state of the machine)."""
    return isinstance(state, str) and state in PHASES


@dataclass(frozen=True)
class Phrases:
    """The three phrase functions of one locale, as a template's globals."""

    locale: str

    def task(self, state: str, name: str | None = None) -> str:
        """What is to be done in ``state`` ('scoring Phạm Thị Lan'); plain text."""
        return catalog.gettext(self.locale, TASKS[state], name=name or "")

    def action(self, state: str) -> str:
        """The label of the link that opens the task's page."""
        return catalog.gettext(self.locale, ACTIONS[state])

    def phase(self, state: str) -> str:
        """The step's name, as the glossary words it."""
        return catalog.gettext(self.locale, PHASES[state])

    def globals(self) -> dict[str, Callable[..., str]]:
        return {"task_phrase": self.task, "action_label": self.action, "phase_name": self.phase}


def gettext_globals(locale: str) -> dict[str, Callable[..., str]]:
    """``_``, ``gettext`` and ``ngettext`` for the templates of ``locale``, meaning what
    ``jinja2.ext.i18n``'s new-style ones mean (the text is always a format string;
    in HTML the values put into it are escaped, the text itself is not), with one
    call where Jinja's make three: a result email says some thirty texts, and the
    dispatcher renders every email of a cycle."""
    translations = catalog.translations(locale)
    say, say_n = translations.ugettext, translations.ungettext

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, message: str, /, **values: Any) -> str:
        text = say(message)
        return (Markup(text) if eval_ctx.autoescape else text) % values

    @pass_eval_context
    def ngettext(eval_ctx: EvalContext, singular: str, plural: str, count: int, /,
                 **values: Any) -> str:
        values.setdefault("num", count)
        text = say_n(singular, plural, count)
        return (Markup(text) if eval_ctx.autoescape else text) % values

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
