"""Publication of a unit's results in the unit, and the petition window that runs from
it (issue 17, items 4 and 5): the page and the file members open from their result
email, refused to another unit's member and to a revoked or expired link; the
recorded date and its audit row; the window from publication under the public
employees regime; Decree 335's windows unchanged. Real SQLite files, the web app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.support import DATA, World, approve_pool, at, move_class, small_world
from tests.web_support import WebWorld, make_web, text_of
from workflow.cli import main
from workflow.domain import State, TimerKind, Trigger
from workflow.service import calibration, report_cache
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT, DEADLINE, OUTBOX, PUBLICATION

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOSTILE = '<b>"Lan" & O\'Brien</b>'  # markup, quotes and an ampersand in a name
FORMULA = "=HYPERLINK(1)"  # a name a spreadsheet would run
P1 = ("H1", "S1", "S2", "S3", "S4", "A1")  # the unit Phòng Một; D1 alone is BGD

DECREE = "regime: vn-decree-335-2025\n"
PUBLIC = ("regime: vn-public-employees-2025\n"
          "frameworks: [vn-public-employee, vn-public-employee-leader]\n")


def org_file(tmp_path: Path, **moves: str) -> Path:
    """The small organisation with hostile names; ``moves``: person -> another unit."""
    text = (DATA / "small_org.csv").read_text(encoding="utf-8")
    text = text.replace("Phạm Thị Lan", '"' + HOSTILE.replace('"', '""') + '"')
    text = text.replace("Hoàng Văn Nam", FORMULA)
    for person, unit in moves.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"{person},"):
                lines[i] = line.replace(",P1,Phòng Một,", f",{unit},Ban Giám đốc,")
        text = "\n".join(lines) + "\n"
    path = tmp_path / "org.csv"
    path.write_text(text, encoding="utf-8")
    return path


def cycle_file(tmp_path: Path, regime: str) -> Path:
    """The small cycle without peers and calibration: each result goes out when scored."""
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    text = text.replace("calibration: {enabled: true, calibrator: D1}",
                        "calibration: {enabled: false}")
    text = text.replace("  calibration: {due: {working_days: 3}}\n", "")
    text = text.replace("  peer_input: {due: {working_days: 2}}\n", "")
    text = text[:text.index("peers:")] + "peers: {enabled: false}\n" + \
        text[text.index("calibration: {enabled"):]
    if regime == PUBLIC:  # the law fixes the window: the cycle file leaves it out
        text = text.replace("  appeal_window: {due: {working_days: 5}}\n", "") \
            .replace("  appeal_review: {due: {working_days: 10}}\n", "")
    path = tmp_path / "cycle.yaml"
    path.write_text(text + regime, encoding="utf-8")
    return path


def open_world(svc: Service, tmp_path: Path, regime: str) -> World:
    import_org(svc, org_file(tmp_path), now=at("2026-05-01 09:00"))
    open_cycle(svc, cycle_file(tmp_path, regime), now=at("2026-05-02 10:00"))
    world = World(svc, "t-2026-04")
    for person in ("D1", *P1):
        world.submit_self(person, when="2026-05-05 09:00")
    return world


def outbox(svc: Service, event: str, person: str) -> list[dict[str, Any]]:
    with svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == event, OUTBOX.c.recipient_id == person)
            .order_by(OUTBOX.c.id))]


def publication_link(web: WebWorld, person: str) -> str:
    [mail] = outbox(web.svc, "result", person)
    return str(mail["context"]["publication_url"]).removeprefix("http://kpi.test")


def publications(svc: Service) -> dict[str, tuple[datetime, int]]:
    with svc.store.read() as s:
        return {r.unit_id: (r.published_at, r.evaluations)
                for r in s.execute(select(PUBLICATION))}


def window_rows(svc: Service, evaluation_id: int) -> set[tuple[str, datetime]]:
    """The pending deadline rows of the evaluation's appeal window: (kind, instant)."""
    with svc.store.read() as s:
        return {(d.kind, d.fire_at) for d in s.execute(select(DEADLINE).where(
            DEADLINE.c.evaluation_id == evaluation_id, DEADLINE.c.status == "pending",
            DEADLINE.c.phase == State.APPEAL_WINDOW.value))}


@pytest.fixture
def decree(svc: Service, tmp_path: Path) -> WebWorld:
    return make_web(open_world(svc, tmp_path, DECREE))


def test_a_unit_is_published_when_its_last_result_is_out_and_its_members_read_it(
        decree: WebWorld, tmp_path: Path) -> None:
    world, svc = decree.world, decree.svc
    for person in P1[:-1]:
        world.score(person, when="2026-05-06 09:00")
    assert publications(svc) == {}
    before = world.row("S1")["due_at"]
    # S1's result email links to the publication, which says it is not there yet.
    link = publication_link(decree, "S1")
    page = text_of(decree.client.get(link).text)
    assert "Chưa công khai" in page and "còn 1 phiếu chưa có kết quả" in page
    assert decree.client.get(f"{link}/results.csv").status_code == 409

    world.score("A1", when="2026-05-07 10:30")
    assert publications(svc) == {"P1": (at("2026-05-07 10:30"), 6)}
    with svc.store.read() as s:
        [entry] = s.execute(select(AUDIT).where(AUDIT.c.trigger == "publish_results")).all()
    assert (entry.cycle_id, entry.reason, entry.at) == \
        ("t-2026-04", "unit P1: 6 results published", at("2026-05-07 10:30"))
    # Decree 335 runs the window from the notification: publishing moved nothing.
    assert world.row("S1")["due_at"] == before == at("2026-05-13 17:00")
    assert outbox(svc, "results_published", "S1") == []

    html = decree.client.get(link).text
    page = text_of(html)
    assert "Đã công khai vào" in page and "Phòng Một" in page
    assert "&lt;b&gt;&#34;Lan&#34; &amp; O&#39;Brien&lt;/b&gt;" in html and "<b>\"Lan\"" not in html
    assert "Chuyên viên tổ chức" in page and "Hoàn thành" in page and "Vị trí việc làm" in page
    assert "Điểm" in page  # the decree's regime publishes the scores
    assert "Giám đốc Nguyễn Thị Sở" not in page  # BGD is another unit
    csv = decree.client.get(f"{link}/results.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.content.decode("utf-8").splitlines()
    assert rows[0] == "\ufeffĐơn vị,Họ và tên,Vị trí việc làm,Xếp loại,Điểm"
    assert len(rows) == 7 and any(f"'{FORMULA}" in r for r in rows)
    assert any(HOSTILE.replace('"', '""') in r for r in rows)

    # D1's own link is BGD's: unpublished, and nothing of P1 in it, whatever is asked.
    world.score("D1", by="UB1", when="2026-05-07 11:00")
    d1 = publication_link(decree, "D1")
    other = text_of(decree.client.get(f"{d1}?unit=P1").text)
    assert "Ban Giám đốc" in other and "Phạm" not in other and "Chuyên viên tổ chức" not in other
    assert publications(svc)["BGD"][1] == 1

    # S1 moves to BGD: the link to P1's results is revoked; a year on, it has expired.
    import_org(svc, org_file(tmp_path, S1="BGD"), now=at("2026-05-20 09:00"))
    decree.clock.set("2026-05-21 09:00")
    assert decree.client.get(link).status_code == 403
    decree.clock.set("2027-06-01 09:00")
    s2 = publication_link(decree, "S3")
    assert decree.client.get(s2).status_code == 410
    assert decree.client.get(f"{s2}/results.csv").status_code == 410

    env = {"KPI_DATABASE_URL": svc.settings.database_url, "KPI_BASE_URL": "http://kpi.test",
           "KPI_SECRET_KEY": "test-secret-key-0123456789"}
    out = CliRunner().invoke(main, ["publication", "t-2026-04"], env=env)
    assert out.exit_code == 0, out.output
    assert "P1 (Phòng Một): published 2026-05-07 10:30 +07; 6 results, 0 waiting" in out.output
    target = tmp_path / "p1.csv"
    out = CliRunner().invoke(main, ["publication", "t-2026-04", "--unit", "P1", "--lang", "en",
                                    "--out", str(target)], env=env)
    assert out.exit_code == 0, out.output
    assert target.read_text(encoding="utf-8").splitlines()[0] == \
        "\ufeffUnit,Full name,Position,Class,Total score"
    out = CliRunner().invoke(main, ["publication", "t-2026-04", "--unit", "P9"], env=env)
    assert out.exit_code != 0 and "no evaluation in unit 'P9'; its units are BGD, P1" \
        in out.output
    verify = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert verify.exit_code == 0, verify.output


def test_under_the_public_employees_law_the_window_runs_five_days_from_publication(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    smtp = RecordingServer()
    with smtp:
        svc = new_service(smtp_port=smtp.port)
        web = make_web(open_world(svc, tmp_path, PUBLIC))
        _window_from_publication(svc, web, smtp)


def _window_from_publication(svc: Service, web: WebWorld, smtp: RecordingServer) -> None:
    world = web.world
    world.score("S1", when="2026-05-06 09:00")
    # Notified, not yet published: S1 may answer, but the window has no end yet.
    row = world.row("S1")
    assert row["state"] == State.APPEAL_WINDOW.value and row["due_at"] is None
    [result] = outbox(svc, "result", "S1")
    assert result["context"]["petition_window"] == {"days": 5, "working_days": None}
    assert result["context"]["due_at"] is None
    assert window_rows(svc, world.ev("S1")) == set()

    for person in ("H1", "S2", "S3", "S4", "A1"):
        world.score(person, when="2026-05-07 10:30")
    # Published Thursday 7 May: five days, the last a Tuesday, 17:00.
    due = at("2026-05-12 17:00")
    assert publications(svc)["P1"] == (at("2026-05-07 10:30"), 6)
    assert {world.row(p)["due_at"] for p in P1} == {due}
    # Its deadline row and its reminder (1 working day before, 08:00), from publication.
    assert window_rows(svc, world.ev("S1")) == {(TimerKind.DUE.value, due),
                                                (TimerKind.REMINDER.value, at("2026-05-11 08:00"))}
    [told] = outbox(svc, "results_published", "S1")
    assert told["context"]["due_at"] == due.isoformat()
    assert told["context"]["publication_url"].startswith("http://kpi.test/t/")
    # Delivered through a real SMTP server, in the reader's language, with the date.
    report = send_due(svc, now=at("2026-05-07 11:00"))
    assert report.dead == 0, report.errors
    [mail] = [r.message for r in smtp.received if r.message["Message-ID"] == told["message_id"]]
    assert mail["Subject"] == "[KPI] Đã công khai kết quả của đơn vị (Test cycle April 2026): " \
                              "Anh/Chị có thể kiến nghị đến hết 17:00 12/05/2026"
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "QUYỀN KIẾN NGHỊ CỦA ANH/CHỊ" in text and told["context"]["publication_url"] in text

    # The page gives the reader's own deadline and, by the law, no score.
    link = publication_link(web, "S1")
    page = text_of(web.client.get(link).text)
    assert "đến hết" in page and "12/05/2026" in page
    assert "Điểm" not in page
    rows = web.client.get(f"{link}/results.csv").content.decode("utf-8").splitlines()
    assert rows[0] == "\ufeffĐơn vị,Họ và tên,Vị trí việc làm,Xếp loại"

    # The clock closes the window at its end: accepted by silence.
    tick(svc, now=due.replace(minute=1))
    assert world.state("S1") is State.FINALISED

    # Reopened and scored again after the publication: a new result, whose window runs
    # from its own notification (the unit stays published, on its first date).
    world.fire("S1", Trigger.REOPEN, "A1", reason="Quyết định 12/QĐ", when="2026-05-13 09:00")
    world.score("S1", by="H1", when="2026-05-14 09:00")
    assert world.row("S1")["due_at"] == at("2026-05-19 17:00")  # Thursday + 5 days
    later = outbox(svc, "results_published", "S1")[-1]
    assert later["context"]["published_at"] == at("2026-05-07 10:30").isoformat()
    assert publications(svc)["P1"] == (at("2026-05-07 10:30"), 6)


def test_kpi_cycle_check_shows_the_regimes_windows_and_refuses_a_cycles_own(
        tmp_path: Path, schema_template: Path, new_service: Callable[..., Service]) -> None:
    svc = new_service()
    import_org(svc, org_file(tmp_path), now=at("2026-05-01 09:00"))
    env = {"KPI_DATABASE_URL": svc.settings.database_url, "KPI_BASE_URL": "http://kpi.test",
           "KPI_SECRET_KEY": "test-secret-key-0123456789"}
    path = cycle_file(tmp_path, PUBLIC)
    out = CliRunner().invoke(main, ["--now", "2026-05-02T10:00", "cycle", "check", str(path)],
                             env=env)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    [window] = [line for line in lines if line.strip().startswith("appeal_window")]
    assert "(5 days)  [regime vn-public-employees-2025, petition.window] from the " \
           "publication of the unit's results" in window
    [review] = [line for line in lines if line.strip().startswith("appeal_review")]
    assert "(10 working days)  [regime vn-public-employees-2025, petition.resolution]" in review
    assert any(line.startswith("petition (kiến nghị), regime vn-public-employees-2025: "
                               "petition within 5 days of the publication of the unit's "
                               "results, resolved within 10 working days") for line in lines)
    # The same cycle setting its own window: refused at the line, saying why.
    text = path.read_text(encoding="utf-8").replace(
        "  supervisor_scoring: {due: {working_days: 3}}\n",
        "  supervisor_scoring: {due: {working_days: 3}}\n"
        "  appeal_window: {due: {working_days: 7}}\n")
    path.write_text(text, encoding="utf-8")
    out = CliRunner().invoke(main, ["cycle", "check", str(path)], env=env)
    line = text.splitlines().index("  appeal_window: {due: {working_days: 7}}") + 1
    assert out.exit_code != 0
    assert f"{path}:{line}: phases.appeal_window: the petition window now comes from regime " \
           "vn-public-employees-2025 (5 days of the publication of the unit's results), which " \
           "does not let a cycle change it: remove phases.appeal_window from the cycle file" \
        in out.output


@pytest.mark.both_stores
def test_the_pools_approval_publishes_every_unit_at_once(svc: Service) -> None:
    # Calibration on: no result goes out before the approval, which gives them all.
    world = small_world(svc)
    for person in ("D1", *P1):
        world.submit_self(person, when="2026-05-04 09:00")
    tick(svc, now=at("2026-05-07 09:00"))  # peer input closes with what arrived
    for person in ("D1", *P1):
        world.score(person, when="2026-05-07 10:00")
    assert publications(svc) == {}
    for m in calibration.view(svc, world.cycle_id).members:
        if m.final_class == "excellent":
            # D1's own evaluation is moved and approved by UB1, who took it on (recusal).
            move_class(svc, m.evaluation_id, "well_completed", "Tỷ lệ 20%", "D1",
                       now=at("2026-05-08 09:00"))
    approve_pool(svc, world.cycle_id, "D1", now=at("2026-05-08 10:00"))
    assert publications(svc) == {"BGD": (at("2026-05-08 10:00"), 1),
                                 "P1": (at("2026-05-08 10:00"), 6)}
    with svc.store.read() as s:
        assert sorted(r.reason for r in s.execute(
            select(AUDIT).where(AUDIT.c.trigger == "publish_results"))) == \
            ["unit BGD: 1 result published", "unit P1: 6 results published"]
    [mail] = outbox(svc, "result", "S2")
    assert str(mail["context"]["publication_url"]).startswith("http://kpi.test/t/")


def _scores(person: str, points: tuple[str, str, str], delays: int) -> dict[str, Any]:
    """A score form: the three rubric points, four tasks done with ``delays`` delays."""
    rubric = ("political_quality", "competence_attitude", "innovation")
    tasks = [{"title": f"Báo cáo <b>\"{i + 1}\"</b> của {person}", "completed": True,
              "meets_requirements": True, "failed_assessments": 0,
              "delays": 1 if i < delays else 0} for i in range(4)]
    return {"criteria": {c: {"points": p} for c, p in zip(rubric, points, strict=True)},
            "ratios": {}, "tasks": tasks, "comment": "ok"}


def test_the_published_list_writes_each_score_as_the_page_and_the_report_do(
        decree: WebWorld, tmp_path: Path) -> None:
    """S1 scores exactly 89.995 (shown 89.99, never 90.00: its class is "well completed"),
    S3 100: the page, the file and the cycle report's CSV in the same language write the
    same figure, with the decimal comma in Vietnamese and the point in English."""
    import csv
    import io

    world, svc = decree.world, decree.svc
    world.score("S1", payload=_scores("S1", ("8.12", "8.12", "8.13"), 3),
                when="2026-05-06 09:00")
    world.score("S3", payload=_scores("S3", ("10", "10", "10"), 0), when="2026-05-06 09:00")
    for person in ("H1", "S2", "S4", "A1"):
        world.score(person, when="2026-05-06 09:30")
    assert str(world.row("S1")["score"]).startswith("89.995")
    assert "P1" in publications(svc)

    def read(csv_text: str) -> dict[str, list[str]]:
        return {row[1]: row for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff")))}

    env = {"KPI_DATABASE_URL": svc.settings.database_url}
    for reader, lang, want in (("S1", "vi", ("89,99", "100,00")),
                               ("S2", "en", ("89.99", "100.00"))):
        link = publication_link(decree, reader)
        page = text_of(decree.client.get(link).text)
        rows = read(decree.client.get(f"{link}/results.csv").content.decode("utf-8"))
        assert (rows[HOSTILE][4], rows["Vũ Thị Mai"][4]) == want, (lang, rows)
        assert rows[HOSTILE][3] == ("Hoàn thành tốt nhiệm vụ" if lang == "vi"
                                           else "Well completed")
        for figure in want:
            assert figure in page, (lang, figure)
        other = "89.99" if lang == "vi" else "89,99"
        assert other not in page and "90,00" not in page and "90.00" not in page
        report = tmp_path / f"report-{lang}.csv"
        out = CliRunner().invoke(main, ["report", world.cycle_id, "--out", str(report),
                                        "--lang", lang], env=env)
        assert out.exit_code == 0, out.output
        with report.open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle))
        name, score = table[0].index("Họ và tên" if lang == "vi" else "Full name"), \
            table[0].index("Điểm" if lang == "vi" else "Score")
        by_name = {row[name]: row[score] for row in table[1:]}
        assert (by_name[HOSTILE], by_name["Vũ Thị Mai"]) == want
        # The excellent list as the admin downloads it in that language (S3, 100).
        listed = tmp_path / f"excellent-{lang}.csv"
        report_cache.write_list(svc, world.cycle_id, "excellent", lang, listed)
        with listed.open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle))
        score = table[0].index("Điểm" if lang == "vi" else "Score")
        assert [row[score] for row in table[1:]] == [want[1]], table
    # `kpi publication --out` writes the file of the language asked for, the same way.
    target = tmp_path / "p1-vi.csv"
    out = CliRunner().invoke(main, ["publication", world.cycle_id, "--unit", "P1",
                                    "--out", str(target)], env=env)
    assert out.exit_code == 0, out.output
    rows = read(target.read_text(encoding="utf-8"))
    assert (rows[HOSTILE][4], rows["Vũ Thị Mai"][4]) == ("89,99", "100,00")
    # Without a language the report keeps its column ids and a decimal point: scripts.
    ids = tmp_path / "report-ids.csv"
    out = CliRunner().invoke(main, ["report", world.cycle_id, "--out", str(ids)], env=env)
    assert out.exit_code == 0, out.output
    with ids.open(encoding="utf-8-sig", newline="") as handle:
        scores = {r["employee_id"]: r["score"] for r in csv.DictReader(handle)}
    assert (scores["S1"], scores["S3"]) == ("89.99", "100.00")
