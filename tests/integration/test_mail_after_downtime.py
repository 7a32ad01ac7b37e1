"""What people receive after downtime, through the real sweep and the real dispatcher to
a real SMTP server (aiosmtpd), in the issue's own scenarios (issue 15, items 2 and 3).

Item 2: a cycle opened on 2 May and first swept on 30 June sends each reviewee "you
missed it" and not "your self-assessment is open, submit by 7 May"; a deadline moved
after the task mail was queued is the date the mail gives. Item 3: the director's
evaluation, whose evaluator has no supervisor, reaches the admin as one escalation.
The outbox is drained in batches smaller than the stale part of it, as at scale: a
batch whose every row is dropped or folded must not end the drain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.support import at, small_world
from workflow.service import records
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.tables import OUTBOX, PERSON

pytestmark = pytest.mark.both_stores


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def outbox(svc: Service) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def addresses(svc: Service) -> dict[str, str]:
    with svc.store.read() as s:
        return {r.id: r.email for r in s.execute(select(PERSON.c.id, PERSON.c.email))}


def text_of(received: Any) -> str:
    body = received.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_opened_2_may_first_swept_30_june_each_reviewee_gets_you_missed_it_not_submit_by_7_may(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    # Two messages a batch: the oldest rows, the self-assessment task mails (due 4 May),
    # fill whole batches that are all dropped.
    svc = new_service(smtp_port=smtp.port, mail_batch_size=2)
    world = small_world(svc, opened_at="2026-05-02 10:00")
    reviewees = sorted(world.ids())
    tasks = {r["recipient_id"]: r for r in outbox(svc) if r["event"] == "task_self_assessment"}
    assert sorted(tasks) == reviewees
    assert all(r["context"]["due_at"] == at("2026-05-07 17:00").isoformat()
               for r in tasks.values())
    tick(svc, at("2026-06-30 09:00"))  # the first sweep since the opening
    report = send_due(svc, now=at("2026-06-30 09:05"))  # one `kpi mail send`
    after = outbox(svc)
    due = [r for r in after if r["status"] == "pending"
           and r["available_at"].replace(tzinfo=None) <= at("2026-06-30 09:05")
           .replace(tzinfo=None)]
    assert due == [], "the drain stopped with messages due"
    assert report.sent == len(smtp.message_ids())
    email = addresses(svc)
    ids = world.ids()
    missed = {r["recipient_id"]: r for r in after if r["event"] == "self_assessment_missed"
              and r["evaluation_id"] == ids.get(r["recipient_id"])}
    for person in reviewees:
        inbox = {m.message_id: m for m in smtp.by_recipient(email[person])}
        assert missed[person]["message_id"] in inbox, person  # "you missed it"
        assert tasks[person]["message_id"] not in inbox, person  # not "submit by 7 May"
        subjects = [str(m.message["Subject"]) for m in inbox.values()]
        assert not [s for s in subjects if "Mời tự đánh giá" in s  # the task, in vi or en
                    or ("self-assessment" in s and ": due " in s)], (person, subjects)
    dropped = {r["id"]: r for r in after if r["status"] == "dropped"}
    for row in tasks.values():  # the reason is on the row
        assert dropped[row["id"]]["last_error"] == (
            "dropped before sending: the evaluation left self_assessment (it is now "
            f"{world.state(row['recipient_id']).value})")


def test_an_extension_after_the_task_mail_was_queued_is_the_date_the_mail_gives(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port, mail_batch_size=3)
    world = small_world(svc)
    (task,) = [r for r in outbox(svc) if r["event"] == "task_self_assessment"
               and r["recipient_id"] == "S1"]
    assert task["context"]["due_at"] == at("2026-05-07 17:00").isoformat()
    # The mail waits for the phase to open (4 May); on 3 May S1's deadline is extended.
    records.extend(svc, world.ev("S1"), at("2026-05-12 17:00"), "ốm đau, nằm viện <b>",
                   "D1", "A1", now=at("2026-05-03 10:00"))
    send_due(svc, now=at("2026-05-04 09:00"))
    inbox = {m.message_id: m for m in smtp.by_recipient(addresses(svc)["S1"])}
    sent = inbox[task["message_id"]]  # the queued mail itself, with its Message-ID
    assert "hạn chót 17:00 12/05/2026" in str(sent.message["Subject"])
    text = text_of(sent)
    assert "12/05/2026" in text and "07/05/2026" not in text, text
    (row,) = [r for r in outbox(svc) if r["id"] == task["id"]]
    assert row["status"] == "sent"
    assert row["context"]["due_at"] == at("2026-05-12 17:00").isoformat()  # what was sent
    # The others' deadline did not move: their mail keeps 7 May (S3 reads Vietnamese too).
    (other,) = [r for r in outbox(svc) if r["event"] == "task_self_assessment"
                and r["recipient_id"] == "S3"]
    theirs = {m.message_id: m for m in smtp.by_recipient(addresses(svc)["S3"])}
    assert "07/05/2026" in text_of(theirs[other["message_id"]])


@pytest.mark.parametrize("batch", [1, 100])
def test_the_directors_evaluation_after_downtime_reaches_the_admin_as_one_escalation(
        new_service: Callable[..., Service], smtp: RecordingServer, batch: int) -> None:
    svc = new_service(smtp_port=smtp.port, mail_batch_size=batch)
    world = small_world(svc)
    send_due(svc, now=at("2026-05-04 09:00"))  # the task mails, before the downtime
    world.submit_self("D1")  # D1's evaluator, UB1 (the cycle file names them), has nobody above
    tick(svc, at("2026-05-20 08:00"))  # the first sweep for two weeks: both steps are due
    d1 = world.ev("D1")
    steps = [r for r in outbox(svc) if r["event"] == "escalation" and r["evaluation_id"] == d1]
    assert sorted((r["recipient_id"], r["context"]["escalation_level"]) for r in steps) == [
        ("A1", 1), ("A1", 2)]
    before = set(smtp.message_ids())
    send_due(svc, now=at("2026-05-20 09:00"))
    new = [m for m in smtp.by_recipient(addresses(svc)["A1"]) if m.message_id not in before]
    about_d1 = [m for m in new if m.message_id in {r["message_id"] for r in steps}]
    assert len(about_d1) == 1, [str(m.message["Subject"]) for m in new]
    (kept,) = [r for r in outbox(svc) if r["id"] in {s["id"] for s in steps}
               and r["status"] == "sent"]
    assert kept["context"]["escalation_level"] == 2  # the higher step is the one sent
    assert about_d1[0].message_id == kept["message_id"]
