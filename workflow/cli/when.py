"""Instants as operators read them in the terminal (light: no calendar, no Babel)."""

from __future__ import annotations

from datetime import datetime

from workflow.calendar import zone


def local(instant: datetime | None, tz: str) -> str:
    """An instant as the weekday, date and time in ``tz``; "-" for none."""
    if instant is None:
        return "-"
    return instant.astimezone(zone(tz)).strftime("%a %Y-%m-%d %H:%M")
