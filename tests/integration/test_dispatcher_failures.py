"""The dispatcher against SMTP servers that fail: refused connections, dropped
connections, 451 then 250, 550 for one recipient, wrong credentials, slow answers,
a sender that dies with its rows leased; and names that try to inject headers."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from notifications.dispatcher import MAX_RECONNECTS_PER_BATCH, send_due
from notifications.outbox import claim, reap, retry_delay
from notifications.testing import RecordingServer
from tests.support import at, small_world
from workflow.cli import main
from workflow.service.core import Service
from workflow.service.notices import message_id
from workflow.store.tables import AUDIT, OUTBOX

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

OPENING = at("2026-05-04 08:00")  # the seven self-assessment tasks of the small world
SEVEN = 7


def rows(svc: Service) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def world_svc(new_service: Callable[..., Service], smtp: RecordingServer) -> Service:
    svc = new_service(smtp_port=smtp.port)
    small_world(svc)
    assert len(rows(svc)) == SEVEN
    return svc


def test_all_due_mail_goes_out_over_one_connection(world_svc: Service,
                                                   smtp: RecordingServer) -> None:
    assert send_due(world_svc, now=OPENING - timedelta(minutes=1)).claimed == 0  # not yet due
    report = send_due(world_svc, now=OPENING)
    assert (report.sent, report.connections) == (SEVEN, 1)
    assert {r["status"] for r in rows(world_svc)} == {"sent"}
    assert sorted(smtp.message_ids()) == sorted(r["message_id"] for r in rows(world_svc))
    assert send_due(world_svc, now=OPENING).claimed == 0  # nothing is sent twice


def test_a_refused_connection_keeps_every_message_pending_without_using_attempts(
        new_service: Callable[..., Service]) -> None:
    svc = new_service(smtp_port=free_port())
    small_world(svc)
    report = send_due(svc, now=OPENING)
    assert report.sent == 0 and report.unreachable and "cannot reach" in report.unreachable
    assert report.released == SEVEN
    assert {(r["status"], r["attempts"]) for r in rows(svc)} == {("pending", 0)}
    assert all("cannot reach the SMTP server" in r["last_error"] for r in rows(svc))


def test_kpi_mail_send_says_when_the_server_cannot_be_reached(
        new_service: Callable[..., Service]) -> None:
    port = free_port()
    svc = new_service(smtp_port=port)
    small_world(svc)
    result = CliRunner().invoke(main, ["--now", "2026-05-04T08:00", "mail", "send"], env={
        "KPI_DATABASE_URL": svc.store.url, "KPI_SMTP_PORT": str(port),
        "KPI_BASE_URL": "http://kpi.test"})
    assert result.exit_code == 1
    assert f"kpi: error: cannot reach the SMTP server 127.0.0.1:{port}" in result.output
    assert "7 messages stay pending" in result.output


def test_a_connection_dropped_mid_batch_loses_nothing(world_svc: Service,
                                                      smtp: RecordingServer) -> None:
    smtp.script.drop_on_data = {3}  # the third message's answer never comes
    report = send_due(world_svc, now=OPENING)
    assert report.sent == SEVEN - 1 and report.retried == 1
    assert report.connections == 2  # reconnected for the rest of the batch
    (waiting,) = [r for r in rows(world_svc) if r["status"] == "pending"]
    assert waiting["attempts"] == 1 and "connection lost" in waiting["last_error"]
    assert OPENING + timedelta(seconds=15) <= waiting["available_at"] \
        <= OPENING + timedelta(seconds=30)  # backoff: base 30 s, jitter down to half
    later = send_due(world_svc, now=OPENING + timedelta(minutes=1))
    assert later.sent == 1
    assert {r["status"] for r in rows(world_svc)} == {"sent"}
    # The dropped message was kept by the server before the drop: it came twice,
    # both times with the same Message-ID; every row arrived at least once.
    ids = smtp.message_ids()
    assert len(ids) == SEVEN + 1 and set(ids) == {r["message_id"] for r in rows(world_svc)}
    assert ids.count(waiting["message_id"]) == 2


def test_451_then_250_is_retried_with_backoff(world_svc: Service, smtp: RecordingServer) -> None:
    target = "nam@snv.example.gov.vn"
    smtp.script.rcpt_replies[target] = ["451 4.3.0 mailbox busy, try later"]
    report = send_due(world_svc, now=OPENING, rng=random.Random(1))
    assert (report.sent, report.retried, report.dead) == (SEVEN - 1, 1, 0)
    (row,) = [r for r in rows(world_svc) if r["recipient_email"] == target]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "451" in row["last_error"]
    assert row["available_at"] > OPENING
    assert send_due(world_svc, now=OPENING + timedelta(seconds=10)).claimed == 0  # backing off
    assert send_due(world_svc, now=OPENING + timedelta(minutes=1)).sent == 1
    (row,) = [r for r in rows(world_svc) if r["recipient_email"] == target]
    assert row["status"] == "sent" and row["last_error"] is None
    assert len(smtp.by_recipient(target)) == 1


def test_550_for_one_recipient_is_a_dead_letter_shown_and_resent_on_request(
        world_svc: Service, smtp: RecordingServer) -> None:
    target = "mai@snv.example.gov.vn"
    smtp.script.rcpt_replies[target] = ["550 5.1.1 no such mailbox"]
    report = send_due(world_svc, now=OPENING)
    assert (report.sent, report.dead) == (SEVEN - 1, 1)
    (dead,) = [r for r in rows(world_svc) if r["status"] == "dead"]
    assert dead["recipient_email"] == target and "550 5.1.1" in dead["last_error"]
    env = {"KPI_DATABASE_URL": world_svc.store.url, "KPI_SMTP_PORT": str(smtp.port),
           "KPI_BASE_URL": "http://kpi.test"}
    status = CliRunner().invoke(main, ["--now", "2026-05-04T09:00", "status"], env=env)
    assert f"dead letter {dead['id']}: task_self_assessment to {target}" in status.output
    assert "550 5.1.1 no such mailbox" in status.output
    assert "kpi mail retry" in status.output
    # Naming a message that is not a dead letter, or none at all, requeues nothing.
    for wrong, why in ((dead["id"] + 1, "is sent, not a dead letter"),
                       (99999, "outbox message 99999 does not exist")):
        refused = CliRunner().invoke(main, ["--now", "2026-05-04T09:00", "mail", "retry",
                                            str(dead["id"]), str(wrong)], env=env)
        assert refused.exit_code != 0 and why in refused.output + refused.stderr
        assert [r["status"] for r in rows(world_svc) if r["id"] == dead["id"]] == ["dead"]
    # The mailbox is fixed; an admin sends the dead letter again.
    retry = CliRunner().invoke(main, ["--now", "2026-05-04T09:00", "mail", "retry"], env=env)
    assert retry.exit_code == 0, retry.output
    assert "1 dead letters queued again" in retry.output and "mail: 1 sent" in retry.output
    assert {r["status"] for r in rows(world_svc)} == {"sent"}
    assert [r.message_id for r in smtp.by_recipient(target)] == [dead["message_id"]]
    with world_svc.store.read() as s:  # on the record, by whom
        audited = s.execute(select(AUDIT.c.actor_id, AUDIT.c.reason).where(
            AUDIT.c.trigger == "resend_dead_letter")).all()
    reason = f"task_self_assessment to {dead['recipient_id']}"
    assert [tuple(a) for a in audited] == [("cli", reason)]


def test_wrong_credentials_alert_and_use_up_no_attempt(new_service: Callable[..., Service]
                                                       ) -> None:
    with RecordingServer(users={"kpi": "right"}) as server:
        svc = new_service(smtp_port=server.port, smtp_user="kpi", smtp_password="wrong")
        small_world(svc)
        report = send_due(svc, now=OPENING)
        assert report.alert and "refused the login of 'kpi'" in report.alert
        assert {(r["status"], r["attempts"]) for r in rows(svc)} == {("pending", 0)}
        assert server.received == []
        fixed = new_service("fixed.sqlite3", smtp_port=server.port, smtp_user="kpi",
                            smtp_password="right")
        fixed.store = svc.store  # the same outbox, with the password corrected
        assert send_due(fixed, now=OPENING).sent == SEVEN


def test_a_server_too_slow_to_answer_times_out_and_is_retried(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port, smtp_send_timeout_seconds=0.3)
    small_world(svc)
    smtp.script.data_delay = 1.0
    report = send_due(svc, now=OPENING)
    # Each timeout costs its message an attempt and the connection; after a few
    # reconnections the rest of the batch waits, untried.
    tried = MAX_RECONNECTS_PER_BATCH + 1
    assert (report.sent, report.retried, report.released) == (0, tried, SEVEN - tried)
    assert report.unreachable and "dropped the connection" in report.unreachable
    attempts = sorted(r["attempts"] for r in rows(svc))
    assert attempts == [0] * (SEVEN - tried) + [1] * tried
    assert all("connection lost while sending" in r["last_error"]
               for r in rows(svc) if r["attempts"])
    smtp.script.data_delay = 0.0
    assert send_due(svc, now=OPENING + timedelta(hours=1)).sent == SEVEN
    assert {r["status"] for r in rows(svc)} == {"sent"}


def test_rows_of_a_dead_sender_come_back_when_their_lease_ends(world_svc: Service,
                                                              smtp: RecordingServer) -> None:
    taken = claim(world_svc, OPENING, limit=3)  # a sender claims three rows and dies
    assert len(taken) == 3
    assert send_due(world_svc, now=OPENING).sent == SEVEN - 3  # the others go out
    lease = timedelta(seconds=world_svc.settings.mail_lease_seconds)
    assert reap(world_svc, OPENING + lease - timedelta(seconds=1)) == 0  # still leased
    report = send_due(world_svc, now=OPENING + lease + timedelta(seconds=1))
    assert (report.reaped, report.sent) == (3, 3)
    assert {r["status"] for r in rows(world_svc)} == {"sent"}
    assert sorted(smtp.message_ids()) == sorted(r["message_id"] for r in rows(world_svc))


def test_a_message_whose_sender_dies_every_time_ends_as_a_dead_letter(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port, mail_max_attempts=2, mail_lease_seconds=60)
    small_world(svc)
    now = OPENING
    for _ in range(2):  # claimed and never finished, twice
        reap(svc, now)
        assert claim(svc, now, limit=1)
        now += timedelta(minutes=2)
    assert reap(svc, now) == 1
    dead = [r for r in rows(svc) if r["status"] == "dead"]
    assert len(dead) == 1 and "lease expired" in dead[0]["last_error"]


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(5)
    for attempts, step in ((1, 30), (2, 60), (3, 120), (10, 3600)):
        delays = [retry_delay(attempts, 30, 3600, rng).total_seconds() for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len({round(d, 3) for d in delays}) > 40  # jittered, not synchronised


def test_transient_failures_end_as_a_dead_letter_after_the_last_attempt(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port, mail_max_attempts=3)
    small_world(svc)
    target = "lan@snv.example.gov.vn"
    smtp.script.rcpt_replies[target] = ["452 4.2.2 mailbox full"] * 3
    now = OPENING
    for _ in range(3):
        send_due(svc, now=now)
        now += timedelta(hours=1)
    (row,) = [r for r in rows(svc) if r["recipient_email"] == target]
    assert row["status"] == "dead" and row["attempts"] == 3
    assert "gave up after 3 attempts" in row["last_error"]


# --- header injection ------------------------------------------------------------


def add_row(svc: Service, key: str, **overrides: Any) -> None:
    row = {
        "dedupe_key": key, "event": "sign_in", "evaluation_id": None, "recipient_id": "X",
        "recipient_email": "x@example.org", "recipient_name": "X", "locale": "en",
        "timezone": "Asia/Ho_Chi_Minh", "status": "pending", "attempts": 0,
        "available_at": OPENING, "lease_until": None, "last_error": None,
        "message_id": message_id(key, svc.settings.mail_from, svc.settings.base_url),
        "created_at": OPENING, "sent_at": None,
        "context": {"action_url": "http://kpi.test/t/abc", "expires_at": OPENING.isoformat()},
    }
    row.update(overrides)
    with svc.store.write() as s:
        s.execute(insert(OUTBOX), [row])


def test_a_name_with_line_breaks_cannot_add_headers_or_recipients(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    evil = "Eve\r\nBcc: victim@example.org\r\nX-Injected: yes"
    add_row(svc, "inj:1", recipient_name=evil, event="cancelled", context={
        "cycle_name": "April\nSubject: spoofed", "reviewee_name": "Mallory\u2028To: x@y.z",
        "reason": "r", "reviewee_id": "M"})
    add_row(svc, "inj:2", recipient_name="Trần \"Quote\" <tag>, Jr.; x@y.z")
    assert send_due(svc, now=OPENING).sent == 2
    assert len(smtp.received) == 2
    for got in smtp.received:
        msg = got.message
        assert got.rcpt_tos == ("x@example.org",)
        assert "Bcc" not in msg and "X-Injected" not in msg
        assert len(msg.get_all("To")) == 1 and len(msg.get_all("Subject")) == 1
        assert len(msg["To"].addresses) == 1
        assert msg["To"].addresses[0].addr_spec == "x@example.org"
        assert "\n" not in str(msg["Subject"])
    first = next(r for r in smtp.received if "Eve" in str(r.message["To"]))
    assert first.message["To"].addresses[0].display_name == \
        "Eve Bcc: victim@example.org X-Injected: yes"
    assert "Mallory To: x@y.z" in str(first.message["Subject"])
    quoted = next(r for r in smtp.received if "Quote" in str(r.message["To"]))
    assert quoted.message["To"].addresses[0].display_name == 'Trần "Quote" <tag>, Jr.; x@y.z'


def test_an_address_that_is_not_one_plain_address_is_refused_before_smtp(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    bad = ["x@example.org\r\nRCPT TO:<evil@example.org>", "a@example.org, evil@example.org",
           "Name <a@example.org>", "nobody", "tên@example.org"]
    for i, address in enumerate(bad):
        add_row(svc, f"bad:{i}", recipient_email=address)
    add_row(svc, "good", recipient_email="ok@example.org")
    report = send_due(svc, now=OPENING)
    assert (report.sent, report.dead) == (1, len(bad))
    assert [r.rcpt_tos for r in smtp.received] == [("ok@example.org",)]
    for row in rows(svc):
        if row["dedupe_key"] != "good":
            assert row["status"] == "dead" and "cannot be used" in row["last_error"]


def test_a_row_that_cannot_be_rendered_is_a_dead_letter_naming_what_is_missing(
        world_svc: Service, smtp: RecordingServer) -> None:
    with world_svc.store.write() as s:
        first = s.execute(select(OUTBOX.c.id).order_by(OUTBOX.c.id)).scalars().first()
        s.execute(update(OUTBOX).where(OUTBOX.c.id == first).values(
            context={"cycle_name": "x", "action_url": "http://kpi.test/t/a"}))
    report = send_due(world_svc, now=OPENING)
    assert (report.sent, report.dead) == (SEVEN - 1, 1)
    (dead,) = [r for r in rows(world_svc) if r["status"] == "dead"]
    assert "its context lacks due_at" in dead["last_error"]
