"""Turning the notices of a state (``Notice``) into outbox rows and personal links.

Rendering happens later, in the dispatcher (``notifications``); here we decide who
gets which event, with which facts (the context), a stable dedupe key (a re-run can
never queue the same notice twice), and a Message-ID derived from that key.

A supervisor's per-item notices (``folds_into_digest``) are written ``held`` until
their next digest time; ``fold_digests`` then turns each recipient's held rows into
one ``digest`` row listing the items still waiting for them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import groupby
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from workflow.calendar import WorkingCalendar, zone
from workflow.domain import Role, State
from workflow.effects import core as effects
from workflow.effects.core import Send
from workflow.evaluation_rows import EvaluationRecord
from workflow.service.core import PersonInfo, Service, Snapshot
from workflow.states.base import Notice
from workflow.store import bulk
from workflow.store.tables import EVALUATION, OUTBOX

# Who a notice goes to is the effects core's rule; the name stays here for importers.
recipients = effects.recipients

TOKEN_BYTES = 24
LINK_GRACE = timedelta(days=30)
# The result emails link to the publication of the unit's results, which is kept:
# that link lives a year (access.py revokes it when its holder leaves the unit).
PUBLICATION_ACTION = "publication"
PUBLICATION_LINK_EVENTS = frozenset({"result", "results_published"})
PUBLICATION_LINK_LIFETIME = timedelta(days=366)

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
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_message_domain(settings_mail_from, base_url)}>"


@lru_cache(maxsize=64)
def _message_domain(settings_mail_from: str, base_url: str) -> str:
    # The same two settings for every row a sweep queues: parsed once.
    domain = settings_mail_from.rpartition("@")[2].strip("> ") or urlsplit(base_url).hostname
    return domain or "kpi.invalid"


@dataclass
class Mail:
    """Outbox and token rows planned in a transaction, written with it."""

    outbox: list[dict[str, Any]]
    tokens: list[dict[str, Any]]

    def extend(self, other: Mail) -> None:
        self.outbox.extend(other.outbox)
        self.tokens.extend(other.tokens)


def fresh_link(svc: Service) -> tuple[str, str]:
    """A new personal link: its URL (kept in the outbox until sent) and the hash stored."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    return f"{svc.settings.base_url.rstrip('/')}/t/{raw}", hash_token(raw)


def make_mail(svc: Service, *, event: str, person: PersonInfo, dedupe_key: str,
              context: Mapping[str, Any], now: datetime, evaluation_id: int | None,
              available_at: datetime | None = None, link: tuple[str, Role] | None = None,
              link_expires_at: datetime | None = None, cycle_tz: str = "Asia/Ho_Chi_Minh",
              calendar: WorkingCalendar | None = None) -> Mail:
    """One outbox row for ``person`` and, for a task, a fresh personal link."""
    ctx = dict(context)
    tokens: list[dict[str, Any]] = []
    action = link or EVENT_ACTIONS.get(event)
    if action is None and event == "appeal_decided" and ctx.get("petition_again") \
            and person.id == ctx.get("reviewee_id"):
        # A decision the person may petition again opens a fresh window: its email
        # links to the answer form, as the result email does.
        action = ("respond", Role.REVIEWEE)
    if action is not None:
        url, token_hash = fresh_link(svc)
        tokens.append({
            "token_hash": token_hash, "person_id": person.id,
            "evaluation_id": evaluation_id, "role": action[1].value, "action": action[0],
            "expires_at": (link_expires_at or now) + LINK_GRACE, "used_at": None,
            "created_at": now,
        })
        ctx["action_url"] = url
    ctx.setdefault("action_url", None)
    if event in PUBLICATION_LINK_EVENTS:
        # The unit's publication, read from the result email: a link of its own, for
        # as long as the published results are kept.
        url, token_hash = fresh_link(svc)
        tokens.append({
            "token_hash": token_hash, "person_id": person.id,
            "evaluation_id": evaluation_id, "role": Role.REVIEWEE.value,
            "action": PUBLICATION_ACTION, "expires_at": now + PUBLICATION_LINK_LIFETIME,
            "used_at": None, "created_at": now,
        })
        ctx["publication_url"] = url
    ctx["recipient_name"] = person.full_name
    tz_name = person.timezone or cycle_tz
    status, when = "pending", available_at or now
    held_until = digest_hold(event, person.id, ctx, when, tz_name, digest_setting(svc),
                             calendar)
    if held_until is not None:
        ctx["noticed_at"] = when.isoformat()
        status, when = HELD, held_until
    row = {
        "dedupe_key": dedupe_key, "event": event, "evaluation_id": evaluation_id,
        "recipient_id": person.id, "recipient_email": person.email,
        "recipient_name": person.full_name, "locale": person.locale,
        "timezone": tz_name, "context": ctx, "status": status,
        "attempts": 0, "available_at": when, "lease_until": None,
        "last_error": None,
        "message_id": message_id(dedupe_key, svc.settings.mail_from, svc.settings.base_url),
        "created_at": now, "sent_at": None,
    }
    return Mail([row], tokens)


def mail_like(svc: Service, row: Mapping[str, Any], token: Mapping[str, Any] | None, *,
              person: PersonInfo, evaluation_id: int | None, dedupe_key: str,
              context: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The outbox row ``row`` (made by ``make_mail``, with ``token``: its task link, if
    any) made again for ``person`` of another evaluation: their address, ``context``
    (the other evaluation's facts) laid over ``row``'s, a new dedupe key and
    Message-ID, a fresh link.

    For many notices that differ only in whose they are (a sweep's or an opening's):
    the status, the instants and the time zone stay ``row``'s, so the caller vouches
    that ``person`` is in the same role and time zone as ``row``'s recipient. Not for
    the result emails (their publication link is a second token).
    """
    ctx = {**row["context"], **context, "recipient_name": person.full_name}
    link = None
    if row["context"].get("action_url"):
        assert token is not None, "a task link comes with its token"
        ctx["action_url"], token_hash = fresh_link(svc)
        link = {**token, "token_hash": token_hash, "person_id": person.id,
                "evaluation_id": evaluation_id}
    settings = svc.settings
    again = {**row, "dedupe_key": dedupe_key, "evaluation_id": evaluation_id,
             "recipient_id": person.id, "recipient_email": person.email,
             "recipient_name": person.full_name, "locale": person.locale, "context": ctx,
             "message_id": message_id(dedupe_key, settings.mail_from, settings.base_url)}
    return again, link


def notices_for(svc: Service, snap: Snapshot, notices: Iterable[Notice], *,
                people: Mapping[str, PersonInfo], context: Mapping[str, Any], key: str,
                now: datetime, row: EvaluationRecord, available_at: datetime | None = None,
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
                calendar=snap.rules.calendar,
            ))
    return mail


def mail_for(svc: Service, snap: Snapshot, sends: Iterable[Send], *,
             people: Mapping[str, PersonInfo], context: Mapping[str, Any], key: str,
             now: datetime, link_expires_at: datetime | None = None) -> Mail:
    """Outbox rows for what the effects core decided to send; ``key`` makes them unique."""
    mail = Mail([], [])
    for send in sends:
        for person_id in send.to:
            person = people.get(person_id)
            if person is None or not person.active:
                continue
            mail.extend(make_mail(
                svc, event=send.event, person=person,
                dedupe_key=f"{key}:{send.event}:{person_id}", context=context, now=now,
                evaluation_id=snap.id, available_at=send.at, link_expires_at=link_expires_at,
                cycle_tz=snap.rules.tz_name, calendar=snap.rules.calendar))
    return mail


# --- the supervisors' daily digest ----------------------------------------------------

DIGEST_EVENT = "digest"
HELD = "held"  # waits for the recipient's next digest time
FOLDED = "folded"  # went into a digest (or was no longer pending by then): never sent alone
# Per-item notices a scorer gets while an evaluation waits for their score.
SCORING_NOTICES = frozenset({"task_supervisor_scoring", "reminder", "overdue"})
# The sweep that fires 08:00's reminders runs a little after 08:00: notices made
# within this margin after the digest hour still make that morning's digest, and a
# digest is folded only this long after its hour, once they are all in.
DIGEST_SETTLE = timedelta(minutes=5)
# Which of an item's notices are the most pressing, to show one line per evaluation.
URGENCY = ("self_assessment_missed", "task_supervisor_scoring", "reminder", "overdue")


def folds_into_digest(event: str, recipient_id: str, context: Mapping[str, Any]) -> bool:
    """Whether a notice is one a supervisor gets per item, so it belongs in their digest.

    Folded: a new scoring task, its reminders and overdue notices (to the supervisor,
    an acting supervisor or an escalation supervisor), and the news that a reviewee
    missed the self-assessment (to the supervisor). Not folded: escalations (they
    hand over a right to act and are urgent), appeals, results, cancellations,
    extensions, calibration (one per pool), and anything for a reviewee or a peer.
    """
    if context.get("evaluation_id") is None:
        return False
    if event in SCORING_NOTICES:
        return context.get("state") == State.SUPERVISOR_SCORING.value
    if event == "self_assessment_missed":
        return recipient_id != context.get("reviewee_id")
    return False


def digest_instant(after: datetime, tz_name: str, at: str,
                   calendar: WorkingCalendar | None = None) -> datetime:
    """The digest a notice made at ``after`` goes into: the first local time ``at``
    ("HH:MM") in ``tz_name`` at or after ``after - DIGEST_SETTLE``, in UTC; with the
    cycle's ``calendar``, on a working day only (nobody gets a digest on a Sunday or
    during Tet: what waits then goes into the next working morning's)."""
    key = (after, tz_name, at, id(calendar))
    known = _digest_instants.get(key)
    if known is not None and known[0] is calendar:
        return known[1]
    if len(_digest_instants) > 4096:  # a sweep's notices share a few instants; bounded
        _digest_instants.clear()
    instant = _digest_instant(after, tz_name, at, calendar)
    # The calendar is kept with the answer, so that its id cannot be reused meanwhile.
    _digest_instants[key] = (calendar, instant)
    return instant


# (instant, zone, digest time, id of the calendar) -> (the calendar, the digest instant)
_digest_instants: dict[tuple[datetime, str, str, int], tuple[WorkingCalendar | None, datetime]] = {}


def _digest_instant(after: datetime, tz_name: str, at: str,
                    calendar: WorkingCalendar | None) -> datetime:
    tz = zone(tz_name)
    local = (after - DIGEST_SETTLE).astimezone(tz)
    hour, minute = (int(x) for x in at.split(":"))
    day = local.date()
    if datetime.combine(day, time(hour, minute), tzinfo=tz) < local:
        day += timedelta(days=1)
    if calendar is not None:
        for _ in range(60):  # the longest run of days off (Tet) is about ten days
            if calendar.is_working_day(day):
                break
            day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def digest_hold(event: str, recipient_id: str, context: Mapping[str, Any],
                available_at: datetime, tz_name: str, digest_at: str | None,
                calendar: WorkingCalendar | None = None) -> datetime | None:
    """The digest instant this notice waits for, or None when it goes out on its own.

    Pure, so that the calendar simulation decides exactly as the sweep does.
    ``digest_at`` None means the digest is switched off. A task or reminder whose
    deadline falls before the recipient's next digest goes out at once; an overdue
    notice or a missed self-assessment always waits (the deadline has already passed,
    and the digest comes within a day).
    """
    if digest_at is None or not folds_into_digest(event, recipient_id, context):
        return None
    instant = digest_instant(available_at, tz_name, digest_at, calendar)
    if event in ("overdue", "self_assessment_missed") or not context.get("due_at"):
        return instant
    due = datetime.fromisoformat(str(context["due_at"]))
    return instant if instant <= due else None


def digest_setting(svc: Service) -> str | None:
    """The local time of the digest ("HH:MM"), or None when the digest is off."""
    return svc.settings.digest_at if svc.settings.digest_enabled else None


def still_waiting_in(event: str, item_state: str | None, state_now: str | None) -> bool:
    """Whether a held notice still belongs in the digest: its evaluation, now in
    ``state_now``, still waits for the recipient as when the notice was made."""
    if event == "self_assessment_missed":  # news for whoever will score
        return state_now in (State.PEER_INPUT.value, State.SUPERVISOR_SCORING.value)
    return state_now is not None and state_now == item_state


def scrub_links(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context without the raw personal tokens (kept only until the mail is sent)."""
    out = dict(context)
    if out.get("action_url"):
        out["action_url"] = None
        out["links_removed"] = True
    if isinstance(out.get("items"), list):
        out["items"] = [{**item, "action_url": None} for item in out["items"]]
        out["links_removed"] = True
    return out


@dataclass
class DigestReport:
    digests: int = 0  # digest rows queued
    folded: int = 0  # held rows folded into them
    omitted: int = 0  # held rows whose item no longer waited for the recipient


def fold_digests(svc: Service, now: datetime, *, limit: int = 2000) -> DigestReport:
    """Turn held notices whose digest time has come (``DIGEST_SETTLE`` ago) into one
    digest row per recipient.

    One transaction. Each held row becomes ``folded``: listed in the digest when its
    evaluation still waits in the same state, omitted (and said so in its context)
    when the recipient acted since. The raw tokens move into the digest row. All the
    due rows of one recipient make one digest; on PostgreSQL, rows another worker is
    folding are skipped, and the digest's dedupe key names its first row, so two
    workers never drop each other's items.
    """
    report = DigestReport()
    with svc.store.write() as session:
        held = [dict(r._mapping) for r in session.execute(
            select(OUTBOX).where(OUTBOX.c.status == HELD,
                                 OUTBOX.c.available_at <= now - DIGEST_SETTLE)
            .order_by(OUTBOX.c.recipient_email, OUTBOX.c.available_at, OUTBOX.c.id)
            .limit(limit).with_for_update(skip_locked=True))]
        if not held:
            return report
        states = _evaluation_states(session, {r["evaluation_id"] for r in held})
        scoring = _waiting_for_score(session, {r["recipient_id"] for r in held})
        digests: list[dict[str, Any]] = []
        marks: list[dict[str, Any]] = []
        # One digest per recipient: normally the rows of this morning; after downtime,
        # everything held since, in one mail rather than one per missed morning.
        for email, group in groupby(held, key=lambda r: r["recipient_email"]):
            rows = list(group)
            instant = max(r["available_at"] for r in rows)
            waiting = [r for r in rows if _still_waiting(r, states)]
            listed_ids = {r["id"] for r in waiting}
            key = (f"digest:{rows[0]['recipient_id'] or email}:{instant:%Y%m%dT%H%MZ}:"
                   f"{rows[0]['id']}")
            if waiting:
                digests.extend(_digest_row(svc, rows[0], waiting, key, instant, now,
                                           scoring.get(rows[0]["recipient_id"], set())))
                report.digests += 1
            for r in rows:
                listed = r["id"] in listed_ids
                ctx = {**scrub_links(r["context"]), "digest": key if listed else None}
                if not listed:
                    ctx["omitted"] = (f"by {instant:%Y-%m-%d %H:%M} UTC the evaluation was "
                                      f"{states.get(r['evaluation_id'], 'gone')}")
                    report.omitted += 1
                else:
                    report.folded += 1
                marks.append({"_oid": r["id"], "_ctx": ctx})
        bulk.insert_rows(session, OUTBOX, digests, ignore_conflict_on="dedupe_key")
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_oid"))
                        .values(status=FOLDED, context=bindparam("_ctx"), lease_until=None,
                                last_error=None), marks)
    return report


def _evaluation_states(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        out.update({r.id: r.state for r in session.execute(
            select(EVALUATION.c.id, EVALUATION.c.state)
            .where(EVALUATION.c.id.in_(wanted[start:start + 900])))})
    return out


def _still_waiting(row: Mapping[str, Any], states: Mapping[int, str]) -> bool:
    return still_waiting_in(row["event"], row["context"].get("state"),
                            states.get(row["evaluation_id"]))


def _waiting_for_score(session: Session, supervisor_ids: set[str | None]
                       ) -> dict[str, set[int]]:
    """The evaluations waiting in supervisor scoring for each of these supervisors:
    one query per 900 recipients, not one per digest."""
    wanted = sorted(i for i in supervisor_ids if i)
    out: dict[str, set[int]] = {}
    for start in range(0, len(wanted), 900):
        for r in session.execute(
                select(EVALUATION.c.supervisor_id, EVALUATION.c.id).where(
                    EVALUATION.c.supervisor_id.in_(wanted[start:start + 900]),
                    EVALUATION.c.state == State.SUPERVISOR_SCORING.value)):
            out.setdefault(r.supervisor_id, set()).add(r.id)
    return out


def _digest_row(svc: Service, first: Mapping[str, Any], rows: list[dict[str, Any]], key: str,
                instant: datetime, now: datetime, scoring: set[int]) -> list[dict[str, Any]]:
    """The digest of one recipient; ``scoring``: every evaluation waiting for their score."""
    items: dict[int, dict[str, Any]] = {}
    for r in rows:  # in time order: later notices of an item refine the earlier ones
        c = r["context"]
        item = items.setdefault(r["evaluation_id"], {
            "evaluation_id": r["evaluation_id"], "cycle_id": c.get("cycle_id"),
            "cycle_name": c.get("cycle_name"), "reviewee_id": c.get("reviewee_id"),
            "reviewee_name": c.get("reviewee_name"), "state": c.get("state"),
            "due_at": None, "action_url": None, "notices": [], "self_assessment_missing": False,
            "escalation_level": 0,
        })
        if r["event"] == "self_assessment_missed":
            item["self_assessment_missing"] = True
        else:
            item["state"] = c.get("state")
        if r["event"] not in item["notices"]:
            item["notices"].append(r["event"])
        item["due_at"] = c.get("due_at") or item["due_at"]
        item["action_url"] = c.get("action_url") or item["action_url"]
    listed = sorted(items.values(), key=lambda i: (i["due_at"] or "9999", i["reviewee_name"] or ""))
    for item in listed:
        item["notices"].sort(key=URGENCY.index)
        item["most_urgent"] = item["notices"][-1]
    person = PersonInfo(first["recipient_id"] or "", first["recipient_name"],
                        first["recipient_email"], first["locale"], first["timezone"], None, "",
                        True)
    # The rest of what waits for them, told in earlier mails: counted, so that the
    # digest is the whole picture, without minting new links for it.
    also_waiting = len(scoring - set(items))
    context = {"items": listed, "digest_at": instant.isoformat(),
               "cycle_names": sorted({i["cycle_name"] for i in listed if i["cycle_name"]}),
               "overdue_count": sum(1 for i in listed if i["most_urgent"] == "overdue"),
               "also_waiting": also_waiting}
    return make_mail(svc, event=DIGEST_EVENT, person=person, dedupe_key=key, context=context,
                     now=now, evaluation_id=None, available_at=instant,
                     cycle_tz=first["timezone"]).outbox
