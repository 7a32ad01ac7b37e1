"""Conflicts of interest declared by an organisation import after the cycle opened
(issue 17): the open case moves to the next person up, on the record, with the task
email to the new decider, through `kpi org import` (and its ``--dry-run``) and the
admin's /admin/org preview and apply, on SQLite and PostgreSQL. Removing the conflict
moves nothing back. The supervisor's name is hostile markup throughout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from tests.integration.test_scoring_leaders import give, to_scoring
from tests.integration.test_web_org import TOKEN, upload
from tests.support import DATA, World, at, without_calibration
from tests.web_support import make_web, text_of
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import NotPermitted
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import AUDIT, OUTBOX

pytestmark = pytest.mark.both_stores

HOSTILE = "<b>Lê \"Thị\" O'Brien</b>"
ORG = (DATA / "small_org.csv").read_text(encoding="utf-8").replace(
    "Trưởng phòng Lê Văn Hùng", '"<b>Lê ""Thị"" O\'Brien</b>"')


def org_file(tmp_path: Path, conflicts: dict[str, str], name: str = "org.csv") -> Path:
    lines = ORG.splitlines()
    out = [lines[0] + ",conflicts_with"]
    out += [f"{line},{conflicts.get(line.split(',')[0], '')}" for line in lines[1:]]
    path = tmp_path / name
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def world(new_service: Callable[..., Service], tmp_path: Path) -> World:
    """S1..S4 wait for H1's score; S3 is scored and has appealed (D1 reviews it)."""
    svc = new_service(admins=("UB1",))
    w = without_calibration(svc, tmp_path, org_file(tmp_path, {}, "before.csv"))
    to_scoring(w)
    give(w, "S3", "0.5", 2, when="2026-05-13 09:00")
    w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "Hai sản phẩm <i>đúng hạn</i>"},
           when="2026-05-14 09:00")
    assert (w.state("S3"), w.row("S3")["appeal_reviewer_id"]) == (State.APPEAL_REVIEW, "D1")
    assert w.row("S2")["supervisor_id"] == "H1"
    return w


def kpi(w: World, *args: str) -> Result:
    return CliRunner().invoke(main, ["--now", at("2026-05-14 10:00").isoformat(), *args],
                              env={"KPI_DATABASE_URL": w.svc.settings.database_url,
                                   "KPI_SECRET_KEY": w.svc.settings.secret_key})


def outbox(w: World, event: str, person: str) -> list[dict[str, Any]]:
    with w.svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == event, OUTBOX.c.evaluation_id == w.ev(person))
            .order_by(OUTBOX.c.id))]


def recusal_audit(w: World, person: str) -> list[str]:
    with w.svc.store.read() as s:
        return [r.reason for r in s.execute(
            select(AUDIT.c.reason).where(AUDIT.c.evaluation_id == w.ev(person),
                                         AUDIT.c.trigger == "recuse").order_by(AUDIT.c.seq))]


def test_kpi_org_import_hands_the_open_cases_on_and_the_dry_run_lists_them(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = world(new_service, tmp_path)
    conflicts = org_file(tmp_path, {"H1": "S2", "D1": "S3"})
    before = {p: w.row(p) for p in ("S2", "S3")}
    dry = kpi(w, "org", "import", str(conflicts), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"conflict of interest: H1 steps aside from scoring on S2's evaluation " \
           f"{w.ev('S2')} (t-2026-04, supervisor_scoring); D1 takes it on" in dry.output, \
        dry.output
    assert f"conflict of interest: D1 steps aside from appeal_review on S3's evaluation " \
           f"{w.ev('S3')} (t-2026-04, appeal_review); " in dry.output
    assert {p: w.row(p) for p in ("S2", "S3")} == before  # nothing written
    done = kpi(w, "org", "import", str(conflicts))
    assert done.exit_code == 0, done.output
    assert "conflict of interest: H1 steps aside from scoring on S2's" in done.output
    # S2's scoring went up to D1: the case, the task email, the record.
    assert w.row("S2")["supervisor_id"] == "D1"
    (task,) = [r for r in outbox(w, "task_supervisor_scoring", "S2") if r["recipient_id"] == "D1"]
    assert task["context"]["action_url"]
    # H1, who stepped aside, is told who scores S2 now (H1 reads Vietnamese).
    (note,) = [r for r in outbox(w, "stepped_aside", "S2") if r["recipient_id"] == "H1"]
    assert note["context"]["assignee_name"] == "Giám đốc Nguyễn Thị Sở"
    from notifications.render import render
    out = render(event="stepped_aside", locale="vi", timezone=note["timezone"],
                 recipient_name=note["recipient_name"], recipient_id="H1",
                 context=note["context"], base_url=w.svc.settings.base_url,
                 templates_dir=w.svc.settings.templates_dir)
    assert "Anh/Chị không còn chấm điểm phiếu đánh giá của người này" in out.text, out.text
    assert "Giám đốc Nguyễn Thị Sở chấm điểm thay" in out.text
    assert note["recipient_name"] == HOSTILE
    (why,) = recusal_audit(w, "S2")
    assert "H1 steps aside from scoring; D1 takes it on" in why and "org.csv" in why
    with pytest.raises(NotPermitted):
        w.score("S2", by="H1", when="2026-05-14 11:00")  # H1 may not score S2 any more
    w.score("S2", by="D1", when="2026-05-14 11:00")
    # S3's appeal went to the next reviewer in line, who is told.
    taker = w.row("S3")["appeal_reviewer_id"]
    assert taker not in ("D1", "H1", "S3", None)
    (review,) = [r for r in outbox(w, "task_appeal_review", "S3") if r["recipient_id"] == taker]
    assert review["context"]["appeal_reasons"] == "Hai sản phẩm <i>đúng hạn</i>"
    with pytest.raises(NotPermitted):
        w.fire("S3", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-14 11:00")
    w.fire("S3", Trigger.UPHOLD_SCORE, taker, {"reason": "giữ"}, when="2026-05-14 11:00")
    # The cases nobody scores or reviews now (S1, S4) are not touched.
    assert w.row("S1")["supervisor_id"] == "H1" and recusal_audit(w, "S1") == []
    # Importing the same file again hands nothing on twice.
    again = kpi(w, "org", "import", str(conflicts))
    assert again.exit_code == 0 and "conflict of interest" not in again.output
    assert len(recusal_audit(w, "S2")) == 1


def test_the_admin_page_previews_the_hand_overs_and_a_removal_moves_nothing_back(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = world(new_service, tmp_path)
    web = make_web(w)
    web.clock.set("2026-05-14 10:00")
    ub1 = web.sign_in("UB1")  # reads Vietnamese
    raw = org_file(tmp_path, {"H1": "S2"}).read_bytes()
    status, page = upload(web, ub1, "to-chuc.csv", raw)
    assert status == 200, text_of(page)
    said = text_of(page)
    assert f"{HOSTILE} rút khỏi việc chấm điểm Hoàng Văn Nam; Giám đốc Nguyễn Thị Sở chấm " \
           "điểm thay." in said, said[-3000:]
    assert "<b>Lê" not in page  # the name is escaped
    assert w.row("S2")["supervisor_id"] == "H1"  # a preview writes nothing
    token = TOKEN.search(page)
    assert token
    done = ub1.post("/admin/org/apply", data={"csrf_token": web.csrf(ub1, "/admin/org"),
                                              "upload": token.group(1)})
    assert done.status_code == 200, text_of(done.text)
    assert w.row("S2")["supervisor_id"] == "D1"
    assert [r["recipient_id"] for r in outbox(w, "task_supervisor_scoring", "S2")][-1] == "D1"
    # The conflict taken out again: the preview says nothing moves back, and nothing does.
    status, page = upload(web, ub1, "to-chuc-2.csv", org_file(tmp_path, {}, "o2.csv").read_bytes())
    assert status == 200
    assert re.search(r"H1–S2|S2–H1", text_of(page)), text_of(page)[-2000:]
    assert "không chuyển lại" in text_of(page)
    token = TOKEN.search(page)
    assert token
    ub1.post("/admin/org/apply", data={"csrf_token": web.csrf(ub1, "/admin/org"),
                                       "upload": token.group(1)})
    assert w.row("S2")["supervisor_id"] == "D1"


def test_a_calibrator_put_in_conflict_hands_that_evaluation_to_the_named_taker(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    from tests.integration.test_deadlines import all_to_calibration
    from workflow.service import calibration

    svc = new_service(admins=("UB1",))
    import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    all_to_calibration(w)
    assert w.state("S1") is State.CALIBRATION
    done = kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1"})))
    assert done.exit_code == 0, done.output
    assert f"D1 steps aside from calibration on S1's evaluation {w.ev('S1')}" in done.output
    members = {m.reviewee_id: m for m in calibration.view(svc, w.cycle_id).members}
    assert members["S1"].decided_by == "UB1"  # D1's own evaluator (no recusal.calibration)
    assert members["S2"].decided_by == "D1"
    with pytest.raises(NotPermitted):
        calibration.move_class(svc, w.ev("S1"), "well_completed", "Tỷ lệ <b>20%</b>", "D1",
                               now=at("2026-05-14 11:00"))
    assert "D1 steps aside from calibration; UB1 takes it on" in recusal_audit(w, "S1")[0]


UB1_MAIL = "chutich@ubnd.example.gov.vn"


def test_who_takes_on_calibrating_in_an_open_pool_gets_the_calibration_task_by_email(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    from dataclasses import replace

    from notifications.dispatcher import send_due
    from notifications.testing import RecordingServer
    from tests.integration.test_deadlines import all_to_calibration

    with RecordingServer() as smtp:
        base = new_service(admins=("UB1",))
        svc = Service(base.store, replace(base.settings, smtp_port=smtp.port))
        import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
        open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
        w = World(svc, "t-2026-04")
        all_to_calibration(w)
        with svc.store.read() as s:
            from workflow.service import pool
            assert pool.pending_timers(s, w.cycle_id)  # the pool is open: its clock runs
        # UB1 already calibrates D1's own evaluation (a calibrator never decides their own).
        assert [r["recipient_id"] for r in outbox_of(w, "task_calibration")] == ["D1", "UB1"]
        send_due(svc, now=at("2026-05-12 10:00"))
        done = kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1"})))
        assert done.exit_code == 0, done.output
        (_, task) = [r for r in outbox_of(w, "task_calibration") if r["recipient_id"] == "UB1"]
        assert task["context"]["evaluations"] == 2  # D1's and now S1's, not the whole pool
        assert datetime.fromisoformat(task["context"]["due_at"]).replace(tzinfo=None) == \
            w.row("S1")["due_at"].replace(tzinfo=None)  # the pool's deadline, unchanged
        report = send_due(svc, now=at("2026-05-14 10:05"))
        assert report.dead == 0, report.errors
        mail = smtp.by_recipient(UB1_MAIL)[-1]
        body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        # UB1 reads Vietnamese: two evaluations wait for them, by the pool's deadline.
        assert "2 phiếu đang chờ Anh/Chị" in body, body
        assert "15/05/2026" in body, body
        web = make_web(w)
        path = task["context"]["action_url"].removeprefix("http://kpi.test")
        assert path.split("/")[-1] in body
        web.clock.set("2026-05-14 10:10")
        page = web.client_for().get(path)
        assert page.status_code == 200, text_of(page.text)
        assert "Phạm Thị Lan" in text_of(page.text)  # S1, whom UB1 now calibrates
        # D1 gets no second task for the pool; the same file again sends nothing more.
        assert [r["recipient_id"] for r in outbox_of(w, "task_calibration")] == [
            "D1", "UB1", "UB1"]
        assert kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1"}))).exit_code == 0
        assert len(outbox_of(w, "task_calibration")) == 3


def test_who_takes_on_calibrating_before_the_pool_opens_is_told_when_it_opens(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    from notifications.render import render
    from tests.integration.test_deadlines import all_to_calibration

    svc = new_service(admins=("UB1",))
    import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    # UB1 now reads English, and D1 has a conflict with S1, still self-assessing.
    path = org_file(tmp_path, {"D1": "S1"})
    path.write_text(path.read_text(encoding="utf-8").replace(
        "UBND,Ủy ban nhân dân tỉnh,Chủ tịch,leader,,A,vi,", "UBND,Ủy ban nhân dân tỉnh,"
        "Chủ tịch,leader,,A,en,"), encoding="utf-8")
    report = import_org(svc, path, now=at("2026-05-03 09:00"))
    assert [(h.person_id, h.steps_aside_from, h.handed_to) for h in report.handovers
            if h.reviewee_id == "S1"] == [("D1", "calibration", "UB1")]
    assert outbox_of(w, "task_calibration") == []  # nothing to calibrate yet
    all_to_calibration(w)
    tasks = {r["recipient_id"]: r for r in outbox_of(w, "task_calibration")}
    assert sorted(tasks) == ["D1", "UB1"]
    ub1 = tasks["UB1"]
    # UB1 calibrates D1's own evaluation and, by the hand-over's row, S1's.
    assert (ub1["locale"], ub1["context"]["evaluations"]) == ("en", 2)
    assert tasks["D1"]["context"]["evaluations"] == len(w.ids()) - 2
    out = render(event="task_calibration", locale="en", timezone=ub1["timezone"],
                 recipient_name=ub1["recipient_name"], recipient_id="UB1",
                 context=ub1["context"], base_url=w.svc.settings.base_url,
                 templates_dir=w.svc.settings.templates_dir)
    assert "has been scored: 2 wait for your calibration." in out.text, out.text
    assert ub1["context"]["action_url"] in out.text


def outbox_of(w: World, event: str) -> list[dict[str, Any]]:
    """The rows of ``event`` for the cycle's pool (no evaluation of their own)."""
    with w.svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == event).order_by(OUTBOX.c.id))]


def test_a_substitute_calibrator_put_in_conflict_hands_it_on_again_and_the_next_decides(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    from workflow.service import calibration

    svc = new_service(admins=("UB1",))
    w = substitute_in_calibration(svc, tmp_path)
    assert kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1"}))).exit_code == 0
    members = {m.reviewee_id: m for m in calibration.view(svc, w.cycle_id).members}
    assert members["S1"].decided_by == "A1"  # the cycle file's substitute
    # A1 is then found in conflict with S1 too: A1's own supervisor H1 takes it on.
    done = kpi(w, "org", "import", str(org_file(tmp_path, {"D1": "S1", "A1": "S1"}, "o3.csv")))
    assert done.exit_code == 0, done.output
    assert "A1 steps aside from calibration on S1's evaluation" in done.output, done.output
    members = {m.reviewee_id: m for m in calibration.view(svc, w.cycle_id).members}
    assert members["S1"].decided_by == "H1"
    (task,) = [r for r in outbox_of(w, "task_calibration") if r["recipient_id"] == "H1"]
    assert task["context"]["evaluations"] == 1
    with pytest.raises(NotPermitted):
        calibration.move_class(svc, w.ev("S1"), "well_completed", "Tỷ lệ <b>20%</b>", "A1",
                               now=at("2026-05-14 11:00"))
    calibration.move_class(svc, w.ev("S1"), "well_completed", "Tỷ lệ <b>20%</b>", "H1",
                           now=at("2026-05-14 11:00"))


def pool_rows(w: World, status: str = "pending") -> list[dict[str, Any]]:
    """The pool's deadline rows (the cycle's, of no evaluation) of ``status``."""
    from workflow.store.tables import DEADLINE
    with w.svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(DEADLINE).where(DEADLINE.c.cycle_id == w.cycle_id,
                                   DEADLINE.c.evaluation_id.is_(None),
                                   DEADLINE.c.status == status).order_by(DEADLINE.c.id))]


def timeline(rows: list[dict[str, Any]], after: datetime) -> set[tuple[str, int, datetime]]:
    return {(r["kind"], r["seq"], r["fire_at"].replace(tzinfo=None)) for r in rows
            if r["fire_at"].replace(tzinfo=None) > after.replace(tzinfo=None)}


def test_the_pool_timers_follow_a_calibration_handed_over_after_the_pool_opened(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    """The open pool: D1 calibrates it, A1 (the cycle file's substitute) D1's own
    evaluation. An import puts A1 in conflict with D1: A1 steps aside (A1's supervisor
    H1, who now reads English, takes D1's evaluation on), and so does D1 from A1's (D1's
    evaluator UB1 takes it on). In the same transaction the pool's rows follow: H1 and
    UB1 get the reminder, due row and ladder its opening would have made them, from
    then on; A1, who decides nothing in the pool any more, has theirs cancelled; D1,
    still deciding the rest, keeps theirs. At the reminder's instant H1 is reminded by
    email, A1 is not."""
    from dataclasses import replace
    from datetime import timedelta

    from notifications.dispatcher import send_due
    from notifications.testing import RecordingServer
    from workflow.service import calibration
    from workflow.service.sweep import tick

    with RecordingServer() as smtp:
        base = new_service(admins=("UB1",))
        svc = Service(base.store, replace(base.settings, smtp_port=smtp.port))
        w = substitute_in_calibration(svc, tmp_path)
        opened = pool_rows(w)
        # D1's rows (the due row and the ladder carry no recipient) and A1's own.
        assert {r["recipient_id"] for r in opened} == {None, "D1", "A1"}
        d1_rows = [r for r in opened if r["recipient_id"] in (None, "D1")]
        (reminder,) = [r for r in d1_rows if r["kind"] == "reminder"]
        remind_at = reminder["fire_at"]
        now = w.row("S1")["phase_opens_at"] + timedelta(hours=1)
        assert now < remind_at
        expected = timeline(d1_rows, now)
        assert ("reminder", reminder["seq"], remind_at.replace(tzinfo=None)) in expected

        conflicts = org_file(tmp_path, {"A1": "D1"})
        conflicts.write_text(conflicts.read_text(encoding="utf-8").replace(
            "P1,Phòng Một,Trưởng phòng,leader,D1,A,vi,", "P1,Phòng Một,Trưởng phòng,leader,"
            "D1,A,en,"), encoding="utf-8")
        report = import_org(svc, conflicts, now=now)
        assert sorted((h.reviewee_id, h.person_id, h.handed_to) for h in report.handovers) \
            == [("A1", "D1", "UB1"), ("D1", "A1", "H1")]
        members = {m.reviewee_id: m for m in calibration.view(svc, w.cycle_id).members}
        assert (members["D1"].decided_by, members["A1"].decided_by) == ("H1", "UB1")
        rows = pool_rows(w)
        for taker in ("H1", "UB1"):
            mine = [r for r in rows if r["recipient_id"] == taker]
            assert timeline(mine, now) == expected, taker
            assert all(r["fire_at"] > now for r in mine)  # nothing already past is made
        assert [r for r in rows if r["recipient_id"] == "A1"] == []
        cancelled = [r for r in pool_rows(w, "cancelled") if r["recipient_id"] == "A1"]
        assert cancelled and {r["done_at"] for r in cancelled} == {now}
        assert {r["id"] for r in d1_rows} <= {r["id"] for r in rows}  # D1 decides the rest

        # The sweep and the dispatcher, as `kpi serve` runs them: the task emails first,
        # then a minute before the reminder's instant (nothing), then at it.
        send_due(svc, now=now)
        h1_mail, a1_mail = "hung@snv.example.gov.vn", "hang@snv.example.gov.vn"
        before = {a: len(smtp.by_recipient(a)) for a in (h1_mail, a1_mail)}
        tick(svc, remind_at - timedelta(minutes=1))
        send_due(svc, now=remind_at - timedelta(minutes=1))
        assert {a: len(smtp.by_recipient(a)) for a in before} == before
        tick(svc, remind_at)
        sent = send_due(svc, now=remind_at)
        assert sent.dead == 0, sent.errors
        reminders = [r for r in outbox_of(w, "reminder") if r["evaluation_id"] is None]
        assert sorted(r["recipient_id"] for r in reminders) == ["D1", "H1", "UB1"]
        (h1,) = [r for r in reminders if r["recipient_id"] == "H1"]
        assert (h1["locale"], h1["status"], h1["recipient_name"]) == ("en", "sent", HOSTILE)
        assert h1["context"]["evaluations"] == 1  # D1's, what H1 decides
        got = smtp.by_recipient(h1_mail)[before[h1_mail]:]
        assert len(got) == 1
        body = got[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "1 evaluation waits for it." in body, body
        assert len(smtp.by_recipient(a1_mail)) == before[a1_mail]  # A1 stepped aside


def substitute_in_calibration(svc: Service, tmp_path: Path) -> World:
    """The small world whose cycle names A1 the substitute calibrator of D1's own
    evaluation, everyone scored into calibration (the pool open)."""
    from tests.integration.test_deadlines import all_to_calibration

    import_org(svc, org_file(tmp_path, {}, "before.csv"), now=at("2026-05-01 09:00"))
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8")
                     + "recusal: {calibration: A1}\n", encoding="utf-8")
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    all_to_calibration(w)
    return w
