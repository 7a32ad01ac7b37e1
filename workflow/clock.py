"""The one place that reads the wall clock. Everything else takes ``now`` as an argument,
so tests and `kpi tick --now` can run any day of a cycle."""

from __future__ import annotations

from datetime import UTC, datetime

from workflow.calendar import zone


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str, default_tz: str = "Asia/Ho_Chi_Minh") -> datetime:
    """An ISO date-time; without an offset it is read in ``default_tz``. ValueError if bad."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date-time (e.g. 2026-05-07T17:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(default_tz))
    return value.astimezone(UTC)
