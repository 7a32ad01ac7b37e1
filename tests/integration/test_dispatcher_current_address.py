"""Delivery-side guards at the outbox claim (issue 15): a message goes to the person's
current address and language, not the one its row was written with (item 1: after a
550 and a corrected HR file, the retry reaches the corrected mailbox, and so does
every message not yet sent); escalation steps reaching one person about one
evaluation at one instant are one message (item 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifications.dispatcher import retry_dead, send_due
from notifications.testing import RecordingServer
from tests.support import DATA, World, at, small_world
from tests.web_support import make_web, text_of
from workflow.cli import main
from workflow.service.core import Service
from workflow.service.org import import_org
from workflow.service.sweep import tick
from workflow.store.tables import EVALUATION, OUTBOX

pytestmark = pytest.mark.both_stores

OPENING = at("2026-05-04 08:00")
WRONG = "mai@snv.example.gov.vn"
RIGHT = "vu.thi.mai@snv.example.gov.vn"


def rows(svc: Service) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def corrected_org(tmp_path: Path, **changes: tuple[str, str]) -> Path:
    text = (DATA / "small_org.csv").read_text(encoding="utf-8")
    for old, new in changes.values():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "org-corrected.csv"
    path.write_text(text, encoding="utf-8")
    return path


def dead_letter_page(browser: TestClient) -> dict[str, str]:
    """The admin dashboard's undeliverable emails, as an admin reads them in each language."""
    pages = {}
    for locale in ("vi", "en"):
        browser.get(f"/lang/{locale}?next=/admin")
        text = text_of(browser.get("/admin").text)
        pages[locale] = text[text.index("#"):] if "#" in text else text
    return pages


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def test_a_retry_after_a_corrected_address_goes_to_the_new_one(
        new_service: Callable[..., Service], smtp: RecordingServer, tmp_path: Path) -> None:
    svc = new_service(smtp_port=smtp.port)
    small_world(svc)
    smtp.script.rcpt_replies[WRONG] = ["550 5.1.1 no such mailbox"]
    assert send_due(svc, now=OPENING).dead == 1
    (dead,) = [r for r in rows(svc) if r["status"] == "dead"]
    assert dead["recipient_email"] == WRONG
    env = {"KPI_DATABASE_URL": svc.store.url, "KPI_SMTP_PORT": str(smtp.port),
           "KPI_BASE_URL": "http://kpi.test"}
    status = CliRunner().invoke(main, ["--now", "2026-05-04T09:00", "status"], env=env)
    assert f"dead letter {dead['id']}: task_self_assessment to {WRONG}" in status.output
    assert f"the address that failed, {WRONG}, is unchanged in the organisation" \
        in status.output
    browser = make_web(World(svc, "t-2026-04")).sign_in("A1")
    admin = dead_letter_page(browser)
    assert f"{WRONG}, is still the person's address" in admin["en"]
    assert f"{WRONG}, vẫn là địa chỉ của người nhận" in admin["vi"]
    # HR corrects the address and re-imports the file.
    report = import_org(svc, corrected_org(tmp_path, mai=(WRONG, RIGHT)),
                        now=at("2026-05-04 10:00"))
    assert report.changed == {"S3": ["email"]}, report.changed
    status = CliRunner().invoke(main, ["--now", "2026-05-04T10:01", "status"], env=env)
    assert f"to {WRONG}" in status.output  # the address that failed...
    assert f"the address that failed was {WRONG}; it has changed since: a retry goes to " \
        f"{RIGHT}" in status.output
    admin = dead_letter_page(browser)
    assert f"{WRONG} (" in admin["en"]  # the address that failed, still shown
    assert f"The address has changed since it failed: sent again, it goes to {RIGHT}." \
        in admin["en"]
    assert f"Địa chỉ đã thay đổi kể từ khi gửi lỗi: nếu gửi lại, thư sẽ đến {RIGHT}." \
        in admin["vi"]
    count, delivery = retry_dead(svc, now=at("2026-05-04 10:05"))
    assert (count, delivery.sent, delivery.dead) == (1, 1, 0)
    assert [m.message_id for m in smtp.by_recipient(RIGHT)] == [dead["message_id"]]
    assert smtp.by_recipient(WRONG) == []  # the 550 was refused at RCPT: nothing arrived
    (row,) = [r for r in rows(svc) if r["id"] == dead["id"]]
    assert row["status"] == "sent" and row["recipient_email"] == RIGHT


def test_messages_not_yet_sent_go_to_the_current_address_and_language(
        new_service: Callable[..., Service], smtp: RecordingServer, tmp_path: Path) -> None:
    svc = new_service(smtp_port=smtp.port)
    small_world(svc)
    # Before anything is sent, S3 gets a corrected address and English as her language.
    line = "S3,Vũ Thị Mai,mai@snv.example.gov.vn,P1,Phòng Một,Chuyên viên,specialist,H1,C,vi,false"
    import_org(svc, corrected_org(tmp_path, s3=(line, line.replace(WRONG, RIGHT)
                                                .replace(",vi,false", ",en,false"))),
               now=at("2026-05-03 10:00"))
    assert send_due(svc, now=OPENING).sent == 7
    (mail,) = smtp.by_recipient(RIGHT)
    message = mail.message
    assert "Vũ Thị Mai" in str(message["To"])
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "self-assessment" in text.lower(), text  # the English template
    assert smtp.by_recipient(WRONG) == []


# --- escalations that resolve to one person at one time (issue 15, item 3) ----------

ADMIN = "hang@snv.example.gov.vn"  # A1, the small cycle's admin


def test_two_escalation_steps_to_one_admin_at_once_are_one_message(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    world = small_world(svc)
    world.submit_self("D1")  # D1 is evaluated by UB1, who has nobody above
    # Downtime: the first sweep after both escalation delays fires both steps, and
    # with nobody above UB1 both go to the admin.
    tick(svc, at("2026-05-20 08:00"))
    d1 = world.ev("D1")
    steps = [r for r in rows(svc) if r["event"] == "escalation" and r["evaluation_id"] == d1]
    assert [(r["recipient_id"], r["context"]["escalation_level"]) for r in steps] == [
        ("A1", 1), ("A1", 2)]
    send_due(svc, now=at("2026-05-20 09:00"))
    to_admin = [m for m in smtp.by_recipient(ADMIN)
                if m.message_id in {r["message_id"] for r in steps}]
    assert len(to_admin) == 1, [m.message["Subject"] for m in to_admin]
    assert "2" in str(to_admin[0].message["Subject"])  # the higher step is the one sent
    after = {r["id"]: r for r in rows(svc)}
    low, high = (after[r["id"]] for r in steps)
    assert high["status"] == "sent"
    assert low["status"] == "folded"
    assert low["last_error"] == (f"folded into outbox {high['id']}: the same escalation "
                                 "reached the same person at the same time")


# --- task mails whose reason passed while they waited (issue 15, item 2) ------------


def test_a_queued_task_mail_of_a_phase_already_closed_is_dropped_with_the_reason(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    world = small_world(svc)
    # Downtime: nothing was sent since the cycle opened; the first sweep, weeks later,
    # closes the self-assessment phase of everyone who did not submit.
    tick(svc, at("2026-06-30 09:00"))
    missed = {r["recipient_id"] for r in rows(svc) if r["event"] == "self_assessment_missed"}
    assert missed
    send_due(svc, now=at("2026-06-30 09:05"))
    tasks = [r for r in rows(svc) if r["event"] == "task_self_assessment"]
    assert tasks and all(r["status"] == "dropped" for r in tasks), tasks
    assert all(r["last_error"].startswith(
        "dropped before sending: the evaluation left self_assessment (it is now ")
        for r in tasks)
    sent_ids = set(smtp.message_ids())
    assert not {r["message_id"] for r in tasks} & sent_ids
    # What is still true does go out (e.g. the missed-deadline notices).
    assert any(r["status"] == "sent" and r["event"] == "self_assessment_missed"
               for r in rows(svc))
    assert world.state("S1").value != "self_assessment"


def test_a_task_mail_after_an_extension_carries_the_new_due_date(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    world = small_world(svc)
    (task,) = [r for r in rows(svc) if r["event"] == "task_self_assessment"
               and r["recipient_id"] == "S1"]
    with svc.store.write() as s:  # the deadline moved before the mail went out
        s.execute(EVALUATION.update().where(EVALUATION.c.id == world.ev("S1"))
                  .values(due_at=at("2026-05-12 17:00")))
    send_due(svc, now=OPENING)
    (after,) = [r for r in rows(svc) if r["id"] == task["id"]]
    assert after["status"] == "sent"
    assert after["context"]["due_at"] == at("2026-05-12 17:00").isoformat()
    assert after["context"]["due_at"] != task["context"]["due_at"]
