"""The supervisor's daily digest: one mail at 08:00 their local time listing what
waits for them, instead of one mail per item; nothing said in the folded notices is
lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from notifications.dispatcher import send_due
from notifications.render import local_time
from notifications.testing import Received, RecordingServer
from tests.integration.test_email_delivery import answer_peers, body
from tests.support import World, at, small_world
from workflow.calendar import WorkingCalendar
from workflow.domain import State
from workflow.service.core import Service
from workflow.service.notices import digest_hold, digest_instant, fold_digests
from workflow.service.sweep import tick
from workflow.store.tables import OUTBOX, PERSON

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

TEAM = ["S1", "S2", "S3", "S4", "A1"]  # H1 supervises them all
H1 = "hung@snv.example.gov.vn"


def rows(svc: Service, **where: Any) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        for key, value in where.items():
            stmt = stmt.where(OUTBOX.c[key] == value)
        return [dict(r._mapping) for r in s.execute(stmt)]


def team_waits_for_scoring(w: World) -> None:
    """By Tuesday 5 May 09:00, the five of H1's team wait for H1's score."""
    for person in ["S1", "S2", "S3", "S4"]:
        w.submit_self(person, when="2026-05-04 09:00")
    for person in ["S1", "S2", "S3", "S4"]:
        answer_peers(w, person, "2026-05-05 09:00")
    w.submit_self("A1", when="2026-05-05 09:00")  # A1 has no peers: straight to scoring
    assert {w.state(p) for p in TEAM} == {State.SUPERVISOR_SCORING}


def mails(smtp: RecordingServer, address: str, event: str | None = None) -> list[Received]:
    """What ``address`` received, leaving out the mails they get as a reviewee."""
    own = ("task_self_assessment", "reminder") if event is None else ()
    return [m for m in smtp.by_recipient(address)
            if m.message["X-KPI-Event"] not in own
            and (event is None or m.message["X-KPI-Event"] == event)]


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def make(new_service: Callable[..., Service], smtp: RecordingServer
         ) -> Callable[..., World]:
    def build(h1_timezone: str | None = None, **settings: Any) -> World:
        svc = new_service(smtp_port=smtp.port, **settings)
        w = small_world(svc)
        if h1_timezone:
            with svc.store.write() as s:
                s.execute(update(PERSON).where(PERSON.c.id == "H1")
                          .values(timezone=h1_timezone))
        team_waits_for_scoring(w)
        return w
    return build


def test_several_items_make_one_digest_at_eight_in_the_morning(
        make: Callable[..., World], smtp: RecordingServer) -> None:
    w = make()
    tasks = rows(w.svc, event="task_supervisor_scoring", recipient_email=H1)
    assert len(tasks) == len(TEAM)
    assert {(r["status"], r["available_at"]) for r in tasks} == {
        ("held", at("2026-05-06 08:00"))}
    send_due(w.svc, now=at("2026-05-05 18:00"))
    assert mails(smtp, H1) == []  # nothing per item
    assert send_due(w.svc, now=at("2026-05-06 08:04")).digests == 0  # 08:00's sweep settles
    report = send_due(w.svc, now=at("2026-05-06 08:05"))
    assert report.digests == 1
    (digest,) = mails(smtp, H1, "digest")
    msg = digest.message
    assert msg["Subject"] == "[KPI] Tổng hợp việc trong ngày Thứ Tư 06/05/2026: " \
                             "5 phiếu cần chấm điểm"
    text = body(msg, "plain")
    html = body(msg, "html")
    (row,) = rows(w.svc, event="digest")
    items = {i["reviewee_id"]: i for i in row["context"]["items"]}
    assert set(items) == set(TEAM)
    assert row["context"]["also_waiting"] == 0  # every one waiting is listed
    before = {t["context"]["reviewee_id"]: t["context"] for t in tasks}
    for person in TEAM:
        ctx = before[person]
        assert ctx["reviewee_name"] in text and ctx["reviewee_name"] in html
        assert ctx["action_url"] in text and f'href="{ctx["action_url"]}"' in html
        assert local_time(ctx["due_at"], "Asia/Ho_Chi_Minh", "vi") in text
    assert {r["status"] for r in rows(w.svc, event="task_supervisor_scoring")} == {"folded"}
    assert all(r["context"]["digest"] == row["dedupe_key"] for r in tasks
               for r in rows(w.svc, id=r["id"]))


def test_the_digest_comes_at_eight_in_the_supervisors_own_time_zone(
        make: Callable[..., World], smtp: RecordingServer) -> None:
    w = make(h1_timezone="Asia/Tokyo")
    tasks = rows(w.svc, event="task_supervisor_scoring", recipient_email=H1)
    # 08:00 in Tokyo on Wednesday is 06:00 in Ha Noi.
    assert {r["available_at"] for r in tasks} == {at("2026-05-06 06:00")}
    assert send_due(w.svc, now=at("2026-05-06 06:04")).digests == 0
    assert send_due(w.svc, now=at("2026-05-06 06:05")).digests == 1
    (digest,) = mails(smtp, H1, "digest")
    text = body(digest.message, "plain")
    assert "(Giờ Nhật Bản, UTC+09:00)" in text  # deadlines in Tokyo time too


def test_items_done_before_the_digest_are_left_out_and_that_is_recorded(
        make: Callable[..., World], smtp: RecordingServer) -> None:
    w = make()
    w.score("S1", when="2026-05-05 15:00")
    send_due(w.svc, now=at("2026-05-06 08:05"))
    (row,) = rows(w.svc, event="digest")
    assert sorted(i["reviewee_id"] for i in row["context"]["items"]) == \
        ["A1", "S2", "S3", "S4"]
    (s1,) = [r for r in rows(w.svc, event="task_supervisor_scoring")
             if r["context"]["reviewee_id"] == "S1"]
    assert s1["status"] == "folded" and s1["context"]["digest"] is None
    assert "the evaluation was calibration" in s1["context"]["omitted"]
    assert row["context"]["also_waiting"] == 0  # S1 no longer waits for H1


def test_with_the_digest_off_each_item_is_mailed_at_once(
        make: Callable[..., World], smtp: RecordingServer) -> None:
    w = make(digest_enabled=False)
    report = send_due(w.svc, now=at("2026-05-05 09:00"))
    assert report.digests == 0
    tasks = mails(smtp, H1, "task_supervisor_scoring")
    assert len(tasks) == len(TEAM) and mails(smtp, H1, "digest") == []
    assert all(str(m.message["Subject"]).startswith("[KPI] Chấm điểm cho ") for m in tasks)


def test_overdue_and_reminders_fold_but_escalations_do_not(
        make: Callable[..., World], smtp: RecordingServer) -> None:
    w = make()
    send_due(w.svc, now=at("2026-05-06 08:05"))  # Wednesday's digest
    # The dispatcher is down from Thursday to Monday; the sweep is not.
    tick(w.svc, at("2026-05-07 08:00:40"))  # reminders, a little after 08:00
    tick(w.svc, at("2026-05-11 08:00:40"))  # overdue since Friday 17:00
    held = rows(w.svc, status="held", recipient_email=H1)
    assert {r["event"] for r in held} == {"reminder", "overdue"}
    assert {r["available_at"] for r in held} == {at("2026-05-07 08:00"),
                                                 at("2026-05-11 08:00")}
    send_due(w.svc, now=at("2026-05-11 08:05"))
    # The mornings the dispatcher missed come as one digest, one line per evaluation.
    digests = rows(w.svc, event="digest", recipient_email=H1)
    assert len(digests) == 2
    items = digests[-1]["context"]["items"]
    assert sorted(i["reviewee_id"] for i in items) == sorted(TEAM)
    assert all(i["notices"] == ["reminder", "overdue"] for i in items)
    assert digests[-1]["context"]["overdue_count"] == len(TEAM)
    assert "5 phiếu quá hạn" in str(mails(smtp, H1, "digest")[-1].message["Subject"])
    assert "QUÁ HẠN" in body(mails(smtp, H1, "digest")[-1].message, "plain")
    tick(w.svc, at("2026-05-14 09:00"))  # the ladder reaches D1: told at once
    escalations = rows(w.svc, event="escalation")
    assert escalations and {r["status"] for r in escalations} == {"pending"}
    send_due(w.svc, now=at("2026-05-14 09:00"))
    d1 = smtp.by_recipient("giamdoc@snv.example.gov.vn")
    assert any("Báo cáo cấp trên" in str(m.message["Subject"]) for m in d1)


def test_a_missed_self_assessment_folds_for_the_supervisor_not_the_reviewee(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    small_world(svc)
    tick(svc, at("2026-05-07 18:00"))
    missed = rows(svc, event="self_assessment_missed")
    to_h1 = [r for r in missed if r["recipient_email"] == H1  # as supervisor, not reviewee
             and r["context"]["reviewee_id"] != "H1"]
    to_reviewees = [r for r in missed if r["recipient_id"] == r["context"]["reviewee_id"]]
    assert to_h1 and {r["status"] for r in to_h1} == {"held"}
    assert to_reviewees and {r["status"] for r in to_reviewees} == {"pending"}
    send_due(svc, now=at("2026-05-08 08:05"))
    (digest,) = rows(svc, event="digest", recipient_email=H1)
    flagged = [i for i in digest["context"]["items"] if i["self_assessment_missing"]]
    assert len(flagged) == len(to_h1)
    text = body(mails(smtp, H1, "digest")[-1].message, "plain")
    assert text.count("Lưu ý: không nhận được bản tự đánh giá") == len(to_h1)


def test_a_task_due_before_the_next_digest_is_not_held() -> None:
    context = {"evaluation_id": 1, "state": "supervisor_scoring", "reviewee_id": "S1",
               "due_at": at("2026-05-06 07:00").isoformat()}
    tz = "Asia/Ho_Chi_Minh"
    late = at("2026-05-05 18:00")  # next digest 08:00 tomorrow: after the deadline
    tomorrow = at("2026-05-06 08:00")
    assert digest_instant(late, tz, "08:00") == tomorrow
    assert digest_instant(at("2026-05-06 08:04"), tz, "08:00") == tomorrow
    assert digest_instant(at("2026-05-06 08:06"), tz, "08:00") == at("2026-05-07 08:00")

    def hold(event: str, who: str, ctx: dict[str, object], digest_at: str | None = "08:00"
             ) -> datetime | None:
        return digest_hold(event, who, ctx, late, tz, digest_at)

    assert hold("task_supervisor_scoring", "H1", context) is None
    assert hold("reminder", "H1", context) is None
    assert hold("overdue", "H1", context) == tomorrow  # news of a past deadline
    early = {**context, "due_at": at("2026-05-06 17:00").isoformat()}
    assert hold("task_supervisor_scoring", "H1", early) == tomorrow
    assert hold("task_supervisor_scoring", "H1", early, digest_at=None) is None  # digest off
    for event in ("escalation", "result", "appeal_lodged", "cancelled", "task_calibration"):
        assert hold(event, "H1", early) is None
    peer = {**early, "state": "peer_input"}
    assert hold("reminder", "S2", peer) is None
    missed = {**early, "state": "peer_input"}
    assert hold("self_assessment_missed", "H1", missed) == tomorrow
    assert hold("self_assessment_missed", "S1", missed) is None  # the reviewee's own news


def test_the_digest_comes_on_working_mornings_only() -> None:
    calendar = WorkingCalendar(country="VN", extra_days_off={}, extra_working_days=frozenset())
    tz = "Asia/Ho_Chi_Minh"
    friday_evening = at("2026-05-08 17:00")
    assert digest_instant(friday_evening, tz, "08:00") == at("2026-05-09 08:00")  # Saturday
    assert digest_instant(friday_evening, tz, "08:00", calendar) == at("2026-05-11 08:00")
    # Before Tet 2026 (days off from Saturday 14 to Sunday 22 February): the next
    # digest is the first working morning after it.
    eve = at("2026-02-13 18:00")
    assert digest_instant(eve, tz, "08:00", calendar) == at("2026-02-23 08:00")
    overdue = {"evaluation_id": 1, "state": "supervisor_scoring", "reviewee_id": "S1",
               "due_at": at("2026-02-13 17:00").isoformat()}
    assert digest_hold("overdue", "H1", overdue, eve, tz, "08:00", calendar) == \
        at("2026-02-23 08:00")
    # A task due during the days off goes out at once rather than after its deadline.
    task = {**overdue, "due_at": at("2026-02-20 17:00").isoformat()}
    assert digest_hold("task_supervisor_scoring", "H1", task, eve, tz, "08:00",
                       calendar) is None


def test_folding_twice_never_makes_two_digests_of_the_same_rows(
        make: Callable[..., World]) -> None:
    w = make()
    first = fold_digests(w.svc, at("2026-05-06 08:05"))
    second = fold_digests(w.svc, at("2026-05-06 08:05") + timedelta(minutes=1))
    assert (first.digests, first.folded, second.digests) == (1, len(TEAM), 0)
