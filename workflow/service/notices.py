"""Turning the notices of a state (``Notice``) into outbox rows and personal links.

Rendering happens later, in the dispatcher (``notifications``); here we decide who
gets which event, with which facts (the context), a stable dedupe key (a re-run can
never queue the same notice twice), and a Message-ID derived from that key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from workflow.domain import Role, State
from workflow.service.core import PersonInfo, Service, Snapshot
from workflow.states.base import Notice, Recipient

TOKEN_BYTES = 24
LINK_GRACE = timedelta(days=30)

# The page a task email links to, and the role the link acts in.
EVENT_ACTIONS: Mapping[str, tuple[str, Role]] = {
    "task_self_assessment": ("self_assessment", Role.REVIEWEE),
    "task_peer_input": ("peer_input", Role.PEER),
    "task_supervisor_scoring": ("score", Role.SUPERVISOR),
    "task_appeal_review": ("appeal_review", Role.APPEAL_REVIEWER),
    "result": ("respond", Role.REVIEWEE),
    "task_calibration": ("calibrate", Role.CALIBRATOR),
}
STATE_ACTIONS: Mapping[State, tuple[str, Role]] = {
    State.SELF_ASSESSMENT: ("self_assessment", Role.REVIEWEE),
    State.PEER_INPUT: ("peer_input", Role.PEER),
    State.SUPERVISOR_SCORING: ("score", Role.SUPERVISOR),
    State.CALIBRATION: ("calibrate", Role.CALIBRATOR),
    State.APPEAL_WINDOW: ("respond", Role.REVIEWEE),
    State.APPEAL_REVIEW: ("appeal_review", Role.APPEAL_REVIEWER),
}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def message_id(dedupe_key: str, settings_mail_from: str, base_url: str) -> str:
    """A Message-ID that is the same every time this outbox row is sent."""
    domain = settings_mail_from.rpartition("@")[2].strip("> ") or urlsplit(base_url).hostname
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain or 'kpi.invalid'}>"


@dataclass
class Mail:
    """Outbox and token rows planned in a transaction, written with it."""

    outbox: list[dict[str, Any]]
    tokens: list[dict[str, Any]]

    def extend(self, other: Mail) -> None:
        self.outbox.extend(other.outbox)
        self.tokens.extend(other.tokens)


def recipients(snap: Snapshot, to: Recipient, admins: Iterable[str], now: datetime,
               row: Mapping[str, Any] | None = None) -> list[str]:
    """The person ids a ``Notice`` goes to, for this evaluation (``row``: after the change)."""
    r = row or snap.row
    view = snap.view
    if to == "reviewee":
        return [r["reviewee_id"]]
    if to == "supervisor":
        return [r["supervisor_id"]] if r["supervisor_id"] else []
    if to == "scorers":
        ids = [r["supervisor_id"]] if r["supervisor_id"] else []
        ids += [d.person_id for d in view.acting_supervisors if d.active(now)]
        ids += sorted(view.escalation_supervisors)
        return list(dict.fromkeys(ids))
    if to == "peers":
        return snap.pending_peers()
    if to == "calibrator":
        return [view.calibrator_id] if view.calibrator_id else []
    if to == "appeal_reviewer":
        return [r["appeal_reviewer_id"]] if r["appeal_reviewer_id"] else []
    return sorted(admins)


def make_mail(svc: Service, *, event: str, person: PersonInfo, dedupe_key: str,
              context: Mapping[str, Any], now: datetime, evaluation_id: int | None,
              available_at: datetime | None = None, link: tuple[str, Role] | None = None,
              link_expires_at: datetime | None = None, cycle_tz: str = "Asia/Ho_Chi_Minh"
              ) -> Mail:
    """One outbox row for ``person`` and, for a task, a fresh personal link."""
    ctx = dict(context)
    tokens: list[dict[str, Any]] = []
    action = link or EVENT_ACTIONS.get(event)
    if action is not None:
        raw = secrets.token_urlsafe(TOKEN_BYTES)
        tokens.append({
            "token_hash": hash_token(raw), "person_id": person.id,
            "evaluation_id": evaluation_id, "role": action[1].value, "action": action[0],
            "expires_at": (link_expires_at or now) + LINK_GRACE, "used_at": None,
            "created_at": now,
        })
        ctx["action_url"] = f"{svc.settings.base_url.rstrip('/')}/t/{raw}"
    ctx.setdefault("action_url", None)
    ctx["recipient_name"] = person.full_name
    row = {
        "dedupe_key": dedupe_key, "event": event, "evaluation_id": evaluation_id,
        "recipient_id": person.id, "recipient_email": person.email,
        "recipient_name": person.full_name, "locale": person.locale,
        "timezone": person.timezone or cycle_tz, "context": ctx, "status": "pending",
        "attempts": 0, "available_at": available_at or now, "lease_until": None,
        "last_error": None,
        "message_id": message_id(dedupe_key, svc.settings.mail_from, svc.settings.base_url),
        "created_at": now, "sent_at": None,
    }
    return Mail([row], tokens)


def notices_for(svc: Service, snap: Snapshot, notices: Iterable[Notice], *,
                people: Mapping[str, PersonInfo], context: Mapping[str, Any], key: str,
                now: datetime, row: Mapping[str, Any], available_at: datetime | None = None,
                link_expires_at: datetime | None = None) -> Mail:
    """Outbox rows for each notice and each of its recipients; ``key`` makes them unique."""
    mail = Mail([], [])
    admins = snap.view.admins
    for notice in notices:
        for person_id in recipients(snap, notice.to, admins, now, row):
            person = people.get(person_id)
            if person is None or not person.active:
                continue
            mail.extend(make_mail(
                svc, event=notice.event, person=person,
                dedupe_key=f"{key}:{notice.event}:{person_id}", context=context, now=now,
                evaluation_id=snap.id, available_at=available_at,
                link_expires_at=link_expires_at, cycle_tz=snap.rules.tz_name,
            ))
    return mail
