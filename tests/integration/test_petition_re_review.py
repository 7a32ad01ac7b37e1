"""``petition.re_review: true``: a petition's decision may itself be petitioned, once
(``re_review_limit``, default 1). The decision opens a fresh petition window (the same
length, from the decision's notification) instead of finalising; the next petition is
decided by the next person up from whoever decided the first (recusal rules as for the
first), and its decision finalises. Driven through the `kpi` command, the sweep and a
real SMTP server on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.integration.test_recusal import org_with
from tests.integration.test_scoring_leaders import give, to_scoring
from tests.support import DATA, World, at, decree_335_changed, without_calibration
from tests.support import kpi_act as act
from tests.web_support import Clock, make_web, text_of
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import AppealLimitReached, NotPermitted, Recused
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.tables import OUTBOX

pytestmark = pytest.mark.both_stores

SCORED = "2026-05-13 09:00"


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def re_review_world(new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer,
                    conflicts: dict[str, str] | None = None, limit: int | None = None) -> World:
    again = "  re_review: true" + (f"\n  re_review_limit: {limit}" if limit else "")
    config = decree_335_changed(tmp_path, r"^  re_review: false.*$", again)
    made = new_service()
    svc = Service(made.store, replace(made.settings, config_dir=config, smtp_port=smtp.port))
    org = org_with(tmp_path, conflicts) if conflicts else DATA / "small_org.csv"
    w = without_calibration(svc, tmp_path, org)
    to_scoring(w)
    return w


def rows(w: World, event: str, person: str) -> list[dict[str, Any]]:
    with w.svc.store.read() as s:
        return [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.event == event,
                                 OUTBOX.c.evaluation_id == w.ev(person))
            .order_by(OUTBOX.c.id))]


def delivered(smtp: RecordingServer, row: dict[str, Any], w: World | None = None) -> str:
    if w is not None:
        with w.svc.store.read() as s:
            again = s.execute(select(OUTBOX.c.status, OUTBOX.c.last_error)
                              .where(OUTBOX.c.id == row["id"])).one()
        assert again.status == "sent", again
    (got,) = [m for m in smtp.received if m.message_id == row["message_id"]]
    part = got.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def test_a_refused_petition_is_petitioned_again_and_the_superiors_superior_decides(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S2", "0.5", 2, when=SCORED)
    first = act(w, "S2", "lodge_appeal", "S2", {"reasons": "Two <b>\"items\"</b> missed"},
                tmp_path, "2026-05-14 09:00")
    assert first.exit_code == 0, first.output
    assert w.row("S2")["appeal_reviewer_id"] == "D1"  # the scorer H1's superior
    refused = act(w, "S2", "uphold_score", "D1", {"reason": "Kept: <i>all</i> counted"},
                  tmp_path, "2026-05-15 09:00")
    assert refused.exit_code == 0, refused.output
    # Not final: a fresh window from the decision, as long as the first (5 working days).
    assert w.state("S2") is State.APPEAL_WINDOW
    row = w.row("S2")
    assert row["petition_round"] == 1
    assert row["due_at"] == at("2026-05-22 17:00")
    (decided,) = rows(w, "appeal_decided", "S2")
    assert decided["recipient_id"] == "S2"
    assert decided["context"]["petition_again"]["to_id"] == "UB1"  # D1's evaluator
    send_due(w.svc, now=at("2026-05-15 09:05"))
    text = delivered(smtp, decided, w)
    assert "You may appeal against this decision once more, until" in text
    assert "Chủ tịch Trần Văn Tỉnh will review it" in text
    assert "/t/" in text  # the link to the answer form
    assert "now final" not in text
    second = act(w, "S2", "lodge_appeal", "S2", {"reasons": "The reviewer ignored it"},
                 tmp_path, "2026-05-18 09:00")
    assert second.exit_code == 0, second.output
    assert w.state("S2") is State.APPEAL_REVIEW
    assert w.row("S2")["appeal_reviewer_id"] == "UB1"
    assert w.row("S2")["petition_round"] == 2
    (task,) = [r for r in rows(w, "task_appeal_review", "S2") if r["recipient_id"] == "UB1"]
    assert task["context"]["earlier_decision"]["reason"] == "Kept: <i>all</i> counted"
    send_due(w.svc, now=at("2026-05-18 09:05"))
    task_text = delivered(smtp, task, w)
    assert "review of the decision on an earlier appeal (review 2)" not in task_text  # vi
    assert "lần xem xét thứ 2" in task_text
    assert "Kept: <i>all</i> counted" in task_text
    # The first reviewer cannot decide the second review.
    with pytest.raises(NotPermitted):
        w.fire("S2", Trigger.UPHOLD_SCORE, "D1", {"reason": "again"}, when="2026-05-19 09:00")
    final = act(w, "S2", "uphold_score", "UB1", {"reason": "Upheld on review"}, tmp_path,
                "2026-05-19 09:00")
    assert final.exit_code == 0, final.output
    # The limit (1 further review) is reached: the second decision finalises.
    assert w.state("S2") is State.FINALISED
    last = rows(w, "appeal_decided", "S2")[-1]
    assert last["context"]["petition_again"] is None
    with pytest.raises(AppealLimitReached):  # naming the rounds and the limit
        w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "third"}, when="2026-05-20 09:00")


def test_a_limit_of_two_lets_the_decision_be_petitioned_twice(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp, limit=2)
    give(w, "S1", "0.5", 2, when=SCORED)
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "một"}, when="2026-05-14 09:00")
    w.fire("S1", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "hai"}, when="2026-05-18 09:00")
    w.fire("S1", Trigger.UPHOLD_SCORE, "UB1", {"reason": "giữ"}, when="2026-05-19 09:00")
    assert w.state("S1") is State.APPEAL_WINDOW  # a third petition is allowed
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "ba"}, when="2026-05-20 09:00")
    # Nobody above UB1, no recusal taker named: the first admin.
    assert w.row("S1")["appeal_reviewer_id"] == "A1"
    w.fire("S1", Trigger.UPHOLD_SCORE, "A1", {"reason": "giữ"}, when="2026-05-21 09:00")
    assert w.state("S1") is State.FINALISED


def test_the_second_window_lapses_into_the_final_result(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S3", "0.5", 2, when=SCORED)
    w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "x"}, when="2026-05-14 09:00")
    w.fire("S3", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    assert w.state("S3") is State.APPEAL_WINDOW
    tick(w.svc, at("2026-05-22 16:59"))
    assert w.state("S3") is State.APPEAL_WINDOW
    tick(w.svc, at("2026-05-22 17:01"))
    assert w.state("S3") is State.FINALISED  # accepted by silence, as the first window


def test_a_second_reviewer_in_conflict_steps_aside(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    """UB1 declared a conflict with S4: the second review goes past UB1 to the admin."""
    w = re_review_world(new_service, tmp_path, smtp, conflicts={"UB1": "S4"})
    give(w, "S4", "0.5", 2, when=SCORED)
    w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "x"}, when="2026-05-14 09:00")
    w.fire("S4", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "y"}, when="2026-05-18 09:00")
    assert w.row("S4")["appeal_reviewer_id"] == "A1"
    with pytest.raises((Recused, NotPermitted)):
        w.fire("S4", Trigger.UPHOLD_SCORE, "UB1", {"reason": "z"}, when="2026-05-19 09:00")


def test_kpi_cycle_check_shows_the_second_window(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    out = CliRunner().invoke(main, ["--now", "2026-05-02T10:00", "cycle", "check",
                                    str(DATA / "small_cycle.yaml")],
                             env={"KPI_DATABASE_URL": w.svc.settings.database_url,
                                  "KPI_CONFIG_DIR": str(w.svc.settings.config_dir)})
    assert "the decision may be petitioned again once, within 5 working days of the " \
           "decision's notification" in out.output, out.output
    window = re.search(r"^  appeal_window \(2\) +opens .* due (.*?)  \(5 working days\)  "
                       r"\[petition against the decision\]$", out.output, re.M)
    review = re.search(r"^  appeal_review \(2\) +opens (.*?)  due .*\[review 2, by the next "
                       r"person up from whoever decided\]$", out.output, re.M)
    assert window and review, out.output
    assert window.group(1) == review.group(1)  # the review opens when the window closes


def test_the_pages_show_the_round_and_the_decision_petitioned(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    web = make_web(w, Clock(at("2026-05-15 10:00")))
    give(w, "S2", "0.5", 2, when=SCORED)
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "x"}, when="2026-05-14 09:00")
    w.fire("S2", Trigger.UPHOLD_SCORE, "D1", {"reason": "Kept <b>\"as is\"</b>"},
           when="2026-05-15 09:00")
    page = web.client.get(web.link("S2", "appeal_decided"))
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "The decision on your appeal (review 1)" in text  # S2 reads English
    assert "The reviewer upheld the result." in text
    assert 'Kept <b>"as is"</b>' in text and "<b>\"as is\"" not in page.text  # escaped
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": "y"}, when="2026-05-15 11:00")
    web.clock.set("2026-05-15 12:00")
    review = web.client.get(web.link("UB1", "task_appeal_review"))
    assert review.status_code == 200, review.text
    assert "Lần xem xét thứ 2" in text_of(review.text)  # UB1 reads Vietnamese
    assert 'Kept <b>"as is"</b>' in text_of(review.text)
